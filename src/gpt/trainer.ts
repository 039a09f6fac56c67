// Training loop, nanoGPT style: every default at the top, random contiguous blocks drawn from a
// seeded generator, periodic evaluation, warmup + cosine LR, global-norm clipping, gradient
// accumulation over micro-batches. Platform-free: file output (logs, checkpoints) is passed in.
// A NaN or Inf loss or gradient norm stops the run (TrainingDivergedError) at the next readback,
// before any evaluation hook could save the broken weights. A pruned model's pruned weights stay
// exactly zero: their gradients are masked before clipping and the step, the weights after it.
// Mixed precision (dtype float16): the model computes under autocast('float16') with float32
// master weights and AdamW state; the loss is scaled by a GradScaler, whose overflow-skipped steps
// and scale changes happen on the GPU (src/optim/grad-scaler.ts). A step skipped at the minimum
// loss scale stops the run as a divergence: no scale can make such gradients fit float16.
import { noGrad } from '../autograd/mode.js';
import { NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT, SEED, UNIT_INTERVAL, isRecord, rangeProblem, settingProblem, show, type Range, type RangesOf } from '../io/value-ranges.js';
import { distillLoss, MAX_DISTILL_TEMPERATURE, MIN_SCALE, scalerStateRules, tensor, type Tensor, watchNonFinite, zeros } from '../ops/index.js';
import { AdamW, type Moment } from '../optim/adamw.js';
import { clipGradNorm } from '../optim/clip.js';
import { GradScaler, gradScalerSettings, type GradScalerOptions, type GradScalerState } from '../optim/grad-scaler.js';
import { autocast, CastCache, COMPUTE_DTYPES, type ComputeDtype } from '../nn/autocast.js';
import { isMaskName, maskGradients, maskWeights } from '../nn/prune.js';
import { ITERS_RENAMED, learningRate } from '../optim/schedule.js';
import { device } from '../device/device.js';
import { autotuneSettled } from '../kernels/autotune.js';
import { profile, requireF16 } from '../kernels/profile.js';
import type { KernelTime } from '../device/profiler.js';
import { checkBoolean, checkOptionKeys, describeValue } from '../tensor/check.js';
import { Generator } from '../tensor/generator.js';
import { keep, scope } from '../tensor/scope.js';
import { checkSplits, drawBatch, isTokenSource, type TokenSplits } from './batches.js';
import { evaluateModel } from './evaluate.js';
import { memoryPlan, planFitProblem, type MemoryPlan } from './memory-plan.js';
import { blockLinearShapes, deviceRoom, firstBlockGroup, GPT, modelSizeProblem, shareLayersProblem, type GPTConfig } from './model.js';
import { forwardFlopsPerToken, trainingFlopsPerToken } from './flops.js';
import { describeAdapters, GPT_LORA_DEFAULTS, LORA_BIASES, LORA_TARGETS, loraConfigProblem, loraRankProblem, sameLoRA, type LoRABias, type LoRAConfig, type LoRATarget } from './lora.js';

/** nanoGPT's Shakespeare-char configuration for CPUs (config/train_shakespeare_char.py, CPU line). */
export const TRAIN_DEFAULTS = {
  nLayer: 4,
  nHead: 4,
  nEmbd: 128,
  shareLayers: 1,
  blockSize: 64,
  dropout: 0,
  bias: false,
  batchSize: 12,
  gradAccum: 1,
  maxIters: 2000,
  learningRate: 1e-3,
  minLr: 1e-4,
  warmupIters: 100,
  lrDecayIters: 2000,
  beta1: 0.9,
  beta2: 0.99,
  weightDecay: 0.1,
  gradClip: 1.0,
  evalInterval: 250,
  evalIters: 20,
  logInterval: 10,
  seed: 1337,
  dtype: 'auto' as TrainDtype,
  recompute: false,
  loraRank: 0,
  loraAlpha: GPT_LORA_DEFAULTS.alpha,
  loraDropout: GPT_LORA_DEFAULTS.dropout,
  loraTargets: GPT_LORA_DEFAULTS.targets.join(','),
  loraBias: 'none' as LoRABias,
};

/** What a run may compute in: float32, float16 (mixed precision), or auto (the profile's choice for this adapter). */
export const TRAIN_DTYPES = ['auto', ...COMPUTE_DTYPES] as const;
export type TrainDtype = (typeof TRAIN_DTYPES)[number];

/** The dtype a run computes in on this adapter: `dtype` itself, or for 'auto' the kernel profile's choice. */
export function resolveTrainDtype(dtype: TrainDtype): ComputeDtype {
  return dtype === 'auto' ? profile().trainingDtype : dtype;
}

/** A training run's settings (see TRAIN_DOCS for what each means). */
export type TrainConfig = typeof TRAIN_DEFAULTS;

/** What each training setting means (the `gpt train --help` lines). */
export const TRAIN_DOCS: { [K in keyof TrainConfig]: string } = {
  nLayer: 'transformer blocks',
  nHead: 'attention heads per block',
  nEmbd: 'embedding width (channels); a multiple of --n-head',
  shareLayers: 'ALBERT-style sharing: each group of this many consecutive blocks runs one set of weights; divides --n-layer (1: none shared)',
  blockSize: 'context length, in tokens',
  dropout: 'dropout probability while training',
  bias: 'biases in the Linear and LayerNorm layers',
  batchSize: 'sequences per micro-batch',
  gradAccum: 'micro-batches per optimizer step',
  maxIters: 'optimizer steps in all (a resumed run counts its earlier steps)',
  learningRate: 'peak learning rate, reached after the warm-up',
  minLr: 'learning rate at the end of the cosine decay; at most --learning-rate',
  warmupIters: 'steps of linear learning-rate warm-up',
  lrDecayIters: 'step at which the cosine decay reaches --min-lr',
  beta1: "AdamW's first-moment decay",
  beta2: "AdamW's second-moment decay",
  weightDecay: 'AdamW weight decay (matrices and embeddings only)',
  gradClip: 'largest global gradient norm; 0 = no clipping',
  evalInterval: 'steps between evaluations (a checkpoint is saved when val loss improves)',
  evalIters: 'batches per split in an evaluation',
  logInterval: 'steps between log lines',
  seed: 'seed of the initial weights, the batches and dropout',
  dtype: 'float32, float16 (mixed precision: float16 activations and products, float32 master weights, dynamic loss scaling), or auto: the faster of the two on this adapter',
  recompute: "activation checkpointing (llm.c's recompute): keep each block's input, not its activations, and run the block again in the backward; the same gradients for less memory and a slower step",
  loraRank: "LoRA (peft's r): train rank-r adapters on --lora-targets, every other weight frozen, so that gradients and AdamW state are the adapters' only; 0 = train every weight",
  loraAlpha: "LoRA's scale: the adapters add (alpha / rank)·B·A to each weight (peft's lora_alpha)",
  loraDropout: "dropout on the LoRA adapters' input while training (peft's lora_dropout)",
  loraTargets: `the layers of each block LoRA adapts, comma-separated: ${LORA_TARGETS.join(', ')} (c_proj: both projections; peft's GPT-2 default is c_attn)`,
  loraBias: "the biases that train beside the LoRA adapters (peft's bias): none, all (every Linear's and LayerNorm's), lora_only (the adapted Linears')",
};

/** Every training config, from flags, a config file or a checkpoint, must be within these. */
export const TRAIN_RANGES: RangesOf<TrainConfig> = {
  nLayer: POSITIVE_INT,
  nHead: POSITIVE_INT,
  nEmbd: POSITIVE_INT,
  shareLayers: POSITIVE_INT,
  blockSize: POSITIVE_INT,
  dropout: UNIT_INTERVAL,
  batchSize: POSITIVE_INT,
  gradAccum: POSITIVE_INT,
  maxIters: POSITIVE_INT,
  learningRate: POSITIVE,
  minLr: NON_NEGATIVE,
  warmupIters: NON_NEGATIVE_INT,
  lrDecayIters: POSITIVE_INT,
  beta1: UNIT_INTERVAL,
  beta2: UNIT_INTERVAL,
  weightDecay: NON_NEGATIVE,
  gradClip: NON_NEGATIVE, // 0: no clipping
  evalInterval: POSITIVE_INT,
  evalIters: POSITIVE_INT,
  logInterval: POSITIVE_INT,
  seed: SEED,
  loraRank: NON_NEGATIVE_INT, // 0: no adapters
  loraAlpha: POSITIVE,
  loraDropout: UNIT_INTERVAL,
};

/**
 * What is wrong with a training config, or null: each setting's type and range, then the rules
 * across settings. `name` spells a key as the caller's user knows it (a flag, a metadata field).
 * `model`: the config of the model it fine-tunes, where known, whose blocks may be narrower than
 * nHead and nEmbd say (structurally pruned): their own shapes bound the LoRA rank.
 */
export function trainConfigProblem(cfg: Record<string, unknown>, name: (key: string) => string, model?: GPTConfig): string | null {
  for (const [key, def] of Object.entries(TRAIN_DEFAULTS)) {
    const problem = settingProblem(name(key), cfg[key], def, (TRAIN_RANGES as Record<string, Range>)[key]);
    if (problem) return problem;
  }
  const c = cfg as TrainConfig;
  if (!TRAIN_DTYPES.includes(c.dtype)) return `${name('dtype')} must be one of ${TRAIN_DTYPES.join(', ')}, got ${JSON.stringify(c.dtype)}`;
  if (!LORA_BIASES.includes(c.loraBias)) return `${name('loraBias')} must be one of ${LORA_BIASES.join(', ')}, got ${JSON.stringify(c.loraBias)}`;
  if (c.minLr > c.learningRate) return `${name('minLr')} (${c.minLr}) must not exceed ${name('learningRate')} (${c.learningRate})`;
  return headsProblem(c, name) ?? shareLayersProblem(c, name) ?? loraSettingsProblem(c, name, model);
}

/** The LoRA settings of `cfg` that would not apply (any but the rank's default, at rank 0) or that no adapter could have, or null. */
function loraSettingsProblem(c: TrainConfig, name: (key: string) => string, model?: GPTConfig): string | null {
  const lora = loraOf(c);
  return loraFlagsProblem(c, name) ?? (lora ? loraRankProblem(lora, blockLinearShapes(firstBlockGroup(model ?? modelConfig(c, 1))), name('loraRank')) : null);
}

/** What loraSettingsProblem finds in the LoRA settings alone, whatever the model: known before a checkpoint is read (or downloaded). */
export function loraFlagsProblem(c: Pick<TrainConfig, 'loraRank' | 'loraAlpha' | 'loraDropout' | 'loraTargets' | 'loraBias'>, name: (key: string) => string): string | null {
  const lora = loraOf(c);
  if (!lora) {
    const unused = (['loraAlpha', 'loraDropout', 'loraTargets', 'loraBias'] as const).find((k) => c[k] !== TRAIN_DEFAULTS[k]);
    return unused ? `${name(unused)} applies to LoRA adapters only: give ${name('loraRank')} >= 1 too` : null;
  }
  const key = { rank: 'loraRank', alpha: 'loraAlpha', dropout: 'loraDropout', targets: 'loraTargets', bias: 'loraBias' } as const;
  return loraConfigProblem(lora, (k) => name(key[k]));
}

/** The adapters `cfg` asks for (loraRank >= 1; loraTargets a comma-separated list), or undefined. */
export function loraOf(cfg: Pick<TrainConfig, 'loraRank' | 'loraAlpha' | 'loraDropout' | 'loraTargets'> & Partial<Pick<TrainConfig, 'loraBias'>>): LoRAConfig | undefined {
  if (!cfg.loraRank) return undefined;
  const bias = cfg.loraBias ?? 'none'; // absent in a run recorded before it
  return { rank: cfg.loraRank, alpha: cfg.loraAlpha, dropout: cfg.loraDropout, targets: loraTargetList(cfg.loraTargets), ...(bias !== 'none' && { bias }) };
}

/** The layers a `loraTargets` setting names (comma-separated, spaces around a name ignored). */
export const loraTargetList = (targets: string) => targets.split(',').map((t) => t.trim()) as LoRATarget[];

export function headsProblem(c: Pick<GPTConfig, 'nEmbd' | 'nHead'>, name: (key: string) => string): string | null {
  return c.nEmbd % c.nHead ? `${name('nEmbd')} (${c.nEmbd}) must be divisible by ${name('nHead')} (${c.nHead})` : null;
}

/** What the hooks get: the step, its loss and learning rate, speed, and after an evaluation its train/val loss. */
export interface StepLog {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
  ms: number;
  tokensPerSec: number;
  /** Model FLOPs per second over the same steps as `ms` (Trainer.flopsPerToken per token; 0 at an evaluation); the first steps of a run compile the GPU kernels. */
  flopsPerSec: number;
  val?: number;
  train?: number;
  /** Mixed precision: the loss scale after this step, and the steps skipped so far (overflowed gradients). */
  lossScale?: number;
  skippedSteps?: number;
}

/** Callbacks of Trainer.run(), awaited before training goes on. */
export interface RunHooks {
  onLog?: (log: StepLog) => void | Promise<void>;
  onEval?: (log: StepLog) => void | Promise<void>;
  /** Each batch an evaluation queues, `queued` of `total` (both splits' evalIters): progress on a long evaluation. */
  onEvalBatch?: (queued: number, total: number) => void;
  /** GPU time per kernel of step `profileStep` (needs timestamp queries). */
  onProfile?: (kernels: KernelTime[]) => void | Promise<void>;
  profileStep?: number;
}

/** Where a run stands (step and generator states): saved in checkpoints so a resumed run matches an uninterrupted one. */
export interface TrainerState {
  step: number;
  dataRng: string;
  modelRng: string;
  /** A mixed-precision run's loss scaler. */
  scaler?: GradScalerState;
  /** AdamW steps a hand-written loop took before this run's step 0 (its checkpoint's optimizerSteps, resumed by the page): its bias correction counts them. */
  optimizerStepsBefore?: number;
  /** Tokens trained on through `step`, each step at the batch it ran with (a resume may change it); absent where a state before this field left it unknown. */
  tokens?: number;
}

/**
 * What is wrong with a trainer state (a checkpoint's, or restore's argument), or null; `name`
 * spells a field's path ('', '.step', '.scaler.scale') as the caller's user knows it.
 */
export function trainerStateProblem(state: unknown, name: (path: string) => string): string | null {
  if (!isRecord(state)) return `${name('')} must be an object, got ${show(state)}`;
  // Generator.setState would take a larger number modulo 2^64: another stream, without a word
  const rng = (['dataRng', 'modelRng'] as const).find((k) => !(typeof state[k] === 'string' && /^\d{1,20}$/.test(state[k]) && BigInt(state[k]) < 2n ** 64n));
  const problem =
    rangeProblem(name('.step'), state.step, NON_NEGATIVE_INT) ??
    (rng ? `${name(`.${rng}`)} must be a generator state (decimal digits, below 2^64), got ${show(state[rng])}` : null) ??
    (state.optimizerStepsBefore === undefined ? null : rangeProblem(name('.optimizerStepsBefore'), state.optimizerStepsBefore, NON_NEGATIVE_INT)) ??
    (state.tokens === undefined ? null : rangeProblem(name('.tokens'), state.tokens, NON_NEGATIVE_INT)) ??
    (state.scaler === undefined ? null : scalerStateProblem(state.scaler, (path) => name(`.scaler${path}`)));
  if (problem || state.scaler === undefined) return problem;
  // AdamW counts the steps taken: step less those skipped
  const { skippedSteps } = state.scaler as GradScalerState;
  return skippedSteps > (state.step as number) ? `${name('.scaler.skippedSteps')} (${skippedSteps}) must not exceed ${name('.step')} (${state.step as number})` : null;
}

/** What is wrong with a mixed-precision run's loss scaler state, or null (`name` as trainerStateProblem's). */
function scalerStateProblem(scaler: unknown, name: (path: string) => string): string | null {
  if (!isRecord(scaler)) return `${name('')} must be an object, got ${show(scaler)}`;
  const [key, value, , allowed] = scalerStateRules(scaler).find(([, , ok]) => !ok) ?? [];
  return key ? `${name(`.${key}`)} must be ${allowed}, got ${show(value)}` : null;
}

/**
 * The run cannot go on: the loss or the gradient norm became NaN or infinite (the weights after
 * `step` are unusable), or a float16 run's gradients overflowed even at the minimum loss scale
 * (every step from `step` on would be skipped). `what` says which, with what to change.
 */
export class TrainingDivergedError extends Error {
  constructor(
    readonly step: number,
    readonly what: string,
  ) {
    super(`training diverged at step ${step}: ${what}; stopped, the weights of later steps were not saved`);
    this.name = 'TrainingDivergedError';
  }
}

/** Bits of a trainer's `health` status: which check failed (watchNonFinite sets the first two, the GradScaler the third). */
const LOSS_NOT_FINITE = 1;
const NORM_NOT_FINITE = 2;
const OVERFLOW_AT_MIN_SCALE = 4;

/** TrainingDivergedError's `what` for the bits of a health status of a run computing in `dtype`. */
function divergence(bits: number, dtype: ComputeDtype): string {
  const nonFinite = [bits & LOSS_NOT_FINITE && 'the loss', bits & NORM_NOT_FINITE && 'the gradient norm'].filter(Boolean).join(' and ');
  return [
    nonFinite && notFinite(nonFinite, dtype),
    bits & OVERFLOW_AT_MIN_SCALE && `the gradients overflowed float16 at the minimum loss scale 2^${Math.log2(MIN_SCALE)}, so every step would be skipped (lower --learning-rate, or train with --dtype float32)`,
  ].filter(Boolean).join('; ');
}

/** `what` is (are) NaN or infinite, with the usual remedies; in float16, whose range a model fine in float32 may pass, float32 too. */
const notFinite = (what: string, dtype: ComputeDtype) =>
  `${what} ${what.includes(' and ') ? 'are' : 'is'} not finite (lower --learning-rate or set --grad-clip${dtype === 'float16' ? ', or train with --dtype float32: float16 overflows past 65504' : ''})`;

/** What keeps `distill`'s teacher from teaching a student trained with `cfg` on `vocabSize` tokens, or null. */
export function teacherProblem(distill: Distillation, cfg: Pick<TrainConfig, 'blockSize'>, vocabSize: number): string | null {
  const t = distill.teacher.config;
  if (t.vocabSize !== vocabSize) return `the teacher's vocabulary has ${t.vocabSize} tokens, the student's ${vocabSize}: distillation needs the same tokenizer`;
  if (t.blockSize < cfg.blockSize) return `the student's blockSize ${cfg.blockSize} exceeds the teacher's ${t.blockSize}: the teacher cannot read such contexts`;
  return distillSettingsProblem(distill as unknown as Record<string, unknown>, (k) => `distill.${k}`);
}

/**
 * How a given model's shape differs from the one `cfg` and the vocabulary describe, or null (cfg's
 * would be ignored without a word). A model without adapters takes those cfg asks for; one with
 * adapters must have cfg's.
 */
function modelShapeProblem(model: GPT, cfg: TrainConfig, vocabSize: number): string | null {
  const { lora, ...want }: Record<string, unknown> = { ...modelConfig(cfg, vocabSize), shareLayers: cfg.shareLayers };
  const has: Record<string, unknown> = { ...model.config, shareLayers: model.config.shareLayers ?? 1 };
  const key = Object.keys(want).find((k) => has[k] !== want[k]);
  if (key !== undefined) return `the model's ${key} is ${show(has[key])}, ${key === 'vocabSize' ? 'data' : 'cfg'}.${key} ${show(want[key])}; a given model must have the shape the config describes`;
  if (!model.config.lora || sameLoRA(model.config.lora, lora as LoRAConfig | undefined)) return null;
  const asked = lora ? `cfg.lora* ask for ${show(lora)}` : 'cfg.loraRank is 0';
  return `the model's LoRA adapters are ${show(model.config.lora)}, ${asked}; merge them first (model.mergeLoRA()) to train on from the merged weights`;
}

/** What a step of a model of `config` trained with `cfg` in `dtype` needs on the GPU (src/gpt/memory-plan.ts). */
export function stepPlan(config: GPTConfig, cfg: TrainConfig, dtype: ComputeDtype, distill?: Distillation, maskSizes: readonly number[] = []): MemoryPlan {
  const { bindingLimit, bufferLimit } = profile();
  const teacher = distill && { teacher: distill.teacher.config, teacherMaskSizes: maskSizesOf(distill.teacher) };
  return memoryPlan(config, cfg.batchSize, { training: true, bindingLimit, bufferLimit, dtype, maskSizes, ...teacher, recompute: cfg.recompute, gradAccum: cfg.gradAccum });
}

/** The elements of each pruning mask `model` holds (its `*.weight_mask` buffers). */
const maskSizesOf = (model: GPT): number[] => [...model.namedBuffers()].filter(([name]) => isMaskName(name)).map(([, b]) => b.size);

/** The model's config from a training config and the tokenizer's vocabulary size. */
export function modelConfig(cfg: TrainConfig, vocabSize: number): GPTConfig {
  const { blockSize, nLayer, nHead, nEmbd, dropout, bias, shareLayers } = cfg;
  const lora = loraOf(cfg);
  // without sharing (or adapters) the field is left out: such a config (and checkpoint) reads as before it existed
  return { vocabSize, blockSize, nLayer, nHead, nEmbd, dropout, bias, ...(shareLayers > 1 && { shareLayers }), ...(lora && { lora }) };
}

/** Knowledge distillation's settings: the loss is distillLoss against this teacher's logits (see src/ops/distill-loss.ts). */
export interface DistillSettings {
  /** Softmax temperature of the soft targets, in (0, MAX_DISTILL_TEMPERATURE]. */
  temperature: number;
  /** Weight of the soft targets (alpha T² KL); the hard labels' cross-entropy gets 1 - alpha. */
  alpha: number;
}

/** gpt distill's defaults: Hinton's T = 2, soft and hard targets weighted equally. */
export const DISTILL_DEFAULTS: DistillSettings = { temperature: 2, alpha: 0.5 };
/** What distillation settings may be: T in (0, MAX_DISTILL_TEMPERATURE] (where distillLoss is accurate in float32), alpha in [0, 1]. */
export const DISTILL_RANGES: RangesOf<DistillSettings> = { temperature: { above: 0, max: MAX_DISTILL_TEMPERATURE }, alpha: { min: 0, max: 1 } };
/** What each distillation setting means (the `gpt distill --help` lines). */
export const DISTILL_DOCS: { [K in keyof DistillSettings]: string } = {
  temperature: "softmax temperature T of the teacher's soft targets (the KL term is scaled by T², Hinton's convention)",
  alpha: "weight of the soft targets: loss = alpha T² KL(teacher || student) + (1 - alpha) cross-entropy(labels)",
};

/** What is wrong with distillation settings, or null; `name` spells a key as the caller's user knows it. */
export function distillSettingsProblem(d: Record<string, unknown>, name: (key: string) => string, ranges = DISTILL_RANGES): string | null {
  return Object.entries(ranges).map(([k, r]) => rangeProblem(name(k), d[k], r)).find((p) => p) ?? null;
}

/** A teacher model and how the student learns from it. */
export interface Distillation extends DistillSettings {
  /** Run in eval mode without gradients on each training batch; not trained, not disposed by the trainer. */
  teacher: GPT;
}

/** Throws unless `data` is { train, val, vocabSize } with token sources (a Float32Array or number[] would be read as other tokens, or not at all). */
function checkData(data: unknown): void {
  checkOptionKeys('Trainer: data', data as object, ['train', 'val', 'vocabSize']);
  const d = data as Record<string, unknown>;
  for (const split of ['train', 'val']) {
    if (!isTokenSource(d[split])) {
      throw new TypeError(`Trainer: argument 'data.${split}' must be an Int32Array of token ids or a TokenSource (length, subarray), got ${describeValue(d[split])}`);
    }
  }
}

/** What a training step reports: its loss and gradient norm (NaN when not read back), a float16 run's loss scale. */
type StepResult = { loss: number; gradNorm: number; lossScale?: number; skippedSteps?: number };

/** Trains a GPT on token arrays: batches, AdamW with warmup + cosine schedule, clipping, evaluation, hooks for logs and saves. */
export class Trainer {
  readonly model: GPT;
  readonly optimizer: AdamW;
  /** What the model computes in (cfg.dtype, 'auto' resolved for this adapter). */
  readonly dtype: ComputeDtype;
  /** The loss scaler of a float16 run, else null. */
  readonly scaler: GradScaler | null;
  step = 0;
  private readonly dataRng: Generator;
  /** int32 [2]: which check failed first (the bits above: loss or gradient norm not finite, overflow at the minimum scale), and at which step. */
  private readonly health: Tensor;
  /** Whether a step casts the weights to float16 once for all its micro-batches (a CastCache). */
  private readonly castCache: boolean;
  /** A float32 run's copy of the scaler state of the float16 run it continues: handed on in its checkpoints, so the steps skipped there stay out of AdamW's count. */
  private carriedScaler?: GradScalerState;
  /**
   * The scaler state of a float16 run that continueFrom handed this trainer without a GPU copy (this
   * one is float32, or continues a trainer that had not taken it yet), on its way to the host: taken
   * as restore takes a state's before the next step or state.
   */
  private carriedOnGpu?: Promise<GradScalerState>;
  /** AdamW steps taken before this run's step 0 (TrainerState's optimizerStepsBefore): in AdamW's count, and in this trainer's states. */
  private optimizerStepsBefore = 0;
  /** TrainerState's tokens: undefined once restored from a state that did not count them. */
  private tokensTrained: number | undefined = 0;
  /** The trainStep, evaluate or run in flight, if any. */
  private running: string | null = null;
  /** Whether a step is between its first batch and its count (run's hooks come between steps). */
  private stepInFlight = false;

  /**
   * With `distill`, each step's loss is distillLoss of the student (`model`, trained) against the
   * teacher's logits on the same batch; evaluations report the student's plain cross-entropy.
   * `scaler` sets a float16 run's GradScaler (PyTorch's defaults otherwise); `castCache: false`
   * has it cast each weight at every use instead of once a step (PyTorch's autocast cache_enabled):
   * the same results, in more dispatches. With cfg.loraRank >= 1 only LoRA adapters train (src/gpt/lora.ts):
   * a given model without adapters gets those cfg asks for (GPT.addLoRA), one with adapters must have them.
   */
  constructor(
    readonly cfg: TrainConfig,
    readonly data: TokenSplits & { vocabSize: number },
    model?: GPT,
    readonly distill?: Distillation,
    opts: { scaler?: GradScalerOptions; castCache?: boolean; moments?: { m: Moment[]; v: Moment[] } } = {},
  ) {
    if (cfg === null || typeof cfg !== 'object') throw new TypeError(`Trainer: argument 'cfg' must be a TrainConfig ({ ...TRAIN_DEFAULTS, ... }), got ${describeValue(cfg)}`);
    checkOptionKeys('Trainer', cfg, Object.keys(TRAIN_DEFAULTS), { ...ITERS_RENAMED, lr: 'learningRate' }); // learningRate()'s names, the schedule's or its old ones
    checkOptionKeys('Trainer', opts, ['scaler', 'castCache', 'moments']);
    checkData(data);
    if (distill !== undefined) {
      checkOptionKeys('Trainer: distill', distill, ['teacher', 'temperature', 'alpha']);
      if (!(distill.teacher instanceof GPT)) throw new TypeError(`Trainer: argument 'distill.teacher' must be a GPT, got ${describeValue(distill.teacher)}`);
    }
    if (opts.castCache !== undefined) checkBoolean('Trainer', 'castCache', opts.castCache);
    // whatever the dtype resolves to: a config must not run on one adapter and fail on another
    if (opts.scaler !== undefined) gradScalerSettings(opts.scaler);
    const problem = trainConfigProblem(cfg as unknown as Record<string, unknown>, (key) => `cfg.${key}`, model instanceof GPT ? model.config : undefined) ?? (distill && teacherProblem(distill, cfg, data.vocabSize));
    if (problem) throw new RangeError(`Trainer: ${problem}`);
    if (model !== undefined && !(model instanceof GPT)) throw new TypeError(`Trainer: argument 'model' must be a GPT or undefined, got ${describeValue(model)}`);
    if (model?.config.quantization) {
      throw new Error(`Trainer: a quantized (${model.config.quantization}) model cannot be trained; train the float32 model, then quantize it`);
    }
    // the teacher would move with the student, and be put back in training mode (dropout) each step
    const trained = new Set(model?.parameters());
    if (distill?.teacher.parameters().some((p) => trained.has(p))) {
      throw new Error('Trainer: distill.teacher holds parameters of the model being trained (it is that GPT, or made of its modules); the teacher must be a separate model, which training leaves as it is');
    }
    const shape = model && modelShapeProblem(model, cfg, data.vocabSize);
    if (shape) throw new RangeError(`Trainer: ${shape}`);
    model?.checkAdapters('Trainer'); // its checkpoints could not hold them
    const lora = loraOf(cfg);
    // a model the trainer adapts itself gets trainable adapters; one adapted before must have kept some trainable
    if (model && !(lora && !model.config.lora) && !model.trainableParameters().length) throw new Error('Trainer: every parameter of the model is frozen (requiresGrad false): nothing to train; unfreeze some with requiresGrad_()');
    checkSplits(data, cfg.blockSize);
    this.dtype = resolveTrainDtype(cfg.dtype);
    if (this.dtype === 'float16') requireF16('Trainer (dtype float16)');
    // a model that cannot be (at once, whatever its layers), or a buffer past the adapter's limits, named with its sizes, before anything is made (as gpt train and the page check)
    const fit = modelSizeProblem(modelConfig(cfg, data.vocabSize), deviceRoom()) ?? planFitProblem(stepPlan(modelConfig(cfg, data.vocabSize), cfg, this.dtype, distill), device().info.limits);
    if (fit) throw new RangeError(`Trainer: ${fit}`);
    distill?.teacher.eval();
    // what may refuse comes before what it would leave allocated: the scaler's options, then a
    // given model's parameters (a refused Trainer left a whole model and its moments live); an
    // allocation that fails frees those made before it (all or nothing)
    this.scaler = this.dtype === 'float16' ? new GradScaler(opts.scaler) : null;
    let made: GPT | undefined; // made here: nothing else would free it
    let optimizer: AdamW | undefined;
    try {
      this.model = model ?? (made = new GPT(modelConfig(cfg, data.vocabSize), { seed: cfg.seed }));
      if (lora && !this.model.config.lora) this.model.addLoRA(lora); // a given model takes the adapters cfg asks for
      // frozen parameters (a LoRA run's base weights) get no gradient, no moments and no clipping
      this.optimizer = optimizer = new AdamW(
        this.model.trainableParameters(),
        { lr: cfg.learningRate, betas: [cfg.beta1, cfg.beta2], weightDecay: cfg.weightDecay },
        opts.moments, // a resumed run's (checkpointMoments'), adopted
      );
      this.health = keep(zeros([2], 'int32'));
    } catch (e) {
      optimizer?.dispose();
      this.scaler?.dispose();
      made?.dispose();
      throw e;
    }
    this.dataRng = new Generator(cfg.seed, 1);
    this.castCache = this.dtype === 'float16' && opts.castCache !== false;
  }

  /**
   * Model FLOPs per token of a step (src/gpt/flops.ts): the model's training FLOPs at cfg.blockSize,
   * and a distillation teacher's forward on the same tokens. Divided by the adapter's peak, it is
   * nanoGPT's MFU.
   */
  get flopsPerToken(): number {
    const T = this.cfg.blockSize;
    return trainingFlopsPerToken(this.model.config, T) + (this.distill ? forwardFlopsPerToken(this.distill.teacher.config, T) : 0);
  }

  /** B random blocks of T+1 tokens: inputs x and next-token targets y, both int32 [B, T]. */
  batch(split: 'train' | 'val', rng = this.dataRng): { x: Int32Array; y: Int32Array } {
    return drawBatch(this.data[split], this.cfg.batchSize, this.cfg.blockSize, rng);
  }

  lr(step = this.step): number {
    const c = this.cfg;
    return learningRate(step, { lr: c.learningRate, minLr: c.minLr, warmupIters: c.warmupIters, lrDecayIters: c.lrDecayIters });
  }

  /**
   * One optimizer step (gradAccum micro-batches). Reads the loss back only if `readLoss`, and then
   * throws TrainingDivergedError if any step so far diverged (see checkFinite).
   */
  async trainStep(readLoss = true): Promise<StepResult> {
    checkBoolean('Trainer.trainStep', 'readLoss', readLoss);
    return this.exclusive('trainStep', () => this.takeStep(readLoss));
  }

  /**
   * Runs `fn` (what `op` does) alone: a step, evaluation or run started while another is in flight
   * (not awaited) would read the weights halfway through its update, or sum its gradients into its
   * step, so it is refused instead.
   */
  private async exclusive<R>(op: string, fn: () => Promise<R>): Promise<R> {
    this.assertIdle(op);
    this.running = op;
    try {
      return await fn();
    } finally {
      this.running = null;
    }
  }

  /** Throws while a trainStep, evaluate or run is in flight: `op` would meet its state halfway through. */
  private assertIdle(op: string): void {
    if (this.running) throw new Error(`Trainer.${op}: Trainer.${this.running}() is still running; await it before starting another (a trainer runs one at a time)`);
  }

  private async takeStep(readLoss: boolean): Promise<StepResult> {
    if (this.health.isDisposed) throw new Error('Trainer.trainStep: the trainer was disposed (dispose() frees its optimizer state); make a new Trainer');
    // in flight (and the model in training mode) before the first await: a state() or a generation
    // called meanwhile is refused, not given half a step
    this.model.train();
    this.optimizer.lr = this.lr();
    this.stepInFlight = true;
    try {
      await this.settleCarriedScaler();
      return await scope(async () => {
        let norm: Tensor;
        let lossSum: Tensor;
        try {
          lossSum = await this.backwardMicroBatches();
          maskGradients(this.model);
          norm = this.clipAndStep(lossSum);
          maskWeights(this.model);
        } finally {
          // after a throw too: gradients left on the parameters would be summed into the next step's
          this.optimizer.zeroGrad();
        }
        this.step++;
        if (this.tokensTrained !== undefined) this.tokensTrained += this.cfg.batchSize * this.cfg.blockSize * this.cfg.gradAccum;
        if (!readLoss) return { loss: NaN, gradNorm: NaN };
        // one submit for all
        const [loss, gradNorm, health, scaler] = await Promise.all([lossSum!.item(), norm.item(), this.health.toArray(), this.scaler?.state()]);
        this.throwIfDiverged(health);
        return { loss, gradNorm, ...(scaler && { lossScale: scaler.scale, skippedSteps: scaler.skippedSteps }) };
      });
    } finally {
      this.stepInFlight = false;
    }
  }

  /** Forward and backward over the step's gradAccum micro-batches, summing their gradients into .grad; returns their loss (on the GPU). */
  private async backwardMicroBatches(): Promise<Tensor> {
    const { batchSize: B, blockSize: T, gradAccum } = this.cfg;
    let lossSum: Tensor | null = null;
    // float16 copies of the weights (the teacher's too), cast once for all the micro-batches: the
    // weights change only after them, and the copies are gone before that
    const casts = this.castCache ? new CastCache([...this.model.parameters(), ...(this.distill?.teacher.parameters() ?? [])]) : undefined;
    try {
      for (let micro = 0; micro < gradAccum; micro++) {
        // set by trainStep; eval now means another task took the model between micro-batches (their dropout would differ)
        if (!this.model.training) throw new Error('Trainer.trainStep: the model was put in eval mode (a generate, evaluateModel or model.eval() on it) while this step ran; await the step first');
        // each micro-batch's activations are freed after its backward, not at the end of the step
        const part = scope(() => {
          const { x, y } = this.batch('train');
          const loss = autocast(this.dtype, () => this.trainingLoss(tensor(x, [B, T]), tensor(y, [B, T])), casts).mul(1 / gradAccum);
          (this.scaler ? this.scaler.scaleLoss(loss) : loss).backward();
          return loss.detach();
        });
        lossSum = lossSum ? lossSum.add(part) : part;
        await device().breathe();
      }
    } finally {
      casts?.dispose();
    }
    return lossSum!;
  }

  /**
   * Clips the gradients to cfg.gradClip and takes the optimizer step, all on the GPU; returns the
   * gradient norm. A float16 run's scaler unscales them first and skips the step when they
   * overflowed: its norm is then not finite by design, so the loss is watched for divergence, and
   * the scaler marks a step skipped at its minimum scale.
   */
  private clipAndStep(loss: Tensor): Tensor {
    const maxNorm = this.cfg.gradClip > 0 ? this.cfg.gradClip : Infinity;
    const params = [...this.optimizer.params]; // the trainable ones
    if (this.scaler) {
      const norm = this.scaler.unscale(params, maxNorm, { status: this.health, flag: OVERFLOW_AT_MIN_SCALE, step: this.step + 1 });
      watchNonFinite(this.health, [loss], this.step + 1);
      this.optimizer.step(this.scaler.control);
      return norm;
    }
    const { norm, scale } = clipGradNorm(params, maxNorm);
    watchNonFinite(this.health, [loss, norm], this.step + 1);
    this.optimizer.step(scale);
    return norm;
  }

  /**
   * A micro-batch's loss: the model's cross-entropy, or with a teacher the distillation loss against
   * its logits. Only the loss leaves the scope: the logits (and the teacher's) are then held by the
   * loss's graph alone, which frees them once the loss's backward has used them, not at the step's
   * end (GPT-2 at batch 8, block 1024: 1.6 GB less through the rest of the backward).
   */
  private trainingLoss(x: Tensor, y: Tensor): Tensor {
    return scope(() => {
      const recompute = this.cfg.recompute;
      if (!this.distill) return this.model.forward(x, { targets: y, recompute }).loss;
      const { teacher, temperature, alpha } = this.distill;
      const [B, T] = x.shape as [number, number];
      const V = this.data.vocabSize;
      const soft = noGrad(() => teacher.forward(x).logits); // [B, T, V], no graph
      const { logits } = this.model.forward(x, { recompute }); // [B, T, V]
      // a float16 run's logits stay float16 (both under autocast): distillLoss sums in float32 itself
      return distillLoss(logits.reshape([B * T, V]), soft.reshape([B * T, V]), y.reshape([B * T]), { temperature, alpha, ignoreIndex: -1 });
    });
  }

  /** Throws TrainingDivergedError if a step so far had a non-finite loss or gradient norm, or overflowed at the minimum scale (one readback). */
  async checkFinite(): Promise<void> {
    this.throwIfDiverged(await this.health.toArray());
  }

  private throwIfDiverged(health: ArrayLike<number>): void {
    if (health[0]) throw new TrainingDivergedError(health[1]!, divergence(health[0], this.dtype));
  }

  /** Mean loss over evalIters batches of each split, drawn from a fixed generator (comparable across evals). */
  async evaluate(): Promise<{ train: number; val: number }> {
    const { train, val } = await this.exclusive('evaluate', () => this.evaluateNow());
    return { train, val };
  }

  private evaluateNow(onBatch?: RunHooks['onEvalBatch']): ReturnType<typeof evaluateModel> {
    const total = 2 * this.cfg.evalIters;
    return evaluateModel(this.model, this.data, { ...this.cfg, dtype: this.dtype, onBatch: onBatch && ((queued) => onBatch(queued, total)) });
  }

  /** Trains until maxIters, calling `onLog` every logInterval steps and after each evaluation. */
  async run(hooks: RunHooks = {}): Promise<void> {
    checkOptionKeys('Trainer.run', hooks, ['onLog', 'onEval', 'onEvalBatch', 'onProfile', 'profileStep']);
    return this.exclusive('run', () => this.runSteps(hooks));
  }

  private async runSteps(hooks: RunHooks): Promise<void> {
    const { maxIters, logInterval, evalInterval, batchSize, blockSize, gradAccum } = this.cfg;
    let last = performance.now();
    let lastStep = this.step;
    while (this.step < maxIters) {
      if (this.step % evalInterval === 0) {
        const losses = await this.checkedEvaluate(hooks.onEvalBatch);
        await this.callHook(() => hooks.onEval?.({ step: this.step, loss: NaN, lr: this.lr(), gradNorm: NaN, ms: 0, tokensPerSec: 0, flopsPerSec: 0, ...losses }));
        last = performance.now();
        lastStep = this.step;
      }
      const lr = this.lr();
      const logNow = (this.step + 1) % logInterval === 0 || this.step + 1 === maxIters;
      const profile = hooks.onProfile && this.step === hooks.profileStep;
      if (profile) {
        // the profiled step runs the kernels the run will (tuning cannot time them during a profile);
        // the wait is no step's time
        const waitStart = performance.now();
        await autotuneSettled();
        last += performance.now() - waitStart;
        device().startProfiling();
      }
      let result: StepResult;
      try {
        result = await this.takeStep(logNow);
        await device().breathe(); // a loop that never reads back still lets Dawn free its per-step objects
      } catch (e) {
        // off again: left on, every later dispatch of the process ran in a timestamped pass of its own
        if (profile) await device().stopProfiling().catch(() => undefined);
        throw e;
      }
      const { loss, gradNorm, lossScale, skippedSteps } = result;
      if (profile) {
        const times = await device().stopProfiling();
        await this.callHook(() => hooks.onProfile!(times));
      }
      if (logNow) {
        const now = performance.now();
        const ms = (now - last) / Math.max(1, this.step - lastStep);
        const tokensPerSec = (batchSize * blockSize * gradAccum * 1000) / ms;
        const flopsPerSec = tokensPerSec * this.flopsPerToken;
        await this.callHook(() => hooks.onLog?.({ step: this.step, loss, lr, gradNorm, ms, tokensPerSec, flopsPerSec, ...(lossScale !== undefined && { lossScale, skippedSteps }) }));
        last = now;
        lastStep = this.step;
      }
    }
    const losses = await this.checkedEvaluate(hooks.onEvalBatch);
    await this.callHook(() => hooks.onEval?.({ step: this.step, loss: NaN, lr: this.lr(), gradNorm: NaN, ms: 0, tokensPerSec: 0, flopsPerSec: 0, ...losses }));
  }

  /** Calls a run's hook with the trainer free: run waits on it, so the hook may evaluate, or even step. */
  private async callHook(call: () => unknown): Promise<void> {
    const running = this.running;
    this.running = null;
    let left: string | null;
    try {
      await call();
    } finally {
      [left, this.running] = [this.running, running];
    }
    if (left) throw new Error(`Trainer.run: a hook returned with Trainer.${left}() still running; await it in the hook`);
  }

  /** evaluate(), after checking that no step diverged and that both losses are finite. */
  private async checkedEvaluate(onBatch?: RunHooks['onEvalBatch']): Promise<{ train: number; val: number }> {
    await this.checkFinite();
    const { train, val, notFinite: at } = await this.evaluateNow(onBatch);
    if (at) throw new TrainingDivergedError(this.step, notFinite(`the ${at.split} loss of the evaluation (first at ${at.stage} on its batch ${at.batch + 1})`, this.dtype));
    return { train, val }; // the losses alone: they are logged as they are
  }

  /** Where the run stands, for a checkpoint (the scaler's state is read back from the GPU). */
  async state(): Promise<TrainerState> {
    if (this.stepInFlight) throw new Error('Trainer.state: a trainStep is still running; await it first (its state now is half a step: its batch drawn, its count not taken)');
    // read before the first await: a trainStep called meanwhile draws its batch (the generators) at
    // once, and queues its scaler update after this readback; a handed-on state is the scaler's
    const host = this.hostState();
    const handedOn = this.carriedOnGpu;
    const scaler = await (handedOn ?? this.scaler?.state());
    await this.settleCarriedScaler();
    return { ...host, ...(scaler && { scaler }) };
  }

  /**
   * Takes the scaler state continueFrom handed on, once read back, as restore takes a state's: a
   * float16 trainer's scaler loads it; a float32 one carries it on, its skipped steps out of AdamW's count.
   */
  private async settleCarriedScaler(): Promise<void> {
    const pending = this.carriedOnGpu;
    if (!pending) return;
    const carried = await pending;
    if (this.carriedOnGpu !== pending) return; // taken by a caller before this one, or replaced by a restore
    this.carriedOnGpu = undefined;
    if (this.scaler) return this.scaler.load(carried);
    this.carriedScaler = carried;
    this.optimizer.stepCount -= carried.skippedSteps;
  }

  private hostState(): TrainerState {
    const before = this.optimizerStepsBefore && { optimizerStepsBefore: this.optimizerStepsBefore };
    const tokens = this.tokensTrained !== undefined && { tokens: this.tokensTrained };
    return { step: this.step, dataRng: this.dataRng.getState(), modelRng: this.model.rng.getState(), ...(this.carriedScaler && { scaler: this.carriedScaler }), ...before, ...tokens };
  }

  /** Continues `old`'s run with the same model (e.g. on other data): its optimizer moments, step, generators and loss scale. */
  continueFrom(old: Trainer): void {
    // either one mid-step would mix a half-updated step into the copy, or the copy into the step
    this.assertIdle('continueFrom');
    old.assertIdle('continueFrom (the trainer it continues)');
    this.optimizer.copyMoments(old.optimizer);
    this.restore(old.hostState());
    if (old.carriedOnGpu) {
      this.carriedOnGpu = old.carriedOnGpu; // handed to old by a continueFrom, not taken yet
    } else if (this.scaler && old.scaler) {
      this.scaler.scale.assign(old.scaler.scale);
      this.scaler.control.assign(old.scaler.control);
    } else if (old.scaler) {
      // a float32 run continuing a float16 one: the scaler's state is on the GPU, read back from a
      // copy (old may be disposed at once), taken before this trainer's next step or state
      const copy = new GradScaler();
      try {
        copy.scale.assign(old.scaler.scale);
        copy.control.assign(old.scaler.control);
      } catch (e) {
        copy.dispose();
        throw e;
      }
      this.carriedOnGpu = copy.state().finally(() => copy.dispose());
      this.carriedOnGpu.catch(() => undefined); // (a lost device) thrown where it is awaited, not as an unhandled rejection
    }
  }

  /**
   * Starts this run (at its step 0) on the moments of a hand-written loop's AdamW of `steps` steps
   * (a checkpoint's optimizerSteps): AdamW's count goes on from them, and so do the counts restored
   * from this trainer's state (its checkpoints, continueFrom).
   */
  countOptimizerStepsBefore(steps: number): void {
    this.restore({ ...this.hostState(), optimizerStepsBefore: steps });
  }

  /**
   * Continues from `state` (a float16 run without a scaler's state starts a fresh scaler). A float32
   * run keeps a scaler's state to hand on, and its AdamW counts only the steps the float16 run took
   * (the bias correction there counted them so).
   */
  restore(state: TrainerState): void {
    this.assertIdle('restore'); // a step in flight would count itself onto the restored step and draw from the restored generators
    const problem = trainerStateProblem(state, (path) => `argument 'state${path}'`);
    if (problem) throw new RangeError(`Trainer.restore: ${problem}`);
    this.step = state.step;
    this.carriedOnGpu = undefined; // the state given replaces what continueFrom handed on
    this.carriedScaler = this.scaler || !state.scaler ? undefined : { ...state.scaler };
    this.optimizerStepsBefore = state.optimizerStepsBefore ?? 0;
    this.tokensTrained = state.tokens ?? (state.step === 0 ? 0 : undefined);
    this.optimizer.stepCount = this.optimizerStepsBefore + state.step - (this.carriedScaler?.skippedSteps ?? 0);
    this.dataRng.setState(state.dataRng);
    this.model.rng.setState(state.modelRng);
    this.scaler?.load(state.scaler ?? { scale: this.scaler.initScale, cleanSteps: 0, skippedSteps: 0 });
  }

  /** What a step of this trainer needs on the GPU (src/gpt/memory-plan.ts), against the adapter's limits. */
  memoryPlan(): MemoryPlan {
    return stepPlan(this.model.config, this.cfg, this.dtype, this.distill, maskSizesOf(this.model));
  }

  /** A LoRA run's adapters and peft's trainable-parameter line (what `gpt train` prints, the page shows), or null without adapters. */
  describeAdapters(): string | null {
    const { lora } = this.model.config;
    return lora ? describeAdapters(lora, this.optimizer.params.reduce((n, p) => n + p.size, 0), this.model.parameterCount()) : null;
  }

  /** GPU bytes held by tensors right now (flat across steps in a healthy loop). */
  liveBytes(): number {
    return device().memory().liveBytes;
  }

  /** Frees the optimizer state and the trainer's own buffers (not the model, which may outlive it). */
  dispose(): void {
    this.optimizer.dispose();
    this.health.dispose();
    this.scaler?.dispose();
  }
}
