// The rule of speculative sampling (Leviathan et al. 2023; Chen et al. 2023), in float64: the
// reference of speculativeSample (src/ops/speculative.ts) and the tests' oracle. A draft token
// x ~ q is kept with probability min(1, p(x) / q(x)); at the first rejection the token is drawn
// from norm(max(0, p - q)); with every draft kept, a bonus token from the target's next row. Each
// emitted token is then distributed as the target's own draw. p and q are the distributions
// sampleLogits draws from: temperature, top-k (ties at the k-th kept), top-p (the shortest prefix
// of the order by logit, ties lower id first, holding at least topP of the weight); temperature 0
// is the one-hot of the first id of the largest logit. Their candidates and weights are those of
// sampleLogits' float64 reference (sample.ts), one statement of them.
import { MIN_TEMPERATURE, type SamplingOptions } from '../../ops/index.js';
import { ref, type Ref } from './array.js';
import { sampleCandidates, type Candidates } from './sample.js';

/**
 * The probabilities sampleLogits draws a row of logits with (float64; index = token id); null
 * for a row with no distribution (a NaN or +Inf logit, or only -Inf ones), where it draws -1.
 */
export function samplingProbabilities(logits: ArrayLike<number>, opts: SamplingOptions): Float64Array | null {
  const c = sampleCandidates(logits, opts);
  return c && probabilitiesOf(c, logits.length);
}

/** The probabilities (index = token id, V of them) that candidates make. */
function probabilitiesOf(c: Candidates, V: number): Float64Array {
  const probs = new Float64Array(V);
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
  const { accepted, from } = roundDecisions(p, q, drafted, accept);
  return { accepted, next: drawFrom(from, u) };
}

/** The drafts a round keeps, and the weights (not normalized) its last token is drawn from. */
export function roundDecisions(p: readonly ArrayLike<number>[], q: readonly ArrayLike<number>[], drafted: readonly number[], accept: readonly number[]): { accepted: number; from: ArrayLike<number> } {
  const k = drafted.length;
  for (let i = 0; i < k; i++) {
    const x = drafted[i]!;
    // u < p / q, without the division: kept with probability min(1, p(x) / q(x))
    if (accept[i]! * q[i]![x]! < p[i]![x]!) continue;
    const residual = Float64Array.from(p[i]!, (pi, j) => Math.max(0, pi - q[i]![j]!));
    // p <= q everywhere (up to rounding) cannot reject: should rounding leave no residual, p itself
    return { accepted: i, from: residual.some((r) => r > 0) ? residual : p[i]! };
  }
  return { accepted: k, from: p[k]! };
}

/**
 * A row of a round as the rule reads it: sampleLogits' candidates and the probabilities they make,
 * and whether a logit weighs within ROUND_MARGIN of minP (float32 may keep it where float64 does
 * not, or the reverse); null where the row has no distribution.
 */
export type RoundRow = { candidates: Candidates; probs: Float64Array; nearMinP: boolean } | null;

/** The rows of speculativeSample's logits [2k + 1, V] (the target's k + 1, then the draft's k), each sorted once. */
export function roundRows(logits: Ref, opts: SamplingOptions): RoundRow[] {
  const [R, V] = logits.shape as [number, number];
  const { temperature = 1, minP = 0 } = opts;
  return Array.from({ length: R }, (_, r) => {
    const row = logits.data.subarray(r * V, (r + 1) * V);
    const candidates = sampleCandidates(row, opts);
    if (!candidates) return null;
    const top = row.reduce((a, b) => Math.max(a, b), -Infinity);
    const t = Math.max(temperature, MIN_TEMPERATURE);
    const nearMinP = minP > 0 && temperature > 0 && row.some((x) => Math.abs(Math.exp((x - top) / t) - minP) <= ROUND_MARGIN * minP);
    return { candidates, probs: probabilitiesOf(candidates, V), nearMinP };
  });
}

/**
 * speculativeSample(logits [2k + 1, V], ids [k], u [k + 1]) in float64: [accepted, token], or
 * [row, -1] for the first row with no distribution (the target's k + 1 rows, then the draft's k).
 */
export function speculativeSampleRef(logits: Ref, ids: Ref, u: Ref, opts: SamplingOptions, rows = roundRows(logits, opts)): Ref {
  const bad = rows.indexOf(null);
  if (bad >= 0) return ref([2], [bad, -1]);
  const { accepted, from } = decisionsOf(rows, ids, u)!;
  return ref([2], [accepted, drawFrom(from, u.data[ids.data.length]!)]);
}

/** What a round decides with the accept numbers u[0..k-1] (roundDecisions) on its rows; null where a row has no distribution. */
export function decisionsOf(rows: RoundRow[], ids: Ref, u: Ref): ReturnType<typeof roundDecisions> | null {
  const k = ids.data.length;
  if (rows.includes(null)) return null;
  const probs = rows.map((r) => r!.probs);
  return roundDecisions(probs.slice(0, k + 1), probs.slice(k + 1), Array.from(ids.data), Array.from(u.data.subarray(0, k)));
}

/** The middle of id j's share of `weights` (in id order), as a fraction of their whole; the largest share's where j's is under 1e-3 of it (a sliver float32 sums may miss). */
export function shareMiddle(weights: ArrayLike<number>, j: number): number {
  const w = Array.from(weights);
  const total = w.reduce((a, b) => a + b, 0);
  if (!(w[j]! >= 1e-3 * total)) j = w.reduce((best, x, i) => (x > w[best]! ? i : best), 0);
  return (w.slice(0, j).reduce((a, b) => a + b, 0) + w[j]! / 2) / total;
}

/**
 * Relative distance (to the row's weight) within which float32 rounding may put a cut of a row's
 * running weight on the other side of a number compared with it: speculativeSample sums up to
 * 50,257 float32 terms, and each p - q of the residual loses up to a few ulp of p and q.
 */
const ROUND_MARGIN = 1e-5;

/**
 * Which decision of a round (see speculativeSampleRef) sits within float32 rounding of its
 * boundary, where the GPU may decide it the other way: a top-p cut within ROUND_MARGIN of topP, a
 * weight within ROUND_MARGIN of minP (relative); a
 * draft decided with u * q(x) within ROUND_MARGIN * max(p(x), q(x)) of p(x) (or both below 1e-30:
 * float32 flushes them); a residual weighing less than ROUND_MARGIN (the GPU may find none, or some
 * where float64 found none); u's point of the drawn weights within ROUND_MARGIN of a running sum
 * (plus ROUND_MARGIN of the whole p + q for a residual). Null when none does.
 */
export function nearBoundary(rows: RoundRow[], ids: Ref, u: Ref, topP = 1): string | null {
  const k = ids.data.length;
  const decided = decisionsOf(rows, ids, u);
  if (!decided) return null; // no distribution: told by the logits' classes, exactly
  for (const [r, row] of rows.entries()) {
    if (topP < 1 && row!.candidates.beforeTopP.some((f) => Math.abs(f - topP) <= ROUND_MARGIN)) return `row ${r}: a top-p cut`;
    if (row!.nearMinP) return `row ${r}: a weight at minP`;
  }
  const { accepted, from } = decided;
  for (let i = 0; i <= Math.min(accepted, k - 1); i++) {
    const x = ids.data[i]!;
    const [px, qx] = [rows[i]!.probs[x] ?? 0, rows[k + 1 + i]!.probs[x] ?? 0];
    const most = Math.max(px, qx);
    if (most > 0 && (most < 1e-30 || Math.abs(u.data[i]! * qx - px) <= ROUND_MARGIN * most)) return `draft ${i}: u * q(x) = ${u.data[i]! * qx} against p(x) = ${px}`;
  }
  const residual = from !== rows[accepted]!.probs; // p - q, not p itself
  let total = 0;
  for (let j = 0; j < from.length; j++) total += from[j]!;
  if (residual && total < ROUND_MARGIN) return `a residual of ${total}`;
  const point = u.data[k]! * total;
  const slack = ROUND_MARGIN * total + (residual ? ROUND_MARGIN : 0);
  let running = 0;
  for (let j = 0; j < from.length; j++) {
    if (!(from[j]! > 0)) continue;
    running += from[j]!;
    if (Math.abs(running - point) <= slack) return `the draw: u's point ${point} of ${total} near the running sum at id ${j}`;
  }
  return null;
}
