// `gpt train`'s settings: the trainer's (TRAIN_DEFAULTS, within TRAIN_RANGES) and the command's own,
// from the command line and --config, and the training config they make with the checkpoint the
// run starts from. A setting that would not be applied is an error, not silently dropped.
import type { Checkpoint } from '../gpt/checkpoint.js';
import { LORA_BIASES } from '../gpt/lora.js';
import type { Tokenizer } from '../gpt/tokenizer/index.js';
import { DISTILL_DEFAULTS, DISTILL_DOCS, DISTILL_RANGES, loraTargetList, resolveTrainDtype, TRAIN_DEFAULTS, TRAIN_DOCS, TRAIN_DTYPES, TRAIN_RANGES, trainConfigProblem, type TrainConfig, type TrainDtype } from '../gpt/trainer.js';
import { POSITIVE } from '../io/value-ranges.js';
import { whyNoF16 } from '../kernels/profile.js';
import type { ComputeDtype } from '../nn/autocast.js';
import { ADAPTER_DOC } from './adapter-flag.js';
import { pick, resolveSettings, settingName } from './config-file.js';
import { BUILTIN_CORPUS } from './corpus.js';
import { BPE_VOCAB_SIZE, checkTokenizerFlagsApply, TOKENIZER_DEFAULTS, TOKENIZER_DOCS, TOKENIZER_FILE_SHOWN, TOKENIZERS, VAL_FRACTION_OF_PREPARE } from './data.js';
import { checkPathSettings, flagHelp, flagName, printNote, pyName, showPython, UsageError, type FlagSpec, type Note } from './flags.js';
import { fetchHubCheckpoints } from './hub-flags.js';
import { NANOGPT_TRAIN } from './nanogpt-settings.js';
import { ADAPTER_OR_HUB, CHECKPOINT_OR_HUB, CHECKPOINT_OR_KEYWORD, DATA_DIR, TEXT_SOURCE } from './path-flags.js';

/** What float16 needs that this adapter lacks ("needs WebGPU's shader-f16 feature, and ..."), or null where float16 runs. */
export function float16Needs(): string | null {
  const why = whyNoF16();
  return why && `needs WebGPU's shader-f16 feature, and ${why}`;
}

/** --dtype for this adapter (auto resolved); float16 where it cannot run is an error naming the flag. */
export function dtypeFlag(dtype: TrainDtype): ComputeDtype {
  const needs = dtype === 'float16' ? float16Needs() : null;
  if (needs) throw new UsageError(`flag --dtype float16 ${needs}; use --dtype float32 or auto`);
  return resolveTrainDtype(dtype);
}

const CLI_DEFAULTS = {
  data: '',
  dataDir: '',
  outDir: 'out',
  config: '',
  initFrom: 'scratch',
  adapter: '',
  continue: false,
  ...TOKENIZER_DEFAULTS,
  alwaysSave: false,
  decayLr: true,
  overwrite: false,
  profile: false,
  peakTflops: 0, // none: no adapter's peak is known here
};

const DEFAULTS = { ...CLI_DEFAULTS, ...TRAIN_DEFAULTS };
export type TrainFlags = typeof DEFAULTS;

/** Where a run's text comes from without --data or --data-dir: resuming, fine-tuning, then `fresh` (a run from scratch), else the built-in corpus. */
const dataDefault = (fresh: string) =>
  `resuming, the run's own data (else <out-dir>/data); fine-tuning (--init-from DIR), <out-dir>/data if prepared, else the data DIR's checkpoint records (an error where it records none); ${fresh}, else ${BUILTIN_CORPUS}`;

export const TRAIN_FLAGS: FlagSpec<TrainFlags> = {
  defaults: DEFAULTS,
  paths: { data: TEXT_SOURCE, dataDir: DATA_DIR, outDir: 'new directory', config: 'file', initFrom: CHECKPOINT_OR_KEYWORD, adapter: ADAPTER_OR_HUB, tokenizerFile: TEXT_SOURCE },
  foreign: { valFraction: VAL_FRACTION_OF_PREPARE },
  nanogpt: NANOGPT_TRAIN,
  ranges: { ...TRAIN_RANGES, vocabSize: BPE_VOCAB_SIZE, peakTflops: POSITIVE },
  choices: { tokenizer: TOKENIZERS, dtype: TRAIN_DTYPES, loraBias: LORA_BIASES },
  docs: {
    data: 'text file, URL or prepared data directory to train on',
    dataDir: "directory written by `gpt prepare`, or nanoGPT's (train.bin + val.bin, with meta.pkl's characters or, with --tokenizer gpt2, GPT-2 ids)",
    outDir: 'where the checkpoint, log.jsonl and the lock go',
    config: "JSON file of settings (keys as flags: kebab-case, snake_case or camelCase), or nanoGPT's Python config (config/train_gpt2.py, also given bare), run over nanoGPT's train.py defaults",
    initFrom: "'scratch', 'resume' (continue <out-dir>), or a checkpoint to fine-tune: a dir/file of ours, a Hugging Face GPT-2 directory (config.json + model.safetensors or pytorch_model.bin), or nanoGPT's ckpt.pt; or a Hugging Face model id (gpt2: downloaded into the hub's cache)",
    adapter: `with --init-from PATH: ${ADAPTER_DOC}, before fine-tuning`,
    continue: "with --init-from nanoGPT's ckpt.pt: continue its run (AdamW's state, iter_num's lr schedule), as its init_from='resume' does, instead of fine-tuning from step 0",
    ...TOKENIZER_DOCS,
    alwaysSave: 'save at every evaluation, not only when val loss improves; --init-from resume keeps the run\'s setting',
    decayLr: "false: a constant learning rate, --learning-rate from step 0 (nanoGPT's decay_lr; --min-lr and --warmup-iters then do not apply)",
    overwrite: 'replace the checkpoint already in <out-dir>: at the first save, which starts its log.jsonl over (until then both are kept)',
    profile: 'print GPU time per kernel for one training step (timestamp queries)',
    peakTflops: "the adapter's peak TFLOP/s in the run's dtype, from its datasheet (gpt assumes none; nanoGPT's estimate_mfu an A100's 312): step lines then add mfu, their model TFLOP/s as a share of it, once a line times neither of the run's first two steps (they compile kernels)",
    ...TRAIN_DOCS,
  },
  defaultsShown: {
    data: dataDefault('a new model, <out-dir>/data if prepared'),
    ...TOKENIZER_FILE_SHOWN,
    peakTflops: 'none: no mfu',
  },
};

export const TRAIN_HELP = `usage: gpt train [flags]
Trains a GPT (defaults: nanoGPT's Shakespeare-char CPU configuration). Values are the same on the
command line and in a JSON --config: numbers in decimal (3e-4), booleans true or false. nanoGPT's
command line runs as it is: a Python config file (config/train_gpt2.py) given bare or as --config,
over nanoGPT's train.py defaults, then --key=value read as its configurator reads them (--compile=False).
${flagHelp(TRAIN_FLAGS)}`;

/** `gpt distill`'s settings: gpt train's for the student, and the teacher's. */
const DISTILL_CLI_DEFAULTS = { teacher: '', ...DISTILL_DEFAULTS };
export type DistillFlags = TrainFlags & typeof DISTILL_CLI_DEFAULTS;

export const DISTILL_FLAGS: FlagSpec<DistillFlags> = {
  ...TRAIN_FLAGS,
  defaults: { ...DISTILL_CLI_DEFAULTS, ...DEFAULTS },
  paths: { teacher: CHECKPOINT_OR_HUB, ...TRAIN_FLAGS.paths },
  ranges: { ...DISTILL_RANGES, ...TRAIN_FLAGS.ranges },
  docs: {
    teacher: "the teacher: a checkpoint of ours (directory or .safetensors file), a Hugging Face GPT-2 directory, nanoGPT's ckpt.pt, or a model id (gpt2-medium: downloaded into the hub's cache); required unless resuming",
    ...DISTILL_DOCS,
    ...TRAIN_FLAGS.docs,
  },
  defaultsShown: { ...TRAIN_FLAGS.defaultsShown, data: dataDefault("a student from scratch, <out-dir>/data if prepared, else the data the teacher's checkpoint records (while it is there)") },
};

export const DISTILL_HELP = `usage: gpt distill --teacher DIR [--temperature T] [--alpha A] [train flags] --out-dir DIR2
Knowledge distillation: trains a student GPT (usually smaller: --n-layer, --n-embd, ...) on the
teacher's soft targets, the teacher run without gradients on each batch:
  loss = alpha T² KL(softmax(teacher/T) || softmax(student/T)) + (1 - alpha) cross-entropy(student, labels)
(the KL summed over the vocabulary, both terms averaged over tokens). The student uses the teacher's
tokenizer; the step lines' loss is this mixed loss, evaluations give the student's own
cross-entropy; checkpoints are as in \`gpt train\`, and --init-from resume continues a
distillation with its recorded teacher and settings, or those given (--teacher, --temperature, --alpha).
${flagHelp(DISTILL_FLAGS)}`;

/** The model's shape: fixed by the checkpoint when resuming or fine-tuning. */
const SHAPE_KEYS = ['blockSize', 'nLayer', 'nHead', 'nEmbd', 'bias', 'shareLayers'] as const;
/** AdamW's settings, which nanoGPT's train.py restores from a checkpoint's optimizer state over its config's. */
const ADAMW_KEYS = ['weightDecay', 'beta1', 'beta2'] as const;
/** A LoRA run's adapters: fixed by its checkpoint when resuming (fine-tuning merges them and may start new ones). */
const LORA_KEYS = ['loraRank', 'loraAlpha', 'loraDropout', 'loraTargets', 'loraBias'] as const;

/**
 * Defaults, then the config file, then the command line (nanoGPT's order for a bare config file and
 * a Python config's defaults: resolveSettings); each value checked against its range (TRAIN_FLAGS or
 * DISTILL_FLAGS); a hub id fetched by fetchHubFlags, once the flags' own refusals are made. `fromConfig`: each setting whose value is the config file's, named as its errors name it;
 * `fromNanoGpt`: each whose value is a Python config's or its nanoGPT script's default (no flag's), which
 * a checkpoint's own gives way to as nanoGPT's train.py lets it (trainingConfig, nanoGptRunToContinue).
 */
export async function resolveFlags<F extends TrainFlags>(
  args: string[],
  spec: FlagSpec<F>,
  note: Note = printNote,
): Promise<{ values: F; given: Set<string>; fromConfig: ReadonlyMap<string, string>; fromNanoGpt: ReadonlySet<string> }> {
  const { values, given, names: fromConfig, underneath, fromPython } = await resolveSettings(args, spec, note);
  // train.py's defaults under a Python config apply as its own settings do; the model's shape and
  // tokenizer, as in nanoGPT, are a checkpoint's (or the data's) where there is one
  for (const key of underneath) if (!([...SHAPE_KEYS, 'tokenizer'] as string[]).includes(key)) given.add(key);
  checkTokenizerFlagsApply(given, values.tokenizer);
  checkPathSettings(spec, values, [...given].filter((key) => key !== 'config'), settingName(fromConfig));
  if (given.has('overwrite') && values.initFrom === 'resume') throw new UsageError('flag --overwrite does not apply to --init-from resume, which continues the checkpoint');
  return { values, given, fromConfig, fromNanoGpt: new Set([...fromPython, ...underneath]) };
}

/** Fetches each hub id the flags `resolveFlags` gave name (--init-from, --adapter, --teacher): their values become the snapshot directories. */
export const fetchHubFlags = <F extends TrainFlags>(spec: FlagSpec<F>, { values, given, fromConfig }: { values: F; given: Set<string>; fromConfig: ReadonlyMap<string, string> }) =>
  fetchHubCheckpoints(spec, values, given, settingName(fromConfig));

/**
 * The run's training config: the flags; when fine-tuning, with the checkpoint's model shape; when
 * resuming, the checkpoint's own config with the flags given on top. Checked as a whole; an error
 * names each setting where its value came from (`fromConfig`: the config file's, see resolveFlags).
 * The shape a Python config sets (in `fromNanoGpt`) gives way to the checkpoint's, noted, as nanoGPT's
 * train.py takes the checkpoint's model_args, a shorter block_size aside (cut when fine-tuning).
 */
export function trainingConfig(
  values: TrainFlags,
  given: Set<string>,
  ckpt: Pick<Checkpoint, 'meta'> | null,
  resume: boolean,
  fromConfig: ReadonlyMap<string, string> = new Map(),
  fromNanoGpt: ReadonlySet<string> = new Set(),
  note: Note = printNote,
): TrainConfig {
  const setting = settingName(fromConfig);
  let cfg: TrainConfig = pick(values, Object.keys(TRAIN_DEFAULTS)) as TrainConfig;
  if (ckpt) {
    const model = { ...ckpt.meta.model, shareLayers: ckpt.meta.model.shareLayers ?? 1 }; // absent: none shared
    const yielding = SHAPE_KEYS.filter((key) => given.has(key) && fromNanoGpt.has(key) && values[key] !== model[key] && !(key === 'blockSize' && values.blockSize < model.blockSize));
    if (yielding.length) {
      const shape = yielding.map((key) => `${pyName(key)} ${showPython(model[key])}`).join(', ');
      note(`the model's shape is the checkpoint's, as nanoGPT's train.py takes it with init_from 'resume' or 'gpt2*': ${shape} (config ${values.config} sets ${yielding.map((key) => showPython(values[key])).join(', ')})`);
      given = new Set([...given].filter((key) => !(yielding as string[]).includes(key)));
    }
    // fine-tuning at a shorter context cuts the position embeddings (nanoGPT's crop_block_size)
    const fineTuningBlock = !resume && given.has('blockSize');
    if (fineTuningBlock && values.blockSize > model.blockSize) {
      throw new UsageError(`flag --block-size ${values.blockSize} exceeds the checkpoint's ${model.blockSize}: fine-tuning can cut its position embeddings to a shorter context, not grow them`);
    }
    const cropped = fineTuningBlock && values.blockSize < model.blockSize;
    for (const key of SHAPE_KEYS) {
      if (given.has(key) && values[key] !== model[key] && !(key === 'blockSize' && cropped)) {
        throw new UsageError(`${setting(key)} ${values[key]} differs from the checkpoint's ${model[key]}: the model's shape cannot change with --init-from`);
      }
    }
    if (resume) {
      const { train, trainer } = ckpt.meta;
      if (!train || !trainer) {
        throw new UsageError(`--init-from resume continues the run in --out-dir, and ${values.outDir} holds a checkpoint without a run's training state (a model saved by the library, the page or Hugging Face): fine-tune it with --init-from ${values.outDir} and another --out-dir`);
      }
      // a later version's setting (sample and eval need none of them: refused here, not when read)
      const unknown = Object.keys(train).find((key) => !Object.hasOwn(TRAIN_DEFAULTS, key));
      if (unknown !== undefined) {
        throw new UsageError(`${values.outDir}: metadata field train.${unknown} is not a training setting of this version (a checkpoint of a later one?); the settings are ${Object.keys(TRAIN_DEFAULTS).join(', ')}`);
      }
      // the batches' and dropout's random streams continue from the checkpoint: a new seed would reach only the eval batches
      if (given.has('seed') && values.seed !== train.seed) {
        throw new UsageError(`${setting('seed')} ${values.seed} differs from the checkpoint's ${train.seed}: a resumed run continues the checkpoint's random streams`);
      }
      const asRecorded = (key: (typeof LORA_KEYS)[number], v: unknown) => (key === 'loraTargets' ? loraTargetList(String(v)).join(',') : v);
      const adapters = LORA_KEYS.find((key) => given.has(key) && asRecorded(key, values[key]) !== asRecorded(key, train[key]));
      if (adapters) {
        throw new UsageError(`${setting(adapters)} ${values[adapters]} differs from the checkpoint's ${train[adapters]}: a resumed run keeps its LoRA adapters (fine-tune the checkpoint with --init-from ${values.outDir} and another --out-dir to start new ones on its merged weights)`);
      }
      // AdamW's settings a Python config gives (or train.py's defaults under it) are the run's: train.py's load_state_dict restores them
      const restored = (key: string) => fromNanoGpt.has(key) && (ADAMW_KEYS as readonly string[]).includes(key);
      cfg = { ...train, ...pick(cfg, [...given].filter((key) => !restored(key))) };
      // a constant-lr run (decay_lr False, recorded as min = max, no warm-up) stays constant at a new --learning-rate
      const constant = train.minLr === train.learningRate && train.warmupIters === 0;
      if (constant && !given.has('minLr') && !given.has('warmupIters')) cfg.minLr = cfg.learningRate;
      if (cfg.maxIters <= trainer.step) {
        throw new UsageError(`the run in ${values.outDir} already reached step ${trainer.step}: raise --max-iters (now ${cfg.maxIters}) to train further`);
      }
    }
    Object.assign(cfg, pick(model, [...SHAPE_KEYS]), cropped && { blockSize: values.blockSize });
  }
  // nanoGPT's decay_lr False: get_lr is not called, every step takes learning_rate (and so does the schedule with no warm-up and min = max)
  if (!values.decayLr) Object.assign(cfg, { minLr: cfg.learningRate, warmupIters: 0 });
  // a rule across settings names each as given: a flag, the config file's key, or the resumed run's own
  const named = (key: string) => (fromConfig.has(key) ? setting(key) : resume && !given.has(key) ? `the run's ${flagName(key)}` : flagName(key));
  const problem = trainConfigProblem(cfg, named, ckpt?.meta.model);
  if (problem) throw new UsageError(problem);
  // a new model's random weights, frozen under the adapters: a fine-tune without its checkpoint
  if (!ckpt && cfg.loraRank) {
    throw new UsageError(`${named('loraRank')} ${cfg.loraRank} fine-tunes a checkpoint through adapters, and this run starts a new model, whose random weights would stay frozen: give the checkpoint as --init-from DIR (ours or a Hugging Face GPT-2 directory)`);
  }
  // the profiled step starts at step `profiled` and is logged as the next one: the run must reach that
  const profiled = profiledStep(resume ? ckpt!.meta.trainer!.step : 0);
  if (values.profile && cfg.maxIters <= profiled) {
    throw new UsageError(`flag --profile times the run's step ${profiled + 1} (the ones before it compile shaders): --max-iters ${cfg.maxIters} ends before it`);
  }
  return cfg;
}

/** The settings in `now` that differ from a resumed run's own (`was`), as flags: `--learning-rate 0.002 (was 0.001)`. */
export function changedSettings(was: Record<string, unknown>, now: Record<string, unknown>): string[] {
  return Object.keys(was)
    .filter((key) => Object.hasOwn(now, key) && now[key] !== was[key])
    .map((key) => `${flagName(key)} ${String(now[key])} (was ${String(was[key])})`);
}

/** The step count at which --profile starts timing a step, in a run that starts at `start`: past the first two steps' shader compilation. */
export const profiledStep = (start: number) => start + 2;

/** --tokenizer / --vocab-size given where the tokens come from `source` (a checkpoint, prepared data) must agree with it. */
export function checkTokenizerFlags(values: TrainFlags, given: Set<string>, tokenizer: Tokenizer, source: string): void {
  if (given.has('tokenizer') && values.tokenizer !== tokenizer.kind) {
    throw new UsageError(`flag --tokenizer ${values.tokenizer} differs from the ${tokenizer.kind} tokenizer of ${source}, which this run uses`);
  }
  if (given.has('tokenizerFile')) throw new UsageError(`flag --tokenizer-file does not apply: this run uses the ${tokenizer.kind} tokenizer of ${source}`);
  if (given.has('vocabSize') && values.vocabSize !== tokenizer.vocabSize) {
    throw new UsageError(`flag --vocab-size ${values.vocabSize} differs from the vocabulary of ${source} (${tokenizer.vocabSize}), which this run uses`);
  }
}
