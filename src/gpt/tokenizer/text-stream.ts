// The text of a growing stream of token ids, in complete characters: a byte-level token may end
// inside a multi-byte character (its bytes decode to U+FFFD until the rest arrives), and a character
// tokenizer's token may be the first half of a surrogate pair. Only the ids since the text was last
// complete are decoded at each step, so streaming n tokens costs O(n), not a decode of the whole
// continuation per token; their decode extends what was shown (byte-level and character decoding
// concatenate), so the pieces add up to the decode of all the ids.
import type { Tokenizer } from './tokenizer.js';

/** Whether decoded text ends inside a character: an incomplete UTF-8 sequence's U+FFFD, or a high surrogate. */
const open = (text: string) => text.endsWith('\uFFFD') || /[\uD800-\uDBFF]$/.test(text);

/** Token ids in, text out: `push` each generated id, `flush` at the end; the pieces add up to the decode of all of them. */
export class TextStream {
  private pending: number[] = [];
  private shown = 0; // characters of the pending ids' text already returned

  constructor(private readonly tokenizer: Pick<Tokenizer, 'decode'>) {}

  /** The new text that `id` completes: '' while the text still ends inside a character. */
  push(id: number): string {
    this.pending.push(id);
    const text = this.tokenizer.decode(this.pending);
    const safe = open(text) ? text.slice(0, -1) : text;
    const fresh = safe.slice(this.shown);
    if (safe.length === text.length) [this.pending, this.shown] = [[], 0];
    else this.shown = safe.length;
    return fresh;
  }

  /** The rest at the end of the stream, an unfinished character included (as its decode gives it). */
  flush(): string {
    const rest = this.tokenizer.decode(this.pending).slice(this.shown);
    [this.pending, this.shown] = [[], 0];
    return rest;
  }
}
