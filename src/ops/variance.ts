// var and std over any axes, as PyTorch's: the squared deviations from the mean summed and divided
// by max(N - correction, 0) (correction 1, Bessel's, by default; 0 gives the biased variance),
// and std its square root. A divisor of 0 gives what dividing by it gives: NaN for no deviation
// (or a NaN one: an input's NaN or inf), +inf otherwise, and PyTorch's gradients; these are selected, never computed with (a kernel may
// assume no infinities: issue #13's rule). No elements give NaN. Computed in float32 (float16 inputs widened: squares
// overflow float16 past 256) and rounded once.
import { defineOp, withFront, type OpContext } from '../autograd/op.js';
import { full, zeros } from '../tensor/create.js';
import { checkNumber, checkOptionKeys } from '../tensor/check.js';
import { FLOAT_DTYPES, Tensor, type DType, type PlainDType } from '../tensor/tensor.js';
import { cast } from './cast.js';
import { div, eq, gt, lt, mul, ne, sqrt, sub, where } from './elementwise.js';
import { reduceInto } from './reduce-launch.js';
import { reduceArgs, reducedShape, type Axes } from './reduce.js';
import { reshape } from './shape.js';

export interface VarianceOptions {
  /** Subtracted from the count of reduced elements to give the divisor: 1 (unbiased, the default) or 0 (biased), any number. */
  correction?: number;
  keepdim?: boolean;
}

const count = (shape: readonly number[], axes: number[]) => axes.reduce((n, i) => n * (shape[i] ?? 1), 1); // a 0-d tensor's axis 0 has one element

/** `t` as float32: itself, or a new widened copy. */
const widened = (t: Tensor) => (t.dtype === 'float32' ? t : cast(t, 'float32'));

/** `t` (float32) in `dtype` (a float dtype: the op's slot): itself, or a rounded copy with `t` disposed. */
function narrowed(t: Tensor, dtype: DType): Tensor {
  if (dtype === 'float32') return t;
  const out = cast(t, dtype as PlainDType);
  t.dispose();
  return out;
}

/** Frees a forward's or backward's intermediates. */
const dispose = (...ts: Tensor[]) => ts.forEach((t) => t.dispose());

function varianceLike(name: 'var' | 'std') {
  const op = defineOp({
    name,
    dtypes: { input: FLOAT_DTYPES },
    forward(ctx: OpContext, a: Tensor, axes: number[], correction: number, keepdim: boolean) {
      const n = count(a.shape, axes);
      if (n === 0) return full(reducedShape(a.shape, axes, keepdim), NaN, a.dtype);
      const x = widened(a);
      const kept = reducedShape(a.shape, axes, true);
      const mean = reduceInto(name, 'sum', x, axes, kept, 1 / n);
      const dev = sub(x, mean);
      const squares = mul(dev, dev);
      const divisor = n - correction;
      const variance = divisor > 0 ? reduceInto(name, 'sum', squares, axes, kept, 1 / divisor) : dividedByZero(name, squares, axes, kept);
      dispose(dev, squares, ...(x === a ? [] : [x]));
      const result = name === 'var' || divisor <= 0 ? variance : sqrt(variance); // std's NaN or inf is its variance's
      ctx.save(a, mean, ...(name === 'std' ? [result] : [])); // std's gradient divides by it
      dispose(mean, ...(result === variance ? [] : [variance]));
      const out = narrowed(result, a.dtype);
      if (keepdim) return out;
      const squeezed = reshape(out, reducedShape(a.shape, axes, false));
      out.dispose();
      return squeezed;
    },
    shape: ([a, axes, , keepdim]) => ({ shape: reducedShape(a.shape, axes, keepdim), dtype: a.dtype }),
    backward(ctx, g, [a, axes, correction]) {
      // d var = 2 (x - mean) / divisor g; d std = d var / (2 std), 0 where std is 0 (PyTorch's subgradient)
      if (a.size === 0) return [zeros(a.shape, a.dtype)];
      const [input, mean, std] = ctx.saved as [Tensor, Tensor, Tensor?];
      const divisor = count(a.shape, axes) - correction;
      const g32 = widened(g);
      const gk = reshape(g32, mean.shape);
      const made = [gk, ...(g32 === g ? [] : [g32])];
      if (divisor <= 0) {
        const grad = gradientOverZero(name, input, mean, gk);
        dispose(...made);
        return [narrowed(grad, a.dtype)];
      }
      let coef: Tensor;
      if (!std) coef = mul(gk, 2 / divisor);
      else {
        const [stdTimesDivisor, flat] = [mul(std, divisor), eq(std, 0)];
        const slope = div(gk, stdTimesDivisor);
        coef = where(flat, 0, slope);
        made.push(stdTimesDivisor, flat, slope);
      }
      const x = widened(input);
      const dev = sub(x, mean);
      const grad = mul(dev, coef);
      dispose(...made, coef, dev, ...(x === input ? [] : [x]));
      return [narrowed(grad, a.dtype)];
    },
  });
  return withFront(op, (a: Tensor, axes?: Axes, opts: VarianceOptions = {}): Tensor => {
    checkOptionKeys(name, opts, ['correction', 'keepdim']); // torch's unbiased=False is correction: 0 here
    const correction = checkNumber(name, 'correction', opts.correction ?? 1, true);
    const [input, normalised, keepdim] = reduceArgs(name, a, axes, opts.keepdim ?? false);
    return op(input, normalised, correction, keepdim);
  });
}

/** The variance's sum of squares divided by 0, as IEEE division gives it: +inf where it is positive, NaN where it is 0 or NaN. */
function dividedByZero(name: string, squares: Tensor, axes: number[], kept: number[]): Tensor {
  const sum = reduceInto(name, 'sum', squares, axes, kept, 1);
  const positive = gt(sum, 0); // compared by bits: false for NaN (an input's NaN or inf)
  const out = where(positive, Infinity, NaN);
  dispose(sum, positive);
  return out;
}

/**
 * PyTorch's gradient where the divisor is 0: var's g · (2 / 0) · (x - mean) is ±inf by the signs of
 * g and x - mean, NaN where either is 0 or NaN; std's (that over 2 std, std being inf or NaN) is NaN.
 */
function gradientOverZero(name: string, input: Tensor, mean: Tensor, g: Tensor): Tensor {
  if (name === 'std') return full(input.shape, NaN, 'float32');
  const x = widened(input);
  const dev = sub(x, mean);
  // compared by bits: a 0 or NaN is neither above nor below 0
  const [devUp, devDown, gUp, gDown] = [gt(dev, 0), lt(dev, 0), gt(g, 0), lt(g, 0)];
  const [devSigned, gSigned, sameSign] = [ne(devUp, devDown), ne(gUp, gDown), eq(devUp, gUp)];
  const bothSigned = mul(devSigned, gSigned);
  const signed = where(sameSign, Infinity, -Infinity);
  const out = where(bothSigned, signed, NaN);
  dispose(dev, devUp, devDown, gUp, gDown, devSigned, gSigned, sameSign, bothSigned, signed, ...(x === input ? [] : [x]));
  return out;
}

/** Variance over `axes` (all by default): PyTorch's var, correction 1 (unbiased) unless given. */
export const variance = varianceLike('var');
/** Standard deviation over `axes`: the square root of var, with its correction. */
export const std = varianceLike('std');
