// distillLoss(studentLogits [..., V], teacherLogits [..., V], targets int32 [...], { temperature T,
// alpha, ignoreIndex }): knowledge distillation's loss (Hinton et al. 2015, "Distilling the
// Knowledge in a Neural Network"), the mean over rows whose target is not ignoreIndex of
//   alpha T² KL(softmax(t / T) || softmax(s / T)) + (1 - alpha) crossEntropy(s, target)
// with s the student's logits and t the teacher's. T² keeps the soft targets' gradient, which
// shrinks like 1/T², on the scale of the hard-label one (Hinton's convention, as in DistilBERT and
// nanoGPT-style distillation scripts); the KL is summed over the vocabulary and averaged over rows,
// i.e. PyTorch's `kl_div(log_softmax(s/T), log_softmax(t/T), reduction='batchmean', log_target=True)`
// times T² when no row is ignored. The teacher is not differentiated (its logits must not require
// grad: run it under noGrad). One fused kernel forward and one backward (src/kernels/wgsl/distill-loss.ts),
// a chunk of rows at a time where the logits are larger than a binding (a row must fit one).
// float16 logits (student and teacher both: one float dtype) give a float32 loss, accumulated in
// float32 as crossEntropy's; the student's gradient is float16.
import { isGradEnabled } from '../autograd/mode.js';
import { defineOp, withFront, type OpContext } from '../autograd/op.js';
import { DISTILL_STATS, launchDistillLoss, launchDistillLossBackward, type DistillWeights } from '../kernels/wgsl/distill-loss.js';
import { rowChunksOf } from '../kernels/wgsl/row.js';
import { checkOptionKeys, showValue } from '../tensor/check.js';
import { sameShape } from '../tensor/shape.js';
import { FLOAT_DTYPES, floatType, Tensor } from '../tensor/tensor.js';
import { checkLogitsAndTargets, meanOverValid } from './cross-entropy.js';
import { div } from './elementwise.js';

/**
 * The largest temperature distillLoss takes. The float32 KL of softmax(t / T) and softmax(s / T)
 * cancels ever more as T grows (both tend to uniform, their log-sum-exps to log V), and T² scales the
 * rounding up: against float64, 2e-4 of the loss at T = 100 for logits within ±3, 2% at 1000, 3x at 1e4.
 */
export const MAX_DISTILL_TEMPERATURE = 100;

const weightsOf = (student: Tensor, targets: Tensor, temperature: number, alpha: number, ignoreIndex: number): DistillWeights => ({
  rows: targets.size,
  V: student.shape[student.rank - 1]!,
  temperature,
  alpha,
  ignoreIndex,
});

const distillLossOp = defineOp({
  name: 'distillLoss',
  dtypes: { studentLogits: FLOAT_DTYPES, teacherLogits: FLOAT_DTYPES, targets: ['int32'] },
  forward(ctx: OpContext, student: Tensor, teacher: Tensor, targets: Tensor, temperature: number, alpha: number, ignoreIndex: number) {
    const w = weightsOf(student, targets, temperature, alpha, ignoreIndex);
    const loss = Tensor.empty([w.rows], 'float32', 'distillLoss rows');
    const valid = Tensor.empty([w.rows], 'float32', 'distillLoss valid');
    const stats = Tensor.empty([w.rows, DISTILL_STATS], 'float32', 'distillLoss stats');
    launchDistillLoss(
      { x: student.buffer(), teacher: teacher.buffer(), targets: targets.buffer(), loss: loss.buffer(), valid: valid.buffer(), stats: stats.buffer() },
      w,
      floatType(student.dtype),
    );
    const { mean, count } = meanOverValid(loss, valid);
    ctx.save(student, teacher, targets, stats, count);
    for (const t of [loss, valid, stats, count]) t.dispose();
    return mean;
  },
  shape([student, teacher, targets, temperature, alpha, ignoreIndex]) {
    checkLogitsAndTargets('distillLoss', student, targets, ignoreIndex);
    if (!sameShape(student.shape, teacher.shape)) {
      throw new Error(`distillLoss: teacherLogits ${teacher.describe()} must have the shape of studentLogits ${student.describe()} (the same rows and vocabulary)`);
    }
    if (teacher.requiresGrad && isGradEnabled()) {
      throw new Error(`distillLoss: teacherLogits ${teacher.describe()} require grad, but the teacher is not differentiated; compute them under noGrad() or pass teacherLogits.detach()`);
    }
    if (!(typeof temperature === 'number' && temperature > 0 && temperature <= MAX_DISTILL_TEMPERATURE)) {
      throw new Error(`distillLoss: temperature must be a finite number in (0, ${MAX_DISTILL_TEMPERATURE}], got ${showValue(temperature)}`);
    }
    if (!(typeof alpha === 'number' && alpha >= 0 && alpha <= 1)) throw new Error(`distillLoss: alpha must be in [0, 1], got ${showValue(alpha)}`); // typeof first: '0.5' passes the comparisons
    rowChunksOf('distillLoss', `logits ${student.describe()}`, targets.size, student.shape[student.rank - 1]!, floatType(student.dtype), DISTILL_STATS); // throws if a row is larger than a binding
    return { shape: [], dtype: 'float32' };
  },
  backward(ctx, g, [, , , temperature, alpha, ignoreIndex]) {
    // d loss / d s = g / count * (alpha T (q - p) + (1 - alpha)(softmax(s) - onehot(target))) on valid rows
    const [student, teacher, targets, stats, count] = ctx.saved as [Tensor, Tensor, Tensor, Tensor, Tensor];
    const scale = div(g, count);
    const dx = Tensor.empty(student.shape, student.dtype, 'distillLoss backward');
    launchDistillLossBackward(
      { x: student.buffer(), teacher: teacher.buffer(), targets: targets.buffer(), stats: stats.buffer(), scale: scale.buffer(), dx: dx.buffer() },
      weightsOf(student, targets, temperature, alpha, ignoreIndex),
      floatType(student.dtype),
    );
    scale.dispose();
    return [dx, null, null];
  },
});

/** distillLoss's settings: the softmax temperature T > 0, the soft targets' weight alpha in [0, 1], ignored targets (default -100). */
export interface DistillOptions {
  temperature: number;
  alpha: number;
  ignoreIndex?: number;
}

/**
 * Mean over rows whose target != ignoreIndex of alpha T² KL(softmax(teacher / T) || softmax(student / T))
 * + (1 - alpha) crossEntropy(student, target); a 0-d tensor, 0 if every row is ignored. Differentiable
 * in studentLogits only.
 */
export const distillLoss = withFront(distillLossOp, (studentLogits: Tensor, teacherLogits: Tensor, targets: Tensor, opts: DistillOptions): Tensor => {
  checkOptionKeys('distillLoss', opts, ['temperature', 'alpha', 'ignoreIndex']);
  return distillLossOp(studentLogits, teacherLogits, targets, opts.temperature, opts.alpha, opts.ignoreIndex ?? -100);
}
);
