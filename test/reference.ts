// Plain-TypeScript float64 reference implementations: simple loops, obviously right, independent
// of the engine. Arrays are row-major { shape, data }.
export interface Ref {
  shape: number[];
  data: Float64Array;
}

export const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
export const ref = (shape: number[], data: ArrayLike<number>): Ref => ({ shape, data: Float64Array.from(data) });

export function strides(shape: readonly number[]): number[] {
  const s: number[] = [];
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d]!;
    i = Math.floor(i / shape[d]!);
  }
  return idx;
}

export function ravel(idx: readonly number[], shape: readonly number[]): number {
  let off = 0;
  for (let d = 0; d < shape.length; d++) off = off * shape[d]! + idx[d]!;
  return off;
}

export function map(a: Ref, f: (x: number) => number): Ref {
  return { shape: [...a.shape], data: a.data.map(f) };
}

export function broadcastShape(...shapes: number[][]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const v = s[s.length - rank + i] ?? 1;
      if (v !== 1) {
        if (d !== 1 && d !== v) throw new Error('not broadcastable');
        d = v;
      }
    }
    out.push(d);
  }
  return out;
}

/** Element of `a` at output multi-index `idx` under broadcasting. */
function at(a: Ref, idx: number[]): number {
  const pad = idx.length - a.shape.length;
  let off = 0;
  for (let d = 0; d < a.shape.length; d++) off = off * a.shape[d]! + (a.shape[d] === 1 ? 0 : idx[d + pad]!);
  return a.data[off]!;
}

export function zipN(inputs: Ref[], f: (...v: number[]) => number): Ref {
  const shape = broadcastShape(...inputs.map((a) => a.shape));
  const data = new Float64Array(numel(shape));
  for (let i = 0; i < data.length; i++) {
    const idx = unravel(i, shape);
    data[i] = f(...inputs.map((a) => at(a, idx)));
  }
  return { shape, data };
}

/** Reduces over `axes` (sorted), keepdim or not. */
export function reduce(a: Ref, axes: number[], init: number, f: (acc: number, v: number) => number, keepdim = false): Ref {
  const keptShape = a.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const data = new Float64Array(numel(keptShape)).fill(init);
  for (let i = 0; i < a.data.length; i++) {
    const idx = unravel(i, a.shape).map((v, d) => (axes.includes(d) ? 0 : v));
    const o = ravel(idx, keptShape);
    data[o] = f(data[o]!, a.data[i]!);
  }
  const shape = keepdim ? keptShape : a.shape.filter((_, i) => !axes.includes(i));
  return { shape, data };
}

export const geluTanh = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

/** erf to ~1e-14: Maclaurin series below 2.5, Lentz's continued fraction for erfc above. */
export function erf(x: number): number {
  const a = Math.abs(x);
  if (a < 2.5) {
    let term = a;
    let sum = a;
    for (let n = 1; n < 80; n++) {
      term *= (-a * a) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(a) = exp(-a^2) / sqrt(pi) * 1 / (a + (1/2) / (a + 1 / (a + (3/2) / (a + 2 / (a + ...)))))
  let cf = a;
  for (let n = 60; n >= 1; n--) cf = a + n / 2 / cf;
  const erfc = Math.exp(-a * a) / Math.sqrt(Math.PI) / cf;
  return Math.sign(x) * (1 - erfc);
}

export const gelu = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));

export function matmulRef(a: Ref, b: Ref, transA = false, transB = false): Ref {
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

/**
 * Causal self-attention over packed qkv [B, T, 3C] (q | k | v, head h at columns h*HS..):
 * y [B, T, C]. With `context` [B, Tk, 3C], keys/values come from it and the queries are its last T positions.
 */
export function causalAttentionRef(qkv: Ref, nHead: number, context: Ref = qkv): Ref {
  const [B, T, C3] = qkv.shape as [number, number, number];
  const C = C3 / 3;
  const HS = C / nHead;
  const Tk = context.shape[1]!;
  const y = new Float64Array(B * T * C);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < nHead; h++)
      for (let i = 0; i < T; i++) {
        const q = (d: number) => qkv.data[(b * T + i) * C3 + h * HS + d]!;
        const kv = (j: number, part: number, d: number) => context.data[(b * Tk + j) * C3 + part * C + h * HS + d]!;
        const s: number[] = [];
        for (let j = 0; j <= Tk - T + i; j++) {
          let dot = 0;
          for (let d = 0; d < HS; d++) dot += q(d) * kv(j, 1, d);
          s.push(dot / Math.sqrt(HS));
        }
        const m = Math.max(...s);
        const e = s.map((v) => Math.exp(v - m));
        const z = e.reduce((a, c) => a + c, 0);
        for (let d = 0; d < HS; d++) {
          let acc = 0;
          e.forEach((p, j) => (acc += (p / z) * kv(j, 2, d)));
          y[(b * T + i) * C + h * HS + d] = acc;
        }
      }
  return { shape: [B, T, C], data: y };
}
