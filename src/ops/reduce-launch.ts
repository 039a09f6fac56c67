// One reduction of a tensor into a new one, shared by the reductions (reduce.ts) and sumTo
// (broadcast.ts): the input reduced a slab at a time where it is larger than a binding
// (src/kernels/wgsl/reduce.ts). Where slabs fold into the same outputs, float16 sums are
// accumulated in a float32 tensor and rounded to float16 once at the end, and argmax keeps each
// output's running max beside its index.
import { floatBytes } from '../kernels/kernel.js';
import { launchReduce, reduceSlabs, type ReduceKind } from '../kernels/wgsl/reduce.js';
import type { Shape } from '../tensor/shape.js';
import { floatType, Tensor } from '../tensor/tensor.js';
import { cast } from './cast.js';

/** `a` reduced over `axes` (sorted) into a new tensor of `shape` (argmax: int32); sums times `scale`. */
export function reduceInto(op: string, kind: ReduceKind, a: Tensor, axes: readonly number[], shape: Shape, scale = 1): Tensor {
  const float = floatType(a.dtype);
  const slabs = reduceSlabs(a.shape, axes, floatBytes(float));
  const folds = slabs.some((s) => s.accumulate);
  const wide = folds && kind === 'sum' && float === 'f16';
  const out = Tensor.empty(shape, kind === 'argmax' ? 'int32' : wide ? 'float32' : a.dtype, op);
  const best = folds && kind === 'argmax' ? Tensor.empty(shape, 'int32', `${op} running max`) : null;
  launchReduce(kind, a.buffer(op), out.buffer(), slabs, scale, float, best?.buffer());
  best?.dispose();
  if (!wide) return out;
  const half = cast(out, 'float16');
  out.dispose();
  return half;
}
