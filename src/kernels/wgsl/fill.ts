// Fills: out[i] = start + i * step (full when step = 0, arange otherwise), in f32 or i32
// (i32 computed in integers so large ids stay exact). A tensor larger than a binding is filled a
// window at a time, i counted from the window's first element `base`.
// 1-D grid of 256-lane workgroups.
import { Kernel, perElement, grid1d, pieces, windowOf } from '../kernel.js';

const WG = 256;

function fillKernel(type: 'f32' | 'i32'): Kernel {
  return new Kernel({
    name: `fill_${type}`,
    write: { out: type },
    params: { n: 'u32', base: 'u32', start: 'f32', step: 'f32', istart: 'i32', istep: 'i32' },
    body: /* wgsl */ `
${perElement(WG, `
  out[i] = ${type === 'f32' ? 'p.start + f32(p.base + i) * p.step' : 'p.istart + i32(p.base + i) * p.istep'};`)}`,
  });
}

const kernels = { f32: fillKernel('f32'), i32: fillKernel('i32') };

export function launchFill(type: 'f32' | 'i32', out: GPUBuffer, n: number, start: number, step: number): void {
  for (const piece of pieces(n, 4)) {
    const { start: base, count } = piece;
    kernels[type].launch([windowOf(out, base, count)], { n: count, base, start, step, istart: start | 0, istep: step | 0 }, grid1d(count, WG));
  }
}
