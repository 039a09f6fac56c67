// The int8-weight matmul's own kernels: C [M, N] = A [M, K] · Wᵀ, W = scale ⊙ Q row by row, Q int8
// [N, K] (four to a word, int8.ts) and scale f32 [N]; A and C f32, row-major. matmul.ts picks:
// Skinny path, for decoding: one lane per output element (64-lane workgroups, 1-D grid), for the few
// rows a decoding step has (the profile's skinnyRows); the lane sums A[m, k] Q[n, k] over k and
// scales the sum once by scale[n].
// More rows: the int8 variant of the tiled kernel (matmul-tiled.ts), dequantizing in registers; but
// where the profile picks the texture path (Mesa's CPU drivers, whose buffer loads are
// bounds-checked scalar loads), `int8-dequantize` first writes W in float32 to a transient buffer,
// one lane per weight, and the f32 texture path multiplies: measured on lavapipe (2 busy cores,
// medians of 5), the reference model's products [768x128]·[384|65x128]ᵀ and [768x512]·[128x512]ᵀ
// took 321, 24 and 563 ms with the int8 tiled kernel, 24, 3.0 and 72 ms dequantized + texture.
// When K is a multiple of 4, a row of Q is K/4 whole words and a row of A K/4 vec4s: each step
// reads one word (four weights, sign-extended in registers) and one vec4 of A. Otherwise each k
// takes its byte from the word that holds it (rows of Q then start mid-word).
import type { Resource } from '../../device/bind-groups.js';
import { Kernel, grid1d, perElement, variants } from '../kernel.js';
import { INT8_WGSL } from './int8.js';

const SKINNY_WG = 64;

const skinnyInt8 = variants((aligned: boolean) => new Kernel({
  name: `matmul-int8-skinny${aligned ? '-vec4' : ''}`,
  read: { a: aligned ? 'vec4f' : 'f32', q: 'u32', scale: 'f32' },
  write: { c: 'f32' },
  params: { n: 'u32', N: 'u32', K: 'u32' },
  body: `${INT8_WGSL}
${perElement(SKINNY_WG, aligned ? `
  let col = i % p.N;
  let row = i / p.N;
  let kq = p.K / 4u;
  var acc = vec4f(0.0);
  for (var j = 0u; j < kq; j++) { acc += a[row * kq + j] * i8x4(q[col * kq + j]); }
  c[i] = (acc.x + acc.y + acc.z + acc.w) * scale[col];` : `
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

/** Records C = A · (scale ⊙ Q)ᵀ with a lane per element of C. */
export function launchSkinnyInt8Matmul(a: Resource, q: Resource, scale: Resource, c: Resource, M: number, N: number, K: number): void {
  const n = M * N;
  skinnyInt8(K % 4 === 0).launch([a, q, scale, c], { n, N, K }, grid1d(n, SKINNY_WG));
}
