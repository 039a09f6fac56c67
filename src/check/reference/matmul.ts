// Float64 reference of batched matmul with transposes and NumPy batch broadcasting.
import { broadcastShape, numel, ravel, unravel, type Ref } from './array.js';

/**
 * op(a) · op(b) over the last two dims, batch dims broadcast. As in NumPy, a vector a is a [1, K]
 * row and a vector b a [K, 1] column, that dim dropped from the result (and their flags ignored).
 */
export function matmulRef(a: Ref, b: Ref, transA = false, transB = false): Ref {
  if (a.shape.length === 1 || b.shape.length === 1) {
    const [va, vb] = [a.shape.length === 1, b.shape.length === 1];
    const c = matmulRef(va ? { shape: [1, a.shape[0]!], data: a.data } : a, vb ? { shape: [b.shape[0]!, 1], data: b.data } : b, transA && !va, transB && !vb);
    const r = c.shape.length;
    return { shape: c.shape.filter((_, i) => !(va && i === r - 2) && !(vb && i === r - 1)), data: c.data };
  }
  const [m, k] = transA ? [a.shape.at(-1)!, a.shape.at(-2)!] : [a.shape.at(-2)!, a.shape.at(-1)!];
  const n = transB ? b.shape.at(-2)! : b.shape.at(-1)!;
  const batch = broadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const shape = [...batch, m, n];
  const data = new Float64Array(numel(shape));
  const nb = numel(batch);
  for (let bi = 0; bi < nb; bi++) {
    const idx = unravel(bi, batch);
    const offOf = (r: Ref) => {
      const bs = r.shape.slice(0, -2);
      const pad = idx.length - bs.length;
      return ravel(bs.map((d, j) => (d === 1 ? 0 : idx[j + pad]!)), bs) * r.shape.at(-1)! * r.shape.at(-2)!;
    };
    const ao = offOf(a);
    const bo = offOf(b);
    const lda = a.shape.at(-1)!;
    const ldb = b.shape.at(-1)!;
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) {
          const av = a.data[ao + (transA ? p * lda + i : i * lda + p)]!;
          const bv = b.data[bo + (transB ? j * ldb + p : p * ldb + j)]!;
          s += av * bv;
        }
        data[bi * m * n + i * n + j] = s;
      }
  }
  return { shape, data };
}
