export type { Tokenizer, TokenizerJSON, CharTokenizerJSON, BpeTokenizerJSON } from './tokenizer.js';
export { CharTokenizer } from './char.js';
export { BpeTokenizer, type BpeTrainOptions } from './bpe.js';
export type { MergeProgress } from './train-bpe.js';
export { splitChunks } from './split.js';
export { tokenizerFromJSON } from './json.js';
export { encodeKnown, describeLeftOut, type KnownTokens } from './encode-known.js';
