// The contract every tokenizer meets, so the trainer, the sampler and checkpoints need not know
// which kind they hold. toJSON() is what a checkpoint stores; tokenizerFromJSON() brings it back.
export interface Tokenizer {
  readonly kind: TokenizerJSON['kind'];
  readonly vocabSize: number;
  encode(text: string): number[];
  decode(ids: ArrayLike<number>): string;
  toJSON(): TokenizerJSON;
}

// The vocabulary in id order, one code point per entry (a list, not a joined string, so that two
// lone surrogates never fuse into one astral character on the way back).
export interface CharTokenizerJSON {
  kind: 'char';
  chars: string[];
}

// Merge i joins the pair [a, b] into token 256 + i; the merges alone define the vocabulary.
export interface BpeTokenizerJSON {
  kind: 'bpe';
  merges: [number, number][];
}

export type TokenizerJSON = CharTokenizerJSON | BpeTokenizerJSON;
