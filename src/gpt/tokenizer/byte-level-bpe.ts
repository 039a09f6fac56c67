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
import { BYTE_TOKENS, pairKey } from './pairs.js';

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
  private readonly ranks = new Map<number, number>(); // pair -> merge index
  private readonly tokens: Uint8Array[] = []; // tokens[id]: the UTF-8 bytes token id stands for
  private readonly cache = new Map<string, readonly number[]>();

  // `owner` names the tokenizer in errors.
  protected constructor(private readonly owner: string, byteOrder: readonly number[], merges: readonly (readonly [number, number])[], special: readonly string[], matched: readonly string[] = [], rules: MatchRules = {}) {
    let total = byteOrder.length; // bytes of the tokens so far
    byteOrder.forEach((b, id) => {
      this.byteIds[b] = id;
      this.tokens.push(Uint8Array.of(b));
    });
    checkArray(owner, 'merges', merges, 'an array of [a, b] token id pairs').forEach((pair, i) => {
      const limit = BYTE_TOKENS + i;
      const ok = Array.isArray(pair) && pair.length === 2 && pair.every((id) => Number.isInteger(id) && id >= 0 && id < limit);
      if (!ok) throw new Error(`${owner}: merge ${i} must be a pair of token ids below ${limit}, got ${JSON.stringify(pair)}`);
      const [a, b] = pair;
      const length = this.tokens[a]!.length + this.tokens[b]!.length;
      total += length;
      if (total > TOKEN_BYTES_LIMIT) {
        throw new Error(`${owner}: merge ${i} makes a token of ${length} bytes, bringing the vocabulary's to ${total}, over the 256 MiB a real vocabulary stays far below`);
      }
      const key = pairKey(a, b);
      if (this.ranks.has(key)) throw new Error(`${owner}: merge ${i} repeats the pair [${a}, ${b}]`);
      this.ranks.set(key, i);
      const joined = new Uint8Array(length);
      joined.set(this.tokens[a]!);
      joined.set(this.tokens[b]!, this.tokens[a]!.length);
      this.tokens.push(joined);
    });
    checkArray(owner, 'special', special, 'an array of strings').forEach((text, k) => {
      if (typeof text !== 'string' || !text) throw new Error(`${owner}: special token ${k} must be a non-empty string, got ${JSON.stringify(text)}`);
      this.tokens.push(utf8.encode(text));
    });
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

  /** The chunks merges stay within; they join back into the text. */
  protected abstract chunks(text: string): Iterable<string>;

  abstract toJSON(): TokenizerJSON;

  get vocabSize(): number {
    return this.tokens.length;
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
    const parts: Uint8Array[] = [];
    let length = 0;
    for (let i = 0; i < ids.length; i++) {
      const bytes = this.tokens[ids[i]!];
      if (bytes === undefined) throw new Error(`${this.owner}: token id ${ids[i]} is outside the vocabulary of ${this.vocabSize}`);
      parts.push(bytes);
      length += bytes.length;
    }
    const all = new Uint8Array(length);
    let at = 0;
    for (const bytes of parts) {
      all.set(bytes, at);
      at += bytes.length;
    }
    // A slice of a token stream may cut a character in half; such bytes decode to U+FFFD.
    return fromUtf8.decode(all);
  }

  // GPT-2's bpe() (see mergeByRank), which also replays training's order, so the training text
  // encodes to the tokens it saw.
  private encodeChunk(chunk: string): readonly number[] {
    const cached = this.cache.get(chunk);
    if (cached !== undefined) return cached;
    const ids = mergeByRank(Array.from(utf8.encode(chunk), (b) => this.byteIds[b]!), (a, b) => this.ranks.get(pairKey(a, b)));
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
