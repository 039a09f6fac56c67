// int4 weight-only quantization, group-wise, for inference: a weight W [N, K] is kept as Q, int4
// values two a byte (an int8 tensor [N, K / 2] of packed bytes, layout in
// src/kernels/wgsl/int4.ts), and scale f32 [N, K / G], one per group of G consecutive weights of a
// row: W[n, k] ≈ Q[n, k] scale[n, k / G]. Symmetric, as int8's (int8.ts): scale = max|group| / 7,
// Q = round(W / scale) in [-7, 7], so Q(-W) = -Q(W) and a group's largest weight is kept exactly;
// llama.cpp's Q4_0 also uses -8 (scale = the signed extreme / -8), a level more for one sign.
//   linearInt4(x [..., K], Q [N, K / 2], scale [N, K / G]) = x · Wᵀ -> [..., N]   (a Linear's weight)
// G (a multiple of 8, dividing K) is K over scale's columns. NOT_DIFFERENTIABLE, as int8's ops:
// train the float32 model and quantize it. Q must fit one binding; prompt processing dequantizes W
// into a float32 transient where that fits one too (else the skinny kernel takes every row).
import { defineOp, NOT_DIFFERENTIABLE, type OpContext } from '../autograd/op.js';
import { profile } from '../kernels/profile.js';
import { launchInt4Matmul } from '../kernels/wgsl/int4.js';
import { assertRank, assertShape } from '../tensor/check.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { checkFits, linearInBands, quantizeSymmetric } from './int8.js';

/** The largest magnitude of Q: symmetric, so -8 is never used. */
const INT4_MAX = 7;

/** Why `groupSize` cannot split rows of `cols` weights into int4 groups, or null: a multiple of 8 (whole u32 words) dividing cols. */
export function int4GroupProblem(groupSize: number, cols: number): string | null {
  if (!Number.isInteger(groupSize) || groupSize < 8 || groupSize % 8 !== 0) return `a group size must be a multiple of 8 (whole words of eight int4 weights), got ${groupSize}`;
  return cols % groupSize === 0 ? null : `group size ${groupSize} does not divide rows of ${cols} weights`;
}

export const linearInt4 = defineOp({
  name: 'linearInt4',
  dtypes: { input: ['float32'], weight: ['int8'], scale: ['float32'] },
  forward(_ctx: OpContext, x: Tensor, q: Tensor, scale: Tensor) {
    const [N, half] = q.shape as [number, number];
    const groups = scale.shape[1]!;
    const [K, G] = [2 * half, groups ? (2 * half) / groups : 8]; // K = 0: no groups, sums of nothing (any whole group size)
    return linearInBands('linearInt4', x, N, K, (xb, ob, M) => launchInt4Matmul(xb, q.buffer(), scale.buffer(), ob, M, N, K, G));
  },
  shape([x, q, scale]) {
    assertRank('linearInt4', x, 1, 'input [..., K]');
    for (const [t, what] of [[q, 'weight int8 [N, K / 2] (packed int4)'], [scale, 'scale [N, K / G]']] as const) {
      if (t.rank !== 2) throw new RangeError(`linearInt4: ${what} must have rank 2, got ${t.describe()}`);
    }
    const [N, half] = q.shape as [number, number];
    const K = 2 * half;
    if (x.shape.at(-1) !== K) throw new RangeError(`linearInt4: input ${x.describe()} must end in K = ${K}, twice the columns of weight ${q.describe()} (two int4 a byte)`);
    const groups = scale.shape[1]!;
    assertShape('linearInt4', scale, [N, groups], `scale (one row per row of ${formatShape(q.shape)})`);
    const problem = groups ? int4GroupProblem(K / groups, K) : K ? `scale ${scale.describe()} has no groups` : null;
    if (problem) throw new RangeError(`linearInt4: scale ${scale.describe()} for K = ${K}: ${problem}`);
    checkFits('linearInt4', q);
    if (4 * Math.max(K, N) > profile().bindingLimit) throw new RangeError(`linearInt4: a row of input ${x.describe()} or of the result (${N} columns) is wider than one binding`);
    return { shape: [...x.shape.slice(0, -1), N], dtype: 'float32' };
  },
  backward: NOT_DIFFERENTIABLE,
});

/**
 * Group-wise symmetric int4 quantization of a row-major [rows, cols] matrix (see the header): q
 * packed two a byte (weight 2j in byte j's low nibble, 2j + 1 in its high one), [rows, cols / 2];
 * scale [rows, cols / groupSize]. Halves round away from zero; a group of zeros gets scale 0 and
 * zeros. A NaN or infinite weight is refused, the error starting with `what`.
 */
export function quantizeGroupsInt4(w: Float32Array, rows: number, cols: number, groupSize: number, what = 'quantizeGroupsInt4:'): { q: Int8Array; scale: Float32Array } {
  if (w.length !== rows * cols) throw new RangeError(`quantizeGroupsInt4: ${w.length} values are not [${rows}, ${cols}]`);
  const problem = int4GroupProblem(groupSize, cols);
  if (problem) throw new RangeError(`${what} ${problem}`);
  const { q, scale } = quantizeSymmetric(w, rows, cols, groupSize, INT4_MAX, what);
  const packed = new Int8Array(q.length / 2);
  for (let j = 0; j < packed.length; j++) packed[j] = (q[2 * j]! & 0xf) | (q[2 * j + 1]! << 4);
  return { q: packed, scale };
}
