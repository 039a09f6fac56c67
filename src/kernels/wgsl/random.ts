// Counter-based random numbers (Philox4x32-10, Salmon et al. 2011): element i of a draw keyed by
// (seed_lo, seed_hi) is a pure function of (i, key), so results are the same on every adapter, in
// Node and in the browser, and a backward pass can regenerate a dropout mask instead of storing it.
// 1-D grid of 256-lane workgroups; one lane per element.
import { Kernel, perElement, grid1d, pieces, windowOf } from '../kernel.js';

const WG = 256;

/** WGSL: `philox(counter, key) -> vec4u` and `uniform01(u32) -> f32` in [0, 1). */
export const PHILOX = /* wgsl */ `
fn mulhilo(a: u32, b: u32) -> vec2u {
  // 32x32 -> 64-bit product from 16-bit halves (WGSL has no umulhi).
  let a_lo = a & 0xffffu; let a_hi = a >> 16u;
  let b_lo = b & 0xffffu; let b_hi = b >> 16u;
  let ll = a_lo * b_lo; let lh = a_lo * b_hi; let hl = a_hi * b_lo; let hh = a_hi * b_hi;
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  let hi = hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
  return vec2u(hi, a * b);
}
fn philox(counter: vec4u, key: vec2u) -> vec4u {
  var c = counter;
  var k = key;
  for (var r = 0u; r < 10u; r++) {
    let p0 = mulhilo(0xD2511F53u, c.x);
    let p1 = mulhilo(0xCD9E8D57u, c.z);
    c = vec4u(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
    k = k + vec2u(0x9E3779B9u, 0xBB67AE85u);
  }
  return c;
}
fn uniform01(u: u32) -> f32 { return f32(u >> 8u) * (1.0 / 16777216.0); }
`;

/** WGSL: the draw for element `p.base + i` of a tensor keyed by (p.seed_lo, p.seed_hi), shared by rand and dropout (which regenerates it). */
export const ELEMENT_DRAW = 'philox(vec4u(p.base + i, 0u, 0u, 0u), vec2u(p.seed_lo, p.seed_hi))';

function randomKernel(name: string, expr: string): Kernel {
  return new Kernel({
    name,
    write: { out: 'f32' },
    params: { n: 'u32', base: 'u32', seed_lo: 'u32', seed_hi: 'u32', a: 'f32', b: 'f32' },
    body: /* wgsl */ `
${PHILOX}
${perElement(WG, `
  let r = ${ELEMENT_DRAW};
  out[i] = ${expr};`)}`,
  });
}

// uniform in [a, b)
const uniformK = randomKernel('rand_uniform', 'p.a + (p.b - p.a) * uniform01(r.x)');
const TWO_PI = '6.283185307179586';
// normal(mean a, std b) by Box-Muller; 1 - u keeps the log argument in (0, 1]
const normalK = randomKernel('rand_normal', `p.a + p.b * sqrt(-2.0 * log(1.0 - uniform01(r.x))) * cos(${TWO_PI} * uniform01(r.y))`);

export function splitSeed(seed: number): { seed_lo: number; seed_hi: number } {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`random: seed must be a non-negative safe integer, got ${seed}`);
  return { seed_lo: seed >>> 0, seed_hi: Math.floor(seed / 2 ** 32) >>> 0 };
}

export function launchRandom(kind: 'uniform' | 'normal', out: GPUBuffer, n: number, seed: number, a: number, b: number): void {
  for (const { start, count } of pieces(n, 4)) {
    (kind === 'uniform' ? uniformK : normalK).launch([windowOf(out, start, count)], { n: count, base: start, ...splitSeed(seed), a, b }, grid1d(count, WG));
  }
}
