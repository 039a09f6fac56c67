// What a checkpoint path holds, told apart before it is read (Node only): a bare safetensors file, a
// Hugging Face GPT-2 directory, or a run's directory. Kept out of the public modules' types: its
// signatures name Node's file handles, which a browser consumer's types do not have.
import { lstat, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { HF_FILES } from '../gpt/hf/index.js';
import { MANIFEST_FILE } from './checkpoint-files.js';
import { openRegularFile, pathExists, unlessMissing } from './regular-files.js';

/** Where `path` is a bare GPT-2 model name, which nanoGPT's --init-from downloads: how to fetch it, since nothing is downloaded here. */
export function hubNameHint(path: string): string {
  return /^gpt2(-medium|-large|-xl)?$/.test(path)
    ? ` (nothing is downloaded: fetch the Hugging Face directory, e.g. \`huggingface-cli download ${path} config.json model.safetensors tokenizer.json --local-dir ${path}\`, and give its path)`
    : '';
}

/**
 * `read`'s answer for what `path` holds: a bare safetensors file (open while `file` reads it), a
 * Hugging Face directory, or a run's directory; a missing path, or a run's manifest given for its
 * directory, is refused in one line.
 */
export async function byCheckpointKind<T>(path: string, read: { file(handle: FileHandle): Promise<T>; hf(): Promise<T>; run(): Promise<T> }): Promise<T> {
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch {
    throw new Error(`no checkpoint at ${path}${hubNameHint(path)}`);
  }
  if (!isDir) {
    if (basename(path) === MANIFEST_FILE) throw new Error(`${path} is the manifest of the checkpoint in ${dirname(path)}: give the directory`);
    const handle = await openRegularFile(path);
    try {
      return await read.file(handle);
    } finally {
      await handle.close();
    }
  }
  return (await isHFDirectory(path)) ? read.hf() : read.run();
}

/**
 * Whether a directory holds a Hugging Face model rather than a run's checkpoint. A run's directory
 * may hold a config.json of flags too: its manifest decides, even a symlink to nothing (lstat),
 * whose error is the run directory's.
 */
export async function isHFDirectory(dir: string): Promise<boolean> {
  return (await unlessMissing(lstat(join(dir, MANIFEST_FILE)))) === null && (await pathExists(join(dir, HF_FILES.config)));
}
