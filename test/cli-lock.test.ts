// The directory lock between real processes: several racing to take over one stale lock (its
// owner was killed), over many trials, never hold it at the same time; a lock left by an earlier
// process of this one's pid, by a process another now has the pid of, and by a zombie; one taken in
// another PID namespace, judged by when it was last renewed.
import { build } from 'esbuild';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, utimesSync, watch, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it, vi } from 'vitest';
import { DirectoryLockedError, FOREIGN_LOCK_STALE_MS, lockDirectory, LOCK_FILE, LOCK_RENEW_MS, type LockOwner } from '../src/node/dir-lock.js';
import { tempDir } from './cli-helpers.js';

// a file system without hard links (FAT, exFAT) refuses link() with EPERM: the last test's
const links = vi.hoisted(() => ({ refused: false }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const refusal = () => Promise.reject(Object.assign(new Error('EPERM: operation not permitted, link'), { code: 'EPERM' }));
  return { ...fs, link: (...args: Parameters<typeof fs.link>) => (links.refused ? refusal() : fs.link(...args)) };
});

const RACERS = 6;
const TRIALS = 40;
const PERIOD_MS = 150;

/**
 * Each racer, at the same wall-clock moments, tries to lock trial k's directory; a holder creates
 * a marker file exclusively (failing if another holder's marker is there), keeps it a while, then
 * removes it and releases. Prints one JSON line per trial.
 */
const RACER = `
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { DirectoryLockedError, lockDirectory } from './src/node/dir-lock.ts';
const [root, start, trials, period] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
for (let k = 0; k < Number(trials); k++) {
  await sleep(Number(start) + k * Number(period) - Date.now());
  const dir = join(root, String(k));
  try {
    const lock = await lockDirectory(dir);
    let overlap = false;
    await open(join(dir, 'holder'), 'wx').then((f) => f.close(), () => (overlap = true));
    await sleep(Number(period) / 2);
    if (!overlap) await unlink(join(dir, 'holder'));
    lock.release();
    console.log(JSON.stringify({ k, held: true, overlap }));
  } catch (e) {
    if (!(e instanceof DirectoryLockedError)) throw e;
    console.log(JSON.stringify({ k, held: false }));
  }
}
`;

it('processes racing over a stale lock: at most one holds it at any time', async () => {
  const root = tempDir('cli-lock');
  const script = join(root, 'racer.mjs');
  await build({
    stdin: { contents: RACER, resolveDir: fileURLToPath(new URL('..', import.meta.url)), loader: 'ts' },
    outfile: script,
    bundle: true,
    platform: 'node',
    format: 'esm',
    logLevel: 'silent',
  });
  const dead = spawnSync(process.execPath, ['-e', '']).pid!;
  for (let k = 0; k < TRIALS; k++) {
    mkdirSync(join(root, String(k)));
    writeFileSync(join(root, String(k), LOCK_FILE), JSON.stringify({ pid: dead, hostname: hostname(), started: 'x' }) + '\n');
  }
  const start = Date.now() + 2000; // every racer started by then
  const outputs = await Promise.all(
    Array.from({ length: RACERS }, () => {
      const child = spawn(process.execPath, [script, root, String(start), String(TRIALS), String(PERIOD_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d));
      return new Promise<string>((resolve) => child.on('close', (code) => resolve(code === 0 ? out : `exit ${code}`)));
    }),
  );
  const results = outputs.flatMap((out) => out.trim().split('\n').map((l) => JSON.parse(l) as { k: number; held: boolean; overlap?: boolean }));
  expect(results).toHaveLength(RACERS * TRIALS);
  const overlapping = results.filter((r) => r.overlap).map((r) => r.k);
  expect(overlapping, 'trials where two processes held the lock at once').toEqual([]);
  for (let k = 0; k < TRIALS; k++) {
    expect(results.some((r) => r.k === k && r.held), `trial ${k}: someone took the stale lock over`).toBe(true);
    expect(readdirSync(join(root, String(k))), `trial ${k}: nothing left behind`).toEqual([]);
  }
});

it("a lock naming this process's pid that it does not hold was left by an earlier process of that pid (a restarted container's pid 1): taken over; the one it holds is not", async () => {
  const dir = tempDir('cli-lock-self');
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: process.pid, hostname: hostname(), started: '2026-01-01T00:00:00.000Z' }) + '\n');
  const stale: LockOwner[] = [];
  const lock = await lockDirectory(dir, (owner) => stale.push(owner));
  expect(stale.map((owner) => [owner.pid, owner.started])).toEqual([[process.pid, '2026-01-01T00:00:00.000Z']]);
  await expect(lockDirectory(dir)).rejects.toThrow(DirectoryLockedError);
  lock.release();
  expect(readdirSync(dir)).toEqual([]);
});

it("a lock whose pid now runs another process (its start time in ticks since boot is not the lock's) is taken over; the owner's own is not", async (ctx) => {
  if (process.platform !== 'linux') ctx.skip(); // /proc tells a process's start
  const dir = tempDir('cli-lock-reused');
  const other = spawn('sleep', ['30']);
  try {
    await new Promise((resolve) => other.once('spawn', resolve));
    const stat = readFileSync(`/proc/${other.pid}/stat`, 'utf8');
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    const lockOf = (startTicks: number) => writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: other.pid, hostname: hostname(), started: new Date().toISOString(), startTicks }) + '\n');
    lockOf(ticks); // that process's own
    await expect(lockDirectory(dir)).rejects.toThrow(DirectoryLockedError);
    lockOf(ticks - 1); // taken by a process that had this pid before it
    const stale: LockOwner[] = [];
    const lock = await lockDirectory(dir, (owner) => stale.push(owner));
    expect(stale.map((owner) => owner.pid)).toEqual([other.pid]);
    expect(JSON.parse(readFileSync(lock.path, 'utf8')).startTicks, 'a lock records its own start').toEqual(expect.any(Number));
    lock.release();
  } finally {
    other.kill();
  }
});

it('a lock whose owner is a zombie (killed, not yet reaped by its parent) is stale: taken over', async (ctx) => {
  if (process.platform !== 'linux') ctx.skip(); // /proc tells a process's state
  const dir = tempDir('cli-lock-zombie');
  // the first sleep ends after its parent has become the second (exec), which never reaps it
  const parent = spawn('sh', ['-c', 'sleep 0.2 & echo $!; exec sleep 30']);
  try {
    const pid = Number(await new Promise<string>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(String(d)))));
    let stat = '';
    for (let i = 0; i < 100 && !/\) Z /.test(stat); i++) {
      await new Promise((r) => setTimeout(r, 20));
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    }
    expect(stat, 'a zombie').toMatch(/\) Z /);
    const startTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid, hostname: hostname(), started: new Date().toISOString(), startTicks }) + '\n');
    const stale: LockOwner[] = [];
    const lock = await lockDirectory(dir, (owner) => stale.push(owner));
    expect(stale.map((owner) => owner.pid)).toEqual([pid]);
    lock.release();
  } finally {
    parent.kill();
  }
});

it('a lock taken in another PID namespace (a container sharing this host name) is judged by its renewals, not our pids: refused while renewed, even naming our own pid or a pid of another process here; taken over once not renewed for a minute', async (ctx) => {
  if (process.platform !== 'linux') ctx.skip(); // namespaces are Linux's
  const dir = tempDir('cli-lock-namespace');
  const path = join(dir, LOCK_FILE);
  const foreign = (pid: number) => writeFileSync(path, JSON.stringify({ pid, hostname: hostname(), started: new Date().toISOString(), startTicks: 1, pidNamespace: 'pid:[1]' }) + '\n');
  for (const pid of [process.pid, 1]) { // pid 1 there is that container's command; here, init (another start)
    foreign(pid);
    await expect(lockDirectory(dir), `pid ${pid}`).rejects.toThrow(`${dir} is in use by another gpt process (pid ${pid} in another PID namespace (a container), since `);
    await expect(lockDirectory(dir), 'when it is taken over').rejects.toThrow(new RegExp(`; if it is gone, run again in (59|60) s \\(a lock not renewed for 60 s is taken over\\) or delete ${path}$`));
  }
  // its owner gone (a restarted container's earlier command): no renewal for a minute
  const last = (Date.now() - FOREIGN_LOCK_STALE_MS - 1_000) / 1000;
  utimesSync(path, last, last);
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] }); // to see our own lock renewed
  const stale: LockOwner[] = [];
  const lock = await lockDirectory(dir, (owner) => stale.push(owner));
  try {
    expect(stale.map((owner) => owner.pid)).toEqual([1]);
    expect(JSON.parse(readFileSync(lock.path, 'utf8')).pidNamespace, 'a lock records its namespace').toBe(readlinkSync('/proc/self/ns/pid'));
    vi.setSystemTime(Date.now() + 3_600_000);
    vi.advanceTimersByTime(LOCK_RENEW_MS);
    expect(statSync(lock.path).mtimeMs).toBeGreaterThan(Date.now() - 5_000);
  } finally {
    lock.release();
    vi.useRealTimers();
  }
});

/** Takes the lock of the directory it is given, then waits to be killed. */
const LOCKER = `
import { lockDirectory } from './src/node/dir-lock.ts';
await lockDirectory(process.argv[2]);
setTimeout(() => {}, 30_000);
`;

it('a process killed the moment its lock file appears leaves a lock the next run takes over (never an empty one, which no one could tell stale)', async () => {
  const root = tempDir('cli-lock-killed');
  const script = join(root, 'locker.mjs');
  await build({ stdin: { contents: LOCKER, resolveDir: fileURLToPath(new URL('..', import.meta.url)), loader: 'ts' }, outfile: script, bundle: true, platform: 'node', format: 'esm', logLevel: 'silent' });
  for (let trial = 0; trial < 5; trial++) {
    const dir = join(root, String(trial));
    mkdirSync(dir);
    const child = spawn(process.execPath, [script, dir], { stdio: 'ignore' });
    const watcher = watch(dir, (_, name) => name === LOCK_FILE && child.kill('SIGKILL'));
    await new Promise((resolve) => child.on('close', resolve));
    watcher.close();
    const stale: LockOwner[] = [];
    const lock = await lockDirectory(dir, (owner) => stale.push(owner));
    expect(stale.map((owner) => owner.pid), `trial ${trial}: the killed process's lock, taken over`).toEqual([child.pid]);
    lock.release();
    expect(readdirSync(dir), `trial ${trial}: nothing left behind`).toEqual([]);
  }
});

it("a process killed between writing its lock's temporary file and linking it into place leaves that file: the next holder removes it (a live writer's stays)", async () => {
  const dir = tempDir('cli-lock-killed-temp');
  const dead = spawnSync(process.execPath, ['-e', '']).pid!; // exited: as a killed run
  const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  try {
    const owner = (pid: number) => JSON.stringify({ pid, hostname: hostname(), started: new Date().toISOString() }) + '\n';
    const left = [`.${LOCK_FILE}.tmp-${dead}-abc123`, `.${LOCK_FILE}.takeover-0123456789abcdef.tmp-${dead}-abc123`];
    const racing = `.${LOCK_FILE}.tmp-${live.pid}-abc123`; // a live process between its write and its link
    for (const [name, pid] of [...left.map((n) => [n, dead] as const), [racing, live.pid!] as const]) writeFileSync(join(dir, name), owner(pid));
    const lock = await lockDirectory(dir);
    expect(readdirSync(dir).sort()).toEqual([racing, LOCK_FILE].sort());
    lock.release();
  } finally {
    live.kill();
  }
});

// a leftover the holder cannot remove (another user's, in a sticky directory; here, as root, a
// directory under such a name) is left: the lock is taken all the same, not refused for good
it("a killed writer's temporary lock file that cannot be removed does not keep the lock from being taken", async () => {
  const dir = tempDir('cli-lock-stuck-temp');
  const dead = spawnSync(process.execPath, ['-e', '']).pid!;
  const stuck = `.${LOCK_FILE}.tmp-${dead}-abc123`;
  mkdirSync(join(dir, stuck));
  const lock = await lockDirectory(dir);
  expect(readdirSync(dir).sort()).toEqual([stuck, LOCK_FILE].sort());
  lock.release();
  expect(readdirSync(dir)).toEqual([stuck]);
});

it('where the file system has no hard links, the lock is created and then written: held, refused to a second taker, released', async () => {
  const dir = tempDir('cli-lock-no-links');
  links.refused = true;
  try {
    const lock = await lockDirectory(dir);
    expect(JSON.parse(readFileSync(lock.path, 'utf8')).pid).toBe(process.pid);
    await expect(lockDirectory(dir)).rejects.toThrow(DirectoryLockedError);
    lock.release();
    expect(readdirSync(dir)).toEqual([]);
  } finally {
    links.refused = false;
  }
});
