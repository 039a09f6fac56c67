// castInto: casts many float tensors into others at once, in place, a group of them per dispatch
// (as many as one shader may bind; a tensor larger than a binding cast a window at a time), each
// overwriting its target or adding to it. Mixed precision uses it twice: a training step's float16
// copies of the float32 weights, cast once for all its micro-batches (src/nn/autocast.ts), and
// their float16 gradients added back into the float32 ones (castCached's backward, cast.ts).
// Values as cast's: float32 -> float16 rounds to nearest, ties to even; float16 -> float32 is exact;
// an add is the add op's on the cast value (summed in float32, stored in the target's dtype). Math
// in src/kernels/wgsl/cast-group.ts.
import { listOf, NOT_DIFFERENTIABLE } from '../autograd/op.js';
import { pieces, windowOf } from '../kernels/kernel.js';
import { castGroupSize, launchCastGroup, type CastGroupMember } from '../kernels/wgsl/cast-group.js';
import { assertShape } from '../tensor/check.js';
import { elementBytes, FLOAT_DTYPES, floatType, type Tensor } from '../tensor/tensor.js';
import { defineUpdate } from './update.js';

/**
 * targets[i] = sources[i] cast to targets[i]'s dtype, or where adds[i], targets[i] + that cast
 * (float32 or float16 each; shapes equal; no tensor written twice or both read and written).
 */
export const castInto = defineUpdate({
  name: 'castInto',
  dtypes: { sources: listOf(FLOAT_DTYPES), targets: listOf(FLOAT_DTYPES) },
  run(sources: readonly Tensor[], targets: readonly Tensor[], adds: readonly boolean[] = []) {
    // one run of groups per pair of dtypes: a kernel casts between two storage types
    const byPair = new Map<string, CastGroupMember[]>();
    sources.forEach((s, i) => {
      const t = targets[i]!;
      const [from, to] = [elementBytes(s.dtype), elementBytes(t.dtype)];
      // the pieces of a tensor (past a binding on one side, maybe not on the other) may share a dispatch
      const split = pieces(s.size, Math.max(from, to), Math.min(from, to));
      const windows = split.map(({ start, count }) => ({
        src: windowOf(s.buffer(), start, count, from),
        dst: windowOf(t.buffer(), start, count, to, split.length > 1),
        size: count,
        add: adds[i] ?? false,
      }));
      const pair = `${floatType(s.dtype)}>${floatType(t.dtype)}`;
      byPair.set(pair, [...(byPair.get(pair) ?? []), ...windows]);
    });
    const group = castGroupSize();
    for (const [pair, members] of byPair) {
      const [from, to] = pair.split('>') as ['f32' | 'f16', 'f32' | 'f16'];
      for (let at = 0; at < members.length; at += group) launchCastGroup(members.slice(at, at + group), from, to);
    }
    return [...targets];
  },
  check([sources, targets, adds = []]) {
    if (targets.length !== sources.length) throw new Error(`castInto: ${sources.length} sources need as many targets, got ${targets.length}`);
    if (adds.length > sources.length) throw new Error(`castInto: ${adds.length} add flags for ${sources.length} sources`);
    targets.forEach((t, i) => assertShape('castInto', t, sources[i]!.shape, `targets[${i}]`));
    const written = new Set(targets.map((t) => t.buffer()));
    if (written.size !== targets.length) throw new Error('castInto: a tensor appears twice among the targets');
    const read = sources.findIndex((s) => written.has(s.buffer()));
    if (read >= 0) throw new Error(`castInto: sources[${read}] shares its data with a target`);
  },
  backward: NOT_DIFFERENTIABLE,
});
