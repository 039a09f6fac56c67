// A Hugging Face GPT-2 model as our checkpoint, and our GPT as one: the pair of files `config.json`
// + `model.safetensors` that transformers' GPT2LMHeadModel saves and loads (the hub's gpt2,
// gpt2-medium, ... and their fine-tunes), or config.json + the shards a model.safetensors.index.json
// names (src/gpt/hf/shards.ts); read also from torch.save's pytorch_model.bin (or the shards of
// pytorch_model.bin.index.json), which older saves and many fine-tunes hold instead. Platform free: bytes or read tensors in, bytes out; webgpu-gpt/node
// reads and writes the directory.
import { parseJSONText } from '../../io/json-text.js';
import { parseSafetensors, readPendingTensors, serializeSafetensors, type PendingTensor } from '../../io/safetensors.js';
import { openSafetensors, type ByteSource, type SafetensorsReader } from '../../io/safetensors-source.js';
import { openTorchFile, torchStateDictReader } from '../../io/torch-file.js';
import { assertWeightsReadable, CHECKPOINT_FORMAT, CHECKPOINT_KEY, configWeightsProblem, refusingNonFinite, type Checkpoint, type CheckpointMeta } from '../checkpoint.js';
import { GPT, type GPTConfig } from '../model.js';
import { describeValue } from '../../tensor/check.js';
import { BpeTokenizer, Gpt2Tokenizer, gpt2FromVocabFiles, tokenizerFromHuggingFace, tokenizerFromJSON, toHuggingFaceJSON, type Tokenizer } from '../tokenizer/index.js';
import { gptConfigFromHF, hfConfigFromGPT, HF_NAMES } from './config.js';
import { EMBEDDING, firstRows, gpt2ShapeProblem, hfWeightShape, isMaskBuffer, unprefixed, weightsFromHF, weightsToHF, type HFWeightsFile, type PendingParam } from './weights.js';
import { parseShardIndex, shardIndexProblem, type ShardIndex } from './shards.js';

export { gptConfigFromHF, hfConfigFromGPT, hfLayoutProblem } from './config.js';
export { isMaskBuffer, type HFWeightsFile } from './weights.js';
export { parseShardIndex, shardIndexProblem, type ShardIndex } from './shards.js';

/** The file names of a Hugging Face model directory. */
export const HF_FILES = {
  config: 'config.json', weights: 'model.safetensors', index: 'model.safetensors.index.json',
  tokenizer: 'tokenizer.json', vocab: 'vocab.json', merges: 'merges.txt',
  torchWeights: 'pytorch_model.bin', torchIndex: 'pytorch_model.bin.index.json',
} as const;

/** A model directory's weights files in transformers' order of preference: a single file, else the shards its index names. */
export const HF_WEIGHTS_FORMS = [
  { single: HF_FILES.weights, index: HF_FILES.index },
  { single: HF_FILES.torchWeights, index: HF_FILES.torchIndex },
] as const;

/** The files a model directory's weights are found by (HF_WEIGHTS_FORMS': each single file and each index), in that order. */
export const HF_WEIGHTS_NAMES: readonly string[] = HF_WEIGHTS_FORMS.flatMap(({ single, index }) => [single, index]);

/**
 * Which weights files of a model directory are read, in transformers' order (HF_WEIGHTS_FORMS):
 * model.safetensors if it has one, else the shards its index names, else pytorch_model.bin, else
 * the shards of pytorch_model.bin.index.json; null where it has none. `has`: whether it has a file;
 * `text`: an index's text, null where it has none; `at`: a file's name in errors. For a directory
 * on disk and a repo on the hub alike.
 */
export async function hfWeightsFiles(has: (file: string) => boolean | Promise<boolean>, text: (file: string) => Promise<string | null>, at: (file: string) => string): Promise<{ weights: string[]; index: ShardIndex | null } | null> {
  for (const { single, index } of HF_WEIGHTS_FORMS) {
    if (await has(single)) return { weights: [single], index: null };
    const json = await text(index);
    if (json === null) continue;
    const weightMap = parseShardIndex(json, at(index));
    return { weights: [...new Set(weightMap.values())], index: { file: index, weightMap } };
  }
  return null;
}

/** Whether a weights file of a model directory is torch.save's (pytorch_model.bin, its shards pytorch_model-00001-of-00002.bin) rather than safetensors. */
export const isTorchWeights = (file: string) => file.endsWith('.bin');

/**
 * A weights file of a GPT-2 model (`file`: its name in the directory), its header read: a
 * safetensors file, or torch.save's state dict (isTorchWeights), its pickle read and each tensor
 * read when asked for, as a safetensors file's.
 */
async function openHFWeightsFile(source: ByteSource, file: string): Promise<SafetensorsReader> {
  if (!isTorchWeights(file)) return openSafetensors(source);
  const torch = await openTorchFile(source, file);
  return torchStateDictReader(torch, torch.root, file);
}

/** Where our tokenizer travels in an exported model.safetensors's metadata (transformers ignores it). */
const TOKENIZER_KEY = 'webgpu_gpt_tokenizer';

/** A Hugging Face model's tokenizer files: tokenizer.json's text, or GPT-2's own pair (older saves have only these). */
export interface HFTokenizerFiles {
  tokenizer?: string;
  vocab?: string;
  merges?: string;
}

/** A Hugging Face GPT-2 model's files: config.json's text, model.safetensors's bytes, and its tokenizer files' texts. */
export interface HFModelFiles extends HFTokenizerFiles {
  config: string;
  weights: Uint8Array;
}

/**
 * Our GPT as GPT-2's files. The tokenizer, when given, is kept exactly in the weights' metadata (so
 * that the directory samples here too, whatever its kind) and, when it has a Hugging Face form
 * (GPT-2's, byte-level BPE), also written as tokenizer.json. A model without biases gets zero ones:
 * GPT-2 has them everywhere.
 */
export async function encodeHF(model: GPT, tokenizer?: Tokenizer): Promise<HFModelFiles> {
  const { weights, ...files } = pendingHF(model, tokenizer, 'encodeHF');
  return { ...files, weights: serializeSafetensors(await readPendingTensors(weights.tensors), weights.metadata) };
}

/**
 * encodeHF's files, model.safetensors's tensors not yet read: each is read back from the GPU when
 * its turn comes, so a writer streaming them (streamSafetensors) holds one at a time (gpt2-xl's
 * 6.2 GB are never on the host). The model must not change until the last is read. A tensor that
 * is not finite is refused when it is read.
 */
export function pendingHF(model: GPT, tokenizer?: Tokenizer, op = 'pendingHF'): Omit<HFModelFiles, 'weights'> & { weights: { tensors: PendingTensor[]; metadata: Record<string, string> } } {
  if (!(model instanceof GPT)) throw new TypeError(`${op}: argument 'model' must be a GPT, got ${describeValue(model)}`);
  if (model.config.quantization) {
    throw new Error(`a quantized (${model.config.quantization}) model has no Hugging Face GPT-2 form; export the float32 checkpoint it was made from`);
  }
  model.checkAdapters(op); // one the config does not record, GPT-2's layout would leave out
  if (model.config.lora) throw new Error(`${op}: a model with LoRA adapters has no Hugging Face GPT-2 form until they are merged into its weights (model.mergeLoRA(); gpt export does it)`);
  assertWeightsReadable();
  const params = new Map<string, PendingParam>();
  // GPT-2's layout has no shared layers: a model with shareLayers is written expanded, each layer
  // with its group's weights (the same function; transformers loads it as an ordinary GPT-2)
  for (const [name, p] of model.layerParameters()) params.set(name, { shape: p.shape, read: async () => (await p.toArray()) as Float32Array });
  // transformers refuses a safetensors file whose metadata lacks format 'pt'
  const metadata = { format: 'pt', ...(tokenizer && { [TOKENIZER_KEY]: JSON.stringify(tokenizer.toJSON()) }) };
  const hasHFForm = tokenizer instanceof Gpt2Tokenizer || tokenizer instanceof BpeTokenizer;
  const endOfText = tokenizer instanceof Gpt2Tokenizer ? (tokenizer.specialId('<|endoftext|>') ?? null) : null;
  return {
    config: JSON.stringify(hfConfigFromGPT(model.config, endOfText), null, 2) + '\n',
    // NaN or Inf (a diverged model): refused as our checkpoint saves and every load of ours refuse them
    weights: { tensors: weightsToHF(params).map(refusingNonFinite(`${op}: model not written`)), metadata },
    ...(hasHFForm && { tokenizer: JSON.stringify(toHuggingFaceJSON(tokenizer)) }),
  };
}

/**
 * A Hugging Face GPT-2 model as a checkpoint without training state (for sampling, evaluating,
 * fine-tuning). Its tokenizer: the one encodeHF kept in the weights' metadata, else tokenizer.json.
 * `source` names the directory in errors.
 */
export function decodeHF(files: HFModelFiles, source = 'model'): Checkpoint {
  const model = hfModelConfig(files.config, source);
  let parsed;
  try {
    parsed = parseSafetensors(files.weights);
  } catch (e) {
    throw unreadableWeights(source, e);
  }
  return hfCheckpoint(model, [{ file: HF_FILES.weights, ...parsed }], files, source);
}

/** One weights file of a GPT-2 model to read a tensor at a time: its name in the model's directory (model.safetensors, a shard, pytorch_model.bin: isTorchWeights), and its bytes. */
export interface HFWeightsSource {
  file: string;
  source: ByteSource;
}

/** One weights file of a GPT-2 model, its header read: model.safetensors, or a shard. */
export interface HFWeightsReader {
  /** Its name in the model's directory (for errors). */
  file: string;
  reader: SafetensorsReader;
}

/** A Hugging Face GPT-2 model's files with its weights to read a tensor at a time (a browser File's slices, a URL's ranges): never in one buffer. */
export interface HFModelSources extends HFTokenizerFiles {
  config: string;
  /** Its weights files in order: model.safetensors (or pytorch_model.bin) alone, or every shard its index names. */
  weights: HFWeightsSource[];
  /** A sharded model's index (hfWeightsFiles'), checked against the shards' headers. */
  index?: ShardIndex;
}

/**
 * The weights files of `files`, their headers read and a sharded model's index checked against
 * them, before any tensor is read (a shard of another save costs none of its tensors).
 */
export async function openHFWeights(files: HFModelSources, source: string): Promise<HFWeightsReader[]> {
  const opened: HFWeightsReader[] = [];
  for (const { file, source: bytes } of files.weights) {
    opened.push({ file, reader: await openHFWeightsFile(bytes, file).catch((e: unknown) => Promise.reject(unreadableWeights(source, e, file))) });
  }
  const problem = files.index && shardIndexProblem(files.index.weightMap, opened);
  if (problem) throw new Error(`${source}/${files.index!.file}: ${problem}`);
  return opened;
}

/** decodeHF of files whose weights are read a tensor at a time, their causal-mask buffers left unread. */
export async function readHF(files: HFModelSources, source = 'model'): Promise<Checkpoint> {
  const model = hfModelConfig(files.config, source);
  const read: HFWeightsFile[] = [];
  for (const { file, reader } of await openHFWeights(files, source)) {
    const tensors = await reader.readTensors((name) => !isMaskBuffer(name)).catch((e: unknown) => Promise.reject(unreadableWeights(source, e, file)));
    read.push({ file, tensors, metadata: reader.metadata });
  }
  return hfCheckpoint(model, read, files, source);
}

/** A weights file of the model in `source` that could not be read, as readHF says it. */
export const unreadableWeights = (source: string, cause: unknown, file: string = HF_FILES.weights) =>
  // a torch.save file's errors begin with its name
  new Error(isTorchWeights(file) ? `${source}/${(cause as Error).message}` : `${source}/${file}: not a readable safetensors file (${(cause as Error).message})`);

/** Our model config from the text of the config.json in `source` (read first: a refused model's weights need not be). */
export function hfModelConfig(text: string, source: string): GPTConfig {
  const at = `${source}/${HF_FILES.config}`;
  const json = parseJSONText(text, (why) => {
    throw new Error(`${at}: ${why}`);
  });
  return gptConfigFromHF(json, at);
}

/**
 * The checkpoint of a GPT-2 model of config `model` (hfModelConfig's) whose weights were read from
 * `files` (model.safetensors, or every shard of a sharded model). Its tokenizer: the one encodeHF
 * kept in the weights' metadata, else tokenizer.json, else vocab.json + merges.txt. `source` names
 * the directory in errors.
 */
function hfCheckpoint(model: GPTConfig, files: HFWeightsFile[], tokenizerFiles: HFTokenizerFiles, source: string): Checkpoint {
  refuseOurs(files, source);
  const weights = weightsFromHF(files, (file) => `${source}/${file}`);
  const fileOf = (name: string) => files.find((f) => Object.keys(f.tensors).some((saved) => unprefixed(saved) === name))!.file;
  const meta = hfCheckpointMeta(model, weights, files, tokenizerFiles, source, fileOf);
  weights.set(EMBEDDING, firstRows(weights.get(EMBEDDING)!, meta.model.vocabSize)); // a padded vocabulary's cut (hfTokenizerAndModel's)
  return { meta, weights, source };
}

/** Throws where one of a model's weights files is a checkpoint of ours (its names are GPT-2's without the prefix: loading would fail only on the tensors it has more or less). */
export function refuseOurs(files: Pick<HFWeightsFile, 'file' | 'metadata'>[], source: string): void {
  const ours = files.find((f) => f.metadata[CHECKPOINT_KEY] !== undefined);
  if (ours) throw new Error(`${source}/${ours.file}: a webgpu-gpt checkpoint, not a Hugging Face model's weights: load it on its own, without ${HF_FILES.config}`);
}

/**
 * The metadata of hfCheckpoint's checkpoint, from what it checks after the weights themselves:
 * their shapes (weightsFromHF's) against config.json `model`, each weight's naming the file that
 * holds it (`fileOf` a weight's name: a shard's, where there are several), and the tokenizer
 * against both.
 */
export function hfCheckpointMeta(model: GPTConfig, weights: Map<string, { shape: number[] }>, files: Pick<HFWeightsFile, 'file' | 'metadata'>[], tokenizerFiles: HFTokenizerFiles, source: string, fileOf: (name: string) => string): CheckpointMeta {
  const stored = files.length === 1 ? files[0]!.file : `the shards of ${HF_FILES.index}`;
  const disagreement = configWeightsProblem(model, weights, (k) => HF_NAMES[k] ?? k, stored);
  if (disagreement) throw new Error(`${source}/${HF_FILES.config}: ${disagreement}`);
  const misshapen = gpt2ShapeProblem(model, weights);
  if (misshapen) {
    // as the file holds it: a Conv1D weight [in, out]
    const { name, want } = misshapen;
    const [has, wants] = [hfWeightShape(name, weights.get(name)!.shape), hfWeightShape(name, want)];
    const inner = model.mlpWidths ? ` and n_inner ${model.mlpWidths[0]}` : '';
    throw new Error(`${source}/${fileOf(name)}: GPT-2's ${name} has shape [${has.join(', ')}], where ${HF_FILES.config}'s n_embd ${model.nEmbd}${inner} gives it [${wants.join(', ')}]`);
  }
  const { tokenizer, model: loaded } = hfTokenizerAndModel(files, tokenizerFiles, source, model);
  return { format: CHECKPOINT_FORMAT, model: loaded, tokenizer: tokenizer.toJSON() };
}

/**
 * A GPT-2 model's tokenizer (hfTokenizer's) and the model config.json's `model` makes with it:
 * where vocab_size is larger than the tokenizer's vocabulary (padded for speed, 50304 for 50257, or
 * resize_token_embeddings' pad_to_multiple_of past a fine-tune's added tokens), cut to it, as
 * nanoGPT's padded vocabulary is (hfVocabNote says so): the rows past it are ids no text encodes to
 * and no token decodes, so sampling can never draw one; the logits of the others are transformers'.
 * Refused: a tokenizer with more tokens than the model has rows (transformers' embedding would fail
 * on those ids); a cut where the tokenizer is vocab.json + merges.txt, which list no added tokens
 * (the rows past them may be a fine-tune's added tokens, in added_tokens.json, which is not read);
 * any disagreement where the token embedding has `embeddingRows` (where the caller has not checked
 * them against config.json) other than vocab_size.
 */
export function hfTokenizerAndModel(files: Pick<HFWeightsFile, 'file' | 'metadata'>[], tokenizerFiles: HFTokenizerFiles, source: string, model: GPTConfig, embeddingRows = model.vocabSize): { tokenizer: Tokenizer; model: GPTConfig } {
  const tokenizer = hfTokenizer(files, tokenizerFiles, source);
  const disagree = () => new Error(`${source}: the tokenizer has ${tokenizer.vocabSize} tokens, ${HF_FILES.config} says vocab_size ${model.vocabSize}`);
  if (tokenizer.vocabSize === model.vocabSize) return { tokenizer, model };
  if (tokenizer.vocabSize > model.vocabSize || embeddingRows !== model.vocabSize) throw disagree();
  if (keptTokenizer(files) === undefined && tokenizerFiles.tokenizer === undefined) {
    throw new Error(`${disagree().message}, and ${HF_FILES.vocab} + ${HF_FILES.merges} list no added tokens that may be the rows past them: save the tokenizer as ${HF_FILES.tokenizer} (transformers' AutoTokenizer.from_pretrained(DIR).save_pretrained(DIR))`);
  }
  return { tokenizer, model: { ...model, vocabSize: tokenizer.vocabSize } };
}

/** What loading did to config.json's `model` to make `loaded` (hfTokenizerAndModel's cut), in a line for a warning; null where nothing. */
export function hfVocabNote(model: GPTConfig, loaded: GPTConfig): string | null {
  const cut = model.vocabSize - loaded.vocabSize;
  if (!cut) return null;
  return `${HF_FILES.config}: vocab_size ${model.vocabSize} is ${cut} more than the tokenizer's ${loaded.vocabSize} tokens (padding: no text encodes to those ids); the ${cut} rows past them are dropped`;
}

/** A GPT-2 model's tokenizer: the one encodeHF kept in a weights file's metadata, else tokenizer.json, else vocab.json + merges.txt. */
export function hfTokenizer(files: Pick<HFWeightsFile, 'file' | 'metadata'>[], tokenizerFiles: HFTokenizerFiles, source: string): Tokenizer {
  const kept = keptTokenizer(files);
  return tokenizerOf(kept && { file: kept.file, json: kept.metadata[TOKENIZER_KEY]! }, tokenizerFiles, source);
}

/** The weights file whose metadata keeps our tokenizer (encodeHF's), if any. */
const keptTokenizer = (files: Pick<HFWeightsFile, 'file' | 'metadata'>[]) => files.find((f) => f.metadata[TOKENIZER_KEY] !== undefined);

function tokenizerOf(kept: { file: string; json: string } | undefined, { tokenizer, vocab, merges }: HFTokenizerFiles, source: string): Tokenizer {
  const [where, read] =
    kept !== undefined ? [`${kept.file} (metadata ${TOKENIZER_KEY})`, () => tokenizerFromJSON(kept.json)]
    : tokenizer !== undefined ? [HF_FILES.tokenizer, () => tokenizerFromHuggingFace(tokenizer)]
    : vocab !== undefined && merges !== undefined ? [`${HF_FILES.vocab} + ${HF_FILES.merges}`, () => gpt2FromVocabFiles(vocab, merges)]
    : [];
  if (!read) throw new Error(`${source}: no ${HF_FILES.tokenizer}, nor ${HF_FILES.vocab} with ${HF_FILES.merges} (the model's tokenizer)`);
  try {
    return read();
  } catch (e) {
    throw new Error(`${source}/${where}: ${(e as Error).message}`);
  }
}
