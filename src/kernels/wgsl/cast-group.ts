// Casts between float storage types, in place, for a group of up to MAX_GROUP tensors in one
// dispatch (mixed precision: float32 weights into their float16 copies once a step, float16
// gradients back into float32 ones). For element j of member k:
//   dst_k[j] = cast(src_k[j])              (to f16: rounded to nearest, ties to even; to f32: exact)
//   dst_k[j] = dst_k[j] + cast(src_k[j])   where bit k of `adds` is set: summed in f32, then stored
// (a cast, then an add in the target's type: what the cast and add ops give, one rounding each; an
// f32 sum rounded to f16 would give the same, but compilers may drop a rounding between f16 and f32).
// A grouped kernel (kernel.ts): each source and destination a binding of its own, `ends` the
// running element counts. 1-D grid of 256-lane workgroups over the group's elements.
import type { Resource } from '../../device/bind-groups.js';
import { Kernel, perElement, grid1d, groupEnds, groupMember, groupSize, variants, type FloatType } from '../kernel.js';

const WG = 256;

/** Tensors one dispatch can cast on this adapter: each needs two bindings. */
export const castGroupSize = (): number => groupSize(2);

const castGroupKernel = variants((key: `${number}:${FloatType}>${FloatType}`) => {
  const [group, from, to] = key.split(/[:>]/) as [string, FloatType, FloatType];
  const idx = Array.from({ length: Number(group) }, (_, k) => k);
  return new Kernel({
    name: `cast_group_${from}_to_${to}`,
    read: Object.fromEntries(idx.map((k) => [`src${k}`, from])),
    write: Object.fromEntries(idx.map((k) => [`dst${k}`, to])),
    params: { n: 'u32', adds: 'u32', ends: 'dims' },
    body: /* wgsl */ `
${perElement(WG, `${groupMember(idx.length)}
  let add = ((p.adds >> k) & 1u) == 1u;
  switch k {
${idx.map((k) => `    case ${k}u: { let v = ${to}(src${k}[j]); dst${k}[j] = select(v, dst${k}[j] + v, add); }`).join('\n')}
    default: {}
  }`)}`,
  });
});

export interface CastGroupMember {
  src: Resource;
  dst: Resource;
  size: number;
  /** Add to the destination's values instead of overwriting them. */
  add: boolean;
}

/** One dispatch casting `members` (at most castGroupSize()) from `from` to `to` storage. */
export function launchCastGroup(members: CastGroupMember[], from: FloatType, to: FloatType): void {
  if (members.length > castGroupSize()) throw new Error(`cast_group: ${members.length} tensors in one group, at most ${castGroupSize()}`);
  const { ends, n } = groupEnds(members.map((m) => m.size));
  if (!n) return;
  const adds = members.reduce((bits, m, k) => bits | (+m.add << k), 0);
  castGroupKernel(`${members.length}:${from}>${to}`).launch([...members.map((m) => m.src), ...members.map((m) => m.dst)], { n, adds, ends }, grid1d(n, WG));
}
