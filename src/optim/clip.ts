// Global-norm gradient clipping without a GPU round trip: the norm and the factor
// min(1, maxNorm / (norm + 1e-6)) stay on the GPU as 0-d tensors; the optimizer multiplies every
// gradient by the factor inside its fused step. The sums of squares take one dispatch per group
// of gradients (as many as one shader may bind) plus one for the factor.
import { device } from '../device/device.js';
import { launchClipScale, launchGradSumSquares, MAX_GROUP } from '../kernels/wgsl/grad-norm.js';
import { Tensor } from '../tensor/tensor.js';

const F32_MAX = 3.4028234663852886e38;

/** maxNorm = Infinity (or anything past float32's range) measures the norm without clipping (scale exactly 1). */
export function clipGradNorm(params: Tensor[], maxNorm: number): { norm: Tensor; scale: Tensor } {
  if (!(maxNorm > 0)) throw new Error(`clipGradNorm: maxNorm must be > 0, got ${maxNorm}`);
  const grads = params.flatMap((p) => (p.grad && p.grad.size ? [{ buffer: p.grad.buffer('clipGradNorm'), size: p.grad.size }] : []));
  const group = Math.max(1, Math.min(MAX_GROUP, (device().info.limits.maxStorageBuffersPerShaderStage ?? 8) - 1));
  const partial = Tensor.empty([Math.max(1, grads.length)], 'float32', 'clipGradNorm'); // every slot read is written
  for (let i = 0; i < grads.length; i += group) launchGradSumSquares(grads.slice(i, i + group), partial.buffer(), i);
  const norm = Tensor.empty([], 'float32', 'clipGradNorm');
  const scale = Tensor.empty([], 'float32', 'clipGradNorm');
  launchClipScale(partial.buffer(), grads.length, maxNorm < F32_MAX ? maxNorm : null, norm.buffer(), scale.buffer()); // beyond f32: no limit
  partial.dispose();
  return { norm, scale };
}
