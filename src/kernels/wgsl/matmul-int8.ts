// The skinny path of the int8-weight matmul, for decoding: C [M, N] = A [M, K] · Wᵀ, W = scale ⊙ Q
// row by row, Q int8 [N, K] (four to a word, int8.ts) and scale f32 [N]; A and C f32, row-major.
// One lane per output element (64-lane workgroups, 1-D grid), for the few rows a decoding step has
// (the profile's skinnyRows); matmul.ts sends more rows to the int8 variant of the tiled kernel
// (matmul-tiled.ts). The lane sums A[m, k] Q[n, k] over k and scales the sum once by scale[n].
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

/** Records C = A · (scale ⊙ Q)ᵀ with a lane per element of C. */
export function launchSkinnyInt8Matmul(a: Resource, q: Resource, scale: Resource, c: Resource, M: number, N: number, K: number): void {
  const n = M * N;
  skinnyInt8(K % 4 === 0).launch([a, q, scale, c], { n, N, K }, grid1d(n, SKINNY_WG));
}
