// The rule of speculative sampling (Leviathan et al. 2023; Chen et al. 2023), in float64 on the
// host: a draft token x ~ q is kept with probability min(1, p(x) / q(x)); at the first rejection
// the token is drawn from norm(max(0, p - q)); with every draft kept, a bonus token from the
// target's next row. Each emitted token is then distributed as the target's own draw. p and q are
// the distributions sampleLogits draws from: temperature, top-k (ties at the k-th kept), top-p (the
// shortest prefix of the order by logit, ties lower id first, holding at least topP of the weight);
// temperature 0 is the one-hot of the first id of the largest logit. Their candidates and weights
// are those of sampleLogits' float64 reference (src/check/reference/sample.ts), one statement of them.
import { sampleCandidates } from '../check/reference/sample.js';
import type { SamplingOptions } from '../ops/index.js';

/**
 * The probabilities sampleLogits draws a row of logits with (float64; index = token id); null
 * for a row with no distribution (a NaN or +Inf logit, or only -Inf ones), where it draws -1.
 */
export function samplingProbabilities(logits: ArrayLike<number>, opts: SamplingOptions): Float64Array | null {
  const c = sampleCandidates(logits, opts);
  if (!c) return null;
  const probs = new Float64Array(logits.length);
  const total = c.weights.reduce((s, w) => s + w, 0);
  c.order.forEach((id, k) => (probs[id] = c.weights[k]! / total));
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
