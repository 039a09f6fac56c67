// Float64 references for the indexing and copying ops (permute, slice, concat, stack, embedding, dropout,
// cast): simple loops over multi-indices, independent of the engine.
import { forEachIndex, numel, ravel, strides, type Ref } from './array.js';
import { toHalf } from '../sample.js';

export function permuteRef(a: Ref, perm: readonly number[]): Ref {
  const shape = perm.map((d) => a.shape[d]!);
  const src = strides(a.shape);
  const data = new Float64Array(numel(shape));
  forEachIndex(shape, (idx, i) => {
    let off = 0;
    perm.forEach((d, k) => (off += idx[k]! * src[d]!));
    data[i] = a.data[off]!;
  });
  return { shape, data };
}

/** Python-style slice along one axis (bounds already or not yet normalised). */
export function sliceRef(a: Ref, axis: number, start: number, end?: number): Ref {
  const n = a.shape[axis]!;
  const norm = (i: number) => Math.min(Math.max(i < 0 ? i + n : i, 0), n);
  const s = norm(start);
  const e = end === undefined ? n : norm(end);
  const len = Math.max(0, e - s);
  const shape = a.shape.map((d, i) => (i === axis ? len : d));
  const data = new Float64Array(numel(shape));
  const src = [...shape.keys()].map(() => 0);
  forEachIndex(shape, (idx, i) => {
    idx.forEach((v, d) => (src[d] = d === axis ? v + s : v));
    data[i] = a.data[ravel(src, a.shape)]!;
  });
  return { shape, data };
}

export function concatRef(xs: Ref[], axis: number): Ref {
  const shape = [...xs[0]!.shape];
  shape[axis] = xs.reduce((n, x) => n + x.shape[axis]!, 0);
  const data = new Float64Array(numel(shape));
  const src = [...shape.keys()].map(() => 0);
  forEachIndex(shape, (idx, i) => {
    src.splice(0, src.length, ...idx);
    let k = 0;
    while (src[axis]! >= xs[k]!.shape[axis]!) src[axis]! -= xs[k++]!.shape[axis]!;
    data[i] = xs[k]!.data[ravel(src, xs[k]!.shape)]!;
  });
  return { shape, data };
}

/** xs (of one shape) joined along a new dim `axis`: each a block of length 1 there. */
export function stackRef(xs: Ref[], axis: number): Ref {
  return concatRef(xs.map((x) => ({ shape: [...x.shape.slice(0, axis), 1, ...x.shape.slice(axis)], data: x.data })), axis);
}

/** table [V, C] rows at ids (any shape, integer values): [...ids, C]. */
export function embeddingRef(table: Ref, ids: Ref): Ref {
  const C = table.shape[1]!;
  const shape = [...ids.shape, C];
  const data = new Float64Array(numel(shape));
  ids.data.forEach((id, n) => {
    for (let c = 0; c < C; c++) data[n * C + c] = table.data[id * C + c]!;
  });
  return { shape, data };
}

/** d table of embedding for upstream gradient g [...ids, C]: rows summed per id. */
export function embeddingGradRef(V: number, ids: Ref, g: Ref): Ref {
  const C = g.shape.at(-1)!;
  const data = new Float64Array(V * C);
  ids.data.forEach((id, n) => {
    for (let c = 0; c < C; c++) data[id * C + c]! += g.data[n * C + c]!;
  });
  return { shape: [V, C], data };
}

/** x * mask / (1 - p) with the mask given (1 = kept). */
export function dropoutRef(x: Ref, mask: Uint8Array, p: number): Ref {
  return { shape: [...x.shape], data: x.data.map((v, i) => (mask[i] ? v / (1 - p) : 0)) };
}

/** The largest float32 below 2^31: where WGSL's i32() saturates. */
const I32_FROM_F32_MAX = 2 ** 31 - 128;

/** float -> int32 truncates toward zero, saturating to [-2^31, 2^31 - 128]; to a float rounds to nearest (even; float16 overflows to +-Infinity). */
export function castRef(x: Ref, to: 'float32' | 'float16' | 'int32'): Ref {
  const f = to === 'int32' ? (v: number) => Math.min(Math.max(Math.trunc(v), -(2 ** 31)), I32_FROM_F32_MAX) : to === 'float16' ? toHalf : Math.fround;
  return { shape: [...x.shape], data: x.data.map(f) };
}
