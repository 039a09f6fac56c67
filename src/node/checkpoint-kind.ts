// What a checkpoint path holds, told apart before it is read (Node only): a bare safetensors file,
// torch.save's file (nanoGPT's ckpt.pt), a Hugging Face GPT-2 directory, or a run's directory.
// Kept out of the public modules' types: its signatures name Node's file handles, which a browser
// consumer's types do not have.
import { lstat, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { HF_FILES, HF_WEIGHTS_NAMES } from '../gpt/hf/index.js';
import { MANIFEST_FILE } from './checkpoint-files.js';
import { openRegularFile, pathExists, readFully, unlessMissing } from './regular-files.js';

/** Whether a file's first bytes are a zip archive's, as torch.save writes since PyTorch 1.6: never a safetensors file's (its header length would be past 4 GiB). */
const isZipStart = (first: Uint8Array) => first[0] === 0x50 && first[1] === 0x4b && first[2] === 3 && first[3] === 4;
/** A Python pickle's first bytes (PROTO 2 to 5): torch.save's format before 1.6, told from a safetensors file by a name of PyTorch's. */
const isTorchPickle = (first: Uint8Array, path: string) => first[0] === 0x80 && first[1]! >= 2 && first[1]! <= 5 && /\.(pt|pth|bin|ckpt)$/.test(path);

/**
 * `read`'s answer for what `path` holds: a bare safetensors file (open while `file` reads it), a
 * torch.save file (nanoGPT's ckpt.pt: open while `torch` reads it), a Hugging Face directory, or a
 * run's directory; a missing path, or a run's manifest given for its directory, is refused in one line.
 */
export async function byCheckpointKind<T>(path: string, read: { file(handle: FileHandle): Promise<T>; torch(handle: FileHandle): Promise<T>; hf(): Promise<T>; run(): Promise<T> }): Promise<T> {
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch {
    throw new Error(`no checkpoint at ${path}`);
  }
  if (!isDir) {
    if (basename(path) === MANIFEST_FILE) throw new Error(`${path} is the manifest of the checkpoint in ${dirname(path)}: give the directory`);
    const handle = await openRegularFile(path);
    try {
      return await ((await isTorchSave(handle, path)) ? read.torch(handle) : read.file(handle));
    } finally {
      await handle.close();
    }
  }
  return (await isHFDirectory(path)) ? read.hf() : read.run();
}

/** Whether the file open as `handle` (at `path`) is torch.save's rather than safetensors, from its first bytes. */
export async function isTorchSave(handle: FileHandle, path: string): Promise<boolean> {
  const { size } = await handle.stat();
  const first = await readFully(handle, 0, new Uint8Array(Math.min(4, size)), path);
  return isZipStart(first) || isTorchPickle(first, path);
}

/**
 * Whether a directory holds a Hugging Face model rather than a run's checkpoint. A run's directory
 * may hold a config.json of flags too: its manifest decides, even a symlink to nothing (lstat),
 * whose error is the run directory's.
 */
export async function isHFDirectory(dir: string): Promise<boolean> {
  return (await unlessMissing(lstat(join(dir, MANIFEST_FILE)))) === null && (await pathExists(join(dir, HF_FILES.config)));
}

/**
 * Why a checkpoint of ours must not be written into `dir`, or null: it holds a Hugging Face model
 * (config.json and weights transformers reads), which the checkpoint's manifest would hide from
 * every reader here (isHFDirectory), --overwrite or not: the model is not what a run replaces.
 */
export async function hfModelProblem(dir: string): Promise<string | null> {
  if ((await unlessMissing(lstat(join(dir, MANIFEST_FILE)))) !== null || !(await pathExists(join(dir, HF_FILES.config)))) return null;
  const held: string[] = [];
  for (const file of HF_WEIGHTS_NAMES) if (await pathExists(join(dir, file))) held.push(file);
  if (!held.length) return null; // a config.json of flags
  return `${dir} holds a Hugging Face model (${[HF_FILES.config, ...held].join(', ')}), which a checkpoint written there would hide from every reader here: choose another --out-dir (--init-from ${dir} reads the model)`;
}
