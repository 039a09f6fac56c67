// A choice's `logprobs` in OpenAI's legacy completions shape, `{ tokens, token_logprobs,
// top_logprobs, text_offset }`, from its tokens' scores (src/gpt/score.ts). With echo the prompt's
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

/**
 * The logprobs of `ids` (the choice's tokens: with echo, its prompt's then the drawn ones) whose
 * scores are the last ids.length - (echo ? 1 : 0) of `scores` (each token's given those before
 * it), `topN` a position; `text`: the choice's text, past whose end no offset goes (a stop
 * sequence's tokens, an end-of-text token, are not in it).
 */
export function choiceLogprobs(tokenizer: Pick<Tokenizer, 'decode'>, ids: readonly number[], scores: SequenceScores, topN: number, echo: boolean, text: string): ChoiceLogprobs {
  const first = echo ? 1 : 0; // the first token of an echoed prompt has no score
  const at = scores.logprobs.length - (ids.length - first); // the first scored token's position in scores
  const out: ChoiceLogprobs = { tokens: [], token_logprobs: echo ? [null] : [], top_logprobs: echo ? [null] : [], text_offset: [] };
  const stream = new TextStream(tokenizer);
  const textLength = codePoints(text);
  let length = 0;
  ids.forEach((id, j) => {
    if (j >= first) {
      const p = at + j - first;
      const entries: [string, number][] = [];
      for (let k = 0; k < topN; k++) entries.push([stream.peek(scores.topIds[p * topN + k]!), finite(scores.topLogprobs[p * topN + k]!)]);
      const chosen = finite(scores.logprobs[p]!);
      if (!scores.topIds.subarray(p * topN, (p + 1) * topN).includes(id)) entries.push([stream.peek(id), chosen]);
      const seen = new Set<string>();
      out.token_logprobs.push(chosen);
      out.top_logprobs.push(Object.fromEntries(entries.filter(([key]) => !seen.has(key) && seen.add(key)))); // fromEntries: a key "__proto__" stays a key
    }
    const piece = stream.push(id);
    out.tokens.push(piece);
    out.text_offset.push(Math.min(length, textLength));
    length += codePoints(piece);
  });
  return out;
}
