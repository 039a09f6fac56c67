// maskInPlace: zeroes each tensor where its 0/1 mask is 0, in place (pruned weights after an
// optimizer step, and their gradients before it). Tensors are masked in groups, as many per
// dispatch as one shader may bind; a tensor larger than a binding is masked a window at a time.
// Math in src/kernels/wgsl/mask.ts.
import { listOf, NOT_DIFFERENTIABLE } from '../autograd/op.js';
import { pieces, windowOf } from '../kernels/kernel.js';
import { launchMask, maskGroupSize, type MaskGroupMember } from '../kernels/wgsl/mask.js';
import { assertShape } from '../tensor/check.js';
import type { Tensor } from '../tensor/tensor.js';
import { defineUpdate } from './update.js';

const F32 = ['float32'] as const;

/** targets[i] = masks[i] != 0 ? targets[i] : 0, elementwise and in place; masks[i] has targets[i]'s shape. */
export const maskInPlace = defineUpdate({
  name: 'maskInPlace',
  dtypes: { targets: listOf(F32), masks: listOf(F32) },
  run(targets: readonly Tensor[], masks: readonly Tensor[]) {
    const members: MaskGroupMember[] = targets.flatMap((t, i) =>
      pieces(t.size, 4).map(({ start, count }) => ({ target: windowOf(t.buffer(), start, count), mask: windowOf(masks[i]!.buffer(), start, count), size: count })),
    );
    const group = maskGroupSize();
    for (let at = 0; at < members.length; at += group) launchMask(members.slice(at, at + group));
    return [...targets];
  },
  check([targets, masks]) {
    if (masks.length !== targets.length) throw new Error(`maskInPlace: ${targets.length} targets need as many masks, got ${masks.length}`);
    masks.forEach((m, i) => assertShape('maskInPlace', m, targets[i]!.shape, `masks[${i}]`));
    if (new Set(targets).size !== targets.length) throw new Error('maskInPlace: a tensor appears twice among the targets');
  },
  backward: NOT_DIFFERENTIABLE,
});
