// cast(x, dtype) / x.astype(dtype) between float32, float16 and int32. float -> int truncates
// toward zero and, as WGSL's i32() does, saturates out-of-range values to [-2^31, 2^31 - 128] (the
// float32 values inside the int32 range); int -> float rounds to nearest; float32 -> float16 rounds
// to nearest, ties to even, overflowing to +-Infinity (on the bits: WGSL's f16() need not;
// test/half.test.ts checks it against the host's, subnormals and NaN included); float16 -> float32 is
// exact. Between float32 and float16 it is differentiable, as PyTorch's x.to(dtype): the gradient
// is cast back to the input's dtype (mixed precision: float32 master weights cast to float16 get
// float32 gradients). To or from int32 it is not (the result never requires grad). To the same
// dtype it is a view (a reshape) that keeps the gradient.
// castCached(x, copy) is cast(x, copy.dtype) where copy already holds that cast (castInto made it
// with others: a training step's float16 weights, cast once for all its micro-batches): copy's
// values, with cast's gradient. Its backward hands a leaf's gradient over late (autograd/late.ts),
// and they are cast back and summed in grouped castInto launches: the same values, summed in the
// same order, as a cast's and an add's each.
import { heldGrad } from '../autograd/backward.js';
import { giveLeafGradLater, type LateGradient } from '../autograd/late.js';
import { noGrad } from '../autograd/mode.js';
import { checkArgs, defineOp, withFront, type OpContext } from '../autograd/op.js';
import { F16_RNE_WGSL, variants } from '../kernels/kernel.js';
import { castGroupSize } from '../kernels/wgsl/cast-group.js';
import { broadcastKernel, launchBroadcast, type ElementType } from '../kernels/wgsl/elementwise.js';
import { assertShape, checkDtype } from '../tensor/check.js';
import { untrack } from '../tensor/scope.js';
import { castInto } from './cast-into.js';
import { reshape } from './shape.js';
import { FLOAT_DTYPES, Tensor, type PlainDType } from '../tensor/tensor.js';

const STORAGE: Record<PlainDType, ElementType> = { float32: 'f32', float16: 'f16', int32: 'i32' };

// one kernel per (from, to) pair: loads widen to f32 (i32 stays), the store converts; to f16
// rounded on the bits (f16_rne: WGSL's own f16() may round either way), then stored as it is
const kernels = variants((pair: `${PlainDType}>${PlainDType}`) => {
  const [from, to] = pair.split('>') as [PlainDType, PlainDType];
  const value = from === 'int32' ? 'f32(x)' : 'x';
  const expr = to === 'int32' ? 'i32(x)' : to === 'float16' ? `f16_rne(${value})` : value;
  const helpers = to === 'float16' ? F16_RNE_WGSL : '';
  return broadcastKernel(`cast_${STORAGE[from]}_to_${STORAGE[to]}`, expr, { arity: 1, inType: STORAGE[from], outType: STORAGE[to], helpers });
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
  checkArgs(castOp.spec, [x]); // the same dtype is a reshape, which would name itself
  if (checkDtype('cast', dtype) === x.dtype) return reshape(x, x.shape);
  return dtype === 'int32' ? noGrad(() => castOp(x, dtype)) : castOp(x, dtype);
});

/** x (float32 or float16) cast to `copy`'s dtype, given that cast: copy's values, differentiable as cast(x, copy.dtype). */
export const castCached = defineOp({
  name: 'castCached',
  dtypes: { input: FLOAT_DTYPES, copy: FLOAT_DTYPES },
  floatsMayDiffer: true,
  forward: (_ctx: OpContext, _x: Tensor, copy: Tensor) => copy,
  shape([x, copy]) {
    assertShape('castCached', copy, x.shape, 'copy');
    return { shape: x.shape, dtype: copy.dtype };
  },
  // cast's gradient for x (copy stands for x's cast: none of its own); a leaf's, late and grouped
  backward(ctx, g, [x]): (Tensor | null)[] {
    if (!ctx.needsGrad[0]) return [null, null];
    if (x.gradFn) return [castOp(g, x.dtype as PlainDType), null];
    giveLeafGradLater(x, g.alias(g.shape), addCastsLate, castGroupSize());
    return [null, null];
  },
});

/**
 * Late gradients into their leaves' .grad, cast to the leaf's dtype: a leaf's first one written and
 * the next added, in place by castInto, a round for each repeat of a leaf (in the order received).
 * A .grad that other tensors share (a view) gets a copy of its storage first, so that the sum does
 * not show through them (as backward's own sum into a .grad, a new storage).
 */
function addCastsLate(late: LateGradient[]): void {
  // what backward's own leaves get: a disposed .grad is a cleared one, one of another shape refused
  for (const { leaf } of late) leaf.grad = heldGrad('backward', leaf);
  const rounds: LateGradient[][] = [];
  const repeats = new Map<Tensor, number>();
  for (const l of late) {
    const k = repeats.get(l.leaf) ?? 0;
    repeats.set(l.leaf, k + 1);
    (rounds[k] ??= []).push(l);
  }
  for (const round of rounds) {
    const shared = round.flatMap((l) => (l.leaf.grad?.storage().shared ? [l.leaf.grad] : []));
    const copies = shared.map((g) => Tensor.empty(g.shape, g.dtype, 'grad'));
    castInto(shared, copies);
    shared.forEach((g, i) => g.assign(copies[i]!));
    for (const c of copies) c.dispose();
    const adds = round.map((l) => l.leaf.grad !== null);
    for (const { leaf } of round) untrack((leaf.grad ??= Tensor.empty(leaf.shape, leaf.dtype, 'grad'))); // owned by the leaf, as backward's
    castInto(round.map((l) => l.grad), round.map((l) => l.leaf.grad!), adds);
    for (const { grad } of round) grad.dispose();
  }
}
