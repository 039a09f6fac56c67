// Ours as nanoGPT's checkpoint, the reverse of nanogpt.ts and nanogpt-optimizer.ts: the dict its
// train.py saves as ckpt.pt (model, optimizer, model_args, iter_num, best_val_loss, config), which
// its sample.py and train.py --init_from=resume load. 'model' is the state dict under nanoGPT's
// names ('transformer.' + ours, lm_head.weight tied to the token embedding: one storage), without
// the causal-mask buffers PyTorch < 2.0 registers (nanoGPT on torch >= 2.0 has none). 'optimizer'
// is torch AdamW's state_dict in configure_optimizers' grouping (dim >= 2 decayed, the rest not,
// both in named_parameters() order); a checkpoint without moments gets an empty state (every
// parameter fresh, as an AdamW that never stepped), which train.py's resume loads. And meta.pkl,
// for a character tokenizer, as nanoGPT's data/<dataset>/prepare.py writes it. Platform free.
import { pickleBytes, PyFloat, PyTuple, type PickleOut } from '../io/pickle-writer.js';
import { OrderedDict, TorchStorageOut, TorchTensorOut } from '../io/torch-save.js';
import type { GPTConfig } from './model.js';
import type { TrainConfig } from './trainer.js';
import type { TokenizerJSON } from './tokenizer/index.js';

/** A parameter of ours, in named order: its name, shape and values (read when written). */
export interface SavedParameter {
  name: string;
  shape: readonly number[];
  read: () => Promise<Float32Array>;
}

/** What nanoGPT's checkpoint is made of. */
export interface NanoGptSave {
  model: GPTConfig;
  params: readonly SavedParameter[];
  /** AdamW's moments by parameter name (read when written) and the steps it took; none: fresh. */
  moments?: { m: ReadonlyMap<string, () => Promise<Float32Array>>; v: ReadonlyMap<string, () => Promise<Float32Array>>; steps: number };
  /** The step the run would take next: iter_num. */
  iterNum: number;
  /** AdamW's groups' settings: the lr the schedule gives at iterNum (train.py's groups hold it when it saves), betas, and the decayed group's weight decay. */
  adamW: { lr: number; betas: [number, number]; weightDecay: number };
  /** The run's settings, written as config under train.py's names (absent: an imported model's, none). */
  train?: TrainConfig;
  bestVal?: number;
  /** config.dataset: where sample.py looks for meta.pkl (data/<dataset>/meta.pkl). */
  dataset: string;
}

/** torch AdamW's eps: ours is the same (nanoGPT passes none). */
const EPS = 1e-8;
/** best_val_loss where no evaluation was saved: train.py's own start. */
const NO_VAL = 1e9;
/** Our train settings by nanoGPT's train.py names, and whether each is a Python float. */
const CONFIG_NAMES: [keyof TrainConfig, string, 'float' | 'int' | 'bool'][] = [
  ['batchSize', 'batch_size', 'int'], ['gradAccum', 'gradient_accumulation_steps', 'int'], ['blockSize', 'block_size', 'int'],
  ['nLayer', 'n_layer', 'int'], ['nHead', 'n_head', 'int'], ['nEmbd', 'n_embd', 'int'], ['dropout', 'dropout', 'float'], ['bias', 'bias', 'bool'],
  ['learningRate', 'learning_rate', 'float'], ['maxIters', 'max_iters', 'int'], ['weightDecay', 'weight_decay', 'float'],
  ['beta1', 'beta1', 'float'], ['beta2', 'beta2', 'float'], ['gradClip', 'grad_clip', 'float'], ['warmupIters', 'warmup_iters', 'int'],
  ['lrDecayIters', 'lr_decay_iters', 'int'], ['minLr', 'min_lr', 'float'], ['evalInterval', 'eval_interval', 'int'], ['evalIters', 'eval_iters', 'int'],
  ['logInterval', 'log_interval', 'int'],
];

/** What of `model` nanoGPT's GPT cannot hold, in one line, or null. */
export function nanoGptLayoutProblem(model: GPTConfig): string | null {
  if (model.quantization) return `a quantized (${model.quantization}) model has no nanoGPT form: export the float32 checkpoint it was made from`;
  if (model.lora) return 'a model with LoRA adapters has no nanoGPT form until they are merged into its weights';
  if ((model.activation ?? 'gelu') !== 'gelu') return `nanoGPT's MLP is the exact GELU, and this model's is ${model.activation}`;
  if (model.layerNormEps !== undefined && model.layerNormEps !== 1e-5) return `nanoGPT's LayerNorm's epsilon is 1e-5, and this model's is ${model.layerNormEps}`;
  if ((model.shareLayers ?? 1) > 1) return `nanoGPT's blocks share no weights, and this model's groups of ${model.shareLayers} do (--share-layers)`;
  if (model.nHeads || model.mlpWidths) {
    const pruned = [model.nHeads && `heads per block [${model.nHeads}]`, model.mlpWidths && `MLP widths [${model.mlpWidths}]`].filter(Boolean).join(', ');
    return `nanoGPT's GPT cannot hold this structurally pruned model (${pruned}): every block must have n_head ${model.nHead} heads and an MLP of 4 * n_embd = ${4 * model.nEmbd}`;
  }
  return null;
}

/** The dict nanoGPT's train.py saves as ckpt.pt, for torchSavePieces; tensors are read as they are written. */
export function nanoGptCheckpointValue(save: NanoGptSave): PickleOut {
  const problem = nanoGptLayoutProblem(save.model);
  if (problem) throw new Error(problem);
  const tensors = new Map(save.params.map((p) => [p.name, new TorchTensorOut(new TorchStorageOut(size(p.shape), p.read), p.shape)]));
  const wte = tensors.get('wte.weight');
  if (!wte) throw new Error("nanoGPT's checkpoint: the model has no token embedding wte.weight");
  const state = new Map<string, PickleOut>([...tensors].map(([name, t]) => [`transformer.${name}`, t]));
  state.set('lm_head.weight', wte); // tied: its storage is the embedding's, saved once
  const { model } = save;
  const modelArgs = new Map<string, PickleOut>([
    ['n_layer', model.nLayer], ['n_head', model.nHead], ['n_embd', model.nEmbd], ['block_size', model.blockSize],
    ['bias', model.bias], ['vocab_size', model.vocabSize], ['dropout', new PyFloat(model.dropout)],
  ]);
  const config = new Map<string, PickleOut>([['dataset', save.dataset], ['init_from', 'resume'], ['decay_lr', true]]);
  for (const [ours, theirs, kind] of CONFIG_NAMES) {
    const value = save.train?.[ours];
    if (value !== undefined) config.set(theirs, kind === 'float' ? new PyFloat(value as number) : (value as number | boolean));
  }
  return new Map<string, PickleOut>([
    ['model', new OrderedDict(state)],
    ['optimizer', adamWState(save)],
    ['model_args', modelArgs],
    ['iter_num', save.iterNum],
    ['best_val_loss', new PyFloat(save.bestVal ?? NO_VAL)],
    ['config', config],
  ]);
}

/** torch.optim.AdamW's state_dict() over nanoGPT's two groups: state keyed by the index across both. */
function adamWState(save: NanoGptSave): PickleOut {
  const decayed = save.params.filter((p) => p.shape.length >= 2);
  const rest = save.params.filter((p) => p.shape.length < 2);
  const state = new Map<number, PickleOut>();
  const { moments } = save;
  [...decayed, ...rest].forEach((p, index) => {
    if (!moments) return;
    const [m, v] = [moments.m.get(p.name), moments.v.get(p.name)];
    if (!m || !v) throw new Error(`nanoGPT's checkpoint: no AdamW moments for ${p.name}`);
    const moment = (read: () => Promise<Float32Array>) => new TorchTensorOut(new TorchStorageOut(size(p.shape), read), p.shape);
    const step = new TorchTensorOut(new TorchStorageOut(1, async () => Float32Array.of(moments.steps)), []); // a 0-d float tensor, as torch >= 1.12 keeps it
    state.set(index, new Map<string, PickleOut>([['step', step], ['exp_avg', moment(m)], ['exp_avg_sq', moment(v)]]));
  });
  const { lr, betas, weightDecay: decay } = save.adamW;
  const group = (params: number[], weightDecay: number) =>
    new Map<string, PickleOut>([
      ['lr', new PyFloat(lr)], ['betas', new PyTuple(betas.map((b) => new PyFloat(b)))], ['eps', new PyFloat(EPS)],
      ['weight_decay', new PyFloat(weightDecay)], ['amsgrad', false], ['foreach', null], ['maximize', false], ['capturable', false], ['differentiable', false], ['fused', null],
      ['params', params],
    ]);
  const indices = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
  return new Map<string, PickleOut>([
    ['state', state],
    ['param_groups', [group(indices(0, decayed.length), decay), group(indices(decayed.length, rest.length), 0)]],
  ]);
}

/** nanoGPT's meta.pkl of a character vocabulary ({vocab_size, itos, stoi}, as data/shakespeare_char/prepare.py pickles it), or null for GPT-2's, which sample.py takes by default; another tokenizer has no nanoGPT form. */
export function nanoGptMetaPkl(tokenizer: TokenizerJSON): Uint8Array | null {
  if (tokenizer.kind === 'gpt2') return null;
  if (tokenizer.kind !== 'char') throw new Error(`nanoGPT's sample.py knows character vocabularies (meta.pkl) and GPT-2's, and this model's tokenizer is ${tokenizer.kind}`);
  const chars = tokenizer.chars;
  return pickleBytes(
    new Map<string, PickleOut>([
      ['vocab_size', chars.length],
      ['itos', new Map(chars.map((ch, i) => [i, ch]))],
      ['stoi', new Map(chars.map((ch, i) => [ch, i]))],
    ]),
  );
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
