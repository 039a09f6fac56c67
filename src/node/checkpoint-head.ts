// A checkpoint loaded in two steps, as the commands that make its model need it: its header first
// (metadata and tensor shapes, for their checks and settings, before the device opens and before a
// run's data is read), then its model, every tensor uploaded to the GPU as it is read
// (loadCheckpointModel), checked to be the checkpoint the header described.
import { isDeepStrictEqual } from 'node:util';
import type { CheckpointMeta } from '../gpt/checkpoint.js';
import { disposeUploaded, type LoadOptions, type UploadedCheckpoint } from '../gpt/checkpoint-upload.js';
import type { SafetensorsEntry } from '../io/safetensors.js';
import { loadCheckpointModel, readCheckpointAt } from './checkpoint-dir.js';
import { readCheckpointHeader } from './checkpoint-header.js';

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
  const { meta, tensors } = await readCheckpointHeader(path).catch(async (e: unknown) => {
    await readCheckpointAt(path);
    throw e;
  });
  return { path, meta, tensors };
}

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
