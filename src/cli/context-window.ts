// `gpt serve --api`'s context, kept as vLLM keeps its max_model_len (here the model's block): a
// prompt's tokens and the tokens asked of its completion must fit it, or the request is refused
// (400), never cropped as `gpt sample` slides its window past the block. truncate_prompt_tokens
// keeps a prompt's last N tokens first (-1: as many as max_tokens leaves room for); max_tokens null
// takes the rest of the context, each prompt its own. vLLM's checks in its order (its renderer's
// TokenizeParams, then its serving's), with its messages, its params and its code (the HTTP status).
import { ApiError } from './completion-request.js';

/** vLLM's refusal: its message, the param it names, code 400 (vLLM's ErrorInfo.code is the status). */
const refuse = (param: string, message: string) => new ApiError(400, message, param, 400);

/**
 * The prompts `ids` cut to their last `truncate` tokens where asked, and how many tokens each may
 * draw (`maxTokens`, or with null the rest of `maxModelLen`); an ApiError where they do not fit it.
 */
export function fitContext(ids: readonly Int32Array[], maxTokens: number | null, truncate: number | null, maxModelLen: number): { ids: Int32Array[]; maxTokens: number[] } {
  const asked = maxTokens ?? 0; // null: no output count to check before the prompts
  if (asked > maxModelLen) throw refuse('max_tokens', `max_tokens=${asked} cannot be greater than max_model_len=${maxModelLen}. Please request fewer output tokens.`);
  const maxInput = maxModelLen - asked;
  if (truncate !== null && truncate > maxInput) {
    throw refuse('truncate_prompt_tokens', `truncate_prompt_tokens=${truncate} cannot be greater than max_model_len - max_tokens = ${maxInput}. Please request a smaller truncation size.`);
  }
  const keep = truncate === -1 ? maxInput : truncate;
  const kept = ids.map((p) => (keep !== null && keep < p.length ? p.subarray(p.length - keep) : p));
  for (const p of kept) {
    if (p.length > maxInput) {
      throw refuse('input_tokens', `You passed ${p.length} input tokens and requested ${asked} output tokens. However, the model's context length is only ${maxModelLen} tokens, resulting in a maximum input length of ${maxInput} tokens. Please reduce the length of the input prompt.`);
    }
    // a completion draws a token at least: with max_tokens null, a prompt that fills the context leaves none
    if (maxTokens === null && p.length >= maxModelLen) {
      throw refuse('input_tokens', `This model's maximum context length is ${maxModelLen} tokens. However, your request has ${p.length} input tokens. Please reduce the length of the input messages.`);
    }
  }
  return { ids: kept, maxTokens: kept.map((p) => maxTokens ?? maxModelLen - p.length) };
}
