// cast(x, dtype) / x.astype(dtype): float32 <-> int32. float -> int truncates toward zero and, as
// WGSL's i32() does, saturates out-of-range values to [-2^31, 2^31 - 128] (the float32 values inside
// the int32 range); int -> float rounds to nearest. Not differentiable; to the same dtype it is a view (a reshape) that keeps the gradient.
import { defineOp, NOT_DIFFERENTIABLE, withFront, type OpContext } from '../autograd/op.js';
import { broadcastKernel, launchBroadcast } from '../kernels/wgsl/elementwise.js';
import { checkDtype, checkTensor } from '../tensor/check.js';
import { reshape } from './shape.js';
import { Tensor, type PlainDType } from '../tensor/tensor.js';

const kernels = {
  int32: broadcastKernel('cast_to_i32', 'i32(x)', { arity: 1, inType: 'f32', outType: 'i32' }),
  float32: broadcastKernel('cast_to_f32', 'f32(x)', { arity: 1, inType: 'i32', outType: 'f32' }),
};

const castOp = defineOp({
  name: 'cast',
  dtypes: { input: ['float32', 'int32'] },
  forward(_ctx: OpContext, x: Tensor, dtype: PlainDType) {
    const out = Tensor.empty(x.shape, dtype, 'cast');
    // read as a flat vector: one index computation per element whatever the rank
    if (x.size > 0) launchBroadcast(kernels[dtype], [{ buffer: x.buffer(), strides: [1] }], out.buffer(), [x.size], x.size);
    return out;
  },
  shape: ([x, dtype]) => ({ shape: x.shape, dtype }),
  backward: NOT_DIFFERENTIABLE,
});

/** `x` converted to `dtype` ('float32' or 'int32'); to its own dtype, a view that keeps the gradient (as PyTorch's x.to(x.dtype)). */
export const cast = withFront(castOp, (x: Tensor, dtype: PlainDType): Tensor => {
  checkTensor('cast', 'input', x);
  return checkDtype('cast', dtype) === x.dtype ? reshape(x, x.shape) : castOp(x, dtype);
});
