// JSON.parse keeps the last of a key an object gives twice, silently. In a file's header that is
// ambiguity, not data: which tensor, dtype or metadata entry was meant? This finds such a key.

/** The first key that some object of `json` (text JSON.parse accepts) gives twice, or null. */
export function duplicateKey(json: string): string | null {
  const open: (Set<string> | null)[] = []; // the keys of each enclosing object; null for an array
  let atKey = false; // whether the next string is a key
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let end = i + 1;
      while (json[end] !== '"') end += json[end] === '\\' ? 2 : 1;
      const keys = open.at(-1);
      if (atKey && keys) {
        const key = JSON.parse(json.slice(i, end + 1)) as string;
        if (keys.has(key)) return key;
        keys.add(key);
      }
      atKey = false;
      i = end;
    } else if (c === '{' || c === '[') {
      open.push(c === '{' ? new Set() : null);
      atKey = c === '{';
    } else if (c === '}' || c === ']') {
      open.pop();
    } else if (c === ',') {
      atKey = open.at(-1) != null;
    }
  }
  return null;
}
