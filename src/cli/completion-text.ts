// The text of one completion of `gpt serve --api`, or of one sample of `gpt sample`, as its tokens
// arrive: decoded in whole characters (TextStream), the end-of-text token's text left out where
// given (vLLM's skip_special_tokens: with ignore_eos, drawn mid-text, it adds none), ended by that
// token or by the first stop sequence its text holds (cut before it: OpenAI's `stop` is not part of
// the text returned), and released for streaming only up to where a stop sequence could still
// begin, so that the first half of one split over two tokens is never sent.
import { TextStream, type Tokenizer } from '../gpt/tokenizer/index.js';

export type FinishReason = 'stop' | 'length';

export class CompletionText {
  private text = '';
  private released = 0;
  private readonly stream: TextStream;
  private readonly longestStop: number;
  finish: FinishReason | null = null;
  /** Tokens drawn, those that ended it included (the end-of-text token, a stop sequence's). */
  tokens = 0;

  /** `endToken`: the tokenizer's end-of-text token, whose text is left out; it ends the completion unless `ignoreEos`. */
  constructor(
    tokenizer: Pick<Tokenizer, 'decode'>,
    private readonly stops: readonly string[],
    private readonly endToken?: number,
    private readonly ignoreEos = false,
  ) {
    this.stream = new TextStream(tokenizer);
    this.longestStop = Math.max(0, ...stops.map((s) => s.length));
  }

  /** Takes the next token drawn; true when it ends the completion (`finish` is then 'stop'). */
  take(id: number): boolean {
    this.tokens++;
    // the end token's text is left out, not the bytes of a character it cut short: U+FFFD, as the decode of the tokens before it has them
    if (id === this.endToken) return !this.ignoreEos && (this.append(this.stream.flush()) || this.cut(this.text.length));
    return this.append(this.stream.push(id));
  }

  /** The tokens ran out (max_tokens): the rest of the text, as `length` unless a stop sequence ends it. */
  end(): void {
    if (!this.finish && !this.append(this.stream.flush())) this.finish = 'length';
  }

  /** The text not yet released that is final: all of it once finished, else all but a tail that could begin a stop sequence. */
  release(): string {
    const upTo = this.finish ? this.text.length : this.text.length - this.heldBack();
    const out = this.text.slice(this.released, upTo);
    this.released = upTo;
    return out;
  }

  /** The whole text (once finished). */
  get all(): string {
    return this.text;
  }

  /** Adds `piece` to the text; true when the text then holds a stop sequence, cut before the first. */
  private append(piece: string): boolean {
    const from = Math.max(0, this.text.length - this.longestStop + 1); // a stop sequence ending in the new text starts here at the earliest
    this.text += piece;
    const found = this.stops.map((s) => this.text.indexOf(s, from)).filter((at) => at >= 0);
    return found.length > 0 && this.cut(Math.min(...found));
  }

  private cut(at: number): true {
    this.text = this.text.slice(0, at);
    this.finish = 'stop';
    return true;
  }

  /** The length of the longest tail of the unreleased text that a stop sequence starts with. */
  private heldBack(): number {
    for (let k = Math.min(this.longestStop - 1, this.text.length - this.released); k > 0; k--) {
      const tail = this.text.slice(-k);
      if (this.stops.some((s) => s.startsWith(tail))) return k;
    }
    return 0;
  }
}
