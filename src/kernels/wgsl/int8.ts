// int8 weights in WGSL, and the int8-weight matmul's own kernels (its tiled variant is in
// matmul-tiled.ts; src/ops/int8.ts calls them through matmul.ts's launchMatmul).
// Storage: an int8 tensor's bytes lie in element order, four to a u32 word, little-endian (element
// e is byte e % 4 of word e / 4), exactly as a safetensors I8 tensor's bytes land in a buffer. WGSL
// has no 8-bit types, so kernels bind such a tensor as array<u32> and sign-extend bytes out of words
// in registers (INT8_WGSL).
// The product: C [M, N] = A [M, K] · Wᵀ, W = scale ⊙ Q row by row, Q int8 [N, K], scale f32 [N]; A
// and C f32, row-major. matmul.ts picks the path:
//   skinny (`matmul-int8-skinny`), for decoding: the few rows a decoding step has (the profile's
//     skinnyRows), 64-lane workgroups, 1-D grid; a lane sums A[m, k] Q[n, k] over k and scales each
//     sum once by scale[n]. When K is a multiple of 4 (`-vec4-R`) a row of Q is K/4 whole words and
//     a row of A K/4 vec4s, and a lane takes 4 columns for R = min(M, 4) rows: a step reads 4 words
//     (16 weights) and R vec4s of A, once for all 4R sums. Measured on lavapipe (busy machine,
//     profiler, best of 3), against a lane per element: [8 x 768]·[50257 x 768]ᵀ 176 -> 39 ms,
//     [4 x 768]·[2304 x 768]ᵀ 2.6 -> 1.3 ms, one row unchanged. Otherwise a lane per element,
//     each k taking its byte from the word holding it (rows start mid-word).
//   tiled: the int8 variant of matmul-tiled.ts, dequantizing in registers; except where the profile
//     picks the texture path (Mesa's CPU drivers, whose buffer loads are bounds-checked scalar
//     loads): there `int8-dequantize` (a lane per weight) writes W in float32 to a transient buffer
//     and the f32 texture path multiplies. Measured on lavapipe (2 busy cores, medians of 5): the
//     reference model's [768x128]·[384x128]ᵀ, [768x128]·[65x128]ᵀ and [768x512]·[128x512]ᵀ took
//     321, 24 and 563 ms with the int8 tiled kernel, 24, 3.0 and 72 ms dequantized + texture.
//   tensor cores, for prompt processing (more rows than skinnyRows) where the profile has an
//     i8 -> i32 subgroup-matrix configuration and K is a multiple of 4: `int8-quantize-rows`
//     quantizes A per row (dynamic, symmetric: xScale[m] = max|A[m, :]| / 127, Aq = round(A /
//     xScale) to nearest, ties to even, a row of zeros gets scale 0 and zeros; a row holding a NaN
//     or Inf, told by the bits, gets a NaN scale and zeros, so its outputs are NaN as float32's
//     would be, not the finite numbers a NaN's rounding made), packed four to a
//     u32 like Q, and matmul-subgroup-matrix.ts multiplies Aq · Qᵀ in i32, scaled by xScale[m]
//     wScale[n]. The activations' rounding adds an error of up to xScale[m] / 2 per element: on
//     the reference Shakespeare-char model (float64 emulation, one val batch of 8 x 64) every
//     Linear's and the LM head's outputs moved by 0.22-0.89% RMS relative (0.28% over all), each
//     within 0.31 of the bound xScale / 2 · sum|W|; val loss 1.90771, against 1.90765 with int8
//     weights alone and 1.90749 in float32 (bench/int8-activations-accuracy.ts).
import type { Resource } from '../../device/bind-groups.js';
import { each, Kernel, grid1d, perElement, variants } from '../kernel.js';
import { rowGrid, rowKernel, rowMain, rowNonFiniteWgsl } from './row.js';

/** WGSL: i8_at(word, j), byte j of a word sign-extended, and i8x4(word), its four bytes in element order. */
export const INT8_WGSL = /* wgsl */ `
// byte j (0..3) of a word of four int8, sign-extended
fn i8_at(word: u32, j: u32) -> f32 { return f32(bitcast<i32>(word << (24u - 8u * j)) >> 24u); }
// all four bytes of a word, in element order
fn i8x4(word: u32) -> vec4f { return vec4f(bitcast<vec4i>(vec4u(word) << vec4u(24u, 16u, 8u, 0u)) >> vec4u(24u)); }`;

export const SKINNY_WG = 64;

/** Rows and columns a lane of the vec4 kernel sums at once. */
export const MAX_ROWS = 4;
export const COLS = 4;

/** WGSL: lane i's first column n0 and first row r0, COLS columns and `rows` rows a lane (int8's vec4 kernel and int4's). */
export const skinnyLanes = (rows: number): string => `
  let groups = (p.N + ${COLS - 1}u) / ${COLS}u;
  let n0 = (i % groups) * ${COLS}u;
  let r0 = (i / groups) * ${rows}u;`;

/** WGSL: each of a lane's rows * COLS sums (`sum(e)`, e = r * COLS + c) stored where it is in C, scaled by `scale(e)` if given. */
export const skinnyStores = (rows: number, sum: (e: number) => string, scale?: (c: number) => string): string =>
  each(rows * COLS, (e) => {
    const [r, c] = [Math.floor(e / COLS), e % COLS];
    return `  if (r0 + ${r}u < p.M && n0 + ${c}u < p.N) { c[(r0 + ${r}u) * p.N + n0 + ${c}u] = ${sum(e)}${scale ? ` * ${scale(c)}` : ''}; }`;
  });

/**
 * The skinny kernel: `rows` > 0 the vec4 one (a lane per COLS columns and `rows` rows; columns past
 * N and rows past M read the last one and are not stored), 0 a lane per element.
 */
const skinnyInt8 = variants((rows: number) => new Kernel({
  name: `matmul-int8-skinny${rows ? `-vec4-${rows}` : ''}`,
  read: { a: rows ? 'vec4f' : 'f32', q: 'u32', scale: 'f32' },
  write: { c: 'f32' },
  params: { n: 'u32', M: 'u32', N: 'u32', K: 'u32' },
  body: `${INT8_WGSL}
${perElement(SKINNY_WG, rows ? `${skinnyLanes(rows)}
  let kq = p.K / 4u;
${each(COLS, (c) => `  let q${c} = min(n0 + ${c}u, p.N - 1u) * kq;`)}
${each(rows, (r) => `  let x${r} = min(r0 + ${r}u, p.M - 1u) * kq;`)}
${each(rows * COLS, (e) => `  var acc${e} = vec4f(0.0);`)}
  for (var j = 0u; j < kq; j++) {
${each(COLS, (c) => `    let w${c} = i8x4(q[q${c} + j]);`)}
${each(rows, (r) => `    let a${r} = a[x${r} + j];`)}
${each(rows * COLS, (e) => `    acc${e} += a${Math.floor(e / COLS)} * w${e % COLS};`)}
  }
${skinnyStores(rows, (e) => `(acc${e}.x + acc${e}.y + acc${e}.z + acc${e}.w)`, (c) => `scale[n0 + ${c}u]`)}` : `
  let col = i % p.N;
  let row = i / p.N;
  var acc = 0.0;
  for (var k = 0u; k < p.K; k++) {
    let e = col * p.K + k;
    acc += a[row * p.K + k] * i8_at(q[e / 4u], e % 4u);
  }
  c[i] = acc * scale[col];`)}`,
}));

const DEQUANTIZE_WG = 256;

/** w[n, k] = scale[n] * Q[n, k] for the n = N * K weights. */
const dequantizeKernel = new Kernel({
  name: 'int8-dequantize',
  read: { q: 'u32', scale: 'f32' },
  write: { w: 'f32' },
  params: { n: 'u32', K: 'u32' },
  body: `${INT8_WGSL}
${perElement(DEQUANTIZE_WG, `  w[i] = i8_at(q[i / 4u], i % 4u) * scale[i / p.K];`)}`,
});

/** Records W = scale ⊙ Q (float32 [N, K]) into `w`. */
export function launchDequantize(q: Resource, scale: Resource, w: Resource, N: number, K: number): void {
  const n = N * K;
  if (n) dequantizeKernel.launch([q, scale, w], { n, K }, grid1d(n, DEQUANTIZE_WG));
}

/** Records C = A · (scale ⊙ Q)ᵀ: a lane per column and up to 4 rows (K a multiple of 4), else per element of C. */
export function launchSkinnyInt8Matmul(a: Resource, q: Resource, scale: Resource, c: Resource, M: number, N: number, K: number): void {
  const rows = K % 4 === 0 ? Math.min(M, MAX_ROWS) : 0;
  const n = rows ? Math.ceil(N / COLS) * Math.ceil(M / rows) : M * N;
  if (n) skinnyInt8(rows).launch([a, q, scale, c], { n, M, N, K }, grid1d(n, SKINNY_WG));
}

/** Per row of x [rows, K] f32 (K a multiple of 4): xs[row] = max|x| / 127 and q, its int8 quantization packed four to a u32. */
const quantizeRows = rowKernel((lanes) => new Kernel({
  name: 'int8-quantize-rows',
  read: { x: 'f32' },
  write: { q: 'u32', xs: 'f32' },
  params: { rows: 'u32', K: 'u32' },
  body: rowNonFiniteWgsl('f32') + rowMain(lanes, 'p.K', /* wgsl */ `
  var m = 0.0;
  var bad_lane = 0.0;
  for (var j = lane; j < n; j += ROW_LANES) {
    let v = x[base + j];
    m = max(m, abs(finite_or(v, 0.0)));
    bad_lane = max(bad_lane, select(0.0, 1.0, not_finite(v)));
  }
  let s = wg_max(m, lane) / 127.0;
  let bad = wg_max(bad_lane, lane) > 0.0;
  let ok = s > 0.0 && !bad;
  if (live && lane == 0u) { xs[row] = select(s, nan_from(s), bad); }
  for (var w = lane; w < n / 4u; w += ROW_LANES) {
    let v = vec4f(x[base + 4u * w], x[base + 4u * w + 1u], x[base + 4u * w + 2u], x[base + 4u * w + 3u]);
    let r = select(vec4f(0.0), clamp(round(v / select(1.0, s, ok)), vec4f(-127.0), vec4f(127.0)), ok);
    q[base / 4u + w] = pack4xI8(vec4i(r));
  }`),
}));

/** Records the dynamic int8 quantization of x [rows, K] f32 into q (rows * K / 4 words) and xs [rows]. */
export function launchQuantizeRows(x: Resource, q: Resource, xs: Resource, rows: number, K: number): void {
  if (K % 4 !== 0) throw new Error(`int8-quantize-rows: rows of ${K} values are not whole words (K must be a multiple of 4)`);
  if (rows === 0) return;
  const { kernel, lanes } = quantizeRows(rows);
  kernel.launch([x, q, xs], { rows, K }, rowGrid(rows, lanes));
}
