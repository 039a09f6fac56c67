// Float64 reference of sampleLogits: the host walk over the candidates sorted by logit (ties: the
// lower id first), with top-k, top-p, min-p and the draw as plain loops over that order. A -Inf logit weighs
// nothing; a row holding a NaN or +Inf, or only -Inf, has no distribution (its softmax is NaN,
// which torch.multinomial refuses): it draws -1, greedy or not.
import { MIN_TEMPERATURE, type SamplingOptions } from '../../ops/index.js';
import { ref, type Ref } from './array.js';

/** The token a walk picks, and where its cuts lie: the running weight over the candidates as a fraction of the whole, before top-p and at the draw. */
export interface Walk {
  token: number;
  beforeTopP: number[];
  atDraw: number[];
}

const fractions = (weights: number[]): number[] => {
  let sum = 0;
  const running = weights.map((w) => (sum += w));
  return running.map((c) => c / sum);
};

/** Sorts larger logits first, -0 tying with +0 (no NaN: such rows draw no token). */
const descending = (x: number, y: number) => (x === y ? 0 : y > x ? 1 : -1);

/** The candidates a row of logits draws among, in the walk's order, their weights, and the running fractions before top-p; null: no distribution. Temperature 0: the first largest alone. */
export interface Candidates {
  order: number[];
  weights: number[];
  beforeTopP: number[];
}

/** The candidates of one row of logits (see Candidates); topK 0 or absent keeps them all, as sampleLogits. */
export function sampleCandidates(logits: ArrayLike<number>, opts: SamplingOptions): Candidates | null {
  const { temperature = 1, topK = 0, topP = 1, minP = 0 } = opts;
  const row = Array.from(logits);
  if (row.some((x) => Number.isNaN(x) || x === Infinity) || row.every((x) => x === -Infinity)) return null;
  let order = [...Array(logits.length).keys()].sort((a, b) => descending(logits[a]!, logits[b]!) || a - b);
  if (temperature === 0) return { order: order.slice(0, 1), weights: [1], beforeTopP: [] };
  const kth = logits[order[Math.min(topK || order.length, order.length) - 1]!]!;
  order = order.filter((i) => descending(logits[i]!, kth) <= 0); // the k-th largest and its ties, as nanoGPT and Hugging Face keep them
  const t = Math.max(temperature, MIN_TEMPERATURE);
  const top = logits[order[0]!]!;
  const weight = (x: number) => (x === top ? 1 : x === -Infinity ? 0 : Math.exp((x - top) / t));
  let weights = order.map((i) => weight(logits[i]!));
  const beforeTopP = topP < 1 ? fractions(weights) : [];
  if (topP < 1) {
    // the shortest prefix weighing at least topP of the whole
    const keep = beforeTopP.findIndex((c) => c >= topP) + 1 || order.length;
    order = order.slice(0, keep);
    weights = weights.slice(0, keep);
  }
  // min-p after top-p, as Hugging Face: at least minP times the top probability (the top weighs 1)
  if (minP > 0) {
    const keep = weights.findIndex((w) => w < minP);
    if (keep >= 0) [order, weights] = [order.slice(0, keep), weights.slice(0, keep)];
  }
  return { order, weights, beforeTopP };
}

/** The walk over one row of logits with the uniform number u. */
export function sampleWalk(logits: ArrayLike<number>, u: number, opts: SamplingOptions): Walk {
  const c = sampleCandidates(logits, opts);
  if (!c) return { token: -1, beforeTopP: [], atDraw: [] };
  if (opts.temperature === 0) return { token: c.order[0]!, beforeTopP: [], atDraw: [] };
  const atDraw = fractions(c.weights);
  const at = atDraw.findIndex((x) => x > u);
  return { token: c.order[at >= 0 ? at : c.order.length - 1]!, beforeTopP: c.beforeTopP, atDraw };
}

/** sampleLogits(logits [..., V], u [...]) in float64: the token ids, shaped like u. */
export function sampleRef(logits: Ref, u: Ref, opts: SamplingOptions): Ref {
  const V = logits.shape.at(-1)!;
  const ids = Array.from(u.data, (ui, row) => sampleWalk(logits.data.subarray(row * V, (row + 1) * V), ui, opts).token);
  return ref([...u.shape], ids);
}
