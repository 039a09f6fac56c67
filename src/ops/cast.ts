// cast(x, dtype) / x.astype(dtype) between float32, float16 and int32. float -> int truncates
// toward zero and, as WGSL's i32() does, saturates out-of-range values to [-2^31, 2^31 - 128] (the
// float32 values inside the int32 range); int -> float rounds to nearest; float32 -> float16 rounds
// to nearest, ties to even, overflowing to +-Infinity (WGSL's f16(); test/half.test.ts holds the
// adapter to that against a host reference, subnormals and NaN included); float16 -> float32 is
// exact. Between float32 and float16 it is differentiable, as PyTorch's x.to(dtype): the gradient
// is cast back to the input's dtype (mixed precision: float32 master weights cast to float16 get
// float32 gradients). To or from int32 it is not (the result never requires grad). To the same
// dtype it is a view (a reshape) that keeps the gradient.
import { noGrad } from '../autograd/mode.js';
import { defineOp, withFront, type OpContext } from '../autograd/op.js';
import { variants } from '../kernels/kernel.js';
import { broadcastKernel, launchBroadcast, type ElementType } from '../kernels/wgsl/elementwise.js';
import { checkDtype, checkTensor } from '../tensor/check.js';
import { reshape } from './shape.js';
import { Tensor, type PlainDType } from '../tensor/tensor.js';

const STORAGE: Record<PlainDType, ElementType> = { float32: 'f32', float16: 'f16', int32: 'i32' };

// one kernel per (from, to) pair: loads widen to f32 (i32 stays), the store converts
const kernels = variants((pair: `${PlainDType}>${PlainDType}`) => {
  const [from, to] = pair.split('>') as [PlainDType, PlainDType];
  const expr = to === 'int32' ? 'i32(x)' : from === 'int32' ? 'f32(x)' : 'x';
  return broadcastKernel(`cast_${STORAGE[from]}_to_${STORAGE[to]}`, expr, { arity: 1, inType: STORAGE[from], outType: STORAGE[to] });
});

const castOp = defineOp({
  name: 'cast',
  dtypes: { input: ['float32', 'float16', 'int32'] },
  forward(_ctx: OpContext, x: Tensor, dtype: PlainDType) {
    const out = Tensor.empty(x.shape, dtype, 'cast');
    // read as a flat vector: one index computation per element whatever the rank
    if (x.size > 0) launchBroadcast(kernels(`${x.dtype as PlainDType}>${dtype}`), [{ buffer: x.buffer(), strides: [1] }], out.buffer(), [x.size], x.size);
    return out;
  },
  shape: ([x, dtype]) => ({ shape: x.shape, dtype }),
  // d cast(x) = cast(dy) back to x's dtype (rounding's derivative taken as 1, the identity's)
  backward: (_ctx, g, [x]): Tensor[] => [castOp(g, x.dtype as PlainDType)],
});

/**
 * `x` converted to `dtype` ('float32', 'float16' or 'int32'); differentiable between the float
 * dtypes; to its own dtype, a view that keeps the gradient (as PyTorch's x.to(x.dtype)).
 */
export const cast = withFront(castOp, (x: Tensor, dtype: PlainDType): Tensor => {
  checkTensor('cast', 'input', x);
  if (checkDtype('cast', dtype) === x.dtype) return reshape(x, x.shape);
  return dtype === 'int32' ? noGrad(() => castOp(x, dtype)) : castOp(x, dtype);
});
