// Checkpoints on disk for the CLI: a directory written atomically (src/io/checkpoint-files.ts),
// or a bare .safetensors file (e.g. one saved by the browser page).
import { stat } from 'node:fs/promises';
import { readCheckpointFiles, writeCheckpointFiles } from '../io/checkpoint-files.js';
import { readRegularFile } from '../io/regular-files.js';
import { decodeCheckpoint, type Checkpoint } from '../gpt/checkpoint.js';

export async function saveCheckpointDir(dir: string, bytes: Uint8Array, summary: Record<string, unknown>): Promise<void> {
  await writeCheckpointFiles(dir, bytes, summary);
}

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
