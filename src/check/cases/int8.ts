// Cases of the int8 weight ops: random int8 weights over the whole symmetric range with positive
// per-row scales (a zero scale now and then), against float64 products and lookups of the
// dequantized weights. Rows of x both within the profile's skinnyRows (the skinny path: 4 on
// GPUs, 8 on CPU adapters) and beyond (the tiled path); odd K (rows of Q starting mid-word) and K a
// multiple of 4 (whole words); vectors as x. Where the profile puts a product on int8 tensor cores
// (prompt processing), x is rounded to int8 per row first: the tolerance then adds that rounding's
// bound, max over rows of scale_x / 2 times the largest sum_k |W[n, k]| (the device-start
// self-check holds those kernels to exact integer sums).
// linearInt4: random bytes as packed int4 weights (every nibble, -8 too), groups of 8 to 32, rows of
// x within skinnyRows and beyond (skinny kernel; dequantized, then the float32 matmul, or the skinny
// kernel where W in float32 would pass a binding).
import type { OpName } from '../../ops/index.js';
import type { Tensor } from '../../tensor/tensor.js';
import { bool, cap, dim, ints, MAX_SIZE, pick, shape, values, vocabulary } from '../draw.js';
import type { Random } from '../random.js';
import { int8TensorCoresFor } from '../../kernels/profile.js';
import { numel, ref, type Ref } from '../reference/array.js';
import { embeddingRef } from '../reference/indexing.js';
import { dequantizeInt4Ref } from '../reference/int4.js';
import { dequantizeRef } from '../reference/int8.js';
import { matmulRef } from '../reference/matmul.js';
import { floatInput, int8Input, intInput, type OpCase, type Sample } from '../sample.js';

/** Scales in (0, 1/127] (weights within [-1, 1]), one row in eight with scale 0. */
function scales(r: Random, n: number): Ref {
  const s = values(r, [n], 1e-4, 1 / 127);
  return { shape: [n], data: s.data.map((v) => (r.int(0, 7) === 0 ? 0 : v)) };
}

/** The most rounding x [..., K] to int8 per row can move x · Wᵀ: max over rows of max|x_row| / 254 times max over n of sum_k |W[n, k]|. */
function activationRounding(x: Ref, w: Ref): number {
  const [N, K] = w.shape as [number, number];
  let halfStep = 0;
  for (let i = 0; i < x.data.length; i += K) halfStep = Math.max(halfStep, x.data.slice(i, i + K).reduce((m, v) => Math.max(m, Math.abs(v)), 0) / 254);
  let rowSum = 0;
  for (let n = 0; n < N; n++) rowSum = Math.max(rowSum, w.data.slice(n * K, (n + 1) * K).reduce((t, v) => t + Math.abs(v), 0));
  return halfStep * rowSum * (1 + 1e-6); // and the float32 scale's rounding
}

const linearInt8 = {
  draw(r: Random): Sample<[Tensor, Tensor, Tensor]> {
    // Q fits the small-bindings variant's 4 KiB binding (the op binds it whole)
    const [N, K] = cap([dim(r), bool(r) ? 4 * r.int(1, 17) : dim(r)], MAX_SIZE);
    const lead = pick(r, [[], [r.int(1, 4)], shape(r, 1, 2)]);
    const M = cap(lead, Math.max(1, Math.floor(MAX_SIZE / K!)));
    const [x, q, s] = [values(r, [...M, K!], -1, 1), ints(r, [N!, K!], -127, 127), scales(r, N!)];
    return {
      inputs: [floatInput(x, false), int8Input(q), floatInput(s, false)],
      args: ([x, q, s]) => [x!, q!, s!],
      reference: ([x, q, s]) => matmulRef(x!, dequantizeRef(q!, s!), false, true),
      // float32 dot products err like sqrt(K) for random-sign terms
      tol: { atol: 1e-5 * Math.sqrt(K!) + (int8TensorCoresFor(numel(M), K!) ? activationRounding(x, dequantizeRef(q, s)) : 0), rtol: 1e-4 },
    };
  },
};

const embeddingInt8 = {
  draw(r: Random): Sample<[Tensor, Tensor, Tensor]> {
    const [V, C] = cap([vocabulary(r), dim(r)], MAX_SIZE);
    const idShape = shape(r, 0, 3, Math.min(500, Math.floor(MAX_SIZE / C!)));
    const ids = ref(idShape, r.ints(numel(idShape), 0, V! - 1));
    return {
      inputs: [int8Input(ints(r, [V!, C!], -127, 127)), floatInput(scales(r, V!), false), intInput(ids)],
      args: ([q, s, i]) => [q!, s!, i!],
      reference: ([q, s, i]) => embeddingRef(dequantizeRef(q!, s!), i!),
      tol: { atol: 0, rtol: 1e-7 }, // one float32 rounding of q * scale
    };
  },
};

const linearInt4 = {
  draw(r: Random): Sample<[Tensor, Tensor, Tensor]> {
    const [G, groups] = [pick(r, [8, 16, 32]), r.int(1, 4)];
    const K = G * groups;
    // Q fits the small-bindings variant's 4 KiB binding (the op binds it whole); W in float32 need
    // not (where it does not, the skinny kernel takes every row: that variant checks it)
    const N = Math.min(dim(r), Math.floor(8192 / K));
    const M = cap(pick(r, [[], [r.int(1, 4)], shape(r, 1, 2)]), Math.floor(MAX_SIZE / K));
    const [x, q, s] = [values(r, [...M, K], -1, 1), ints(r, [N, K / 2], -128, 127), scales(r, N * groups)];
    return {
      inputs: [floatInput(x, false), int8Input(q), floatInput({ shape: [N, groups], data: s.data }, false)],
      args: ([x, q, s]) => [x!, q!, s!],
      reference: ([x, q, s]) => matmulRef(x!, dequantizeInt4Ref(q!, s!), false, true),
      tol: { atol: 1e-5 * Math.sqrt(K), rtol: 1e-4 },
    };
  },
};

export const INT8_CASES = { linearInt8, embeddingInt8, linearInt4 } satisfies { [K in OpName]?: OpCase<K> };
