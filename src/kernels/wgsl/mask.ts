// Masking in place, for a group of up to MAX_GROUP tensors in one dispatch (pruned weights and
// their gradients, each kept at exactly zero where its 0/1 mask is 0). For element j of tensor k:
//   target_k[j] = mask_k[j] != 0 ? target_k[j] : 0
// (a select, not a product: a masked NaN or Inf becomes 0 too). A grouped kernel (kernel.ts): each
// tensor and mask a binding of its own, each tensor its own 256-lane workgroups, a lane per element.
import type { Resource } from '../../device/bind-groups.js';
import { Kernel, groupLaunch, groupSize, perMember, variants } from '../kernel.js';

const WG = 256;

/** Tensors one dispatch can mask on this adapter: each needs two bindings. */
export const maskGroupSize = (): number => groupSize(2);

const maskKernel = variants((group: number) => {
  const idx = Array.from({ length: group }, (_, k) => k);
  return new Kernel({
    name: 'mask_in_place',
    read: Object.fromEntries(idx.map((k) => [`mask${k}`, 'f32'])),
    write: Object.fromEntries(idx.map((k) => [`target${k}`, 'f32'])),
    params: { sizes: 'dims', ends: 'dims' },
    body: /* wgsl */ `
${perMember(WG, group, `
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
  const { params, grid } = groupLaunch(members.map((m) => m.size), WG);
  if (!grid) return;
  maskKernel(members.length).launch([...members.map((m) => m.mask), ...members.map((m) => m.target)], params, grid);
}
