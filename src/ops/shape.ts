// Shape ops. reshape (and squeeze / unsqueeze, reshapes by another name) is free (a view of the
// same storage); clone copies the buffer whole; permute/transpose, slice, concat and stack
// materialise their result with one raw 32-bit copy kernel (src/kernels/wgsl/copy.ts), so they work
// on float32 and int32 alike (float16 takes its 16-bit twin). slice, concat and stack copy [outer, len, inner] blocks between axis offsets.
import { isGradEnabled } from '../autograd/mode.js';
import { checkArgs, defineOp, listOf, NOT_DIFFERENTIABLE, withFront, type OpContext, type OutputType } from '../autograd/op.js';
import { device } from '../device/device.js';
import { launchCopy } from '../kernels/wgsl/copy.js';
import { zeros } from '../tensor/create.js';
import { formatShape, numel, sameShape, stridesOf, type Shape } from '../tensor/shape.js';
import { assertRank, checkAxis, checkInteger, checkTensor, describeValue } from '../tensor/check.js';
import { bufferBytes, elementBytes, Tensor, type DType } from '../tensor/tensor.js';
import { defineUpdate } from './update.js';

const ANY: readonly DType[] = ['float32', 'float16', 'int32'];

const bytesOf = (t: Tensor) => elementBytes(t.dtype) as 2 | 4;

function resolveShape(op: string, t: Tensor, shape: Shape): number[] {
  // a dim that is no number is shown as given: formatShape's join shows '3' as 3
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number')) throw new TypeError(`${op}: argument 'shape' must be an array of integers (one may be -1), got ${describeValue(shape)}`);
  const free = shape.filter((d) => d === -1).length;
  if (free > 1 || shape.some((d) => !Number.isInteger(d) || d < -1)) {
    throw new RangeError(`${op}: argument 'shape' must be integers >= 0 with at most one -1, got ${formatShape(shape)} for ${t.describe()}`);
  }
  const known = numel(shape.filter((d) => d !== -1));
  // with elements, a 0 beside the -1 fits none of them: the count check below says so (this said 'with 0 elements')
  if (free && known === 0 && t.size === 0) throw new RangeError(`${op}: cannot infer the -1 of ${formatShape(shape)} for ${t.describe()}: with 0 elements any size fits it`);
  const out = shape.map((d) => (d === -1 ? t.size / known : d));
  if (numel(out) !== t.size || out.some((d) => !Number.isInteger(d))) {
    throw new RangeError(`${op}: cannot reshape ${t.describe()} (${t.size} elements) to ${formatShape(shape)}`);
  }
  return out;
}

const reshapeOp = defineOp({
  name: 'reshape',
  dtypes: { input: ANY },
  forward(_ctx: OpContext, a: Tensor, shape: number[]) {
    return a.alias(shape);
  },
  shape: ([a, shape]) => ({ shape, dtype: a.dtype }),
  backward(_ctx, g, [a]) {
    return [g.alias(a.shape)];
  },
});

/** Same data, another shape (one dimension may be -1). Free: shares the storage. */
export const reshape = withFront(reshapeOp, (t: Tensor, shape: Shape) => reshapeOp(t, resolveShape('reshape', t, shape)));

/** `t` checked as reshape checks it, in the words of `op` (a reshape under another name). */
const viewed = (op: string, t: Tensor) => (checkArgs({ ...reshapeOp.spec, name: op }, [t]), t);

/** Where `op` (unsqueeze, stack) inserts a dim into `t`'s shape: `dim` in [-rank - 1, rank], negative counting from the end, normalised. */
function newDim(op: string, dim: number, t: Tensor): number {
  const r = t.rank;
  const d = checkInteger(op, 'dim', dim, -r - 1, r, `an integer in [${-r - 1}, ${r}] for ${t.describe()}`);
  return d < 0 ? d + r + 1 : d;
}

/** `t` with a dim of size 1 inserted at `dim` (in [-rank - 1, rank], negative from the end), as torch.unsqueeze. Free: a view. */
export const unsqueeze = withFront(reshapeOp, (t: Tensor, dim: number) => {
  const at = newDim('unsqueeze', dim, viewed('unsqueeze', t));
  return reshapeOp(t, [...t.shape.slice(0, at), 1, ...t.shape.slice(at)]);
});

/** `t` without its dims of size 1: all of them, or `dim` alone (as it was where its size is not 1), as torch.squeeze. Free: a view. */
export const squeeze = withFront(reshapeOp, (t: Tensor, dim?: number) => {
  viewed('squeeze', t);
  if (dim === undefined) return reshapeOp(t, t.shape.filter((d) => d !== 1));
  const ax = checkAxis('squeeze', 'dim', dim, t);
  return reshapeOp(t, t.shape.filter((d, i) => i !== ax || d !== 1));
});

/**
 * `t` with dims startDim..endDim (inclusive; negative from the end) merged into one, as
 * torch.flatten: all of them by default; a 0-d tensor becomes [1]. Free: a view.
 */
export const flatten = withFront(reshapeOp, (t: Tensor, startDim = 0, endDim = -1) => {
  viewed('flatten', t);
  const a = checkAxis('flatten', 'startDim', startDim, t); // a 0-d tensor takes -1 or 0, as [1]'s dim
  const b = checkAxis('flatten', 'endDim', endDim, t);
  const dims = t.rank === 0 ? [1] : t.shape;
  if (a > b) throw new RangeError(`flatten: startDim (${startDim}) must not come after endDim (${endDim}) in ${t.describe()}`);
  return reshapeOp(t, [...dims.slice(0, a), numel(dims.slice(a, b + 1)), ...dims.slice(b + 1)]);
});

const cloneOp = defineOp({
  name: 'clone',
  dtypes: { input: ANY },
  forward(_ctx: OpContext, a: Tensor) {
    const out = Tensor.empty(a.shape, a.dtype, 'clone');
    // a buffer copy: no binding, so no limit on its size
    device().copy(a.buffer(), 0, out.buffer(), 0, bufferBytes(a.size, a.dtype));
    return out;
  },
  shape: ([a]) => ({ shape: a.shape, dtype: a.dtype }),
  // d clone = the gradient as it is
  backward: (_ctx, g) => [g.alias(g.shape)],
});

/** A copy of `t` in storage of its own (written to, it leaves `t` alone); the gradient flows through, as torch.clone. */
export const clone = withFront(cloneOp, (t: Tensor) => cloneOp(t));

// ---- permute / transpose ---------------------------------------------------------------------
function checkPermutation(t: Tensor, dims: readonly number[]): number[] {
  if (!Array.isArray(dims) || !dims.every((d) => typeof d === 'number')) throw new TypeError(`permute: argument 'dims' must be an array of ${t.rank} dims, got ${describeValue(dims)}`);
  const perm = dims.map((d) => (Number.isInteger(d) && d < 0 ? d + t.rank : d));
  const valid =
    perm.length === t.rank && perm.every((d) => Number.isInteger(d) && d >= 0 && d < t.rank) && new Set(perm).size === t.rank;
  if (!valid) throw new RangeError(`permute: [${dims.join(', ')}] is not a permutation of the ${t.rank} dims of ${t.describe()}`);
  return perm;
}

/** out[i_0, ..., i_{r-1}] = a[...] with a's dim perm[k] read at out's dim k. */
function permuteCopy(a: Tensor, perm: readonly number[]): Tensor {
  const shape = perm.map((d) => a.shape[d]!);
  const out = Tensor.empty(shape, a.dtype, 'permute');
  const strides = stridesOf(a.shape);
  launchCopy(a.buffer('permute'), out.buffer(), { shape, srcStrides: perm.map((d) => strides[d]!), dstStrides: stridesOf(shape), elementBytes: bytesOf(a) });
  return out;
}

const permuteOp = defineOp({
  name: 'permute',
  dtypes: { input: ANY },
  forward(_ctx: OpContext, a: Tensor, perm: number[]) {
    return permuteCopy(a, perm);
  },
  shape: ([a, perm]) => ({ shape: perm.map((d) => a.shape[d]!), dtype: a.dtype }),
  backward(_ctx, g, [, perm]) {
    // the gradient goes back through the inverse permutation: inv[perm[k]] = k
    const inv = new Array<number>(perm.length);
    perm.forEach((d, k) => (inv[d] = k));
    return [permuteCopy(g, inv)];
  },
});

/** Reorders the dims (out dim k is input dim dims[k]; negative dims allowed). Materialised. */
export const permute = withFront(permuteOp, (t: Tensor, dims: readonly number[]) => permuteOp(checkTensor('permute', 'input', t), checkPermutation(t, dims)));

/** Swaps two dims (the last two by default): a permute. Materialised. */
export function transpose(t: Tensor, d0?: number, d1?: number): Tensor {
  checkTensor('transpose', 'input', t).storage('transpose'); // not under the permute it is
  if (d0 === undefined && d1 === undefined && t.rank < 2) {
    throw new RangeError(`transpose: input must have rank >= 2 to swap its last two dims (the default), got ${t.describe()}`);
  }
  const a = checkAxis('transpose', 'dim0', d0 ?? -2, t);
  const b = checkAxis('transpose', 'dim1', d1 ?? -1, t);
  if (t.rank === 0) return reshapeOp(t, []); // dims 0 and -1 of a 0-d tensor, as torch takes them: nothing to swap
  const perm = [...t.shape.keys()];
  [perm[a], perm[b]] = [b, a];
  return permuteOp(t, perm);
}

/** `x` of rank <= 2 with its dims swapped (as it is for rank 0 and 1: a view), as torch.Tensor.t(). */
export function t(x: Tensor): Tensor {
  checkTensor('t', 'input', x).storage('t');
  if (x.rank > 2) throw new RangeError(`t: input must have rank <= 2, got ${x.describe()}; for the last two dims of a batch use mT or transpose()`);
  return x.rank < 2 ? reshapeOp(x, [...x.shape]) : permuteOp(x, [1, 0]);
}

/** The last two dims of `x` (rank >= 2) swapped, as torch's x.mT (a batch of matrices transposed). Materialised. */
export function mT(x: Tensor): Tensor {
  checkTensor('mT', 'input', x).storage('mT');
  if (x.rank < 2) throw new RangeError(`mT: input must have rank >= 2 (a matrix or a batch of them), got ${x.describe()}`);
  return transpose(x, -2, -1);
}

/**
 * torch's x.T of rank <= 2: t(). Of a higher rank, torch 1.13 reverses all dims with a warning
 * that it will become an error: refused here, naming what to use instead.
 */
export function T(x: Tensor): Tensor {
  checkTensor('T', 'input', x).storage('T');
  if (x.rank > 2) throw new RangeError(`T: input must have rank <= 2, got ${x.describe()} (PyTorch deprecates x.T there); use mT for the last two dims, or permute`);
  return t(x);
}

// ---- slice / concat ----------------------------------------------------------------------------
/** The shape as [outer, axis, inner] around `axis`. */
function around(shape: Shape, axis: number): [number, number, number] {
  return [numel(shape.slice(0, axis)), shape[axis]!, numel(shape.slice(axis + 1))];
}

/**
 * Blocks of at most this many contiguous runs are copied buffer to buffer, one copy a run, rather
 * than by the copy kernel: measured on lavapipe, decoding a batch of 8 (each step appends a row to
 * every sequence's cache, [8, Tk, 3C], in each layer) spent 28 of its 53 ms of GPU time a step in
 * the kernel's per-word index arithmetic; a buffer copy is a memcpy there.
 */
const BUFFER_COPY_RUNS = 16;

/**
 * Copies the [outer, len, inner] block starting at `srcOff` along the axis of `src` (axis length
 * `srcLen`) into `dst` at `dstOff` (axis length `dstLen`).
 */
function copyBlock(
  src: Tensor, dst: Tensor,
  [outer, len, inner]: [number, number, number],
  srcLen: number, srcOff: number, dstLen: number, dstOff: number,
): void {
  const bytes = bytesOf(src);
  // buffer copies move whole 4-byte words: float16 runs must start and end on word boundaries
  if (outer <= BUFFER_COPY_RUNS && [srcLen, srcOff, dstLen, dstOff, len].every((n) => (n * inner * bytes) % 4 === 0)) {
    // a few contiguous runs (a KV cache growing by a row per sequence, the last position of each)
    for (let o = 0; o < outer; o++) device().copy(src.buffer(), bytes * (o * srcLen + srcOff) * inner, dst.buffer(), bytes * (o * dstLen + dstOff) * inner, bytes * len * inner);
    return;
  }
  launchCopy(src.buffer(), dst.buffer(), {
    shape: [outer, len, inner],
    srcStrides: [srcLen * inner, inner, 1],
    dstStrides: [dstLen * inner, inner, 1],
    srcBase: srcOff * inner,
    dstBase: dstOff * inner,
    elementBytes: bytes,
  });
}

function axisOf(op: string, t: Tensor, axis: number, what = 'input'): number {
  checkTensor(op, what, t);
  assertRank(op, t, 1, what);
  return checkAxis(op, 'axis', axis, t);
}

/** Python's slice bound: negative counts from the end, then clamped to [0, n]. */
function bound(i: number, n: number): number {
  return Math.min(Math.max(i < 0 ? i + n : i, 0), n);
}

/** Elements [start, start + len) along `axis` of `a`, copied into a new tensor (of `shape`, as many elements: stack's piece without its axis, cat's skipped [0]). */
export function sliceCopy(a: Tensor, axis: number, start: number, len: number, shape: readonly number[] = a.shape.map((d, i) => (i === axis ? len : d))): Tensor {
  const out = Tensor.empty(shape, a.dtype, 'slice');
  const [outer, n, inner] = around(a.shape, axis);
  copyBlock(a, out, [outer, len, inner], n, start, len, 0);
  return out;
}

/** Writes `g` into `dst` from `start` along `axis` (g's other dims are dst's): where a slice's gradient goes. */
export function placeSlice(g: Tensor, dst: Tensor, axis: number, start: number): void {
  const [outer, len, inner] = around(g.shape, axis);
  copyBlock(g, dst, [outer, len, inner], len, 0, dst.shape[axis]!, start);
}

const sliceOp = defineOp({
  name: 'slice',
  dtypes: { input: ANY },
  forward(_ctx: OpContext, a: Tensor, axis: number, start: number, len: number) {
    return sliceCopy(a, axis, start, len);
  },
  shape: ([a, axis, , len]) => ({ shape: a.shape.map((d, i) => (i === axis ? len : d)), dtype: a.dtype }),
  backward(_ctx, g, [a, axis, start]) {
    // d slice = the gradient placed in the sliced region of zeros
    const dx = zeros(a.shape, g.dtype);
    placeSlice(g, dx, axis, start);
    return [dx];
  },
});

/** Elements [start, end) along `axis`, bounds like Python's (negative from the end, clamped; may be empty). */
export const slice = withFront(sliceOp, (t: Tensor, axis: number, start: number = 0, end?: number) => {
  const ax = axisOf('slice', t, axis);
  const n = t.shape[ax]!;
  // with describeValue: a string '0' read as 'got start 0', as if that were allowed
  const bounds = 'an integer (negative counts from the end)';
  checkInteger('slice', 'start', start, -Infinity, Infinity, bounds);
  if (end !== undefined) checkInteger('slice', 'end', end, -Infinity, Infinity, `${bounds}, or undefined for the rest`);
  const s = bound(start, n);
  const e = end === undefined ? n : bound(end, n);
  return sliceOp(t, ax, s, Math.max(e - s, 0));
});

/**
 * Sets the elements [start, start + n) along `axis` of `dst` to `src` (n: src's length there; its
 * other dims are dst's), in place: PyTorch's `dst.narrow(axis, start, n).copy_(src)`. A KV cache
 * writes each step's positions into its room to grow with it, instead of copying itself whole.
 */
export const sliceAssign = defineUpdate({
  name: 'sliceAssign',
  dtypes: { dst: ANY, src: ANY },
  run(dst: Tensor, src: Tensor, axis: number, start: number) {
    const ax = axisOf('sliceAssign', dst, axis, 'dst');
    placeSlice(src, dst, ax, start);
    return [dst];
  },
  check([dst, src, axis, start]) {
    const ax = axisOf('sliceAssign', dst, axis, 'dst');
    const fits = src.rank === dst.rank && src.shape.every((d, i) => (i === ax ? d <= dst.shape[i]! : d === dst.shape[i]));
    if (src.dtype !== dst.dtype || !fits) {
      throw new Error(`sliceAssign: src ${src.describe()} must be dst ${dst.describe()}'s dtype and shape, at most as long along axis ${ax}`);
    }
    // PyTorch records a write into a tensor in the graph (CopySlices); here the gradient would flow as
    // if dst held its old values, and none to src: refused unless gradients are off, as torch.no_grad()
    for (const [arg, t] of [['dst', dst], ['src', src]] as const) {
      if (t.requiresGrad && isGradEnabled()) {
        throw new Error(`sliceAssign: ${arg} ${t.describe()} requires grad, and an in-place write is not recorded for backward; write under noGrad(), or build the tensor with slice and concat`);
      }
    }
    // a buffer copy, or a kernel binding it twice, from a buffer into itself is invalid in WebGPU
    if (src.storage('sliceAssign') === dst.storage('sliceAssign')) throw new Error(`sliceAssign: src ${src.describe()} shares dst ${dst.describe()}'s storage; copy it first`);
    const room = dst.shape[ax]! - src.shape[ax]!;
    if (!Number.isInteger(start) || start < 0 || start > room) throw new Error(`sliceAssign: start must be an integer in [0, ${room}], got ${start}`);
  },
  backward: NOT_DIFFERENTIABLE,
});

/** `ts` copied one after another along `axis` of a new tensor of `out`, each `lengthOf(t)` long there (stack: 1). */
function joinAlong(out: OutputType, ts: readonly Tensor[], axis: number, lengthOf: (t: Tensor) => number): Tensor {
  const joined = Tensor.empty(out.shape, out.dtype, 'concat');
  const [outer, total, inner] = around(out.shape, axis);
  let off = 0;
  for (const t of ts) {
    const len = lengthOf(t);
    copyBlock(t, joined, [outer, len, inner], len, 0, total, off);
    off += len;
  }
  return joined;
}

/** A 1-d empty piece ([0]): torch.cat skips it whatever the others' rank (its legacy rule: torch.cat([x, torch.empty(0)]) is x). */
const legacyEmpty = (t: Tensor) => t.rank === 1 && t.size === 0;

/** How long `t` is along concat's `axis`: 0 for a piece it skips. */
const lengthAlong = (t: Tensor, axis: number) => (legacyEmpty(t) ? 0 : t.shape[axis]!);

const concatOp = defineOp({
  name: 'concat',
  dtypes: { tensors: listOf(ANY) },
  forward(ctx: OpContext, ts: readonly Tensor[], axis: number) {
    return joinAlong(ctx.out, ts, axis, (t) => lengthAlong(t, axis));
  },
  shape([ts, axis]) {
    const first = ts.find((t) => !legacyEmpty(t)) ?? ts[0]!;
    return { shape: first.shape.map((d, i) => (i === axis ? ts.reduce((n, t) => n + lengthAlong(t, axis), 0) : d)), dtype: first.dtype };
  },
  backward(ctx, g, [ts, axis]) {
    // d concat = the gradient cut back into the inputs' pieces
    let off = 0;
    return ts.map((t, k) => {
      const len = lengthAlong(t, axis);
      const piece = ctx.needsGrad[k] ? sliceCopy(g, axis, off, len, t.shape) : null;
      off += len;
      return piece;
    });
  },
});

/**
 * The tensors of `op` (concat, cat, stack), checked as its entry does, in its words: an array of
 * at least one, of one dtype, their shapes alike but along `axis` (stack: alike; cat: [0] pieces aside); returns the axis
 * normalised, among the first's dims (stack: among its dims and one past them). `arg`: the axis' name.
 */
function checkJoin(op: string, tensors: readonly Tensor[], axis: number, stacked: boolean, arg = 'dim'): number {
  if (!Array.isArray(tensors)) throw new TypeError(`${op}: argument 'tensors' must be an array of Tensors, got ${describeValue(tensors)}`);
  if (!tensors.length) throw new RangeError(`${op}: argument 'tensors' must hold at least one tensor, got an empty array`);
  checkArgs({ ...concatOp.spec, name: op, floatsMayDiffer: true }, [tensors]); // (dtypes compared below, with the shapes)
  // cat's reference is its first piece that is not skipped (legacyEmpty), as torch's
  const k = stacked ? 0 : Math.max(tensors.findIndex((t) => !legacyEmpty(t)), 0);
  const first = tensors[k]!;
  if (!stacked) assertRank(op, first, 1, `tensors[${k}]`);
  const at = stacked ? newDim(op, axis, first) : checkAxis(op, arg, axis, first);
  const others = (s: Shape) => s.filter((_, i) => stacked || i !== at);
  for (const t of tensors) {
    if (t.dtype !== first.dtype) throw new Error(`${op}: tensors must share a dtype, got ${tensors.map((x) => x.describe()).join(' and ')}`);
    if (!stacked && legacyEmpty(t)) continue;
    if (t.rank !== first.rank || !sameShape(others(t.shape), others(first.shape))) {
      const rule = stacked ? 'tensors must have one shape' : `shapes must match except along ${arg} ${axis}`;
      throw new Error(`${op}: ${rule}, got ${tensors.map((x) => formatShape(x.shape)).join(' and ')}`);
    }
  }
  return at;
}

/** Joins tensors of one dtype along `axis`; the other dims must agree. */
export const concat = withFront(concatOp, (tensors: readonly Tensor[], axis: number) => concatOp(tensors, checkJoin('concat', tensors, axis, false, 'axis')));

/** concat under PyTorch's name, torch.cat: along `dim`, 0 by default. */
export const cat = withFront(concatOp, (tensors: readonly Tensor[], dim: number = 0) => concatOp(tensors, checkJoin('cat', tensors, dim, false)));

const stackOp = defineOp({
  name: 'stack',
  dtypes: { tensors: listOf(ANY) },
  forward(ctx: OpContext, ts: readonly Tensor[], axis: number) {
    // each input a block of length 1 along the new axis
    return joinAlong(ctx.out, ts, axis, () => 1);
  },
  shape([ts, axis]) {
    const first = ts[0]!;
    return { shape: [...first.shape.slice(0, axis), ts.length, ...first.shape.slice(axis)], dtype: first.dtype };
  },
  backward(ctx, g, [ts, axis]) {
    // d stack = the gradient's slices along the new axis, each without it
    return ts.map((t, k) => (ctx.needsGrad[k] ? sliceCopy(g, axis, k, 1, t.shape) : null));
  },
});

/** Tensors of one dtype and shape joined along a new dim `dim` (in [-rank - 1, rank], 0 by default), as torch.stack. */
export const stack = withFront(stackOp, (tensors: readonly Tensor[], dim: number = 0) => stackOp(tensors, checkJoin('stack', tensors, dim, true)));
