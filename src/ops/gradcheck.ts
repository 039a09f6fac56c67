// gradcheck for user-written ops: compares the analytic gradient of sum(w * fn(inputs)) (random
// fixed weights w) with central finite differences computed by the engine itself in float32.
// float32 differences are noisy, so keep inputs O(1), eps around 1e-2..1e-3 and tolerances loose;
// the engine's own tests compare against a float64 reference instead.
import { noGrad } from '../autograd/mode.js';
import { checkNonNegative, describeValue } from '../tensor/check.js';
import { scope } from '../tensor/scope.js';
import { tensor, type Tensor } from './api.js';

export interface GradcheckOptions {
  eps?: number;
  atol?: number;
  rtol?: number;
  seed?: number;
}

export interface GradcheckResult {
  ok: boolean;
  /** Largest excess of |analytic - numeric| over atol + rtol |numeric| (<= 0 when ok). */
  maxError: number;
  /** Where it failed: input index, flat element index, analytic and numeric values. */
  worst?: { input: number; index: number; analytic: number; numeric: number };
}

export async function gradcheck(
  fn: (...xs: Tensor[]) => Tensor,
  inputs: { data: ArrayLike<number>; shape: readonly number[] }[],
  opts: GradcheckOptions = {},
): Promise<GradcheckResult> {
  if (typeof fn !== 'function') throw new TypeError(`gradcheck: argument 'fn' must be a function, got ${describeValue(fn)}`);
  const { eps = 1e-2, atol = 1e-2, rtol = 1e-2, seed = 1 } = opts;
  // eps 0 makes every difference NaN, a failure whatever the gradient
  if (typeof eps !== 'number' || !(Number.isFinite(eps) && eps > 0)) throw new RangeError(`gradcheck: argument 'eps' must be a finite number > 0, got ${describeValue(eps)}`);
  checkNonNegative('gradcheck', 'atol', atol);
  checkNonNegative('gradcheck', 'rtol', rtol);
  return scope(async () => {
    const make = (data: ArrayLike<number>, shape: readonly number[]) => tensor(Float32Array.from(data), shape);
    const xs = inputs.map((i) => make(i.data, i.shape).requiresGrad_());
    const out = fn(...xs);
    const w = pseudoRandom(out.size, seed);
    const weights = make(w, out.shape);
    out.mul(weights).sum().backward();
    const analytic = await Promise.all(xs.map(async (x) => (x.grad ? x.grad.toArray() : new Float32Array(x.size))));
    const lossAt = (k: number, i: number, delta: number) =>
      noGrad(() =>
        scope(async () => {
          const data = Float32Array.from(inputs[k]!.data);
          data[i]! += delta;
          const args = inputs.map((inp, j) => (j === k ? make(data, inp.shape) : make(inp.data, inp.shape)));
          return fn(...args).mul(weights).sum().item();
        }),
      );
    // error = how far |analytic - numeric| exceeds atol + rtol |numeric| (<= 0 passes)
    let worst: GradcheckResult['worst'];
    let maxError = -Infinity;
    for (let k = 0; k < inputs.length; k++) {
      for (let i = 0; i < analytic[k]!.length; i++) {
        const numeric = ((await lossAt(k, i, eps)) - (await lossAt(k, i, -eps))) / (2 * eps);
        const a = analytic[k]![i]!;
        // a NaN on either side is a failure, never a pass (NaN compares false with everything)
        const err = Number.isNaN(a) || Number.isNaN(numeric) ? Infinity : Math.abs(a - numeric) - (atol + rtol * Math.abs(numeric));
        if (err > maxError) [maxError, worst] = [err, { input: k, index: i, analytic: a, numeric }];
      }
    }
    const result: GradcheckResult = { ok: maxError <= 0, maxError, worst };
    return result;
  });
}

function pseudoRandom(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return out;
}
