// Broadcasting and its reduction back, each the other's gradient:
//   expand(x, shape)  x read as if broadcast to `shape` (NumPy rules), materialised
//   sumTo(x, shape)   x summed down to `shape`, the shape it was broadcast from
// sumTo is the one helper every broadcasting op's backward uses to bring a gradient back to its
// input's shape; when nothing is summed it is a free view.
import { defineOp, type Op, type OpContext } from '../autograd/op.js';
import { floatKernels, launchBroadcast } from '../kernels/wgsl/elementwise.js';
import { checkShape } from '../tensor/check.js';
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
export const expand: Op<[Tensor, Shape]> = defineOp({
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
