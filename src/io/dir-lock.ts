// One writer per directory (Node only): a lock file created with O_EXCL (so of two processes exactly
// one creates it) that holds the owner's pid, host name and start time. A lock whose pid no longer
// runs on this host is stale (its owner was killed) and is taken over; one from another host cannot
// be checked and is left to the user. Release is synchronous, so that signal and exit handlers can
// call it.
import { readFileSync, unlinkSync } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { readRegularFile } from './regular-files.js';

export const LOCK_FILE = 'gpt.lock';

export interface LockOwner {
  pid: number;
  hostname: string;
  /** ISO time the owner took the lock. */
  started: string;
}

export class DirectoryLockedError extends Error {
  constructor(
    dir: string,
    readonly path: string,
    readonly owner: LockOwner | null,
  ) {
    const who = owner
      ? `pid ${owner.pid}${owner.hostname === hostname() ? '' : ` on host ${owner.hostname}`}, since ${owner.started}`
      : 'its lock file cannot be read';
    super(`${dir} is in use by another run (${who}); if that run is gone, delete ${path}`);
    this.name = 'DirectoryLockedError';
  }
}

export interface DirectoryLock {
  readonly path: string;
  release(): void;
}

/** Takes `<dir>/gpt.lock` (dir must exist); `onStale` hears of a dead owner's lock being taken over. */
export async function lockDirectory(dir: string, onStale: (owner: LockOwner) => void = () => {}): Promise<DirectoryLock> {
  const path = join(dir, LOCK_FILE);
  const mine: LockOwner = { pid: process.pid, hostname: hostname(), started: new Date().toISOString() };
  const text = JSON.stringify(mine) + '\n';
  for (;;) {
    try {
      const file = await open(path, 'wx');
      try {
        await file.writeFile(text);
      } catch (e) {
        await unlink(path).catch(() => undefined); // an empty lock would block every later run
        throw e;
      } finally {
        await file.close();
      }
      return { path, release: () => releaseIfMine(path, text) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const read = await readOwner(path);
    if (read === 'released') continue;
    const owner = read?.owner ?? null;
    if (!owner || owner.hostname !== hostname() || isRunning(owner.pid)) throw new DirectoryLockedError(dir, path, owner);
    // Take over only the stale lock just read: another process may have replaced it meanwhile.
    if ((await readRegularFile(path).then(String, () => '')) === read!.text) {
      await unlink(path).catch(() => undefined);
      onStale(owner);
    }
  }
}

/** The lock's owner (null: unreadable); a lock file being written right now is read again after a moment. */
async function readOwner(path: string): Promise<{ owner: LockOwner; text: string } | null | 'released'> {
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const text = (await readRegularFile(path)).toString('utf8');
      const o = JSON.parse(text) as LockOwner;
      if (Number.isSafeInteger(o.pid) && o.pid > 0 && typeof o.hostname === 'string' && typeof o.started === 'string') return { owner: o, text };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'released';
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return null;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // running, as another user
  }
}

function releaseIfMine(path: string, text: string): void {
  try {
    if (readFileSync(path, 'utf8') === text) unlinkSync(path);
  } catch {
    // already gone
  }
}
