// Adjacent token pairs, shared by BPE training and encoding. A pair is packed into one number
// (a * PAIR_BASE + b) so it can key a Map, and packed keys order pairs lexicographically.
export const PAIR_BASE = 2 ** 26; // token ids must stay below this; a * PAIR_BASE + b stays exact
export const BYTE_TOKENS = 256; // ids 0..255 are the raw bytes; merge i makes id 256 + i

export const pairKey = (a: number, b: number): number => a * PAIR_BASE + b;

export const pairOf = (key: number): [number, number] => [Math.floor(key / PAIR_BASE), key % PAIR_BASE];

// Replaces every occurrence of [a, b], scanning left to right, so "aaa" with [a, a] gives [aa, a].
// `moved` hears of each pair an occurrence ends (-1) or starts (+1) on either side, which is all a
// trainer's pair counts need: for "x a b a b" that is (x,a)- (x,ab)+ (b,a)- (ab,a)+, then (ab,a)-
// (ab,ab)+ for the second occurrence, whose left neighbour is merged already.
export function mergePair(ids: readonly number[], a: number, b: number, merged: number, moved: (x: number, y: number, sign: 1 | -1) => void): number[] {
  const out: number[] = [];
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] !== a || ids[i + 1] !== b) {
      out.push(ids[i]!);
      continue;
    }
    const left = out[out.length - 1];
    const right = ids[i + 2];
    if (left !== undefined) {
      moved(left, a, -1);
      moved(left, merged, 1);
    }
    if (right !== undefined) {
      moved(b, right, -1);
      moved(merged, right, 1);
    }
    out.push(merged);
    i++;
  }
  return out;
}
