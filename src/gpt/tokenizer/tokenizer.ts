// The contract every tokenizer meets, so the trainer, the sampler and checkpoints need not know
// which kind they hold. toJSON() is what a checkpoint stores; tokenizerFromJSON() brings it back.
import { describeValue } from '../../tensor/check.js';

/** `text` if it is a string: a number or null would fail deep inside, a String object be taken silently. */
export function checkText(op: string, text: unknown): string {
  if (typeof text !== 'string') throw new TypeError(`${op}: argument 'text' must be a string, got ${describeValue(text)}`);
  return text;
}

/** `list` if it is an array: a string or a number failed with '... .forEach is not a function'. */
export function checkArray<T>(op: string, name: string, list: readonly T[], allowed: string): readonly T[] {
  if (!Array.isArray(list)) throw new TypeError(`${op}: argument '${name}' must be ${allowed}, got ${describeValue(list)}`);
  return list;
}

/** `ids` if it is an array or typed array of numbers: a string would decode its digits as ids, '1' index as 1. */
export function checkIds(op: string, ids: unknown): ArrayLike<number> {
  const allowed = `${op}: argument 'ids' must be an array or typed array of token ids, got`;
  if (!Array.isArray(ids) && !(ArrayBuffer.isView(ids) && !(ids instanceof DataView))) throw new TypeError(`${allowed} ${describeValue(ids)}`);
  if (Array.isArray(ids)) ids.forEach((id, i) => {
    if (typeof id !== 'number') throw new TypeError(`${allowed} ${describeValue(id)} at [${i}]`);
  });
  return ids as ArrayLike<number>;
}

/** Text to token ids and back: what the trainer, the sampler and checkpoints use, whatever the kind. */
export interface Tokenizer {
  readonly kind: TokenizerJSON['kind'];
  readonly vocabSize: number;
  encode(text: string): number[];
  decode(ids: ArrayLike<number>): string;
  toJSON(): TokenizerJSON;
}

/**
 * A character tokenizer as stored: the vocabulary in id order, one code point per entry (a list, not
 * a joined string, so that two lone surrogates never fuse into one astral character on the way back).
 */
export interface CharTokenizerJSON {
  kind: 'char';
  chars: string[];
}

/** A BPE tokenizer as stored: merge i joins the pair [a, b] into token 256 + i; the merges alone define the vocabulary. */
export interface BpeTokenizerJSON {
  kind: 'bpe';
  merges: [number, number][];
}

/**
 * GPT-2's tokenizer (or another byte-level BPE laid out like it) as stored: merge i joins tokens
 * merges[2i] and merges[2i + 1] into token 256 + i; special[k] is token 256 + merges.length / 2 + k.
 * GPT-2's: 50,000 merges and ["<|endoftext|>"], 442 kB of JSON, where its encoder.json and vocab.bpe
 * take 1.5 MB: the token strings they spell out follow from the merges.
 */
export interface Gpt2TokenizerJSON {
  kind: 'gpt2';
  merges: number[];
  special: string[];
  /** The special tokens that encode() takes out of the text (a Hugging Face added token with special: false); none when absent. */
  matched?: string[];
  /** The special tokens that take in the whitespace before them (Hugging Face's lstrip), and after them (rstrip), where matched; none when absent. */
  lstrip?: string[];
  rstrip?: string[];
  /** The special tokens that match only where no word character touches them (Hugging Face's single_word); none when absent. */
  singleWord?: string[];
}

/** What a checkpoint stores of its tokenizer (toJSON()); tokenizerFromJSON() brings it back. */
export type TokenizerJSON = CharTokenizerJSON | BpeTokenizerJSON | Gpt2TokenizerJSON;
