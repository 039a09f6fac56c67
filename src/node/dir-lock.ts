// One writer per directory (Node only): a lock file created exclusively (so of two processes exactly
// one creates it; written under a temporary name and hard-linked into place, so it never exists
// empty) that holds the owner's pid, host name and start time. A lock whose pid no longer
// runs on this host is stale (its owner was killed) and is taken over; one from another host cannot
// be checked and is left to the user. Release is synchronous, so that signal and exit handlers can
// call it.
//
// Taking over must delete the stale lock only, never a live lock that another process put in its
// place after we read the stale one; a read-compare-unlink cannot promise that (the file may change
// between the compare and the unlink), so deleting a given lock is claimed first, with a claim file
// named after the lock's text and created with O_EXCL: one process at a time may delete that text.
// A claim is itself a lock (its taker's pid, host, time), so a taker killed mid-claim leaves a stale
// claim, deleted the same way.
//
// A lock naming this very process's pid that this process does not hold is stale too: it was left by
// an earlier process that had the same pid (a container's restarted command runs as pid 1 again).
// So is one whose pid now runs another process than the one that took it (the dead owner's pid
// reused): on Linux a lock records when its owner started, in clock ticks since boot
// (/proc/<pid>/stat), which the wall clock's steps do not move. A zombie (dead, not yet reaped by
// its parent) answers signals but holds nothing: its lock is stale too.
//
// Pids name processes within a PID namespace only: a lock records its owner's, and one taken in
// another (a container that shares this host name, its command pid 1 there) is judged by its time
// instead: its owner renews the file's modification time every LOCK_RENEW_MS while it holds it, and
// one not renewed for FOREIGN_LOCK_STALE_MS is stale (a restarted container's earlier command).
import { createHash } from 'node:crypto';
import { readFileSync, readlinkSync, unlinkSync, utimesSync } from 'node:fs';
import { link, open, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { removeDeadWritersTemporaries, tempPathFor } from './atomic-file.js';
import { isRunning, startTicksOf } from './processes.js';
import { readRegularFile } from './regular-files.js';

export const LOCK_FILE = 'gpt.lock';
/** How often a held lock's modification time is renewed. */
export const LOCK_RENEW_MS = 10_000;
/** A lock from another PID namespace not renewed for this long is stale. */
export const FOREIGN_LOCK_STALE_MS = 60_000;

export interface LockOwner {
  pid: number;
  hostname: string;
  /** ISO time the owner took the lock. */
  started: string;
  /** When the owner started, in clock ticks since boot (Linux; absent elsewhere, and in older locks). */
  startTicks?: number;
  /** The owner's PID namespace, as /proc/self/ns/pid names it (Linux; absent elsewhere, and in older locks). */
  pidNamespace?: string;
}

export class DirectoryLockedError extends Error {
  constructor(
    dir: string,
    readonly path: string,
    readonly owner: LockOwner | null,
    /** For a lock from another PID namespace: how long ago its owner last renewed it. */
    renewedAgoMs?: number,
  ) {
    const where = (o: LockOwner) => (o.hostname !== hostname() ? ` on host ${o.hostname}` : foreignNamespace(o) ? ' in another PID namespace (a container)' : '');
    const who = owner
      ? `pid ${owner.pid}${where(owner)}, since ${owner.started}`
      : 'its lock file cannot be read';
    // a restarted container meets its earlier command's lock: it is taken over once it goes unrenewed long enough
    const wait = renewedAgoMs === undefined ? '' : `run again in ${Math.ceil((FOREIGN_LOCK_STALE_MS - renewedAgoMs) / 1000)} s (a lock not renewed for ${FOREIGN_LOCK_STALE_MS / 1000} s is taken over) or `;
    super(`${dir} is in use by another gpt process (${who}); if it is gone, ${wait}delete ${path}`);
    this.name = 'DirectoryLockedError';
  }
}

export interface DirectoryLock {
  readonly path: string;
  release(): void;
}

/** The texts of the locks and claims this process holds: a file naming our pid with another text is an earlier process's. */
const held = new Set<string>();

/** Takes `<dir>/gpt.lock` (dir must exist); `onStale` hears of a dead owner's lock being taken over. */
export async function lockDirectory(dir: string, onStale: (owner: LockOwner) => void = () => {}): Promise<DirectoryLock> {
  const path = join(dir, LOCK_FILE);
  const text = ownerText();
  for (;;) {
    if (await createExclusive(path, text)) {
      held.add(text);
      // a run killed between writing its lock's (or a claim's) temporary file and removing it left it
      await removeDeadWritersTemporaries(dir, (target) => target === LOCK_FILE || target.startsWith(`${LOCK_FILE}.takeover-`));
      const renewal = setInterval(() => renewIfMine(path, text), LOCK_RENEW_MS);
      renewal.unref();
      return {
        path,
        release: () => {
          clearInterval(renewal);
          releaseIfMine(path, text);
          held.delete(text);
        },
      };
    }
    const owner = await staleOwner(dir, path);
    if (owner && (await deleteIfStill(dir, path, owner))) onStale(owner.owner);
  }
}

/** This process as a lock's (or a claim's) owner. */
const ownerText = () => {
  const startTicks = startTicksOf(process.pid);
  const pidNamespace = ourPidNamespace();
  const owner: LockOwner = { pid: process.pid, hostname: hostname(), started: new Date().toISOString(), ...(startTicks !== null && { startTicks }), ...(pidNamespace !== null && { pidNamespace }) };
  return JSON.stringify(owner) + '\n';
};

/**
 * Creates `path` holding `text`, unless it exists (false). The text is written under a temporary
 * name and hard-linked into place, which fails if `path` exists: the file appears whole, so a
 * process killed at any moment leaves no empty lock (one that no run could tell stale).
 */
async function createExclusive(path: string, text: string): Promise<boolean> {
  for (;;) {
    const temp = tempPathFor(path);
    await writeFile(temp, text, { flag: 'wx' }).catch(async (e: unknown) => {
      // created and written in part (a full disk); 'wx' never opened another's
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') await unlink(temp).catch(() => undefined);
      throw e;
    });
    try {
      await link(temp, path);
      return true;
    } catch (e) {
      const { code } = e as NodeJS.ErrnoException;
      if (code === 'EEXIST') return false;
      // file systems without hard links (FAT, exFAT): created, then written
      if (code !== undefined && NO_HARD_LINKS.includes(code)) return createThenWrite(path, text);
      // our temporary file taken for a dead owner's (its pid is ours now): again; a deleted directory fails the write
      if (code !== 'ENOENT') throw e;
    } finally {
      await unlink(temp).catch(() => undefined);
    }
  }
}

/** What link() fails with where the file system has no hard links. */
const NO_HARD_LINKS = ['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'];

/** createExclusive without a link: a process killed between the create and the write leaves an empty lock, refused as unreadable. */
async function createThenWrite(path: string, text: string): Promise<boolean> {
  let file;
  try {
    file = await open(path, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    await file.writeFile(text);
  } catch (e) {
    await unlink(path).catch(() => undefined); // an empty lock would block every later run
    throw e;
  } finally {
    await file.close();
  }
  return true;
}

/** The owner of the lock (or claim) at `path` when it is stale; null when it is gone meanwhile; throws when it is held. */
async function staleOwner(dir: string, path: string): Promise<ReadOwner | null> {
  const read = await readOwner(path);
  if (read === 'released') return null;
  const owner = read?.owner ?? null;
  if (owner && owner.hostname === hostname() && foreignNamespace(owner)) {
    const renewedAgoMs = Math.max(0, Date.now() - read!.renewedMs);
    if (renewedAgoMs < FOREIGN_LOCK_STALE_MS) throw new DirectoryLockedError(dir, path, owner, renewedAgoMs);
    return read;
  }
  const earlierSelf = owner?.pid === process.pid && !held.has(read!.text);
  const reused = owner?.startTicks !== undefined && ![null, owner.startTicks].includes(startTicksOf(owner.pid)); // another process has its pid now
  const running = owner !== null && isRunning(owner.pid) && !reused;
  if (!owner || owner.hostname !== hostname() || (running && !earlierSelf)) throw new DirectoryLockedError(dir, path, owner);
  return read;
}

/**
 * Deletes `path` if it still holds the stale `text`, under a claim on that text (see the top of the
 * file); false when another process deleted it first. A live claim means another run is taking the
 * directory over right now: the directory is in use.
 */
async function deleteIfStill(dir: string, path: string, { text }: ReadOwner): Promise<boolean> {
  const claim = join(dirname(path), `${basename(path)}.takeover-${createHash('sha256').update(text).digest('hex').slice(0, 16)}`);
  for (;;) {
    const claimText = ownerText();
    if (await createExclusive(claim, claimText)) {
      held.add(claimText);
      try {
        // Only a holder of this claim deletes this text, and its owner is dead: it cannot change now.
        if ((await readRegularFile(path).then(String, () => '')) !== text) return false;
        await unlink(path);
        return true;
      } finally {
        await unlink(claim); // ours: a live process's claim is never deleted by another
        held.delete(claimText);
      }
    }
    const taker = await staleOwner(dir, claim);
    if (taker) await deleteIfStill(dir, claim, taker);
  }
}

/** A lock file as read: its owner, its text, and when it was last written or renewed. */
interface ReadOwner {
  owner: LockOwner;
  text: string;
  renewedMs: number;
}

/** The lock's owner (null: unreadable); a lock file being written right now is read again after a moment. */
async function readOwner(path: string): Promise<ReadOwner | null | 'released'> {
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const renewedMs = (await stat(path)).mtimeMs; // before the text: a renewal after it is no older
      const text = (await readRegularFile(path)).toString('utf8');
      const o = JSON.parse(text) as LockOwner;
      const ticks = o.startTicks === undefined || Number.isSafeInteger(o.startTicks);
      const namespace = o.pidNamespace === undefined || typeof o.pidNamespace === 'string';
      if (Number.isSafeInteger(o.pid) && o.pid > 0 && typeof o.hostname === 'string' && typeof o.started === 'string' && ticks && namespace) return { owner: o, text, renewedMs };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'released';
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return null;
}

/** This process's PID namespace (e.g. "pid:[4026531836]"); null where /proc does not say (not Linux). */
function ourPidNamespace(): string | null {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return null;
  }
}

/** Whether the owner took its lock in another PID namespace than ours (or ours cannot be told): its pid means nothing here. */
const foreignNamespace = (owner: LockOwner): boolean => owner.pidNamespace !== undefined && owner.pidNamespace !== ourPidNamespace();

/** Marks our lock at `path` as held now (its modification time), while it is still ours. */
function renewIfMine(path: string, text: string): void {
  try {
    if (readFileSync(path, 'utf8') === text) utimesSync(path, new Date(), new Date());
  } catch {
    // gone: released, or its directory deleted
  }
}

function releaseIfMine(path: string, text: string): void {
  try {
    if (readFileSync(path, 'utf8') === text) unlinkSync(path);
  } catch {
    // already gone
  }
}
