// A choice's `logprobs` in OpenAI's legacy completions shape, `{ tokens, token_logprobs,
// top_logprobs, text_offset }`, from its tokens' logprobs (a prompt's scored by src/gpt/score.ts, a
// drawn token's from the logits it was drawn from: generateBatch's `logprobs`), whole or streamed
// (ChoiceLogprobsStream: a chunk carries the tokens whose text it sends). With echo the prompt's
// tokens come first, the first one's logprob and top null (nothing comes before it). A token's text
// is what it adds to the text decoded so far, as vLLM's incremental detokenizer gives it: '' for a
// byte that leaves a character unfinished, the whole character on the token that ends it, so the
// tokens join to the text (up to a stop sequence's cut, and a character max_tokens cut short: the
// text ends in U+FFFD for it, the last token's text is ''). A top dict maps such a text (each
// candidate's, after the same tokens) to logprob for the N likeliest tokens and the chosen one where
// it is not among them (N + 1 entries at most, as OpenAI's and vLLM's). Two tokens of one text
// share a key: the likelier holds it, the other is left out (the dict then has fewer entries), so a
// chosen token whose text a likelier one holds is not in it under its own logprob. A logprob of
// -Infinity is sent as -9999 (vLLM's floor: JSON has no infinities). An offset counts code points,
// as vLLM's (Python's len) and a Python client's slicing do, not UTF-16 units: an emoji is one.
import { codePoints, TextStream, type Tokenizer } from '../gpt/tokenizer/index.js';
import type { DrawnLogprobs } from '../gpt/generate.js';
import type { SequenceScores } from '../gpt/score.js';

export interface ChoiceLogprobs {
  tokens: string[];
  token_logprobs: (number | null)[];
  top_logprobs: (Record<string, number> | null)[];
  text_offset: number[];
}

/** vLLM's stand-in for a logprob of -Infinity. */
const FLOOR = -9999;
const finite = (lp: number) => Math.max(lp, FLOOR);

/** Position `p` of `scores` (token p + 1's logprobs). */
export const scoredAt = (scores: SequenceScores, p: number, topN: number): DrawnLogprobs => ({
  logprob: scores.logprobs[p]!,
  topIds: scores.topIds.subarray(p * topN, (p + 1) * topN),
  topLogprobs: scores.topLogprobs.subarray(p * topN, (p + 1) * topN),
});

/**
 * A choice's logprobs as its tokens come (add), sent in chunks (chunk) along with its text: a chunk
 * carries the tokens whose text it sends, so that a streamed chunk's tokens join to its text. Text
 * the choice releases that only part of a token's text makes (a token ' ab' of which ' a' is
 * released, 'b' held back as a stop sequence could start there) waits for the rest of that token's.
 */
export class ChoiceLogprobsStream {
  private readonly stream: TextStream;
  private pending: ChoiceLogprobs = empty();
  /** Code points of the tokens' texts so far, the pending ones' included, and of the text sent. */
  private length = 0;
  private sent = 0;
  /** Text released but not sent yet. */
  private unsent = '';
  /** UTF-16 length of text to send ahead of the first pending token, with no token (precede). */
  private lead = 0;

  /** `endToken`: the end-of-text token, whose text a drawn one is '' (vLLM's skip_special_tokens), as the choice's text leaves it out; an echoed prompt's keeps it, as the echo does. */
  constructor(
    tokenizer: Pick<Tokenizer, 'decode'>,
    private readonly topN: number,
    private readonly endToken?: number,
  ) {
    this.stream = new TextStream(tokenizer);
  }

  /**
   * Tokens whose text the choice sends before its first token, with no token of their own: a
   * truncated prompt's cut front, which an echo gives (vLLM's), its tokens not scored. Read as the
   * text's: a character they leave unfinished (a cut between its bytes) is the first kept token's.
   */
  precede(ids: ArrayLike<number>): void {
    for (const id of Array.from(ids)) {
      const text = this.stream.push(id);
      this.length += codePoints(text);
      this.lead += text.length;
    }
  }

  /** What token `id` adds to the text so far (`echoed`: in an echoed prompt). */
  private textOf(id: number, echoed: boolean): string {
    return id === this.endToken && !echoed ? '' : this.stream.peek(id);
  }

  /** Takes the choice's next token, `scores` its logprobs (null: an echoed prompt's first token, which has none); `echoed`: a token of the echoed prompt. */
  add(id: number, scores: DrawnLogprobs | null, echoed = false): void {
    if (scores) {
      const entries: [string, number][] = [];
      for (let k = 0; k < this.topN; k++) entries.push([this.textOf(scores.topIds[k]!, echoed), finite(scores.topLogprobs[k]!)]);
      if (!scores.topIds.includes(id)) entries.push([this.textOf(id, echoed), finite(scores.logprob)]);
      const seen = new Set<string>();
      this.pending.top_logprobs.push(Object.fromEntries(entries.filter(([key]) => !seen.has(key) && seen.add(key)))); // fromEntries: a key "__proto__" stays a key
    } else this.pending.top_logprobs.push(null);
    this.pending.token_logprobs.push(scores && finite(scores.logprob));
    const piece = id === this.endToken && !echoed ? '' : this.stream.push(id);
    this.pending.tokens.push(piece);
    this.pending.text_offset.push(this.length);
    this.length += codePoints(piece);
  }

  /**
   * Takes `text`, the choice's text released since the last call; gives what to send: the text of
   * the pending tokens whose text is all released, with them; with `all` (the choice's end), all of
   * both, offsets past the text's end (a stop sequence's tokens cut, an end token's) at its end.
   */
  chunk(text: string, all: boolean): { text: string; logprobs: ChoiceLogprobs } {
    this.unsent += text;
    const { tokens } = this.pending;
    let [n, covered] = [0, this.lead]; // tokens, and the UTF-16 length of their texts (after the text preceding them)
    if (all) n = tokens.length;
    else while (n < tokens.length && covered + tokens[n]!.length <= this.unsent.length) covered += tokens[n++]!.length;
    const out = all ? this.unsent : this.unsent.slice(0, covered);
    this.unsent = this.unsent.slice(out.length);
    this.lead -= Math.min(this.lead, out.length);
    this.sent += codePoints(out);
    const logprobs = cut(this.pending, n);
    if (all) logprobs.text_offset = logprobs.text_offset.map((at) => Math.min(at, this.sent));
    return { text: out, logprobs };
  }
}

const empty = (): ChoiceLogprobs => ({ tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] });

/** The first `n` entries of `lp`, taken out of it. */
function cut(lp: ChoiceLogprobs, n: number): ChoiceLogprobs {
  return { tokens: lp.tokens.splice(0, n), token_logprobs: lp.token_logprobs.splice(0, n), top_logprobs: lp.top_logprobs.splice(0, n), text_offset: lp.text_offset.splice(0, n) };
}

/**
 * The logprobs of `ids` (the choice's tokens: with echo, its prompt's then the drawn ones) whose
 * scores are the last ids.length - (echo ? 1 : 0) of `scores` (each token's given those before
 * it), `topN` a position; `text`: the choice's text, past whose end no offset goes (a stop
 * sequence's tokens, an end-of-text token, are not in it).
 */
export function choiceLogprobs(tokenizer: Pick<Tokenizer, 'decode'>, ids: readonly number[], scores: SequenceScores, topN: number, echo: boolean, text: string): ChoiceLogprobs {
  const first = echo ? 1 : 0; // the first token of an echoed prompt has no score
  const at = scores.logprobs.length - (ids.length - first); // the first scored token's position in scores
  const choice = new ChoiceLogprobsStream(tokenizer, topN);
  ids.forEach((id, j) => choice.add(id, j < first ? null : scoredAt(scores, at + j - first, topN)));
  return choice.chunk(text, true).logprobs;
}
