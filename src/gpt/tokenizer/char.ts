// Character-level tokenizer, as in nanoGPT's shakespeare_char: one id per distinct character of the
// training text, ids in code-point order. A character is a code point, not a UTF-16 unit, so an emoji
// is one token; a lone surrogate is a character of its own and round-trips like any other.
import { checkArray, checkIds, checkText, type CharTokenizerJSON, type Tokenizer } from './tokenizer.js';

/** One token per distinct character (code point) of the training text, ids in code-point order. */
export class CharTokenizer implements Tokenizer {
  readonly kind = 'char';
  private readonly chars: readonly string[];
  private readonly ids = new Map<string, number>();

  // chars[id] is the character of token id.
  constructor(chars: readonly string[]) {
    checkArray('CharTokenizer', 'chars', chars, 'an array of characters').forEach((ch, id) => {
      if (typeof ch !== 'string' || [...ch].length !== 1) {
        throw new Error(`CharTokenizer: vocabulary entry ${id} must be a single character, got ${JSON.stringify(ch)}`);
      }
      if (this.ids.has(ch)) throw new Error(`CharTokenizer: character ${describeChar(ch)} appears twice in the vocabulary`);
      this.ids.set(ch, id);
    });
    this.chars = [...chars];
  }

  static train(text: string): CharTokenizer {
    return CharTokenizer.fromDistinct(new Set(checkText('CharTokenizer.train', text)), 'CharTokenizer.train'); // a string iterates by code point
  }

  /** train() on a text given in pieces (a corpus larger than one string holds), each of whole characters. */
  static async trainOnPieces(pieces: AsyncIterable<string> | Iterable<string>): Promise<CharTokenizer> {
    const distinct = new Set<string>();
    for await (const piece of pieces) for (const ch of checkText('CharTokenizer.trainOnPieces', piece)) distinct.add(ch);
    return CharTokenizer.fromDistinct(distinct, 'CharTokenizer.trainOnPieces');
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
    const out: number[] = [];
    for (const ch of checkText('CharTokenizer.encode', text)) {
      const id = this.ids.get(ch);
      if (id === undefined) {
        throw new Error(`CharTokenizer: character ${describeChar(ch)} is not in the vocabulary (encodeKnown() leaves unknown characters out)`);
      }
      out.push(id);
    }
    return out;
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

/** A character as error messages show it, e.g. `"é" (U+00E9)`; JSON keeps control characters readable. */
export function describeChar(ch: string): string {
  const hex = ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
  return `${JSON.stringify(ch)} (U+${hex})`;
}
