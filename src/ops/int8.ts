// int8 weight-only quantization, for inference: a weight W [N, K] is kept as Q int8 [N, K] and
// scale f32 [N], W ≈ scale ⊙ Q row by row (symmetric, per output channel: scale[n] = max|W[n, :]| /
// 127, Q = round(W / scale) clamped to [-127, 127]). Activations stay float32; kernels read Q four
// to a word and dequantize in registers (src/kernels/wgsl/int8.ts).
//   linearInt8(x [..., K], Q [N, K], scale [N])   = x · (scale ⊙ Q)ᵀ -> [..., N]   (a Linear's weight, the tied LM head)
//   embeddingInt8(Q [V, C], scale [V], ids [...]) = rows scale[id] Q[id, :] -> [...ids, C]
// Both are NOT_DIFFERENTIABLE: int8 tensors cannot require grad, and gradients with respect to the
// activations would need a second int8 kernel (Q untransposed) that inference does not use; train
// the float32 model and quantize it. Q (and the embedding table) must fit one binding (GPT-2's
// 50257 x 768 table is 39 MB as int8); rows of x and of the result beyond a binding go in bands.
import { defineOp, NOT_DIFFERENTIABLE, type OpContext } from '../autograd/op.js';
import { device } from '../device/device.js';
import { profile } from '../kernels/profile.js';
import { launchEmbeddingInt8 } from '../kernels/wgsl/gather.js';
import { launchMatmul } from '../kernels/wgsl/matmul.js';
import { assertRank, assertShape } from '../tensor/check.js';
import { formatShape, numel } from '../tensor/shape.js';
import { tensor } from '../tensor/create.js';
import { Tensor } from '../tensor/tensor.js';
import { checkIds } from './gather.js';

/** The largest magnitude of Q: symmetric, so -128 is never used and Q(-W) = -Q(W). */
const INT8_MAX = 127;

/** Throws unless an int8 table `q` fits one binding (its kernels bind it whole). */
export function checkFits(op: string, q: Tensor): void {
  const limit = profile().bindingLimit;
  if (q.size > limit) throw new RangeError(`${op}: ${q.describe()} is ${q.size} bytes, more than one binding holds (${limit} bytes)`);
}

/** Checks Q [rows, cols] int8 with scale [rows]. */
function checkQuantized(op: string, q: Tensor, scale: Tensor, what: string): void {
  assertRank(op, q, 2, what);
  if (q.rank !== 2) throw new RangeError(`${op}: ${what} must be int8 [rows, cols], got ${q.describe()}`);
  assertShape(op, scale, [q.shape[0]!], `scale (one per row of ${formatShape(q.shape)})`);
  checkFits(op, q);
}

/**
 * x [..., K] times a quantized weight of N rows -> [..., N] float32: `launch(x, out, M)` records the
 * product of M rows; rows of x and of the result beyond a binding go in bands (`op` names them).
 */
export function linearInBands(op: string, x: Tensor, N: number, K: number, launch: (x: GPUBuffer, out: GPUBuffer, M: number) => void): Tensor {
  const M = numel(x.shape.slice(0, -1));
  const out = Tensor.empty([...x.shape.slice(0, -1), N], 'float32', op);
  // rows per band: a band of x and of the result each fit one binding
  const rows = Math.max(1, Math.floor(profile().bindingLimit / (4 * Math.max(K, N, 1))));
  if (M <= rows) {
    launch(x.buffer(), out.buffer(), M);
    return out;
  }
  for (let m0 = 0; m0 < M; m0 += rows) {
    const mr = Math.min(rows, M - m0);
    const [xb, ob] = [Tensor.empty([mr, K], 'float32', `${op} band`), Tensor.empty([mr, N], 'float32', `${op} band`)];
    device().copy(x.buffer(), 4 * m0 * K, xb.buffer(), 0, 4 * mr * K);
    launch(xb.buffer(), ob.buffer(), mr);
    device().copy(ob.buffer(), 0, out.buffer(), 4 * m0 * N, 4 * mr * N);
    xb.dispose();
    ob.dispose();
  }
  return out;
}

export const linearInt8 = defineOp({
  name: 'linearInt8',
  dtypes: { input: ['float32'], weight: ['int8'], scale: ['float32'] },
  forward(_ctx: OpContext, x: Tensor, q: Tensor, scale: Tensor) {
    const [N, K] = q.shape as [number, number];
    const plan = { N, K, transA: false, transB: true, batchShape: [], aStrides: [], bStrides: [], scale: scale.buffer() };
    return linearInBands('linearInt8', x, N, K, (xb, ob, M) => launchMatmul(xb, q.buffer(), ob, { ...plan, M }));
  },
  shape([x, q, scale]) {
    assertRank('linearInt8', x, 1, 'input [..., K]');
    checkQuantized('linearInt8', q, scale, 'weight [N, K]');
    const [N, K] = q.shape as [number, number];
    if (x.shape.at(-1) !== K) throw new RangeError(`linearInt8: input ${x.describe()} must end in K = ${K}, the columns of weight ${q.describe()}`);
    if (4 * Math.max(K, N) > profile().bindingLimit) throw new RangeError(`linearInt8: a row of input ${x.describe()} or of the result (${N} columns) is wider than one binding`);
    return { shape: [...x.shape.slice(0, -1), N], dtype: 'float32' };
  },
  backward: NOT_DIFFERENTIABLE,
});

export const embeddingInt8 = defineOp({
  name: 'embeddingInt8',
  dtypes: { table: ['int8'], scale: ['float32'], ids: ['int32'] },
  forward(_ctx: OpContext, q: Tensor, scale: Tensor, ids: Tensor) {
    const [V, C] = q.shape as [number, number];
    checkIds('embeddingInt8', ids, V);
    const out = Tensor.empty([...ids.shape, C], 'float32', 'embeddingInt8');
    launchEmbeddingInt8(q.buffer(), scale.buffer(), ids.buffer(), out.buffer(), ids.size, V, C);
    return out;
  },
  shape([q, scale, ids]) {
    checkQuantized('embeddingInt8', q, scale, 'table [V, C]');
    if (q.shape[0] === 0 && ids.size > 0) throw new Error(`embeddingInt8: table ${q.describe()} has no rows to look up`);
    return { shape: [...ids.shape, q.shape[1]!], dtype: 'float32' };
  },
  backward: NOT_DIFFERENTIABLE,
});

/**
 * Symmetric per-row int8 quantization of a row-major [rows, cols] matrix: scale[r] = max|w[r, :]| /
 * 127 (rounded to float32, as stored), q = round(w / scale), halves away from zero, clamped to
 * [-127, 127]. A row of zeros gets scale 0 and q 0. A NaN or infinite weight is refused, the
 * error starting with `what` (the caller and the tensor).
 */
export function quantizeRowsInt8(w: Float32Array, rows: number, cols: number, what = 'quantizeRowsInt8:'): { q: Int8Array; scale: Float32Array } {
  if (w.length !== rows * cols) throw new RangeError(`quantizeRowsInt8: ${w.length} values are not [${rows}, ${cols}]`);
  return quantizeSymmetric(w, rows, cols, cols, INT8_MAX, what);
}

/**
 * Symmetric quantization of a row-major [rows, cols] matrix in groups of `group` consecutive
 * weights of a row (`group` divides cols): scale = max|group| / qmax (rounded to float32, as
 * stored), q = round(w / scale), halves away from zero, clamped to [-qmax, qmax]; a group of zeros
 * gets scale 0 and q 0. q [rows, cols] one a byte, scale [rows, cols / group]. A NaN or infinite
 * weight is refused, the error starting with `what`.
 */
export function quantizeSymmetric(w: Float32Array, rows: number, cols: number, group: number, qmax: number, what: string): { q: Int8Array; scale: Float32Array } {
  const q = new Int8Array(rows * cols);
  const scale = new Float32Array(cols ? (rows * cols) / group : 0);
  for (let g = 0; g < scale.length; g++) {
    const values = w.subarray(g * group, (g + 1) * group);
    let max = 0;
    for (const v of values) {
      if (!Number.isFinite(v)) throw new RangeError(`${what} row ${Math.floor((g * group) / cols)} holds ${v}; only finite weights can be quantized`);
      max = Math.max(max, Math.abs(v));
    }
    const s = (scale[g] = Math.fround(max / qmax));
    if (s === 0) continue;
    values.forEach((v, i) => (q[g * group + i] = Math.sign(v) * Math.min(qmax, Math.round(Math.abs(v) / s))));
  }
  return { q, scale };
}

/** A float32 weight [N, K] on the GPU as int8 Q [N, K] and scale [N] (quantizeRowsInt8 on a host copy). */
export async function quantizeInt8(w: Tensor): Promise<{ q: Tensor; scale: Tensor }> {
  if (w.dtype !== 'float32' || w.rank !== 2) throw new TypeError(`quantizeInt8: expected a float32 [N, K] weight, got ${w.describe()}`);
  const [N, K] = w.shape as [number, number];
  const host = quantizeRowsInt8((await w.toArray()) as Float32Array, N, K, `quantizeInt8: weight ${w.describe()}`);
  return { q: tensor(host.q, [N, K]), scale: tensor(host.scale, [N]) };
}
