// What the demo page holds: one model with its tokenizer, and (once training starts) a Trainer
// for it. No DOM here: the page (main.ts) and its test hook both drive this object. Everything it
// imports is platform-free, so the same code runs in Node and in the browser bundle.
import { noGrad } from '../autograd/mode.js';
import { checkpointMoments, checkpointPieces, runStateOf, UnreadableCheckpointError, type Checkpoint } from '../gpt/checkpoint.js';
import { disposeMoments, disposeUploaded, readCheckpointModel, type MomentTensors, type UploadedCheckpoint } from '../gpt/checkpoint-upload.js';
import { generate, type GenerateOptions } from '../gpt/generate.js';
import { hfModelConfig, hfVocabNote, type HFModelSources } from '../gpt/hf/index.js';
import { readHFModel } from '../gpt/hf/upload.js';
import { blockLinearShapes, deviceRoom, modelSizeProblem, type GPT, type GPTConfig } from '../gpt/model.js';
import { loraRankProblem, sameLoRA } from '../gpt/lora.js';
import { readNanoGptModel, type NanoGptSources } from './picked-nanogpt.js';
import { CharTokenizer, describeLeftOut, encodeKnown, encodePrompt, TextStream, type Tokenizer } from '../gpt/tokenizer/index.js';
import { loraOf, modelConfig, resolveTrainDtype, stepPlan, TRAIN_DEFAULTS, Trainer, trainConfigProblem, TrainingDivergedError, type TrainConfig } from '../gpt/trainer.js';
import { checkPlanFits, describePlan } from '../gpt/memory-plan.js';
import { device } from '../device/device.js';
import type { ByteSource } from '../io/safetensors-source.js';
import { tensor } from '../ops/index.js';
import { learningRate } from '../optim/schedule.js';
import { scope } from '../tensor/scope.js';
import { enterEval, leaveEval } from '../nn/eval-mode.js';

export type ModelShape = Pick<GPTConfig, 'nLayer' | 'nHead' | 'nEmbd' | 'blockSize'>;
/** Training settings the page may change between runs (the model's shape is fixed). */
export type TrainSettings = Partial<Omit<TrainConfig, keyof ModelShape | 'dropout' | 'bias'>>;

/**
 * Settings a Trainer reads only when it is made (its AdamW's, its dtype, its LoRA adapters): a
 * change takes a new trainer, continuing the run (other adapters start a new run: see startOver).
 */
const FIXED_AT_START = ['beta1', 'beta2', 'weightDecay', 'dtype', 'loraRank', 'loraAlpha', 'loraDropout', 'loraTargets', 'loraBias'] as const;

export interface ModelSummary {
  source: string;
  config: GPTConfig;
  params: number;
  tokenizer: string;
  vocabSize: number;
  step: number;
  /** Whether the model came from a file (a checkpoint, a Hugging Face model), not New model: the page offers to fine-tune it with LoRA. */
  loaded: boolean;
  /**
   * A loaded checkpoint's run, until the page trains it: the learning rate its schedule reached at
   * its step (none where that is 0: a run decayed to minLr 0), and its batch size, to go on as it would have.
   */
  run?: { learningRate?: number; batchSize: number };
  /** What the load changed of the file's model, to show with it (a padded vocabulary cut). */
  note?: string;
}

/**
 * Asked before the model is replaced where that loses training steps not saved (`step`: the step
 * it reached), once what is to replace it has passed every check made before it is read or made;
 * false keeps it. The page's asks the user (window.confirm).
 */
export type ConfirmReplace = (step: number) => boolean;

/** A replacement the user declined (ConfirmReplace's false): the model and its run stay; not an error to show. */
export class ReplaceDeclined extends Error {}

export class Session {
  model: GPT | null = null;
  tokenizer: Tokenizer | null = null;
  source = '';
  trainer: Trainer | null = null;
  /** Note about the last training text (e.g. characters the tokenizer does not know). */
  textNote = '';
  /** Note about the last prompt (characters the tokenizer does not know, left out). */
  promptNote = '';
  /** The last prompt as the model continues it (its ids decoded): without what was left out, '\n' for an empty one. */
  promptText = '';
  private trainText: string | null = null;
  /** Why the model cannot be used any more (its training diverged), or ''. */
  private broken = '';
  /** Why the model's weights are no longer usable (its training diverged: NaN or Inf in them, and the session keeps no earlier copy), or '': the page offers a new model in its place. */
  get diverged(): string {
    return this.broken;
  }
  /** The loaded checkpoint's run and trainer state, applied when training starts. */
  private loaded: Checkpoint | null = null;
  /** The loaded checkpoint's optimizer moments, on the GPU (the session's to free), until training starts with them. */
  private loadedMoments: MomentTensors | undefined;
  /** Saves whose pieces are still being taken: each piece is read from the model then, so nothing may change it meanwhile. */
  private saving = 0;
  /** The step of the model's last save taken whole, or null (none since it was made or loaded: its own step counts as kept). */
  private savedStep: number | null = null;

  /** `confirmReplace`: asked before training steps not saved are lost to a new model or a load (by default they are). */
  constructor(private readonly confirmReplace: ConfirmReplace = () => true) {}

  /**
   * Replaces the model with the one in a checkpoint file, read a tensor at a time (never in one
   * buffer), each weight uploaded into a new model as it is read: all of it read and checked before
   * the model is replaced, so a damaged file leaves it (and the new model is freed). Aborting
   * `signal` cancels the load (cancelled): the model stays.
   */
  async load(file: ByteSource, source: string, signal?: AbortSignal): Promise<ModelSummary> {
    this.assertNotSaving('load');
    this.assertReplaceConfirmed(); // nothing to check before its bytes are read
    let loaded: UploadedCheckpoint;
    try {
      loaded = await cancelled(signal, () => readCheckpointModel(loadReads(signal)(file), source));
    } catch (e) {
      if (!(e instanceof UnreadableCheckpointError)) throw e;
      throw new Error(`${e.message}: open a checkpoint saved by this page, or a gpt train run's model-*.safetensors`);
    }
    return this.adopt(loaded, source, 'load');
  }

  /**
   * Replaces the model with a Hugging Face GPT-2 model's: config.json's text (checked before the
   * replacement is confirmed), model.safetensors (or its shards) read a tensor at a time (each
   * weight uploaded into a new model as it is read), tokenizer.json's text; the summary's note says
   * where a vocabulary padded past the tokenizer's was cut (hfVocabNote). `signal` as load's.
   */
  async loadHF(files: HFModelSources, source: string, signal?: AbortSignal): Promise<ModelSummary> {
    this.assertNotSaving('loadHF');
    const config = hfModelConfig(files.config, source);
    this.assertReplaceConfirmed();
    const reads = loadReads(signal);
    const weights = files.weights.map(({ file, source: bytes }) => ({ file, source: reads(bytes) }));
    const uploaded = await cancelled(signal, () => readHFModel({ ...files, weights }, source));
    const note = hfVocabNote(config, uploaded.ckpt.meta.model);
    return { ...this.adopt(uploaded, source, 'loadHF'), ...(note && { note }) };
  }

  /**
   * Replaces the model with nanoGPT's checkpoint (a ckpt.pt read a tensor at a time) and the
   * tokenizer of the files picked with it (readNanoGptModel's); the summary's note says where its
   * padded vocabulary was cut. `signal` as load's.
   */
  async loadNanoGpt(files: NanoGptSources, source: string, signal?: AbortSignal): Promise<ModelSummary> {
    this.assertNotSaving('loadNanoGpt');
    this.assertReplaceConfirmed(); // its config is in its pickle, read with its weights
    const { note, ...uploaded } = await cancelled(signal, () => readNanoGptModel({ ...files, checkpoint: loadReads(signal)(files.checkpoint) }, source));
    return { ...this.adopt(uploaded, source, 'loadNanoGpt'), ...(note && { note }) };
  }

  /** A fresh model with a character tokenizer of `text`, and a trainer on that text; every check passed before the replacement is confirmed. */
  newModel(text: string, shape: ModelShape, settings: TrainSettings = {}): ModelSummary {
    this.assertNotSaving('newModel');
    if (!text) throw new Error('there is no text to train on: paste a text or open a text file');
    const tokenizer = CharTokenizer.train(text);
    const given: TrainConfig = { ...TRAIN_DEFAULTS, ...shape, dropout: 0, bias: false, ...settings };
    const cfg = checkedConfig('newModel', modelConfig(given, tokenizer.vocabSize), given);
    // encodeKnown's Int32Array, not encode's number[]: a text file of more than ~134M characters (the page reads up to 2^29) is past an array's length
    const data = splitTokens(encodeKnown(tokenizer, text).ids, tokenizer.vocabSize, shape.blockSize, false);
    this.assertReplaceConfirmed();
    const trainer = new Trainer(cfg, data);
    this.replace(trainer.model, tokenizer, 'new model');
    this.trainer = trainer;
    this.trainText = text;
    this.textNote = '';
    return this.summary();
  }

  summary(): ModelSummary {
    const { model, tokenizer } = this.need();
    const step = this.trainer?.step ?? this.loaded?.meta.trainer?.step ?? 0;
    const run = this.trainer ? undefined : this.loaded?.meta.train;
    const lr = run && learningRate(step, { lr: run.learningRate, minLr: run.minLr, warmupIters: run.warmupIters, lrDecayIters: run.lrDecayIters });
    return {
      source: this.source,
      config: { ...model.config },
      params: model.numParams(),
      tokenizer: tokenizer.kind,
      vocabSize: tokenizer.vocabSize,
      step,
      loaded: this.loaded !== null,
      ...(run && { run: { ...(lr && { learningRate: lr }), batchSize: run.batchSize } }),
    };
  }

  /**
   * The trainer for the current model on `text`, created on first use (restoring the loaded
   * checkpoint's optimizer moments and step, when it has them) or when the text or a setting in
   * FIXED_AT_START changes (carrying the optimizer state over). `settings` apply to this and later
   * steps. LoRA settings other than the model's adapters (none, or those it was loaded or trained
   * with) start a new run at step 0 (startOver).
   */
  trainerFor(text: string, settings: TrainSettings = {}): Trainer {
    this.assertNotSaving('trainerFor');
    const { model, tokenizer } = this.usable();
    const { blockSize, nLayer, nHead, nEmbd, dropout, bias, shareLayers = 1 } = model.config;
    const shape = { blockSize, nLayer, nHead, nEmbd, dropout, bias, shareLayers }; // fixed by the model
    if (this.trainer && text === this.trainText) {
      const cfg = checkedConfig('trainerFor', model.config, { ...this.trainer.cfg, ...settings, ...shape });
      if (FIXED_AT_START.every((key) => cfg[key] === this.trainer!.cfg[key])) {
        Object.assign(this.trainer.cfg, cfg);
        return this.trainer;
      }
    }
    const known = encodeKnown(tokenizer, text);
    this.textNote = describeLeftOut(known);
    // the page trains in its adapter's own dtype (auto) unless told otherwise, whatever the checkpoint's run used
    const cfg = checkedConfig('trainerFor', model.config, { ...TRAIN_DEFAULTS, ...this.loaded?.meta.train, dtype: 'auto', ...this.trainer?.cfg, ...settings, ...shape });
    let data: ReturnType<typeof splitTokens>;
    try {
      data = splitTokens(known.ids, tokenizer.vocabSize, blockSize, true);
    } catch (e) {
      // too few tokens from a long text: its characters are not the model's
      throw known.dropped ? new Error(`${(e as Error).message} (${this.textNote})`) : e;
    }
    // refused before startOver, which lets the run go: a refusal after it cost the run its steps and moments
    const adapters = adaptersProblem(model, cfg);
    if (adapters) throw new Error(`Session.trainerFor: ${adapters}`);
    if (!sameLoRA(model.config.lora, loraOf(cfg))) this.startOver(model);
    // the first trainer of a loaded checkpoint adopts its moments (each freed once copied: never twice on the GPU)
    const moments = this.loadedMoments && checkpointMoments({ optimizer: this.loadedMoments }, model);
    let trainer: Trainer;
    try {
      trainer = new Trainer(cfg, data, model, undefined, { moments });
    } catch (e) {
      if (this.dropSpentMoments()) throw new Error(`${(e as Error).message}; the checkpoint's optimizer moments were freed as they were copied, so training goes on with fresh ones: load the checkpoint again to resume with its own`);
      throw e;
    }
    if (moments) this.loadedMoments = undefined; // the trainer's now, and save() takes them from it
    const old = this.trainer;
    try {
      if (old) trainer.continueFrom(old); // refused while old's step is in flight
      else if (this.loaded?.meta.trainer) trainer.restore(this.loaded.meta.trainer);
      // a hand-written loop's checkpoint (restoreOptimizer's): no trainer state, AdamW's count alone, so its bias correction goes on
      else if (moments && this.loaded?.meta.optimizerSteps !== undefined) trainer.countOptimizerStepsBefore(this.loaded.meta.optimizerSteps);
    } catch (e) {
      trainer.dispose(); // its optimizer state; the model stays the session's
      throw e;
    }
    old?.dispose();
    this.trainer = trainer;
    this.trainText = text;
    return trainer;
  }

  /**
   * Lets the model's run go for a new one on its weights, from step 0 with fresh optimizer state, as
   * `gpt train --init-from` fine-tunes a checkpoint: LoRA asked for where the run trained every
   * weight (or other adapters), whose moments do not apply. The model's adapters, if any, are merged
   * into its weights (W += (alpha/r)·B·A: the same model, plain again). The loaded checkpoint's run
   * settings stay as defaults; work not saved before stays unsaved until a save.
   */
  private startOver(model: GPT): void {
    const unsaved = this.hasUnsavedWork();
    this.trainer?.dispose();
    this.trainer = null;
    disposeMoments(this.loadedMoments);
    this.loadedMoments = undefined;
    if (this.loaded) this.loaded = { ...this.loaded, meta: { ...this.loaded.meta, trainer: undefined } };
    if (model.config.lora) model.mergeLoRA();
    this.savedStep = unsaved ? -1 : null; // -1: no step, so unsaved until saved
  }

  /**
   * Whether a trainer refused after adopting some of the loaded moments (AdamW frees each shard's
   * once copied, and leaves the rest): then the rest are freed too and the session holds none, not
   * a set that training or a save would read a freed tensor of.
   */
  private dropSpentMoments(): boolean {
    const moments = this.loadedMoments;
    if (!moments || ![...moments.m.values(), ...moments.v.values()].some((t) => t.isDisposed)) return false;
    disposeMoments(moments);
    this.loadedMoments = undefined;
    return true;
  }

  /** Logits [V] for the token after `prompt` (its last blockSize tokens), dropout off. */
  async logits(prompt: string): Promise<Float32Array> {
    const { model } = this.usable();
    const ids = this.encodePrompt(prompt).slice(-model.config.blockSize);
    enterEval(model); // shared with a generation in progress
    try {
      return await noGrad(() =>
        scope(async () => {
          const out = model.forward(tensor(Int32Array.from(ids), [1, ids.length]), { lastOnly: true }).logits; // [1, 1, V]
          return (await out.toArray()) as Float32Array;
        }),
      );
    } finally {
      leaveEval(model);
    }
  }

  /**
   * One optimizer step of `trainer` (trainerFor's), its loss. A run that diverges has put NaN or
   * Inf into the weights: the model is refused from then on, until a new one or a load replaces it.
   */
  async trainStep(trainer: Trainer): Promise<number> {
    this.assertNotSaving('trainStep');
    try {
      return (await trainer.trainStep()).loss;
    } catch (e) {
      if (!(e instanceof TrainingDivergedError)) throw e;
      this.broken = `training diverged at step ${e.step} (the loss or the gradient norm is not finite), so the model's weights are no longer usable: start a new model (with a lower learning rate) or load a checkpoint`;
      throw new Error(this.broken);
    }
  }

  /** Streams the continuation of `prompt`: new text (complete characters only) and tokens so far. */
  async *generate(prompt: string, opts: GenerateOptions): AsyncGenerator<{ text: string; tokens: number }> {
    const { model, tokenizer } = this.usable();
    const stream = new TextStream(tokenizer);
    let tokens = 0;
    for await (const id of generate(model, this.encodePrompt(prompt), opts)) yield { text: stream.push(id), tokens: ++tokens };
    const rest = stream.flush();
    if (rest) yield { text: rest, tokens };
  }

  /**
   * The checkpoint as one safetensors file's bytes in pieces (checkpointPieces: each tensor read
   * back from the GPU when its piece is asked for, never the whole file at once): with the optimizer
   * state when the page trained it; a model loaded and not trained since keeps its checkpoint's run
   * state (step, optimizer moments). Until the last piece is taken (or the save is ended), training
   * and replacing the model are refused: the file would mix weights from before and after a step.
   */
  async *save(): AsyncGenerator<Uint8Array> {
    const { model, tokenizer } = this.usable();
    const t = this.trainer;
    this.saving++;
    try {
      if (t) {
        const step = t.step;
        yield* checkpointPieces(model, tokenizer, { optimizer: t.optimizer, train: { ...t.cfg, dtype: t.dtype }, trainer: await t.state() });
        this.savedStep = step; // its last piece taken (a save given up halfway kept nothing)
        return;
      }
      yield* checkpointPieces(model, tokenizer, { ...(this.loaded && runStateOf(this.loaded.meta)), moments: this.loadedMoments });
    } finally {
      this.saving--;
    }
  }

  /**
   * Whether closing the page now would lose work: a save whose pieces are still being taken, or
   * training steps past the last save taken whole (or past the step the model was made or loaded
   * at). Not a model whose training diverged: it cannot be saved.
   */
  hasUnsavedWork(): boolean {
    if (this.saving) return true;
    if (!this.trainer || this.broken) return false;
    return this.trainer.step !== (this.savedStep ?? this.loaded?.meta.trainer?.step ?? 0);
  }

  /** Throws ReplaceDeclined where replacing the model loses training steps not saved and confirmReplace says to keep them. */
  private assertReplaceConfirmed(): void {
    if (this.hasUnsavedWork() && !this.confirmReplace(this.summary().step)) throw new ReplaceDeclined('the model on the page is kept, with its training steps not saved');
  }

  private assertNotSaving(op: string): void {
    if (this.saving) throw new Error(`Session.${op}: a checkpoint is being saved (its pieces are read from the model as they are taken); take its last piece first`);
  }

  /**
   * The prompt's ids, as `gpt sample` encodes --start: characters the tokenizer does not know are
   * left out (promptNote says which); an empty prompt starts from a newline.
   */
  private encodePrompt(prompt: string): number[] {
    const { tokenizer } = this.usable();
    const known = encodePrompt(tokenizer, prompt || '\n');
    this.promptNote = describeLeftOut(known);
    this.promptText = tokenizer.decode(known.ids);
    if (known.ids.length) return Array.from(known.ids);
    if (!prompt) throw new Error('the prompt is empty and this model\'s tokenizer has no newline to start from: type a prompt');
    throw new Error(`the prompt holds no character this model's tokenizer knows (${this.promptNote})`);
  }

  /** The model, unless a training run left its weights unusable. */
  private usable(): { model: GPT; tokenizer: Tokenizer } {
    if (this.broken) throw new Error(this.broken);
    return this.need();
  }

  private need(): { model: GPT; tokenizer: Tokenizer } {
    if (!this.model || !this.tokenizer) throw new Error('no model yet: load a checkpoint or train a new model');
    return { model: this.model, tokenizer: this.tokenizer };
  }

  /** Replaces the model with a loaded one; refused (and the loaded one freed) where a save began while it was read. */
  private adopt(uploaded: UploadedCheckpoint, source: string, op: string): ModelSummary {
    if (this.saving) disposeUploaded(uploaded);
    this.assertNotSaving(op);
    const { ckpt, model, tokenizer, moments } = uploaded;
    ckpt.weights.clear(); // on the GPU now
    this.replace(model, tokenizer, source);
    this.loaded = ckpt;
    this.loadedMoments = moments;
    return this.summary();
  }

  /** Frees everything the session holds on the GPU (its model, trainer and a loaded checkpoint's moments). */
  dispose(): void {
    this.trainer?.dispose();
    this.model?.dispose();
    disposeMoments(this.loadedMoments);
    [this.trainer, this.model, this.tokenizer, this.loaded, this.loadedMoments] = [null, null, null, null, undefined];
    device().emptyCache();
  }

  private replace(model: GPT, tokenizer: Tokenizer, source: string): void {
    if (this.trainer) this.trainer.dispose();
    disposeMoments(this.loadedMoments);
    this.loadedMoments = undefined;
    if (this.model && this.model !== model) this.model.dispose();
    // the old model's buffers (weights, gradients, moments, a step's activations) went to the
    // device's pool, which keeps them for reuse: a model of other sizes reuses few, and the tab held
    // a replaced GPT-2's 2 GB on the GPU for good
    device().emptyCache();
    this.model = model;
    this.tokenizer = tokenizer;
    this.source = source;
    this.trainer = null;
    this.trainText = null;
    this.loaded = null;
    this.broken = '';
    this.savedStep = null;
  }
}

/**
 * A load's model. Where it fails, the buffers of the model it made and freed are given back too
 * (the pool kept a refused file's worth); where `signal` was aborted meanwhile, even once all of it
 * was read, the load fails with its reason (whatever a reader made of it) and frees what it made.
 */
async function cancelled<T extends UploadedCheckpoint>(signal: AbortSignal | undefined, load: () => Promise<T>): Promise<T> {
  let loaded: T;
  try {
    signal?.throwIfAborted();
    loaded = await load();
  } catch (e) {
    device().emptyCache();
    throw signal?.aborted ? signal.reason : e;
  }
  if (signal?.aborted) {
    disposeUploaded(loaded);
    device().emptyCache();
    throw signal.reason;
  }
  return loaded;
}

/** Bytes a load reads (each tensor then uploaded) ahead of the GPU before it waits for the GPU to catch up. */
export const READ_AHEAD_BYTES = 256 * 2 ** 20;

/**
 * The files of one load, each read refused once `signal` is aborted: a cancelled load stops at its
 * next read, between two tensors' uploads (a URL's read in flight is aborted by its own signal).
 * A read past READ_AHEAD_BYTES since the GPU last caught up first waits for it (`caughtUp`), or
 * for the cancel, whichever comes first: each upload's staging copy lives until the GPU has run it,
 * and a load that never waited ran ahead of a slow GPU (SwiftShader, busy first with the new
 * model's initial weights) by as much of the file as it read, in the host's memory, Cancel behind it.
 */
export function loadReads(signal: AbortSignal | undefined, caughtUp: () => Promise<void> = () => device().sync()): (file: ByteSource) => ByteSource {
  let ahead = 0;
  const paced = async (file: ByteSource, offset: number, length: number) => {
    signal?.throwIfAborted();
    if (ahead >= READ_AHEAD_BYTES) {
      await untilAborted(caughtUp(), signal);
      ahead = 0;
    }
    ahead += length;
    return file.read(offset, length);
  };
  return (file) => ({ size: file.size, read: (offset, length) => paced(file, offset, length) });
}

/** `work`, or the abort of `signal` (its reason) where that comes first; `work` then goes on, its failure unheard. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  signal.throwIfAborted();
  let stop!: () => void;
  const aborted = new Promise<never>((_, reject) => signal.addEventListener('abort', (stop = () => reject(signal.reason)), { once: true }));
  work.catch(() => {});
  return Promise.race([work, aborted]).finally(() => signal.removeEventListener('abort', stop));
}

/** `cfg` for training `model` (Session's `op`), checked as a new Trainer checks its config, and its run against the adapter's limits. */
function checkedConfig(op: string, model: GPTConfig, cfg: TrainConfig): TrainConfig {
  const problem = trainConfigProblem(cfg, (key) => key);
  if (problem) throw new RangeError(`Session.${op}: ${problem}`);
  checkRunFits(model, cfg);
  return cfg;
}

/**
 * Refuses a run with a buffer past the adapter's limits (as `gpt train` does), naming the settings
 * it comes from, before anything is made: otherwise its first step failed, or a model too large to
 * make was left allocated as far as it got, with an error naming no setting (and a block of 10^15
 * never got that far: splitTokens' count of the tokens it needs went on for ever).
 */
function checkRunFits(model: GPTConfig, cfg: TrainConfig): void {
  const trained = trainedConfig(model, cfg);
  const size = modelSizeProblem(trained, deviceRoom()); // at once, whatever its layers: before the plan lists them
  if (size) throw new Error(size);
  checkPlanFits(stepPlan(trained, cfg, resolveTrainDtype(cfg.dtype)), device().info.limits);
}

/**
 * Why `model` cannot take the LoRA adapters `cfg` asks for, or null: a pruned model's masks, or a
 * rank past one of its layers as they are (a structured prune's are smaller than the config's
 * sizes, which trainConfigProblem checks against).
 */
function adaptersProblem(model: GPT, cfg: TrainConfig): string | null {
  const lora = loraOf(cfg);
  if (!lora) return null;
  const pruned = model.prunedMask();
  if (pruned) return `loraRank ${cfg.loraRank}: a pruned model (${pruned}) cannot take LoRA adapters, whose update would fill its masked zeros; allowed: a dense model, or loraRank 0`;
  return loraRankProblem(lora, blockLinearShapes(model.config), 'loraRank');
}

/** The model as `cfg` trains it: with the LoRA adapters cfg asks for (those it has merged, where they differ: Session.startOver). */
function trainedConfig(model: GPTConfig, cfg: TrainConfig): GPTConfig {
  const { lora: _, ...plain } = model;
  const lora = loraOf(cfg);
  return { ...plain, ...(lora && { lora }) };
}

/**
 * What a trainer's run holds on the GPU (the memory plan `gpt train` prints), after its LoRA
 * adapters and peft's trainable-parameter line when it has adapters.
 */
export function describeRun(trainer: Trainer): string {
  const adapters = trainer.describeAdapters();
  return (adapters ? `${adapters} · ` : '') + describePlan(trainer.memoryPlan());
}

/** Where the validation split starts: the first 90% of the tokens train (as `gpt prepare` splits). */
const trainTokens = (n: number) => Math.floor(n * 0.9);
/** Whether both splits of n tokens hold a block of T and its next-token targets (as Trainer checks). */
const splitsFit = (n: number, T: number) => Math.min(trainTokens(n), n - trainTokens(n)) >= T + 1;

/**
 * The training and validation splits of a text's tokens; too few for a block is said in the page's
 * terms: a smaller block is offered only for a new model (`blockFixed` false), not the block of a
 * model on the page (a loaded GPT-2's 1024), which the page's block field does not change.
 */
function splitTokens(ids: Int32Array, vocabSize: number, blockSize: number, blockFixed: boolean): { train: Int32Array; val: Int32Array; vocabSize: number } {
  if (!splitsFit(ids.length, blockSize)) {
    let need = Math.max(ids.length + 1, 10 * blockSize); // the validation 10% needs at least blockSize + 1: a few steps from here
    while (!splitsFit(need, blockSize)) need++;
    throw new Error(
      `the text gives ${ids.length} tokens, too few for block ${blockSize}: each of its training 90% and validation 10% needs at least ${blockSize + 1}; ` +
        `use a longer text (${need} tokens or more)${blockFixed ? ": this model's block is fixed, a new model may have a smaller one" : ' or a smaller block'}`,
    );
  }
  const n = trainTokens(ids.length);
  return { train: ids.slice(0, n), val: ids.slice(n), vocabSize };
}
