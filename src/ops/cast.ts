// cast(x, dtype) / x.astype(dtype): float32 <-> int32. float -> int truncates toward zero and, as
// WGSL's i32() does, saturates out-of-range values to [-2^31, 2^31 - 128] (the float32 values inside
// the int32 range); int -> float rounds to nearest. Not differentiable. Same dtype: a view, no copy.
import { defineOp } from '../autograd/op.js';
import { broadcastKernel, launchBroadcast } from '../kernels/wgsl/elementwise.js';
import { Tensor, type DType } from '../tensor/tensor.js';

const kernels = {
  int32: broadcastKernel('cast_to_i32', 'i32(x)', { arity: 1, inType: 'f32', outType: 'i32' }),
  float32: broadcastKernel('cast_to_f32', 'f32(x)', { arity: 1, inType: 'i32', outType: 'f32' }),
};

const castOp = defineOp({
  name: 'cast',
  forward(_ctx, x: Tensor, dtype: DType) {
    if (x.dtype === dtype) return x.view(x.shape);
    const out = Tensor.empty(x.shape, dtype, 'cast');
    // read as a flat vector: one index computation per element whatever the rank
    if (x.size > 0) launchBroadcast(kernels[dtype], [{ buffer: x.buffer(), strides: [1] }], out.buffer(), [x.size], x.size);
    return out;
  },
});

/** `x` converted to `dtype` ('float32' or 'int32'). */
export function cast(x: Tensor, dtype: DType): Tensor {
  x.storage('cast');
  if (dtype !== 'float32' && dtype !== 'int32') throw new Error(`cast: unsupported dtype '${String(dtype)}' (expected float32 or int32)`);
  return castOp(x, dtype);
}

declare module '../tensor/tensor.js' {
  interface Tensor {
    astype(dtype: DType): Tensor;
  }
}
Tensor.prototype.astype = function (dtype) { return cast(this, dtype); };
