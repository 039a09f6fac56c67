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
// teacher: weights and what one forward holds at the student's batch. A distillation's logits, the
// student's (and their gradient) and the teacher's, are whole, never fused with the loss in chunks:
// distillLoss takes them all (it and the LM head's product go a window at a time past a binding).
// With recompute (activation checkpointing) a step keeps each block's input and, in the backward,
// one block's activations. A LoRA model (GPTConfig.lora) trains its adapters only: gradients and
// moments are theirs, and each adapted layer keeps its x·Aᵀ (r values a token, twice: scaled) and,
// with adapter dropout, its dropped input.
import type { ComputeDtype } from '../nn/autocast.js';
import { checkInteger } from '../tensor/check.js';
import { isTargeted, loraParameterCount } from './lora.js';
import { blockLinearShapes, type GPTConfig } from './model.js';

const F32 = 4;
const F16 = 2;

/** A model's GPU memory: its parameter count, bytes by part, and the buffers that must fit the adapter's limits. */
export interface MemoryPlan {
  parameters: number;
  /** The parameters a training step updates (a LoRA model's adapters; else all), whose gradients and moments are counted. */
  trainable: number;
  /** Bytes of each part, and their sum (the expected peak of a training step, or of a forward). */
  bytes: { weights: number; halfWeights: number; gradients: number; optimizer: number; activations: number; logits: number; masks: number; teacher: number; total: number };
  /** Whether the activations are counted as recompute keeps them. */
  recompute: boolean;
  /** Buffers that must fit whole in one buffer (maxBufferSize) or one binding: [what, bytes]. */
  buffers: { name: string; bytes: number; bound: 'whole' | 'windowed' }[];
}

export interface PlanOptions {
  /** A training step (gradients, moments, activations kept for the backward), or a forward alone. */
  training: boolean;
  bindingLimit: number;
  /** What it computes in (float32 when absent). */
  dtype?: ComputeDtype;
  /** Weights under a pruning mask (a float32 0/1 each): `*.weight_mask` buffers. */
  maskedWeights?: number;
  /** A distillation's teacher, run forward (without gradients) on each batch; the student's logits are then whole. */
  teacher?: GPTConfig;
  /** Whether the logits are computed whole (a distillation's teacher), never fused with a loss a chunk of rows at a time. */
  wholeLogits?: boolean;
  /** Training with recompute (GPT.forward's option): each block run again in the backward. */
  recompute?: boolean;
}

/** The plan of `cfg` at `batchSize`, for a training step (training: true) or a forward alone, computing in `dtype` (float32 by default). */
export function memoryPlan(cfg: GPTConfig, batchSize: number, opts: PlanOptions): MemoryPlan {
  checkInteger('memoryPlan', 'batchSize', batchSize, 1, Number.MAX_SAFE_INTEGER, 'an integer >= 1'); // '2' would be coerced
  const { vocabSize: V, blockSize: T, nLayer: L, nEmbd: C, nHead: NH } = cfg;
  const A = opts.dtype === 'float16' ? F16 : F32; // bytes of an activation
  const B = batchSize;
  const BT = B * T;
  // per block: qkv 3C², projection C², MLP 8C² (+ biases), two LayerNorms; embeddings; final LayerNorm;
  // blocks that share weights (shareLayers) hold one set per group
  const blocks = L / (cfg.shareLayers ?? 1);
  const linears = blockLinearShapes(cfg);
  const adapters = cfg.lora ? loraParameterCount(cfg.lora, linears) : 0;
  const parameters = blocks * (12 * C * C + 13 * C) + (V + T + 2) * C + adapters;
  // int8: the matrices (the block weights and the token embedding) one byte a weight, plus a scale a row
  const int8 = cfg.quantization === 'int8';
  const matrices = blocks * 12 * C * C + V * C;
  const weights = int8 ? parameters * F32 - matrices * (F32 - 1) + (blocks * 12 * C + V) * F32 : parameters * F32;
  const trainable = cfg.lora ? adapters : parameters;
  const training = opts.training;
  // kept for the backward, per token and layer: the LayerNorm inputs and outputs (4C), qkv and the
  // attention output (4C), the MLP's pre-activation and GELU output (8C); plus the embeddings' sum
  // and the final LayerNorm (3C per token); a forward alone holds a layer's worth at a time, and so
  // does a recomputing step beside each block's input (C per token and layer)
  const recompute = training && !!opts.recompute;
  const layersKept = training && !recompute ? L : 1;
  const perToken = layersKept * 16 * C + (training ? 3 * C : 0) + (recompute ? L * C : 0) + Math.round((layersKept / L) * loraKept(cfg, linears, training));
  const attentionStats = layersKept * B * NH * T;
  const activations = BT * perToken * A + attentionStats * F32; // the attention statistics stay float32
  const logitBytes = BT * V * A;
  const whole = opts.wholeLogits || opts.teacher !== undefined;
  const fused = !whole && logitBytes > opts.bindingLimit;
  // fused, the LM head and loss run in float32 (linear-cross-entropy.ts): a float16 model's weight
  // and rows widened to float32 copies while the op runs, and in the backward their float32 gradients
  const logit = fused ? F32 : A; // bytes of a logit
  const rows = fused ? Math.max(1, Math.floor(opts.bindingLimit / (Math.max(V, C) * logit))) : BT;
  const widened = fused && A === F16 ? (V + BT) * C * F32 * (training ? 2 : 1) : 0;
  // the logits and, in the backward, their gradient (fused: one chunk of rows of each)
  const logits = rows * V * logit * (training ? 2 : 1) + widened;
  const halfWeights = A === F16 ? parameters * F16 : 0;
  const trainableBytes = cfg.lora ? adapters * F32 : weights;
  const gradients = training ? trainableBytes : 0;
  const optimizer = training ? 2 * trainableBytes : 0;
  const masks = (opts.maskedWeights ?? 0) * F32;
  // the teacher runs on the student's batches, at the student's block size
  const teacher = opts.teacher ? memoryPlan({ ...opts.teacher, blockSize: T }, batchSize, { training: false, bindingLimit: opts.bindingLimit, dtype: opts.dtype, wholeLogits: true }) : null;
  const total = weights + halfWeights + gradients + optimizer + activations + logits + masks + (teacher?.bytes.total ?? 0);
  const buffers: MemoryPlan['buffers'] = [
    // an int8 table is bound whole, by the embedding and by the LM head, and an int8 weight by
    // linearInt8; a float weight's products (matmul-blocks), gradient and update take a window at a time
    { name: `the token embedding (vocab ${V} x n-embd ${C})`, bytes: V * C * (int8 ? 1 : F32), bound: int8 ? 'whole' : 'windowed' },
    { name: `an MLP weight (n-embd ${C} x 4·n-embd)`, bytes: 4 * C * C * (int8 ? 1 : F32), bound: int8 ? 'whole' : 'windowed' },
    // the MLP's products and bias + GELU take its activations a window at a time (matmul-blocks, pieces)
    { name: `the MLP activations (batch ${B} x block ${T} x 4·n-embd ${C})`, bytes: BT * 4 * C * A, bound: 'windowed' },
    { name: `the attention's qkv (batch ${B} x block ${T} x 3·n-embd ${C})`, bytes: BT * 3 * C * A, bound: 'whole' },
    { name: `the logits (${rows} rows x vocab ${V})`, bytes: rows * V * logit, bound: whole ? 'windowed' : 'whole' },
  ];
  buffers.push(...(teacher?.buffers.map((b) => ({ ...b, name: `the teacher's ${b.name.replace(/^(the|an) /, '')}` })) ?? []));
  return { parameters, trainable, bytes: { weights, halfWeights, gradients, optimizer, activations, logits, masks, teacher: teacher?.bytes.total ?? 0, total }, recompute, buffers };
}

/** Values a token that the LoRA adapters of every layer keep for the backward (x·Aᵀ and its scaled copy; the dropped input under adapter dropout). */
function loraKept(cfg: GPTConfig, linears: ReturnType<typeof blockLinearShapes>, training: boolean): number {
  const lora = cfg.lora;
  if (!lora || !training) return 0;
  const runs = cfg.shareLayers ?? 1; // a shared block's adapters run once per layer of its group
  return runs * linears.filter(([name]) => isTargeted(name, lora.targets)).reduce((n, [, , inF]) => n + 2 * lora.rank + (lora.dropout > 0 ? inF : 0), 0);
}

/** Why `plan` does not fit the adapter (its first buffer over the limit for it, named with both sizes), or null. */
export function planFitProblem(plan: MemoryPlan, limits: Record<string, number>): string | null {
  const maxBuffer = limits.maxBufferSize ?? Infinity;
  const maxBinding = Math.min(limits.maxStorageBufferBindingSize ?? Infinity, maxBuffer);
  for (const b of plan.buffers) {
    const [limitName, limit] = b.bound === 'whole' && maxBinding < maxBuffer ? ['maxStorageBufferBindingSize', maxBinding] : ['maxBufferSize', maxBuffer];
    if (b.bytes > limit) return `the model does not fit this adapter: ${b.name} takes ${formatBytes(b.bytes)}, over its ${limitName} of ${formatBytes(limit)}`;
  }
  return null;
}

/** Throws naming the first buffer of `plan` over the adapter's limit for it. */
export function checkPlanFits(plan: MemoryPlan, limits: Record<string, number>): void {
  const problem = planFitProblem(plan, limits);
  if (problem) throw new Error(problem);
}

/** The plan as lines for a log: each part, then the total. */
export function describePlan(plan: MemoryPlan): string {
  const { weights, halfWeights, gradients, optimizer, activations, logits, masks, teacher, total } = plan.bytes;
  const parts: [string, number][] = [
    ['weights', weights], ['float16 weights', halfWeights], ['gradients', gradients], ['AdamW', optimizer],
    [plan.recompute ? 'activations (recompute)' : 'activations', activations], ['logits', logits],
    ['pruning masks', masks], ['teacher', teacher],
  ];
  const trainable = plan.trainable < plan.parameters && gradients ? ` (gradients and AdamW for the ${plan.trainable.toLocaleString('en-US')} trainable parameters only)` : '';
  return `GPU memory plan: ${parts.filter(([, b]) => b).map(([n, b]) => `${n} ${formatBytes(b)}`).join(', ')}; about ${formatBytes(total)} in all${trainable}`;
}

/** `n` bytes in MiB or GiB, 3 significant digits. */
export const formatBytes = (n: number) => (n >= 2 ** 30 ? `${(n / 2 ** 30).toPrecision(3)} GiB` : `${(n / 2 ** 20).toPrecision(3)} MiB`);
