// Dropout by a mask regenerated from the seed: element i is kept iff
//   uniform01(philox((i, 0, 0, 0), seed).x) >= p,
// the same draw `rand` makes for element i, so the mask is a pure function of (i, seed) and the
// backward pass recomputes it instead of storing it. uniform01(u) = (u >> 8) / 2^24, so the test is
// done exactly in integers: (u >> 8) >= threshold with threshold = ceil(p 2^24).
//   out[i] = kept ? x[i] * scale : 0, scale = 1 / (1 - p). Forward (x = input) and backward
// (x = upstream gradient) are the same kernel, since dropout is linear in x.
// f16 tensors: x widened to f32, scaled, rounded once. 1-D grid of 256-lane workgroups; one lane per element.
import { floatSuffix, Kernel, floatBytes, narrow, perElement, grid1d, pieces, variants, windowOf, type FloatType } from '../kernel.js';
import { ELEMENT_DRAW, PHILOX, splitSeed } from './random.js';

const WG = 256;

const dropoutK = variants((float: FloatType) => new Kernel({
  name: `dropout${floatSuffix(float)}`,
  read: { x: float },
  write: { out: float },
  params: { n: 'u32', base: 'u32', seed_lo: 'u32', seed_hi: 'u32', threshold: 'u32', scale: 'f32' },
  body: /* wgsl */ `
${PHILOX}
${perElement(WG, `
  let r = ${ELEMENT_DRAW};
  out[i] = ${narrow(float, 'select(0.0, f32(x[i]) * p.scale, (r.x >> 8u) >= p.threshold)')};`)}`,
}));

/** out = x * mask(seed, p) / (1 - p) over n elements. */
export function launchDropout(x: GPUBuffer, out: GPUBuffer, n: number, p: number, seed: number, float: FloatType = 'f32'): void {
  if (n === 0) return;
  const threshold = Math.ceil(p * 2 ** 24);
  const bytes = floatBytes(float);
  for (const { start, count } of pieces(n, bytes)) {
    const bound = [windowOf(x, start, count, bytes), windowOf(out, start, count, bytes)];
    dropoutK(float).launch(bound, { n: count, base: start, ...splitSeed(seed), threshold, scale: 1 / (1 - p) }, grid1d(count, WG));
  }
}
