// AdamW step, in place, for one parameter tensor (p, its gradient g, moments m and v):
//   g' = g * gscale                   (gscale: a 0-d tensor, e.g. the grad-clipping factor)
//   m = b1 m + (1 - b1) g'            v = b2 v + (1 - b2) g'^2
//   p = p - lr (m / bc1 / (sqrt(v / bc2) + eps) + wd p)     (decoupled weight decay)
// bc1 = 1 - b1^t and bc2 = 1 - b2^t come precomputed. 1-D grid of 256-lane workgroups.
import { Kernel, perElement, grid1d } from '../kernel.js';

const WG = 256;

const adamwK = new Kernel({
  name: 'adamw',
  read: { g: 'f32', gscale: 'f32' },
  write: { param: 'f32', m: 'f32', v: 'f32' },
  params: { n: 'u32', lr: 'f32', b1: 'f32', b2: 'f32', eps: 'f32', wd: 'f32', bc1: 'f32', bc2: 'f32' },
  body: /* wgsl */ `
${perElement(WG, `
  let grad = g[i] * gscale[0];
  let m1 = p.b1 * m[i] + (1.0 - p.b1) * grad;
  let v1 = p.b2 * v[i] + (1.0 - p.b2) * grad * grad;
  m[i] = m1;
  v[i] = v1;
  let update = (m1 / p.bc1) / (sqrt(v1 / p.bc2) + p.eps);
  param[i] = param[i] - p.lr * (update + p.wd * param[i]);`)}`,
});

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  step: number;
}

export function launchAdamW(
  buffers: { p: GPUBuffer; g: GPUBuffer; m: GPUBuffer; v: GPUBuffer; gscale: GPUBuffer },
  n: number,
  h: AdamWHyper,
): void {
  adamwK.launch([buffers.g, buffers.gscale, buffers.p, buffers.m, buffers.v], {
    n, lr: h.lr, b1: h.beta1, b2: h.beta2, eps: h.eps, wd: h.weightDecay,
    bc1: 1 - h.beta1 ** h.step, bc2: 1 - h.beta2 ** h.step,
  }, grid1d(n, WG));
}
