// int4 weights in WGSL (group-wise, src/ops/int4.ts): the product C [M, N] = A [M, K] · Wᵀ with W
// [N, K] = Q ⊙ scale group by group, Q int4 in [-7, 7], one float32 scale per G consecutive weights
// of a row (scale [N, K / G]); A and C f32, row-major.
// Storage: two weights a byte, eight a u32 word: weight k of a row is nibble k % 8 of the row's word
// k / 8 (bits 4 (k % 8) .. 4 (k % 8) + 3), two's complement, so byte j holds weight 2j in its low
// nibble and 2j + 1 in its high one, exactly as the checkpoint's U8 tensor's bytes land in a buffer.
// K and G are multiples of 8, so rows and groups are whole words.
// Paths (launchInt4Matmul):
//   skinny (`matmul-int4-skinny-R`), for decoding (the profile's skinnyRows or fewer rows): int8's
//     lane layout (int8.ts), a lane per 4 columns and R = min(M, 4) rows; per group it sums 8
//     weights a word in registers, then scales the group's sum once.
//     It also takes more rows where W in float32 would not fit one binding (slower: it reads the
//     weights again for every 4 rows, but the weights alone bound what fits).
//   otherwise `int4-dequantize` writes W in float32 to a transient buffer (a lane per weight) and
//     the float32 matmul multiplies (the texture path on Mesa's CPU drivers, tiled elsewhere): prompt
//     processing reads each weight once per tile anyway; an int4 variant of the tiled kernel would
//     save the transient's bandwidth (not written: unmeasured on a GPU).
import type { Resource } from '../../device/bind-groups.js';
import { device } from '../../device/device.js';
import { each, Kernel, grid1d, perElement, variants } from '../kernel.js';
import { profile } from '../profile.js';
import { COLS, MAX_ROWS, SKINNY_WG, skinnyLanes, skinnyStores } from './int8.js';
import { launchMatmul } from './matmul.js';

/** WGSL: i4_at(word, e), nibble e (0..7) of a word sign-extended; i4lo/i4hi(word), nibbles 0..3 and 4..7. */
export const INT4_WGSL = /* wgsl */ `
fn i4_at(word: u32, e: u32) -> f32 { return f32(bitcast<i32>(word << (28u - 4u * e)) >> 28u); }
fn i4lo(word: u32) -> vec4f { return vec4f(bitcast<vec4i>(vec4u(word) << vec4u(28u, 24u, 20u, 16u)) >> vec4u(28u)); }
fn i4hi(word: u32) -> vec4f { return vec4f(bitcast<vec4i>(vec4u(word) << vec4u(12u, 8u, 4u, 0u)) >> vec4u(28u)); }`;

/** A lane per COLS columns and `rows` rows (columns past N and rows past M read the last one and are not stored). */
const skinnyInt4 = variants((rows: number) => new Kernel({
  name: `matmul-int4-skinny-${rows}`,
  read: { a: 'vec4f', q: 'u32', scale: 'f32' },
  write: { c: 'f32' },
  params: { n: 'u32', M: 'u32', N: 'u32', K: 'u32', G: 'u32' },
  body: `${INT4_WGSL}
${perElement(SKINNY_WG, `${skinnyLanes(rows)}
  let kw = p.K / 8u;
  let gw = p.G / 8u;
  let ng = p.K / p.G;
${each(COLS, (c) => `  let q${c} = min(n0 + ${c}u, p.N - 1u) * kw;\n  let s${c} = min(n0 + ${c}u, p.N - 1u) * ng;`)}
${each(rows, (r) => `  let x${r} = min(r0 + ${r}u, p.M - 1u) * (p.K / 4u);`)}
${each(rows * COLS, (e) => `  var sum${e} = 0.0;`)}
  for (var g = 0u; g < ng; g++) {
${each(rows * COLS, (e) => `    var acc${e} = vec4f(0.0);`)}
    for (var j = g * gw; j < (g + 1u) * gw; j++) {
${each(COLS, (c) => `      let w${c} = q[q${c} + j];\n      let lo${c} = i4lo(w${c});\n      let hi${c} = i4hi(w${c});`)}
${each(rows, (r) => `      let alo${r} = a[x${r} + 2u * j];\n      let ahi${r} = a[x${r} + 2u * j + 1u];`)}
${each(rows * COLS, (e) => `      acc${e} += alo${Math.floor(e / COLS)} * lo${e % COLS} + ahi${Math.floor(e / COLS)} * hi${e % COLS};`)}
    }
${each(rows * COLS, (e) => `    sum${e} += (acc${e}.x + acc${e}.y + acc${e}.z + acc${e}.w) * scale[s${e % COLS} + g];`)}
  }
${skinnyStores(rows, (e) => `sum${e}`)}`)}`,
}));

const DEQUANTIZE_WG = 256;

/** w[n, k] = Q[n, k] * scale[n, k / G] for the n = N * K weights. */
const dequantizeKernel = new Kernel({
  name: 'int4-dequantize',
  read: { q: 'u32', scale: 'f32' },
  write: { w: 'f32' },
  params: { n: 'u32', K: 'u32', G: 'u32' },
  body: `${INT4_WGSL}
${perElement(DEQUANTIZE_WG, `  w[i] = i4_at(q[i / 8u], i % 8u) * scale[(i / p.K) * (p.K / p.G) + (i % p.K) / p.G];`)}`,
});

/** Records W = Q ⊙ scale (float32 [N, K]) into `w`. */
export function launchDequantizeInt4(q: Resource, scale: Resource, w: Resource, N: number, K: number, G: number): void {
  const n = N * K;
  if (n) dequantizeKernel.launch([q, scale, w], { n, K, G }, grid1d(n, DEQUANTIZE_WG));
}

/** Whether an int4 product of M rows dequantizes W [N, K] into a float32 transient first: past the skinny kernel's rows, where that copy fits one binding (memory plans count it). */
export const int4ProductDequantizes = (M: number, N: number, K: number): boolean => M > profile().matmul.skinnyRows && 4 * N * K <= profile().bindingLimit;

/** Records C = A · Wᵀ for int4 W (Q [N, K / 2] bytes, scale [N, K / G]): the skinny kernel for a few rows (or any, where W in float32 would pass a binding), else dequantized and multiplied in float32. */
export function launchInt4Matmul(a: Resource, q: Resource, scale: Resource, c: Resource, M: number, N: number, K: number, G: number): void {
  if (M * N === 0) return;
  if (K % 8 !== 0 || G % 8 !== 0 || K % G !== 0) throw new Error(`matmul-int4: K ${K} and group size ${G} must be multiples of 8, G dividing K`);
  if (!int4ProductDequantizes(M, N, K)) {
    const rows = Math.min(M, MAX_ROWS);
    const n = Math.ceil(N / COLS) * Math.ceil(M / rows);
    return skinnyInt4(rows).launch([a, q, scale, c], { n, M, N, K, G }, grid1d(n, SKINNY_WG));
  }
  const w = device().alloc(Math.max(4, 4 * N * K), 'matmul dequantized int4');
  launchDequantizeInt4(q, scale, w, N, K, G);
  launchMatmul(a, w, c, { M, N, K, transA: false, transB: true, batchShape: [], aStrides: [], bStrides: [] });
  device().release(w); // later dispatches may reuse it: this one is recorded
}
