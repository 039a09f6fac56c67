// Reductions over any axes with keepdim: sum, mean, max, min (differentiable), argmax and argmin.
// Each entry takes the normalised axes (sorted, non-negative); its front checks and normalises the
// caller's. Empty reductions follow PyTorch: sum = 0, mean = NaN, max, min, argmax and argmin are errors.
import { defineOp, NOT_DIFFERENTIABLE, withFront, type OpContext } from '../autograd/op.js';
import { floatKernels, launchBroadcast, ORDERED_WGSL } from '../kernels/wgsl/elementwise.js';
import type { ReduceKind } from '../kernels/wgsl/reduce.js';
import { full } from '../tensor/create.js';
import { broadcastStrides, type Shape } from '../tensor/shape.js';
import { FLOAT_DTYPES, floatType, Tensor } from '../tensor/tensor.js';
import { checkAxes, checkAxis, checkBoolean, checkTensor } from '../tensor/check.js';
import { expand } from './broadcast.js';
import { div, mul } from './elementwise.js';
import { reduceInto } from './reduce-launch.js';
import { reshape } from './shape.js';


export type Axes = number | readonly number[];

export function reducedShape(shape: Shape, axes: number[], keepdim: boolean): number[] {
  return keepdim ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

function runReduce(op: string, kind: ReduceKind, a: Tensor, axes: number[], keepdim: boolean, mean = false): Tensor {
  const r = axes.reduce((n, i) => n * (a.shape[i] ?? 1), 1); // a 0-d tensor's axis 0 has one element
  return reduceInto(op, kind, a, axes, reducedShape(a.shape, axes, keepdim), mean ? 1 / Math.max(r, 1) : 1);
}

/** A gradient of a keepdim=false reduction, reshaped so it broadcasts against the input again. */
function keepdimView(g: Tensor, inputShape: Shape, axes: number[]): Tensor {
  return reshape(g, reducedShape(inputShape, axes, true));
}

/** The checked (input, axes, keepdim) of a reduction's call; axes normalised and sorted. */
export function reduceArgs(op: string, a: Tensor, axes: unknown, keepdim: unknown): [Tensor, number[], boolean] {
  checkTensor(op, 'input', a);
  return [a, checkAxes(op, 'axes', axes, a), checkBoolean(op, 'keepdim', keepdim)];
}

/** The max, min, argmax or argmin of no elements is undefined: an error naming the op, as in PyTorch. */
function assertNonEmpty(op: string, a: Tensor, axes: number[]): void {
  const empty = axes.find((i) => a.shape[i] === 0);
  if (empty !== undefined) {
    throw new RangeError(`${op}: argument 'input' must have elements along the reduced axes, got ${a.describe()} reduced over axis ${empty}`);
  }
}

function sumLike(name: 'sum' | 'mean') {
  const op = defineOp({
    name,
    dtypes: { input: FLOAT_DTYPES },
    forward(_ctx: OpContext, a: Tensor, axes: number[], keepdim: boolean) {
      // the mean of no elements is 0 / 0
      if (name === 'mean' && axes.some((i) => a.shape[i] === 0)) return full(reducedShape(a.shape, axes, keepdim), NaN, a.dtype);
      return runReduce(name, 'sum', a, axes, keepdim, name === 'mean');
    },
    shape: ([a, axes, keepdim]) => ({ shape: reducedShape(a.shape, axes, keepdim), dtype: a.dtype }),
    backward(_ctx, g, [a, axes]) {
      // d sum = broadcast(dg); d mean = broadcast(dg) / R
      const shape = a.shape;
      const gk = keepdimView(g, shape, axes);
      const grad = expand(gk, shape);
      gk.dispose();
      if (name === 'sum') return [grad];
      const r = axes.reduce((n, a) => n * (shape[a] ?? 1), 1); // a 0-d tensor's axis 0 has one element
      const scaled = mul(grad, 1 / Math.max(r, 1));
      grad.dispose();
      return [scaled];
    },
  });
  return withFront(op, (a: Tensor, axes?: Axes, keepdim: boolean = false) => op(...reduceArgs(name, a, axes, keepdim)));
}

export const sum = sumLike('sum');
export const mean = sumLike('mean');

// 1 where an element ties with the max (or min) of its row (-0 with +0, NaN with NaN), 0 elsewhere
const tiesK = floatKernels('max_ties', 'select(0.0, 1.0, max_ties(x, y))', { helpers: ORDERED_WGSL });

/** max or min (amax, amin: values only) over the normalised axes. */
function extremum(name: 'max' | 'min') {
  const op = defineOp({
    name,
    dtypes: { input: FLOAT_DTYPES },
    forward(ctx: OpContext, a: Tensor, axes: number[], keepdim: boolean) {
      const out = runReduce(name, name, a, axes, true);
      ctx.save(a, out);
      if (keepdim) return out;
      const squeezed = reshape(out, reducedShape(a.shape, axes, false));
      out.dispose();
      return squeezed;
    },
    shape([a, axes, keepdim]) {
      assertNonEmpty(name, a, axes);
      return { shape: reducedShape(a.shape, axes, keepdim), dtype: a.dtype };
    },
    backward(ctx, g) {
      // the gradient is shared equally among the elements that equal the result (the NaNs, if it is NaN)
      const [a, m] = ctx.saved as [Tensor, Tensor];
      const gk = reshape(g, m.shape);
      const mask = Tensor.empty(a.shape, a.dtype, `${name} backward`);
      const inputs = [a, m].map((t) => ({ buffer: t.buffer(), strides: broadcastStrides(t.shape, a.shape) }));
      launchBroadcast(tiesK(floatType(a.dtype)), inputs, mask.buffer(), a.shape, a.size);
      const axes = m.shape.flatMap((d, i) => (d === 1 && a.shape[i] !== 1 ? [i] : []));
      const count = runReduce(`${name} backward`, 'sum', mask, axes, true);
      const share = div(gk, count);
      const grad = mul(mask, share);
      for (const t of [gk, mask, count, share]) t.dispose();
      return [grad];
    },
  });
  return withFront(op, (a: Tensor, axes?: Axes, keepdim: boolean = false) => op(...reduceArgs(name, a, axes, keepdim)));
}

/** IEEE max: NaN if any reduced element is NaN; +0 ranks above -0. */
export const max = extremum('max');
/** IEEE min: NaN if any reduced element is NaN; -0 ranks below +0. */
export const min = extremum('min');

/** argmax or argmin along one axis, or into the flattened tensor without one. */
function argExtremum(name: 'argmax' | 'argmin') {
  const op = defineOp({
    name,
    dtypes: { input: FLOAT_DTYPES },
    forward(_ctx: OpContext, a: Tensor, axes: number[], keepdim: boolean) {
      return runReduce(name, name, a, axes, keepdim);
    },
    shape([a, axes, keepdim]) {
      assertNonEmpty(name, a, axes);
      return { shape: reducedShape(a.shape, axes, keepdim), dtype: 'int32' };
    },
    backward: NOT_DIFFERENTIABLE,
  });
  return withFront(op, (a: Tensor, axis?: number, keepdim: boolean = false) => {
    checkTensor(name, 'input', a);
    const axes = axis === undefined ? checkAxes(name, 'axis', axis, a) : [checkAxis(name, 'axis', axis, a)];
    return op(a, axes, checkBoolean(name, 'keepdim', keepdim));
  });
}

/** Index of the (first) maximum along one axis, or into the flattened tensor without one; int32. A NaN is the maximum, as in PyTorch; -0 ties with +0. */
export const argmax = argExtremum('argmax');
/** Index of the (first) minimum, as argmax; a NaN is the minimum too, as in PyTorch. */
export const argmin = argExtremum('argmin');
