// split and chunk, as PyTorch's: a tensor cut along one axis into pieces, each a copy of its slice.
// Not entries of the op table (they return arrays): one split is two private ops. `cut` hands the
// input on (a view, free) to the pieces; each piece's backward writes its gradient into its slice
// of one input-sized gradient the pieces share, which reaches cut once all of them have run (they
// consume it: the sweep runs them first). A slice each would pad every piece's gradient to the
// input's size and sum those: pieces x size of work and memory, for what is one buffer of copies.
import { currentSweep } from '../autograd/late.js';
import { defineOp, type OpContext } from '../autograd/op.js';
import { assertRank, checkAxis, checkInteger, checkTensor, describeValue } from '../tensor/check.js';
import { zeros } from '../tensor/create.js';
import type { DType, Tensor } from '../tensor/tensor.js';
import { placeSlice, sliceCopy } from './shape.js';

const ANY: readonly DType[] = ['float32', 'float16', 'int32'];

/** What one split's pieces share: the axis, and the input's gradient while their backwards fill it. */
interface Cut {
  axis: number;
  /** cut's context, which owns the gradient (saved there: freed with cut's node, even after a throw) */
  ctx: OpContext | null;
  grad: Tensor | null;
  /** the sweep the gradient is for: one that threw before cut ran leaves it, unfinished, to none after it */
  sweep: object | null;
  /** cut's backward ran, and its node went with that sweep */
  spent: boolean;
}

const cutOp = defineOp({
  name: 'split',
  dtypes: { input: ANY },
  forward(ctx: OpContext, x: Tensor, cut: Cut) {
    cut.ctx = ctx;
    return x;
  },
  shape: ([x]) => ({ shape: x.shape, dtype: x.dtype }),
  backward(_ctx, g, [, cut]) {
    // g is the shared gradient, complete: every piece given one ran before this
    [cut.grad, cut.spent] = [null, true];
    return [g];
  },
});

// a piece takes the input itself too: the gradients of pieces left to a later backward (as a leaf's
// may be, in PyTorch) go to it straight, cut's node being gone
const pieceOp = defineOp({
  name: 'split',
  dtypes: { input: ANY, whole: ANY },
  forward(_ctx: OpContext, x: Tensor, _whole: Tensor, cut: Cut, start: number, len: number) {
    return sliceCopy(x, cut.axis, start, len);
  },
  shape: ([x, , cut, , len]) => ({ shape: x.shape.map((d, i) => (i === cut.axis ? len : d)), dtype: x.dtype }),
  backward(_ctx, g, [x, , cut, start]) {
    const made = cut.spent || cut.sweep !== currentSweep();
    const grad = made ? zeros(x.shape, g.dtype) : cut.grad!;
    placeSlice(g, grad, cut.axis, start);
    if (cut.spent) return [grad, null];
    // the first piece to run in a sweep hands the gradient to cut; the rest write into it
    if (made) {
      cut.ctx!.save(grad);
      [cut.grad, cut.sweep] = [cut.ctx!.saved.at(-1)!, currentSweep()];
    }
    return [null, made ? grad : null];
  },
});

/** The checked axis of `t` to cut along; `t` at least 1-d. */
function cutAxis(op: string, t: Tensor, axis: number): number {
  checkTensor(op, 'input', t).storage(op); // not under the slices it is cut into
  assertRank(op, t, 1);
  return checkAxis(op, 'axis', axis, t);
}

/** Consecutive slices of `t` along `axis` of the given lengths. */
function pieces(t: Tensor, axis: number, lengths: readonly number[]): Tensor[] {
  const cut: Cut = { axis, ctx: null, grad: null, sweep: null, spent: false };
  const whole = cutOp(t, cut);
  let start = 0;
  const out = lengths.map((len) => pieceOp(t, whole, cut, (start += len) - len, len));
  whole.dispose(); // the pieces' nodes hold cut's
  return out;
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
