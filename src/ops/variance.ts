// var and std over any axes, as PyTorch's: the squared deviations from the mean summed and divided
// by max(N - correction, 0) (correction 1, Bessel's, by default; 0 gives the biased variance),
// and std its square root. A divisor of 0 gives what dividing by it gives: NaN for no deviation
// (or a NaN one: an input's NaN or inf), +inf otherwise, and PyTorch's gradients; these are selected, never computed with (a kernel may
// assume no infinities: issue #13's rule). No elements give NaN. Computed in float32 (float16 inputs widened: squares
// overflow float16 past 256) and rounded once, by the corrected two-pass sum (Chan, Golub, LeVeque):
// Σd² - (Σd)² / N, d = x - mean. The f32 mean is off by δ (at least half an ulp of the mean), which
// the plain Σd² turns into N δ²: at 3000 ± 0.01 relative errors up to 4e-3; - (Σd)² / N takes it
// back out (8e-8), and the gradient's d - Σd / N its δ / std (3.5e-2 -> 6e-8; lavapipe, 3 x 1000).
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
      const meanDev = reduceInto(name, 'sum', dev, axes, kept, 1 / n); // the f32 mean's error, to within rounding
      const sumSquares = correctedSum(name, squares, meanDev, n, axes, kept);
      const divisor = n - correction;
      const variance = divisor > 0 ? div(sumSquares, divisor) : dividedByZero(sumSquares);
      dispose(dev, squares, sumSquares, ...(x === a ? [] : [x]));
      const result = name === 'var' || divisor <= 0 ? variance : sqrt(variance); // std's NaN or inf is its variance's
      ctx.save(a, mean, meanDev, ...(name === 'std' ? [result] : [])); // std's gradient divides by it
      dispose(mean, meanDev, ...(result === variance ? [] : [variance]));
      const out = narrowed(result, a.dtype);
      if (keepdim) return out;
      const squeezed = reshape(out, reducedShape(a.shape, axes, false));
      out.dispose();
      return squeezed;
    },
    shape: ([a, axes, , keepdim]) => ({ shape: reducedShape(a.shape, axes, keepdim), dtype: a.dtype }),
    backward(ctx, g, [a, axes, correction]) {
      // d var = 2 d / divisor g, d = x - mean - meanDev (the forward's Σd² - (Σd)² / N differentiated);
      // d std = d var / (2 std), 0 where std is 0 (PyTorch's subgradient)
      if (a.size === 0) return [zeros(a.shape, a.dtype)];
      const [input, mean, meanDev, std] = ctx.saved as [Tensor, Tensor, Tensor, Tensor?];
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
      const dev = deviations(input, mean, meanDev);
      const grad = mul(dev, coef);
      dispose(...made, coef, dev);
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

/** Σd² - N meanDev² (= Σd² - (Σd)² / N), at least 0 (rounding may take a constant row's below); NaN stays NaN. */
function correctedSum(name: string, squares: Tensor, meanDev: Tensor, n: number, axes: number[], kept: number[]): Tensor {
  const sum = reduceInto(name, 'sum', squares, axes, kept, 1);
  const offset2 = mul(meanDev, meanDev);
  const scaled = mul(offset2, n);
  const corrected = sub(sum, scaled);
  const negative = lt(corrected, 0); // compared by bits: false for NaN
  const out = where(negative, 0, corrected);
  dispose(sum, offset2, scaled, corrected, negative);
  return out;
}

/** x - mean - meanDev: the deviations from the mean the f32 mean misses by meanDev (float32). */
function deviations(input: Tensor, mean: Tensor, meanDev: Tensor): Tensor {
  const x = widened(input);
  const fromMean = sub(x, mean);
  const out = sub(fromMean, meanDev);
  dispose(fromMean, ...(x === input ? [] : [x]));
  return out;
}

/** The variance's sum of squares divided by 0, as IEEE division gives it: +inf where it is positive, NaN where it is 0 or NaN. */
function dividedByZero(sum: Tensor): Tensor {
  const positive = gt(sum, 0); // compared by bits: false for NaN (an input's NaN or inf)
  const out = where(positive, Infinity, NaN);
  positive.dispose();
  return out;
}

/**
 * PyTorch's gradient where the divisor is 0: var's g · (2 / 0) · (x - mean) is ±inf by the signs of
 * g and x - mean, NaN where either is 0 or NaN; std's (that over 2 std, std being inf or NaN) is NaN.
 */
function gradientOverZero(name: string, input: Tensor, mean: Tensor, g: Tensor): Tensor {
  if (name === 'std') return full(input.shape, NaN, 'float32');
  const x = widened(input);
  const dev = sub(x, mean); // by its sign alone: no meanDev, which an inf's NaN deviation would spread over the row
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
