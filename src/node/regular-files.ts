// Reading and creating paths the user names, without hanging (Node only). Reading a FIFO blocks
// until a writer appears, and a device can be endless, so only regular files are read: the file is
// opened non-blocking and checked on the open handle (no window for a swap between check and read).
// Node's recursive mkdir loops forever where mkdir keeps failing with ENOENT under an existing parent
// (/proc/self/x), so missing directories are created one level at a time instead.
import { constants, rmdirSync, type Stats } from 'node:fs';
import { mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

export class NotRegularFileError extends Error {}

/**
 * The most bytes of a model's side file (its config, tokenizer or vocabulary, a manifest, meta.pkl)
 * read whole: such files take far less, so a larger one is the wrong file or damaged, and reading it
 * took a gigabyte of memory before failing in Node's words, without its name.
 */
export const SIDE_FILE_BYTES = 2 ** 28;

/** The whole file at `path`, if it is a regular file of at most `maxBytes`. */
export async function readRegularFile(path: string, maxBytes = Infinity): Promise<Buffer> {
  const handle = await openRegularFile(path);
  try {
    const { size } = await handle.stat();
    if (size > maxBytes) throw new Error(`${path} is ${size} bytes, past the ${maxBytes} a file read whole may be (a config, tokenizer, vocabulary or manifest takes far less): not the file expected?`);
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/** `path` opened for reading, if it is a regular file. */
export async function openRegularFile(path: string): Promise<FileHandle> {
  const handle = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0)).catch((e: NodeJS.ErrnoException) => {
    // in words naming the path (a file inside a checkpoint, not one a flag names and checks first); the code kept for unlessMissing
    throw Object.assign(new Error(`${path} cannot be read (${unreadableReason(e)})`), { code: e.code });
  });
  try {
    const s = await handle.stat();
    if (!s.isFile()) throw new NotRegularFileError(`${path} is ${kindOf(s)}, not a regular file`);
  } catch (e) {
    await handle.close();
    throw e;
  }
  return handle;
}

/**
 * An open file's size and version: the file itself (device, inode), its size and its modification
 * and change times, so that a file renamed over it, or written in place, is another version.
 */
export async function fileVersion(handle: FileHandle): Promise<{ size: number; version: string }> {
  const s = await handle.stat({ bigint: true });
  return { size: Number(s.size), version: [s.dev, s.ino, s.size, s.mtimeNs, s.ctimeNs].map((n) => n.toString(36)).join('-') };
}

/**
 * What writing to an open file changes (its size and modification time), to tell whether its bytes
 * changed while it was read: not its change time, which a save renaming another file over its
 * name moves too (the open file still reads the same bytes).
 */
export async function writtenVersion(handle: FileHandle): Promise<string> {
  const s = await handle.stat({ bigint: true });
  return `${s.size}-${s.mtimeNs}`;
}

export function kindOf(s: Stats): string {
  if (s.isFile()) return 'a regular file';
  if (s.isDirectory()) return 'a directory';
  if (s.isFIFO()) return 'a FIFO (named pipe)';
  if (s.isSocket()) return 'a socket';
  return 'a device';
}

/** Creates `path` and any missing parents; the directories it created, outermost first (none if `path` was there). */
export async function makeDirectories(path: string): Promise<string[]> {
  const missing: string[] = [];
  for (let p = path; ; p = dirname(p)) {
    // ENOTDIR: a parent is no directory, found as such further up
    const s = await unlessMissing(stat(p)).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOTDIR' ? null : Promise.reject(e)));
    if (s) {
      if (!s.isDirectory()) throw new Error(`cannot create directory ${path}: ${p} is ${kindOf(s)}`);
      break;
    }
    missing.unshift(p);
    if (dirname(p) === p) break;
  }
  for (const dir of missing) {
    try {
      await mkdir(dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' || !(await stat(dir)).isDirectory()) throw new Error(`cannot create directory ${dir}: ${code ?? (e as Error).message}`);
    }
  }
  return missing;
}

/**
 * Removes the directories makeDirectories created (`created`, outermost first) while they are empty,
 * innermost first: a run that wrote nothing leaves no new directory behind, and one that holds
 * anything (or any directory the user had before) is kept.
 */
export function removeEmptyCreated(created: readonly string[]): void {
  for (const dir of [...created].reverse()) {
    try {
      rmdirSync(dir); // synchronous: a handler of the signal ending the process calls it too
    } catch {
      return; // not empty: neither are its parents
    }
  }
}

/** Whether `path` exists (a missing file is false; any other failure to look, such as EACCES, is an error). */
export const pathExists = async (path: string): Promise<boolean> => (await unlessMissing(stat(path))) !== null;

/** Whether `path` is a directory (a missing path, or one through a file, is not; any other failure to look is an error). */
export async function isDirectoryPath(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (e) {
    if (['ENOENT', 'ENOTDIR'].includes((e as NodeJS.ErrnoException).code ?? '')) return false;
    throw e;
  }
}

/** What a reader by position needs of an open file: a FileHandle, or one that also checksums what is read (checkpoint-files.ts). */
export interface PositionalFile {
  stat(): Promise<{ size: number }>;
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
}

/**
 * Fills `out` with the open file's bytes from `position`, in reads of at most `chunk` bytes (one
 * read may not pass 2 GiB). The file was sized first, so a short read means it shrank meanwhile.
 */
export async function readFully(handle: PositionalFile, position: number, out: Uint8Array, name: string, chunk = 2 ** 24): Promise<Uint8Array> {
  for (let done = 0; done < out.length; ) {
    const { bytesRead } = await handle.read(out, done, Math.min(chunk, out.length - done), position + done);
    if (bytesRead === 0) throw new Error(`${name}: the file ended ${out.length - done} bytes early (changed while it was read?)`);
    done += bytesRead;
  }
  return out;
}

/**
 * Writes all of `bytes` at the open file's current position: write(2) may take fewer bytes than
 * given (a filling disk, a signal) and say so, and one write would then drop the rest without an error.
 */
export async function writeFully(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length; ) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done);
    if (bytesWritten === 0) throw new Error('the file system took none of the bytes written (no space left?)');
    done += bytesWritten;
  }
}

/** Why a path could not be read, in words rather than an errno code alone (ENOENT says little to most). */
export function unreadableReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  const words: Record<string, string> = {
    ENOENT: 'it does not exist',
    ENOTDIR: 'a directory on its path is a file',
    EISDIR: 'it is a directory',
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    ELOOP: 'a loop of symbolic links',
  };
  return (code && words[code]) || (e as Error).message;
}

/** The result, or null where the file does not exist. */
export function unlessMissing<T>(pending: Promise<T>): Promise<T | null> {
  return pending.catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null;
    throw e;
  });
}
