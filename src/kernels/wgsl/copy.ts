// Strided copy of raw 32-bit words, so one kernel serves float32 and int32 alike (no float
// conversion, every bit pattern survives); its twin copies f16 elements (float16 tensors). For flat index i over `shape` (row-major):
//   dst[dst_base + sum_d idx_d * dst_strides_d] = src[src_base + sum_d idx_d * src_strides_d]
// Callers: permute/transpose (src strides permuted, dst contiguous) and slice/concat, which copy an
// [outer, len, inner] block between axis offsets (a rank-3 call: the strides of each side's full
// axis, the offset along it folded into the base). Adjacent dims that stay adjacent in both layouts
// are merged first, so most copies run at rank 1-3. Where the source or destination is larger
// than a binding, the index space is cut into boxes whose source and destination ranges each fit
// one (halving the dim that spreads them most), each box binding windows of both.
// 1-D grid of 256-lane workgroups (2-D past 65535 groups); one lane per copied word (or half), or
// per 4 words where a copy is rows of whole vec4s (rowsKernel below).
import type { Resource } from '../../device/bind-groups.js';
import { Kernel, perElement, grid1d, shiftedWindow, variants, windowRoom } from '../kernel.js';
import { mergeDims } from '../merge-dims.js';
import { profile } from '../profile.js';

const WG = 256;

const kernel = variants((element: 'u32' | 'f16') => new Kernel({
  name: `copy_${element}`,
  read: { src: element },
  write: { dst: element },
  params: { n: 'u32', rank: 'u32', src_base: 'u32', dst_base: 'u32', shape: 'dims', src_strides: 'dims', dst_strides: 'dims' },
  body: /* wgsl */ `
${perElement(WG, `
  var rem = i;
  var s = p.src_base;
  var d = p.dst_base;
  for (var k = i32(p.rank) - 1; k >= 0; k--) {
    let len = dim(p.shape, u32(k));
    let c = rem % len;
    rem /= len;
    s += c * dim(p.src_strides, u32(k));
    d += c * dim(p.dst_strides, u32(k));
  }
  dst[d] = src[s];`)}`,
}));

// Rows (rank <= 2 after merging, rows contiguous on both sides) of 4-byte words: a lane per word,
// or per 4 words as a vec4 where lengths, bases and row strides are multiples of 4; no index loop.
// Most copies of the big tensors are such blocks (matmul-blocks.ts's bands, the LM head's windows).
const rowsKernel = variants((vec4: boolean) => new Kernel({
  name: `copy_rows${vec4 ? '_vec4' : ''}`,
  read: { src: vec4 ? 'vec4u' : 'u32' },
  write: { dst: vec4 ? 'vec4u' : 'u32' },
  params: { n: 'u32', cols: 'u32', src_base: 'u32', dst_base: 'u32', src_pitch: 'u32', dst_pitch: 'u32' },
  body: perElement(WG, `
  let r = i / p.cols;
  let c = i % p.cols;
  dst[p.dst_base + r * p.dst_pitch + c] = src[p.src_base + r * p.src_pitch + c];`),
}));

/** A copy of 4-byte words as rows (see rowsKernel): its kernel and params, or null when it is not rows. */
function asRows(shape: readonly number[], src: readonly number[], dst: readonly number[], srcBase: number, dstBase: number) {
  if (shape.length > 2 || !(src.at(-1) === 1 && dst.at(-1) === 1)) return null;
  const [rows, cols] = shape.length === 2 ? [shape[0]!, shape[1]!] : [1, shape[0]!];
  const [srcPitch, dstPitch] = shape.length === 2 ? [src[0]!, dst[0]!] : [0, 0];
  const w = [cols, srcBase, dstBase, srcPitch, dstPitch].every((x) => x % 4 === 0) ? 4 : 1;
  const params = { n: (rows * cols) / w, cols: cols / w, src_base: srcBase / w, dst_base: dstBase / w, src_pitch: srcPitch / w, dst_pitch: dstPitch / w };
  return { kernel: rowsKernel(w === 4), params };
}

export interface CopyPlan {
  shape: readonly number[];
  srcStrides: readonly number[];
  dstStrides: readonly number[];
  srcBase?: number;
  dstBase?: number;
  /** Bytes of an element: 4 (the default: float32, int32) or 2 (float16). */
  elementBytes?: 2 | 4;
}

/** Records the copy described by `plan` (nothing for an empty shape). */
export function launchCopy(src: GPUBuffer, dst: GPUBuffer, plan: CopyPlan): void {
  const n = plan.shape.reduce((a, b) => a * b, 1);
  if (n === 0) return;
  const { shape, strides } = mergeDims(plan.shape, [plan.srcStrides, plan.dstStrides]);
  const [srcStrides, dstStrides] = [strides[0]!, strides[1]!];
  const eb = plan.elementBytes ?? 4;
  const launch = (s: Resource, d: Resource, box: Box) => {
    const rows = eb === 4 ? asRows(box.shape, srcStrides, dstStrides, box.srcBase, box.dstBase) : null;
    if (rows) return rows.kernel.launch([s, d], rows.params, grid1d(rows.params.n, WG));
    const count = box.shape.reduce((a, b) => a * b, 1);
    const params = { n: count, rank: shape.length, src_base: box.srcBase, dst_base: box.dstBase, shape: box.shape, src_strides: srcStrides, dst_strides: dstStrides };
    kernel(eb === 2 ? 'f16' : 'u32').launch([s, d], params, grid1d(count, WG));
  };
  const whole = { shape, srcBase: plan.srcBase ?? 0, dstBase: plan.dstBase ?? 0 };
  const limit = profile().bindingLimit;
  if (src.size <= limit && dst.size <= limit) return launch(src, dst, whole);
  for (const box of boxes(whole, srcStrides, dstStrides, Math.max(1, Math.floor(windowRoom() / eb)))) {
    const [s, d] = [shiftedWindow(src, box.srcBase, span(box.shape, srcStrides), eb), shiftedWindow(dst, box.dstBase, span(box.shape, dstStrides), eb)];
    launch(s.binding, d.binding, { shape: box.shape, srcBase: s.shift, dstBase: d.shift });
  }
}

/** A box of a copy's index space: its lengths, and the source and destination elements of its first index. */
interface Box {
  shape: number[];
  srcBase: number;
  dstBase: number;
}

/** Elements from a box's first to its last along `strides` (non-negative), inclusive. */
const span = (shape: readonly number[], strides: readonly number[]) => shape.reduce((a, len, d) => a + (len - 1) * strides[d]!, 1);

/** `box` cut in halves until each one's source and destination spans are at most `room` elements. */
function boxes(box: Box, src: readonly number[], dst: readonly number[], room: number): Box[] {
  if (span(box.shape, src) <= room && span(box.shape, dst) <= room) return [box];
  const spread = box.shape.map((len, d) => (len - 1) * Math.max(src[d]!, dst[d]!));
  const d = spread.indexOf(Math.max(...spread));
  const half = Math.ceil(box.shape[d]! / 2);
  const first = { ...box, shape: box.shape.map((len, k) => (k === d ? half : len)) };
  const second = { shape: box.shape.map((len, k) => (k === d ? len - half : len)), srcBase: box.srcBase + half * src[d]!, dstBase: box.dstBase + half * dst[d]! };
  return [...boxes(first, src, dst, room), ...boxes(second, src, dst, room)];
}
