// A GPT checkpoint as one self-contained safetensors file: the weights under their GPT-2 names,
// the pruning masks of a pruned model beside them (`h.0.mlp.c_fc.weight_mask`), optionally AdamW's moments under `optim.m.<name>` / `optim.v.<name>`, and in the metadata the
// model config, the tokenizer, and (for resuming) the training config and trainer state. Platform
// free: Node writes it atomically through src/node/checkpoint-files.ts, the browser as a download.
// Neither side trusts the other: every metadata field is checked for its type and range (a training
// config as strictly as the flags that made it), and a tensor holding NaN or Inf is refused, so a
// diverged run cannot replace a good checkpoint and a damaged one fails in one line, not mid-sample.
import { device } from '../device/device.js';
import { checkBytes, parseSafetensors, readPendingTensors, serializeSafetensors, streamSafetensors, type PendingTensor, type Safetensors, type SafetensorsDtype, type SafetensorsEntry, type SafetensorsTensor } from '../io/safetensors.js';
import { openSafetensors, type ByteSource } from '../io/safetensors-source.js';
import { pendingTensors } from '../io/state-dict.js';
import { isRecord, NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT, rangeProblem, settingProblem, show, type RangesOf } from '../io/value-ranges.js';
import { isMaskName, loadMasks } from '../nn/prune.js';
import { checkOptionKeys, describeValue } from '../tensor/check.js';
import { ACTIVATIONS, QUANTIZATIONS, type Activation, type Quantization } from '../nn/transformer.js';
import type { AdamW, Moment } from '../optim/adamw.js';
import type { Tensor } from '../ops/index.js';
import { tokenizerFromJSON, type Tokenizer, type TokenizerJSON } from './tokenizer/index.js';
import { firstBlockGroup, GPT, groupSizeProblem, perLayerProblem, shareLayersProblem, validateConfig, type GPTConfig } from './model.js';
import {
  DISTILL_RANGES, distillSettingsProblem, headsProblem, TRAIN_DEFAULTS, TRAIN_RANGES, trainConfigProblem, trainerStateProblem, type DistillSettings, type TrainConfig, type TrainerState,
} from './trainer.js';

/** The format tag in every checkpoint's metadata. */
export const CHECKPOINT_FORMAT = 'webgpu-gpt-checkpoint/1';
/** The safetensors metadata key that holds a checkpoint's metadata (JSON). */
export const CHECKPOINT_KEY = 'webgpu_gpt';

/** A checkpoint's metadata: the model config, the tokenizer and, for resuming, the training state. */
export interface CheckpointMeta {
  format: typeof CHECKPOINT_FORMAT;
  model: GPTConfig;
  tokenizer: TokenizerJSON;
  train?: TrainConfig;
  trainer?: TrainerState;
  /** The val loss of these weights when they were saved. */
  val?: number;
  /** The run's best val loss so far (what a resumed run's saves must beat; with --always-save, not necessarily `val`). */
  bestVal?: number;
  /** The training run that wrote it (log.jsonl records carry it); a resumed run keeps it. */
  run?: string;
  /** Where the run's text came from (a file, a URL, a prepared-data directory, builtin:webdocs), for evaluating it later. */
  data?: string;
  /** How many tokens its train and val splits held: a resumed run finding others there knows the data changed. */
  dataTokens?: { train: number; val: number };
  /**
   * A distilled model's teacher (the checkpoint path it was read from) and settings: for resuming the
   * run, and kept by gpt prune and gpt quantize, whose checkpoints are the same model made smaller.
   */
  distill?: DistillMeta;
  /**
   * Of an int8 checkpoint quantized from one pruned by magnitude: how many of its Linear weights the
   * pruning masks (which an int8 checkpoint does not hold) had pruned, of how many.
   */
  prunedWeights?: PrunedWeights;
  /** Whether the run saves at every evaluation (gpt train --always-save), which a resumed run keeps doing. */
  alwaysSave?: boolean;
  /**
   * The peft adapter (gpt train --adapter) merged into the model this run's LoRA adapters were
   * trained on: their base is that model with it merged, not the model alone.
   */
  mergedAdapter?: string;
  /**
   * AdamW's stepCount when its moments were saved (CheckpointExtras.optimizer's, a GradScaler's skipped
   * steps counted in; or a loaded checkpoint's, given again): restoreOptimizer sets it, for a hand-written loop's bias correction.
   */
  optimizerSteps?: number;
}

/** How a distilled student was trained: `gpt distill --teacher DIR --temperature T --alpha A`. */
export interface DistillMeta extends DistillSettings {
  teacher: string;
  /** CRC-32 (8 hex digits) of the teacher's weights as read, names and values: a resumed run notices a teacher changed under its path. */
  teacherWeights?: string;
}

/** Pruning masks' count: `pruned` of the `total` weights they cover. */
export interface PrunedWeights {
  pruned: number;
  total: number;
}

const { blockSize, nLayer, nHead, nEmbd, dropout } = TRAIN_RANGES;
const MODEL_RANGES: RangesOf<GPTConfig> = { vocabSize: POSITIVE_INT, blockSize, nLayer, nHead, nEmbd, dropout };

/** A stored tensor: its shape and row-major values. */
export interface CheckpointWeight {
  shape: number[];
  data: Float32Array | Int8Array;
}

/**
 * A decoded checkpoint: its metadata and weights on the host (modelFromCheckpoint puts them on the
 * GPU). A quantized model's (meta.model.quantization 'int8') has int8 weights (I8 in the file) and
 * their float32 scales under `<name>_scale`.
 */
export interface Checkpoint {
  meta: CheckpointMeta;
  weights: Map<string, CheckpointWeight>;
  /** AdamW moments by parameter name, when the checkpoint was saved for resuming. */
  optimizer?: { m: Map<string, Float32Array>; v: Map<string, Float32Array> };
  /** Where it was read from (decodeCheckpoint's, decodeHF's `source`), named in loading's errors. */
  source?: string;
}

/** The metadata's optional fields: a run's state, as CheckpointExtras passes them. */
const RUN_STATE_FIELDS = ['train', 'trainer', 'val', 'bestVal', 'run', 'data', 'dataTokens', 'distill', 'prunedWeights', 'alwaysSave', 'optimizerSteps', 'mergedAdapter'] as const;

/**
 * The run state in a checkpoint's metadata, to save again with other weights (the page saves a
 * model it loaded so): a field this version does not know (another version's, one added by hand)
 * is left out, as reading it ignored it.
 */
export const runStateOf = (meta: CheckpointMeta): CheckpointExtras => Object.fromEntries(RUN_STATE_FIELDS.flatMap((k) => (meta[k] === undefined ? [] : [[k, meta[k]]])));

/** What a checkpoint may hold besides the weights, the model config and the tokenizer: the metadata's optional fields, and the optimizer. */
export interface CheckpointExtras extends Pick<CheckpointMeta, (typeof RUN_STATE_FIELDS)[number]> {
  /** AdamW's moments, saved under `optim.m.<name>` / `optim.v.<name>` (needed to resume training). */
  optimizer?: AdamW;
  /** Or moments by parameter name, as a loaded checkpoint holds them (on the host, or on the GPU: read back one at a time). */
  moments?: MomentMaps;
}

/**
 * Throws where weights cannot be read back: on Dawn's null backend nothing runs and every read is
 * zeros, so a run there (gpt train --init-from resume, prune, quantize, export) would write zeros
 * over a real checkpoint.
 */
export function assertWeightsReadable(): void {
  if (!device().executes) throw new Error("checkpoint not saved: Dawn's null backend (GPT_DAWN_BACKEND=null) runs nothing, so the weights read back as zeros");
}

/** A model with its tokenizer (and optionally training state) as one safetensors file's bytes; refuses NaN/Inf weights. */
export async function encodeCheckpoint(model: GPT, tokenizer: Tokenizer, extra: CheckpointExtras = {}): Promise<Uint8Array> {
  const { tensors, metadata } = await checkpointTensors(model, tokenizer, extra);
  return serializeSafetensors(tensors, metadata);
}

/** What encodeCheckpoint writes, not yet serialized: the tensors read back from the GPU (and the optimizer) and the checked metadata. */
async function checkpointTensors(model: GPT, tokenizer: Tokenizer, extra: CheckpointExtras = {}): Promise<Safetensors> {
  const { tensors, metadata } = pendingCheckpoint(model, tokenizer, extra);
  return { tensors: await readPendingTensors(tensors), metadata };
}

/**
 * encodeCheckpoint's bytes in pieces: the head, then each tensor's bytes, read back from the GPU
 * only when its piece is asked for (a browser makes a Blob of them, Node writes them to disk): one
 * tensor on the host at a time, never the whole file. The model and optimizer must not change
 * until the last piece. Bad metadata throws here, before any piece is asked for (and so before a
 * file is opened for them); a tensor that is not finite, when its piece is.
 */
export function checkpointPieces(model: GPT, tokenizer: Tokenizer, extra: CheckpointExtras = {}): AsyncGenerator<Uint8Array> {
  const { tensors, metadata } = pendingCheckpoint(model, tokenizer, extra);
  return streamSafetensors(tensors, metadata);
}

/** The checked metadata and the tensors to write, each read back (and refused if not finite) when its turn comes. */
function pendingCheckpoint(model: GPT, tokenizer: Tokenizer, extra: CheckpointExtras): { tensors: PendingTensor[]; metadata: Record<string, string> } {
  checkOptionKeys('encodeCheckpoint', extra, [...RUN_STATE_FIELDS, 'optimizer', 'moments']);
  const weightsAlone = '; for the weights alone: stateDictToSafetensors, or saveStateDict in Node';
  if (!(model instanceof GPT)) throw new TypeError(`encodeCheckpoint: argument 'model' must be a GPT, got ${describeValue(model)}${weightsAlone}`);
  if (typeof tokenizer?.toJSON !== 'function') throw new TypeError(`encodeCheckpoint: argument 'tokenizer' must be a tokenizer (the checkpoint holds it for sampling), got ${describeValue(tokenizer)}${weightsAlone}`);
  if (extra.optimizer !== undefined && !Array.isArray(extra.optimizer?.params)) throw new TypeError(`encodeCheckpoint: option 'optimizer' must be an AdamW, got ${describeValue(extra.optimizer)}`);
  assertWeightsReadable();
  model.checkAdapters('checkpoint not saved'); // what the config does not record, loading would refuse or miss
  const named = [...model.namedParameters()];
  const pending = pendingTensors([...named, ...model.namedBuffers()]);
  const shapes = new Map(pending.map((t) => [t.name, t.shape]));
  const tensors = pending.map((t) => (packsInt4(shapes.get(`${t.name}_scale`)) ? packedAsU8(t) : maskAsBool(t)));
  const moments = momentReaders(extra, named);
  for (const [name, p] of named) {
    const read = moments.get(name);
    if (!read) continue;
    for (const kind of ['m', 'v'] as const) tensors.push({ name: `optim.${kind}.${name}`, dtype: 'F32', shape: [...p.shape], read: read[kind] });
  }
  // the optimizer's own count, or a loaded checkpoint's saved again (with its moments)
  const optimizerSteps = extra.optimizer?.stepCount ?? extra.optimizerSteps;
  const meta: CheckpointMeta = {
    format: CHECKPOINT_FORMAT,
    model: model.config,
    tokenizer: tokenizer.toJSON(),
    ...(extra.train && { train: extra.train }),
    ...(extra.trainer && { trainer: extra.trainer }),
    ...(extra.val !== undefined && { val: extra.val }),
    ...(extra.bestVal !== undefined && { bestVal: extra.bestVal }),
    ...(extra.run !== undefined && { run: extra.run }),
    ...(extra.data !== undefined && { data: extra.data }),
    ...(extra.dataTokens && { dataTokens: extra.dataTokens }),
    ...(extra.distill && { distill: extra.distill }),
    ...(extra.prunedWeights && { prunedWeights: extra.prunedWeights }),
    ...(extra.alwaysSave !== undefined && { alwaysSave: extra.alwaysSave }),
    ...(optimizerSteps !== undefined && { optimizerSteps }),
    ...(extra.mergedAdapter !== undefined && { mergedAdapter: extra.mergedAdapter }),
  };
  // what this refuses to write, decodeCheckpoint would refuse to read
  const problem = metaProblem(meta as unknown as Record<string, unknown>);
  if (problem) throw new Error(`checkpoint not saved: ${problem}`);
  return { tensors: tensors.map(refusingNonFinite('checkpoint not saved')), metadata: checkpointMetadata(meta) };
}

/** A pending tensor whose values, when read, are refused where not finite (what no reader of ours takes), `refusal` leading the error. */
export const refusingNonFinite =
  (refusal: string) =>
  ({ read, ...t }: PendingTensor): PendingTensor => ({
    ...t,
    read: async () => {
      const data = await read();
      const nonFinite = nonFiniteProblem([[t.name, { data }]]);
      if (nonFinite) throw new Error(`${refusal}: ${nonFinite}`);
      return data;
    },
  });

type MomentReaders = Record<'m' | 'v', () => Promise<Float32Array>>;

/** How to read each named parameter's saved moments (those it has): from the optimizer or a loaded checkpoint's tensors on the GPU one at a time, or host copies. */
function momentReaders({ optimizer, moments }: CheckpointExtras, named: [string, Tensor][]): Map<string, MomentReaders> {
  const out = new Map<string, MomentReaders>();
  const index = new Map(optimizer?.params.map((p, i) => [p, i]));
  for (const [name, p] of named) {
    const i = index.get(p);
    const [m, v] = [moments?.m.get(name), moments?.v.get(name)];
    if (optimizer && i !== undefined) out.set(name, { m: () => optimizer.readMoment('m', i), v: () => optimizer.readMoment('v', i) });
    else if (!optimizer && m && v) out.set(name, { m: () => hostValues(m), v: () => hostValues(v) });
  }
  return out;
}

const hostValues = async (x: Moment): Promise<Float32Array> => ('size' in x ? ((await x.toArray()) as Float32Array) : x instanceof Float32Array ? x : Float32Array.from(x));
const momentSize = (x: Moment | undefined) => (x === undefined ? -1 : 'size' in x ? x.size : x.length);

/** A decoded (or imported) checkpoint as checkpoint bytes again, from the host copy of its tensors. */
export function checkpointBytes(ckpt: Checkpoint): Uint8Array {
  const { tensors, metadata } = checkpointSafetensors(ckpt);
  return serializeSafetensors(tensors, metadata);
}

/**
 * A weight as the file stores it: F32, an int8 weight I8, an int4 one (scales [rows, groups]) U8
 * [rows, cols / 2], its bytes two weights each (src/kernels/wgsl/int4.ts has the order).
 */
function storedWeight(w: CheckpointWeight, scale: CheckpointWeight | undefined): SafetensorsTensor {
  if (!(w.data instanceof Int8Array)) return { dtype: 'F32', shape: [...w.shape], data: w.data };
  return packsInt4(scale?.shape) ? { dtype: 'U8', shape: [...w.shape], data: bytesOf(w.data) } : { dtype: 'I8', shape: [...w.shape], data: w.data };
}

/** Whether a weight whose scales have `scaleShape` holds int4 values packed two a byte: its scales are [rows, groups] (int8's: [rows]). */
const packsInt4 = (scaleShape: readonly number[] | undefined): boolean => scaleShape?.length === 2;

/** The bytes of int8 values, as unsigned bytes (the same memory). */
const bytesOf = (data: Int8Array): Uint8Array => new Uint8Array(data.buffer, data.byteOffset, data.length);

/** A packed int4 weight (held as an int8 tensor of bytes) written as U8. */
const packedAsU8 = (t: PendingTensor): PendingTensor => ({ ...t, dtype: 'U8', read: async () => bytesOf((await t.read()) as Int8Array) });

/** What checkpointBytes writes, not yet serialized. */
export function checkpointSafetensors(ckpt: Checkpoint): Safetensors {
  const tensors: Record<string, SafetensorsTensor> = {};
  for (const [name, w] of ckpt.weights) tensors[name] = storedWeight(w, ckpt.weights.get(`${name}_scale`));
  storeMasksAsBool(tensors);
  for (const [kind, moments] of Object.entries(ckpt.optimizer ?? {})) {
    for (const [name, data] of moments) tensors[`optim.${kind}.${name}`] = { dtype: 'F32', shape: [...ckpt.weights.get(name)!.shape], data };
  }
  return { tensors, metadata: checkpointMetadata(ckpt.meta) };
}

/** A checkpoint file's safetensors metadata: its CheckpointMeta as JSON under CHECKPOINT_KEY. */
export const checkpointMetadata = (meta: CheckpointMeta): Record<string, string> => ({ [CHECKPOINT_KEY]: JSON.stringify(meta) });

/** Reads checkpoint bytes, checking every metadata field and refusing NaN/Inf tensors; `source` names it in errors. */
export function decodeCheckpoint(bytes: Uint8Array, source = 'checkpoint'): Checkpoint {
  checkBytes('decodeCheckpoint', bytes); // before the try, which would call them an unreadable file
  let parsed;
  try {
    parsed = parseSafetensors(bytes);
  } catch (e) {
    throw unreadableCheckpoint(source, e);
  }
  return decodeCheckpointTensors(parsed, source);
}

/**
 * Pruning masks (0/1, float32 on the GPU) stored a byte each as BOOL: a pruned 124M's masks take
 * 85 MB, not 340 (its weights take 497). Checkpoints from before, with float32 masks, still load.
 */
function storeMasksAsBool(tensors: Record<string, SafetensorsTensor>): Record<string, SafetensorsTensor> {
  for (const [name, t] of Object.entries(tensors)) {
    if (isFloatMask(name, t.dtype)) tensors[name] = { dtype: 'BOOL', shape: t.shape, data: Uint8Array.from(t.data) };
  }
  return tensors;
}

/** storeMasksAsBool of a tensor yet to be read. */
const maskAsBool = (t: PendingTensor): PendingTensor => (isFloatMask(t.name, t.dtype) ? { ...t, dtype: 'BOOL', read: async () => Uint8Array.from(await t.read()) } : t);

const isFloatMask = (name: string, dtype: SafetensorsDtype) => isMaskName(name) && dtype === 'F32';

/** A file that is no safetensors file at all (damaged, or another kind), as opposed to one whose contents are refused. */
export class UnreadableCheckpointError extends Error {}

/** The error for a checkpoint whose safetensors could not be read (`cause` says why). */
const unreadableCheckpoint = (source: string, cause: unknown) => new UnreadableCheckpointError(`${source}: not a readable safetensors file (${(cause as Error).message})`);

/**
 * The checkpoint in a safetensors file read a tensor at a time (a browser File's slices, a Node file
 * handle: never the whole file in one buffer), with every check decodeCheckpoint makes; its
 * metadata is checked first, so that a file that is no checkpoint of ours is refused before its
 * tensors are read.
 */
export const readCheckpoint = (file: ByteSource, source = 'checkpoint'): Promise<Checkpoint> => readCheckedCheckpoint(file, source, true);

/**
 * readCheckpoint's checks, each tensor dropped once checked: the metadata of a file readCheckpoint
 * reads, or its error, holding one tensor at a time (gpt serve checks a checkpoint so before serving it).
 */
export const checkCheckpoint = async (file: ByteSource, source = 'checkpoint'): Promise<CheckpointMeta> => (await readCheckedCheckpoint(file, source, false)).meta;

async function readCheckedCheckpoint(file: ByteSource, source: string, keep: boolean): Promise<Checkpoint> {
  const { entries, read, decoder } = await openCheckpoint(file, source, keep);
  for (const entry of entries) decoder.add(entry.name, await read(entry));
  return decoder.finish();
}

/**
 * A checkpoint file's header read and its metadata checked, as readCheckpoint begins: its tensors'
 * entries, `read` of one (a failure an UnreadableCheckpointError), and the decoder that checks each
 * as readCheckpoint does (keeping it if `keep`).
 */
export async function openCheckpoint(file: ByteSource, source: string, keep: boolean) {
  const unreadable = (e: unknown) => {
    throw unreadableCheckpoint(source, e);
  };
  const reader = await openSafetensors(file).catch(unreadable);
  const decoder = new CheckpointDecoder(decodeCheckpointMeta(reader.metadata, source), source, keep);
  return { entries: reader.entries, read: (entry: SafetensorsEntry) => reader.readTensor(entry).catch(unreadable), decoder };
}

/** decodeCheckpoint of a safetensors file already parsed whole, with every check decodeCheckpoint makes. */
function decodeCheckpointTensors(parsed: Safetensors, source = 'checkpoint'): Checkpoint {
  const decoder = new CheckpointDecoder(decodeCheckpointMeta(parsed.metadata, source), source, true);
  for (const [name, stored] of Object.entries(parsed.tensors)) decoder.add(name, stored);
  return decoder.finish();
}

/**
 * A checkpoint's tensors checked as they come, in file order, kept (or, not `keep`, only their
 * shapes); finish() gives the verdict with decodeCheckpoint's precedence: a non-finite tensor
 * anywhere first, then the first of another dtype than its kind's, then shapes that disagree.
 */
export class CheckpointDecoder {
  private nonFinite: string | null = null;
  private refused: unknown = null;
  private readonly weights = new Map<string, CheckpointWeight>();
  private readonly shapes = new Map<string, { shape: number[] }>();
  private readonly m = new Map<string, Float32Array>();
  private readonly v = new Map<string, Float32Array>();
  private readonly momentShapes = new Map<string, number[]>();

  constructor(
    readonly meta: CheckpointMeta,
    private readonly source: string,
    private readonly keep: boolean,
  ) {}

  /** Checks the next tensor: it as the checkpoint holds it (checkpointTensor's), or null once finish() will refuse the file (shapes are compared there). */
  add(name: string, stored: SafetensorsTensor): CheckpointWeight | null {
    this.nonFinite ??= nonFiniteProblem([[name, stored]]) ?? negativeScaleProblem(name, stored);
    if (this.refused) return null;
    let t: CheckpointWeight;
    try {
      t = checkpointTensor(name, stored, this.meta, this.source);
    } catch (e) {
      this.refused = e;
      return null;
    }
    if (isMoment(name)) this.momentShapes.set(name, t.shape);
    else this.shapes.set(name, { shape: t.shape });
    if (this.keep) {
      if (name.startsWith('optim.m.')) this.m.set(name.slice(8), t.data as Float32Array);
      else if (name.startsWith('optim.v.')) this.v.set(name.slice(8), t.data as Float32Array);
      else this.weights.set(name, t);
    }
    return this.nonFinite ? null : t;
  }

  finish(): Checkpoint {
    const { meta, source, m, v } = this;
    if (this.nonFinite) throw new Error(`${source}: ${this.nonFinite}`);
    if (this.refused) throw this.refused;
    const disagreement = configWeightsProblem(meta.model, this.shapes, (k) => `metadata field model.${k}`, 'the file') ?? momentsProblem(this.shapes, this.momentShapes);
    if (disagreement) throw new Error(`${source}: ${disagreement}`);
    return { meta, weights: this.weights, ...(m.size && { optimizer: { m, v } }), source };
  }
}

/** One stored tensor as a checkpoint holds it (a BOOL mask as float32), refused where its dtype is not its kind's. */
function checkpointTensor(name: string, stored: SafetensorsTensor, meta: CheckpointMeta, source: string): CheckpointWeight {
  const t = isMaskName(name) && stored.dtype === 'BOOL' ? { ...stored, data: Float32Array.from(stored.data) } : stored;
  const moment = isMoment(name);
  // int8 weights belong to a quantized model, packed int4 ones (U8) to an int4 one (whose loading checks each name's dtype and shape)
  const packedInt4 = t.dtype === 'U8' && meta.model.quantization === 'int4';
  if (!(t.data instanceof Float32Array) && (moment || !((t.data instanceof Int8Array && meta.model.quantization) || packedInt4))) {
    throw new Error(`${source}: tensor '${name}' has dtype ${t.dtype}, expected a float type${moment ? '' : ' (I8 only in a quantized checkpoint, U8 in an int4 one)'}`);
  }
  return { shape: t.shape, data: packedInt4 ? new Int8Array(t.data.buffer, t.data.byteOffset, t.data.length) : (t.data as Float32Array | Int8Array) };
}

/** Whether a checkpoint's tensor is an AdamW moment (optim.m.<weight>, optim.v.<weight>). */
export const isMoment = (name: string) => name.startsWith('optim.m.') || name.startsWith('optim.v.');

/**
 * A checkpoint's metadata from its safetensors metadata, every field checked (decodeCheckpoint's
 * first step: Node makes it before reading any tensor, so that a file that is no checkpoint of
 * ours, such as a Hugging Face model.safetensors, is refused at once).
 */
export function decodeCheckpointMeta(metadata: Record<string, string>, source = 'checkpoint'): CheckpointMeta {
  const raw = metadata[CHECKPOINT_KEY];
  if (!raw) {
    // PyTorch's safetensors (format 'pt'), such as a Hugging Face model's model.safetensors, need the model's config.json
    const hf = metadata.format === 'pt' ? "; PyTorch weights, such as a Hugging Face GPT-2 model's model.safetensors, load together with the model's config.json and tokenizer.json" : '';
    throw new Error(`${source}: safetensors file without webgpu-gpt metadata (config and tokenizer)${hf}`);
  }
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(raw) as CheckpointMeta;
  } catch (e) {
    throw new Error(`${source}: corrupt metadata (${(e as Error).message})`);
  }
  if (!isRecord(meta)) throw new Error(`${source}: metadata must be a JSON object, got ${show(meta)}`);
  if (meta.format !== CHECKPOINT_FORMAT) throw new Error(`${source}: unknown checkpoint format ${JSON.stringify(meta.format)}, expected ${CHECKPOINT_FORMAT}`);
  // a checkpoint from before a setting existed trains on with its default; before dtype, every run was float32
  if (isRecord(meta.train)) meta.train = { ...TRAIN_DEFAULTS, dtype: 'float32', ...(meta.train as Record<string, unknown>) };
  const problem = metaProblem(meta as unknown as Record<string, unknown>);
  if (problem) throw new Error(`${source}: ${problem}`);
  return meta;
}

/** What is wrong with a checkpoint's metadata, or null; a field is named by its path (train.seed). */
function metaProblem(meta: Record<string, unknown>): string | null {
  const field = (path: string) => `metadata field ${path}`;
  const object = (path: string, x: unknown) => (isRecord(x) ? null : `${field(path)} must be an object, got ${show(x)}`);
  const model = meta.model as Record<string, unknown>;
  const modelProblem =
    object('model', model) ??
    Object.entries(MODEL_RANGES)
      .map(([k, r]) => rangeProblem(field(`model.${k}`), model[k], r))
      .find((p) => p) ??
    settingProblem(field('model.bias'), model.bias, false) ??
    (model.activation === undefined || ACTIVATIONS.includes(model.activation as Activation)
      ? null
      : `${field('model.activation')} must be one of ${ACTIVATIONS.map((a) => `'${a}'`).join(', ')}, got ${show(model.activation)}`) ??
    (model.quantization === undefined || QUANTIZATIONS.includes(model.quantization as Quantization)
      ? null
      : `${field('model.quantization')} must be one of ${QUANTIZATIONS.map((a) => `'${a}'`).join(', ')} or absent, got ${show(model.quantization)}`) ??
    headsProblem(model as unknown as GPTConfig, (k) => field(`model.${k}`)) ??
    shareLayersProblem(model as unknown as GPTConfig, (k) => field(`model.${k}`)) ??
    perLayerProblem(model, (k) => field(`model.${k}`)) ??
    groupSizeProblem(model as unknown as GPTConfig, (k) => field(`model.${k}`)) ??
    modelConfigProblem(model as unknown as GPTConfig, field('model'));
  if (modelProblem) return modelProblem;
  let tokenizer: Tokenizer;
  try {
    tokenizer = tokenizerFromJSON(meta.tokenizer);
  } catch (e) {
    return `${field('tokenizer')}: ${(e as Error).message}`;
  }
  if (tokenizer.vocabSize !== model.vocabSize) return `the tokenizer has ${tokenizer.vocabSize} tokens, ${field('model.vocabSize')} says ${model.vocabSize}`;
  if (model.quantization !== undefined && (meta.train !== undefined || meta.trainer !== undefined)) {
    return `a quantized (${show(model.quantization)}) checkpoint holds no training state; metadata fields train and trainer must be absent`;
  }
  if (meta.train !== undefined) {
    const problem = object('train', meta.train) ?? trainConfigProblem(meta.train as Record<string, unknown>, (k) => field(`train.${k}`));
    if (problem) return problem;
  }
  if (meta.trainer !== undefined) {
    const problem = trainerStateProblem(meta.trainer, (path) => field(`trainer${path}`));
    if (problem) return problem;
  }
  for (const key of ['val', 'bestVal'] as const) {
    const problem = meta[key] === undefined ? null : rangeProblem(field(key), meta[key], {});
    if (problem) return problem;
  }
  for (const key of ['run', 'data'] as const) {
    const problem = meta[key] === undefined ? null : settingProblem(field(key), meta[key], '');
    if (problem) return problem;
  }
  if (meta.dataTokens !== undefined) {
    const d = meta.dataTokens as Record<string, unknown>;
    const problem = object('dataTokens', d) ?? (['train', 'val'] as const).map((k) => rangeProblem(field(`dataTokens.${k}`), d[k], NON_NEGATIVE_INT)).find((p) => p);
    if (problem) return problem;
  }
  if (meta.prunedWeights !== undefined) {
    const p = meta.prunedWeights as Record<string, unknown>;
    const problem =
      object('prunedWeights', p) ??
      rangeProblem(field('prunedWeights.total'), p.total, POSITIVE_INT) ??
      rangeProblem(field('prunedWeights.pruned'), p.pruned, { ...NON_NEGATIVE_INT, max: p.total as number });
    if (problem) return problem;
  }
  if (meta.alwaysSave !== undefined) {
    const problem = settingProblem(field('alwaysSave'), meta.alwaysSave, false);
    if (problem) return problem;
  }
  if (meta.optimizerSteps !== undefined) {
    const problem = rangeProblem(field('optimizerSteps'), meta.optimizerSteps, NON_NEGATIVE_INT);
    if (problem) return problem;
  }
  if (meta.mergedAdapter !== undefined && !(typeof meta.mergedAdapter === 'string' && meta.mergedAdapter)) return `${field('mergedAdapter')} must be an adapter's path or hub id, got ${show(meta.mergedAdapter)}`;
  if (meta.distill !== undefined) {
    const d = meta.distill as Record<string, unknown>;
    const problem =
      object('distill', d) ??
      (typeof d.teacher === 'string' && d.teacher ? null : `${field('distill.teacher')} must be a checkpoint path, got ${show(d.teacher)}`) ??
      (d.teacherWeights === undefined || (typeof d.teacherWeights === 'string' && /^[0-9a-f]{8}$/.test(d.teacherWeights)) ? null : `${field('distill.teacherWeights')} must be 8 hex digits (a CRC-32), got ${show(d.teacherWeights)}`) ??
      // a student distilled above today's largest temperature still loads; resuming it there is refused by the Trainer
      distillSettingsProblem(d, (k) => field(`distill.${k}`), { ...DISTILL_RANGES, temperature: POSITIVE });
    if (problem) return problem;
  }
  return null;
}

/**
 * What a model of `config` could not be (validateConfig's verdict: its LoRA settings, their
 * combinations), `what` leading it; or null. Blocks alike are checked as one group, not listed
 * nLayer times: a damaged nLayer of 1e9 is for the comparison with the tensors to refuse.
 */
function modelConfigProblem(config: GPTConfig, what: string): string | null {
  try {
    validateConfig(firstBlockGroup(config));
    return null;
  } catch (e) {
    return `${what}: ${(e as Error).message.replace(/^GPT config: /, '')}`;
  }
}

/**
 * What in `config` disagrees with the shapes of the stored `weights` (by our names), or null; `name`
 * spells a config key as the file does and `stored` names the weights. Checked before a model is
 * built: a damaged or hand-edited nLayer of 1e9 would otherwise be allocated (for minutes, or until
 * memory runs out) before loading found its weights missing. Position embeddings may hold more rows
 * than the context (they are cut, as when fine-tuning at a shorter one), never fewer.
 */
export function configWeightsProblem(
  config: GPTConfig,
  weights: ReadonlyMap<string, { shape: readonly number[] }>,
  name: (key: keyof GPTConfig) => string,
  stored: string,
): string | null {
  const { vocabSize, blockSize, nLayer, nEmbd } = config;
  const K = config.shareLayers ?? 1;
  const blocks = new Set([...weights.keys()].flatMap((n) => /^h\.(\d+)\./.exec(n)?.[1] ?? [])).size;
  if (blocks !== nLayer / K) {
    const shared = K > 1 ? ` (${nLayer / K} blocks of ${K} layers, ${name('shareLayers')} ${K})` : '';
    return `${name('nLayer')} ${nLayer}${shared} disagrees with ${stored}, which holds ${blocks} block${blocks === 1 ? '' : 's'}`;
  }
  const problem = biasProblem(config.bias, [...weights.keys()], name('bias'), stored);
  if (problem) return problem;
  const shapeProblem = (tensor: string, rows: keyof GPTConfig, fits: (stored: number) => boolean) => {
    const shape = weights.get(tensor)?.shape;
    if (!shape) return `${stored} has no ${tensor}`;
    if (shape.length === 2 && fits(shape[0]!) && shape[1] === nEmbd) return null;
    return `${stored} holds ${tensor} of shape [${shape.join(', ')}], which disagrees with ${name(rows)} ${config[rows]} and ${name('nEmbd')} ${nEmbd}`;
  };
  return shapeProblem('wte.weight', 'vocabSize', (rows) => rows === vocabSize) ?? shapeProblem('wpe.weight', 'blockSize', (rows) => rows >= blockSize);
}

/** A config's bias setting that the stored tensors (`names`) disagree with, saying what it asks for and what they hold; or null. */
function biasProblem(bias: boolean, names: string[], setting: string, stored: string): string | null {
  const biases = names.filter((n) => n.endsWith('.bias'));
  if (bias && !biases.length) return `${setting} true asks for a bias beside each LayerNorm and Linear weight, but ${stored} holds no bias tensor (no ln_f.bias)`;
  if (!bias && biases.length) return `${setting} false asks for no biases, but ${stored} holds ${biases.length} bias tensor${biases.length === 1 ? '' : 's'} (${biases.slice(0, 2).join(', ')}${biases.length > 2 ? ', ...' : ''})`;
  return null;
}

/**
 * What is wrong with a checkpoint's moments (their shapes by tensor name, optim.m.<weight>), or
 * null: each has its weight's shape, and a weight's m and v come together. Otherwise such a file
 * loaded, then failed to save again, was saved without the moments, or resumed with fresh ones.
 */
export function momentsProblem(weights: ReadonlyMap<string, { shape: readonly number[] }>, moments: ReadonlyMap<string, readonly number[]>): string | null {
  for (const [name, shape] of moments) {
    const [kind, weight] = [name[6], name.slice(8)];
    const want = weights.get(weight)?.shape;
    // names shown as JSON: one from a damaged header may hold a newline
    if (!want) return `tensor ${show(name)} is the moment of no weight in the file`;
    if (shape.length !== want.length || shape.some((d, i) => d !== want[i])) return `tensor ${show(name)} has shape [${shape.join(', ')}], its weight ${show(weight)} [${want.join(', ')}]`;
    const pair = `optim.${kind === 'm' ? 'v' : 'm'}.${weight}`;
    if (!moments.has(pair)) return `tensor ${show(name)} has no ${show(pair)} beside it`;
  }
  return null;
}

/** The first tensor holding NaN or ±Inf: such weights come from a diverged run and sample garbage. */
export function nonFiniteProblem(tensors: [string, { data: ArrayLike<number> }][]): string | null {
  for (const [name, { data }] of tensors) {
    const i = firstNonFinite(data);
    if (i >= 0) return `tensor '${name}' holds ${data[i]} (at index ${i}); a checkpoint must hold finite values only`;
  }
  return null;
}

/**
 * The index of the first NaN or ±Inf in `data`, or -1. float32 goes by its bits (an exponent of
 * all ones): a loop over Number.isFinite of each element took 3x as long, seconds of a large load.
 */
function firstNonFinite(data: ArrayLike<number>): number {
  if (data instanceof Float32Array) {
    const bits = new Int32Array(data.buffer, data.byteOffset, data.length);
    for (let i = 0; i < bits.length; i++) if ((bits[i]! & 0x7f800000) === 0x7f800000) return i;
    return -1;
  }
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return i;
  return -1;
}

/**
 * A quantization scale below zero, which no quantizer writes (int8's is its row's largest |weight|
 * / 127, int4's, [rows, groups], its group's / 7) and which would flip its weights' signs unseen;
 * or null. Zero is a row or group of zeros.
 */
function negativeScaleProblem(name: string, { shape, data }: { shape: readonly number[]; data: ArrayLike<number> }): string | null {
  if (!name.endsWith('.weight_scale')) return null;
  const i = Array.prototype.findIndex.call(data, (x: number) => x < 0);
  const what = shape.length === 2 ? "an int4 scale (its group's largest |weight| / 7)" : "an int8 scale (its row's largest |weight| / 127)";
  return i < 0 ? null : `tensor '${name}' holds ${data[i]} (at index ${i}); ${what} is never negative`;
}

/**
 * A model with the checkpoint's config, weights (shape-checked by loadStateDict) and pruning masks.
 * `blockSize` below the checkpoint's cuts the position embeddings to their first rows, for
 * fine-tuning at a shorter context (nanoGPT's crop_block_size: GPT-2's 1024 positions down to 256).
 * `seed` seeds the model's generator (its dropout masks), as it would a new model's.
 */
export function modelFromCheckpoint(ckpt: Checkpoint, opts: ModelOptions = {}): { model: GPT; tokenizer: Tokenizer } {
  if (ckpt === null || typeof ckpt !== 'object' || !(ckpt.weights instanceof Map) || ckpt.meta === undefined) {
    throw new TypeError(`modelFromCheckpoint: argument 'ckpt' must be a checkpoint { meta, weights } (decodeCheckpoint's or loadCheckpoint's), got ${describeValue(ckpt)}`);
  }
  const model = modelFor(ckpt.meta, opts);
  const blockSize = model.config.blockSize;
  const masks: Checkpoint['weights'] = new Map();
  const weights: Checkpoint['weights'] = new Map();
  for (const [name, w] of ckpt.weights) (isMaskName(name) ? masks : weights).set(name, name.startsWith('wpe.') ? firstRows(w, blockSize) : w);
  try {
    model.loadStateDict(weights);
    loadMasks(model, masks);
  } catch (e) {
    model.dispose();
    throw ckpt.source === undefined ? e : new Error(`${ckpt.source}: ${(e as Error).message}`);
  }
  return { model, tokenizer: tokenizerFromJSON(ckpt.meta.tokenizer) };
}

/** How a checkpoint's model is made (modelFromCheckpoint's options). */
export interface ModelOptions {
  dropout?: number;
  blockSize?: number;
  seed?: number;
}

/** A new model (its weights not loaded yet) for a checkpoint's metadata, as `opts` ask (modelFromCheckpoint's checks). */
export function modelFor(meta: CheckpointMeta, opts: ModelOptions): GPT {
  checkOptionKeys('modelFromCheckpoint', opts, ['dropout', 'blockSize', 'seed']);
  const trained = meta.model.blockSize;
  const blockSize = opts.blockSize ?? trained;
  if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > trained) {
    throw new RangeError(`modelFromCheckpoint: blockSize must be an integer in [1, ${trained}] (the checkpoint's context: position embeddings can be cut, not grown), got ${blockSize}`);
  }
  const config = { ...meta.model, blockSize, ...(opts.dropout !== undefined && { dropout: opts.dropout }) };
  return new GPT(config, { seed: opts.seed });
}

/** A weight's first `rows` rows (all of it when it has no more). */
export function firstRows(w: CheckpointWeight, rows: number): CheckpointWeight {
  const [all, ...rest] = w.shape;
  if (all! <= rows) return w;
  return { shape: [rows, ...rest], data: w.data.subarray(0, (w.data.length / all!) * rows) };
}

/** AdamW moments by parameter name: host copies (a decoded checkpoint's), or float32 tensors (one uploaded as it was read). */
export interface MomentMaps {
  m: ReadonlyMap<string, Moment>;
  v: ReadonlyMap<string, Moment>;
}

/**
 * Puts saved AdamW moments back (for resuming), and the steps it had taken where the checkpoint
 * records them (a Trainer's restore() sets its own); tensors among them are copied on the GPU and stay the caller's.
 */
export function restoreOptimizer(ckpt: { optimizer?: MomentMaps; meta?: Pick<CheckpointMeta, 'optimizerSteps'> }, model: GPT, optimizer: AdamW): void {
  const { m, v } = checkpointMoments(ckpt, model, optimizer.params);
  optimizer.loadMoments(m, v);
  if (ckpt.meta?.optimizerSteps !== undefined) optimizer.stepCount = ckpt.meta.optimizerSteps;
}

/** A checkpoint's moments in the order of `params` (a model's trainable parameters, an optimizer's), for AdamW (loadMoments, or its constructor). */
export function checkpointMoments(ckpt: { optimizer?: MomentMaps }, model: GPT, params: readonly Tensor[] = model.trainableParameters()): { m: Moment[]; v: Moment[] } {
  if (!ckpt.optimizer) throw new Error('resume: the checkpoint has no optimizer state (it was saved for inference only)');
  const names = new Map([...model.namedParameters()].map(([name, p]) => [p, name]));
  const moments = params.map((p) => {
    const name = names.get(p)!;
    const m = ckpt.optimizer!.m.get(name);
    const v = ckpt.optimizer!.v.get(name);
    if (momentSize(m) !== p.size || momentSize(v) !== p.size) throw new Error(`resume: optimizer state for '${name}' is missing or has the wrong size`);
    return { m: m!, v: v! };
  });
  return { m: moments.map((x) => x.m), v: moments.map((x) => x.v) };
}
