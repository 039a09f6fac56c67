// Float64 references for the in-place updates: one AdamW step, the global gradient norm with its
// clipping factor, a GradScaler's update, and the non-finite watch.
import type { AdamWHyper } from '../../ops/index.js';

/**
 * One AdamW step (decoupled weight decay, bias-corrected moments) of parameter p with gradient
 * g * gradScale and moments m, v (weightDecay applies where p is decayed; step 1 is the first): the new p, m and v.
 */
export function adamwStepRef(p: ArrayLike<number>, g: ArrayLike<number>, m: ArrayLike<number>, v: ArrayLike<number>, gradScale: number, h: AdamWHyper) {
  const out = { p: Float64Array.from(p), m: Float64Array.from(m), v: Float64Array.from(v) };
  for (let i = 0; i < p.length; i++) {
    const grad = g[i]! * gradScale;
    out.m[i] = h.beta1 * m[i]! + (1 - h.beta1) * grad;
    out.v[i] = h.beta2 * v[i]! + (1 - h.beta2) * grad ** 2;
    const mh = out.m[i]! / (1 - h.beta1 ** h.step);
    const vh = out.v[i]! / (1 - h.beta2 ** h.step);
    out.p[i] = p[i]! - h.lr * (mh / (Math.sqrt(vh) + h.eps) + h.weightDecay * p[i]!);
  }
  return out;
}

/** The global L2 norm of the gradients and the clipping factor min(1, maxNorm / (norm + 1e-6)). */
export function gradNormRef(grads: ArrayLike<number>[], maxNorm: number): { norm: number; scale: number } {
  let sumsq = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) sumsq += g[i]! ** 2;
  const norm = Math.sqrt(sumsq);
  return { norm, scale: Math.min(1, maxNorm / (norm + 1e-6)) };
}

/**
 * One update of a GradScaler's scale and control [multiplier, skip, skipped, clean] from the scaled
 * gradients' norm; with `watch`, its status after the update (marked by a skip at bounds.min).
 */
export function gradScalerUpdateRef(
  norm: number,
  scale: number,
  control: readonly number[],
  s: { maxNorm: number | null; growthFactor: number; backoffFactor: number; growthInterval: number },
  bounds: { min: number; max: number },
  watch?: { status: readonly [number, number]; flag: number; step: number },
): { norm: number; scale: number; control: number[]; status?: [number, number] } {
  const [, , skipped, clean] = control as [number, number, number, number];
  const status = watch && markRef(watch.status, !Number.isFinite(norm) && scale === bounds.min ? watch.flag : 0, watch.step);
  if (!Number.isFinite(norm)) return { norm, scale: Math.max(scale * s.backoffFactor, bounds.min), control: [0, 1, skipped + 1, 0], status };
  const unscaled = norm / scale;
  const clip = s.maxNorm === null ? 1 : Math.min(1, s.maxNorm / (unscaled + 1e-6));
  const grow = clean + 1 >= s.growthInterval;
  return {
    norm: unscaled,
    scale: grow ? Math.min(scale * s.growthFactor, bounds.max) : scale,
    control: [clip / scale, 0, skipped, grow ? 0 : clean + 1],
    status,
  };
}

/**
 * The watch's status [bits, step] after one check of `values`: bit k set when value k is NaN or
 * +-Inf (sticky), the step recorded when the bits first become non-zero.
 */
export function nonFiniteWatchRef(status: readonly [number, number], values: readonly number[], step: number): [number, number] {
  const bits = values.reduce((acc, v, k) => (Number.isFinite(v) ? acc : acc | (1 << k)), 0);
  return markRef(status, bits, step);
}

/** A watch's status [bits, step] with `bits` set: the step recorded when they are its first. */
function markRef(status: readonly [number, number], bits: number, step: number): [number, number] {
  return [status[0] | bits, bits !== 0 && status[0] === 0 ? step : status[1]];
}
