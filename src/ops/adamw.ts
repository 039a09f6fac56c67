// adamw: one AdamW step (Loshchilov & Hutter) of every parameter in place, fused: parameters with
// gradients are updated in runs of consecutive ones, as many per dispatch as one shader may bind
// (the "multi-tensor apply" of fused optimizers). The moments of all parameters live back to back
// in two flat tensors m and v, in parameter order; each dispatch binds the window of them its run
// uses, and a parameter larger than a binding is updated a window at a time. Math in
// src/kernels/wgsl/adamw.ts.
import { listOf, NOT_DIFFERENTIABLE, optional } from '../autograd/op.js';
import { pieces, windowOf } from '../kernels/kernel.js';
import { profile } from '../kernels/profile.js';
import { ADAMW_CONTROL, adamwGroupSize, launchAdamW, type AdamWGroupMember, type AdamWHyper } from '../kernels/wgsl/adamw.js';
import { assertShape } from '../tensor/check.js';
import type { Tensor } from '../tensor/tensor.js';
import { defineUpdate } from './update.js';

export type { AdamWHyper } from '../kernels/wgsl/adamw.js';

const F32 = ['float32'] as const;

/**
 * Updates `params` from `grads` (null: that parameter is left alone) and their moments in m and v;
 * `gradScale` (0-d) multiplies every gradient (the clipping factor), or is a GradScaler's control
 * (float32 [4], src/optim/grad-scaler.ts: its multiplier, and whether to skip this step);
 * `decay[i]` says whether parameter i gets weight decay.
 */
export const adamw = defineUpdate({
  name: 'adamw',
  dtypes: { params: listOf(F32), grads: listOf(optional(F32)), m: F32, v: F32, gradScale: F32 },
  run(params: readonly Tensor[], grads: readonly (Tensor | null)[], m: Tensor, v: Tensor, gradScale: Tensor, decay: readonly boolean[], hyper: AdamWHyper) {
    const align = profile().offsetAlignment / 4;
    const limit = Math.floor(profile().bindingLimit / 4);
    // members: the parameters with gradients, a window at a time where one's moments, bound from the
    // aligned element before them, are larger than a binding (then pieces of the parameter are
    // written through windows that do not overlap)
    const members: (AdamWGroupMember & { at: number })[] = [];
    let offset = 0;
    params.forEach((p, i) => {
      const g = grads[i];
      if (g) {
        const parts = pieces(p.size, 4, 4, limit - (offset % align));
        for (const { start, count } of parts) {
          const param = windowOf(p.buffer(), start, count, 4, parts.length > 1);
          members.push({ param, grad: windowOf(g.buffer(), start, count), size: count, decay: decay[i]!, at: offset + start });
        }
      }
      offset += p.size;
    });
    // groups: runs of members whose moments are contiguous, bound as one aligned window of m and v
    const lanes = adamwGroupSize();
    const controlled = gradScale.rank === 1;
    let group: typeof members = [];
    const flush = () => {
      if (!group.length) return;
      const lo = Math.floor(group[0]!.at / align) * align;
      const last = group[group.length - 1]!;
      const window = (t: Tensor) => windowOf(t.buffer(), lo, last.at + last.size - lo);
      launchAdamW(group, { m: window(m), v: window(v), mvBase: group[0]!.at - lo, gscale: gradScale.buffer(), controlled }, hyper);
      group = [];
    };
    for (const member of members) {
      const prev = group[group.length - 1];
      const lo = group.length ? Math.floor(group[0]!.at / align) * align : 0;
      const contiguous = prev && prev.at + prev.size === member.at;
      if (!contiguous || group.length === lanes || member.at + member.size - lo > limit) flush();
      group.push(member);
    }
    flush();
    return [m, v, ...params.filter((_, i) => grads[i])];
  },
  check([params, grads, m, v, gradScale, decay, hyper]) {
    const total = params.reduce((n, p) => n + p.size, 0);
    if (grads.length !== params.length || decay.length !== params.length) {
      throw new Error(`adamw: ${params.length} params need as many grads and decay flags, got ${grads.length} and ${decay.length}`);
    }
    grads.forEach((g, i) => g && assertShape('adamw', g, params[i]!.shape, `grads[${i}]`));
    assertShape('adamw', m, [total], 'm (every parameter back to back)');
    assertShape('adamw', v, [total], 'v (every parameter back to back)');
    if (gradScale.rank !== 0) assertShape('adamw', gradScale, [ADAMW_CONTROL], 'gradScale (0-d, or a GradScaler control)');
    if (!Number.isSafeInteger(hyper.step) || hyper.step < 1) throw new Error(`adamw: step must be an integer >= 1, got ${hyper.step}`);
  },
  backward: NOT_DIFFERENTIABLE,
});
