// speculativeSample(logits [2k + 1, V], ids [k], u [k + 1]): one round of speculative sampling
// (Leviathan et al. 2023; Chen et al. 2023) on the GPU, so a round reads back [accepted, token],
// not rows of logits. logits holds the target's k + 1 rows then the draft's k; ids[i] was drawn
// from the draft's row i. The distributions are those sampleLogits draws from (temperature, top-k,
// top-p, min-p: its kernel's candidates, src/kernels/wgsl/sample.ts); draft i is kept when
// u[i] * q_i(x) < p_i(x), at the first rejection the token is drawn from norm(max(0, p - q)) with
// u[k], with every draft kept from the target's last row (src/kernels/wgsl/speculative.ts; its
// float64 statement: src/check/reference/speculative.ts). A row with no distribution (a NaN or
// +Inf logit, or only -Inf ones) gives [that row, -1], the target's rows counted first. The logits
// must fit one binding. Not differentiable.
import { defineOp, NOT_DIFFERENTIABLE, withFront, type OpContext } from '../autograd/op.js';
import { profile } from '../kernels/profile.js';
import { launchCandidates, sampleParams } from '../kernels/wgsl/sample.js';
import { launchSpeculativeRule } from '../kernels/wgsl/speculative.js';
import { formatShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { kernelParams, samplingSettings, type SamplingOptions } from './sample.js';

const OP = 'speculativeSample';

const speculativeOp = defineOp({
  name: OP,
  dtypes: { logits: ['float32'], ids: ['int32'], u: ['float32'] },
  forward(_ctx: OpContext, logits: Tensor, ids: Tensor, u: Tensor, opts: Required<SamplingOptions>) {
    const [R, V] = logits.shape as [number, number];
    const k = ids.size;
    const out = Tensor.empty([2], 'int32', OP);
    const cuts = Tensor.empty([R, 4], 'int32', `${OP} cuts`);
    const draw = kernelParams(opts);
    launchCandidates(logits.buffer(), cuts.buffer(), R, V, draw);
    const { lanes, params } = sampleParams(V, draw, false);
    launchSpeculativeRule(logits.buffer(), cuts.buffer(), ids.buffer(), u.buffer(), out.buffer(), k, V, lanes, { scale: params.scale!, min_gap: params.min_gap! });
    cuts.dispose();
    return out;
  },
  shape([logits, ids, u]) {
    const k = ids.size;
    if (logits.rank !== 2 || logits.shape[1] === 0 || ids.rank !== 1 || u.rank !== 1 || logits.shape[0] !== 2 * k + 1 || u.size !== k + 1) {
      throw new RangeError(`${OP}: logits must be [2k + 1, V] (the target's k + 1 rows, then the draft's k) with V >= 1, ids [k] and u [k + 1], got ${formatShape(logits.shape)}, ${formatShape(ids.shape)} and ${formatShape(u.shape)}`);
    }
    const bytes = logits.size * 4;
    if (bytes > profile().bindingLimit) throw new RangeError(`${OP}: logits ${logits.describe()} take ${bytes} bytes, but must fit one binding: at most ${profile().bindingLimit} bytes on this adapter`);
    return { shape: [2], dtype: 'int32' };
  },
  backward: NOT_DIFFERENTIABLE,
});

/**
 * One round of speculative sampling (see the header): int32 [accepted, token], the number of
 * drafts `ids` kept and the token that follows them; [row, -1] where that row of `logits` has no
 * distribution. temperature 0: p and q are the argmax's one-hot, so the tokens are the target's greedy ones.
 */
export const speculativeSample = withFront(speculativeOp, (logits: Tensor, ids: Tensor, u: Tensor, opts: SamplingOptions = {}): Tensor => speculativeOp(logits, ids, u, samplingSettings(OP, opts)));
