// Reductions over any axes with keepdim: sum, mean, max (differentiable) and argmax. Also sumTo,
// the one helper every broadcasting op uses to reduce a gradient back to its input's shape.
import { defineOp } from '../autograd/op.js';
import { broadcastKernel, launchBroadcast } from '../kernels/wgsl/elementwise.js';
import { launchReduce, planReduce, type ReduceKind } from '../kernels/wgsl/reduce.js';
import { broadcastStrides, formatShape, normAxes, normAxis, stridesOf, type Shape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { assertDtype } from './check.js';
import { div, eq, mul } from './elementwise.js';
import { reshape } from './shape.js';

export type Axes = number | readonly number[];

function reducedShape(shape: Shape, axes: number[], keepdim: boolean): number[] {
  return keepdim ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

function runReduce(op: string, kind: ReduceKind, a: Tensor, axes: number[], keepdim: boolean, mean = false): Tensor {
  const plan = planReduce(a.shape, stridesOf(a.shape), axes);
  const out = Tensor.empty(reducedShape(a.shape, axes, keepdim), kind === 'argmax' ? 'int32' : 'float32', op);
  launchReduce(kind, a.buffer(op), out.buffer(), plan, mean ? 1 / Math.max(plan.r, 1) : 1);
  return out;
}

const expandK = broadcastKernel('expand', 'x', { arity: 1 });

/** Broadcasts `t` to `shape` (a materialised copy). */
export function expand(t: Tensor, shape: Shape): Tensor {
  const out = Tensor.empty(shape, 'float32', 'expand');
  launchBroadcast(expandK, [{ buffer: t.buffer('expand'), strides: broadcastStrides(t.shape, shape) }], out.buffer(), shape, out.size);
  return out;
}

/** A gradient of a keepdim=false reduction, reshaped so it broadcasts against the input again. */
function keepdimView(g: Tensor, inputShape: Shape, axes: number[]): Tensor {
  return reshape(g, reducedShape(inputShape, axes, true));
}

function sumLike(name: 'sum' | 'mean') {
  const op = defineOp({
    name,
    forward(_ctx, a: Tensor, axes: number[], keepdim: boolean) {
      assertDtype(name, 'float32', a);
      return runReduce(name, 'sum', a, axes, keepdim, name === 'mean');
    },
    backward(_ctx, g, [a, axes]) {
      // d sum = broadcast(dg); d mean = broadcast(dg) / R
      const shape = a.shape;
      const gk = keepdimView(g, shape, axes);
      const grad = expand(gk, shape);
      gk.dispose();
      if (name === 'sum') return [grad];
      const r = axes.reduce((n, a) => n * shape[a]!, 1);
      const scaled = mul(grad, 1 / Math.max(r, 1));
      grad.dispose();
      return [scaled];
    },
  });
  return (a: Tensor, axes?: Axes, keepdim = false) => op(a, normAxes(name, axes, a.rank), keepdim);
}

export const sum = sumLike('sum');
export const mean = sumLike('mean');

const maxOp = defineOp({
  name: 'max',
  forward(ctx, a: Tensor, axes: number[], keepdim: boolean) {
    assertDtype('max', 'float32', a);
    const out = runReduce('max', 'max', a, axes, true);
    ctx.save(a, out);
    if (keepdim) return out;
    const squeezed = reshape(out, reducedShape(a.shape, axes, false));
    out.dispose();
    return squeezed;
  },
  backward(ctx, g) {
    // the gradient is shared equally among the elements that equal the max
    const [a, m] = ctx.saved as [Tensor, Tensor];
    const gk = reshape(g, m.shape);
    const mask = eq(a, m);
    const axes = m.shape.flatMap((d, i) => (d === 1 && a.shape[i] !== 1 ? [i] : []));
    const count = runReduce('max backward', 'sum', mask, axes, true);
    const share = div(gk, count);
    const grad = mul(mask, share);
    for (const t of [gk, mask, count, share]) t.dispose();
    return [grad];
  },
});

export function max(a: Tensor, axes?: Axes, keepdim = false): Tensor {
  return maxOp(a, normAxes('max', axes, a.rank), keepdim);
}

/** Index of the (first) maximum along one axis, int32. */
export function argmax(a: Tensor, axis: number, keepdim = false): Tensor {
  assertDtype('argmax', 'float32', a);
  return runReduce('argmax', 'argmax', a, [normAxis('argmax', axis, a.rank)], keepdim);
}

/** Sums `t` down to `shape` (which `t`'s shape broadcasts from). Returns `t` itself if equal. */
export function sumTo(t: Tensor, shape: Shape): Tensor {
  const lead = t.rank - shape.length;
  if (lead < 0) throw new Error(`sumTo: cannot reduce ${t.describe()} to ${formatShape(shape)}`);
  const axes = t.shape.flatMap((d, i) => (i < lead || (shape[i - lead] === 1 && d !== 1) ? [i] : []));
  if (!axes.length) return lead === 0 ? t : reshape(t, shape);
  const reduced = runReduce('sumTo', 'sum', t, axes, true);
  if (lead === 0) return reduced;
  const out = reshape(reduced, shape);
  reduced.dispose();
  return out;
}

declare module '../tensor/tensor.js' {
  interface Tensor {
    sum(axes?: Axes, keepdim?: boolean): Tensor;
    mean(axes?: Axes, keepdim?: boolean): Tensor;
    max(axes?: Axes, keepdim?: boolean): Tensor;
    argmax(axis: number, keepdim?: boolean): Tensor;
  }
}
Tensor.prototype.sum = function (axes, keepdim) { return sum(this, axes, keepdim); };
Tensor.prototype.mean = function (axes, keepdim) { return mean(this, axes, keepdim); };
Tensor.prototype.max = function (axes, keepdim) { return max(this, axes, keepdim); };
Tensor.prototype.argmax = function (axis, keepdim) { return argmax(this, axis, keepdim); };
