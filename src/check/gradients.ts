// The gradient half of a check: the engine's gradient of L = sum(w * f(x)) (fixed pseudo-random w)
// against central finite differences of the float64 reference, element by element where an input
// is small, at a few drawn elements and along one random direction through all of them where it is
// not. Float64 differences are exact enough to be the yardstick; float32 ones are not.
import { tensor, type Tensor } from '../ops/index.js';
import { describeMismatch, errorRatio } from './compare.js';
import { seededValues } from './random.js';
import type { Ref } from './reference/array.js';
import { GRAD_TOL, toHalf, type Comparison } from './sample.js';

/** Elements of an input whose gradient is checked one by one; beyond, a drawn few and a direction. */
export const FD_ELEMENTS = 16;
/** Central-difference step (float64). */
const H = 1e-5;

export interface SampleOptions {
  /** Per input: does the engine differentiate by it? */
  needsGrad: boolean[];
  /** The elements of an n-element input whose gradient is compared one by one. */
  elements(n: number): number[];
  /** The call, for messages. */
  describe(ts: Tensor[]): string;
  /**
   * Finite differences taken before of the same reference at the same inputs (a fixed check run
   * again under another kernel variant), by `${input}:${element}` and `${input}:direction`: looked
   * up here, and what is missing taken and added.
   */
  numeric?: Map<string, number>;
}

/** The engine's side of a gradient check: the weights of L, and the gradients asked for as read back (null: missing). */
export interface EngineGradients {
  w: Float32Array;
  grads: (ArrayLike<number> | null)[];
}

/**
 * Backpropagates L from y (the engine's result on tensors ts) and starts reading each gradient asked
 * for: called in the tick y's own read starts, the result and the gradients come back in one wait.
 */
export function backpropagate(ts: Tensor[], y: Tensor, opts: SampleOptions): Promise<EngineGradients> {
  // the weights in y's dtype (float16 ones rounded, and the loss below sees them rounded)
  const w = Float32Array.from(seededValues(y.size, 1234 + y.size), y.dtype === 'float16' ? toHalf : Math.fround);
  y.mul(tensor(w, y.shape, y.dtype)).sum().backward();
  const reads = ts.map((t, k) => (opts.needsGrad[k] && t.grad ? t.grad.toArray() : null));
  return Promise.all(reads).then((grads) => ({ w, grads }));
}

/** Compares the gradients `backpropagate` read with central differences of the float64 reference on xs. */
export function compareGradients(c: Comparison, xs: Ref[], ts: Tensor[], { w, grads }: EngineGradients, opts: SampleOptions): { worst: number; failure?: string } {
  const tol = c.gradTol ?? GRAD_TOL;
  const loss = () => {
    const out = (c.gradReference ?? c.reference)(xs).data;
    let s = 0;
    for (let i = 0; i < out.length; i++) s += w[i]! * out[i]!;
    return s;
  };
  // dL/dx along v at the elements `at` of x, by central differences: (L(x + h v) - L(x - h v)) / 2h
  const slope = (x: Float64Array, v: ArrayLike<number>, at: number[]) => {
    const saved = at.map((i) => x[i]!);
    const move = (h: number) => at.forEach((i, j) => (x[i] = saved[j]! + h * v[j]!));
    move(H);
    const up = loss();
    move(-H);
    const down = loss();
    move(0);
    return (up - down) / (2 * H);
  };
  const taken = (key: string, take: () => number) => {
    const known = opts.numeric?.get(key);
    if (known !== undefined) return known;
    const value = take();
    opts.numeric?.set(key, value);
    return value;
  };
  let worst = 0;
  for (const [k, t] of ts.entries()) {
    if (!opts.needsGrad[k]) continue;
    const input = `the gradient of input ${k} (${t.describe()})`;
    const got = grads[k];
    if (!got) return { worst: Infinity, failure: `${input} is missing` };
    const x = xs[k]!.data;
    for (const i of opts.elements(x.length)) {
      const numeric = taken(`${k}:${i}`, () => slope(x, [1], [i]));
      const ratio = errorRatio(got[i]!, numeric, tol);
      worst = Math.max(worst, ratio);
      if (ratio > 1) return { worst, failure: `${input}: ${describeMismatch({ index: i, got: got[i]!, want: numeric, ratio }, xs[k]!.shape, tol)} by finite differences` };
    }
    if (x.length <= FD_ELEMENTS) continue;
    // every element at once: <grad, v> against the slope along v. A correct gradient's errors are far
    // inside the elements' tolerances and do not line up with a random v, so the root-sum-square of
    // v_i tol_i bounds them; a gross error at any one element exceeds it.
    const v = seededValues(x.length, 99 + k);
    const all = [...x.keys()];
    const numeric = taken(`${k}:direction`, () => slope(x, v, all));
    let engine = 0;
    let squares = 0;
    all.forEach((i) => {
      engine += got[i]! * v[i]!;
      squares += (v[i]! * (tol.atol + tol.rtol * Math.abs(got[i]!))) ** 2;
    });
    const bound = Math.sqrt(squares);
    const ratio = Math.abs(engine - numeric) / bound;
    worst = Math.max(worst, ratio);
    if (!(ratio <= 1)) return { worst, failure: `${input} along a random direction is ${engine}, finite differences give ${numeric} (within ${bound}: atol ${tol.atol}, rtol ${tol.rtol} per element)` };
  }
  return { worst };
}
