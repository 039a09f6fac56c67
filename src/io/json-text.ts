// JSON files' text parsed with a refusal in one line: V8's reason quotes the text near the fault,
// newlines and all (`Unexpected token ',', "{"a":\n[1,,2]}" is not valid JSON`).

/** JSON.parse(text), or `fail` told why not: "not valid JSON (<reason, its newlines escaped>)". */
export function parseJSONText(text: string, fail: (why: string) => never): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    return fail(`not valid JSON (${(e as Error).message.replace(/\r/g, '\\r').replace(/\n/g, '\\n')})`);
  }
}
