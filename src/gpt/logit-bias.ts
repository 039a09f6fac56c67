// Logit bias (OpenAI's logit_bias): token id -> a bias in [-100, 100] added to the model's logits
// before the penalties and the draw, as vLLM's LogitBiasLogitsProcessor comes before its penalties
// (vllm/v1/sample/sampler.py); drawn-token logprobs stay the raw logits' (vLLM's default
// raw_logprobs). Added on the GPU as one [1, V] row broadcast over the batch's rows (`add`), built
// once a generation: no logits are read back. -Inf (a mask) stays -Inf; -100 all but bans a token.
import { tensor, type Tensor } from '../ops/index.js';
import { describeValue } from '../tensor/check.js';

/** Token id -> bias in [-100, 100] (OpenAI's range), at most MAX_LOGIT_BIASES entries. */
export type LogitBias = Readonly<Record<number, number>>;

/** OpenAI's limit on logit_bias entries. */
export const MAX_LOGIT_BIASES = 300;

/** Whether `bias` biases any token. */
export const hasLogitBias = (bias: LogitBias | undefined): bias is LogitBias => bias !== undefined && Object.keys(bias).length > 0;

/**
 * What is wrong with `bias` as a logit bias of a vocabulary of `vocabSize`, in a line whose subject
 * is `name` (the option, flag or field that gave it) and values are shown by `describe`; null when
 * nothing. One statement of the rules for the library, `gpt sample --logit-bias` and serve's logit_bias.
 */
export function logitBiasProblem(bias: unknown, vocabSize: number, name: string, describe: (v: unknown) => string = describeValue): string | null {
  if (typeof bias !== 'object' || bias === null || Array.isArray(bias)) return `${name} must be an object { tokenId: bias }, got ${describe(bias)}`;
  const entries = Object.entries(bias);
  if (entries.length > MAX_LOGIT_BIASES) return `${name} holds ${entries.length} entries, more than the ${MAX_LOGIT_BIASES} allowed (OpenAI's limit)`;
  for (const [key, b] of entries) {
    // object keys are strings: a token id is the decimal spelling of an integer (not '01', '1.0', ' 1')
    if (!(/^(0|[1-9]\d*)$/.test(key) && Number(key) < vocabSize)) return `${name} key '${key.length > 20 ? `${key.slice(0, 17)}...` : key}' is not a token id in [0, ${vocabSize})`;
    if (!(typeof b === 'number' && b >= -100 && b <= 100)) return `${name}[${key}] must be a number in [-100, 100], got ${describe(b)}`;
  }
  return null;
}

/** The biases as a [1, V] float32 row, 0 for every token not named. */
export function logitBiasRow(bias: LogitBias, V: number): Tensor {
  const row = new Float32Array(V);
  for (const [id, b] of Object.entries(bias)) row[Number(id)] = b;
  return tensor(row, [1, V]);
}
