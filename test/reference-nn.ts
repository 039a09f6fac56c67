// Float64 references for the fused row ops (softmax, logSoftmax, layerNorm, crossEntropy): plain
// loops over last-axis rows, written for clarity, independent of the engine's kernels. Also the
// value generator their tests share.
import fc from 'fast-check';
import { valuesArb } from './helpers.js';
import { ref, type Ref } from './reference.js';

/**
 * n float32-representable values: small ones, ones spread over [-80, 80], or small ones around a
 * large common offset (+-80, 1000), which overflows exp() unless the row max is subtracted.
 */
export function logitsArb(n: number) {
  return fc.oneof(
    valuesArb(n, -3, 3),
    valuesArb(n, -80, 80),
    fc.tuple(valuesArb(n, -3, 3), fc.constantFrom(80, -80, 1000)).map(([v, off]) => v.map((x) => Math.fround(x + off))),
  );
}

/** Applies f to each last-axis row of `a` (same output shape). */
export function mapRows(a: Ref, f: (row: Float64Array) => ArrayLike<number>): Ref {
  const C = a.shape.at(-1)!;
  const out = new Float64Array(a.data.length);
  if (C > 0) for (let r = 0; r < a.data.length / C; r++) out.set(f(a.data.subarray(r * C, (r + 1) * C)), r * C);
  return { shape: [...a.shape], data: out };
}

/** log(sum(exp(row))), stable. */
export function logSumExp(row: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < row.length; i++) m = Math.max(m, row[i]!);
  let s = 0;
  for (let i = 0; i < row.length; i++) s += Math.exp(row[i]! - m);
  return m + Math.log(s);
}

export const softmaxRow = (row: Float64Array) => {
  const lse = logSumExp(row);
  return row.map((v) => Math.exp(v - lse));
};
export const logSoftmaxRow = (row: Float64Array) => {
  const lse = logSumExp(row);
  return row.map((v) => v - lse);
};

export const softmaxRef = (x: Ref) => mapRows(x, softmaxRow);
export const logSoftmaxRef = (x: Ref) => mapRows(x, logSoftmaxRow);

/** (x - mean) / sqrt(var + eps) * w + b per row, biased variance. */
export function layerNormRef(x: Ref, w: Ref, b: Ref | null, eps = 1e-5): Ref {
  return mapRows(x, (row) => {
    const C = row.length;
    let mu = 0;
    for (const v of row) mu += v / C;
    let vr = 0;
    for (const v of row) vr += (v - mu) ** 2 / C;
    const rstd = 1 / Math.sqrt(vr + eps);
    return row.map((v, j) => (v - mu) * rstd * w.data[j]! + (b ? b.data[j]! : 0));
  });
}

/** Mean over rows with target != ignoreIndex of logsumexp(row) - row[target]; 0 if none. */
export function crossEntropyRef(logits: Ref, targets: ArrayLike<number>, ignoreIndex = -100): Ref {
  const V = logits.shape.at(-1)!;
  let total = 0;
  let count = 0;
  for (let r = 0; r < targets.length; r++) {
    const t = targets[r]!;
    if (t === ignoreIndex) continue;
    const row = logits.data.subarray(r * V, (r + 1) * V);
    total += logSumExp(row) - row[t]!;
    count++;
  }
  return ref([], [count ? total / count : 0]);
}
