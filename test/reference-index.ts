// Float64 references for the indexing and copying ops (permute, slice, concat, embedding, dropout,
// cast): simple loops over multi-indices, independent of the engine.
import { numel, ravel, unravel, type Ref } from './reference.js';

export function permuteRef(a: Ref, perm: readonly number[]): Ref {
  const shape = perm.map((d) => a.shape[d]!);
  const data = new Float64Array(numel(shape));
  for (let i = 0; i < data.length; i++) {
    const idx = unravel(i, shape);
    const src = new Array<number>(a.shape.length);
    perm.forEach((d, k) => (src[d] = idx[k]!));
    data[i] = a.data[ravel(src, a.shape)]!;
  }
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
  for (let i = 0; i < data.length; i++) {
    const idx = unravel(i, shape);
    idx[axis]! += s;
    data[i] = a.data[ravel(idx, a.shape)]!;
  }
  return { shape, data };
}

export function concatRef(xs: Ref[], axis: number): Ref {
  const shape = [...xs[0]!.shape];
  shape[axis] = xs.reduce((n, x) => n + x.shape[axis]!, 0);
  const data = new Float64Array(numel(shape));
  for (let i = 0; i < data.length; i++) {
    const idx = unravel(i, shape);
    let k = 0;
    while (idx[axis]! >= xs[k]!.shape[axis]!) idx[axis]! -= xs[k++]!.shape[axis]!;
    data[i] = xs[k]!.data[ravel(idx, xs[k]!.shape)]!;
  }
  return { shape, data };
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
