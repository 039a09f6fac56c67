// Character-level tokenizer, as in nanoGPT's shakespeare_char: one id per distinct character of the
// training text, ids in code-point order. A character is a code point, not a UTF-16 unit, so an emoji
// is one token; a lone surrogate is a character of its own and round-trips like any other.
import { describeValue } from '../../tensor/check.js';
import { checkArray, checkIds, checkText, type CharTokenizerJSON, type Tokenizer } from './tokenizer.js';

/** One token per distinct character (code point) of the training text, ids in code-point order. */
export class CharTokenizer implements Tokenizer {
  readonly kind = 'char';
  private readonly chars: readonly string[];
  private readonly ids = new Map<string, number>();
  // the id of each UTF-16 unit that is a character of its own (-1: not in the vocabulary): a
  // typed-array lookup per character instead of a string and a Map lookup, ~10x faster
  private readonly unitIds = new Int32Array(2 ** 16).fill(-1);

  // chars[id] is the character of token id.
  constructor(chars: readonly string[]) {
    checkArray('CharTokenizer', 'chars', chars, 'an array of characters').forEach((ch, id) => {
      if (typeof ch !== 'string' || [...ch].length !== 1) {
        throw new Error(`CharTokenizer: vocabulary entry ${id} must be a single character, got ${JSON.stringify(ch)}`);
      }
      if (this.ids.has(ch)) throw new Error(`CharTokenizer: character ${describeChar(ch)} appears twice in the vocabulary`);
      this.ids.set(ch, id);
      if (ch.length === 1) this.unitIds[ch.charCodeAt(0)] = id;
    });
    this.chars = [...chars];
  }

  static train(text: string): CharTokenizer {
    return CharTokenizer.fromDistinct(new DistinctChars().add(checkText('CharTokenizer.train', text)).chars, 'CharTokenizer.train');
  }

  /** train() on a text given in pieces (a corpus larger than one string holds), each of whole characters. */
  static async trainOnPieces(pieces: AsyncIterable<string> | Iterable<string>): Promise<CharTokenizer> {
    const distinct = new DistinctChars();
    for await (const piece of pieces) distinct.add(checkText('CharTokenizer.trainOnPieces', piece));
    return CharTokenizer.fromDistinct(distinct.chars, 'CharTokenizer.trainOnPieces');
  }

  private static fromDistinct(distinct: Set<string>, op: string): CharTokenizer {
    if (!distinct.size) throw new Error(`${op}: the text is empty: a vocabulary needs at least one character`);
    return new CharTokenizer([...distinct].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!));
  }

  static fromJSON(json: CharTokenizerJSON): CharTokenizer {
    if (!Array.isArray(json.chars)) throw new Error('CharTokenizer.fromJSON: "chars" must be an array of characters');
    return new CharTokenizer(json.chars);
  }

  get vocabSize(): number {
    return this.chars.length;
  }

  /** Throws on a character outside the vocabulary; encodeKnown() leaves such characters out instead. */
  encode(text: string): number[] {
    const out = new Int32Array(checkText('CharTokenizer.encode', text).length);
    const length = this.encodeInto(text, out, (ch) => {
      throw new Error(`CharTokenizer: character ${describeChar(ch)} is not in the vocabulary (encodeKnown() leaves unknown characters out)`);
    });
    return Array.from(out.subarray(0, length));
  }

  /**
   * Writes the ids of `text`'s characters to `out` (which holds text.length ids: at most one per
   * UTF-16 unit) and returns how many; a character outside the vocabulary is passed to `unknown`
   * and left out.
   */
  encodeInto(text: string, out: Int32Array, unknown: (ch: string) => void): number {
    checkText('CharTokenizer.encodeInto', text);
    if (!(out instanceof Int32Array) || out.length < text.length) {
      const got = out instanceof Int32Array ? `an Int32Array of ${out.length}` : describeValue(out);
      throw new RangeError(`CharTokenizer.encodeInto: argument 'out' must be an Int32Array of at least ${text.length} ids (one per UTF-16 unit of the text), got ${got}`);
    }
    let length = 0;
    for (let i = 0; i < text.length; i++) {
      const unit = text.charCodeAt(i);
      const pairEnd = isHighSurrogate(unit) && isLowSurrogate(text.charCodeAt(i + 1)) ? i + 2 : 0;
      const id = pairEnd ? (this.ids.get(text.slice(i, pairEnd)) ?? -1) : this.unitIds[unit]!;
      if (id >= 0) out[length++] = id;
      else unknown(pairEnd ? text.slice(i, pairEnd) : text[i]!);
      if (pairEnd) i++;
    }
    return length;
  }

  /** The id of one character, or undefined when it is not in the vocabulary. */
  idOf(ch: string): number | undefined {
    return this.ids.get(ch);
  }

  decode(ids: ArrayLike<number>): string {
    checkIds('CharTokenizer.decode', ids);
    const parts = new Array<string>(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const ch = this.chars[ids[i]!];
      if (ch === undefined) throw new Error(`CharTokenizer: token id ${ids[i]} is outside the vocabulary of ${this.vocabSize}`);
      parts[i] = ch;
    }
    return parts.join('');
  }

  toJSON(): CharTokenizerJSON {
    return { kind: 'char', chars: [...this.chars] };
  }
}

const isHighSurrogate = (unit: number) => unit >= 0xd800 && unit <= 0xdbff;
const isLowSurrogate = (unit: number) => unit >= 0xdc00 && unit <= 0xdfff; // false for NaN (past the end)

/** How many characters `text` has as Python's len() counts them, code points: a surrogate pair is one (an emoji), a lone surrogate one too. */
export function codePoints(text: string): number {
  let n = text.length;
  for (let i = 1; i < text.length; i++) if (isLowSurrogate(text.charCodeAt(i)) && isHighSurrogate(text.charCodeAt(i - 1))) n--;
  return n;
}

/** The distinct characters (code points; a lone surrogate is one) of the texts added. */
class DistinctChars {
  readonly chars = new Set<string>();
  private readonly seenUnits = new Uint8Array(2 ** 16); // characters of one UTF-16 unit already in `chars`

  add(text: string): this {
    for (let i = 0; i < text.length; i++) {
      const unit = text.charCodeAt(i);
      if (isHighSurrogate(unit) && isLowSurrogate(text.charCodeAt(i + 1))) this.chars.add(text.slice(i, ++i + 1));
      else if (!this.seenUnits[unit]) {
        this.seenUnits[unit] = 1;
        this.chars.add(text[i]!);
      }
    }
    return this;
  }
}

/** A character as error messages show it, e.g. `"é" (U+00E9)`; JSON keeps control characters readable. */
export function describeChar(ch: string): string {
  const hex = ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
  return `${JSON.stringify(ch)} (U+${hex})`;
}
