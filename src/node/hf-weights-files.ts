// A Hugging Face GPT-2 directory's files (Node only): which it holds (config.json, the weights files
// transformers reads, the tokenizer's), held open as readHF's sources while a load, a server or
// `gpt info` reads them. Apart from checkpoint-dir.ts, whose declarations are public: a FileHandle
// in them would make a consumer's type check need Node's types.
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { HF_FILES, hfModelConfig, hfWeightsFiles, type HFModelSources, type HFTokenizerFiles, type HFWeightsSource, type ShardIndex } from '../gpt/hf/index.js';
import type { GPTConfig } from '../gpt/model.js';
import { openRegularFile, pathExists, readRegularFile, SIDE_FILE_BYTES, unlessMissing } from './regular-files.js';
import { handleSource } from './safetensors-file.js';

/** Weights files transformers saves that are not read here (transformers converts them to model.safetensors). */
const UNREAD_WEIGHTS = ['tf_model.h5', 'flax_model.msgpack'];

/**
 * A Hugging Face GPT-2 directory's model, from its config.json (read first: a refused model's
 * weights are not looked at), that config's text, and the weights files to read (hfWeightsFiles':
 * model.safetensors, else the shards its index names, else pytorch_model.bin or its shards).
 */
async function hfDirectoryFiles(dir: string): Promise<{ model: GPTConfig; config: string; weights: string[]; index: ShardIndex | null }> {
  const config = (await readIfThere(dir, HF_FILES.config))?.toString('utf8');
  if (config === undefined) throw new Error(`${dir}: no ${HF_FILES.config}`); // removed since the directory was looked at
  const model = hfModelConfig(config, dir);
  const text = async (file: string) => (await readIfThere(dir, file))?.toString('utf8') ?? null;
  const chosen = await hfWeightsFiles((file) => pathExists(join(dir, file)), text, (file) => join(dir, file));
  if (!chosen) throw new Error(await noWeightsProblem(dir));
  return { model, config, ...chosen };
}

/** The texts of a Hugging Face directory's tokenizer files: tokenizer.json, or vocab.json + merges.txt (those it has). */
async function hfTokenizerTexts(dir: string): Promise<HFTokenizerFiles> {
  const text = async (file: string) => (await readIfThere(dir, file))?.toString('utf8');
  return { tokenizer: await text(HF_FILES.tokenizer), vocab: await text(HF_FILES.vocab), merges: await text(HF_FILES.merges) };
}

const readIfThere = (dir: string, file: string) => unlessMissing(readRegularFile(join(dir, file), SIDE_FILE_BYTES));

/**
 * The Hugging Face directory `dir` as readHF reads it: config.json's and the tokenizer's texts, and
 * each weights file hfDirectoryFiles names open to read a tensor at a time (one the index names
 * that the directory lacks is one line), until close().
 */
export async function openHFDirectory(dir: string): Promise<{ model: GPTConfig; files: HFModelSources; handles: FileHandle[]; close(): Promise<void> }> {
  const { model, config, weights, index } = await hfDirectoryFiles(dir);
  const handles: FileHandle[] = [];
  const close = async () => {
    for (const handle of handles) await handle.close();
  };
  try {
    const sources: HFWeightsSource[] = [];
    for (const file of weights) {
      const handle = await unlessMissing(openRegularFile(join(dir, file)));
      if (!handle) throw new Error(`${dir}: no ${file}${index ? ` (a shard ${index.file} names)` : ''}`);
      handles.push(handle);
      sources.push({ file, source: await handleSource(handle) });
    }
    return { model, files: { config, ...(await hfTokenizerTexts(dir)), weights: sources, ...(index && { index }) }, handles, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** `use` of the Hugging Face directory `dir` as readHF reads it (openHFDirectory's files), closed once it is done. */
export async function withHFDirectory<T>(dir: string, use: (files: HFModelSources) => Promise<T>): Promise<T> {
  const opened = await openHFDirectory(dir);
  try {
    return await use(opened.files);
  } finally {
    await opened.close();
  }
}

/** Why `dir`, which has a config.json, has no weights to read: naming the weights it has in a form not read here, and how to convert them. */
async function noWeightsProblem(dir: string): Promise<string> {
  const unread: string[] = [];
  for (const file of UNREAD_WEIGHTS) if (await pathExists(join(dir, file))) unread.push(file);
  const missing = `${dir}: no ${HF_FILES.weights} (nor ${HF_FILES.index}, ${HF_FILES.torchWeights}, ${HF_FILES.torchIndex})`;
  if (!unread.length) return `${missing}: a GPT-2 model directory holds ${HF_FILES.config} and ${HF_FILES.weights}`;
  return `${missing}; its ${unread.join(', ')} is not read here: convert it with transformers, GPT2LMHeadModel.from_pretrained(DIR).save_pretrained(DIR, safe_serialization=True), which writes ${HF_FILES.weights}`;
}
