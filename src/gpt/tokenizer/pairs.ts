// Adjacent token pairs, shared by BPE training and encoding. A pair is packed into one number
// (a * PAIR_BASE + b) so it can key a Map, and packed keys order pairs lexicographically.
export const PAIR_BASE = 2 ** 26; // token ids must stay below this; a * PAIR_BASE + b stays exact
export const BYTE_TOKENS = 256; // ids 0..255 are the raw bytes; merge i makes id 256 + i

export const pairKey = (a: number, b: number): number => a * PAIR_BASE + b;

export const pairOf = (key: number): [number, number] => [Math.floor(key / PAIR_BASE), key % PAIR_BASE];
