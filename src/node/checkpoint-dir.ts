// Checkpoints on disk (Node only): a directory written atomically (src/node/checkpoint-files.ts), as
// `gpt train` writes them, a bare .safetensors file (e.g. one saved by the browser page), or a
// Hugging Face GPT-2 directory (config.json + model.safetensors, or its shards, or torch.save's
// pytorch_model.bin or its shards; src/gpt/hf), read and written.
import { checkCheckpoint, checkpointPieces, readCheckpoint, type Checkpoint, type CheckpointExtras, type CheckpointMeta } from '../gpt/checkpoint.js';
import { disposeUploaded, readCheckpointModel, refuseModelPastAdapter, uploadedCheckpoint, type LoadOptions, type UploadedCheckpoint } from '../gpt/checkpoint-upload.js';
import { HF_FILES, hfModelConfig, hfVocabNote, pendingHF, readHF, type HFModelSources } from '../gpt/hf/index.js';
import { readHFModel } from '../gpt/hf/upload.js';
import type { GPT } from '../gpt/model.js';
import type { Tokenizer } from '../gpt/tokenizer/index.js';
import { replaceFileSet } from './atomic-file.js';
import { layoutSafetensors, safetensorsPieces, streamSafetensors, type Safetensors } from '../io/safetensors.js';
import { manifestHeld, MANIFEST_FILE, readCheckpointWeights, writeCheckpointFiles } from './checkpoint-files.js';
import { withHFDirectory } from './hf-weights-files.js';
import { makeDirectories, removeEmptyCreated, type PositionalFile } from './regular-files.js';
import { byCheckpointKind } from './checkpoint-kind.js';
import { hubOrPath } from './hub-cache.js';
import { loadNanoGptCheckpoint } from './nanogpt-file.js';
import { handleSource } from './safetensors-file.js';

/**
 * Saves `model` with its tokenizer (and optionally optimizer state and training progress) as a
 * checkpoint directory; returns the size of the weights file. Atomic: a process killed mid-save
 * leaves the previous checkpoint loadable. The host holds one tensor at a time (not 1.5 GB for a
 * GPT-2 124M run with its moments): the model and optimizer must not change until it returns.
 */
export async function saveCheckpoint(dir: string, model: GPT, tokenizer: Tokenizer, extra: CheckpointExtras = {}): Promise<number> {
  const pieces = checkpointPieces(model, tokenizer, extra); // each tensor read back from the GPU as it is written
  const meta = { step: extra.trainer?.step, val: extra.val ?? extra.bestVal, run: extra.run, model: model.config };
  return (await writeCheckpointFiles(dir, pieces, meta)).weightsBytes;
}

/**
 * Writes tensors already on the host and metadata (checkpointSafetensors', or a checkpoint made by
 * hand: tests and tools; saveCheckpoint streams a model's instead) as the checkpoint directory
 * `dir`, with `meta` in its manifest; returns the size of the weights file.
 * The file is encoded a tensor at a time, as encodeCheckpoint's bytes would be: a checkpoint of
 * any size is written without holding all its bytes at once.
 */
export async function writeCheckpointTensors(dir: string, { tensors, metadata }: Safetensors, meta: Record<string, unknown>): Promise<number> {
  const { weightsBytes } = await writeCheckpointFiles(dir, safetensorsPieces(layoutSafetensors(tensors, metadata)), meta);
  return weightsBytes;
}

/**
 * Reads a checkpoint directory (its current weights, checksum-checked), a bare .safetensors
 * checkpoint file, nanoGPT's ckpt.pt (src/node/nanogpt-file.ts), or a Hugging Face GPT-2 directory
 * (the last two as a checkpoint without training state). A path that does not exist but is a
 * Hugging Face model id (`gpt2`, `openai-community/gpt2@main`) is fetched into the hub's cache
 * (src/node/hub-cache.ts: HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE as huggingface_hub
 * reads them) and read from there.
 */
export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  return readCheckpointAt(await hubOrPath(path));
}

/** loadCheckpoint of a path only: never a model id looked up on the hub. */
export function readCheckpointAt(path: string): Promise<Checkpoint> {
  return byCheckpointKind(path, {
    file: (handle) => readCheckpointFrom(handle, path),
    torch: (handle) => loadNanoGptCheckpoint(handle, path),
    hf: () => loadHFModel(path),
    // read once, checksummed as read: a damaged file is refused before any of it is returned
    run: () => readCheckpointWeights(path, (weights) => readCheckpointFrom(weights, path)),
  });
}

/**
 * The model of the checkpoint loadCheckpoint reads, made as `opts` ask (modelFromCheckpoint's), its
 * tensors uploaded to the GPU as they are read, AdamW's moments too (the caller's to free:
 * disposeUploaded): the host holds one tensor at a time, not the file (1.5 GB for a GPT-2 124M run
 * with its moments). Refused, damaged or checksummed wrong, it fails with loadCheckpoint's error,
 * leaving nothing on the GPU. A Hugging Face directory's weights too, each converted as read, its
 * shards in order (gpt2-xl's 6 GB are never on the host).
 */
export function loadCheckpointModel(path: string, opts: LoadOptions = {}): Promise<UploadedCheckpoint> {
  const upload = async (handle: PositionalFile) => readCheckpointModel(await handleSource(handle), path, opts);
  return byCheckpointKind(path, {
    file: upload,
    // nanoGPT's models are small: read to the host, then uploaded; one past the adapter refused from its pickle, before a weight is read
    torch: async (handle) => uploadedCheckpoint(await loadNanoGptCheckpoint(handle, path, (meta) => refuseModelPastAdapter(meta, opts, path)), opts),
    hf: () => withHFDirectory(path, async (files) => noteVocabCut(files, path, await readHFModel(files, path, opts), (loaded) => loaded.ckpt.meta)),
    // read once, checksummed as read: a model made of a damaged file is freed before it is returned
    run: () => readCheckpointWeights(path, upload, { discard: disposeUploaded }),
  });
}

/**
 * loadCheckpoint's checks of the checkpoint at `path` and its errors, each tensor dropped once
 * checked (gpt serve checks one so before serving it); its metadata. A Hugging Face directory is
 * read as loadCheckpoint reads it.
 */
export function checkCheckpointAt(path: string): Promise<CheckpointMeta> {
  const check = async (handle: PositionalFile) => checkCheckpoint(await handleSource(handle), path);
  return byCheckpointKind(path, {
    file: check,
    torch: async (handle) => (await loadNanoGptCheckpoint(handle, path)).meta,
    hf: async () => (await loadHFModel(path)).meta,
    run: () => readCheckpointWeights(path, check),
  });
}

/** The checkpoint in an open safetensors file, read a tensor at a time (readCheckpoint: a checkpoint past 2 GiB cannot be read at once). */
const readCheckpointFrom = async (handle: PositionalFile, source: string): Promise<Checkpoint> => readCheckpoint(await handleSource(handle), source);

/**
 * Reads a Hugging Face GPT-2 directory: config.json (first: a refused model's weights are not
 * read), model.safetensors or the shards model.safetensors.index.json names (else
 * pytorch_model.bin or its shards), and tokenizer.json or vocab.json + merges.txt. The weights are
 * read a tensor at a time: gpt2-large's and gpt2-xl's files are past the 2 GiB Node reads at once.
 */
const loadHFModel = (dir: string): Promise<Checkpoint> => withHFDirectory(dir, async (files) => noteVocabCut(files, dir, await readHF(files, dir), (ckpt) => ckpt.meta));

/** `loaded`, of the Hugging Face directory `dir` of `files`, once a warning says where loading cut config.json's vocabulary (hfVocabNote). */
function noteVocabCut<T>(files: HFModelSources, dir: string, loaded: T, meta: (loaded: T) => CheckpointMeta): T {
  const note = hfVocabNote(hfModelConfig(files.config, dir), meta(loaded).model);
  if (note) process.emitWarning(`${dir}/${note}`);
  return loaded;
}

/** Why a Hugging Face export cannot go into a run's directory (isHFDirectory: the manifest decides what a directory holds). */
export const HOLDS_RUN = `holds a training run's checkpoint (${MANIFEST_FILE}), which every reader here would take instead of the export`;

/**
 * Saves `model` as a Hugging Face GPT-2 directory (config.json + model.safetensors, and
 * tokenizer.json for a tokenizer that has that form) that transformers' GPT2LMHeadModel loads and
 * loadCheckpoint reads back (encodeHF says where the tokenizer goes). Each file is written
 * atomically, the weights first and the config last; a tokenizer.json already there is replaced,
 * or removed where the tokenizer has no such form, and a vocab.json + merges.txt there removed. Refused while the weights are written (a NaN,
 * a full disk), it leaves the directory as it was, and none it created. A directory holding a
 * training run's checkpoint is refused: its manifest would hide the export from every reader here.
 */
export async function saveHFModel(dir: string, model: GPT, tokenizer?: Tokenizer): Promise<void> {
  const files = pendingHF(model, tokenizer, 'saveHFModel');
  if (await manifestHeld(dir)) throw new Error(`saveHFModel: ${dir} ${HOLDS_RUN}: save into another directory`);
  const created = await makeDirectories(dir);
  try {
    // a tensor at a time, each read back from the GPU as it is written: gpt2-xl's 6.2 GB are never on the host;
    // config.json last: an earlier export's tokenizer.json is never read with these weights (deleted where there is none),
    // nor a download's vocab.json + merges.txt, which transformers' tokenizers read where tokenizer.json is absent (or not used)
    const weights = { name: HF_FILES.weights, data: streamSafetensors(files.weights.tensors, files.weights.metadata) };
    const tokenizerFiles = [{ name: HF_FILES.tokenizer, data: files.tokenizer ?? null }, { name: HF_FILES.vocab, data: null }, { name: HF_FILES.merges, data: null }];
    await replaceFileSet(dir, weights, [...tokenizerFiles, { name: HF_FILES.config, data: files.config }]);
  } catch (e) {
    removeEmptyCreated(created);
    throw e;
  }
}
