// A choice's `logprobs` in OpenAI's legacy completions shape, `{ tokens, token_logprobs,
// top_logprobs, text_offset }`, from its tokens' scores (src/gpt/score.ts). With echo the prompt's
// tokens come first, the first one's logprob and top null (nothing comes before it). A top dict
// maps token text to logprob for the N likeliest tokens and the chosen one where it is not among
// them (N + 1 entries at most, as OpenAI's and vLLM's). Two tokens of one text (the bytes of a
// character cut in two decode to U+FFFD each) share a key: the likelier holds it, the other is left
// out (the dict then has fewer entries), so a chosen token whose text a likelier one holds is not
// in it under its own logprob. A logprob of -Infinity is sent as -9999 (vLLM's floor: JSON has no
// infinities). An offset counts code points, as vLLM's (Python's len) and a Python client's slicing
// do, not UTF-16 units: an emoji is one.
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
  const tokens = ids.map((id) => tokenizer.decode([id]));
  const scored = ids.length - (echo ? 1 : 0); // the first token of an echoed prompt has no score
  const at = scores.logprobs.length - scored; // the first reported token's position in scores
  const token_logprobs: (number | null)[] = echo ? [null] : [];
  const top_logprobs: (Record<string, number> | null)[] = echo ? [null] : [];
  for (let i = 0; i < scored; i++) {
    const p = at + i;
    const chosen = scores.logprobs[p]!;
    token_logprobs.push(finite(chosen));
    const entries: [string, number][] = [];
    for (let k = 0; k < topN; k++) entries.push([tokenizer.decode([scores.topIds[p * topN + k]!]), finite(scores.topLogprobs[p * topN + k]!)]);
    const chosenId = ids[ids.length - scored + i]!;
    if (!Array.from(scores.topIds.subarray(p * topN, (p + 1) * topN)).includes(chosenId)) entries.push([tokens[ids.length - scored + i]!, finite(chosen)]);
    const seen = new Set<string>();
    top_logprobs.push(Object.fromEntries(entries.filter(([text]) => !seen.has(text) && seen.add(text)))); // fromEntries: a key "__proto__" stays a key
  }
  return { tokens, token_logprobs, top_logprobs, text_offset: offsets(tokenizer, ids, codePoints(text)) };
}

/** Each token's offset in the text the ids decode to, in code points of whole characters, at most `textLength`. */
function offsets(tokenizer: Pick<Tokenizer, 'decode'>, ids: readonly number[], textLength: number): number[] {
  const stream = new TextStream(tokenizer);
  let length = 0;
  return ids.map((id) => {
    const offset = Math.min(length, textLength);
    length += codePoints(stream.push(id));
    return offset;
  });
}
