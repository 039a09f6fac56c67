// Float64 references for the reductions (sum, mean, max, argmax) over any axes, keepdim or not.
// max and argmax follow IEEE as PyTorch does: NaN wins, +0 ranks above -0, argmax takes the first.
import { forEachIndex, numel, reduce, reducedShape, strides, type Ref } from './array.js';

export const sumRef = (a: Ref, axes: number[], keepdim = false) => reduce(a, axes, 0, (x, y) => x + y, keepdim);

/** The sum divided by the number of reduced elements (NaN for none, 0 / 0). */
export function meanRef(a: Ref, axes: number[], keepdim = false): Ref {
  const n = axes.reduce((p, i) => p * a.shape[i]!, 1);
  const s = sumRef(a, axes, keepdim);
  return { shape: s.shape, data: s.data.map((v) => v / n) };
}

// IEEE max written out (float64): NaN wins, +0 is above -0. Not Math.max, whose NaN and -0 rules
// would then go untested.
function ieeeMax(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return NaN;
  if (a === b) return Object.is(a, -0) ? b : a;
  return a > b ? a : b;
}

/** max over `axes`, starting from -inf. */
export const maxRef = (a: Ref, axes: number[], keepdim = false) => reduce(a, axes, -Infinity, ieeeMax, keepdim);

/**
 * argmax over `axes` as PyTorch defines it: the row-major position, within the reduced axes, of the
 * first NaN, else of the first maximum (-0 ties with +0).
 */
export function argmaxRef(a: Ref, axes: number[], keepdim = false): Ref {
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
    if (data[o]! < 0 || (!Number.isNaN(best[o]!) && (Number.isNaN(v) || v > best[o]!))) {
      best[o] = v;
      data[o] = pos;
    }
  });
  return { shape: reducedShape(a.shape, axes, keepdim), data };
}
