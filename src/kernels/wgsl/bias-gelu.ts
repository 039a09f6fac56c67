// Fused bias + exact GELU, as in the GPT MLP after c_fc (llm.c fuses the same pair):
//   bias_gelu:          y[i]  = gelu(x[i] + b[i % C])
//   bias_gelu_backward: dx[i] = dy[i] * gelu'(x[i] + b[i % C])   (db = sum of dx over rows, by the caller)
// x, y, dy, dx are contiguous [rows, C] (any leading dims flattened into rows), b is [C]. One lane
// per element, 1-D grid of 256-lane workgroups (2-D past 65535 groups). Tensors larger than a
// binding go in pieces (kernel.ts), each binding windows of x, y, dy, dx from element p.base (b
// whole: it must fit a binding). f16 tensors are read widened to f32 and each result rounded
// once. Called by src/ops/bias-gelu.ts.
import { floatSuffix, floatBytes, grid1d, Kernel, narrow, perElement, pieces, variants, windowOf, type FloatType } from '../kernel.js';
import { GELU_WGSL } from './elementwise.js';

const WG = 256;


const forward = variants((float: FloatType) => new Kernel({
  name: `bias_gelu${floatSuffix(float)}`,
  read: { x: float, b: float },
  write: { y: float },
  params: { n: 'u32', c: 'u32', base: 'u32' },
  body: /* wgsl */ `
${GELU_WGSL}
${perElement(WG, `
  y[i] = ${narrow(float, 'gelu_erf(f32(x[i]) + f32(b[(p.base + i) % p.c]))')};`)}`,
}));

const backward = variants((float: FloatType) => new Kernel({
  name: `bias_gelu_backward${floatSuffix(float)}`,
  read: { x: float, b: float, dy: float },
  write: { dx: float },
  params: { n: 'u32', c: 'u32', base: 'u32' },
  body: /* wgsl */ `
${GELU_WGSL}
${perElement(WG, `
  dx[i] = ${narrow(float, 'f32(dy[i]) * gelu_erf_grad(f32(x[i]) + f32(b[(p.base + i) % p.c]))')};`)}`,
}));

/** Launches `kernel` over n = rows * C elements a piece at a time: the [rows, C] buffers as windows, b whole (bound after the first). */
function launchPieces(kernel: Kernel, rowsC: GPUBuffer[], b: GPUBuffer, n: number, C: number, float: FloatType): void {
  const bytes = floatBytes(float);
  for (const { start, count } of pieces(n, bytes)) {
    const [x, ...rest] = rowsC.map((buf) => windowOf(buf, start, count, bytes));
    kernel.launch([x!, windowOf(b, 0, C, bytes), ...rest], { n: count, c: C, base: start }, grid1d(count, WG));
  }
}

/** y = gelu(x + b) over n = rows * C elements. */
export function launchBiasGelu(x: GPUBuffer, b: GPUBuffer, y: GPUBuffer, n: number, C: number, float: FloatType = 'f32'): void {
  launchPieces(forward(float), [x, y], b, n, C, float);
}

/** dx = dy * gelu'(x + b) over n = rows * C elements. */
export function launchBiasGeluBackward(x: GPUBuffer, b: GPUBuffer, dy: GPUBuffer, dx: GPUBuffer, n: number, C: number, float: FloatType = 'f32'): void {
  launchPieces(backward(float), [x, dy, dx], b, n, C, float);
}
