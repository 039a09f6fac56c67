// GPT-2's tokenizer (OpenAI's encoder.py; tiktoken's "gpt2"; Hugging Face's GPT2Tokenizer): byte-level
// BPE whose 256 byte tokens are numbered in the order of their bytes_to_unicode characters
// (byte-chars.ts), with GPT-2's pre-tokenization pattern and <|endoftext|> as token 50256. Its
// vocabulary comes from GPT-2's files (gpt2-files.ts) or a Hugging Face tokenizer.json (hf-json.ts).
//
// Like GPT-2's encoder.py and tiktoken's encode_ordinary, encode() treats "<|endoftext|>" in the text
// as ordinary text, so no input can forge a document boundary; a caller that wants the token appends
// specialId('<|endoftext|>') itself, and encodeAllowingSpecial() reads a prompt as nanoGPT's
// sample.py does (its --start "<|endoftext|>" is token 50256). decode() writes a special token's text.
import { ByteLevelBpe, type MatchRules } from './byte-level-bpe.js';
import { GPT2_BYTE_ORDER } from './byte-chars.js';
import { eachMatch } from './split.js';
import type { Gpt2TokenizerJSON } from './tokenizer.js';

// GPT-2's pattern: a contraction, a letter run, a digit run or a symbol run (each led by at most one
// space), whitespace less its last character when a word follows, other whitespace. Written with
// \p{White_Space} where GPT-2 writes \s: that is what \s means to the Python `regex` module GPT-2
// runs on (and to tiktoken and Hugging Face's tokenizers), while JavaScript's \s adds U+FEFF and
// lacks U+0085. \p{L} and \p{N} follow the JavaScript engine's Unicode version, which may differ
// from Python's on characters assigned recently.
const GPT2_SPLIT =
  /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\p{White_Space}\p{L}\p{N}]+|\p{White_Space}+(?!\P{White_Space})|\p{White_Space}+/gu;

/** Splits text as GPT-2 does before BPE (words with their leading space, numbers, symbol runs, whitespace). */
export function gpt2Chunks(text: string): string[] {
  return [...eachMatch(text, GPT2_SPLIT)];
}

/** GPT-2's end of a document: the one special token in its vocabulary, which gpt prepare writes between files. */
export const END_OF_TEXT = '<|endoftext|>';

/** GPT-2's byte-level BPE: with GPT-2's merges and <|endoftext|>, GPT-2's tokenizer exactly. */
export class Gpt2Tokenizer extends ByteLevelBpe {
  readonly kind = 'gpt2';
  private readonly specialIds: ReadonlyMap<string, number>;

  /** Merge i joins tokens [a, b] into token 256 + i; special[k] is token 256 + merges.length + k; encode() takes those `matched` out of the text. */
  constructor(merges: readonly (readonly [number, number])[], special: readonly string[] = [], matched: readonly string[] = [], rules: MatchRules = {}) {
    super('Gpt2Tokenizer', GPT2_BYTE_ORDER, merges, special, matched, rules);
    this.specialIds = new Map(this.special.map((text, k) => [text, this.vocabSize - this.special.length + k]));
  }

  static fromJSON(json: Gpt2TokenizerJSON): Gpt2Tokenizer {
    const { merges, special, matched = [], lstrip = [], rstrip = [], singleWord = [] } = json;
    if (!Array.isArray(merges) || merges.length % 2) throw new Error('Gpt2Tokenizer.fromJSON: "merges" must be an array of token ids, two per merge');
    if (!Array.isArray(special)) throw new Error('Gpt2Tokenizer.fromJSON: "special" must be an array of strings');
    const pairs = Array.from({ length: merges.length / 2 }, (_, i) => [merges[2 * i]!, merges[2 * i + 1]!] as const);
    return new Gpt2Tokenizer(pairs, special, matched, { lstrip, rstrip, singleWord });
  }

  /** The id of a special token such as '<|endoftext|>', or undefined when the vocabulary has none of that name. */
  specialId(text: string): number | undefined {
    return this.specialIds.get(text);
  }

  /** The merges flattened: for GPT-2, 442 kB of JSON where a list of pairs would take 590 kB. */
  toJSON(): Gpt2TokenizerJSON {
    const listed = (key: 'matched' | 'lstrip' | 'rstrip' | 'singleWord') => this[key].length && { [key]: [...this[key]] };
    return { kind: 'gpt2', merges: this.merges.flat(), special: [...this.special], ...listed('matched'), ...listed('lstrip'), ...listed('rstrip'), ...listed('singleWord') };
  }

  protected chunks(text: string): Iterable<string> {
    return eachMatch(text, GPT2_SPLIT);
  }
}
