// gradNorm: the global L2 norm of a list of gradients and the clipping factor
// min(1, maxNorm / (norm + 1e-6)) (PyTorch's clip_grad_norm_), written into two 0-d tensors that
// stay on the GPU: an optimizer multiplies by the factor inside its own step, so clipping never
// waits for a readback. Sums of squares in one dispatch per group of gradients (a workgroup per
// slice of each), one for the rest.
import { listOf, NOT_DIFFERENTIABLE } from '../autograd/op.js';
import { pieces, windowOf } from '../kernels/kernel.js';
import { clipLimit, gradNormGroupSize, gradSlices, launchClipScale, launchGradSumSquares, SLICE_PARTIAL } from '../kernels/wgsl/grad-norm.js';
import { assertShape } from '../tensor/check.js';
import { Tensor } from '../tensor/tensor.js';
import { defineUpdate } from './update.js';

export { clipLimit } from '../kernels/wgsl/grad-norm.js';

const F32 = ['float32'] as const;

/** norm = sqrt(sum of every gradient's squares); scale = the clipping factor, exactly 1 for maxNorm Infinity. */
export const gradNorm = defineUpdate({
  name: 'gradNorm',
  dtypes: { grads: listOf(F32), maxNorm: null, norm: F32, scale: F32 },
  run(grads: readonly Tensor[], maxNorm: number, norm: Tensor, scale: Tensor) {
    // a gradient larger than a binding is summed a window at a time, each window a part of its own
    const parts = grads.flatMap((g) => (g.size ? pieces(g.size, 4).map(({ start, count }) => ({ buffer: windowOf(g.buffer(), start, count), size: count })) : []));
    const group = gradNormGroupSize();
    const slices = parts.reduce((n, part) => n + gradSlices(part.size), 0);
    const partial = Tensor.empty([SLICE_PARTIAL * Math.max(1, slices)], 'float32', 'gradNorm'); // every slot read is written
    let written = 0;
    for (let i = 0; i < parts.length; i += group) written += launchGradSumSquares(parts.slice(i, i + group), partial.buffer(), written);
    launchClipScale(partial.buffer(), written, clipLimit(maxNorm), norm.buffer(), scale.buffer());
    partial.dispose();
    return [norm, scale];
  },
  check([, maxNorm, norm, scale]) {
    if (!(maxNorm > 0)) throw new Error(`gradNorm: maxNorm must be > 0, got ${maxNorm}`);
    assertShape('gradNorm', norm, [], 'norm');
    assertShape('gradNorm', scale, [], 'scale');
  },
  backward: NOT_DIFFERENTIABLE,
});
