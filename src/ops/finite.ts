// watchNonFinite: a training loop's sticky record of NaN/Inf in a few scalars (the loss, the
// gradient norm), kept on the GPU and read back only when the loop reads anything else, so
// detecting divergence costs no extra round trip.
import { listOf, NOT_DIFFERENTIABLE } from '../autograd/op.js';
import { launchNonFiniteWatch, MAX_VALUES } from '../kernels/wgsl/finite.js';
import { assertShape } from '../tensor/check.js';
import type { Tensor } from '../tensor/tensor.js';
import { defineUpdate } from './update.js';

/**
 * status (int32 [2], zeros to start): bit k of status[0] is set once values[k] (0-d float32) was
 * NaN or +-Inf; status[1] is the `step` at which status[0] first became non-zero.
 */
export const watchNonFinite = defineUpdate({
  name: 'watchNonFinite',
  dtypes: { status: ['int32'], values: listOf(['float32']) },
  run(status: Tensor, values: readonly Tensor[], step: number) {
    launchNonFiniteWatch(values.map((v) => v.buffer()), status.buffer(), step);
    return [status];
  },
  check([status, values, step]) {
    assertShape('watchNonFinite', status, [2], 'status');
    if (values.length < 1 || values.length > MAX_VALUES) throw new Error(`watchNonFinite: 1 to ${MAX_VALUES} values, got ${values.length}`);
    for (const v of values) assertShape('watchNonFinite', v, [], 'each value');
    if (!Number.isSafeInteger(step) || step < 0 || step >= 2 ** 31) throw new Error(`watchNonFinite: step must be an integer in [0, 2^31), got ${step}`);
  },
  backward: NOT_DIFFERENTIABLE,
});
