// Float64 references of group-wise int4 weight quantization (src/ops/int4.ts), written out plainly:
// the weights a packed matrix stands for, and the quantization (scale = max|group| / 7, q =
// round(w / scale), halves away from zero, clamped to [-7, 7]) with its packing, two a byte.
import type { Ref } from './array.js';

/** The int4 value of nibble `hi` (0 low, 1 high) of a byte (held as a signed or unsigned number). */
const nibble = (byte: number, hi: number): number => {
  const n = ((byte & 0xff) >> (4 * hi)) & 0xf;
  return n >= 8 ? n - 16 : n;
};

/** W [rows, 2 * packed cols] = Q[r, c] * scale[r, c / G], G = cols / scale's columns. */
export function dequantizeInt4Ref(packed: Ref, scale: Ref): Ref {
  const [rows, half] = packed.shape as [number, number];
  const cols = 2 * half;
  const groups = scale.shape[1]!;
  const G = cols / groups;
  const data = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) data[r * cols + c] = nibble(packed.data[r * half + Math.floor(c / 2)]!, c % 2) * scale.data[r * groups + Math.floor(c / G)]!;
  }
  return { shape: [rows, cols], data };
}

/** Group-wise quantization of `w` [rows, cols] in groups of G: q (one a value), its bytes packed two a byte (low nibble first), scale32 [rows, cols / G]. */
export function quantizeInt4Ref(w: Ref, G: number): { q: Ref; packed: Ref; scale32: Ref } {
  const [rows, cols] = w.shape as [number, number];
  const q = new Float64Array(rows * cols);
  const scale32 = new Float64Array((rows * cols) / G);
  for (let g = 0; g < scale32.length; g++) {
    let max = 0;
    for (let i = 0; i < G; i++) max = Math.max(max, Math.abs(w.data[g * G + i]!));
    scale32[g] = Math.fround(max / 7);
    for (let i = 0; i < G; i++) {
      const x = scale32[g] === 0 ? 0 : w.data[g * G + i]! / scale32[g]!;
      const rounded = x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
      q[g * G + i] = Math.max(-7, Math.min(7, rounded)) + 0; // + 0: no -0
    }
  }
  const packed = new Float64Array(q.length / 2);
  for (let j = 0; j < packed.length; j++) packed[j] = ((((q[2 * j + 1]! & 0xf) << 4) | (q[2 * j]! & 0xf)) << 24) >> 24; // the byte, as int8
  return { q: { shape: [rows, cols], data: q }, packed: { shape: [rows, cols / 2], data: packed }, scale32: { shape: [rows, cols / G], data: scale32 } };
}
