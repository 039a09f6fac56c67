// linearCrossEntropy(x [N, C], weight [V, C], targets [N]) = crossEntropy(x · weightᵀ, targets): an
// LM head and its loss without ever holding the [N, V] logits, for when they would not fit one
// binding (GPT-2's logits at B*T = 16k rows are 3.3 GB). Rows of x go a chunk at a time, each
// chunk's logits fitting one binding (and its rows one launch of the backward's products); the
// weight is read a window of rows at a time when it is larger than a binding itself (GPT-2's
// 50257 x 768 table is 154 MB); the backward recomputes each chunk's logits from x and the weight
// instead of keeping them (as fused linear-cross-entropy kernels do). Ignored rows (target ==
// ignoreIndex) count as in crossEntropy.
// float16 input and weight (a mixed-precision model's LM head) are widened to float32 copies for
// the chunks, forward and backward: the logits, the loss and every sum are float32 (PyTorch's
// autocast runs cross-entropy in float32 too), and the gradients are rounded to float16 once. The
// node saves the float16 tensors, so between forward and backward they take half the memory; the
// float32 copies live only while the op runs.
//   forward, per chunk r and weight window j:  logits_r[:, j] = x_r · w_jᵀ, then loss rows and lse
//   backward, per chunk: dlogits_r = scale (softmax(logits_r) - onehot), then per window j (of
//   rows of the weight that fit a binding and one launch of each product: matmulLaunchLimits)
//     dx_r += dlogits_r[:, j] · w_j      dw_j += dlogits_r[:, j]ᵀ · x_r
import { defineOp, withFront, type OpContext } from '../autograd/op.js';
import { device } from '../device/device.js';
import { pieces, windowOf } from '../kernels/kernel.js';
import { profile } from '../kernels/profile.js';
import { launchCopy } from '../kernels/wgsl/copy.js';
import { launchCrossEntropy, launchCrossEntropyBackward } from '../kernels/wgsl/cross-entropy.js';
import { launchAccumulate } from '../kernels/wgsl/elementwise.js';
import { launchMatmul, matmulLaunchLimits } from '../kernels/wgsl/matmul.js';
import { matmul2d } from './matmul-blocks.js';
import { assertRank, checkOptionKeys } from '../tensor/check.js';
import { formatShape } from '../tensor/shape.js';
import { zeros } from '../tensor/create.js';
import { FLOAT_DTYPES, Tensor } from '../tensor/tensor.js';
import { cast } from './cast.js';
import { checkTargetValues, meanOverValid } from './cross-entropy.js';
import { div } from './elementwise.js';

const plain = { transA: false, transB: false, batchShape: [], aStrides: [], bStrides: [] };

/** One launch's limits of the backward's two products for a chunk of `rows`: dlogits_j · w_j (dx) and dlogits_jᵀ · x_r (dw). */
const backwardLimits = (rows: number, V: number) => ({
  dx: matmulLaunchLimits({ ...plain, M: rows, K: V }),
  dw: matmulLaunchLimits({ ...plain, M: V, K: rows, transA: true }),
});

/**
 * Rows per chunk: as many as keep one chunk's logits, and its rows of x, within a binding, and as
 * the backward's products take in one launch (dx's product has M of them, dw's K). The memory plan
 * sizes the chunks so, at the binding limit it is given.
 */
export function chunkRows(V: number, C: number, bindingLimit = profile().bindingLimit): number {
  const fit = Math.max(1, Math.floor(bindingLimit / (4 * Math.max(V, C))));
  const { dx, dw } = backwardLimits(fit, V);
  return Math.min(fit, dx.M, dw.K);
}

/** Rows of the weight per window in the backward: as many as both products take in one launch (dx's product has K of them, dw's M). */
export function windowRows(rows: number, V: number): number {
  const { dx, dw } = backwardLimits(rows, V);
  return Math.min(dx.K, dw.M);
}

/** `t` as float32: itself, or a float32 copy of a float16 tensor (the caller disposes it). */
const widen = (t: Tensor) => (t.dtype === 'float32' ? t : cast(t, 'float32'));

/** Rows [r0, r0 + rows) of a row-major [N, width] tensor of 4-byte elements, copied into a tensor of their own. */
function rowsOf(t: Tensor, r0: number, rows: number, width: number): Tensor {
  const out = Tensor.empty([rows, width], t.dtype, 'linearCrossEntropy rows');
  device().copy(t.buffer(), 4 * r0 * width, out.buffer(), 0, 4 * rows * width);
  return out;
}

/** logits [rows, V] = x_r · wᵀ (the weight a window of rows at a time when it is larger than a binding). */
function logitsOf(x: Tensor, w: Tensor): Tensor {
  const [rows, C] = x.shape as [number, number];
  const V = w.shape[0]!;
  const logits = Tensor.empty([rows, V], 'float32', 'linearCrossEntropy logits');
  matmul2d(x, w, logits, { M: rows, N: V, K: C, transA: false, transB: true });
  return logits;
}

const linearCrossEntropyOp = defineOp({
  name: 'linearCrossEntropy',
  dtypes: { input: FLOAT_DTYPES, weight: FLOAT_DTYPES, targets: ['int32'] },
  forward(ctx: OpContext, input: Tensor, weight: Tensor, targets: Tensor, ignoreIndex: number) {
    const [x, w] = [widen(input), widen(weight)];
    const [N, C] = x.shape as [number, number];
    const V = w.shape[0]!;
    const loss = zeros([N]);
    const valid = zeros([N]);
    const lse = zeros([N]);
    const R = chunkRows(V, C);
    for (let r0 = 0; r0 < N; r0 += R) {
      const rows = Math.min(R, N - r0);
      const [xr, tr] = [rowsOf(x, r0, rows, C), rowsOf(targets, r0, rows, 1)];
      const logits = logitsOf(xr, w);
      const out = [loss, valid, lse].map(() => Tensor.empty([rows], 'float32', 'linearCrossEntropy rows'));
      launchCrossEntropy({ x: logits.buffer(), targets: tr.buffer(), loss: out[0]!.buffer(), valid: out[1]!.buffer(), lse: out[2]!.buffer() }, rows, V, ignoreIndex);
      [loss, valid, lse].forEach((t, k) => device().copy(out[k]!.buffer(), 0, t.buffer(), 4 * r0, 4 * rows));
      for (const t of [xr, tr, logits, ...out]) t.dispose();
    }
    const { mean, count } = meanOverValid(loss, valid);
    ctx.save(input, weight, targets, lse, count);
    for (const t of [loss, valid, lse, count]) t.dispose();
    for (const [t, wide] of [[input, x], [weight, w]]) if (wide !== t) wide.dispose();
    return mean;
  },
  shape([x, w, targets, ignoreIndex]) {
    assertRank('linearCrossEntropy', x, 2, 'input [N, C]');
    assertRank('linearCrossEntropy', w, 2, 'weight [V, C]');
    if (w.shape[1] !== x.shape[1] || targets.rank !== 1 || targets.shape[0] !== x.shape[0] || !w.shape[0]) {
      throw new Error(`linearCrossEntropy: expected input [N, C], weight [V, C] and targets [N], got ${x.describe()}, ${w.describe()} and ${targets.describe()}`);
    }
    // eagerly, as crossEntropy: an out-of-range target from JS data surfaced at the next read, as crossEntropy's GPU fault
    checkTargetValues('linearCrossEntropy', targets, w.shape[0]!, ignoreIndex, `weight ${formatShape(w.shape)}`);
    return { shape: [], dtype: 'float32' };
  },
  backward(ctx, g, [, , , ignoreIndex]) {
    const [input, weight, targets, lse, count] = ctx.saved as [Tensor, Tensor, Tensor, Tensor, Tensor];
    const [x, w] = [widen(input), widen(weight)];
    const [N, C] = x.shape as [number, number];
    const V = w.shape[0]!;
    const scale = div(g, count);
    const dx = ctx.needsGrad[0] ? zeros([N, C]) : null;
    const dw = ctx.needsGrad[1] ? zeros([V, C]) : null;
    const R = chunkRows(V, C);
    // C = 0: dx and dw are empty, and the weight's rows of 0 bytes cannot be cut into windows
    for (let r0 = 0; C > 0 && r0 < N; r0 += R) {
      const rows = Math.min(R, N - r0);
      const [xr, tr, lr] = [rowsOf(x, r0, rows, C), rowsOf(targets, r0, rows, 1), rowsOf(lse, r0, rows, 1)];
      const logits = logitsOf(xr, w);
      const dlogits = Tensor.empty([rows, V], 'float32', 'linearCrossEntropy dlogits');
      launchCrossEntropyBackward({ x: logits.buffer(), targets: tr.buffer(), lse: lr.buffer(), scale: scale.buffer(), dx: dlogits.buffer() }, rows, V, ignoreIndex);
      const dxr = zeros([rows, C]);
      for (const { start: v0, count: vw } of pieces(V, 4 * C, 4 * C, windowRows(rows, V))) {
        let block = dlogits;
        if (vw !== V) {
          block = Tensor.empty([rows, vw], 'float32', 'linearCrossEntropy dlogits block');
          launchCopy(dlogits.buffer(), block.buffer(), { shape: [rows, vw], srcStrides: [V, 1], dstStrides: [vw, 1], srcBase: v0 });
        }
        const wj = windowOf(w.buffer(), v0, vw, 4 * C);
        const part = Tensor.empty([rows, C], 'float32', 'linearCrossEntropy dx part');
        launchMatmul(block.buffer(), wj, part.buffer(), { ...plain, M: rows, N: C, K: vw }); // dlogits_j · w_j
        launchAccumulate(dxr.buffer(), part.buffer(), rows * C);
        part.dispose();
        if (dw) {
          const dwj = Tensor.empty([vw, C], 'float32', 'linearCrossEntropy dw part');
          launchMatmul(block.buffer(), xr.buffer(), dwj.buffer(), { ...plain, M: vw, N: C, K: rows, transA: true }); // dlogits_jᵀ · x_r
          launchAccumulate(dw.buffer(), dwj.buffer(), vw * C, v0 * C);
          dwj.dispose();
        }
        if (block !== dlogits) block.dispose();
      }
      if (dx) device().copy(dxr.buffer(), 0, dx.buffer(), 4 * r0 * C, 4 * rows * C);
      for (const t of [xr, tr, lr, logits, dlogits, dxr]) t.dispose();
    }
    scale.dispose();
    // float16 inputs get float16 gradients, rounded once from the float32 sums
    const narrow = (grad: Tensor | null, like: Tensor, wide: Tensor) => {
      if (wide !== like) wide.dispose();
      if (!grad || grad.dtype === like.dtype) return grad;
      const rounded = cast(grad, like.dtype as 'float16');
      grad.dispose();
      return rounded;
    };
    return [narrow(dx, input, x), narrow(dw, weight, w), null];
  },
});

/**
 * crossEntropy(input · weightᵀ, targets, opts) without the [N, V] logits: input [N, C], weight [V, C],
 * targets int32 [N]; rows whose target is opts.ignoreIndex (default -100, as crossEntropy) are left out.
 */
export const linearCrossEntropy = withFront(linearCrossEntropyOp, (input: Tensor, weight: Tensor, targets: Tensor, opts: { ignoreIndex?: number } = {}): Tensor => {
  checkOptionKeys('linearCrossEntropy', opts, ['ignoreIndex']); // a bare -1 (the old positional form) or { ignore_index } would be ignored
  return linearCrossEntropyOp(input, weight, targets, opts.ignoreIndex ?? -100);
});
