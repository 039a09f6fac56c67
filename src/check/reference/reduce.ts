// Float64 references for the reductions (sum, mean, var, std, max, min, argmax, argmin) over any
// axes, keepdim or not. max, min, argmax and argmin follow IEEE as PyTorch does: NaN wins, +0 ranks above
// -0 (for max and min), argmax and argmin take the first.
import { forEachIndex, numel, reduce, reducedShape, strides, zipN, type Ref } from './array.js';

export const sumRef = (a: Ref, axes: number[], keepdim = false) => reduce(a, axes, 0, (x, y) => x + y, keepdim);

/** The sum divided by the number of reduced elements (NaN for none, 0 / 0). */
export function meanRef(a: Ref, axes: number[], keepdim = false): Ref {
  const n = axes.reduce((p, i) => p * a.shape[i]!, 1);
  const s = sumRef(a, axes, keepdim);
  return { shape: s.shape, data: s.data.map((v) => v / n) };
}

/**
 * The variance over `axes`: squared deviations from the mean summed, divided by N - correction
 * (by 0 where that is not positive, as PyTorch: +inf, or NaN for no deviation); NaN for N = 0.
 */
export function varRef(a: Ref, axes: number[], correction: number, keepdim = false): Ref {
  const n = axes.reduce((p, i) => p * a.shape[i]!, 1);
  const squares = zipN([a, meanRef(a, axes, true)], (x, m) => (x - m) ** 2);
  const s = sumRef(squares, axes, keepdim);
  return { shape: s.shape, data: s.data.map((v) => (n === 0 ? NaN : v / Math.max(n - correction, 0))) };
}

/** The standard deviation: the square root of varRef. */
export function stdRef(a: Ref, axes: number[], correction: number, keepdim = false): Ref {
  const v = varRef(a, axes, correction, keepdim);
  return { shape: v.shape, data: v.data.map(Math.sqrt) };
}

// IEEE max written out (float64): NaN wins, +0 is above -0. Not Math.max, whose NaN and -0 rules
// would then go untested.
function ieeeMax(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return NaN;
  if (a === b) return Object.is(a, -0) ? b : a;
  return a > b ? a : b;
}

// IEEE min written out likewise: NaN wins, -0 is below +0.
function ieeeMin(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return NaN;
  if (a === b) return Object.is(a, -0) ? a : b;
  return a < b ? a : b;
}

/** max over `axes`, starting from -inf. */
export const maxRef = (a: Ref, axes: number[], keepdim = false) => reduce(a, axes, -Infinity, ieeeMax, keepdim);
/** min over `axes`, starting from +inf. */
export const minRef = (a: Ref, axes: number[], keepdim = false) => reduce(a, axes, Infinity, ieeeMin, keepdim);

/**
 * argmax over `axes` as PyTorch defines it: the row-major position, within the reduced axes, of the
 * first NaN, else of the first maximum (-0 ties with +0).
 */
export const argmaxRef = (a: Ref, axes: number[], keepdim = false) => argBest(a, axes, keepdim, (v, best) => v > best);
/** argmin likewise: the first NaN, else the first minimum (-0 ties with +0). */
export const argminRef = (a: Ref, axes: number[], keepdim = false) => argBest(a, axes, keepdim, (v, best) => v < best);

/** The position of the first NaN, else of the first element no later one `beats` (both non-NaN). */
function argBest(a: Ref, axes: number[], keepdim: boolean, beats: (v: number, best: number) => boolean): Ref {
  const keptShape = reducedShape(a.shape, axes, true);
  const kept = strides(keptShape);
  const within = strides(axes.map((d) => a.shape[d]!));
  const data = new Float64Array(numel(keptShape)).fill(-1);
  const best = new Float64Array(data.length);
  forEachIndex(a.shape, (idx, i) => {
    let o = 0;
    let pos = 0;
    idx.forEach((v, d) => {
      const k = axes.indexOf(d);
      if (k < 0) o += v * kept[d]!;
      else pos += v * within[k]!;
    });
    const v = a.data[i]!;
    if (data[o]! < 0 || (!Number.isNaN(best[o]!) && (Number.isNaN(v) || beats(v, best[o]!)))) {
      best[o] = v;
      data[o] = pos;
    }
  });
  return { shape: reducedShape(a.shape, axes, keepdim), data };
}

/**
 * torch.topk along `axis`: the k largest of each line, largest first, and their positions in it.
 * NaN above every number; ties (-0 with +0 too) the lower position first. A 0-d `a` is one line of one.
 */
export function topkRef(a: Ref, k: number, axis: number): { values: Ref; indices: Ref } {
  const shape = a.shape.length ? a.shape.map((d, i) => (i === axis ? k : d)) : [];
  const n = a.shape[axis] ?? 1;
  const inStrides = strides(a.shape);
  const step = inStrides[axis] ?? 1;
  const values = new Float64Array(numel(shape));
  const indices = new Float64Array(values.length);
  const outStep = strides(shape)[axis] ?? 1;
  // NaN first, then the larger (-0 === 0: a tie), then the lower position
  const before = (x: number, y: number, i: number, j: number) =>
    Number.isNaN(x) !== Number.isNaN(y) ? (Number.isNaN(x) ? -1 : 1) : x === y || Number.isNaN(x) ? i - j : x > y ? -1 : 1;
  forEachIndex(shape, (idx, o) => {
    if (idx[axis] ?? 0) return; // once per line, at its first output
    const start = idx.reduce((s, v, d) => s + (d === axis ? 0 : v * inStrides[d]!), 0);
    const order = [...Array(n).keys()].sort((i, j) => before(a.data[start + i * step]!, a.data[start + j * step]!, i, j));
    order.slice(0, k).forEach((i, j) => {
      values[o + j * outStep] = a.data[start + i * step]!;
      indices[o + j * outStep] = i;
    });
  });
  return { values: { shape, data: values }, indices: { shape, data: indices } };
}
