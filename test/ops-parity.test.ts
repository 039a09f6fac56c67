// Ops against PyTorch 1.13 (test/fixtures/torch/make_ops_parity_fixture.py, ops-parity.json): each
// case calls one op (or a short chain: a cut then a join) on small inputs with NaN, infinities,
// signed zeros and ties among them, and compares the output and the gradients of (out * w).sum(),
// w = ((i % 7) + 1) / 4, with torch's; a few in float16, as torch's CPU half computes them. NaN must meet NaN and an infinity the same infinity; the
// sign of a zero is not compared (torch's own depends on its vectorised or scalar loop).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as ops from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { profile } from '../src/kernels/profile.js';
import { setupDevice } from './helpers.js';

beforeAll(setupDevice);

type Encoded = number | 'nan' | 'inf' | '-inf' | '-0';
interface Input { shape: number[]; data: Encoded[]; dtype: 'float32' | 'float16' | 'int32'; grad: boolean }
interface Case { id: string; inputs: Input[]; out: { shape: number[]; data: Encoded[] }; grads?: Encoded[][] }

const decode = (v: Encoded): number => (v === 'nan' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : v === '-0' ? -0 : v);
const cases: Case[] = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures/torch/ops-parity.json'), 'utf8'));

/** Scaled pieces joined again: each piece's gradient carries its own factor. */
const rejoin = (pieces: Tensor[], dim: number) => ops.cat(pieces.map((u, k) => u.mul(k + 1)), dim);

// each case's call, as the fixture script makes it in torch
const CALLS: Record<string, (...t: Tensor[]) => Tensor> = {
  clamp_tensor_both: (x, a, b) => ops.clamp(x, a, b),
  clamp_tensor_min: (x, a) => ops.clamp(x, a),
  clamp_tensor_max: (x, b) => ops.clamp(x, null, b),
  clamp_tensor_edges: (x, a, b) => ops.clamp(x, a, b),
  clamp_number_min_tensor_max: (x, b) => ops.clamp(x, -1.5, b),
  clamp_int32: (x) => ops.clamp(x, -1, 2),
  clamp_int32_tensor: (x, a) => x.clamp(a),
  maximum_nan_ties: (a, b) => ops.maximum(a, b),
  minimum_nan_ties: (a, b) => ops.minimum(a, b),
  maximum_broadcast: (a, b) => ops.maximum(a, b),
  sum_neg_dim: (t) => t.sum(-1),
  sum_dims_keepdim: (t) => t.sum([0, -1], true),
  mean_dim1: (t) => t.mean(1),
  amax_dim_keepdim_ties: (t) => t.max(-2, true),
  amin_dims: (t) => t.min([0, 2]),
  amax_nan: (t) => t.max(1),
  var_dim: (t) => t.var(1),
  std_dim_keepdim: (t) => t.std(-1, { keepdim: true }),
  var_unbiased_false: (t) => t.var(0, { correction: 0 }),
  argmax_dim_ties: (t) => t.argmax(1),
  argmin_flat: (t) => t.argmin(),
  argmax_nan: (t) => t.argmax(1),
  softmax_neg_inf_rows: (t) => ops.softmax(t, -1),
  log_softmax_neg_inf_rows: (t) => ops.logSoftmax(t, -1),
  softmax_dim0: (t) => ops.softmax(t, 0),
  log_softmax_dim1_of_3d: (t) => ops.logSoftmax(t, 1),
  softmax_partial_neg_inf_grad: (t) => ops.softmax(t, -1),
  log_softmax_partial_neg_inf_grad: (t) => ops.logSoftmax(t, -1),
  where_broadcast: (c, a, b) => ops.where(c, a, b),
  masked_fill_as_where: (c, a) => ops.where(c, -Infinity, a),
  embedding: (ids, e) => ops.embedding(e, ids), // ours takes (table, ids), F.embedding (ids, table)
  cat_dim1: (p, q) => ops.cat([p, q], 1),
  cat_neg_dim: (p, q) => ops.cat([p, q], -1),
  stack_dim_last: (p, q) => ops.stack([p, q], -1),
  split_sizes_dim1: (t) => rejoin(t.split([1, 3], 1), 1),
  split_size_last_smaller: (t) => rejoin(t.split(2, 0), 0),
  chunk_uneven: (t) => rejoin(t.chunk(3, -1), -1),
  permute_then_reshape: (t) => t.permute(2, 0, 1).reshape(4, 6),
  transpose_then_sum: (t) => t.transpose(0, 1).sum(-1),
  mT_then_matmul: (p, q) => p.mT.matmul(q),
  transpose_0d: (t) => t.transpose(0, -1).mul(2),
  permute_then_add: (p, q) => p.permute(1, 0).add(q),
  matmul_batch_broadcast: (p, q) => p.matmul(q),
  matmul_vec_mat: (p, q) => p.matmul(q),
  matmul_mat_vec: (p, q) => p.matmul(q),
  empty_sum_dim0: (t) => t.sum(0),
  empty_mean_dim1: (t) => t.mean(1),
  empty_add: (t, u) => t.add(u),
  empty_softmax: (t) => ops.softmax(t, -1),
  empty_matmul: (p, q) => p.matmul(q),
  empty_matmul_inner: (p, q) => p.matmul(q),
  empty_cat: (p, q) => ops.cat([p, q], 0),
  empty_amax_dim1: (t) => t.max(1),
  empty_softmax_dim0: (t) => ops.softmax(t, 0),
  empty_var_dim1: (t) => t.var(1),
  empty_clamp: (t, a) => t.clamp(a),
  empty_where: (c, a) => ops.where(c, a, 0),
  empty_embedding: (ids, t) => ops.embedding(t, ids),
  empty_stack: (p, q) => ops.stack([p, q], 1),
  empty_chunk: (t) => rejoin(t.chunk(2, 1), 1),
  empty_permute_matmul: (p, q) => p.permute(1, 0).matmul(q),
  empty_batch_matmul: (p, q) => p.matmul(q),
  abs_specials: (t) => t.abs(),
  relu_specials: (t) => t.relu(),
  sigmoid_specials: (t) => t.sigmoid(),
  tanh_specials: (t) => t.tanh(),
  exp_specials: (t) => t.exp(),
  neg_specials: (t) => t.neg(),
  gelu_specials: (t) => t.gelu(),
  gelu_tanh_specials: (t) => t.geluTanh(),
  rsqrt_specials: (t) => t.rsqrt(),
  square_specials: (t) => t.square(),
  pow_specials: (t) => t.pow(2),
  sqrt_specials: (t) => t.sqrt(),
  log_specials: (t) => t.log(),
  div_specials: (p, q) => p.div(q),
  softmax_neg_inf_rows_grad: (t) => ops.softmax(t, -1),
  log_softmax_neg_inf_rows_grad: (t) => ops.logSoftmax(t, -1),
  softmax_pos_inf: (t) => ops.softmax(t, -1),
  log_softmax_large: (t) => ops.logSoftmax(t, -1),
  softmax_0d: (t) => ops.softmax(t, 0),
  log_softmax_0d: (t) => ops.logSoftmax(t, -1),
  amax_signed_zero_ties: (t) => t.max(1),
  amin_inf: (t) => t.min(0),
  sum_inf: (t) => t.sum(1),
  mean_overflow: (t) => t.mean(1),
  empty_mean_dim0: (t) => t.mean(0),
  std_constant_row: (t) => t.std(1),
  var_single_element: (t) => t.var(1),
  var_correction0_single: (t) => t.var(1, { correction: 0 }),
  softmax_long_rows: (t) => ops.softmax(t, -1),
  log_softmax_long_rows: (t) => ops.logSoftmax(t, -1),
  amax_long_rows: (t) => t.max(-1),
  argmax_long_rows: (t) => t.argmax(-1),
  argmin_long_rows: (t) => t.neg().argmin(-1),
  sum_long_axis0: (t) => t.sum(0),
  topk_values_specials: (t) => t.topk(4, 1)[0],
  topk_indices_specials: (t) => t.topk(4, 1)[1],
  topk_values_axis0: (t) => t.topk(2, 0)[0],
  topk_whole_row: (t) => t.topk(9, -1)[0],
  topk_ties_stable_sort_order: (t) => t.topk(40)[1],
  pow_tensor_specials: (a, b) => a.pow(b),
  pow_half: (t) => t.pow(0.5),
  pow_zero_base: (t) => ops.pow(0, t),
  div_grads_specials: (p, q) => p.div(q),
  mul_inf_zero: (p, q) => p.mul(q),
  where_nan_branch_grad: (c, a, b) => ops.where(c, a, b.mul(2)),
  matmul_inf_nan: (p, q) => p.matmul(q),
  matmul_inf_times_zero: (p, q) => p.matmul(q),
  matmul_1d_1d: (p, q) => p.matmul(q),
  layer_norm_with_constant_row: (t, w, b) => ops.layerNorm(t, w, b),
  layer_norm_no_bias: (t, w) => ops.layerNorm(t, w, null, 1e-3),
  cross_entropy_ignore_and_neg_inf: (t, y) => ops.crossEntropy(t, y),
  cross_entropy_3d: (t, y) => ops.crossEntropy(t, y), // the classes on the last axis (README)
  cross_entropy_target_neg_inf: (t, y) => ops.crossEntropy(t, y),
  linear_bias: (t, w, b) => ops.linear(t, w, b),
  causal_attention: (t) => ops.causalAttention(t, 2),
  causal_attention_one_head_long: (t) => ops.causalAttention(t, 1),
  bias_gelu: (t, b) => ops.biasGelu(t, b),
  half_square_past_max: (t) => t.square(),
  half_mul_past_max: (p, q) => p.mul(q),
  half_add_past_max: (p, q) => p.add(q),
  half_sum_cancels_in_float32: (t) => t.sum(),
  half_clamp_tensor_bounds: (x, a, b) => ops.clamp(x, a, b),
  half_maximum_ties: (p, q) => p.maximum(q),
  half_topk_values: (t) => t.topk(3, -1)[0],
};

// where ours differs on purpose (README, "Where it differs from PyTorch"): the gradient is not compared
const OWN_GRADIENT: Record<string, string> = {
  amax_nan: "max's gradient goes to the NaNs of a row whose max is NaN; torch 1.13's amax makes it NaN for the whole row (0 / 0)",
};

/** Where got differs from want: both NaN, the same infinity, or within atol + rtol |want| (the sign of a zero aside). */
function mismatches(got: ArrayLike<number>, want: number[], atol = 1e-5, rtol = 1e-5): string[] {
  if (got.length !== want.length) return [`${got.length} elements, want ${want.length}`];
  const out: string[] = [];
  for (let i = 0; i < want.length; i++) {
    const [g, w] = [got[i]!, want[i]!];
    const ok = Number.isNaN(w) ? Number.isNaN(g) : Number.isFinite(w) ? Math.abs(g - w) <= atol + rtol * Math.abs(w) : g === w;
    if (!ok) out.push(`[${i}] ${g}, want ${w}`);
  }
  return out;
}

describe('ops against PyTorch 1.13: values and gradients', () => {
  it('the fixture and the calls name the same cases', () => expect(cases.map((c) => c.id).sort()).toEqual(Object.keys(CALLS).sort()));

  for (const c of cases) {
    it(c.id, () =>
      ops.scope(async () => {
        const half = c.inputs.some((inp) => inp.dtype === 'float16');
        if (half && !profile().f16) return; // an adapter without shader-f16
        const inputs = c.inputs.map((inp) => {
          const t = ops.tensor(inp.data.map(decode), inp.shape, inp.dtype);
          return inp.grad ? t.requiresGrad_() : t;
        });
        const out = CALLS[c.id]!(...inputs);
        expect(out.shape, 'shape').toEqual(c.out.shape);
        // float16: one rounding of a float32 result (2^-11 relative), 2 for a gradient
        const [atol, rtol] = half ? [2 ** -24, 2 ** -11] : [1e-5, 1e-5];
        expect(mismatches(await out.toArray(), c.out.data.map(decode), atol, rtol), 'output').toEqual([]);
        if (!c.grads || OWN_GRADIENT[c.id]) return;
        const n = out.size;
        const w = ops.tensor(Array.from({ length: n }, (_, i) => ((i % 7) + 1) / 4), out.shape, out.dtype);
        out.mul(w).sum().backward();
        const withGrad = inputs.filter((_, i) => c.inputs[i]!.grad);
        for (const [k, t] of withGrad.entries()) {
          const got = t.grad ? await t.grad.toArray() : new Float32Array(t.size);
          expect(mismatches(got, c.grads[k]!.map(decode), atol, 2 * rtol), `gradient of input ${c.inputs.indexOf(c.inputs.filter((i) => i.grad)[k]!)}`).toEqual([]);
        }
      }));
  }
});
