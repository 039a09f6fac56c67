// Fills: out[i] = start + i * step (full when step = 0, arange otherwise), in f16 (computed in f32,
// as PyTorch computes a float16 arange, then rounded) or i32 (computed in integers so large ids stay
// exact; a float fill copies its value's bits so). A float32 arange is not made here: PyTorch computes
// it in float64, which WGSL lacks (src/tensor/create.ts). A tensor larger than a binding is filled a
// window at a time, i counted from the window's first element `base`.
// 1-D grid of 256-lane workgroups.
import { Kernel, perElement, grid1d, pieces, windowOf } from '../kernel.js';

const WG = 256;

type FillType = 'f16' | 'i32';

function fillKernel(type: FillType): Kernel {
  return new Kernel({
    name: `fill_${type}`,
    write: { out: type },
    params: { n: 'u32', base: 'u32', start: 'f32', step: 'f32', istart: 'i32', istep: 'i32' },
    body: /* wgsl */ `
${perElement(WG, `
  out[i] = ${type === 'i32' ? 'p.istart + i32(p.base + i) * p.istep' : `${type}(p.start + f32(p.base + i) * p.step)`};`)}`,
  });
}

const kernels = { i32: fillKernel('i32'), f16: fillKernel('f16') };

export function launchFill(type: FillType, out: GPUBuffer, n: number, start: number, step: number): void {
  const kernel = kernels[type]; // built eagerly, compiled on first launch
  const bytes = type === 'f16' ? 2 : 4;
  for (const piece of pieces(n, bytes)) {
    const { start: base, count } = piece;
    kernel.launch([windowOf(out, base, count, bytes)], { n: count, base, start, step, istart: start | 0, istep: step | 0 }, grid1d(count, WG));
  }
}
