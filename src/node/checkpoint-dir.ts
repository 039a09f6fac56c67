// Checkpoints on disk (Node only): a directory written atomically (src/io/checkpoint-files.ts), as
// `gpt train` writes them, or a bare .safetensors file (e.g. one saved by the browser page).
import { stat } from 'node:fs/promises';
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint, type CheckpointExtras } from '../gpt/checkpoint.js';
import type { GPT } from '../gpt/model.js';
import type { Tokenizer } from '../gpt/tokenizer/index.js';
import { readCheckpointFiles, writeCheckpointFiles } from '../io/checkpoint-files.js';
import { readRegularFile } from '../io/regular-files.js';

/**
 * Saves `model` with its tokenizer (and optionally optimizer state and training progress) as a
 * checkpoint directory. Atomic: a process killed mid-save leaves the previous checkpoint loadable.
 */
export async function saveCheckpoint(dir: string, model: GPT, tokenizer: Tokenizer, extra: CheckpointExtras = {}): Promise<void> {
  const bytes = await encodeCheckpoint(model, tokenizer, extra);
  await writeCheckpointFiles(dir, bytes, { step: extra.trainer?.step, val: extra.bestVal, run: extra.run, model: model.config });
}

/** Reads a checkpoint directory (its current weights, checksum-checked) or a bare .safetensors checkpoint file. */
export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch {
    throw new Error(`no checkpoint at ${path}`);
  }
  if (!isDir) return decodeCheckpoint(new Uint8Array(await readRegularFile(path)), path);
  const { weights } = await readCheckpointFiles(path);
  return decodeCheckpoint(weights, path);
}
