// Float64 references of int8 weight quantization: the weights a quantized matrix stands for, and
// the quantization itself written out plainly (scale = max|row| / 127, q = round(w / scale)): the
// weights' (halves away from zero) and the activations' of the int8 tensor-core path (ties to even,
// WGSL's round).
import type { Ref } from './array.js';

/** W [rows, cols] = scale[r] * Q[r, c]. */
export function dequantizeRef(q: Ref, scale: Ref): Ref {
  const cols = q.shape[1]!;
  return { shape: [...q.shape], data: q.data.map((v, i) => v * scale.data[Math.floor(i / cols)]!) };
}

/** Round to nearest, ties to even (WGSL's round). */
export function roundTiesEven(t: number): number {
  const f = Math.floor(t);
  const d = t - f;
  return d < 0.5 ? f : d > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
}

/** Round to nearest, halves away from zero. */
const roundAway = (x: number) => (x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5));

/**
 * Symmetric per-row quantization of `w` [rows, cols]: scale = max|w[r, :]| / 127 (float64, and
 * that value rounded to float32, the scale dequantization multiplies by), q = round(w / scale32)
 * with halves away from zero (`ties` 'even': to even), clamped to [-127, 127]; zero rows give
 * scale 0 and q 0.
 */
export function quantizeRef(w: Ref, ties: 'away' | 'even' = 'away'): { q: Ref; scale64: Ref; scale32: Ref } {
  const round = ties === 'away' ? roundAway : roundTiesEven;
  const [rows, cols] = w.shape as [number, number];
  const q = new Float64Array(rows * cols);
  const scale64 = new Float64Array(rows);
  const scale32 = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let max = 0;
    for (let c = 0; c < cols; c++) max = Math.max(max, Math.abs(w.data[r * cols + c]!));
    scale64[r] = max / 127;
    scale32[r] = Math.fround(scale64[r]!);
    for (let c = 0; c < cols; c++) {
      const x = scale32[r] === 0 ? 0 : w.data[r * cols + c]! / scale32[r]!;
      q[r * cols + c] = Math.max(-127, Math.min(127, round(x))) + 0; // + 0: no -0
    }
  }
  return { q: { shape: [rows, cols], data: q }, scale64: { shape: [rows], data: scale64 }, scale32: { shape: [rows], data: scale32 } };
}
