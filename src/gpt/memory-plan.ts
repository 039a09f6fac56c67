// What a GPT needs on the GPU before it runs: parameters, gradients and AdamW's moments, the
// activations a training step keeps for its backward, and the logits; printed when training starts,
// and checked against the adapter's limits so that a model that cannot fit is an error naming the
// sizes, not a GPU validation error in the middle of its first step. WebGPU tells no total memory:
// the limits are per buffer (maxBufferSize) and per binding (maxStorageBufferBindingSize); tensors
// larger than a binding are bound a window at a time where their ops allow it (the embedding table
// and the Linear weights unless int8, AdamW's moments, gradients, the MLP's activations) and the LM head and loss run in row chunks
// when the logits would not fit, so only the tensors whole kernels bind must fit a binding. AdamW
// shards its moments by maxBufferSize (a parameter larger than that alone), so no moment buffer is
// past it. A float16 (mixed-precision) run keeps float32 weights, gradients and moments, but
// float16 activations and logits, and a float16 copy of each weight that its products keep for the
// backward. A pruned model holds its masks (a float32 0/1 per masked weight), a distillation its
// teacher: what one forward holds at the student's batch, then its weights and logits through the
// student's step. A distillation's logits, the student's (and their gradient) and the teacher's,
// are whole, never fused with the loss in chunks: distillLoss takes them all (it and the LM head's
// product go a window at a time past a binding).
// With recompute (activation checkpointing) a step keeps each block's input and, in the backward,
// one block's activations. A LoRA model (GPTConfig.lora) trains its adapters (and the biases its lora.bias names) only: gradients and
// moments are theirs, the frozen embeddings get no gradient at the backward's end, and each adapted
// layer keeps its x·Aᵀ (r values a token, twice: scaled) and, with adapter dropout, its dropped input.
// Each buffer is counted at the size the buffer pool gives it (its size classes round a request up
// by up to 25%: ~9% over a GPT-2's buffers). A step's peak is where its backward starts (every
// activation, and the LM head's largest moment: the logits beside their gradient, or, once the
// trainer's step has let go of the logits, that gradient beside the LM head's weight gradient) or
// where it ends: the activations are freed by then, but the tied token embedding's two weight
// gradients (the LM head's and the lookup's) and their sum are live at once, two tables more than .grad.
// Beside the activations, gradients on their way into .grad come on top of it: a float16 run's,
// which wait in groups to be cast, and, with gradient accumulation, a float32 one and its sum with
// the earlier micro-batches' (all made before a later one's backward starts; a shared block's later
// runs sum so in one step).
// A cached generation (generate.ts) holds each layer's KV cache, its packed q|k|v rows ([B, slots,
// 3·A] in the compute dtype, which the attention binds whole) at up to the block's slots (a plan for
// generation is made at the positions it reaches, as its block). While a layer's cache moves (into a
// larger one, or gathered to the rows of the sequences still going or the beams kept, then its slots cut
// from the left padding) at most two more copies of it are live, 6·B·T·C values at most: fewer than a forward's activations over the block, counted beside the
// caches, which a decoding step of one position a row does not hold. Its forwards (the prefill, a
// re-encode) run at most its context, half the cache's slots where within the block: their MLP
// activations and qkv are checked against the limits at that length (forwardPositions).
// A generation's sampling may hold more, a float32 row of V a sequence per tensor: penalties
// (src/gpt/penalties.ts) keep two through it (the counts, the prompt's ids) and make a penalized copy
// of a step's logits; a logit bias keeps its [1, V] row and makes a biased copy of them (logit-bias.ts); logprobs make a step's log_softmax, the drawn id's mask and the masked values
// (generate.ts' drawnLogprobs), then the top N's values and ids; n-gram bans (token-history.ts) keep each
// sequence's tokens [B, positions] int32 (a copy beside it as a token is appended) and make a banned copy
// of a step's logits. Beam search (beam-search.ts, its
// beams the batch) makes a step's log_softmax and its sum with the beams' scores (of the logits' float32
// copy, as sampling's), then the top 2N's values and ids. Counted beside the logits.
// Its gather of each layer's cache by the beams kept is a cache's move, as above.
// How the LM head's products run (in blocks, in chunks of rows) depends on the adapter's launch
// limits: the plan needs an open device.
import { pooledSize } from '../device/pool.js';
import { chunkRows, fitsOneLaunch, windowRows } from '../ops/index.js';
import type { ComputeDtype } from '../nn/autocast.js';
import { momentShards } from '../optim/adamw.js';
import { castGroupSize } from '../kernels/wgsl/cast-group.js';
import { int4ProductDequantizes } from '../kernels/wgsl/int4.js';
import { int8ProductDequantizes } from '../kernels/wgsl/matmul.js';
import { checkInteger } from '../tensor/check.js';
import { hasPenalties, type PenaltyOptions } from '../ops/index.js';
import { hasLogitBias, type LogitBias } from './logit-bias.js';
import { isTargeted } from './lora.js';
import { blockConfig, blockLinearShapes, configParameterShapes, modelSizeProblem, weightBuffers, type GPTConfig } from './model.js';
import { bufferFitProblem, formatBytes, type PlannedBuffer } from './buffer-fit.js';

const F32 = 4;
const F16 = 2;

/** A model's GPU memory: its parameter count, bytes by part, and the buffers that must fit the adapter's limits. */
export interface MemoryPlan {
  parameters: number;
  /** The parameters a training step updates (a LoRA model's adapters and lora.bias's biases; else all), whose gradients and moments are counted. */
  trainable: number;
  /**
   * Bytes of each part, as the buffer pool sizes its buffers: `logits`, the most the LM head holds
   * at once (training: the logits and their gradient, or that gradient and the LM head's weight
   * gradient); `backwardEnd`, what the end of the backward holds
   * instead of the activations (the tied embedding's gradients and their sum, mostly);
   * `inFlight`, the most gradients on their way into .grad at once, beside it and the activations
   * (a float16 run's; a float32 one's summed into it: accumulating micro-batches, shared layers).
   * `kvCache`, a cached generation's (PlanOptions.kvCache): every layer's cache at the block's slots.
   * `teacher`, a distillation teacher's forward at its peak.
   * `sampling`, a generation's penalties, logit bias, logprobs or beam search (PlanOptions.sampling): what they keep and what a step makes.
   * `total` is the expected peak: the rest, and the larger of the teacher's forward and, beside its
   * weights and logits, the largest of activations + logits, backwardEnd and activations + inFlight.
   */
  bytes: { weights: number; halfWeights: number; gradients: number; optimizer: number; activations: number; logits: number; backwardEnd: number; inFlight: number; masks: number; teacher: number; kvCache: number; sampling: number; total: number };
  /** Whether the activations are counted as recompute keeps them. */
  recompute: boolean;
  /** The micro-batches an optimizer step sums (PlanOptions.gradAccum). */
  gradAccum: number;
  /** Buffers that must fit whole in one buffer (maxBufferSize) or one binding. */
  buffers: PlannedBuffer[];
}

export interface PlanOptions {
  /** A training step (gradients, moments, activations kept for the backward), or a forward alone. */
  training: boolean;
  bindingLimit: number;
  /** The largest buffer (maxBufferSize): AdamW's moment shards, and the pool's rounding, stay within it (no limit when absent). */
  bufferLimit?: number;
  /** What it computes in (float32 when absent). */
  dtype?: ComputeDtype;
  /** The elements of each weight under a pruning mask (a float32 0/1 each): `*.weight_mask` buffers. */
  maskSizes?: readonly number[];
  /** A distillation's teacher, run forward (without gradients) on each batch; the student's logits are then whole. */
  teacher?: GPTConfig;
  /** The teacher's pruning masks, as maskSizes (held beside its weights through the run). */
  teacherMaskSizes?: readonly number[];
  /** Whether the logits are computed whole (a distillation's teacher), never fused with a loss a chunk of rows at a time. */
  wholeLogits?: boolean;
  /** Training with recompute (GPT.forward's option): each block run again in the backward. */
  recompute?: boolean;
  /** Micro-batches an optimizer step sums the gradients of (the Trainer's gradAccum; 1 when absent). */
  gradAccum?: number;
  /** A forward alone that is a cached generation's (generate's kvCache): each layer's KV cache at the block's slots. */
  kvCache?: boolean;
  /**
   * A forward alone: the most positions one forward runs, where fewer than the block (a
   * generation's: its context, at most prompt + new tokens, while its KV caches take up to twice
   * that); its MLP activations and qkv are checked at that length (the peak is still counted over the block).
   */
  forwardPositions?: number;
  /** A generation's work beyond drawing a token (samplingPlan's), or a beam search's. */
  sampling?: SamplingPlan;
}

/**
 * What a generation makes beside its logits: `penalties` (presence, frequency or repetition), a
 * `logitBias`, n-gram bans (`noRepeatNgram`), logprobs' top `logprobsTopN` (absent: none asked), or
 * `beams`, a beam search's (the batch its beams).
 */
export interface SamplingPlan {
  penalties?: boolean;
  logitBias?: boolean;
  noRepeatNgram?: boolean;
  logprobsTopN?: number;
  beams?: boolean;
}

/** The SamplingPlan of a generation with these options (generateBatch's), logprobs' top N where asked (null: none). */
export const samplingPlan = (opts: PenaltyOptions & { logitBias?: LogitBias; noRepeatNgramSize?: number }, logprobsTopN: number | null = null): SamplingPlan => ({
  penalties: hasPenalties(opts),
  logitBias: hasLogitBias(opts.logitBias),
  noRepeatNgram: !!opts.noRepeatNgramSize,
  ...(logprobsTopN !== null && { logprobsTopN }),
});

/** The plan of `cfg` at `batchSize`, for a training step (training: true) or a forward alone, computing in `dtype` (float32 by default). */
export function memoryPlan(cfg: GPTConfig, batchSize: number, opts: PlanOptions): MemoryPlan {
  const size = modelSizeProblem(cfg); // its layers bounded, before they are listed
  if (size) throw new RangeError(`memoryPlan: ${size}`);
  checkInteger('memoryPlan', 'batchSize', batchSize, 1, Number.MAX_SAFE_INTEGER, 'an integer >= 1'); // '2' would be coerced
  const gradAccum = checkInteger('memoryPlan', 'gradAccum', opts.gradAccum ?? 1, 1, Number.MAX_SAFE_INTEGER, 'an integer >= 1');
  const { vocabSize: V, blockSize: T, nLayer: L, nEmbd: C, nHead: NH } = cfg;
  const A = opts.dtype === 'float16' ? F16 : F32; // bytes of an activation
  const B = batchSize;
  const BT = B * T;
  const binding = opts.bindingLimit;
  const bufferLimit = opts.bufferLimit ?? Infinity;
  // what the pool hands out for `bytes`, and for a list of them
  const pooled = (bytes: number) => pooledSize(bytes, binding, bufferLimit);
  const all = (bytes: readonly number[]) => bytes.reduce((n, b) => n + pooled(b), 0);
  const training = opts.training;
  const shapes = configParameterShapes(cfg);
  const sizes = shapes.map(({ shape }) => shape.reduce((a, b) => a * b, 1));
  const parameters = sizes.reduce((a, b) => a + b, 0);
  // what AdamW is given, in the model's order: a LoRA model's adapters (and the biases its lora.bias names), else every parameter
  const trainableSizes = cfg.lora ? sizes.filter((_, i) => shapes[i]!.trained) : sizes;
  const trainable = trainableSizes.reduce((a, b) => a + b, 0);
  // int8: the matrices (the block weights and the token embedding) one byte a weight, plus a float32 scale a row
  // (int4 counted so too: a bound, its Linears' weights are half a byte and a scale a group)
  const int8 = cfg.quantization !== undefined;
  const weights = int8 ? shapes.reduce((n, { shape, matrix }, i) => n + (matrix ? pooled(sizes[i]!) + pooled(shape[0]! * F32) : pooled(sizes[i]! * F32)), 0) : all(sizes.map((n) => n * F32));
  // float16 copies of the float32 weights: of an int8 matrix only its scales (cast with the rest; its int8 values are multiplied as they are)
  const halfWeights = A === F16 ? all(shapes.map(({ shape, matrix }, i) => (int8 && matrix ? shape[0]! : sizes[i]!) * F16)) : 0;
  const gradients = training ? all(trainableSizes.map((n) => n * F32)) : 0;
  const optimizer = training ? 2 * all(momentShards(trainableSizes, bufferLimit).map((s) => s.size * F32)) : 0;
  const masks = all((opts.maskSizes ?? []).map((n) => n * F32));

  // kept for the backward, per layer: the residual stream after the attention and after the MLP
  // and both LayerNorms' outputs (C wide each), qkv (3C), the attention's output (C), the MLP's
  // pre-activation and GELU output (4C each); the LayerNorms' means and rstds and the attention's
  // statistics stay float32. A forward alone holds a layer's worth at a time, and so does a
  // recomputing step; both beside each block's output, the next one's input
  const recompute = training && !!opts.recompute;
  const layer = all([C, C, C, C, 3 * C, C, 4 * C, 4 * C].map((w) => BT * w * A)) + all([BT, BT, BT, BT, B * NH * T].map((n) => n * F32));
  const layersKept = training && !recompute ? L : 1;
  const blockOutputs = recompute || !training ? L * pooled(BT * C * A) : 0;
  // a step also keeps the embeddings' sum and the final LayerNorm's output (its input is the last
  // block's output), and its backward works through a block with the MLP's hidden gradient (4C),
  // the residual stream's and a LayerNorm's (C each); the weight gradients it makes are in .grad's
  // count, or in inFlight
  const backwardWork = all([4 * C, C, C].map((w) => BT * w * A));
  // an int8 model's products may dequantize a weight into a float32 transient first (the largest one's, taken as the forward's); an
  // int4 model's Linears have their own rule, its token embedding (shapes[0], the LM head) is int8
  const dequantizes = (i: number) => (cfg.quantization === 'int4' && i > 0 ? int4ProductDequantizes : int8ProductDequantizes);
  const dequantized = int8 ? Math.max(0, ...shapes.map(({ shape: [N, K], matrix }, i) => (matrix && dequantizes(i)(BT, N!, K!) ? pooled(4 * N! * K!) : 0))) : 0;
  const activations = layersKept * layer + blockOutputs + dequantized + (training ? 2 * pooled(BT * C * A) + backwardWork + (layersKept / L) * loraKept() : 0);

  /** What the LoRA adapters of every layer keep for the backward: x·Aᵀ and its scaled copy, and the dropped input under adapter dropout. */
  function loraKept(): number {
    const lora = cfg.lora;
    if (!lora) return 0;
    const runs = cfg.shareLayers ?? 1; // a shared block's adapters run once per layer of its group
    const adapted = blockLinearShapes(cfg).filter(([name]) => isTargeted(name, lora.targets));
    return runs * adapted.reduce((n, [, , inF]) => n + 2 * pooled(BT * lora.rank * A) + (lora.dropout > 0 ? pooled(BT * inF * A) : 0), 0);
  }

  // only a step's loss is fused with the LM head (GPT.forward given targets): a forward alone gets whole logits
  const whole = opts.wholeLogits || opts.teacher !== undefined;
  const fused = training && !whole && BT * V * A > binding;
  const rows = fused ? chunkRows(V, C, binding) : BT;
  const logits = fused ? fusedHead() : wholeHead();

  /**
   * linear-cross-entropy.ts, a chunk of rows at a time in float32 (its chunkRows): the chunk's
   * logits (and, in the backward, their gradient and a window of its columns, windowRows wide), its
   * rows of x, the float32 weight gradient and its window's part; a float16 model's weight and rows
   * widened to float32 copies while it runs
   */
  function fusedHead(): number {
    const chunk = pooled(rows * V * F32);
    const rowsOfX = pooled(rows * C * F32);
    const widened = A === F16 ? pooled(V * C * F32) + pooled(BT * C * F32) : 0;
    if (!training) return chunk + rowsOfX + widened;
    const window = Math.min(windowRows(rows, V), V);
    const windowed = window < V ? pooled(rows * window * F32) : 0;
    return 2 * chunk + windowed + 3 * rowsOfX + pooled(window * C * F32) + pooled(V * C * F32) + pooled(BT * C * F32) + widened;
  }

  /**
   * The logits [B·T, V] (and, training, their gradient, and the LM head's weight gradient [V, C]);
   * a product that is not one launch of the adapter's kernel (fitsOneLaunch: past a binding, or its
   * launch limits) goes a block at a time (matmul-blocks.ts): a band of its result's rows and an
   * operand's rows and block, each within a binding; a float16 one through float32 copies of both
   * operands and of the result
   */
  function wholeHead(): number {
    // an int8 table's (linearInt8, int8.ts): float32 logits, past a binding in bands of rows of x and of them
    if (int8) return pooled(BT * V * F32) + (BT * V * F32 > binding ? 2 * pooled(binding) : 0);
    const float = A === F16 ? 'f16' : 'f32';
    const blocks = (M: number, N: number, K: number, transA: boolean, transB: boolean, [a, b]: number[]) =>
      fitsOneLaunch({ M, N, K, transA, transB, float }, a!, b!)
        ? 0
        : pooled(Math.min(M * N * F32, binding)) + 2 * pooled(Math.min(Math.max(a!, b!) * F32, binding)) + (A === F16 ? all([a!, b!, M * N].map((n) => n * F32)) : 0);
    const logits = pooled(BT * V * A);
    const forward = logits + blocks(BT, V, C, false, true, [BT * C, V * C]); // x · wᵀ
    if (!training) return forward;
    // the loss's backward holds the logits and their gradient; the trainer's step lets go of the
    // logits then, before dlogits · w (the rows' gradient) and dlogitsᵀ · x (the weight's), one
    // after the other, beside the LM head's weight gradient
    const products = Math.max(blocks(BT, C, V, false, false, [BT * V, V * C]), blocks(V, C, BT, true, false, [BT * V, BT * C]));
    return Math.max(forward, 2 * logits, logits + pooled(V * C * A) + products);
  }

  // the end of the backward: the LM head's and the lookup's gradients of the token embedding and
  // their sum (float32: two more than .grad holds), the position embedding's, the gradient reaching
  // the embeddings; in a float16 run, the LM head's float16 gradient and a weight's, on their way to
  // float32 (not the logits: the trainer's step lets go of them in the loss's backward)
  const backwardEnd = training && !cfg.lora
    ? 2 * pooled(V * C * F32) + pooled(T * C * F32) + pooled(BT * C * F32) + (A === F16 ? pooled(V * C * F16) + pooled(4 * C * C * F16) : 0)
    : 0;
  // a micro-batch after the first sums each gradient into the earlier ones', all made before its
  // backward starts, beside all its activations (a single step's backward holds only those it has
  // reached, within .grad's count), and so does a shared block's run after its first
  const summing = gradAccum > 1 || (cfg.shareLayers ?? 1) > 1;
  const inFlight = training ? gradientsInFlight() : 0;

  /**
   * The most gradients on their way into .grad at once. A float16 run's (castCached) wait in
   * groups of castGroupSize beside the float32 .grad they land in, and are added in place there:
   * the largest group of consecutive ones, in the order the backward hands them over (the LM
   * head's, the final LayerNorm's, then each block's from the last; the lookup's and the position
   * embedding's come at the backward's end, in backwardEnd). A float32 one summed into .grad is
   * summed out of place (autograd's giveLeafGrad): it and the sum, the largest being the tied LM
   * head's or a block weight's; one not summed becomes .grad.
   */
  function gradientsInFlight(): number {
    const trained = (i: number) => !cfg.lora || !!shapes[i]!.trained;
    const order = [0, ...[...shapes.keys()].slice(2).reverse()].filter(trained);
    if (A === F32) return summing ? 2 * Math.max(0, ...order.map((i) => pooled(sizes[i]! * F32))) : 0;
    const halves = order.map((i) => pooled(sizes[i]! * F16));
    const group = castGroupSize();
    return Math.max(0, ...halves.map((_, i) => halves.slice(i, i + group).reduce((a, b) => a + b, 0)));
  }

  // the teacher runs on the student's batches, at the student's block size
  const teacher = opts.teacher ? memoryPlan({ ...opts.teacher, blockSize: T }, batchSize, { training: false, bindingLimit: binding, bufferLimit, dtype: opts.dtype, wholeLogits: true, maskSizes: opts.teacherMaskSizes }) : null;
  // the KV caches (transformer.ts's extendCache): every layer's, at the block's slots
  const cacheOfLayer = Array.from({ length: L }, (_, i) => {
    const { nHead, headSize } = blockConfig(cfg, i); // a structurally pruned layer has fewer heads
    return BT * 3 * nHead * headSize * A;
  });
  const caching = !training && !!opts.kvCache;
  const kvCache = caching ? all(cacheOfLayer) : 0;
  // the teacher's forward runs first, at its own peak; then its weights and logits stay through the
  // student's step (a float16 teacher's logits past a binding go through float32 copies, freed by then)
  const teacherKept = teacher ? teacher.bytes.weights + teacher.bytes.halfWeights + teacher.bytes.masks + pooled(BT * V * A) : 0;
  // a float32 [B, V] a tensor: penalties keep two and make one a step, a logit bias its [1, V] row and one a step,
  // n-gram bans keep the tokens [B, T] int32 (two as one is appended) and make one a step;
  // logprobs make three, and the top N's values and ids; beam search two and the beams' scores [B, 1], then
  // the top 2B's values and ids
  const rowsOfV = pooled(B * V * F32);
  const { penalties = false, logitBias = false, noRepeatNgram = false, logprobsTopN, beams = false } = training ? {} : (opts.sampling ?? {});
  const samplingKept = (penalties ? 2 * rowsOfV : 0) + (logitBias ? pooled(V * F32) : 0) + (noRepeatNgram ? 2 * pooled(BT * F32) : 0);
  const topOf = (n: number) => 2 * pooled(n * F32); // topk's values and int32 ids
  const logprobs = logprobsTopN === undefined ? 0 : 3 * rowsOfV + pooled(B * F32) + (logprobsTopN ? topOf(B * logprobsTopN) : 0);
  const beamStep = beams ? 2 * rowsOfV + pooled(B * F32) + topOf(2 * B) : 0;
  const samplingStep = (penalties ? rowsOfV : 0) + (logitBias ? rowsOfV : 0) + (noRepeatNgram ? rowsOfV : 0) + logprobs + beamStep;
  const held = weights + halfWeights + gradients + optimizer + masks + kvCache + samplingKept;
  const total = held + Math.max(teacher?.bytes.total ?? 0, teacherKept + Math.max(activations + logits + samplingStep, backwardEnd, activations + inFlight));
  // the most positions one forward runs: the buffers below hold a forward's
  const TF = training ? T : Math.min(T, checkInteger('memoryPlan', 'forwardPositions', opts.forwardPositions ?? T, 1, Number.MAX_SAFE_INTEGER, 'an integer >= 1'));
  const largestCache = Math.max(...cacheOfLayer) / A;
  const buffers: PlannedBuffer[] = [
    ...weightBuffers(cfg),
    // the MLP's products and bias + GELU take its activations a window at a time (matmul-blocks, pieces)
    { name: `the MLP activations (batch ${B} x ${TF < T ? `${TF} positions` : `block ${T}`} x 4·n-embd ${C})`, bytes: B * TF * 4 * C * A, elements: B * TF * 4 * C, bound: 'windowed' },
    // before the qkv, no larger: a generation's cache takes the positions it reaches, its forwards' qkv only their context's
    ...(caching ? [{ name: `a layer's KV cache (batch ${B} x block ${T} x 3·n-embd ${C})`, bytes: largestCache * A, elements: largestCache, bound: 'whole' as const }] : []),
    { name: `the attention's qkv (batch ${B} x ${TF < T ? `${TF} positions` : `block ${T}`} x 3·n-embd ${C})`, bytes: B * TF * 3 * C * A, elements: B * TF * 3 * C, bound: 'whole' },
  ];
  // a generation's forward takes the last position's logits alone (GPT.forward's lastOnly), and so is not refused for all of them:
  // a step's [B, V] are bound whole (the LM head's product, and the float32 copy sampling, penalties and logprobs take)
  if (caching) buffers.push({ name: `a step's logits (batch ${B} x vocab ${V})`, bytes: B * V * F32, elements: B * V, bound: 'whole' });
  if (training || whole) buffers.push({ name: `the logits (${rows} rows x vocab ${V})`, bytes: rows * V * (fused ? F32 : A), elements: rows * V, bound: whole ? 'windowed' : 'whole' });
  buffers.push(...(teacher?.buffers.map((b) => ({ ...b, name: `the teacher's ${b.name.replace(/^(the|an) /, '')}` })) ?? []));
  return {
    parameters,
    trainable,
    bytes: { weights, halfWeights, gradients, optimizer, activations, logits, backwardEnd, inFlight, masks, teacher: teacher?.bytes.total ?? 0, kvCache, sampling: samplingKept + samplingStep, total },
    recompute,
    gradAccum,
    buffers,
  };
}

/** Why `plan` does not fit the adapter (its first buffer over the limit for it, named with both sizes), or null. */
export const planFitProblem = (plan: MemoryPlan, limits: Record<string, number>): string | null => bufferFitProblem(plan.buffers, limits);

/** Throws naming the first buffer of `plan` over the adapter's limit for it. */
export function checkPlanFits(plan: MemoryPlan, limits: Record<string, number>): void {
  const problem = planFitProblem(plan, limits);
  if (problem) throw new Error(problem);
}

/** The plan as a line for a log: each part, then the peak. */
export function describePlan(plan: MemoryPlan): string {
  const { weights, halfWeights, gradients, optimizer, activations, logits, backwardEnd, inFlight, masks, teacher, kvCache, sampling, total } = plan.bytes;
  const parts: [string, number][] = [
    ['weights', weights], ['float16 weights', halfWeights], ['gradients', gradients], ['AdamW', optimizer],
    ['pruning masks', masks], ['teacher', teacher], [plan.recompute ? 'activations (recompute)' : 'activations', activations], ['logits', logits], ['KV cache', kvCache],
    ['sampling (penalties, logit bias, logprobs, beams)', sampling],
  ];
  const list = parts.filter(([, b]) => b).map(([n, b]) => `${n} ${formatBytes(b)}`).join(', ');
  const end = backwardEnd ? `, or at the backward's end ${formatBytes(backwardEnd)} (the embedding's gradients)` : '';
  const accumulating = plan.gradAccum > 1 ? `, summed over ${plan.gradAccum} micro-batches` : '';
  const sums = inFlight ? `, or the activations and ${formatBytes(inFlight)} of gradients on their way into .grad${accumulating}` : '';
  const trainable = plan.trainable < plan.parameters && gradients ? `; gradients and AdamW for the ${plan.trainable.toLocaleString('en-US')} trainable parameters only` : '';
  return `GPU memory plan: ${list}${end}${sums}; about ${formatBytes(total)} at the peak (buffers as the pool sizes them)${trainable}`;
}

