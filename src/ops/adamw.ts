// adamw: one AdamW step (Loshchilov & Hutter) of every parameter in place, fused: parameters with
// gradients are updated in runs of consecutive ones, as many per dispatch as one shader may bind
// (the "multi-tensor apply" of fused optimizers). The moments of all parameters live back to back
// in two flat tensors m and v, in parameter order. Math in src/kernels/wgsl/adamw.ts.
import { NOT_DIFFERENTIABLE, optional } from '../autograd/op.js';
import { adamwGroupSize, launchAdamW, type AdamWGroupMember, type AdamWHyper } from '../kernels/wgsl/adamw.js';
import { assertShape } from '../tensor/check.js';
import type { Tensor } from '../tensor/tensor.js';
import { defineUpdate } from './update.js';

export type { AdamWHyper } from '../kernels/wgsl/adamw.js';

const F32 = ['float32'] as const;

/**
 * Updates `params` from `grads` (null: that parameter is left alone) and their moments in m and v;
 * `gradScale` (0-d) multiplies every gradient (the clipping factor), `decay[i]` says whether
 * parameter i gets weight decay.
 */
export const adamw = defineUpdate({
  name: 'adamw',
  dtypes: { params: F32, grads: optional(F32), m: F32, v: F32, gradScale: F32 },
  run(params: readonly Tensor[], grads: readonly (Tensor | null)[], m: Tensor, v: Tensor, gradScale: Tensor, decay: readonly boolean[], hyper: AdamWHyper) {
    const moments = { m: m.buffer(), v: v.buffer(), gscale: gradScale.buffer() };
    const limit = adamwGroupSize();
    const written = [m, v];
    let group: AdamWGroupMember[] = [];
    let base = 0;
    let offset = 0;
    const flush = () => {
      if (group.length) launchAdamW(group, { ...moments, mvBase: base }, hyper);
      group = [];
    };
    params.forEach((p, i) => {
      const g = grads[i];
      if (!g || group.length === limit) flush();
      if (g) {
        if (!group.length) base = offset;
        group.push({ param: p.buffer(), grad: g.buffer(), size: p.size, decay: decay[i]! });
        written.push(p);
      }
      offset += p.size;
    });
    flush();
    return written;
  },
  check([params, grads, m, v, gradScale, decay, hyper]) {
    const total = params.reduce((n, p) => n + p.size, 0);
    if (grads.length !== params.length || decay.length !== params.length) {
      throw new Error(`adamw: ${params.length} params need as many grads and decay flags, got ${grads.length} and ${decay.length}`);
    }
    grads.forEach((g, i) => g && assertShape('adamw', g, params[i]!.shape, `grads[${i}]`));
    assertShape('adamw', m, [total], 'm (every parameter back to back)');
    assertShape('adamw', v, [total], 'v (every parameter back to back)');
    assertShape('adamw', gradScale, [], 'gradScale');
    if (!Number.isSafeInteger(hyper.step) || hyper.step < 1) throw new Error(`adamw: step must be an integer >= 1, got ${hyper.step}`);
  },
  backward: NOT_DIFFERENTIABLE,
});
