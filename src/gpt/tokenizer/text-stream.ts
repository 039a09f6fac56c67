// The text of a growing stream of token ids, in complete characters: a byte-level token may end
// inside a multi-byte character (its bytes decode to U+FFFD until the rest arrives), and a character
// tokenizer's token may be the first half of a surrogate pair. Each step decodes only the ids after
// the last cut that joins nothing: one where the decodes of the ids before and after it add up to
// the decode of both (UTF-8 then joins nothing across it, whatever follows: a join makes fewer
// characters). The unfinished character's at most 3 bytes lie within the last 3 ids, so wherever an
// id boundary falls between two characters that cut is among the last few ids, also where the text
// keeps ending in U+FFFD (invalid bytes decode to it too). Streaming n tokens then costs O(n), not a
// decode of the whole continuation per token (only ids that each split a character keep adding to
// the ids decoded), and the pieces add up to the decode of all the ids.
import type { Tokenizer } from './tokenizer.js';

/** Whether decoded text ends inside a character: an incomplete UTF-8 sequence's U+FFFD, or a high surrogate. */
const open = (text: string) => text.endsWith('\uFFFD') || /[\uD800-\uDBFF]$/.test(text);

/** The most ids an unfinished character's bytes (at most 3) or high surrogate (1) span. */
const OPEN_IDS = 3;

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
    else this.keepOpenTail(text, safe.length);
    return fresh;
  }

  /** Drops the pending ids before the last cut that joins nothing (`text`: their decode, of which `shown` characters were returned). */
  private keepOpenTail(text: string, shown: number): void {
    for (let k = 1; k <= Math.min(OPEN_IDS, this.pending.length - 1); k++) {
      const cut = this.pending.length - k;
      const head = this.tokenizer.decode(this.pending.slice(0, cut));
      if (head + this.tokenizer.decode(this.pending.slice(cut)) === text) {
        [this.pending, this.shown] = [this.pending.slice(cut), shown - head.length];
        return;
      }
    }
    this.shown = shown;
  }

  /** What push(id) would return, the stream left as it was. */
  peek(id: number): string {
    const [pending, shown] = [[...this.pending], this.shown];
    const piece = this.push(id);
    [this.pending, this.shown] = [pending, shown];
    return piece;
  }

  /** The rest at the end of the stream, an unfinished character included (as its decode gives it). */
  flush(): string {
    const rest = this.tokenizer.decode(this.pending).slice(this.shown);
    [this.pending, this.shown] = [[], 0];
    return rest;
  }
}
