// gradcheck for user-written ops: compares the analytic gradient of sum(w * fn(inputs)) (random
// fixed weights w) with central finite differences computed by the engine itself in float32.
// float32 differences are noisy, so keep inputs O(1), eps around 1e-2..1e-3 and tolerances loose;
// the engine's own tests compare against a float64 reference instead.
import { noGrad } from '../autograd/mode.js';
import { checkInteger, checkNonNegative, checkOptionKeys, checkShape, describeValue } from '../tensor/check.js';
import { formatShape, numel } from '../tensor/shape.js';
import { scope } from '../tensor/scope.js';
import { tensor, Tensor } from './api.js';

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

/** An input of gradcheck: host values and their shape, or a float32 tensor (its values are read back; it is not changed). */
export type GradcheckInput = { data: ArrayLike<number>; shape: readonly number[] } | Tensor;

export async function gradcheck(fn: (...xs: Tensor[]) => Tensor, given: readonly GradcheckInput[], opts: GradcheckOptions = {}): Promise<GradcheckResult> {
  if (typeof fn !== 'function') throw new TypeError(`gradcheck: argument 'fn' must be a function, got ${describeValue(fn)}`);
  checkInputs(given);
  checkOptionKeys('gradcheck', opts, ['eps', 'atol', 'rtol', 'seed']); // { epsilon } was ignored
  const { eps = 1e-2, atol = 1e-2, rtol = 1e-2, seed = 1 } = opts;
  checkInteger('gradcheck', 'seed', seed, 0, 2 ** 32 - 1, 'an integer in [0, 2^32 - 1]');
  // eps 0 makes every difference NaN, a failure whatever the gradient
  if (typeof eps !== 'number' || !(Number.isFinite(eps) && eps > 0)) throw new RangeError(`gradcheck: argument 'eps' must be a finite number > 0, got ${describeValue(eps)}`);
  checkNonNegative('gradcheck', 'atol', atol);
  checkNonNegative('gradcheck', 'rtol', rtol);
  // tensors, as torch.autograd.gradcheck takes them, were refused: read back, perturbed on the host as the values are
  const inputs = await Promise.all(given.map(async (i) => (i instanceof Tensor ? { data: await i.toArray(), shape: i.shape } : i)));
  return scope(async () => {
    const make = (data: ArrayLike<number>, shape: readonly number[]) => tensor(Float32Array.from(data), shape);
    const xs = inputs.map((i) => make(i.data, i.shape).requiresGrad_());
    const out = fn(...xs);
    const w = pseudoRandom(out.size, seed);
    const weights = make(w, out.shape);
    const loss = out.mul(weights).sum();
    // an fn its inputs' gradients do not reach (a detach) has an analytic gradient of 0, to be compared
    if (loss.requiresGrad) loss.backward();
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

/** gradcheck's inputs: an array of { data, shape }, each shape filled by its values (named here, not by tensor()). */
function checkInputs(inputs: unknown): void {
  const allowed = 'an array of { data, shape } or float32 tensors';
  if (!Array.isArray(inputs)) throw new TypeError(`gradcheck: argument 'inputs' must be ${allowed}, got ${describeValue(inputs)}`);
  inputs.forEach((input: unknown, k) => {
    if (input instanceof Tensor) {
      input.storage('gradcheck'); // a disposed one is named here, not read back
      if (input.dtype !== 'float32') throw new TypeError(`gradcheck: inputs[${k}] must be a float32 tensor (the check runs in float32), got ${input.describe()}`);
      return;
    }
    const { data, shape } = (input ?? {}) as { data?: unknown; shape?: unknown };
    if (!(Array.isArray(data) || ArrayBuffer.isView(data))) throw new TypeError(`gradcheck: inputs[${k}] must be { data, shape } with data an array of numbers, or a float32 tensor, got ${describeValue(input)}`);
    const n = numel(checkShape('gradcheck', `inputs[${k}].shape`, shape));
    if ((data as ArrayLike<number>).length !== n) throw new RangeError(`gradcheck: inputs[${k}] has ${(data as ArrayLike<number>).length} values for shape ${formatShape(shape as number[])} (${n} elements)`);
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
