// Fused causal self-attention over packed projections (FlashAttention's "qkv-packed" form):
//   y = causalAttention(qkv, nHead)   qkv [B, T, 3C] = q | k | v  ->  y [B, T, C], heads merged,
// y[b, t, h] = softmax_j<=t(q_t . k_j / sqrt(HS)) v_j per head h. No [T, T] tensor is kept for
// the backward: it recomputes the weights from the saved log-sum-exp of each query's scores.
// Decoding with a cache passes `context` [B, Tk, 3C], the whole sequence so far, whose last T
// rows are qkv's positions; keys and values come from it (no gradient flows through a cache).
// float16 qkv gives float16 y; the scores, the running max and sum and the saved log-sum-exp are float32.
// A batch of sequences of different lengths, left-padded to one length, passes `starts` int32
// [B]: row b's real tokens start at slot starts[b] of the Tk, and its keys before that slot are
// never attended to (a query in the padding attends to itself alone; its output is to be ignored).
// Padding is for inference: no gradient flows with `starts` either.
import { defineOp, optional, type OpContext } from '../autograd/op.js';
import { launchAttention, launchAttentionBackward, type AttentionShape } from '../kernels/wgsl/attention.js';
import { formatShape } from '../tensor/shape.js';
import { FLOAT_DTYPES, floatType, Tensor } from '../tensor/tensor.js';

function attentionShape(qkv: Tensor, nHead: number, context?: Tensor, starts?: Tensor): AttentionShape {
  const what = `causalAttention: qkv ${qkv.describe()}${context ? `, context ${context.describe()}` : ''}, nHead ${nHead}`;
  if (qkv.rank !== 3 || qkv.shape[2]! % 3) throw new Error(`${what}: expected qkv [B, T, 3C]`);
  const [B, T, C3] = qkv.shape as [number, number, number];
  const C = C3 / 3;
  if (!Number.isInteger(nHead) || nHead < 1 || C % nHead) throw new Error(`${what}: C = ${C} must split into nHead heads`);
  const Tk = context?.shape[1] ?? T;
  if (context && (context.rank !== 3 || context.shape[0] !== B || context.shape[2] !== C3 || Tk < T)) {
    throw new Error(`${what}: expected context [${B}, Tk >= ${T}, ${C3}], got ${formatShape(context.shape)}`);
  }
  if (starts && (starts.rank !== 1 || starts.shape[0] !== B)) throw new Error(`${what}: expected starts int32 [${B}], got ${starts.describe()}`);
  return { B, nHead, C, Tq: T, Tk, float: floatType(qkv.dtype) };
}

/** Causal self-attention of packed qkv [B, T, 3C] with nHead heads: y [B, T, C] (see the header for context and starts). */
export const causalAttention = defineOp({
  name: 'causalAttention',
  dtypes: { qkv: FLOAT_DTYPES, nHead: null, context: optional(FLOAT_DTYPES), starts: optional(['int32']) },
  forward(ctx: OpContext, qkv: Tensor, nHead: number, context?: Tensor | null, starts?: Tensor) {
    const s = attentionShape(qkv, nHead, context ?? undefined, starts);
    if ((context || starts) && ctx.recording) {
      throw new Error(`causalAttention: no gradient through a KV cache or padding ${context ? 'context' : 'starts'}; decode under noGrad()`);
    }
    const y = Tensor.empty([s.B, s.Tq, s.C], qkv.dtype, 'causalAttention');
    const lse = Tensor.empty([s.B, s.nHead, s.Tq], 'float32', 'causalAttention');
    launchAttention({ qkv: qkv.buffer(), kv: (context ?? qkv).buffer(), starts: starts?.buffer(), y: y.buffer(), lse: lse.buffer() }, s);
    ctx.save(qkv, y, lse);
    lse.dispose();
    return y;
  },
  shape([qkv, nHead, context, starts]) {
    const s = attentionShape(qkv, nHead, context ?? undefined, starts);
    return { shape: [s.B, s.Tq, s.C], dtype: qkv.dtype };
  },
  backward(ctx, dy, [, nHead]) {
    const [qkv, y, lse] = ctx.saved as [Tensor, Tensor, Tensor];
    const s = attentionShape(qkv, nHead);
    const dqkv = Tensor.empty(qkv.shape, qkv.dtype, 'causalAttention backward');
    const dsum = Tensor.empty([s.B, s.nHead, s.Tq], 'float32', 'causalAttention backward');
    launchAttentionBackward(
      { qkv: qkv.buffer(), y: y.buffer(), dy: dy.buffer(), lse: lse.buffer(), dsum: dsum.buffer(), dqkv: dqkv.buffer() },
      s,
    );
    dsum.dispose();
    return [dqkv];
  },
});
