// The rule of speculative sampling (Leviathan et al. 2023; Chen et al. 2023), in float64 on the
// host: a draft token x ~ q is kept with probability min(1, p(x) / q(x)); at the first rejection
// the token is drawn from norm(max(0, p - q)); with every draft kept, a bonus token from the
// target's next row. Each emitted token is then distributed as the target's own draw. p and q are
// the distributions sampleLogits draws from (src/kernels/wgsl/sample.ts): temperature, top-k (ties
// at the k-th kept), top-p (the shortest prefix of the order by logit, ties lower id first, holding
// at least topP of the weight); temperature 0 is the one-hot of the first id of the largest logit.
import { MIN_TEMPERATURE, type SamplingOptions } from '../ops/index.js';

/**
 * The probabilities sampleLogits draws a row of logits with (float64; index = token id); null
 * for a row with no distribution (a NaN or +Inf logit, or only -Inf ones), where it draws -1.
 */
export function samplingProbabilities(logits: ArrayLike<number>, opts: SamplingOptions): Float64Array | null {
  const V = logits.length;
  const x = Float64Array.from(logits, (l) => (l === 0 ? 0 : l)); // -0 ties +0, as the kernel's keys (NaN kept: || 0 would clear it)
  let top = -Infinity;
  for (const l of x) {
    if (Number.isNaN(l) || l === Infinity) return null;
    top = Math.max(top, l);
  }
  if (top === -Infinity) return null;
  const probs = new Float64Array(V);
  const { temperature = 1, topK = 0, topP = 1 } = opts;
  if (temperature === 0) {
    probs[x.indexOf(top)] = 1;
    return probs;
  }
  const order = Array.from(x.keys()).sort((a, b) => x[b]! - x[a]! || a - b);
  const kth = x[order[Math.min(topK || V, V) - 1]!]!;
  let kept = order.filter((i) => x[i]! >= kth);
  const t = Math.max(temperature, MIN_TEMPERATURE);
  const weight = (i: number) => (x[i] === -Infinity ? 0 : Math.exp((x[i]! - top) / t));
  if (topP < 1) {
    const need = topP * kept.reduce((s, i) => s + weight(i), 0);
    let running = 0;
    const last = kept.findIndex((i) => (running += weight(i)) >= need); // the candidate that reaches topP of the weight
    if (last >= 0) kept = kept.slice(0, last + 1);
  }
  let total = 0;
  for (const i of kept) total += probs[i] = weight(i);
  for (const i of kept) probs[i]! /= total;
  return probs;
}

/** The id a uniform u in [0, 1) draws from probabilities (the inverse CDF in id order; rounding past the total: the last id with any). */
export function drawFrom(probs: ArrayLike<number>, u: number): number {
  let total = 0;
  for (let i = 0; i < probs.length; i++) total += probs[i]!;
  const r = u * total;
  let running = 0;
  let last = -1;
  for (let i = 0; i < probs.length; i++) {
    if (!(probs[i]! > 0)) continue;
    last = i;
    if ((running += probs[i]!) > r) return i;
  }
  return last;
}

/** What a round of speculative sampling emits: the draft tokens kept (a prefix), then `next`. */
export interface RoundOutcome {
  accepted: number;
  next: number;
}

/**
 * One round over k drafted ids: p holds the target's k + 1 rows (row i: the distribution after the
 * first i drafts), q the draft's k rows (drafted[i] was drawn from q[i]); `accept[i]` is the uniform
 * number in [0, 1) that decides drafted[i], `u` the one that draws the residual or bonus token.
 */
export function speculativeRound(p: readonly ArrayLike<number>[], q: readonly ArrayLike<number>[], drafted: readonly number[], accept: readonly number[], u: number): RoundOutcome {
  const k = drafted.length;
  for (let i = 0; i < k; i++) {
    const x = drafted[i]!;
    // u < p / q, without the division: kept with probability min(1, p(x) / q(x))
    if (accept[i]! * q[i]![x]! < p[i]![x]!) continue;
    const residual = Float64Array.from(p[i]!, (pi, j) => Math.max(0, pi - q[i]![j]!));
    // p <= q everywhere (up to rounding) cannot reject: should rounding leave no residual, p itself
    return { accepted: i, next: drawFrom(residual.some((r) => r > 0) ? residual : p[i]!, u) };
  }
  return { accepted: k, next: drawFrom(p[k]!, u) };
}
