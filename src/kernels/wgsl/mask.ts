// Masking in place, for a group of up to MAX_GROUP tensors in one dispatch (pruned weights and
// their gradients, each kept at exactly zero where its 0/1 mask is 0). For element j of tensor k:
//   target_k[j] = mask_k[j] != 0 ? target_k[j] : 0
// (a select, not a product: a masked NaN or Inf becomes 0 too). `ends` holds the group's running
// element counts; WGSL cannot index bindings, so each tensor and mask is a binding of its own and
// a switch picks them, as in adamw.ts. 1-D grid of 256-lane workgroups over the group's elements.
import type { Resource } from '../../device/bind-groups.js';
import { device } from '../../device/device.js';
import { Kernel, perElement, grid1d, variants } from '../kernel.js';

const WG = 256;
/** Tensors per dispatch at most (the `ends` param is a `dims`, 8 entries). */
const MAX_GROUP = 8;

/** Tensors one dispatch can mask on this adapter: each needs two bindings. */
export function maskGroupSize(): number {
  const bindings = device().info.limits.maxStorageBuffersPerShaderStage ?? 8;
  return Math.max(1, Math.min(MAX_GROUP, Math.floor(bindings / 2)));
}

const maskKernel = variants((group: number) => {
  const idx = Array.from({ length: group }, (_, k) => k);
  return new Kernel({
    name: 'mask_in_place',
    read: Object.fromEntries(idx.map((k) => [`mask${k}`, 'f32'])),
    write: Object.fromEntries(idx.map((k) => [`target${k}`, 'f32'])),
    params: { n: 'u32', ends: 'dims' },
    body: /* wgsl */ `
${perElement(WG, `
  var k = 0u;
  while (k < ${group - 1}u && i >= dim(p.ends, k)) { k++; }
  let j = i - select(0u, dim(p.ends, max(k, 1u) - 1u), k > 0u);
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
  const ends: number[] = [];
  let n = 0;
  for (const m of members) ends.push((n += m.size));
  if (!n) return;
  maskKernel(members.length).launch([...members.map((m) => m.mask), ...members.map((m) => m.target)], { n, ends }, grid1d(n, WG));
}
