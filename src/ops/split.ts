// split and chunk, as PyTorch's: a tensor cut along one axis into pieces, each a slice (a copy,
// whose gradient flows back through slice's rule). Not entries of the op table: they return arrays.
import { assertRank, checkAxis, checkInteger, checkTensor, describeValue } from '../tensor/check.js';
import type { Tensor } from '../tensor/tensor.js';
import { slice } from './shape.js';

/** The checked axis of `t` to cut along; `t` at least 1-d. */
function cutAxis(op: string, t: Tensor, axis: number): number {
  checkTensor(op, 'input', t).storage(op); // not under the slices it is cut into
  assertRank(op, t, 1);
  return checkAxis(op, 'axis', axis, t);
}

/** Consecutive slices of `t` along `axis` of the given lengths. */
function pieces(t: Tensor, axis: number, lengths: readonly number[]): Tensor[] {
  let start = 0;
  return lengths.map((len) => slice(t, axis, start, (start += len)));
}

/** Lengths of pieces of `size` covering `n` (the last smaller); one empty piece for n = 0. */
const lengthsOf = (n: number, size: number) => Array.from({ length: Math.max(Math.ceil(n / size), 1) }, (_, i) => Math.min(size, n - i * size));

/**
 * `t` cut along `axis` (0 by default): into pieces of `sizeOrSections` elements, the last one
 * smaller, or, given an array, into pieces of those lengths (summing to the axis' length).
 */
export function split(t: Tensor, sizeOrSections: number | readonly number[], axis = 0): Tensor[] {
  const ax = cutAxis('split', t, axis);
  const n = t.shape[ax]!;
  const allowed = 'a non-negative integer or an array of them';
  if (Array.isArray(sizeOrSections)) {
    sizeOrSections.forEach((len: unknown, i) => checkInteger('split', `sizeOrSections[${i}]`, len, 0, Infinity, 'a non-negative integer'));
    const total = sizeOrSections.reduce((a: number, b: number) => a + b, 0);
    if (total !== n) throw new RangeError(`split: argument 'sizeOrSections' must sum to ${n} (axis ${ax} of ${t.describe()}), got ${describeValue(sizeOrSections)} (sum ${total})`);
    return pieces(t, ax, sizeOrSections);
  }
  const size = checkInteger('split', 'sizeOrSections', sizeOrSections, 0, Infinity, allowed);
  if (size === 0 && n > 0) throw new RangeError(`split: argument 'sizeOrSections' may be 0 only for an empty axis, got 0 for axis ${ax} of ${t.describe()}`);
  return pieces(t, ax, size === 0 ? [0] : lengthsOf(n, size));
}

/**
 * `t` cut along `axis` (0 by default) into `chunks` pieces of ceil(n / chunks) elements, the last
 * smaller: fewer pieces where they run out first (6 into 4: three of 2); an empty axis gives
 * `chunks` empty pieces.
 */
export function chunk(t: Tensor, chunks: number, axis = 0): Tensor[] {
  const ax = cutAxis('chunk', t, axis);
  checkInteger('chunk', 'chunks', chunks, 1, Infinity, 'a positive integer');
  const n = t.shape[ax]!;
  return pieces(t, ax, n === 0 ? Array<number>(chunks).fill(0) : lengthsOf(n, Math.ceil(n / chunks)));
}
