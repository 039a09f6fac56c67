// Checkpoints on disk (Node only): a directory written atomically (src/io/checkpoint-files.ts), as
// `gpt train` writes them, a bare .safetensors file (e.g. one saved by the browser page), or a
// Hugging Face GPT-2 directory (config.json + model.safetensors; src/gpt/hf), read and written.
import { stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint, type CheckpointExtras } from '../gpt/checkpoint.js';
import { decodeHF, encodeHF, HF_FILES } from '../gpt/hf/index.js';
import type { GPT } from '../gpt/model.js';
import type { Tokenizer } from '../gpt/tokenizer/index.js';
import { writeFilesAtomic } from '../io/atomic-file.js';
import { MANIFEST_FILE, readCheckpointFiles, writeCheckpointFiles } from '../io/checkpoint-files.js';
import { makeDirectories, readRegularFile, unlessMissing } from '../io/regular-files.js';

/**
 * Saves `model` with its tokenizer (and optionally optimizer state and training progress) as a
 * checkpoint directory; returns the size of the weights file. Atomic: a process killed mid-save
 * leaves the previous checkpoint loadable.
 */
export async function saveCheckpoint(dir: string, model: GPT, tokenizer: Tokenizer, extra: CheckpointExtras = {}): Promise<number> {
  const bytes = await encodeCheckpoint(model, tokenizer, extra);
  await writeCheckpointFiles(dir, bytes, { step: extra.trainer?.step, val: extra.val ?? extra.bestVal, run: extra.run, model: model.config });
  return bytes.length;
}

/**
 * Reads a checkpoint directory (its current weights, checksum-checked), a bare .safetensors
 * checkpoint file, or a Hugging Face GPT-2 directory (as a checkpoint without training state).
 */
export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch {
    throw new Error(`no checkpoint at ${path}`);
  }
  if (!isDir) {
    if (basename(path) === MANIFEST_FILE) throw new Error(`${path} is the manifest of the checkpoint in ${dirname(path)}: give the directory`);
    return decodeCheckpoint(new Uint8Array(await readRegularFile(path)), path);
  }
  // a run's directory may hold a config.json of flags too: its manifest decides
  const isHF = !(await exists(join(path, MANIFEST_FILE))) && (await exists(join(path, HF_FILES.config)));
  if (isHF) return loadHFModel(path);
  const { weights } = await readCheckpointFiles(path);
  return decodeCheckpoint(weights, path);
}

const exists = async (path: string) => (await unlessMissing(stat(path))) !== null;

/** Reads a Hugging Face GPT-2 directory: config.json + model.safetensors, and tokenizer.json when there is one. */
async function loadHFModel(dir: string): Promise<Checkpoint> {
  const read = (file: string) => unlessMissing(readRegularFile(join(dir, file)));
  const required = async (file: string) => {
    const bytes = await read(file);
    if (!bytes) throw new Error(`${dir}: no ${file} (a GPT-2 model directory holds ${HF_FILES.config} and ${HF_FILES.weights})`);
    return bytes;
  };
  const config = (await required(HF_FILES.config)).toString('utf8');
  // the Buffer is parsed in place: GPT-2's weights are not copied once more
  const weights = await required(HF_FILES.weights);
  const tokenizer = (await read(HF_FILES.tokenizer))?.toString('utf8');
  return decodeHF({ config, weights, ...(tokenizer !== undefined && { tokenizer }) }, dir);
}

/**
 * Saves `model` as a Hugging Face GPT-2 directory (config.json + model.safetensors, and
 * tokenizer.json for a tokenizer that has that form) that transformers' GPT2LMHeadModel loads and
 * loadCheckpoint reads back (encodeHF says where the tokenizer goes). Each file is written
 * atomically, the config last.
 */
export async function saveHFModel(dir: string, model: GPT, tokenizer?: Tokenizer): Promise<void> {
  const files = await encodeHF(model, tokenizer);
  await makeDirectories(dir);
  await writeFilesAtomic(dir, [
    { name: HF_FILES.weights, data: files.weights },
    ...(files.tokenizer === undefined ? [] : [{ name: HF_FILES.tokenizer, data: files.tokenizer }]),
    { name: HF_FILES.config, data: files.config },
  ]);
}
