// Byte-level BPE, shared by our own trained tokenizer (bpe.ts) and GPT-2's (gpt2.ts): text is cut
// into chunks (each kind by its own pattern), each chunk is UTF-8 encoded, its bytes become the 256
// byte tokens, and merges apply by rank, never across a chunk boundary. Any well-formed string
// round-trips exactly. A lone surrogate cannot be UTF-8 encoded: TextEncoder turns it into U+FFFD,
// so that is what decode returns for it. Special tokens (GPT-2's <|endoftext|>) follow the merges:
// decode writes their text, encode never produces them (text that spells one is ordinary text);
// encodeAllowingSpecial does, for a prompt. Those of them that are `matched` (a Hugging Face added
// token with special: false) encode() takes out of the text too, as Hugging Face's tokenizers does.
import { checkArray, checkIds, checkText, type Tokenizer, type TokenizerJSON } from './tokenizer.js';
import { mergeByRank } from './merge-by-rank.js';
import { PairRanks } from './pair-ranks.js';
import { BYTE_TOKENS } from './pairs.js';

const CACHE_LIMIT = 100_000; // encoded chunks remembered; natural text repeats its words a lot
// Every token's bytes are held for decode(): a forged merge list, each merge joining the last token to
// itself, would double them 45 times over in a file of 700 bytes. GPT-2's tokens take 0.3 MiB.
const TOKEN_BYTES_LIMIT = 256 * 2 ** 20;
const utf8 = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF, which the default decoder would silently drop.
const fromUtf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * How the special tokens match, where matched (Hugging Face's added tokens' flags): those of lstrip
 * take in the whitespace before them, those of rstrip that after them, and those of singleWord match
 * only where no word character touches them on either side.
 */
export interface MatchRules {
  lstrip?: readonly string[];
  rstrip?: readonly string[];
  singleWord?: readonly string[];
}

// Rust's char::is_whitespace, which Hugging Face's lstrip and rstrip take (JavaScript's \s differs: U+FEFF, U+0085).
const WHITE_SPACE = /^\p{White_Space}$/u;
// A word character to Hugging Face's single_word: Rust's regex \w (Unicode's, UTS #18), which JavaScript's \w is not.
const WORD_CHARACTER = /^[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]$/u;

/** Whether `ch` (one character) is a word character to Hugging Face's single_word: Rust's regex \w. */
export const isWordCharacter = (ch: string): boolean => WORD_CHARACTER.test(ch);

/**
 * A pattern matching any of `names`, leftmost first and of those the longest (longer alternatives
 * first), as Hugging Face's added vocabulary matches; null for none.
 */
function anyOf(names: readonly string[]): RegExp | null {
  if (!names.length) return null;
  const longestFirst = [...names].sort((x, y) => y.length - x.length);
  return new RegExp(longestFirst.map((name) => name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
}

const isIdBelow = (id: unknown, limit: number): boolean => Number.isInteger(id) && (id as number) >= 0 && (id as number) < limit;

/** A byte-level BPE vocabulary: the byte tokens, the merges in rank order, then the special tokens. */
export abstract class ByteLevelBpe implements Tokenizer {
  abstract readonly kind: TokenizerJSON['kind'];
  /** byteOrder[id]: the byte that token id (0..255) stands for. */
  readonly byteOrder: readonly number[];
  /** Merge i joins the pair [a, b] into token 256 + i; lower merges apply first. */
  readonly merges: readonly (readonly [number, number])[];
  /** special[k] is token 256 + merges.length + k. */
  readonly special: readonly string[];
  /** The special tokens that encode() takes out of the text wherever it spells them (Hugging Face's added tokens with special: false). */
  readonly matched: readonly string[];
  readonly lstrip: readonly string[];
  readonly rstrip: readonly string[];
  readonly singleWord: readonly string[];
  private readonly matchedPattern: RegExp | null;
  private readonly specialPattern: RegExp | null;
  private readonly byteIds: number[] = []; // byteIds[b]: the token of byte b
  private readonly ranks: PairRanks; // pair -> merge index
  // The UTF-8 bytes every token stands for, end to end: token id's are bytes[starts[id], starts[id + 1]).
  // One buffer, where an array per token (GPT-2's 50,257) was as many objects for the garbage collector to copy.
  private readonly bytes: Uint8Array;
  private readonly starts: Float64Array;
  private readonly cache = new Map<string, readonly number[]>();

  // `owner` names the tokenizer in errors.
  protected constructor(private readonly owner: string, byteOrder: readonly number[], merges: readonly (readonly [number, number])[], special: readonly string[], matched: readonly string[] = [], rules: MatchRules = {}) {
    const list = checkArray(owner, 'merges', merges, 'an array of [a, b] token id pairs');
    const lengths: number[] = new Array(BYTE_TOKENS).fill(1); // lengths[id]: the bytes of token id
    let total = BYTE_TOKENS; // bytes of the tokens so far
    this.ranks = new PairRanks(list.length);
    for (let i = 0; i < list.length; i++) {
      const pair = list[i];
      const limit = BYTE_TOKENS + i;
      if (!Array.isArray(pair) || pair.length !== 2 || !isIdBelow(pair[0], limit) || !isIdBelow(pair[1], limit)) {
        throw new Error(`${owner}: merge ${i} must be a pair of token ids below ${limit}, got ${JSON.stringify(pair)}`);
      }
      const a = pair[0] as number;
      const b = pair[1] as number;
      const length = lengths[a]! + lengths[b]!;
      total += length;
      if (total > TOKEN_BYTES_LIMIT) {
        throw new Error(`${owner}: merge ${i} makes a token of ${length} bytes, bringing the vocabulary's to ${total}, over the 256 MiB a real vocabulary stays far below`);
      }
      if (!this.ranks.add(a, b, i)) throw new Error(`${owner}: merge ${i} repeats the pair [${a}, ${b}]`);
      lengths.push(length);
    }
    const specialBytes = Array.from(checkArray(owner, 'special', special, 'an array of strings'), (text, k) => {
      if (typeof text !== 'string' || !text) throw new Error(`${owner}: special token ${k} must be a non-empty string, got ${JSON.stringify(text)}`);
      return utf8.encode(text);
    });
    this.starts = new Float64Array(lengths.length + specialBytes.length + 1);
    specialBytes.forEach((utf8Bytes) => lengths.push(utf8Bytes.length));
    lengths.forEach((length, id) => (this.starts[id + 1] = this.starts[id]! + length));
    this.bytes = new Uint8Array(this.starts[lengths.length]!);
    byteOrder.forEach((b, id) => {
      this.byteIds[b] = id;
      this.bytes[id] = b;
    });
    let at = BYTE_TOKENS;
    for (const pair of list) at = this.copyToken(pair[1], this.copyToken(pair[0], at));
    for (const utf8Bytes of specialBytes) {
      this.bytes.set(utf8Bytes, at);
      at += utf8Bytes.length;
    }
    this.byteOrder = [...byteOrder];
    this.merges = merges.map(([a, b]) => [a, b] as const);
    this.special = [...special];
    checkArray(owner, 'matched', matched, 'an array of special tokens').forEach((text) => {
      if (!this.special.includes(text)) throw new Error(`${owner}: matched token ${JSON.stringify(text)} is not one of the special tokens`);
    });
    this.matched = [...matched];
    const flagged = (rule: keyof MatchRules) =>
      checkArray(owner, rule, rules[rule] ?? [], 'an array of special tokens').map((text) => {
        if (!this.special.includes(text)) throw new Error(`${owner}: ${rule} token ${JSON.stringify(text)} is not one of the special tokens`);
        return text;
      });
    this.lstrip = flagged('lstrip');
    this.rstrip = flagged('rstrip');
    this.singleWord = flagged('singleWord');
    this.matchedPattern = anyOf(this.matched);
    this.specialPattern = anyOf(this.special);
  }

  // Copies token id's bytes to bytes[at..]; returns where they end.
  private copyToken(id: number, at: number): number {
    for (let k = this.starts[id]!; k < this.starts[id + 1]!; k++) this.bytes[at++] = this.bytes[k]!;
    return at;
  }

  /** The chunks merges stay within; they join back into the text. */
  protected abstract chunks(text: string): Iterable<string>;

  abstract toJSON(): TokenizerJSON;

  get vocabSize(): number {
    return this.starts.length - 1;
  }

  encode(text: string): number[] {
    return Array.from(this.encodeIds(text));
  }

  /** encode()'s ids as an Int32Array, which holds a corpus's: a number[] holds about 134M at most. */
  encodeIds(text: string): Int32Array {
    return this.encodeTaking(checkText(`${this.owner}.encode`, text), this.matchedPattern);
  }

  /**
   * encode(), except that a special token's text (GPT-2's "<|endoftext|>") becomes that token, as
   * tiktoken's encode(text, allowed_special="all") has it: nanoGPT's sample.py encodes --start so.
   */
  encodeAllowingSpecial(text: string): number[] {
    return Array.from(this.encodeTaking(checkText(`${this.owner}.encodeAllowingSpecial`, text), this.specialPattern));
  }

  // The ids of text whose matches of `taken` (special tokens' texts) are those tokens, the rest BPE;
  // a token of lstrip or rstrip takes in the whitespace on that side, as Hugging Face's added tokens
  // do: the matches are found in the text as it is, then stretched (lstrip not past the previous
  // token's end), so a match that starts in whitespace the one before took in is still one. A match
  // of a singleWord token beside a word character is dropped, its text left to BPE and not searched
  // again (Hugging Face's find_matches: "ab" of single_word in "xabc" hides a "bc" there).
  private encodeTaking(text: string, taken: RegExp | null): Int32Array {
    let out = new Int32Array(1024);
    let length = 0;
    const add = (ids: ArrayLike<number>) => {
      if (length + ids.length > out.length) {
        const grown = new Int32Array(Math.max(2 * out.length, length + ids.length));
        grown.set(out);
        out = grown;
      }
      out.set(ids, length);
      length += ids.length;
    };
    const addPlain = (plain: string) => {
      for (const chunk of this.chunks(plain)) add(this.encodeChunk(chunk));
    };
    const first = this.vocabSize - this.special.length;
    const white = (at: number) => WHITE_SPACE.test(text[at]!); // every White_Space character is one UTF-16 unit
    let from = 0;
    if (taken) taken.lastIndex = 0; // exec's: each look starts where the last match ends
    for (let m; taken && (m = taken.exec(text)); ) {
      if (this.singleWord.includes(m[0]) && (wordBefore(text, m.index) || wordAt(text, taken.lastIndex))) continue;
      let start = m.index;
      if (this.lstrip.includes(m[0])) while (start > from && white(start - 1)) start--;
      addPlain(text.slice(from, start));
      add([first + this.special.indexOf(m[0])]);
      from = m.index + m[0].length;
      if (this.rstrip.includes(m[0])) while (from < text.length && white(from)) from++;
    }
    addPlain(text.slice(from));
    return out.slice(0, length);
  }

  decode(ids: ArrayLike<number>): string {
    checkIds(`${this.owner}.decode`, ids);
    let length = 0;
    for (let i = 0; i < ids.length; i++) {
      // Number(): a BigInt64Array's 5n is token 5, as when tokens were looked up by property key
      const id = Number(ids[i]);
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new Error(`${this.owner}: token id ${ids[i]} is outside the vocabulary of ${this.vocabSize}`);
      length += this.starts[id + 1]! - this.starts[id]!;
    }
    const all = new Uint8Array(length);
    let at = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = Number(ids[i]);
      for (let k = this.starts[id]!; k < this.starts[id + 1]!; k++) all[at++] = this.bytes[k]!;
    }
    // A slice of a token stream may cut a character in half; such bytes decode to U+FFFD.
    return fromUtf8.decode(all);
  }

  // GPT-2's bpe() (see mergeByRank), which also replays training's order, so the training text
  // encodes to the tokens it saw.
  private encodeChunk(chunk: string): readonly number[] {
    const cached = this.cache.get(chunk);
    if (cached !== undefined) return cached;
    const ids = mergeByRank(Array.from(utf8.encode(chunk), (b) => this.byteIds[b]!), (a, b) => this.ranks.get(a, b));
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(chunk, ids);
    return ids;
  }
}

// Whether the character that ends text[0, at) (or starts text[at..]) is a word character; the text's
// ends are not. A character past U+FFFF is two UTF-16 units.
function wordBefore(text: string, at: number): boolean {
  const pair = at >= 2 && /[\uDC00-\uDFFF]/.test(text[at - 1]!) && /[\uD800-\uDBFF]/.test(text[at - 2]!);
  return at > 0 && isWordCharacter(text.slice(pair ? at - 2 : at - 1, at));
}
const wordAt = (text: string, at: number): boolean => at < text.length && isWordCharacter(String.fromCodePoint(text.codePointAt(at)!));
