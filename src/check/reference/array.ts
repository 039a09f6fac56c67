// Float64 arrays for the references: row-major { shape, data }, and the indexing, broadcasting and
// reduction loops the op references are written with. Plain loops, obviously right, independent of
// the engine; an index array is updated in place rather than allocated per element, because the
// gradient checks evaluate a reference dozens of times per sample.
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

/** Calls fn(idx, i) for each multi-index of `shape` in row-major order; `idx` is one array, updated in place. */
export function forEachIndex(shape: readonly number[], fn: (idx: readonly number[], i: number) => void): void {
  const n = numel(shape);
  const idx = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    fn(idx, i);
    for (let d = shape.length - 1; d >= 0 && ++idx[d]! === shape[d]; d--) idx[d] = 0;
  }
}

const dot = (idx: readonly number[], s: readonly number[]) => {
  let off = 0;
  for (let d = 0; d < s.length; d++) off += idx[d]! * s[d]!;
  return off;
};

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

/** Strides that read `shape` as if broadcast to `out`: 0 along the dims it is broadcast over. */
function broadcastStrides(shape: readonly number[], out: readonly number[]): number[] {
  const s = strides(shape);
  const pad = out.length - shape.length;
  return out.map((_, d) => (d < pad || shape[d - pad] === 1 ? 0 : s[d - pad]!));
}

/** f applied elementwise to the inputs broadcast together. */
export function zipN(inputs: Ref[], f: (...v: number[]) => number): Ref {
  const shape = broadcastShape(...inputs.map((a) => a.shape));
  const st = inputs.map((a) => broadcastStrides(a.shape, shape));
  const data = new Float64Array(numel(shape));
  const v = new Array<number>(inputs.length);
  forEachIndex(shape, (idx, i) => {
    for (let k = 0; k < inputs.length; k++) v[k] = inputs[k]!.data[dot(idx, st[k]!)]!;
    data[i] = f(...v);
  });
  return { shape, data };
}

/** The shape left by reducing `axes` (sorted, non-negative). */
export const reducedShape = (shape: readonly number[], axes: readonly number[], keepdim: boolean): number[] =>
  keepdim ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));

/** Folds f over `axes` (sorted, non-negative) from `init`, keepdim or not. */
export function reduce(a: Ref, axes: number[], init: number, f: (acc: number, v: number) => number, keepdim = false): Ref {
  const keptShape = reducedShape(a.shape, axes, true);
  const out = broadcastStrides(keptShape, a.shape); // 0 along the reduced axes
  const data = new Float64Array(numel(keptShape)).fill(init);
  forEachIndex(a.shape, (idx, i) => {
    const o = dot(idx, out);
    data[o] = f(data[o]!, a.data[i]!);
  });
  return { shape: reducedShape(a.shape, axes, keepdim), data };
}
