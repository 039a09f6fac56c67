// penalizeLogits(logits [..., V], counts, prompt): the repetition, presence and frequency penalties
// of generation, applied to raw logits (before temperature, top-k and top-p, as vLLM and Hugging
// Face apply them), from a row's token counts on the GPU; countTokens(counts, ids) adds a step's
// drawn ids to those counts in place. So generation keeps the counts on the GPU and reads back
// one id a row, no logits. Math in src/kernels/wgsl/penalty.ts. Not differentiable.
import { defineOp, NOT_DIFFERENTIABLE, withFront, type OpContext } from '../autograd/op.js';
import { rowChunksOf } from '../kernels/wgsl/row.js';
import { launchCountTokens, launchPenalize, type PenaltyParams } from '../kernels/wgsl/penalty.js';
import { assertShape, checkOptionKeys, describeValue } from '../tensor/check.js';
import { formatShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { defineUpdate } from './update.js';

/**
 * Penalties on tokens a sequence already holds, each off by default:
 * - repetitionPenalty (Hugging Face's RepetitionPenaltyLogitsProcessor, from CTRL; vLLM's
 *   repetition_penalty): a finite number > 0 (1 = off); the logit of every id in the context (the
 *   prompt and the tokens generated so far) is divided by it where > 0, multiplied by it where not.
 * - presencePenalty, frequencyPenalty (OpenAI's, in [-2, 2]; 0 = off): the logit of an id drawn
 *   count times so far loses presencePenalty * (count > 0) + frequencyPenalty * count. As vLLM,
 *   count covers the generated tokens only, not the prompt.
 * The repetition penalty comes first, then frequency, then presence (vLLM's order).
 */
export interface PenaltyOptions {
  repetitionPenalty?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
}

const penalizeOp = defineOp({
  name: 'penalizeLogits',
  dtypes: { logits: ['float32'], counts: ['float32'], prompt: ['float32'] },
  forward(_ctx: OpContext, logits: Tensor, counts: Tensor, prompt: Tensor, opts: PenaltyParams) {
    const V = logits.shape.at(-1)!;
    const out = Tensor.empty(logits.shape, 'float32', 'penalizeLogits');
    if (logits.size > 0) launchPenalize(logits.buffer(), counts.buffer(), prompt.buffer(), out.buffer(), logits.size / V, V, opts);
    return out;
  },
  shape([logits, counts, prompt]) {
    if (logits.rank < 1 || logits.shape.at(-1) === 0) throw new RangeError(`penalizeLogits: logits must be [..., V] with V >= 1, got ${formatShape(logits.shape)}`);
    assertShape('penalizeLogits', counts, logits.shape, 'counts');
    assertShape('penalizeLogits', prompt, logits.shape, 'prompt');
    rowChunksOf('penalizeLogits', `logits ${logits.describe()}`, logits.size / logits.shape.at(-1)!, logits.shape.at(-1)!); // throws if a row is larger than a binding
    return { shape: logits.shape, dtype: 'float32' };
  },
  backward: NOT_DIFFERENTIABLE,
});

/**
 * `logits` [..., V] penalized (see PenaltyOptions): counts[..., v] is how often id v was generated
 * so far, prompt[..., v] not 0 where v is in the prompt (both float32, logits' shape). A logit that
 * is not finite stays as it is.
 */
export const penalizeLogits = withFront(penalizeOp, (logits: Tensor, counts: Tensor, prompt: Tensor, opts: PenaltyOptions = {}): Tensor => {
  checkPenaltyOptions('penalizeLogits', opts);
  checkOptionKeys('penalizeLogits', opts, ['repetitionPenalty', 'presencePenalty', 'frequencyPenalty']);
  const { repetitionPenalty = 1, presencePenalty = 0, frequencyPenalty = 0 } = opts;
  return penalizeOp(logits, counts, prompt, { repetition: repetitionPenalty, presence: presencePenalty, frequency: frequencyPenalty });
});

/** counts[..., ids[...]] += 1 in place: counts [..., V] float32, ids int32 of its leading shape; an id outside [0, V) (sampleLogits' -1) adds nothing. */
export const countTokens = defineUpdate({
  name: 'countTokens',
  dtypes: { counts: ['float32'], ids: ['int32'] },
  run(counts: Tensor, ids: Tensor) {
    if (ids.size > 0) launchCountTokens(counts.buffer(), ids.buffer(), ids.size, counts.shape.at(-1)!);
    return [counts];
  },
  check([counts, ids]) {
    if (counts.rank < 1 || counts.shape.at(-1) === 0) throw new RangeError(`countTokens: counts must be [..., V] with V >= 1, got ${counts.describe()}`);
    assertShape('countTokens', ids, counts.shape.slice(0, -1), 'ids');
    rowChunksOf('countTokens', `counts ${counts.describe()}`, ids.size, counts.shape.at(-1)!);
  },
  backward: NOT_DIFFERENTIABLE,
});

/** Whether any penalty of `opts` is on. */
export const hasPenalties = (opts: PenaltyOptions): boolean =>
  (opts.repetitionPenalty ?? 1) !== 1 || (opts.presencePenalty ?? 0) !== 0 || (opts.frequencyPenalty ?? 0) !== 0;

/** Throws an error naming `op` and the option when a penalty is out of range or not a number. */
export function checkPenaltyOptions(op: string, opts: PenaltyOptions): void {
  if (typeof opts !== 'object' || opts === null) throw new TypeError(`${op}: options { repetitionPenalty?, presencePenalty?, frequencyPenalty? } must be an object, got ${describeValue(opts)}`);
  const { repetitionPenalty: rep, presencePenalty, frequencyPenalty } = opts;
  // typeof first: a string such as '1.2' would pass the comparisons by coercion
  if (rep !== undefined && !(typeof rep === 'number' && Number.isFinite(rep) && rep > 0)) throw new RangeError(`${op}: repetitionPenalty must be a finite number > 0 (1 = off), got ${describeValue(rep)}`);
  for (const [name, v] of [['presencePenalty', presencePenalty], ['frequencyPenalty', frequencyPenalty]] as const) {
    if (v !== undefined && !(typeof v === 'number' && v >= -2 && v <= 2)) throw new RangeError(`${op}: ${name} must be a number in [-2, 2] (0 = off), got ${describeValue(v)}`);
  }
}
