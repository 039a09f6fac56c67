// banRepeatedNgrams(logits [R, V], history [R, T], n): Hugging Face's no_repeat_ngram_size
// (NoRepeatNGramLogitsProcessor, from fairseq) on the GPU: an id that would complete an n-gram a
// row's history already holds gets logit -Inf. The history is each row's tokens so far (for
// generation: the prompt's, then those generated, as HF's input_ids), right-aligned, -1 before them,
// so generation keeps it on the GPU and reads back no logits. Math in src/kernels/wgsl/ngram.ts. Not
// differentiable.
import { defineOp, NOT_DIFFERENTIABLE, withFront, type OpContext } from '../autograd/op.js';
import { launchBanRepeatedNgrams } from '../kernels/wgsl/ngram.js';
import { rowChunksOf } from '../kernels/wgsl/row.js';
import { describeValue } from '../tensor/check.js';
import { formatShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';

const banOp = defineOp({
  name: 'banRepeatedNgrams',
  dtypes: { logits: ['float32'], history: ['int32'] },
  forward(_ctx: OpContext, logits: Tensor, history: Tensor, n: number) {
    const [R, V] = logits.shape as [number, number];
    const T = history.shape[1]!;
    const out = Tensor.empty(logits.shape, 'float32', 'banRepeatedNgrams');
    // any n past T bans nothing: T + 1 stands for it, where n itself (2^32 and up) would wrap as the kernel's u32
    if (logits.size > 0) launchBanRepeatedNgrams(logits.buffer(), history.buffer(), out.buffer(), R, V, T, Math.min(n, T + 1));
    return out;
  },
  shape([logits, history]) {
    if (logits.rank !== 2 || logits.shape[1] === 0 || history.rank !== 2 || history.shape[0] !== logits.shape[0]) {
      throw new RangeError(`banRepeatedNgrams: logits must be [R, V] with V >= 1 and history [R, T], got ${formatShape(logits.shape)} and ${formatShape(history.shape)}`);
    }
    // each bound whole (a row a workgroup): throws where one is larger than a binding
    rowChunksOf('banRepeatedNgrams', `logits ${logits.describe()}`, 1, logits.size);
    rowChunksOf('banRepeatedNgrams', `history ${history.describe()}`, 1, history.size);
    return { shape: logits.shape, dtype: 'float32' };
  },
  backward: NOT_DIFFERENTIABLE,
});

/**
 * `logits` [R, V] float32 with -Inf at each id v where history[r] (int32 [R, T], a row's tokens
 * right-aligned after -1s) ends in n - 1 tokens that some earlier window of it continues with v:
 * v would repeat an n-gram (`n` an integer >= 1; 1 bans every id the row holds).
 */
export const banRepeatedNgrams = withFront(banOp, (logits: Tensor, history: Tensor, n: number): Tensor => {
  if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`banRepeatedNgrams: n must be an integer >= 1 (the n-gram size), got ${describeValue(n)}`);
  return banOp(logits, history, n);
});
