// nanoGPT's own settings, as its train.py and sample.py define them, and what each is here: most are
// spelled as ours (n_layer is --n-layer); the rest are ours under another name, or have no
// counterpart and are noted and skipped, or would change the run and are refused.
import { join } from 'node:path';
import { settingKey, showPython as show, type NanoGptName, type NanoGptScript } from './flags.js';
import { readPythonConfig, type PyValue } from './python-config.js';

const pyGlobals = (source: string, script: string) => Object.fromEntries(readPythonConfig(source, `nanoGPT's ${script}`, {}, () => false).map((a) => [a.name, a.value!]));

/** train.py's defaults (GPT-2 124M on OpenWebText), from karpathy/nanoGPT; dtype there is 'bfloat16' on a GPU that has it, else 'float16'. */
const TRAIN_PY = pyGlobals(
  `
out_dir = 'out'
eval_interval = 2000
log_interval = 1
eval_iters = 200
eval_only = False
always_save_checkpoint = True
init_from = 'scratch'
wandb_log = False
wandb_project = 'owt'
wandb_run_name = 'gpt2'
dataset = 'openwebtext'
gradient_accumulation_steps = 5 * 8
batch_size = 12
block_size = 1024
n_layer = 12
n_head = 12
n_embd = 768
dropout = 0.0
bias = False
learning_rate = 6e-4
max_iters = 600000
weight_decay = 1e-1
beta1 = 0.9
beta2 = 0.95
grad_clip = 1.0
decay_lr = True
warmup_iters = 2000
lr_decay_iters = 600000
min_lr = 6e-5
backend = 'nccl'
device = 'cuda'
dtype = 'bfloat16'
compile = True
`,
  'train.py',
);

/** sample.py's defaults, from karpathy/nanoGPT. */
const SAMPLE_PY = pyGlobals(
  `
init_from = 'resume'
out_dir = 'out'
start = "\\n"
num_samples = 10
max_new_tokens = 500
temperature = 0.8
top_k = 200
seed = 1337
device = 'cuda'
dtype = 'bfloat16'
compile = False
`,
  'sample.py',
);

const ignored = (name: string, why: string): NanoGptName => ({ note: (v) => `nanoGPT's ${name} = ${show(v)} ignored: ${why}` });
// one note for the three (noted once): what they set up does not exist here
const NO_WANDB: NanoGptName = { note: () => "nanoGPT's wandb_log, wandb_project and wandb_run_name are ignored: no wandb here; the run logs to <out-dir>/log.jsonl, which gpt plot draws" };

/** Where and how PyTorch runs: train.py's and sample.py's alike. */
const RUNTIME: Record<string, NanoGptName> = {
  device: ignored('device', 'the run uses the WebGPU adapter gpt doctor shows'),
  compile: ignored('compile', 'the GPU kernels are always compiled (there is no torch.compile)'),
  // WebGPU has no bfloat16: nanoGPT's "the faster half precision this GPU has" is our auto
  dtype: { as: 'dtype', value: (v) => (v === 'bfloat16' ? 'auto' : v), note: (v) => (v === 'bfloat16' ? "nanoGPT's dtype = 'bfloat16' is --dtype auto here: WebGPU has no bfloat16, and auto runs float16 mixed precision where this adapter is faster in it, else float32" : undefined) },
};

const EVAL_ONLY = "nanoGPT's eval_only = True evaluates and exits: that is gpt eval here (--out-dir DIR or --init-from CKPT, --data-dir, --eval-iters, --batch-size)";

const TRAIN_NAMES: Record<string, NanoGptName> = {
  ...RUNTIME,
  alwaysSaveCheckpoint: { as: 'alwaysSave' },
  // one process: train.py divides it by the world size only under DDP (torchrun)
  gradientAccumulationSteps: { as: 'gradAccum' },
  dataset: { as: 'dataDir', value: (v) => join('data', String(v)) }, // train.py's data_dir
  evalOnly: { refuse: (v) => (v === true ? EVAL_ONLY : undefined) }, // False: the run, as here
  backend: ignored('backend', 'distributed training has no counterpart; a run uses one adapter'),
  wandbLog: NO_WANDB,
  wandbProject: NO_WANDB,
  wandbRunName: NO_WANDB,
};

/** Our settings under train.py's defaults: each of its globals as TRAIN_NAMES maps it (dtype left to auto, as train.py picks it by GPU). */
function underneath(globals: Record<string, PyValue>, names: Record<string, NanoGptName>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, { value }] of Object.entries(globals)) {
    const key = settingKey(name);
    const entry = Object.hasOwn(names, key) ? names[key]! : { as: key };
    if (entry.as && key !== 'dtype') out[entry.as] = entry.value ? entry.value(value) : value;
  }
  return out;
}

export const NANOGPT_TRAIN: NanoGptScript = {
  script: 'train.py',
  globals: TRAIN_PY,
  names: TRAIN_NAMES,
  // train.py reads ids without a meta.pkl beside them (data/openwebtext) as GPT-2's; meta.pkl's characters, and a checkpoint's tokenizer, come first here as there
  underneath: { ...underneath(TRAIN_PY, TRAIN_NAMES), tokenizer: 'gpt2' },
  underneathShown: { tokenizer: 'gpt2 (for ids without a meta.pkl)' },
};

/** train.py's settings outside `kept`, each skipped with one note for all (`fileOnly`: in a config file only). */
const skippedTrainPy = (kept: string[], why: string, fileOnly = false): Record<string, NanoGptName> =>
  Object.fromEntries(Object.keys(TRAIN_PY).map(settingKey).filter((key) => !kept.includes(key)).map((key) => [key, { note: () => why, fileOnly }]));

/** gpt eval is train.py with eval_only = True: its training settings do not apply to a checkpoint evaluated as it is. */
const EVAL_KEYS = ['outDir', 'initFrom', 'dataset', 'evalIters', 'batchSize', 'evalOnly', ...Object.keys(TRAIN_NAMES).filter((key) => key.startsWith('wandb')), 'backend', ...Object.keys(RUNTIME)];
export const NANOGPT_EVAL: NanoGptScript = {
  script: 'train.py',
  globals: TRAIN_PY,
  names: { ...TRAIN_NAMES, ...skippedTrainPy(EVAL_KEYS, "nanoGPT's training settings (n_layer, learning_rate, ...) are ignored: gpt eval evaluates the checkpoint as it is"), evalOnly: {} }, // eval_only: what gpt eval does either way
  // init_from 'scratch' would evaluate a new model's random weights: gpt eval reads a checkpoint
  underneath: { outDir: TRAIN_PY.out_dir!.value, dataDir: NANOGPT_TRAIN.underneath.dataDir, evalIters: TRAIN_PY.eval_iters!.value, batchSize: TRAIN_PY.batch_size!.value },
};

const SAMPLE_NAMES: Record<string, NanoGptName> = {
  // a config file of train.py's runs in sample.py too, which ignores what it does not use (on its command line, they are unknown)
  ...skippedTrainPy(Object.keys(SAMPLE_PY).map(settingKey), "train.py's settings (n_layer, learning_rate, ...) are ignored, as nanoGPT's sample.py ignores them", true),
  ...RUNTIME,
  topK: { as: 'topK', value: (v) => v ?? 0 }, // sample.py's top_k None: no cut, our 0
};
export const NANOGPT_SAMPLE: NanoGptScript = { script: 'sample.py', globals: SAMPLE_PY, names: SAMPLE_NAMES, underneath: underneath(SAMPLE_PY, SAMPLE_NAMES) };
