// Global-norm gradient clipping without a GPU round trip: the norm and the factor
// min(1, maxNorm / (norm + 1e-6)) stay on the GPU as 0-d tensors (the `gradNorm` op); the
// optimizer multiplies the gradients measured by the factor inside its fused step.
import { gradNorm, Tensor } from '../ops/index.js';
import { describeValue } from '../tensor/check.js';
import { float32Grads } from './float32-only.js';

/** maxNorm as clipGradNorm and GradScaler.unscale take it: a number > 0, Infinity for none (NaN must not pass as none). */
export function checkMaxNorm(op: string, maxNorm: unknown): number {
  if (typeof maxNorm !== 'number' || !(maxNorm > 0)) throw new RangeError(`${op}: argument 'maxNorm' must be a number > 0 (Infinity: no clipping), got ${describeValue(maxNorm)}`);
  return maxNorm;
}

/**
 * Gradients measured for a multiplier they are not multiplied by, not yet stepped, each with that
 * multiplier: clipGradNorm's scale (0-d, a finite maxNorm), or a GradScaler's control ([4], its
 * unscale's decision). AdamW.step refuses them without one, where torch's clip_grad_norm_ would
 * have scaled them in place and its scaler.step(opt) unscales them; and refuses a control with
 * gradients it was not computed for (it would repeat an earlier step's decision).
 */
export const owedMultipliers = new WeakMap<Tensor, Tensor>();

/**
 * The global norm of the gradients of `params` and the factor min(1, maxNorm / (norm + 1e-6)) that
 * clips them, both 0-d on the GPU. The gradients are not changed: pass `scale` to AdamW.step(scale).
 * maxNorm = Infinity (or anything past float32's range) measures the norm without clipping (scale exactly 1).
 */
export function clipGradNorm(params: Tensor[], maxNorm: number): { norm: Tensor; scale: Tensor } {
  checkMaxNorm('clipGradNorm', maxNorm);
  const norm = Tensor.empty([], 'float32', 'clipGradNorm');
  const scale = Tensor.empty([], 'float32', 'clipGradNorm');
  let grads: Tensor[];
  try {
    grads = float32Grads('clipGradNorm', params);
    // torch clips after unscale_, which unscaled the gradients in place; ours did not: this norm
    // would be the scale times theirs, and this clip would replace the scaler's skip decision
    // (unless the scaler is gone: its decision can no longer be stepped with)
    const scaled = params.findIndex((p) => {
      const owed = p.grad && grads.includes(p.grad) ? owedMultipliers.get(p.grad) : undefined;
      return owed?.rank === 1 && !owed.isDisposed;
    });
    if (scaled >= 0) throw new Error(`clipGradNorm: params[${scaled}]'s gradient is loss-scaled (GradScaler.unscale measured it and changes no gradient); clip it with scaler.unscale(params, maxNorm) instead`);
    gradNorm(grads, maxNorm, norm, scale);
  } catch (e) {
    norm.dispose();
    scale.dispose();
    throw e;
  }
  if (Number.isFinite(maxNorm)) for (const g of grads) owedMultipliers.set(g, scale);
  return { norm, scale };
}
