// sampleLogits(logits [..., V], u [...]): a token id per row of logits, drawn with the row's
// uniform number u in [0, 1) after temperature, top-k, top-p (nucleus) and min-p filtering, on the GPU, so
// generation reads back one id per sequence instead of the logits. The draw walks the candidates
// sorted by logit (ties: lower id first): the first at which the running weight exceeds u times
// the kept weight (src/kernels/wgsl/sample.ts), a chunk of rows at a time where the logits are larger
// than a binding (a row must fit one). temperature 0 is argmax. A row with no distribution to draw
// from (a NaN or +Inf logit, or every logit -Inf: torch.multinomial refuses its probabilities)
// draws -1, at temperature 0 too: a caller reading the ids back tells it (generate refuses it).
// Not differentiable.
import { defineOp, NOT_DIFFERENTIABLE, withFront, type OpContext } from '../autograd/op.js';
import { rowChunksOf } from '../kernels/wgsl/row.js';
import { launchSample, type SampleParams } from '../kernels/wgsl/sample.js';
import { checkOptionKeys, describeValue } from '../tensor/check.js';
import { formatShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';

/**
 * How the next token is drawn: temperature (0 = greedy; default 1), top-k (ties at the k-th logit
 * kept, as nanoGPT and Hugging Face; 0 = off), top-p (nucleus; 0 keeps the likeliest token alone),
 * then min-p (Hugging Face's MinPLogitsWarper, after top-p as there; vLLM's min_p: drops the tokens
 * less likely than minP times the likeliest; 0 = off, 1 keeps the likeliest and its ties).
 */
export interface SamplingOptions {
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
}

/** The sampling option names, as the checks list them. */
export const SAMPLING_KEYS = ['temperature', 'topK', 'topP', 'minP'];

/**
 * Temperatures below this draw as this one: 8 / temperature must stay a finite float32 (the kernel's
 * scale). A logit more than 128 temperatures below the top one weighs 0 in float32, as in PyTorch's
 * softmax of logits / temperature (at 1e-6, one logit 1e-6 below the top one was drawn 27% of the time).
 */
export const MIN_TEMPERATURE = 1e-30;

const sampleOp = defineOp({
  name: 'sampleLogits',
  dtypes: { logits: ['float32'], u: ['float32'] },
  forward(_ctx: OpContext, logits: Tensor, u: Tensor, opts: Required<SamplingOptions>) {
    const V = logits.shape[logits.rank - 1]!;
    const tokens = Tensor.empty(u.shape, 'int32', 'sampleLogits');
    // greedy (u unused, but checked as any draw's) in the same kernel, which refuses a NaN as argmax would not
    if (u.size > 0) launchSample(logits.buffer(), u.buffer(), tokens.buffer(), u.size, V, kernelParams(opts));
    return tokens;
  },
  shape([logits, u]) {
    const lead = logits.shape.slice(0, -1);
    if (logits.rank < 1 || logits.shape.at(-1) === 0 || u.rank !== lead.length || u.shape.some((d, i) => d !== lead[i])) {
      throw new RangeError(`sampleLogits: logits must be [..., V] with V >= 1 and u the leading shape [...], got ${formatShape(logits.shape)} and ${formatShape(u.shape)}`);
    }
    rowChunksOf('sampleLogits', `logits ${logits.describe()}`, u.size, logits.shape.at(-1)!); // throws if a row is larger than a binding
    return { shape: u.shape, dtype: 'int32' };
  },
  backward: NOT_DIFFERENTIABLE,
});

/**
 * A token id (int32, the shape of `u`) per row of `logits` [..., V]: the one that u in [0, 1) picks
 * among the candidates kept by temperature, topK, topP and minP; argmax for temperature 0. -1 for a row
 * holding a NaN or +Inf logit, or only -Inf ones: it has no distribution to draw from.
 */
export const sampleLogits = withFront(sampleOp, (logits: Tensor, u: Tensor, opts: SamplingOptions = {}): Tensor => sampleOp(logits, u, samplingSettings('sampleLogits', opts)));

/** `opts` checked (errors naming `op`), with their defaults; topK off as MAX_SAFE_INTEGER. */
export function samplingSettings(op: string, opts: SamplingOptions): Required<SamplingOptions> {
  checkSamplingOptions(op, opts);
  checkOptionKeys(op, opts, SAMPLING_KEYS);
  const { temperature = 1, topK = 0, topP = 1, minP = 0 } = opts;
  return { temperature, topK: topK || Number.MAX_SAFE_INTEGER, topP, minP };
}

/** What the sampling kernel takes of the settings: 1 / temperature (0: greedy), clamped at MIN_TEMPERATURE. */
export const kernelParams = (s: Required<SamplingOptions>): SampleParams => ({ invTemperature: s.temperature === 0 ? 0 : 1 / Math.max(s.temperature, MIN_TEMPERATURE), topK: s.topK, topP: s.topP, minP: s.minP });

/** Throws an error naming `op` and the option when a sampling setting is out of range or not a number (or the options not an object). */
export function checkSamplingOptions(op: string, opts: SamplingOptions): void {
  if (typeof opts !== 'object' || opts === null) throw new TypeError(`${op}: options { temperature?, topK?, topP?, minP? } must be an object, got ${describeValue(opts)}`);
  const { temperature, topK, topP, minP } = opts;
  // typeof first: a string such as '0.5' would pass the comparisons by coercion
  if (temperature !== undefined && !(typeof temperature === 'number' && Number.isFinite(temperature) && temperature >= 0)) {
    throw new RangeError(`${op}: temperature must be a finite number >= 0 (0 = greedy), got ${describeValue(temperature)}`);
  }
  // Hugging Face's edge values: top_p 0 keeps one token (min_tokens_to_keep), top_k 0 is off
  if (topP !== undefined && !(typeof topP === 'number' && topP >= 0 && topP <= 1)) throw new RangeError(`${op}: topP must be a number in [0, 1], got ${describeValue(topP)}`);
  if (topK !== undefined && !(Number.isInteger(topK) && topK >= 0)) throw new RangeError(`${op}: topK must be an integer >= 0 (0 = off), got ${describeValue(topK)}`);
  if (minP !== undefined && !(typeof minP === 'number' && minP >= 0 && minP <= 1)) throw new RangeError(`${op}: minP must be a number in [0, 1] (0 = off), got ${describeValue(minP)}`);
}
