// One reduction of a tensor into a new one, shared by the reductions (reduce.ts) and sumTo
// (broadcast.ts): the input reduced a slab at a time where it or the result is larger than a
// binding (the kernel: src/kernels/wgsl/reduce.ts). Where slabs fold into the same outputs,
// float16 sums are accumulated in a float32 tensor and rounded to float16 once at the end, and
// argmax (argmin) keeps each output's running max (min) beside its index.
import { floatBytes, windowRoom } from '../kernels/kernel.js';
import { profile } from '../kernels/profile.js';
import { isArgKind, launchReduce, planReduce, type ReduceKind, type ReduceSlab } from '../kernels/wgsl/reduce.js';
import { numel, stridesOf, type Shape } from '../tensor/shape.js';
import { full } from '../tensor/create.js';
import { floatType, Tensor } from '../tensor/tensor.js';
import { cast } from './cast.js';

/** `a` reduced over `axes` (sorted) into a new tensor of `shape` (argmax, argmin: int32); sums times `scale`. */
export function reduceInto(op: string, kind: ReduceKind, a: Tensor, axes: readonly number[], shape: Shape, scale = 1): Tensor {
  const index = isArgKind(kind);
  // no elements: sums of nothing are 0 (callers reject the max, min, argmax and argmin of
  // nothing), and a 0-size dim gives the dims before it stride 0, which reduceSlabs would divide by
  if (a.size === 0) return full(shape, 0, index ? 'int32' : a.dtype);
  const float = floatType(a.dtype);
  const slabs = reduceSlabs(a.shape, axes, floatBytes(float));
  const folds = slabs.some((s) => s.accumulate);
  const wide = folds && kind === 'sum' && float === 'f16';
  const out = Tensor.empty(shape, index ? 'int32' : wide ? 'float32' : a.dtype, op);
  const best = folds && index ? Tensor.empty(shape, 'int32', `${op} running best`) : null;
  launchReduce(kind, a.buffer(op), out.buffer(), slabs, scale, float, best?.buffer());
  best?.dispose();
  if (!wide) return out;
  const half = cast(out, 'float16');
  out.dispose();
  return half;
}

/**
 * A contiguous input of `shape` (elements of `elementBytes`) reduced over `axes`, as slabs each
 * bound as one window: the whole input when it and the result fit a binding, else ranges along the
 * outermost axis q whose trailing dims fit one (every index of the axes before q, and chunks of
 * q's). The slabs of one output come in order of their reduced indices.
 */
function reduceSlabs(shape: readonly number[], axes: readonly number[], elementBytes: number): ReduceSlab[] {
  const n = numel(shape);
  const whole = planReduce(shape, stridesOf(shape), axes);
  const limit = profile().bindingLimit;
  if (n * elementBytes <= limit && whole.nOut * 4 <= limit) return [{ start: 0, plan: whole, outStart: 0, accumulate: false, offset: 0 }];
  const room = Math.max(1, Math.floor(windowRoom() / 4)); // elements a slab may have (its input and outputs at most 4 bytes each)
  const strides = stridesOf(shape);
  let q = shape.length - 1;
  while (q > 0 && strides[q - 1]! <= room) q--; // the trailing dims from q on are more than a slab; from q + 1 on they fit
  const inner = strides[q]!;
  const per = Math.max(1, Math.floor(room / inner)); // indices of axis q per slab
  // where an index of each axis moves the output (kept axes) and the reduced index (reduced axes)
  const [outStrides, redStrides] = [shape.map(() => 0), shape.map(() => 0)];
  for (let d = shape.length - 1, o = 1, r = 1; d >= 0; d--) {
    if (axes.includes(d)) [redStrides[d], r] = [r, r * shape[d]!];
    else [outStrides[d], o] = [o, o * shape[d]!];
  }
  const subAxes = axes.filter((a) => a >= q).map((a) => a - q);
  const slabs: ReduceSlab[] = [];
  for (let u = 0; u < numel(shape.slice(0, q)); u++) {
    for (let c0 = 0; c0 < shape[q]!; c0 += per) {
      const start = (u * shape[q]! + c0) * inner;
      const idx = shape.map((d, i) => Math.floor(start / strides[i]!) % d); // the index of its first element
      const sub = [Math.min(per, shape[q]! - c0), ...shape.slice(q + 1)];
      slabs.push({
        start,
        plan: planReduce(sub, stridesOf(sub), subAxes),
        outStart: idx.reduce((acc, i, d) => acc + i * outStrides[d]!, 0),
        accumulate: idx.some((i, d) => i > 0 && axes.includes(d)),
        offset: idx.reduce((acc, i, d) => acc + i * redStrides[d]!, 0),
      });
    }
  }
  return slabs;
}
