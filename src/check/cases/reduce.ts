// Cases of the reductions: any subset of axes (as a list, unsorted and negative ones included, one
// axis as a number, or all by default), keepdim or not; half the inputs larger than a small binding.
import type { Axes, OpName } from '../../ops/index.js';
import type { Tensor } from '../../tensor/tensor.js';
import { bool, distinct, grid, largeShape, permutation, shape, values } from '../draw.js';
import type { Random } from '../random.js';
import type { Ref } from '../reference/array.js';
import { argmaxRef, maxRef, meanRef, sumRef } from '../reference/reduce.js';
import { EXACT, floatInput, type OpCase, type Sample } from '../sample.js';

const allAxes = (rank: number) => [...Array(rank).keys()];

/** One axis as the caller writes it, negative too, and the axes it means (a 0-d tensor takes 0 or -1, as in PyTorch). */
function oneAxis(r: Random, rank: number): [number, number[]] {
  const n = Math.max(rank, 1);
  const axis = r.int(-n, n - 1);
  return [axis, rank ? [(axis + n) % n] : []];
}

/** Axes as the caller writes them (undefined: all; one as a number; a list, unsorted and negative ones included) and the sorted ones they mean. */
function axesOf(r: Random, rank: number): [Axes | undefined, number[]] {
  const kind = r.int(0, 3);
  if (kind === 0) return [undefined, allAxes(rank)];
  if (kind === 1) return oneAxis(r, rank);
  const axes = permutation(r, rank).slice(0, r.int(0, rank));
  return [axes.map((a) => (bool(r) ? a - rank : a)), axes.sort((a, b) => a - b)];
}

type ReduceRef = (a: Ref, axes: number[], keepdim: boolean) => Ref;

/** sum, mean or max of values drawn by `draw`. */
function reduction(reference: ReduceRef, draw: (r: Random, s: number[]) => Ref) {
  return {
    draw(r: Random): Sample<[Tensor, Axes?, boolean?]> {
      const x = draw(r, bool(r) ? largeShape(r) : shape(r));
      const [axes, norm] = axesOf(r, x.shape.length);
      const keepdim = bool(r);
      return { inputs: [floatInput(x)], args: ([t]) => [t!, axes, keepdim], reference: ([a]) => reference(a!, norm, keepdim), tol: { atol: 1e-4, rtol: 1e-4 } };
    },
  };
}

/** argmax along one axis or of the flattened tensor, on small integers (ties: the first wins). */
const argmax = {
  empty: false as const, // an empty reduced axis is refused (no max to take), as in PyTorch
  draw(r: Random): Sample<[Tensor, number?, boolean?]> {
    const x = grid(r, bool(r) ? largeShape(r) : shape(r), -2, 2);
    const rank = x.shape.length;
    const keepdim = bool(r);
    const [axis, axes] = rank && bool(r) ? oneAxis(r, rank) : [undefined, allAxes(rank)];
    return { inputs: [floatInput(x, false)], args: ([t]) => [t!, axis, keepdim], reference: ([a]) => argmaxRef(a!, axes, keepdim), dtype: 'int32', tol: EXACT };
  },
};

export const REDUCE_CASES = {
  sum: reduction(sumRef, values),
  mean: reduction(meanRef, values),
  // distinct values: the gradient of a tied max is shared, which central differences do not see
  max: { ...reduction(maxRef, distinct), empty: false as const },
  argmax,
} satisfies { [K in OpName]?: OpCase<K> };
