// Cases of the reductions: any subset of axes (as a list, unsorted and negative ones included, one
// axis as a number, or all by default), keepdim or not; half the inputs larger than a small binding.
// var and std with a correction drawn (the default 1, 0, 2) below the count of reduced elements.
import type { Axes, OpName } from '../../ops/index.js';
import type { Tensor } from '../../tensor/tensor.js';
import { bool, cap, distinct, grid, largeShape, MAX_SIZE, permutation, pick, shape, values } from '../draw.js';
import type { Random } from '../random.js';
import type { Ref } from '../reference/array.js';
import { argmaxRef, argminRef, maxRef, meanRef, minRef, stdRef, sumRef, topkRef, varRef } from '../reference/reduce.js';
import { EXACT, floatInput, type OpCase, type Sample } from '../sample.js';

const allAxes = (rank: number) => [...Array(rank).keys()];

/** One axis as the caller writes it, negative too, and the axes it means (a 0-d tensor takes 0 or -1, as in PyTorch). */
function oneAxis(r: Random, rank: number): [number, number[]] {
  const n = Math.max(rank, 1);
  const axis = r.int(-n, n - 1);
  return [axis, rank ? [(axis + n) % n] : []];
}

/** One axis of `s` among its dims of at most 70 (dim()'s sizes), as the caller writes it (negative half the time), and the one it means. */
function shortAxis(r: Random, s: readonly number[]): [number, number[]] {
  const axis = pick(r, s.flatMap((n, i) => (n <= 70 ? [i] : [])));
  return [axis - (bool(r) ? s.length : 0), [axis]];
}

/** Axes as the caller writes them (undefined: all; one as a number; a list, unsorted and negative ones included) and the sorted ones they mean. */
function axesOf(r: Random, rank: number): [Axes | undefined, number[]] {
  const kind = r.int(0, 3);
  if (kind === 0) return [undefined, allAxes(rank)];
  if (kind === 1) return oneAxis(r, rank);
  const axes = permutation(r, rank).slice(0, r.int(0, rank));
  return [axes.map((a) => (bool(r) ? a - rank : a)), axes.sort((a, b) => a - b)];
}

/**
 * `s` with its empty `axes` made 1 (then capped, as the other dims were not while the tensor was
 * empty): max and argmax refuse an empty reduced axis (no max to take), as PyTorch does, so their
 * empty-dims pass empties only the other dims.
 */
const reducedNonEmpty = (s: number[], axes: number[]) => cap(s.map((d, i) => (axes.includes(i) ? Math.max(d, 1) : d)), MAX_SIZE);

/** Half the shapes larger than a small binding, except in the empty-dims pass (a large shape is never empty: largeShape grows its 0s). */
const drawShape = (r: Random) => (!r.emptyDims && bool(r) ? largeShape(r) : shape(r));

type ReduceRef = (a: Ref, axes: number[], keepdim: boolean) => Ref;

/** sum, mean or max of values drawn by `draw`; `needsReduced`: the reduced axes are never empty. */
function reduction(reference: ReduceRef, draw: (r: Random, s: number[]) => Ref, needsReduced = false) {
  return {
    draw(r: Random): Sample<[Tensor, Axes?, boolean?]> {
      const s = drawShape(r);
      const [axes, norm] = axesOf(r, s.length);
      const x = draw(r, needsReduced ? reducedNonEmpty(s, norm) : s);
      const keepdim = bool(r);
      return { inputs: [floatInput(x)], args: ([t]) => [t!, axes, keepdim], reference: ([a]) => reference(a!, norm, keepdim), tol: { atol: 1e-4, rtol: 1e-4 } };
    },
  };
}

/** argmax or argmin along one axis or of the flattened tensor, on small integers (ties: the first wins). */
function argReduction(reference: ReduceRef) {
  return {
    draw(r: Random): Sample<[Tensor, number?, boolean?]> {
      const s = drawShape(r);
      const rank = s.length;
      // one axis always in the empty-dims pass: the flattened tensor's max needs every dim non-empty
      const [axis, axes] = rank && (r.emptyDims || bool(r)) ? oneAxis(r, rank) : [undefined, allAxes(rank)];
      const x = grid(r, reducedNonEmpty(s, axes), -2, 2);
      const keepdim = bool(r);
      return { inputs: [floatInput(x, false)], args: ([t]) => [t!, axis, keepdim], reference: ([a]) => reference(a!, axes, keepdim), dtype: 'int32', tol: EXACT };
    },
  };
}

/**
 * topk's values or indices along one axis, k from 0 to its size: rows of ties (a coarse grid, with
 * +-Infinity and NaN now and then: NaN ranks above every number), or distinct values, whose values
 * take a gradient (a tie at the k-th or inside the top k would swap places under central
 * differences); those at most 512 elements, so that they stay distinct in float16 too.
 */
function topkCase(result: 'values' | 'indices') {
  return {
    draw(r: Random): Sample<[Tensor, number, number?]> {
      const tied = bool(r);
      let s = tied ? drawShape(r) : shape(r, 0, 4, 512);
      // the axis becomes the kernel's row, which with its k int32 indices must fit one binding
      // (small-bindings: 4 KiB): one of dim()'s sizes (at most 70), not one that largeShape grew
      // (a float16 [2175] was refused); a large shape keeps such an axis, its rows split in chunks
      if (s.length && s.every((n) => n > 70)) s = shape(r, 1);
      const [axis, axes] = tied && s.length ? shortAxis(r, s) : oneAxis(r, s.length);
      const n = s.length ? s[axes[0]!]! : 1;
      const x = tied ? grid(r, s, -2, 2, 0.5) : distinct(r, s);
      if (tied && bool(r)) x.data.forEach((_, i) => r.int(0, 9) === 0 && (x.data[i] = pick(r, [NaN, -Infinity, Infinity])));
      const k = s.length ? pick(r, [0, n, Math.min(n, 1), Math.min(n, 21), r.int(0, n)]) : 1;
      return {
        inputs: [floatInput(x, result === 'values' && !tied)],
        args: ([t]) => [t!, k, axis],
        reference: ([a]) => topkRef(a!, k, axes[0] ?? 0)[result],
        ...(result === 'indices' ? { dtype: 'int32' as const } : {}),
        tol: EXACT,
      };
    },
  };
}

type VarianceRef = (a: Ref, axes: number[], correction: number, keepdim: boolean) => Ref;

/**
 * var or std, correction as the caller writes it (absent: 1) kept below the count N of reduced
 * elements: at N - correction <= 0 the result is +inf or NaN, which central differences cannot
 * check (test/reduce.test.ts does). Distinct values: no row constant but by float16 rounding, where
 * std's gradient is 0 and so are central differences (|+h| - |-h|).
 */
function variance(reference: VarianceRef) {
  return {
    draw(r: Random): Sample<[Tensor, Axes?, { correction?: number; keepdim?: boolean }?]> {
      const s = drawShape(r);
      const [axes, norm] = axesOf(r, s.length);
      const n = norm.reduce((p, i) => p * s[i]!, 1);
      const correction = pick(r, [undefined, 0, 1, 2].filter((c) => n === 0 || (c ?? 1) < n));
      const keepdim = pick(r, [undefined, false, true]);
      const opts = correction === undefined && keepdim === undefined && bool(r) ? undefined : { correction, keepdim };
      return {
        inputs: [floatInput(distinct(r, s))],
        args: ([t]) => [t!, axes, opts],
        reference: ([a]) => reference(a!, norm, correction ?? 1, keepdim ?? false),
        tol: { atol: 1e-4, rtol: 1e-4 },
      };
    },
  };
}

export const REDUCE_CASES = {
  sum: reduction(sumRef, values),
  mean: reduction(meanRef, values),
  // distinct values: the gradient of a tied max is shared, which central differences do not see
  max: reduction(maxRef, distinct, true),
  min: reduction(minRef, distinct, true),
  argmax: argReduction(argmaxRef),
  argmin: argReduction(argminRef),
  topkValues: topkCase('values'),
  topkIndices: topkCase('indices'),
  var: variance(varRef),
  std: variance(stdRef),
} satisfies { [K in OpName]?: OpCase<K> };
