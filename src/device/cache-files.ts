// Small persistent files for the engine's own caches (autotuning winners, large token files' checks):
// in Node under the user's cache directory ($XDG_CACHE_HOME or ~/.cache, then webgpu-gpt/;
// GPT_CACHE_DIR overrides), in browsers in localStorage. A cache is optional: one that cannot be
// read reads as empty, one that cannot be saved is warned about once; neither stops the program.
//
// Several processes may save one file at once (two trainings tuning on one GPU), so a save is an
// update: read, changed and written under a lock file (a crashed holder's taken over by one process
// at a time), each keeping what the others saved; and the write is a rename of a complete temporary
// file, so a reader sees the old file or the new one. Only regular files of at most CACHE_FILE_LIMIT
// bytes are read: opened without blocking (a FIFO would wait for a writer forever; /dev/zero never
// ends), checked on the open handle.
import { envSetting } from './platform.js';

const CACHE_PREFIX = 'webgpu-gpt:';
/** The most bytes a cache file is read at: a larger one reads as empty (with a warning), and its next save replaces it. */
export const CACHE_FILE_LIMIT = 4 * 2 ** 20;
/** A lock is held for one read and one write (milliseconds): one older than this is a crashed holder's, and is taken over. */
const LOCK_STALE_MS = 5_000;
/** How long a save waits for another process's lock before giving up (longer than LOCK_STALE_MS: a crashed holder's lock is taken over first). */
const LOCK_WAIT_MS = 6_000;

type Fs = typeof import('node:fs/promises');

// A relative GPT_CACHE_DIR is taken from the working directory when the engine loaded, as the shell
// that set it means it, not from the one at each use: a program that chdir()s would otherwise read
// and write a second cache.
const startDir = workingDir();

/** Node's working directory; '' in a browser, or where it was deleted (a relative cache directory then fails at use, warned). */
function workingDir(): string {
  try {
    return typeof process !== 'undefined' && process.versions?.node ? process.cwd() : '';
  } catch {
    return '';
  }
}

async function nodeCacheDir(): Promise<{ fs: Fs; path: typeof import('node:path'); dir: string } | null> {
  if (typeof process === 'undefined' || !process.versions?.node) return null;
  const [fsName, pathName, osName] = ['node:fs/promises', 'node:path', 'node:os']; // computed: no browser bundle follows them
  const fs = (await import(/* @vite-ignore */ fsName)) as Fs;
  const path = (await import(/* @vite-ignore */ pathName)) as typeof import('node:path');
  const os = (await import(/* @vite-ignore */ osName)) as typeof import('node:os');
  const base = envSetting('XDG_CACHE_HOME') || path.join(os.homedir(), '.cache');
  return { fs, path, dir: path.resolve(startDir, envSetting('GPT_CACHE_DIR') || path.join(base, 'webgpu-gpt')) };
}

/** Where cache file `name` lives: its path in Node, its localStorage key in a browser (`gpt doctor`). */
export async function cacheLocation(name: string): Promise<string> {
  const node = await nodeCacheDir();
  return node ? node.path.join(node.dir, name) : `localStorage['${CACHE_PREFIX}${name}']`;
}

const warned = new Set<string>(); // one warning a file and kind: not one at every save
const warnOnce = (key: string, line: string) => {
  if (!warned.has(key)) console.warn(`[webgpu-gpt] ${line}`);
  warned.add(key);
};

/** A cache file that is there but cannot be used (not a regular file, too large): read as empty, replaced at the next save. */
class UnusableCacheFile extends Error {}

/** The text of cache file `name`; null where there is none, or none that can be read (warned once). */
export async function readCache(name: string): Promise<string | null> {
  try {
    const node = await nodeCacheDir();
    if (!node) return globalThis.localStorage?.getItem(CACHE_PREFIX + name) ?? null; // the getter throws in a sandboxed frame
    return await readCacheFile(node.fs, node.path.join(node.dir, name));
  } catch (e) {
    warnOnce(`read ${name}`, `${name} read as empty: ${(e as Error).message.split('\n')[0]}`);
    return null;
  }
}

/** The file's text; null where it does not exist; UnusableCacheFile where it is no regular file of at most CACHE_FILE_LIMIT bytes. */
async function readCacheFile(fs: Fs, path: string): Promise<string | null> {
  let handle;
  try {
    handle = await fs.open(path, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const s = await handle.stat();
    if (!s.isFile()) throw new UnusableCacheFile(`${path} is not a regular file`);
    if (s.size > CACHE_FILE_LIMIT) throw new UnusableCacheFile(`${path} is ${s.size} bytes, past the ${CACHE_FILE_LIMIT} a cache file may be`);
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

let temporaries = 0; // each write's temporary file its own, whatever a lock promises

/**
 * Replaces cache file `name` with `change` of its text (null: none, or one that cannot be used),
 * under its lock: processes updating it at once each keep the others' changes. In a browser,
 * localStorage's; one that throws (a sandboxed frame, private mode, its quota) is warned about once.
 * A failure is warned about once and never thrown; a file that exists but cannot be read now (not
 * an unusable one) is left as it is, not replaced by what this process knows.
 */
export async function updateCache(name: string, change: (text: string | null) => string): Promise<void> {
  let where = 'localStorage';
  try {
    const node = await nodeCacheDir();
    if (!node) {
      const storage = globalThis.localStorage;
      return storage?.setItem(CACHE_PREFIX + name, change(storage.getItem(CACHE_PREFIX + name)));
    }
    const { fs, path, dir } = node;
    where = envSetting('GPT_CACHE_DIR') ? `GPT_CACHE_DIR=${dir}` : `${dir} (GPT_CACHE_DIR picks another)`;
    await makeDirectory(fs, path, dir);
    const file = path.join(dir, name);
    await withLock(fs, `${file}.lock`, async () => {
      const text = await readCacheFile(fs, file).catch((e: unknown) => {
        if (e instanceof UnusableCacheFile) return null;
        throw e;
      });
      const temp = path.join(dir, `.${name}.${process.pid}.${++temporaries}.tmp`);
      try {
        await fs.writeFile(temp, change(text), { flag: 'wx' });
        await fs.rename(temp, file);
      } catch (e) {
        await fs.rm(temp, { force: true }).catch(() => undefined); // nothing half-written left behind; the first error kept
        throw e;
      }
    });
  } catch (e) {
    warnOnce(`save ${name}`, `${name} not saved in ${where}: ${(e as Error).message.split('\n')[0]}`);
  }
}

/**
 * Creates `dir` and its missing parents one level at a time: Node's recursive mkdir loops forever
 * where mkdir keeps failing with ENOENT under an existing parent (GPT_CACHE_DIR=/proc/self/x).
 */
async function makeDirectory(fs: Fs, path: typeof import('node:path'), dir: string): Promise<void> {
  const missing: string[] = [];
  for (let d = dir; d !== path.dirname(d); d = path.dirname(d)) {
    const exists = await fs.stat(d).then(() => true, (e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? false : Promise.reject(e)));
    if (exists) break;
    missing.unshift(d);
  }
  for (const d of missing) await fs.mkdir(d).catch((e: NodeJS.ErrnoException) => (e.code === 'EEXIST' ? undefined : Promise.reject(e)));
}

/** Runs `body` holding the lock file `lock` (created exclusively); a crashed holder's (older than LOCK_STALE_MS) is taken over. */
async function withLock(fs: Fs, lock: string, body: () => Promise<void>): Promise<void> {
  const start = Date.now();
  for (;;) {
    try {
      await (await fs.open(lock, 'wx')).close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const held = await ageOf(fs, lock); // null: released meanwhile
    if (held !== null && held > LOCK_STALE_MS && (await takeOver(fs, lock))) continue;
    if (Date.now() - start > LOCK_WAIT_MS) throw new Error(`${lock} was held by another process for ${LOCK_WAIT_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, 2 + 8 * Math.random()));
  }
  try {
    await body();
  } finally {
    await fs.rm(lock, { force: true });
  }
}

/** Milliseconds since the file at `path` was modified; null where there is none. */
const ageOf = (fs: Fs, path: string): Promise<number | null> => fs.stat(path).then((s) => Date.now() - s.mtimeMs, () => null);

/**
 * Removes `lock`, found stale, one process at a time (under `lock`.takeover, created exclusively) and
 * only if it is stale still; whether this call removed it. Two processes that both found it stale
 * each removed it otherwise, the second one the lock the first had made since: both wrote, and one's
 * entries were lost. A guard as old as a stale lock is a taker's that crashed: removed.
 */
async function takeOver(fs: Fs, lock: string): Promise<boolean> {
  const guard = `${lock}.takeover`;
  try {
    await (await fs.open(guard, 'wx')).close();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    if (((await ageOf(fs, guard)) ?? 0) > LOCK_STALE_MS) await fs.rm(guard, { force: true });
    return false; // another process is taking it over
  }
  try {
    if (!(((await ageOf(fs, lock)) ?? 0) > LOCK_STALE_MS)) return false; // taken over and made again meanwhile, or released
    await fs.rm(lock, { force: true });
    return true;
  } finally {
    await fs.rm(guard, { force: true });
  }
}
