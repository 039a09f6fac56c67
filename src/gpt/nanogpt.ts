// nanoGPT's checkpoint (the ckpt.pt its train.py writes with torch.save) as ours: a dict of
// 'model' (the state dict: nn.Linear weights [out, in] as ours are, names under 'transformer.' and,
// from a torch.compile'd model, '_orig_mod.'; lm_head.weight tied to wte), 'model_args' (the
// sizes), 'optimizer', 'iter_num', 'best_val_loss' (a 0-d tensor) and 'config' (train.py's
// settings, 'dataset' among them). A fine-tune starts at step 0 with fresh moments, as one from a
// Hugging Face model does; the optimizer's state is read only to continue the run (readOptimizer).
// The MLP's GELU is nanoGPT's nn.GELU(), the exact one (ours by default). Platform free: src/node
// finds its tokenizer's files as sample.py does, the page takes those picked with it.
import { parsePickle, type PickleValue } from '../io/pickle.js';
import type { ByteSource, SafetensorsReader } from '../io/safetensors-source.js';
import { layoutPendingSafetensors, type PendingSafetensorsLayout } from '../io/safetensors.js';
import { describe, openTorchFile, torchStateDictReader, TorchTensor, type TorchFile } from '../io/torch-file.js';
import { inRange, NON_NEGATIVE_INT, POSITIVE_INT, rangeProblem, show, UNIT_INTERVAL } from '../io/value-ranges.js';
import { CHECKPOINT_FORMAT, checkpointMetadata, configWeightsProblem, nonFiniteProblem, type Checkpoint, type CheckpointMeta, type CheckpointWeight } from './checkpoint.js';
import type { GPTConfig } from './model.js';
import { headsProblem, type TrainConfig } from './trainer.js';
import { readNanoGptOptimizer, type NanoGptOptimizer } from './nanogpt-optimizer.js';
import { CharTokenizer, type Tokenizer } from './tokenizer/index.js';

/** What nanoGPT's ckpt.pt holds, its tensors not yet read. */
export interface NanoGptFile {
  model: GPTConfig;
  /** train.py's config.dataset: where its meta.pkl lies (data/DATASET/meta.pkl), if it has one. */
  dataset: string | null;
  /** best_val_loss: the val loss of these weights (train.py saves when it sets it). */
  val: number | null;
  /** iter_num: the iteration train.py would run next, the iterations it took (null: not a count). */
  iterNum: number | null;
  /** config's batch_size, block_size and gradient_accumulation_steps (all GPUs'), its tokens per iteration (null where one is not a count). */
  batch: StepBatch | null;
  /** config's max_iters (null: not a count), and dtype: what train.py's autocast computed in ('bfloat16', 'float16', 'float32'; null: none given). */
  maxIters: number | null;
  dtype: string | null;
  /** The model's state dict, its names ours (the prefixes taken off), lm_head.weight and any attn.bias buffers among them. */
  weights: SafetensorsReader;
  /** AdamW's state and iter_num, to continue the run (readNanoGptOptimizer's), the token embedding's moments cut to `vocabSize` rows as its weight is. */
  readOptimizer(vocabSize: number): Promise<NanoGptOptimizer>;
}

/** What a training step takes: batch x block x grad accum tokens (nanoGPT's tokens_per_iter). */
export type StepBatch = Pick<TrainConfig, 'batchSize' | 'blockSize' | 'gradAccum'>;

/** model_args' names of our config's sizes. */
const MODEL_ARGS: [keyof GPTConfig, string][] = [['vocabSize', 'vocab_size'], ['blockSize', 'block_size'], ['nLayer', 'n_layer'], ['nHead', 'n_head'], ['nEmbd', 'n_embd']];

/** A config key as nanoGPT's model_args spells it. */
export const modelArgName = (k: keyof GPTConfig): string => MODEL_ARGS.find(([ours]) => ours === k)?.[1] ?? k;
/** Prefixes of the saved names: torch.compile's wrapper's, then the GPT module's. */
const PREFIXES = ['_orig_mod.', 'transformer.'];
const HEAD = 'lm_head.weight';
const EMBEDDING = 'wte.weight';
/** nanoGPT's causal mask, a buffer registered where PyTorch has no flash attention (< 2.0). */
const MASK_BUFFER = /^h\.\d+\.attn\.bias$/;
/** GPT-2's vocabulary: nanoGPT's vocab_size for it (padded or not) is at least this. */
const GPT2_VOCAB = 50257;

/** Whether a torch.save file's root is nanoGPT's checkpoint dict. */
const isNanoGptCheckpoint = (root: PickleValue) => root instanceof Map && root.has('model') && root.has('model_args');

/** nanoGPT's checkpoint in the torch.save file `source` reads, its pickle read (its tensors are not); `name` names it in errors. */
export async function openNanoGptSource(source: ByteSource, name: string): Promise<NanoGptFile> {
  return readNanoGptFile(await openTorchFile(source, name), name);
}

/** nanoGPT's checkpoint in the torch.save file `file` (its pickle read); `source` names it in errors. */
async function readNanoGptFile(file: TorchFile, source: string): Promise<NanoGptFile> {
  const root = file.root;
  if (!(root instanceof Map) || !isNanoGptCheckpoint(root)) {
    throw new Error(`${source}: a torch.save file that is not nanoGPT's checkpoint (a dict with 'model' and 'model_args', as its train.py saves); got ${describe(root)}${root instanceof Map ? ` with keys ${[...root.keys()].slice(0, 8).map((k) => show(k)).join(', ')}` : ''}`);
  }
  const model = nanoGptConfig(root.get('model_args')!, `${source}: model_args`);
  const config = root.get('config');
  const dataset = config instanceof Map && typeof config.get('dataset') === 'string' ? (config.get('dataset') as string) : null;
  const iterNum = root.get('iter_num');
  const batch = config instanceof Map ? configBatch(config, model) : null;
  const [maxIters, dtype] = config instanceof Map ? [config.get('max_iters'), config.get('dtype')] : [];
  const best = root.get('best_val_loss');
  const val = best instanceof TorchTensor ? (await file.readTensor(best)).data[0]! : typeof best === 'number' ? best : null;
  const state = root.get('model')!;
  const saved = torchStateDictReader(file, state, `${source}['model']`);
  const byOurs = new Map(saved.entries.map((e) => [ourName(e.name), e]));
  if (byOurs.size !== saved.entries.length) throw new Error(`${source}['model']: a weight is saved twice (with a prefix and without)`);
  const entries = [...byOurs].map(([name, e]) => ({ ...e, name }));
  const weights: SafetensorsReader = {
    metadata: {},
    entries,
    readTensor: (entry) => saved.readTensor(byOurs.get(entry.name)!),
    readTensors: async (wanted = () => true) => {
      const out: Awaited<ReturnType<SafetensorsReader['readTensors']>> = {};
      for (const e of entries) if (wanted(e.name)) out[e.name] = await saved.readTensor(byOurs.get(e.name)!);
      return out;
    },
  };
  const readOptimizer = (vocabSize: number) => {
    const params = entries.filter((e) => !MASK_BUFFER.test(e.name) && e.name !== HEAD).map(({ name, shape }) => ({ name, shape, kept: nanoGptShape(name, shape, vocabSize)[0] ?? 1 }));
    return readNanoGptOptimizer(file, root, params, source);
  };
  return { model, dataset, val: Number.isFinite(val) ? val : null, iterNum: inRange(iterNum, NON_NEGATIVE_INT) ? iterNum : null, batch, maxIters: inRange(maxIters, POSITIVE_INT) ? maxIters : null, dtype: typeof dtype === 'string' ? dtype : null, weights, readOptimizer };
}

/**
 * train.py's config's batch, or null where a size is missing or not a count; its block_size is
 * model_args' where it has none. The config is taken before DDP divides gradient_accumulation_steps:
 * it counts every GPU's micro-batches, as tokens_per_iter does.
 */
function configBatch(config: Map<PickleValue, PickleValue>, model: GPTConfig): StepBatch | null {
  const [batchSize, blockSize, gradAccum] = [config.get('batch_size'), config.get('block_size') ?? model.blockSize, config.get('gradient_accumulation_steps')];
  return inRange(batchSize, POSITIVE_INT) && inRange(blockSize, POSITIVE_INT) && inRange(gradAccum, POSITIVE_INT) ? { batchSize, blockSize, gradAccum } : null;
}

const ourName = (saved: string) => PREFIXES.reduce((name, prefix) => (name.startsWith(prefix) ? name.slice(prefix.length) : name), saved);

/** Our config from model_args ({n_layer, n_head, n_embd, block_size, bias, vocab_size, dropout}); `at` names it in errors. */
function nanoGptConfig(args: PickleValue, at: string): GPTConfig {
  if (!(args instanceof Map)) throw new Error(`${at}: expected a dict of the model's sizes, got ${describe(args)}`);
  const config: Partial<GPTConfig> = { activation: 'gelu' };
  for (const [ours, theirs] of MODEL_ARGS) {
    const problem = rangeProblem(theirs, args.get(theirs), POSITIVE_INT);
    if (problem) throw new Error(`${at}: ${problem}`);
    (config as Record<string, unknown>)[ours] = args.get(theirs);
  }
  const heads = headsProblem(config as GPTConfig, (k) => modelArgName(k as keyof GPTConfig));
  if (heads) throw new Error(`${at}: ${heads}`);
  const dropout = args.get('dropout') ?? 0;
  const dropoutProblem = rangeProblem('dropout', dropout, UNIT_INTERVAL);
  if (dropoutProblem) throw new Error(`${at}: ${dropoutProblem}`);
  const bias = args.get('bias') ?? true; // nanoGPT's GPTConfig default
  if (typeof bias !== 'boolean') throw new Error(`${at}: bias must be True or False, got ${show(bias)}`);
  return { ...(config as GPTConfig), dropout: dropout as number, bias };
}

/**
 * The metadata of nanoGPT's file with `tokenizer` (meta.pkl's, or GPT-2's). A vocabulary padded
 * past GPT-2's (nanoGPT's 50304 for 50257, for speed) is cut to the tokenizer's: the padded rows
 * are ids no text encodes to, trained only to be unlikely; `note` says so (without `source`, which
 * nanoGptCheckpoint's note begins with; `gpt info` prints it under the file's name). Any other
 * disagreement is refused.
 */
export function nanoGptMeta(file: NanoGptFile, tokenizer: Tokenizer, source: string): { meta: CheckpointMeta; note: string | null } {
  let model = file.model;
  let note: string | null = null;
  if (tokenizer.vocabSize !== model.vocabSize) {
    if (tokenizer.kind !== 'gpt2' || tokenizer.vocabSize > model.vocabSize) {
      throw new Error(`${source}: model_args vocab_size is ${model.vocabSize}, but its tokenizer (${tokenizer.kind}) has ${tokenizer.vocabSize} tokens`);
    }
    note = `vocab_size ${model.vocabSize} is GPT-2's ${tokenizer.vocabSize} padded (nanoGPT pads it for speed); the ${model.vocabSize - tokenizer.vocabSize} padded rows, ids no text encodes to, are dropped`;
    model = { ...model, vocabSize: tokenizer.vocabSize };
  }
  return { meta: { format: CHECKPOINT_FORMAT, model, tokenizer: tokenizer.toJSON(), ...(file.val !== null && { val: file.val }) }, note };
}

/** A weight's shape as the checkpoint holds it: the token embedding's rows cut to `vocabSize` (nanoGptMeta's). */
export const nanoGptShape = (name: string, shape: readonly number[], vocabSize: number): number[] => (name === EMBEDDING ? [Math.min(vocabSize, shape[0]!), ...shape.slice(1)] : [...shape]);

/**
 * The checkpoint file nanoGptCheckpoint's checkpoint of `file` with `meta` (nanoGptMeta's) encodes
 * to (checkpointBytes'), laid out from the state dict's header: each weight is read when its bytes
 * are asked for, so a server sending it (gpt serve) holds one tensor, not the model. Its values are
 * those nanoGptCheckpoint checked: the caller checks them first.
 */
export function nanoGptCheckpointLayout(file: NanoGptFile, meta: CheckpointMeta): PendingSafetensorsLayout {
  const weights = file.weights.entries.filter((e) => !MASK_BUFFER.test(e.name) && e.name !== HEAD);
  const tensors = weights.map((entry) => {
    const shape = nanoGptShape(entry.name, entry.shape, meta.model.vocabSize);
    const read = async () => (await file.weights.readTensor(entry)).data.subarray(0, shape.reduce((a, b) => a * b, 1));
    return { name: entry.name, dtype: 'F32' as const, shape, read };
  });
  return layoutPendingSafetensors(tensors, checkpointMetadata(meta));
}

/**
 * The checkpoint of nanoGPT's file, its weights `tensors` (all of file.weights, read) and its
 * `tokenizer`, with nanoGptMeta's metadata and note. The tied head is checked to be the token
 * embedding; the mask buffers are dropped.
 */
export function nanoGptCheckpoint(file: NanoGptFile, tensors: Record<string, { shape: number[]; data: ArrayLike<number> }>, tokenizer: Tokenizer, source: string): { ckpt: Checkpoint; note: string | null } {
  const { meta, note } = nanoGptMeta(file, tokenizer, source);
  const weights = new Map<string, CheckpointWeight>();
  for (const [name, t] of Object.entries(tensors)) {
    if (MASK_BUFFER.test(name) || name === HEAD) continue;
    if (!(t.data instanceof Float32Array)) throw new Error(`${source}['model']: tensor '${name}' is not a float tensor`);
    const shape = nanoGptShape(name, t.shape, meta.model.vocabSize);
    weights.set(name, { shape, data: t.data.subarray(0, shape.reduce((a, b) => a * b, 1)) });
  }
  const problem = nonFiniteProblem([...weights]);
  if (problem) throw new Error(`${source}: ${problem}`);
  const head = tensors[HEAD];
  const wte = tensors[EMBEDDING];
  if (head && wte && !(head.data.length === wte.data.length && Array.prototype.every.call(wte.data, (x, i) => x === head.data[i]))) {
    throw new Error(`${source}['model']: ${HEAD} differs from transformer.${EMBEDDING}; only a head tied to the token embedding (nanoGPT's) is supported`);
  }
  const disagreement = configWeightsProblem(meta.model, weights, modelArgName, `${source}['model']`);
  if (disagreement) throw new Error(`${source}: model_args: ${disagreement}`);
  return { ckpt: { meta, weights, source }, note: note && `${source}: ${note}` };
}

/**
 * nanoGptCheckpoint of `file` with `tokenizer`, its weights read only once `check` has passed
 * nanoGptMeta's metadata, which the pickle gives before the storages: a model past the adapter
 * (refuseModelPastAdapter) is refused before a weight is read, not after all of them were.
 */
export async function readNanoGpt(file: NanoGptFile, tokenizer: Tokenizer, source: string, check: (meta: CheckpointMeta) => void): Promise<{ ckpt: Checkpoint; note: string | null }> {
  check(nanoGptMeta(file, tokenizer, source).meta);
  return nanoGptCheckpoint(file, await file.weights.readTensors(), tokenizer, source);
}

/** Where nanoGPT's tokenizer was looked for, and how to give it, for nanoGptTokenizerOf's errors. */
export interface NanoGptTokenizerHelp {
  /** Where meta.pkl was looked for ("no meta.pkl (looked for ...)"). */
  looked: string;
  /** How to give a character model its meta.pkl. */
  giveMeta: string;
  /** How to give GPT-2's vocabulary, where none is at hand. */
  giveGpt2: string;
}

/**
 * The tokenizer of nanoGPT's file as its sample.py picks it: meta.pkl's vocabulary (`meta`: its
 * bytes and where they came from) where there is one, else GPT-2's (`gpt2` gives it, or null where
 * none is at hand), which only a vocab_size of at least GPT-2's can be; else an error saying
 * `help`'s where and how. Node looks for meta.pkl as sample.py does; the page takes the files picked.
 */
export async function nanoGptTokenizerOf(file: NanoGptFile, source: string, meta: { bytes: Uint8Array; path: string } | null, gpt2: () => Promise<Tokenizer | null>, help: NanoGptTokenizerHelp): Promise<Tokenizer> {
  if (meta) return nanoGptMetaTokenizer(meta.bytes, meta.path);
  if (file.model.vocabSize < GPT2_VOCAB) {
    throw new Error(`${source}: ${help.looked}, and vocab_size ${file.model.vocabSize} is not GPT-2's: a character model's vocabulary is its dataset's meta.pkl; ${help.giveMeta}`);
  }
  const tokenizer = await gpt2();
  if (!tokenizer) throw new Error(`${source}: ${help.looked}, so its tokenizer is GPT-2's, as nanoGPT's sample.py assumes, ${help.giveGpt2}`);
  return tokenizer;
}

/** The character vocabulary of nanoGPT's meta.pkl ({ vocab_size, itos, stoi }, as its shakespeare_char writes); `path` names it in errors. */
export function nanoGptMetaTokenizer(bytes: Uint8Array, path: string): CharTokenizer {
  const meta = parsePickle(bytes, path);
  const itos = meta instanceof Map ? meta.get('itos') : undefined;
  if (!(itos instanceof Map)) throw new Error(`${path}: expected a dict with "itos" (id -> character), as nanoGPT's shakespeare_char writes`);
  const chars = Array.from({ length: itos.size }, (_, id) => itos.get(id));
  const bad = chars.findIndex((ch) => typeof ch !== 'string');
  if (bad >= 0) throw new Error(`${path}: "itos" must map each id 0..${itos.size - 1} to a character; id ${bad} maps to ${show(chars[bad] ?? null)}`);
  try {
    return new CharTokenizer(chars as string[]);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}
