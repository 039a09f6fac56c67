// Casts between float storage types, in place, for a group of up to MAX_GROUP tensors in one
// dispatch (mixed precision: float32 weights into their float16 copies once a step, float16
// gradients back into float32 ones). For element j of member k:
//   dst_k[j] = cast(src_k[j])              (to f16: rounded to nearest, ties to even; to f32: exact)
//   dst_k[j] = dst_k[j] + cast(src_k[j])   where bit k of `adds` is set: summed in f32, then stored
// (a cast, then an add in the target's type: what the cast and add ops give, one rounding each; an
// f32 sum rounded to f16 would give the same, but compilers may drop a rounding between f16 and f32).
// A grouped kernel (kernel.ts): each source and destination a binding of its own, each member its
// own 256-lane workgroups, one lane per element (per 4, as vec4s, when every size is a multiple of 4).
import type { Resource } from '../../device/bind-groups.js';
import { vec4Of, F16_RNE_WGSL, Kernel, groupLaunch, groupSize, perMember, variants, type FloatType } from '../kernel.js';

const WG = 256;

/** Tensors one dispatch can cast on this adapter: each needs two bindings. */
export const castGroupSize = (): number => groupSize(2);

// `vec`: each lane casts 4 elements as a vec4 (every member's size a multiple of 4): one load and
// store instead of four, ~3x faster on lavapipe
const castGroupKernel = variants((key: `${number}:${FloatType}>${FloatType}${'' | ':vec4'}`) => {
  const [group, from, to, vec] = key.split(/[:>]/) as [string, FloatType, FloatType, string?];
  const [src, dst] = vec ? [vec4Of(from), vec4Of(to)] : [from, to];
  const idx = Array.from({ length: Number(group) }, (_, k) => k);
  const rounds = from === 'f32' && to === 'f16'; // rounded on the bits, as the cast op
  const convert = rounds ? (vec ? 'vec4h_rne' : 'f16_rne') : dst;
  return new Kernel({
    name: `cast_group_${from}_to_${to}${vec ? '_vec4' : ''}`,
    read: Object.fromEntries(idx.map((k) => [`src${k}`, src])),
    write: Object.fromEntries(idx.map((k) => [`dst${k}`, dst])),
    params: { adds: 'u32', sizes: 'dims', ends: 'dims' },
    body: /* wgsl */ `
${rounds ? F16_RNE_WGSL : ''}
${perMember(WG, idx.length, `
  let add = ((p.adds >> k) & 1u) == 1u;
  switch k {
${idx.map((k) => `    case ${k}u: { let v = ${convert}(src${k}[j]); dst${k}[j] = select(v, dst${k}[j] + v, add); }`).join('\n')}
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
  const vec = members.every((m) => m.size % 4 === 0);
  const { params, grid } = groupLaunch(members.map((m) => (vec ? m.size / 4 : m.size)), WG);
  if (!grid) return;
  const adds = members.reduce((bits, m, k) => bits | (+m.add << k), 0);
  castGroupKernel(`${members.length}:${from}>${to}${vec ? ':vec4' : ''}`).launch([...members.map((m) => m.src), ...members.map((m) => m.dst)], { ...params, adds }, grid);
}
