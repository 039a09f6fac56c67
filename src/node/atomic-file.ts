// Crash-safe file writes (Node only). A file is written to a temporary name in the same directory,
// flushed to disk, then renamed over the target: rename within a directory is atomic, so a reader,
// or a process killed mid-save, sees the old file or the new one and never a half-written mix.
import { constants, renameSync, rmSync } from 'node:fs';
import { copyFile, lstat, open, readdir, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { getSystemErrorMap } from 'node:util';
import { isRunning } from './processes.js';
import { readRegularFile, unlessMissing } from './regular-files.js';

export interface NamedFile {
  name: string;
  /** Its bytes or text, or its bytes in pieces written in order (a file too large for one array). */
  data: FileData;
}

/**
 * A file's bytes or text, or its bytes in pieces written in order: a generator's, or an async
 * generator's whose pieces are made (read back from the GPU) only when the writer reaches them.
 */
export type FileData = Uint8Array | string | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

/** Temporary files start with this, so that nothing mistakes them for real files. */
export const tempFilePrefix = (target: string) => `.${target}.tmp-`;

/** A fresh temporary name for writing `path`: in its directory, so that a rename moves it into place atomically. */
export const tempPathFor = (path: string) => join(dirname(path), tempFilePrefix(basename(path)) + `${process.pid}-${Math.random().toString(36).slice(2, 10)}`);

const TEMP_NAME = /^\.(.+)\.tmp-(\d+)-[0-9a-z]{1,8}$/;

/** The file a temporary file named `name` was to become, if tempPathFor could have named it (`.<target>.tmp-<pid>-<random>`); else null. */
export const tempTarget = (name: string): string | null => TEMP_NAME.exec(name)?.[1] ?? null;

/** The temporary files of this process's writes under way. */
const unfinished = new Set<string>();

/**
 * Deletes the temporary files in `dir` of targets `ours` accepts that processes no longer running
 * left (killed mid-write), for a writer with no lock on `dir` (an export's directory; gpt.lock
 * itself), where no later write would find them. One naming this process's pid and not under way
 * here is an earlier process's of that pid; a live process's is kept (a write under way).
 */
export async function removeDeadWritersTemporaries(dir: string, ours: (target: string) => boolean): Promise<void> {
  const names = await readdir(dir).catch(() => []);
  const gone = (pid: number) => pid === process.pid || !isRunning(pid);
  const dead = names.filter((name) => {
    const found = TEMP_NAME.exec(name);
    return found !== null && ours(found[1]!) && gone(Number(found[2])) && !unfinished.has(join(dir, name));
  });
  // best effort: one that cannot be removed (another user's, in a sticky directory) must not fail the write or the lock, every time
  await Promise.all(dead.map((name) => rm(join(dir, name), { force: true }).catch(() => undefined)));
}

/**
 * Deletes the temporary files of this process's writes under way, half-written: for a handler of
 * the signal that is ending the process (synchronous: nothing runs after that handler), so that
 * what a model's weights took on disk goes with it. The files they were to replace are untouched.
 */
export function removeUnfinishedWrites(): void {
  for (const temp of unfinished) rmSync(temp, { force: true });
  unfinished.clear();
}

/**
 * Writes `data` to `path` atomically; given pieces (a generator, sync or async), it takes them one
 * at a time, holding no more than one. A piece that fails to be made (a tensor refused as not
 * finite) fails the write with its own error, the temporary file removed. With `keep`, the file
 * there keeps its first `keep` bytes, `data` written after them (writeTemporary's).
 */
export async function writeFileAtomic(path: string, data: FileData, keep = 0): Promise<void> {
  const temp = await writeTemporary(path, data, keep);
  try {
    await rename(temp, path);
  } catch (e) {
    await rm(temp, { force: true }).catch(() => undefined); // keep the original error
    throw cannotWrite(path, e);
  } finally {
    unfinished.delete(temp);
  }
  await syncDirectory(dirname(path)); // makes the rename itself survive a power cut
}

/**
 * `data` written and flushed to disk under a fresh temporary name beside `path` (tempPathFor's),
 * which it returns, still among the writes under way (a signal ending the process deletes it)
 * until the caller renames it into place and takes it out of `unfinished`. A failure removes it.
 * `data` follows the first `keep` bytes of the file at `path`, copied by the kernel (copy_file_range,
 * a reflink where the file system shares blocks): a long file changed near its end is not read
 * into this process again to be rewritten (a run's log.jsonl rewound to its checkpoint).
 */
async function writeTemporary(path: string, data: FileData, keep = 0): Promise<string> {
  const temp = tempPathFor(path);
  unfinished.add(temp);
  let piecesFailed = false;
  async function* noted(pieces: Iterable<Uint8Array> | AsyncIterable<Uint8Array>) {
    try {
      yield* pieces;
    } catch (e) {
      piecesFailed = true;
      throw e;
    }
  }
  try {
    if (keep > 0) {
      await copyFile(path, temp, constants.COPYFILE_EXCL); // EXCL, as 'wx' below: never clobber another writer's temporary file
      await truncate(temp, keep);
    }
    const file = await open(temp, keep > 0 ? 'a' : 'wx'); // 'x': never clobber another writer's temporary file
    try {
      await writeFile(file, typeof data === 'string' || data instanceof Uint8Array ? data : noted(data));
      await file.sync(); // the bytes reach the disk before the rename makes them visible
    } finally {
      await file.close();
    }
    return temp;
  } catch (e) {
    await rm(temp, { force: true }).catch(() => undefined); // keep the original error
    unfinished.delete(temp);
    if (piecesFailed) throw e; // not the file system's: its message is its maker's
    throw cannotWrite(path, e);
  }
}

/** A file system error writing `path`, named by the file asked for (Node's message names the temporary file), its code kept. */
function cannotWrite(path: string, e: unknown): Error {
  const { code } = e as NodeJS.ErrnoException;
  return Object.assign(new Error(`cannot write ${path}: ${systemErrorText(e)}`, { cause: e }), { code });
}

/** A file replaceFileSet writes beside the main one: its bytes, or null where the new set has none (the old set's is deleted). */
export interface CompanionFile {
  name: string;
  data: string | Uint8Array | null;
}

/**
 * Replaces a set of files in `dir` that no manifest commits (an exported model: its weights, and the
 * files its readers take beside them, the last of which they cannot read it without, as config.json)
 * so that an export that fails or is ended at any moment leaves the old set whole or the new one:
 * never new weights read with old companions, nor weights without the last companion. Every new
 * file is written whole under a temporary name first (a failure, or a signal, meanwhile leaves the
 * old set as it was); then, with no await between (no signal handler runs in between), the files
 * that change are set aside, the last companion first, and the new ones renamed into place, the
 * last companion last; a rename that fails puts the old set back. Unchanged companions stay, and
 * where none changes only the main file is renamed: the same model exported again is readable
 * throughout. Only a SIGKILL or a power cut within those few renames leaves a set its readers
 * refuse as incomplete (no config.json), the old files set aside beside it.
 */
export async function replaceFileSet(dir: string, main: NamedFile, companions: readonly CompanionFile[]): Promise<void> {
  // an earlier export's, killed mid-write: as large as the weights, and no one else's to remove
  const names = [main.name, ...companions.map((c) => c.name)];
  await removeDeadWritersTemporaries(dir, (target) => names.includes(target));
  // the commit sets the old files aside and deletes them: never a directory of the user's (a symlink is only a name)
  for (const name of names) if ((await unlessMissing(lstat(join(dir, name))))?.isDirectory()) throw new Error(`cannot write ${join(dir, name)}: a directory is there`);
  const changed: CompanionFile[] = [];
  for (const c of companions) if (!(await holdsAlready(join(dir, c.name), c.data))) changed.push(c);
  const last = companions[companions.length - 1];
  // where a companion changes, the last is replaced too (with its own bytes where they are the same), so that readers see the set incomplete meanwhile
  const replaced = changed.length > 0 && last && !changed.includes(last) ? [...changed, last] : changed;
  const staged: { name: string; temp: string | null }[] = [];
  try {
    staged.push({ name: main.name, temp: await writeTemporary(join(dir, main.name), main.data) });
    for (const c of replaced) staged.push({ name: c.name, temp: c.data === null ? null : await writeTemporary(join(dir, c.name), c.data) });
    commitSet(dir, staged);
  } finally {
    for (const { temp } of staged) {
      if (temp === null) continue;
      rmSync(temp, { force: true }); // gone already where the commit renamed it
      unfinished.delete(temp);
    }
  }
  await syncDirectory(dir); // makes the renames themselves survive a power cut
}

/**
 * replaceFileSet's commit, synchronous: each of `staged`'s files in `dir` set aside (the last
 * first), then each one's temporary file (null: none, the file goes) renamed into place in order.
 * A rename that fails undoes the others, the old set back in place, and fails with its error.
 */
function commitSet(dir: string, staged: readonly { name: string; temp: string | null }[]): void {
  const setAside: { path: string; aside: string }[] = [];
  const placed: string[] = [];
  let failing: string | undefined;
  try {
    for (const { name } of [...staged].reverse()) {
      const path = (failing = join(dir, name));
      const aside = tempPathFor(path); // a name removeDeadWritersTemporaries knows, should a SIGKILL leave it
      try {
        renameSync(path, aside);
        setAside.push({ path, aside });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; // none to set aside
      }
    }
    for (const { name, temp } of staged) {
      if (temp === null) continue;
      renameSync(temp, (failing = join(dir, name)));
      placed.push(failing);
    }
  } catch (e) {
    for (const path of placed.reverse()) rmSync(path, { force: true });
    for (const { path, aside } of setAside.reverse()) {
      try {
        renameSync(aside, path);
      } catch {
        // left under its temporary name, the next export's to remove: the error below is the first failure's
      }
    }
    throw cannotWrite(failing!, e);
  }
  for (const { aside } of setAside) rmSync(aside, { force: true });
}

/** Whether `path` holds `data` already (null: there is no such file). */
async function holdsAlready(path: string, data: string | Uint8Array | null): Promise<boolean> {
  const held = await unlessMissing(readRegularFile(path)).catch(() => undefined); // unreadable: replaced
  if (held === undefined) return false;
  if (data === null || held === null) return data === null && held === null;
  return held.equals(typeof data === 'string' ? Buffer.from(data) : data);
}

/** A file system error in a few words, without the path Node's message names: "ENOSPC (no space left on device)". */
export function systemErrorText(e: unknown): string {
  const { code, errno } = e as NodeJS.ErrnoException;
  if (code === undefined) return (e as Error).message;
  const words = errno === undefined ? undefined : getSystemErrorMap().get(errno)?.[1];
  return words ? `${code} (${words})` : code;
}

async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (e) {
    // Windows cannot open a directory (EISDIR/EPERM) and some file systems refuse to fsync one
    // (EINVAL); there the rename is as durable as the platform allows.
    if (!['EISDIR', 'EPERM', 'EINVAL'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
  }
}
