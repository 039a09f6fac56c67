// Fused bias + exact GELU, as in the GPT MLP after c_fc (llm.c fuses the same pair):
//   bias_gelu:          y[i]  = gelu(x[i] + b[i % C])
//   bias_gelu_backward: dx[i] = dy[i] * gelu'(x[i] + b[i % C])   (db = sum of dx over rows, by the caller)
// x, y, dy, dx are contiguous [rows, C] (any leading dims flattened into rows), b is [C]. One lane
// per element, 1-D grid of 256-lane workgroups (2-D past 65535 groups). Called by src/ops/bias-gelu.ts.
import { Kernel, perElement, grid1d } from '../kernel.js';
import { GELU_WGSL } from './elementwise.js';

const WG = 256;

const forward = new Kernel({
  name: 'bias_gelu',
  read: { x: 'f32', b: 'f32' },
  write: { y: 'f32' },
  params: { n: 'u32', c: 'u32' },
  body: /* wgsl */ `
${GELU_WGSL}
${perElement(WG, `
  y[i] = gelu_erf(x[i] + b[i % p.c]);`)}`,
});

const backward = new Kernel({
  name: 'bias_gelu_backward',
  read: { x: 'f32', b: 'f32', dy: 'f32' },
  write: { dx: 'f32' },
  params: { n: 'u32', c: 'u32' },
  body: /* wgsl */ `
${GELU_WGSL}
${perElement(WG, `
  dx[i] = dy[i] * gelu_erf_grad(x[i] + b[i % p.c]);`)}`,
});

/** y = gelu(x + b) over n = rows * C elements. */
export function launchBiasGelu(x: GPUBuffer, b: GPUBuffer, y: GPUBuffer, n: number, C: number): void {
  forward.launch([x, b, y], { n, c: C }, grid1d(n, WG));
}

/** dx = dy * gelu'(x + b) over n = rows * C elements. */
export function launchBiasGeluBackward(x: GPUBuffer, b: GPUBuffer, dy: GPUBuffer, dx: GPUBuffer, n: number, C: number): void {
  backward.launch([x, b, dy, dx], { n, c: C }, grid1d(n, WG));
}
