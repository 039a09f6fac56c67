// Fused bias + exact GELU, as in the GPT MLP after c_fc (llm.c fuses the same pair):
//   bias_gelu:          y[i]  = gelu(x[i] + b[i % C])
//   bias_gelu_backward: dx[i] = dy[i] * gelu'(x[i] + b[i % C])   (db = sum of dx over rows, by the caller)
// x, y, dy, dx are contiguous [rows, C] (any leading dims flattened into rows), b is [C]. One lane
// per element, 1-D grid of 256-lane workgroups (2-D past 65535 groups). f16 tensors are read
// widened to f32 and each result rounded once. Called by src/ops/bias-gelu.ts.
import { Kernel, narrow, perElement, grid1d, variants, type FloatType } from '../kernel.js';
import { GELU_WGSL } from './elementwise.js';

const WG = 256;

const suffix = (float: FloatType) => (float === 'f16' ? '_f16' : '');

const forward = variants((float: FloatType) => new Kernel({
  name: `bias_gelu${suffix(float)}`,
  read: { x: float, b: float },
  write: { y: float },
  params: { n: 'u32', c: 'u32' },
  body: /* wgsl */ `
${GELU_WGSL}
${perElement(WG, `
  y[i] = ${narrow(float, 'gelu_erf(f32(x[i]) + f32(b[i % p.c]))')};`)}`,
}));

const backward = variants((float: FloatType) => new Kernel({
  name: `bias_gelu_backward${suffix(float)}`,
  read: { x: float, b: float, dy: float },
  write: { dx: float },
  params: { n: 'u32', c: 'u32' },
  body: /* wgsl */ `
${GELU_WGSL}
${perElement(WG, `
  dx[i] = ${narrow(float, 'f32(dy[i]) * gelu_erf_grad(f32(x[i]) + f32(b[i % p.c]))')};`)}`,
}));

/** y = gelu(x + b) over n = rows * C elements. */
export function launchBiasGelu(x: GPUBuffer, b: GPUBuffer, y: GPUBuffer, n: number, C: number, float: FloatType = 'f32'): void {
  forward(float).launch([x, b, y], { n, c: C }, grid1d(n, WG));
}

/** dx = dy * gelu'(x + b) over n = rows * C elements. */
export function launchBiasGeluBackward(x: GPUBuffer, b: GPUBuffer, dy: GPUBuffer, dx: GPUBuffer, n: number, C: number, float: FloatType = 'f32'): void {
  backward(float).launch([x, b, dy, dx], { n, c: C }, grid1d(n, WG));
}
