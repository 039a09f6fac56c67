// Cases of matmul and the fused ops of a transformer, with the shapes they take in a model and
// the corners their kernels have: matmul transposes, vectors and broadcast batch dims; ids and
// targets as int32 (ignored targets, custom ignoreIndex); dropout's Philox mask; layerNorm with
// and without bias; attention's [B, T, 3C] with C split into heads, a context for decoding, and left-padded rows.
import type { OpName } from '../../ops/index.js';
import type { PenaltyOptions, SamplingOptions } from '../../ops/index.js';
import type { Tensor } from '../../tensor/tensor.js';
import { bool, broadcastFrom, cap, dim, float, grid, largeShape, logits, MAX_SIZE, maybeEmpty, pick, shape, values, vocabulary } from '../draw.js';
import type { Random } from '../random.js';
import { numel, ref, type Ref } from '../reference/array.js';
import { dropoutRef, embeddingRef, sliceRef } from '../reference/indexing.js';
import { matmulRef } from '../reference/matmul.js';
import { biasGeluRef, causalAttentionRef, crossEntropyRef, distillLossRef, layerNormRef, linearRef, logSoftmaxRef, softmaxRef } from '../reference/nn.js';
import { dropoutMaskRef } from '../reference/philox.js';
import { banRepeatedNgramsRef } from '../reference/ngram.js';
import { penalizeRef } from '../reference/penalty.js';
import { sampleCandidates, sampleRef, sampleWalk } from '../reference/sample.js';
import { decisionsOf, nearBoundary, roundRows, shareMiddle, speculativeSampleRef } from '../reference/speculative.js';
import { EXACT, F16_EPS, F16_TINY, floatInput, halfGradTol, intInput, type OpCase, type Sample, type Tolerance } from '../sample.js';

/** Multiply-adds a drawn matmul does at most (its reference runs again for every finite difference). */
const MATMUL_WORK = 40_000;

const matmul = {
  draw(r: Random): Sample<[Tensor, Tensor, { transA?: boolean; transB?: boolean }?]> {
    const batch = Array.from({ length: r.int(0, 2) }, () => maybeEmpty(r, r.int(1, 3)));
    const [M, N, K] = cap([dim(r), dim(r), dim(r)], Math.floor(MATMUL_WORK / numel(batch)));
    const batches = Math.max(1, numel(batch));
    const opts = pick(r, [undefined, {}, { transA: bool(r) }, { transB: bool(r) }, { transA: bool(r), transB: bool(r) }]);
    const [transA, transB] = [opts?.transA ?? false, opts?.transB ?? false];
    const vector = r.int(0, 9); // 0: A is a vector [K], 1: B is, 2: both are
    const stored = (rows: number, cols: number, trans: boolean) => [...broadcastFrom(r, batch), ...(trans ? [cols, rows] : [rows, cols])];
    const a = floatInput(values(r, vector === 0 || vector === 2 ? [K!] : stored(M!, K!, transA), -1, 1));
    const b = floatInput(values(r, vector === 1 || vector === 2 ? [K!] : stored(K!, N!, transB), -1, 1));
    return {
      inputs: [a, b],
      args: ([x, y]) => [x!, y!, opts],
      reference: ([x, y]) => matmulRef(x!, y!, transA, transB),
      // float32 dot products err like sqrt(K) for random-sign terms
      tol: { atol: 1e-5 * Math.sqrt(K!), rtol: 1e-4 },
      // the gradients are such products too: dA sums N terms, dB M per batch, over the batch dims B
      // was broadcast along (an rtol of 1e-2 let a float16-rounded dC through: 2^-11 relative)
      // (never atol 0: M = N = 0, or batch dims of 0 that neither operand kept, drawn beside a vector
      // operand, made a gradient of 1e-20 where differences give 0 a failure)
      gradTol: { atol: 1e-5 * Math.sqrt(Math.max(M!, N!, 1) * batches), rtol: 1e-4 },
      // float16 gradients are sums of up to max(M, N, K) x batch products of rounded factors (|x| <= 1)
      half: { gradTol: halfGradTol(Math.max(1, Math.sqrt(Math.max(M!, N!, K!) * batches) / 4)) },
    };
  },
};

/**
 * A Linear layer: rows drawn like a model's (a few, as decoding has: the skinny kernels add the
 * bias as they store; or many), K a multiple of 4 half the time (the vec4 skinny kernels' layout);
 * now and then without a bias (null or left out: the plain product).
 */
const linear = {
  draw(r: Random): Sample<[Tensor, Tensor, (Tensor | null)?]> {
    const [N, K] = [dim(r), bool(r) ? 4 * r.int(1, 17) : dim(r)];
    const lead = bool(r) ? [r.int(1, 9)] : shape(r, 0, 3, Math.max(1, Math.floor(MATMUL_WORK / (N * K))));
    const bias = pick(r, ['tensor', 'tensor', null, undefined] as const);
    const inputs = [floatInput(values(r, [...lead, K], -1, 1)), floatInput(values(r, [N, K], -1, 1)), ...(bias ? [floatInput(values(r, [N], -1, 1))] : [])];
    return {
      inputs,
      args: ([x, w, b]) => [x!, w!, bias ? b! : bias],
      reference: ([x, w, b]) => linearRef(x!, w!, b ?? null),
      tol: { atol: 1e-5 * Math.sqrt(K), rtol: 1e-4 },
      // float16 where the bias is not fused: the product is rounded to float16 (|x · wᵀ| up to
      // about sqrt(K)) before the bias is added, so the error scales with it, not with the result
      half: { tol: { atol: 2 ** -10 * (1 + Math.sqrt(K)), rtol: 2 ** -10 }, gradTol: halfGradTol(Math.max(1, Math.sqrt(Math.max(N, K, numel(lead))) / 4)) },
    };
  },
};

/** Ids in [0, V) with plenty of repeats (skewed towards low ids, like frequent characters). */
const ids = (r: Random, s: number[], V: number): Ref => ref(s, Array.from(r.floats(numel(s), 0, 1), (u) => Math.min(V - 1, Math.floor(u * u * V))));

const embedding = {
  draw(r: Random): Sample<[Tensor, Tensor]> {
    const [V, C] = [vocabulary(r), dim(r)];
    const idShape = shape(r, 0, 3, Math.min(500, Math.floor(MAX_SIZE / C)));
    return {
      inputs: [floatInput(values(r, [V, C], -2, 2)), intInput(ids(r, idShape, V))],
      args: ([table, i]) => [table!, i!],
      reference: ([table, i]) => embeddingRef(table!, i!),
      tol: EXACT,
    };
  },
};

/** Seeds over the whole safe range: the kernel keys Philox with both 32-bit words. */
const seed = (r: Random) => (bool(r) ? r.int(0, 2 ** 31 - 1) : pick(r, [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 3, 2 ** 53 - 1]));

const dropout = {
  draw(r: Random): Sample<[Tensor, number, number, boolean?]> {
    const x = values(r, shape(r));
    const p = bool(r) ? pick(r, [0, 0.1, 0.5, 0.9, 1 / 3, 2 ** -24, 1]) : float(r, 0, 0.99);
    const s = seed(r);
    const training = pick(r, [undefined, true, true, false]);
    // drawn once, not again for every finite difference of the reference
    const mask = training !== false && p > 0 ? dropoutMaskRef(x.data.length, p, s) : null;
    return {
      inputs: [floatInput(x)],
      args: ([t]) => [t!, p, s, training],
      reference: ([a]) => (mask ? dropoutRef(a!, mask, p) : a!),
      tol: { atol: 1e-6, rtol: 1e-6 },
    };
  },
};

/** Leading dims of rows of `width`: drawn like `shape`, or (half the time) enough rows to be larger than a small binding (draw.ts largeShape). */
const rowsOf = (r: Random, width: number, maxRank: number, maxSize: number) =>
  bool(r) ? largeShape(r, Math.ceil(2048 / Math.max(width, 1)), Math.floor(MAX_SIZE / Math.max(width, 1)), maxRank) : shape(r, 0, maxRank, maxSize);

/**
 * softmax or logSoftmax of logits up to |1000|: half the time over the last axis (the default, -1,
 * or rank - 1, the kernel's rows), else over any axis, negative ones too (transposed around it).
 */
function softmaxLike(reference: (x: Ref, axis: number) => Ref, tol: Tolerance) {
  return {
    draw(r: Random): Sample<[Tensor, number?]> {
      const C = dim(r);
      const x = logits(r, [...rowsOf(r, C, 3, Math.floor(MAX_SIZE / C)), C]);
      const rank = x.shape.length;
      // another axis becomes the kernel's row, which must fit one binding (small-bindings: 4 KiB): one
      // of dim()'s sizes (at most 70), not one that largeShape grew (a [4095, 1] over axis 0 was refused)
      const short = x.shape.flatMap((n, i) => (n <= 70 ? [i] : [])); // C's among them
      const axis = bool(r) ? pick(r, [undefined, -1, rank - 1]) : pick(r, short) - (bool(r) ? rank : 0);
      return { inputs: [floatInput(x)], args: ([t]) => [t!, axis], reference: ([a]) => reference(a!, ((axis ?? -1) + rank) % rank), tol, gradTol: { atol: 1e-4, rtol: 1e-3 } };
    },
  };
}

/**
 * Rows [..., C] whose variance is at least ~0.1 (a row of nearly equal values, rescaled by
 * 1 / sqrt(var + eps), would make float32 rounding the whole result): such rows get a spread added.
 */
function spreadRows(x: Ref): Ref {
  const C = x.shape.at(-1)!;
  const data = Float64Array.from(x.data);
  for (let r = 0; r < data.length / C; r++) {
    const row = data.subarray(r * C, (r + 1) * C);
    const mu = row.reduce((a, b) => a + b, 0) / C;
    if (C > 1 && row.reduce((a, b) => a + (b - mu) ** 2, 0) / C < 0.1) row.forEach((v, j) => (row[j] = Math.fround(v * 0.01 + (j % 3) - 1)));
  }
  return { shape: x.shape, data };
}

const layerNorm = {
  draw(r: Random): Sample<[Tensor, Tensor, (Tensor | null)?, number?]> {
    const C = dim(r);
    const x = spreadRows(values(r, [...shape(r, 0, 2, Math.floor(MAX_SIZE / C)), C], ...pick(r, [[-3, 3], [-80, 80]] as const)));
    const [w, b] = [values(r, [C], -2, 2), values(r, [C], -2, 2)];
    const eps = pick(r, [undefined, 1e-5, 1e-3, 0.5]);
    const bias = pick(r, ['tensor', null, undefined] as const);
    const inputs = [floatInput(x), floatInput(w), ...(bias ? [floatInput(b)] : [])];
    return {
      inputs,
      args: ([t, wt, bt]) => [t!, wt!, bias ? bt! : bias, eps],
      reference: ([a, wr, br]) => layerNormRef(a!, wr!, br ?? null, eps),
      tol: { atol: 1e-5, rtol: 1e-4 },
      // dx = rstd (dy w - mean(dy w) - xhat mean(dy w xhat)): rstd <= 1 / sqrt(0.1) (spreadRows) times
      // float32 sums of C <= 70 terms |dy w xhat| <= 2 sqrt(C); dw, db: sums of up to 4096 rows'
      // terms, at random signs. Each errs ~1e-6 (an rtol of 1e-2 let float16 precision through).
      gradTol: { atol: 1e-5, rtol: 1e-4 },
    };
  },
};

/**
 * The gradient tolerances of a loss averaged over the rows whose target is not `ignored`: dlogits =
 * w (exp(x - lse) - onehot) / count, |w| <= 1, errs by exp's few ulps, and for logits near +-1000,
 * where an ulp of x - lse is 6e-5 (3e-5 relative in exp), by up to 3e-5 / count where the onehot
 * cancels exp's ~1 (`scale`: a temperature's factor on top); float64 central differences err ~1e-9.
 * float16 logits get that rounded once to float16: up to 2^-11 relative (twice that, so that a random
 * direction's sum of such errors stays inside), and 2^-24 absolute where it is subnormal.
 */
function meanLossGradTol(targets: number[], ignored: number, scale = 1): { gradTol: Tolerance; half: Tolerance } {
  const atol = (1e-4 * scale) / Math.max(1, targets.filter((t) => t !== ignored).length);
  return { gradTol: { atol, rtol: 1e-4 }, half: { atol: atol + F16_TINY, rtol: 1e-4 + 2 * F16_EPS } };
}

const crossEntropy = {
  draw(r: Random): Sample<[Tensor, Tensor, { ignoreIndex?: number }?]> {
    const V = vocabulary(r);
    const lead = rowsOf(r, V, 2, 64);
    const n = numel(lead);
    const ignoreIndex = pick(r, [undefined, -100, -1, 7, r.int(0, V - 1)]);
    const opts = ignoreIndex === undefined ? pick(r, [undefined, {}]) : { ignoreIndex };
    const ignored = ignoreIndex ?? -100;
    const drop = r.ints(n, 0, 4); // a fifth of the rows ignored
    const targets = r.ints(n, 0, V - 1).map((t, i) => (drop[i] === 0 ? ignored : t));
    const grads = meanLossGradTol(targets, ignored);
    return {
      inputs: [floatInput(logits(r, [...lead, V])), intInput(ref(lead, targets))],
      args: ([x, t]) => [x!, t!, opts],
      reference: ([x, t]) => crossEntropyRef(x!, t!.data, ignored),
      tol: { atol: 1e-5, rtol: 1e-5 },
      gradTol: grads.gradTol,
      // float16 logits: the loss is float32, summed in float32 from the exact float16 values (the
      // default float16 gradTol, 2^-7 absolute, was more than a whole gradient of 1 / count)
      half: { dtype: 'float32', tol: { atol: 1e-5, rtol: 1e-5 }, gradTol: grads.half },
    };
  },
};

const linearCrossEntropy = {
  draw(r: Random): Sample<[Tensor, Tensor, Tensor, { ignoreIndex?: number }?]> {
    const [N, V] = [maybeEmpty(r, r.int(1, 40)), vocabulary(r)];
    const C = maybeEmpty(r, r.int(1, Math.max(1, Math.min(40, Math.floor(MATMUL_WORK / (N * V))))));
    const ignoreIndex = pick(r, [undefined, -100, -1, r.int(0, V - 1)]);
    const opts = ignoreIndex === undefined ? pick(r, [undefined, {}]) : { ignoreIndex };
    const ignored = ignoreIndex ?? -100;
    const drop = r.ints(N, 0, 4); // a fifth of the rows ignored
    const targets = r.ints(N, 0, V - 1).map((t, i) => (drop[i] === 0 ? ignored : t));
    // dx = dlogits · w and dw = dlogitsᵀ · x: sums of V and N such terms times values within 1
    const grads = meanLossGradTol(targets, ignored, Math.sqrt(Math.max(N, V)));
    return {
      inputs: [floatInput(values(r, [N, C], -1, 1)), floatInput(values(r, [V, C], -1, 1)), intInput(ref([N], targets))],
      args: ([x, w, t]) => [x!, w!, t!, opts],
      reference: ([x, w, t]) => crossEntropyRef(matmulRef(x!, w!, false, true), t!.data, ignored),
      tol: { atol: 1e-5, rtol: 1e-5 },
      gradTol: grads.gradTol,
      // float16 input and weight: the loss is float32 from the exact float16 values (float32 logits)
      half: { dtype: 'float32', tol: { atol: 1e-5, rtol: 1e-5 }, gradTol: grads.half },
    };
  },
};

/** Student and teacher logits of any kind each, temperatures around 1 and away from it, weights at both ends. */
const distillLoss = {
  draw(r: Random): Sample<[Tensor, Tensor, Tensor, { temperature: number; alpha: number; ignoreIndex?: number }]> {
    const V = vocabulary(r);
    const lead = rowsOf(r, V, 2, 64);
    const n = numel(lead);
    const temperature = bool(r) ? pick(r, [1, 2, 0.5, 4]) : float(r, 0.3, 5);
    const alpha = bool(r) ? pick(r, [0, 1, 0.5]) : float(r, 0, 1);
    const ignoreIndex = pick(r, [undefined, -1, r.int(0, V - 1)]);
    const ignored = ignoreIndex ?? -100;
    const drop = r.ints(n, 0, 4); // a fifth of the rows ignored
    const targets = r.ints(n, 0, V - 1).map((t, i) => (drop[i] === 0 ? ignored : t));
    const opts = { temperature, alpha, ...(ignoreIndex !== undefined && { ignoreIndex }) };
    // the soft term's gradient is T (softmax(s / T) - softmax(t / T)): T times such errors
    const grads = meanLossGradTol(targets, ignored, Math.max(1, temperature));
    return {
      inputs: [floatInput(logits(r, [...lead, V])), floatInput(logits(r, [...lead, V]), false), intInput(ref(lead, targets))],
      args: ([s, t, y]) => [s!, t!, y!, opts],
      reference: ([s, t, y]) => distillLossRef(s!, t!, y!.data, temperature, alpha, ignored),
      tol: { atol: 1e-5, rtol: 1e-5 },
      gradTol: grads.gradTol,
      // float16 logits: the loss is float32, summed in float32 from the exact float16 values
      half: { dtype: 'float32', tol: { atol: 1e-5, rtol: 1e-5 }, gradTol: grads.half },
    };
  },
};

/** Elements a drawn attention's qkv has at most. */
const ATTENTION_SIZE = 6000;

type AttentionArgs = [Tensor, number, (Tensor | null)?, Tensor?, number?, number?, number?];

/** A drawn attention's sizes: T past 64 spans several query blocks and key tiles; odd head sizes exercise the vec4 padding. */
function attentionSizes(r: Random): { B: number; nHead: number; T: number; C3: number } {
  const B = maybeEmpty(r, r.int(1, 2));
  const nHead = r.int(1, 3);
  let T = bool(r) ? r.int(1, 9) : pick(r, [63, 64, 65, 130]);
  let HS = maybeEmpty(r, pick(r, [1, 3, 4, 8, 32, 64]));
  while (B * T * 3 * nHead * HS > ATTENTION_SIZE) [T, HS] = HS > 4 ? [T, HS / 2] : [Math.ceil(T / 2), HS];
  return { B, nHead, T, C3: 3 * nHead * HS };
}

/**
 * Training attention with dropout on its weights: p drawn in (0, 1) unless given, the mask's seed
 * anywhere in the safe integers; sizes drawn unless given.
 */
export function droppingAttention(r: Random, sizes = attentionSizes(r), p?: number): Sample<AttentionArgs> {
  const { B, nHead, T, C3 } = sizes;
  const drop = { p: p ?? pick(r, [0.1, 0.5, 0.9, float(r, 0.01, 0.99)]), seed: seed(r) };
  return {
    inputs: [floatInput(values(r, [B, T, C3], -2, 2))],
    args: ([qkv]) => [qkv!, nHead, null, undefined, drop.p, drop.seed],
    reference: ([qkv]) => causalAttentionRef(qkv!, nHead, qkv!, undefined, drop),
    tol: { atol: 2e-5, rtol: 1e-4 },
  };
}

const causalAttention = {
  draw(r: Random): Sample<AttentionArgs> {
    const kind = r.int(0, 6); // 0-2: training, 3: decoding, 4-5: a left-padded batch (prefill, or decoding), 6: training with dropout
    if (kind === 6) return droppingAttention(r);
    const { B, nHead, T, C3 } = attentionSizes(r);
    if (kind >= 4) return paddedAttention(r, B, T, C3, nHead);
    if (kind < 3) {
      return {
        inputs: [floatInput(values(r, [B, T, C3], -2, 2))],
        args: ([qkv]) => [qkv!, nHead],
        reference: ([qkv]) => causalAttentionRef(qkv!, nHead),
        tol: { atol: 2e-5, rtol: 1e-4 },
      };
    }
    // decoding: queries for the last Tq positions, keys and values from the whole context (no gradient
    // through a cache); now and then a cache with room to grow: rows of T + room slots, T of them filled
    const Tq = r.int(1, T);
    const room = pick(r, [0, 0, r.int(1, 5)]);
    return {
      inputs: [floatInput(values(r, [B, Tq, C3], -2, 2), false), floatInput(values(r, [B, T + room, C3], -2, 2), false)],
      args: ([qkv, context]) => [qkv!, nHead, context!, undefined, 0, 0, room ? T : undefined],
      reference: ([qkv, context]) => causalAttentionRef(qkv!, nHead, sliceRef(context!, 1, 0, T)),
      tol: { atol: 2e-5, rtol: 1e-4 },
    };
  },
};

/**
 * A left-padded batch: row b's first real slot drawn anywhere in [0, T] (T: all padding, each query
 * then sees only itself), queries for the last Tq slots (all T of them when prefilling).
 */
function paddedAttention(r: Random, B: number, T: number, C3: number, nHead: number): Sample<AttentionArgs> {
  const starts = ref([B], Array.from({ length: B }, () => pick(r, [0, r.int(0, T), T])));
  const tol = { atol: 2e-5, rtol: 1e-4 };
  if (bool(r)) {
    return {
      inputs: [floatInput(values(r, [B, T, C3], -2, 2), false), intInput(starts)],
      args: ([qkv, s]) => [qkv!, nHead, null, s!],
      reference: ([qkv, s]) => causalAttentionRef(qkv!, nHead, qkv!, s!),
      tol,
    };
  }
  const Tq = r.int(1, T);
  return {
    inputs: [floatInput(values(r, [B, Tq, C3], -2, 2), false), floatInput(values(r, [B, T, C3], -2, 2), false), intInput(starts)],
    args: ([qkv, context, s]) => [qkv!, nHead, context!, s!],
    reference: ([qkv, context, s]) => causalAttentionRef(qkv!, nHead, context!, s!),
    tol,
  };
}

const biasGelu = {
  draw(r: Random): Sample<[Tensor, Tensor]> {
    const C = bool(r) ? dim(r) : pick(r, [64, 67, 257]);
    const x = values(r, [...shape(r, 0, 3, Math.max(1, Math.floor(MAX_SIZE / C))), C], -4, 4);
    return {
      inputs: [floatInput(x), floatInput(values(r, [C], -2, 2))],
      args: ([t, b]) => [t!, b!],
      reference: ([a, b]) => biasGeluRef(a!, b!),
      tol: { atol: 1e-5, rtol: 2e-5 },
    };
  },
};

/**
 * sampleLogits on rows with ties (a coarse grid) or spread logits, greedy or tempered, with and
 * without top-k and top-p. float32 sums may put a u or a topP that sits on a cut of the running
 * weight on the other side than the float64 walk does, so topP is drawn clear of the cuts and each
 * u is the middle of a candidate's share (the top one's when the drawn one is a sliver).
 */
const sampleLogits = {
  draw(r: Random): Sample<[Tensor, Tensor, SamplingOptions?]> {
    const V = vocabulary(r);
    const lead = rowsOf(r, V, 2, 8);
    const x = bool(r) ? grid(r, [...lead, V], -3, 3, 0.5) : logits(r, [...lead, V]);
    const opts = { temperature: pick(r, [0, 0.5, 1, 2]), topK: pick(r, [V, 1, r.int(1, V)]), topP: pick(r, [1, float(r, 0.05, 0.95)]), minP: pick(r, [0, 0, float(r, 0.01, 1)]) };
    const rows = Array.from({ length: numel(lead) }, (_, i) => x.data.subarray(i * V, (i + 1) * V));
    const clear = (cuts: number[], v: number) => cuts.every((c) => Math.abs(c - v) > 1e-4);
    for (let tries = 0; !rows.every((row) => clear(sampleWalk(row, 0, opts).beforeTopP, opts.topP)); tries++) {
      opts.topP = tries < 5 ? float(r, 0.05, 0.95) : 1;
    }
    // minP clear of every weight below the top's (1, the same in float32)
    const weights = rows.flatMap((row) => sampleCandidates(row, { ...opts, minP: 0 })?.weights ?? []).filter((w) => w < 1);
    for (let tries = 0; weights.some((w) => Math.abs(w - opts.minP) <= 1e-4 * opts.minP); tries++) opts.minP = tries < 5 ? float(r, 0.01, 1) : 0;
    const us = rows.map((row) => {
      const cuts = sampleWalk(row, 0, opts).atDraw;
      const j = r.int(0, Math.max(0, cuts.length - 1));
      const [lo, hi] = [cuts[j - 1] ?? 0, cuts[j] ?? 1];
      return Math.fround(hi - lo > 1e-3 ? (lo + hi) / 2 : (cuts[0] ?? 1) / 2);
    });
    return {
      inputs: [floatInput(x, false), floatInput(ref(lead, us), false)],
      args: ([t, u]) => [t!, u!, opts],
      reference: ([t, u]) => sampleRef(t!, u!, opts),
      dtype: 'int32',
      tol: EXACT,
    };
  },
};

/**
 * speculativeSample over k = 0 to 4 drafts: the target's rows spread or on a grid (ties), now and
 * then a -Inf or a NaN (no distribution); the draft's rows its own or the target's nudged (drafts
 * the target likes); each draft id drawn from the draft's row or any id (one the target may not
 * keep at all); temperature, top-k, top-p and min-p. As sampleLogits' case: topP and minP clear of
 * the cuts, u[k] the middle of a share of what the round draws from, and the accept numbers redrawn while one sits on a boundary (nearBoundary).
 */
const speculativeSample = {
  draw(r: Random): Sample<[Tensor, Tensor, Tensor, SamplingOptions?]> {
    const V = vocabulary(r);
    const k = r.int(0, 4);
    const target = bool(r) ? grid(r, [k + 1, V], -3, 3, 0.5) : logits(r, [k + 1, V]);
    const nudged = bool(r);
    const draft = nudged ? target.data.slice(0, k * V).map((x) => Math.fround(x + float(r, -0.3, 0.3))) : logits(r, [k, V]).data;
    const x = ref([2 * k + 1, V], [...target.data, ...draft]);
    if (r.int(0, 3) === 0) x.data[r.int(0, x.data.length - 1)] = pick(r, [-Infinity, -Infinity, NaN]);
    const opts = { temperature: pick(r, [0, 0.5, 1, 2]), topK: pick(r, [V, 1, r.int(1, V)]), topP: pick(r, [1, float(r, 0.05, 0.95)]), minP: pick(r, [0, 0, float(r, 0.01, 1)]) };
    const rows = Array.from({ length: 2 * k + 1 }, (_, i) => x.data.subarray(i * V, (i + 1) * V));
    const clear = (cuts: number[], v: number) => cuts.every((c) => Math.abs(c - v) > 1e-4);
    for (let tries = 0; !rows.every((row) => clear(sampleWalk(row, 0, opts).beforeTopP, opts.topP)); tries++) {
      opts.topP = tries < 5 ? float(r, 0.05, 0.95) : 1;
    }
    const ids = ref([k], rows.slice(k + 1).map((row) => (bool(r) ? Math.max(0, sampleWalk(row, float(r, 0, 1), opts).token) : r.int(0, V - 1))));
    let sorted = roundRows(x, opts);
    for (let tries = 0; sorted.some((row) => row?.nearMinP); tries++) {
      opts.minP = tries < 5 ? float(r, 0.01, 1) : 0; // clear of every weight
      sorted = roundRows(x, opts);
    }
    const u = ref([k + 1], []);
    for (let tries = 0; tries < 20; tries++) {
      u.data = Float64Array.from({ length: k + 1 }, () => Math.fround(float(r, 0, 1)));
      const from = decisionsOf(sorted, ids, u)?.from;
      u.data[k] = from ? Math.fround(shareMiddle(from, r.int(0, V - 1))) : 0.5;
      if (!nearBoundary(sorted, ids, u, opts.topP)) break;
    }
    return {
      inputs: [floatInput(x, false), intInput(ids), floatInput(u, false)],
      args: ([t, i, w]) => [t!, i!, w!, opts],
      reference: ([t, i, w]) => speculativeSampleRef(t!, i!, w!, opts),
      dtype: 'int32',
      tol: EXACT,
    };
  },
};

/**
 * penalizeLogits on logits with -Inf among them (now and then a NaN or +Inf, which stay as they
 * are), each id generated 0 to 3 times or not at all in a row (a row with no history: the logits
 * as they were), in the prompt or not, each penalty off or on (repetition below and above 1).
 */
const penalizeLogits = {
  draw(r: Random): Sample<[Tensor, Tensor, Tensor, PenaltyOptions?]> {
    const V = vocabulary(r);
    const lead = rowsOf(r, V, 3, Math.floor(MAX_SIZE / V));
    const s = [...lead, V];
    const x = logits(r, s);
    for (const v of [-Infinity, -Infinity, NaN, Infinity]) if (x.data.length && bool(r)) x.data[r.int(0, x.data.length - 1)] = v;
    const used = float(r, 0, 1); // how many ids a row has generated
    const counts = ref(s, Array.from(x.data, (_, i) => (Math.floor(i / V) % 3 === 1 || float(r, 0, 1) > used ? 0 : r.int(1, 3))));
    const prompt = ref(s, Array.from(x.data, () => +bool(r)));
    const opts = pick(r, [undefined, {}, { repetitionPenalty: pick(r, [1, float(r, 0.5, 1), float(r, 1, 3)]), presencePenalty: pick(r, [0, float(r, -2, 2)]), frequencyPenalty: pick(r, [0, float(r, -2, 2)]) }]);
    return {
      inputs: [floatInput(x, false), floatInput(counts, false), floatInput(prompt, false)],
      args: ([t, c, p]) => [t!, c!, p!, opts],
      reference: ([t, c, p]) => penalizeRef(t!, c!, p!, opts ?? {}),
      // a division within 2.5 ulp (WGSL's), then two subtractions of at most 8 from logits up to 1e3
      tol: { atol: 1e-6, rtol: 1e-6 },
    };
  },
};

/**
 * banRepeatedNgrams over histories of a few distinct ids (so n-grams repeat), n from 1 to 4, each
 * row left-padded with -1 (some shorter than n), on logits with -Inf among them.
 */
const banRepeatedNgrams = {
  draw(r: Random): Sample<[Tensor, Tensor, number]> {
    const [R, V, T, n] = [r.int(1, 5), vocabulary(r), r.int(1, 12), r.int(1, 4)];
    const x = logits(r, [R, V]);
    if (bool(r)) x.data[r.int(0, x.data.length - 1)] = -Infinity;
    const alphabet = r.int(1, Math.min(V, 4));
    const history = ref([R, T], Array.from({ length: R }, () => {
      const pad = r.int(0, T);
      return Array.from({ length: T }, (_, j) => (j < pad ? -1 : r.int(0, alphabet - 1)));
    }).flat());
    return {
      inputs: [floatInput(x, false), intInput(history)],
      args: ([t, h]) => [t!, h!, n],
      reference: ([t, h]) => banRepeatedNgramsRef(t!, h!, n),
      tol: EXACT,
    };
  },
};

export const NN_CASES = {
  matmul,
  linear,
  embedding,
  dropout,
  softmax: softmaxLike(softmaxRef, { atol: 1e-6, rtol: 1e-4 }),
  logSoftmax: softmaxLike(logSoftmaxRef, { atol: 1e-5, rtol: 1e-5 }),
  layerNorm,
  crossEntropy,
  linearCrossEntropy,
  distillLoss,
  causalAttention,
  biasGelu,
  penalizeLogits,
  banRepeatedNgrams,
  sampleLogits,
  speculativeSample,
} satisfies { [K in OpName]?: OpCase<K> };

