// crossEntropy(logits [..., V], targets int32 [...]): the mean over non-ignored rows of
// -log softmax(logits)[target], as one fused kernel forward and one backward. If every row is
// ignored the result is 0 (PyTorch gives NaN), so a fully padded batch cannot poison training.
import { defineOp } from '../autograd/op.js';
import { launchCrossEntropy, launchCrossEntropyBackward } from '../kernels/wgsl/cross-entropy.js';
import { formatShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { assertDtype } from './check.js';
import { div, maximum } from './elementwise.js';
import { sum } from './reduce.js';

const crossEntropyOp = defineOp({
  name: 'crossEntropy',
  forward(ctx, logits: Tensor, targets: Tensor, ignoreIndex: number) {
    const V = logits.shape[logits.rank - 1]!;
    const rows = logits.size / V;
    const loss = Tensor.empty([rows], 'float32', 'crossEntropy rows');
    const valid = Tensor.empty([rows], 'float32', 'crossEntropy valid');
    const lse = Tensor.empty([rows], 'float32', 'crossEntropy lse');
    launchCrossEntropy({ x: logits.buffer(), targets: targets.buffer(), loss: loss.buffer(), valid: valid.buffer(), lse: lse.buffer() }, rows, V, ignoreIndex);
    const count = maximum(sum(valid), 1);
    const total = sum(loss);
    const mean = div(total, count);
    ctx.save(logits, targets, lse, count);
    for (const t of [loss, valid, lse, count, total]) t.dispose();
    return mean;
  },
  backward(ctx, g, [, , ignoreIndex]) {
    // d loss / d logits = g / count * (softmax - onehot(target)) on valid rows
    const [logits, targets, lse, count] = ctx.saved as [Tensor, Tensor, Tensor, Tensor];
    const V = logits.shape[logits.rank - 1]!;
    const scale = div(g, count);
    const dx = Tensor.empty(logits.shape, 'float32', 'crossEntropy backward');
    launchCrossEntropyBackward(
      { x: logits.buffer(), targets: targets.buffer(), lse: lse.buffer(), scale: scale.buffer(), dx: dx.buffer() },
      logits.size / V,
      V,
      ignoreIndex,
    );
    scale.dispose();
    return [dx, null];
  },
});

export function crossEntropy(logits: Tensor, targets: Tensor, opts: { ignoreIndex?: number } = {}): Tensor {
  const ignoreIndex = opts.ignoreIndex ?? -100;
  assertDtype('crossEntropy', 'float32', logits);
  assertDtype('crossEntropy', 'int32', targets);
  if (logits.rank < 1 || logits.rank !== targets.rank + 1 || targets.shape.some((d, i) => d !== logits.shape[i])) {
    throw new Error(
      `crossEntropy: targets ${targets.describe()} must have the leading shape of logits ${logits.describe()} (logits [..., V], targets [...])`,
    );
  }
  const V = logits.shape[logits.rank - 1]!;
  const host = targets.storage('crossEntropy').host;
  if (host) {
    const bad = host.findIndex((t) => t !== ignoreIndex && (t < 0 || t >= V));
    if (bad >= 0) {
      throw new Error(
        `crossEntropy: target ${host[bad]} at position ${bad} of ${targets.describe()} is out of range [0, ${V}) (ignoreIndex ${ignoreIndex}); logits ${formatShape(logits.shape)}`,
      );
    }
  }
  return crossEntropyOp(logits, targets, ignoreIndex);
}
