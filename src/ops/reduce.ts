// Reductions over any axes with keepdim: sum, mean, max (differentiable) and argmax. Also sumTo,
// the one helper every broadcasting op uses to reduce a gradient back to its input's shape.
// Empty reductions follow PyTorch: sum = 0, mean = NaN, max and argmax are errors.
import { defineOp } from '../autograd/op.js';
import { broadcastKernel, launchBroadcast, ORDERED_WGSL } from '../kernels/wgsl/elementwise.js';
import { launchReduce, planReduce, type ReduceKind } from '../kernels/wgsl/reduce.js';
import { full } from '../tensor/create.js';
import { broadcastShapes, broadcastStrides, formatShape, sameShape, stridesOf, type Shape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { assertDtype, checkAxes, checkAxis, checkBoolean, checkShape, checkTensor } from '../tensor/check.js';
import { div, mul } from './elementwise.js';
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
  checkTensor('expand', 'input', t);
  if (!sameShape(broadcastShapes('expand', t.shape, checkShape('expand', 'shape', shape)), shape)) {
    throw new RangeError(`expand: argument 'shape' must be a shape ${t.describe()} broadcasts to, got ${formatShape(shape)}`);
  }
  const out = Tensor.empty(shape, 'float32', 'expand');
  launchBroadcast(expandK, [{ buffer: t.buffer('expand'), strides: broadcastStrides(t.shape, shape) }], out.buffer(), shape, out.size);
  return out;
}

/** A gradient of a keepdim=false reduction, reshaped so it broadcasts against the input again. */
function keepdimView(g: Tensor, inputShape: Shape, axes: number[]): Tensor {
  return reshape(g, reducedShape(inputShape, axes, true));
}

/** The checked (input, axes, keepdim) of a reduction's call; axes normalised and sorted. */
function reduceArgs(op: string, a: Tensor, axes: unknown, keepdim: unknown): [Tensor, number[], boolean] {
  checkTensor(op, 'input', a);
  return [a, checkAxes(op, 'axes', axes, a), checkBoolean(op, 'keepdim', keepdim)];
}

/** The max or argmax of no elements is undefined: an error naming the op, as in PyTorch. */
function assertNonEmpty(op: string, a: Tensor, axes: number[]): void {
  const empty = axes.find((i) => a.shape[i] === 0);
  if (empty !== undefined) {
    throw new RangeError(`${op}: argument 'input' must have elements along the reduced axes, got ${a.describe()} reduced over axis ${empty}`);
  }
}

function sumLike(name: 'sum' | 'mean') {
  const op = defineOp({
    name,
    forward(_ctx, a: Tensor, axes: number[], keepdim: boolean) {
      assertDtype(name, 'float32', a);
      // the mean of no elements is 0 / 0
      if (name === 'mean' && axes.some((i) => a.shape[i] === 0)) return full(reducedShape(a.shape, axes, keepdim), NaN);
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
  return (a: Tensor, axes?: Axes, keepdim = false) => op(...reduceArgs(name, a, axes, keepdim));
}

export const sum = sumLike('sum');
export const mean = sumLike('mean');

// 1 where an element ties with the max of its row (-0 with +0, NaN with NaN), 0 elsewhere
const maxTiesK = broadcastKernel('max_ties', 'select(0.0, 1.0, max_ties(x, y))', { helpers: ORDERED_WGSL });

const maxOp = defineOp({
  name: 'max',
  forward(ctx, a: Tensor, axes: number[], keepdim: boolean) {
    assertDtype('max', 'float32', a);
    assertNonEmpty('max', a, axes);
    const out = runReduce('max', 'max', a, axes, true);
    ctx.save(a, out);
    if (keepdim) return out;
    const squeezed = reshape(out, reducedShape(a.shape, axes, false));
    out.dispose();
    return squeezed;
  },
  backward(ctx, g) {
    // the gradient is shared equally among the elements that equal the max (the NaNs, if it is NaN)
    const [a, m] = ctx.saved as [Tensor, Tensor];
    const gk = reshape(g, m.shape);
    const mask = Tensor.empty(a.shape, 'float32', 'max backward');
    const inputs = [a, m].map((t) => ({ buffer: t.buffer(), strides: broadcastStrides(t.shape, a.shape) }));
    launchBroadcast(maxTiesK, inputs, mask.buffer(), a.shape, a.size);
    const axes = m.shape.flatMap((d, i) => (d === 1 && a.shape[i] !== 1 ? [i] : []));
    const count = runReduce('max backward', 'sum', mask, axes, true);
    const share = div(gk, count);
    const grad = mul(mask, share);
    for (const t of [gk, mask, count, share]) t.dispose();
    return [grad];
  },
});

/** IEEE max: NaN if any reduced element is NaN. */
export function max(a: Tensor, axes?: Axes, keepdim = false): Tensor {
  return maxOp(...reduceArgs('max', a, axes, keepdim));
}

/** Index of the (first) maximum along one axis, or into the flattened tensor without one; int32. A NaN is the maximum, as in PyTorch. */
export function argmax(a: Tensor, axis?: number, keepdim = false): Tensor {
  checkTensor('argmax', 'input', a);
  const axes = axis === undefined ? checkAxes('argmax', 'axis', axis, a) : [checkAxis('argmax', 'axis', axis, a)];
  checkBoolean('argmax', 'keepdim', keepdim);
  assertDtype('argmax', 'float32', a);
  assertNonEmpty('argmax', a, axes);
  return runReduce('argmax', 'argmax', a, axes, keepdim);
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
    argmax(axis?: number, keepdim?: boolean): Tensor;
  }
}
Tensor.prototype.sum = function (axes, keepdim) { return sum(this, axes, keepdim); };
Tensor.prototype.mean = function (axes, keepdim) { return mean(this, axes, keepdim); };
Tensor.prototype.max = function (axes, keepdim) { return max(this, axes, keepdim); };
Tensor.prototype.argmax = function (axis, keepdim) { return argmax(this, axis, keepdim); };
