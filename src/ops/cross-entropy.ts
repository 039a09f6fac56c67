// crossEntropy(logits [..., V], targets int32 [...]): the mean over non-ignored rows of
// -log softmax(logits)[target], as one fused kernel forward and one backward. If every row is
// ignored the result is 0 (PyTorch gives NaN), so a fully padded batch cannot poison training.
// float16 logits give a float32 loss: it is accumulated in float32 (as PyTorch's autocast runs
// cross-entropy in float32), and the loss of a mixed-precision step is what gets scaled and
// logged; the gradient of the logits is float16. Logits larger than a binding go a chunk of rows at
// a time (src/kernels/wgsl/cross-entropy.ts); a single row (V logits) must fit one binding.
import { defineOp, withFront, type OpContext } from '../autograd/op.js';
import { launchCrossEntropy, launchCrossEntropyBackward } from '../kernels/wgsl/cross-entropy.js';
import { rowChunksOf } from '../kernels/wgsl/row.js';
import { checkOptionKeys, showValue } from '../tensor/check.js';
import { formatShape } from '../tensor/shape.js';
import { FLOAT_DTYPES, floatType, Tensor } from '../tensor/tensor.js';
import { div, maximum } from './elementwise.js';
import { sum } from './reduce.js';

const crossEntropyOp = defineOp({
  name: 'crossEntropy',
  dtypes: { logits: FLOAT_DTYPES, targets: ['int32'] },
  forward(ctx: OpContext, logits: Tensor, targets: Tensor, ignoreIndex: number) {
    const V = logits.shape[logits.rank - 1]!;
    const rows = targets.size;
    const loss = Tensor.empty([rows], 'float32', 'crossEntropy rows');
    const valid = Tensor.empty([rows], 'float32', 'crossEntropy valid');
    const lse = Tensor.empty([rows], 'float32', 'crossEntropy lse');
    launchCrossEntropy({ x: logits.buffer(), targets: targets.buffer(), loss: loss.buffer(), valid: valid.buffer(), lse: lse.buffer() }, rows, V, ignoreIndex, floatType(logits.dtype));
    const { mean, count } = meanOverValid(loss, valid);
    ctx.save(logits, targets, lse, count);
    for (const t of [loss, valid, lse, count]) t.dispose();
    return mean;
  },
  shape([logits, targets, ignoreIndex]) {
    checkLogitsAndTargets('crossEntropy', logits, targets, ignoreIndex);
    rowChunksOf('crossEntropy', `logits ${logits.describe()}`, targets.size, logits.shape[logits.rank - 1]!, floatType(logits.dtype)); // throws if a row is larger than a binding
    return { shape: [], dtype: 'float32' };
  },
  backward(ctx, g, [, , ignoreIndex]) {
    // d loss / d logits = g / count * (softmax - onehot(target)) on valid rows, 0 on ignored rows
    const [logits, targets, lse, count] = ctx.saved as [Tensor, Tensor, Tensor, Tensor];
    const V = logits.shape[logits.rank - 1]!;
    const scale = div(g, count);
    const dx = Tensor.empty(logits.shape, logits.dtype, 'crossEntropy backward');
    launchCrossEntropyBackward(
      { x: logits.buffer(), targets: targets.buffer(), lse: lse.buffer(), scale: scale.buffer(), dx: dx.buffer() },
      targets.size,
      V,
      ignoreIndex,
      floatType(logits.dtype),
    );
    scale.dispose();
    return [dx, null];
  },
});

/**
 * Mean over rows whose target != ignoreIndex (default -100) of -log softmax(logits)[target].
 * logits float32 or float16 [..., V], targets int32 [...]: the classes on the last axis (PyTorch's
 * cross_entropy takes them on dim 1, [N, C, d1, ...]: move them last, or flatten to [N, C]); returns a 0-d float32 tensor, 0 if every row is ignored or
 * there are none (PyTorch's mean gives NaN). No label smoothing or class weights; the reduction is always the mean.
 */
export const crossEntropy = withFront(crossEntropyOp, (logits: Tensor, targets: Tensor, opts: { ignoreIndex?: number } = {}): Tensor => {
  checkOptionKeys('crossEntropy', opts, ['ignoreIndex']); // crossEntropy(l, t, -100) or { ignore_index } would be ignored
  return crossEntropyOp(logits, targets, opts.ignoreIndex ?? -100);
});

/**
 * The sum of per-row losses over the number of valid rows (counted on the GPU; max(., 1) makes an
 * all-ignored batch 0 / 1 = 0), and that count (the backward's divisor).
 */
export function meanOverValid(loss: Tensor, valid: Tensor): { mean: Tensor; count: Tensor } {
  const nValid = sum(valid);
  const count = maximum(nValid, 1);
  const total = sum(loss);
  const mean = div(total, count);
  nValid.dispose();
  total.dispose();
  return { mean, count };
}

/** Op `op`'s shapes, classes and ignoreIndex; targets with a host copy (made from JS data) must be in range now. */
export function checkLogitsAndTargets(op: string, logits: Tensor, targets: Tensor, ignoreIndex: number): void {
  if (logits.rank < 1 || logits.rank !== targets.rank + 1 || targets.shape.some((d, i) => d !== logits.shape[i])) {
    throw new Error(
      `${op}: targets ${targets.describe()} must have the leading shape of logits ${logits.describe()} (logits [..., V], targets [...]: classes last, not on dim 1 as in PyTorch)`,
    );
  }
  const V = logits.shape[logits.rank - 1]!;
  if (V === 0) throw new Error(`${op}: logits ${logits.describe()} have no classes (V = 0)`);
  checkTargetValues(op, targets, V, ignoreIndex, `logits ${formatShape(logits.shape)}`);
}

/**
 * That ignoreIndex is an int32 and the targets (those with a host copy: made from JS data) are
 * classes in [0, V) or ignoreIndex; `classes` names what has the V classes, for the message.
 */
export function checkTargetValues(op: string, targets: Tensor, V: number, ignoreIndex: number, classes: string): void {
  if (!Number.isInteger(ignoreIndex) || ignoreIndex < -(2 ** 31) || ignoreIndex >= 2 ** 31) {
    throw new Error(`${op}: ignoreIndex must be an int32 integer, got ${showValue(ignoreIndex)}`);
  }
  // Targets made on the GPU have no host copy: the kernel clamps them and reports a fault (thrown by the next read).
  const host = targets.storage(op).host;
  if (host) {
    const bad = host.findIndex((t) => t !== ignoreIndex && (t < 0 || t >= V));
    if (bad >= 0) {
      const at = targets.rank > 1 ? ` [${unravelIndex(bad, targets.shape).join(', ')}]` : '';
      throw new Error(`${op}: target ${host[bad]} at position ${bad}${at} of ${targets.describe()} is out of range [0, ${V}) (ignoreIndex ${ignoreIndex}); ${classes}`);
    }
  }
}

function unravelIndex(i: number, shape: readonly number[]): number[] {
  const idx: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d]!;
    i = Math.floor(i / shape[d]!);
  }
  return idx;
}
