// Masking in place, for a group of up to MAX_GROUP tensors in one dispatch (pruned weights and
// their gradients, each kept at exactly zero where its 0/1 mask is 0). For element j of tensor k:
//   target_k[j] = mask_k[j] != 0 ? target_k[j] : 0
// (a select, not a product: a masked NaN or Inf becomes 0 too). A grouped kernel (kernel.ts): each
// tensor and mask a binding of its own, `ends` the running element counts. 1-D grid of 256-lane
// workgroups over the group's elements.
import type { Resource } from '../../device/bind-groups.js';
import { Kernel, perElement, grid1d, groupEnds, groupMember, groupSize, variants } from '../kernel.js';

const WG = 256;

/** Tensors one dispatch can mask on this adapter: each needs two bindings. */
export const maskGroupSize = (): number => groupSize(2);

const maskKernel = variants((group: number) => {
  const idx = Array.from({ length: group }, (_, k) => k);
  return new Kernel({
    name: 'mask_in_place',
    read: Object.fromEntries(idx.map((k) => [`mask${k}`, 'f32'])),
    write: Object.fromEntries(idx.map((k) => [`target${k}`, 'f32'])),
    params: { n: 'u32', ends: 'dims' },
    body: /* wgsl */ `
${perElement(WG, `${groupMember(group)}
  switch k {
${idx.map((k) => `    case ${k}u: { if (mask${k}[j] == 0.0) { target${k}[j] = 0.0; } }`).join('\n')}
    default: {}
  }`)}`,
  });
});

export interface MaskGroupMember {
  target: Resource;
  mask: Resource;
  size: number;
}

/** One dispatch masking `members` (at most maskGroupSize()) in place. */
export function launchMask(members: MaskGroupMember[]): void {
  if (members.length > maskGroupSize()) throw new Error(`mask_in_place: ${members.length} tensors in one group, at most ${maskGroupSize()}`);
  const { ends, n } = groupEnds(members.map((m) => m.size));
  if (!n) return;
  maskKernel(members.length).launch([...members.map((m) => m.mask), ...members.map((m) => m.target)], { n, ends }, grid1d(n, WG));
}
