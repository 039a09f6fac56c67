// A checkpoint loaded in two steps, as the commands that make its model need it: its header first
// (metadata and tensor shapes, for their checks and settings, before the device opens and before a
// run's data is read), then its model, every tensor uploaded to the GPU as it is read
// (loadCheckpointModel), checked to be the checkpoint the header described.
import { isDeepStrictEqual } from 'node:util';
import { configWeightsProblem, type CheckpointMeta } from '../gpt/checkpoint.js';
import { HF_FILES } from '../gpt/hf/index.js';
import { HF_NAMES } from '../gpt/hf/config.js';
import type { GPTConfig } from '../gpt/model.js';
import { modelArgName } from '../gpt/nanogpt.js';
import { disposeUploaded, type LoadOptions, type UploadedCheckpoint } from '../gpt/checkpoint-upload.js';
import type { SafetensorsEntry } from '../io/safetensors.js';
import { loadCheckpointModel, readCheckpointAt } from './checkpoint-dir.js';
import { headerParameters, readCheckpointHeader, type CheckpointHeader } from './checkpoint-header.js';

/** A checkpoint's path with what its header says: the metadata (checked as loading checks it) and each tensor's name and shape. */
export interface CheckpointHead {
  path: string;
  meta: CheckpointMeta;
  tensors: readonly SafetensorsEntry[];
}

/**
 * The header of the checkpoint at `path`. One refused fails with loadCheckpoint's error (a run
 * directory's damaged header is its checksum's error): the file is read through for it.
 */
export async function readCheckpointHead(path: string): Promise<CheckpointHead> {
  const header = await readCheckpointHeader(path).catch(async (e: unknown) => {
    await readCheckpointAt(path);
    throw e;
  });
  // refused now, as loading would refuse it, before anything is sized by the config: a damaged nLayer of 1e9 hung the memory plan
  const problem = headConfigProblem(header, path);
  if (problem) throw new Error(problem);
  return { path, meta: header.meta, tensors: header.tensors };
}

/** Loading's error for a header whose config disagrees with its tensors, spelt as each layout's loader spells it; or null. */
function headConfigProblem(header: CheckpointHeader, path: string): string | null {
  const problem = (name: (key: keyof GPTConfig) => string, stored: string) => configWeightsProblem(header.meta.model, headerParameters(header), name, stored);
  if (header.layout === 'nanoGPT checkpoint') return prefixed(`${path}: model_args: `, problem(modelArgName, `${path}['model']`));
  if (header.layout !== 'Hugging Face directory') return prefixed(`${path}: `, problem((k) => `metadata field model.${k}`, 'the file'));
  const files = header.weightsFiles;
  return prefixed(`${path}/${HF_FILES.config}: `, problem((k) => HF_NAMES[k] ?? k, files.length === 1 ? files[0]!.file : `the shards of ${HF_FILES.index}`));
}

const prefixed = (prefix: string, problem: string | null) => problem && prefix + problem;

/**
 * The model of the checkpoint `head` describes (loadCheckpointModel's); one that changed since its
 * header was read (a save landed) is refused, unless `newerSave` and it is a save of the same model
 * (config and tokenizer: a training run's next checkpoint), whose weights an inference command
 * (sample, eval, export, ...) takes as the latest, its metadata the loaded one's. Loaded with
 * `moments: false` (not to resume), a LoRA model comes with its adapters merged.
 */
export async function loadHeadModel(head: CheckpointHead, opts: LoadOptions = {}, newerSave = false): Promise<UploadedCheckpoint> {
  const loaded = await loadCheckpointModel(head.path, opts);
  const { meta } = loaded.ckpt;
  // loaded without its moments, not to resume it (inference, export, a teacher, a new fine-tune): LoRA
  // adapters are merged, so that what follows runs, or trains, a plain model of the adapted weights
  const merged = () => (opts.moments === false && loaded.model.config.lora && loaded.model.mergeLoRA(), loaded);
  if (isDeepStrictEqual(meta, head.meta)) return merged();
  if (newerSave && isDeepStrictEqual(meta.model, head.meta.model) && isDeepStrictEqual(meta.tokenizer, head.meta.tokenizer)) return merged();
  disposeUploaded(loaded);
  throw new Error(`${head.path}: the checkpoint changed while it was being loaded (a run saved there meanwhile?): run the command again`);
}
