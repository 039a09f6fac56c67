// Broadcasting and its reduction back, each the other's gradient:
//   expand(x, shape)  x read as if broadcast to `shape` (NumPy rules), materialised
//   sumTo(x, shape)   x summed down to `shape`, the shape it was broadcast from
// sumTo is the one helper every broadcasting op's backward uses to bring a gradient back to its
// input's shape; when nothing is summed it is a free view.
import { defineOp, withFront, type Op, type OpContext } from '../autograd/op.js';
import { floatKernels, launchBroadcast } from '../kernels/wgsl/elementwise.js';
import { checkShape, checkTensor } from '../tensor/check.js';
import { broadcastShapes, broadcastStrides, formatShape, sameShape, type Shape } from '../tensor/shape.js';
import { FLOAT_DTYPES, floatType, Tensor } from '../tensor/tensor.js';
import { reduceInto } from './reduce-launch.js';

const expandK = floatKernels('expand', 'x', { arity: 1 });

/** The axes of `from` that sumTo(·, to) sums over: leading ones, and those broadcast from 1. */
function summedAxes(from: Shape, to: Shape): number[] {
  const lead = from.length - to.length;
  return from.flatMap((d, i) => (i < lead || (to[i - lead] === 1 && d !== 1) ? [i] : []));
}

/** x broadcast to `shape` (a materialised copy). */
const expandOp: Op<[Tensor, Shape]> = defineOp({
  name: 'expand',
  dtypes: { input: FLOAT_DTYPES },
  forward(_ctx: OpContext, t: Tensor, shape: Shape) {
    const out = Tensor.empty(shape, t.dtype, 'expand');
    launchBroadcast(expandK(floatType(t.dtype)), [{ buffer: t.buffer('expand'), strides: broadcastStrides(t.shape, shape) }], out.buffer(), shape, out.size);
    return out;
  },
  shape([t, shape]) {
    if (!sameShape(broadcastShapes('expand', t.shape, checkShape('expand', 'shape', shape)), shape)) {
      throw new RangeError(`expand: argument 'shape' must be a shape ${t.describe()} broadcasts to, got ${formatShape(shape)}`);
    }
    return { shape, dtype: t.dtype };
  },
  backward(_ctx, g, [t]) {
    // d expand = the gradient summed back over the broadcast dims
    return [sumTo(g, t.shape)];
  },
});

/**
 * x broadcast to `shape` (a materialised copy); -1 in `shape` keeps x's size there, dimensions
 * aligned from the right, as PyTorch's x.expand(-1, 4).
 */
export const expand = withFront(expandOp, (t: Tensor, shape: Shape): Tensor => {
  if (!Array.isArray(shape) || !shape.includes(-1)) return expandOp(t, shape);
  checkTensor('expand', 'input', t);
  const lead = shape.length - t.rank;
  return expandOp(t, shape.map((d, i) => {
    if (d !== -1) return d;
    if (i < lead) throw new RangeError(`expand: -1 at dimension ${i} of ${formatShape(shape)} keeps no dimension of ${t.describe()} (a new leading dimension needs its size)`);
    return t.shape[i - lead]!;
  }));
});

/** x summed down to `shape` (which x's shape broadcasts from); a view of x when nothing is summed. */
export const sumTo: Op<[Tensor, Shape]> = defineOp({
  name: 'sumTo',
  dtypes: { input: FLOAT_DTYPES },
  forward(_ctx: OpContext, t: Tensor, shape: Shape) {
    const axes = summedAxes(t.shape, shape);
    if (!axes.length) return t.alias(shape);
    return reduceInto('sumTo', 'sum', t, axes, shape);
  },
  shape([t, shape]) {
    checkShape('sumTo', 'shape', shape);
    if (shape.length > t.rank || !sameShape(broadcastShapes('sumTo', t.shape, shape), t.shape)) {
      throw new RangeError(`sumTo: cannot reduce ${t.describe()} to ${formatShape(shape)}`);
    }
    return { shape, dtype: t.dtype };
  },
  backward(_ctx, g, [t]) {
    // d sumTo = the gradient broadcast back to the input's shape
    return [expand(g, t.shape)];
  },
});
