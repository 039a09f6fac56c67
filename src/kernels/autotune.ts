// Autotuning: which variant of a kernel family runs a given problem (a matmul's shape) fastest on
// this adapter, found by measuring. The first use of a problem runs the profile's default and
// queues a measurement: each candidate a few times on scratch buffers, GPU time from timestamp
// queries, within a budget of wall time that counts what the program waits for: the candidates'
// runs and the compiling of their kernels (seconds a kernel on a CPU adapter), not the program's
// own work queued before (the queue is let drain first). A candidate whose kernels would take
// longer to compile than the budget has left is not tried: the estimate is the longest compile
// measured on this device (a candidate's first run less its fastest), and candidates run here
// before (by family and candidate) count as compiled. Which candidates there are, and in what
// order, is the profile's (profile.ts: fewer on CPU adapters). Later uses take the fastest.
// Winners persist per adapter and driver (Dawn's adapter description names the driver's version:
// an update measures again) in a cache file (cache-files.ts: a JSON file in the user's cache
// directory, or localStorage), each with the set of candidates it was measured among, so that a
// version of the code with other candidates measures again; a save adds its winner to the file as
// it is then, under a lock, so processes tuning at once keep each other's. Candidates compute the
// same products, so tuning changes results at most by float32 reassociation (split-K). The default
// is measured first (a measurement cut short by its budget keeps it unless another was faster;
// ties keep it too); a candidate that fails to compile or validate is left out with a one-line
// warning, and one timed at 0 ms (nothing to time, or shorter than the timer's resolution:
// browsers quantize timestamps) is never the winner. Off (defaults only) with GPT_AUTOTUNE=0, as
// the tests run, or setAutotune(false), and on Dawn's null backend (nothing runs there to time).
import type { DeviceInfo } from '../device/adapter.js';
import { cacheLocation, readCache, updateCache } from '../device/cache-files.js';
import { device, DeviceLostError, onDeviceOpen } from '../device/device.js';
import { envFlag } from '../device/platform.js';

const CACHE_FILE = 'autotune.json';
/** Runs of each candidate per measurement; the fastest counts (the first may include compilation). */
const RUNS = 3;
/** Wall milliseconds one measurement may take, all candidates and their compiles together (`gpt doctor` says it). */
export const AUTOTUNE_BUDGET_MS = 300;

export interface Tunable<C> {
  /** The family and problem, e.g. `matmul 384x1152x16384 tb`: one winner per key, adapter and driver. */
  key: string;
  /**
   * What besides the candidate decides the kernels a run compiles (the key less its shape, e.g.
   * `matmul tb`): a candidate run for one problem is compiled for the others of its family.
   * Without it, the key.
   */
  family?: string;
  fallback: C;
  candidates: readonly C[];
  /** Scratch inputs for one candidate and a function recording one run, then a way to free them. */
  prepare(candidate: C): { run: () => void; dispose: () => void };
}

let enabled: boolean | undefined; // GPT_AUTOTUNE unless set: read as the device opens, so a bad value fails there on every adapter, not an import
onDeviceOpen(async () => void (enabled ??= envFlag('GPT_AUTOTUNE', true)));
let saved: Map<string, unknown> | null = null; // the cache's entries by key, as loaded on first use (each checked at its first use)
let loading: Promise<void> | null = null;
const chosen = new Map<string, unknown>(); // winners checked or measured here, by key
const queued = new Set<string>();
let queue: Promise<void> = Promise.resolve();
/** Milliseconds the longest compile of a candidate took on this device; 0 until one is measured. */
let compileEstimate = 0;
/** Candidates run on this device, as `family candidate`: their kernels are compiled. */
const compiled = new Set<string>();
onDeviceOpen(async () => forgetCompiles()); // a new device compiles everything again

/**
 * Turns tuning on or off (off: every problem gets the profile's default); what it was, to restore:
 * undefined before the device opens and reads GPT_AUTOTUNE (restored so, it still reads it).
 */
export function setAutotune(on: boolean | undefined): boolean | undefined {
  const was = enabled;
  enabled = on;
  return was;
}

/** The adapter and its driver, as a winner's key starts. */
export const adapterKey = (i: DeviceInfo) => [i.vendor, i.architecture, i.device, i.description, i.backend].join('|');

/** The candidate to run for `t`: its tuned winner when known, else the fallback (and a measurement is queued). */
export function tuned<C>(t: Tunable<C>): C {
  if (!enabled || t.candidates.length < 2 || !device().executes) return t.fallback;
  if (!saved) {
    loading ??= load();
    return t.fallback;
  }
  const key = `${adapterKey(device().info)} ${t.key}`;
  if (chosen.has(key)) return chosen.get(key) as C;
  if (saved.has(key)) {
    const winner = savedWinner(t, saved.get(key));
    saved.delete(key); // checked once
    if (winner !== undefined) {
      chosen.set(key, winner);
      return winner;
    }
  }
  if (!queued.has(key)) {
    queued.add(key);
    queue = queue.then(() => measure(key, t)).catch(() => undefined);
  }
  return t.fallback;
}

/**
 * Forgets the winners read and measured so far, and the compile times: the cache is read again at
 * the next use (tests: a cache edited or deleted meanwhile, a measurement from a clean slate).
 */
export function forgetWinners(): void {
  [saved, loading] = [null, null];
  chosen.clear();
  queued.clear();
  forgetCompiles();
}

function forgetCompiles(): void {
  compileEstimate = 0;
  compiled.clear();
}

/** Resolves when every queued measurement is done (tests, benchmarks). */
export async function autotuneSettled(): Promise<void> {
  await loading;
  await queue;
}

/** A winner as the cache holds it: the candidate, and the set it was measured among (candidateSet). */
interface Entry {
  winner: unknown;
  among: string;
}

/**
 * The candidate of `t` a cache entry names, or undefined (measured again): one measured among
 * other candidates (an older version's), or in an older format, silently; one naming no candidate,
 * with a warning: the file is anyone's to edit, and a value no candidate has (a tile name, a
 * fractional split count) could fail or compute wrong.
 */
function savedWinner<C>(t: Tunable<C>, entry: unknown): C | undefined {
  if (typeof entry !== 'object' || entry === null || (entry as Entry).among !== candidateSet(t)) return undefined;
  const text = JSON.stringify((entry as Entry).winner) ?? 'nothing';
  const winner = measureOrder(t).find((c) => JSON.stringify(c) === text);
  if (winner === undefined) warn(`the cached winner of '${t.key}' is none of its candidates: ${text.slice(0, 200)}`);
  return winner;
}

/** A short hash (FNV-1a) of what a measurement of `t` runs, in order: another set of candidates, or another default, is another problem. */
function candidateSet<C>(t: Tunable<C>): string {
  let hash = 0x811c9dc5;
  for (const ch of JSON.stringify(measureOrder(t))) hash = Math.imul(hash ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return hash.toString(16).padStart(8, '0');
}

const warn = (why: string) => console.warn(`[webgpu-gpt] autotune: ${why}; ignored (${CACHE_FILE} in the cache directory, GPT_CACHE_DIR)`);

/** The saved entries by key, or null where the cache file is damaged (not a JSON object). */
function parseCache(text: string): Record<string, unknown> | null {
  try {
    const entries: unknown = JSON.parse(text);
    return typeof entries === 'object' && entries !== null && !Array.isArray(entries) ? (entries as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

async function load(): Promise<void> {
  const text = (await readCache(CACHE_FILE)) ?? '{}';
  const entries = parseCache(text);
  if (!entries) warn(`the cache is not a JSON object of winners: ${JSON.stringify(text.slice(0, 60))}`);
  saved = new Map(Object.entries(entries ?? {})); // a damaged cache is an empty one
}

/**
 * What a measurement runs, in order: the fallback first, so that a budget spent before the end
 * leaves the fallback in the running (a winner is never one slower than it), and ties keep it;
 * then the other candidates.
 */
function measureOrder<C>(t: Tunable<C>): C[] {
  const seen = new Set<string>();
  return [t.fallback, ...t.candidates].filter((c) => {
    const text = JSON.stringify(c);
    return !seen.has(text) && seen.add(text);
  });
}

async function measure<C>(key: string, t: Tunable<C>): Promise<void> {
  let best: { candidate: C; ms: number } | null = null;
  let spent = 0; // wall ms of this measurement's runs, compiles included
  for (const candidate of measureOrder(t)) {
    const left = AUTOTUNE_BUDGET_MS - spent;
    if (left <= 0) break;
    const id = `${t.family ?? t.key} ${JSON.stringify(candidate)}`;
    const fresh = !compiled.has(id);
    // its compile alone would spend what is left (the default's kernels are compiled: its first use ran them)
    if (fresh && candidate !== t.fallback && compileEstimate >= left) continue;
    let scratch: ReturnType<Tunable<C>['prepare']> | null = null;
    try {
      scratch = t.prepare(candidate);
      let fastest = Infinity;
      const walls: number[] = [];
      // a candidate far slower than the others stops at the run that spends the budget
      for (let i = 0; i < RUNS && spent < AUTOTUNE_BUDGET_MS; i++) {
        await device().idle(); // the program's work queued before is not this measurement's
        const start = performance.now();
        const ms = await device().timeDispatches(scratch.run);
        if (ms === null) {
          // no timestamps here: keep the defaults; a profile being taken: measure at the next use
          if (device().info.features.includes('timestamp-query')) queued.delete(key);
          return;
        }
        walls.push(performance.now() - start);
        spent += walls.at(-1)!;
        fastest = Math.min(fastest, ms);
      }
      compiled.add(id);
      if (fresh) compileEstimate = Math.max(compileEstimate, compileTime(walls, fastest));
      // 0 ms: it dispatched nothing, or ran shorter than the timer resolves; not ranked but as the default
      if (fastest === 0 && candidate !== t.fallback) continue;
      if (!best || fastest < best.ms) best = { candidate, ms: fastest };
    } catch (e) {
      if (e instanceof DeviceLostError) return; // nothing more can be measured; the program's next op says why
      // a candidate that fails (a driver refusing its kernel) is left out: never the winner
      console.warn(`[webgpu-gpt] autotune: candidate ${JSON.stringify(candidate)} of '${t.key}' failed (${(e as Error).message.split('\n')[0]}); left out`);
    } finally {
      scratch?.dispose();
    }
  }
  if (!best) return;
  chosen.set(key, best.candidate);
  // this winner alone, added to the file as it is now: other processes' winners stay, and so does
  // a cache deleted meanwhile (to measure again) but for this winner
  const entry: Entry = { winner: best.candidate, among: candidateSet(t) };
  await updateCache(CACHE_FILE, (text) => JSON.stringify({ ...parseCache(text ?? '{}'), [key]: entry }, null, 1));
}

/**
 * The wall milliseconds a candidate's first run spent compiling: what it took beyond its fastest
 * later run, or (run once: the budget spent) beyond its GPU time.
 */
const compileTime = (walls: readonly number[], gpuMs: number) => Math.max(0, walls[0]! - (walls.length > 1 ? Math.min(...walls.slice(1)) : gpuMs));

/**
 * What the cache holds for an adapter (`gpt doctor`): where it is, this adapter's winners by problem,
 * how many of its entries are an older version's (a winner alone, without the set it was measured
 * among: measured again), and how many are other adapters' or drivers'.
 */
export async function savedWinners(info: DeviceInfo): Promise<{ location: string; winners: [string, unknown][]; older: number; others: number }> {
  const entries = Object.entries(parseCache((await readCache(CACHE_FILE)) ?? '{}') ?? {});
  const prefix = `${adapterKey(info)} `;
  const mine = entries.filter(([k]) => k.startsWith(prefix));
  const current = mine.filter(([, e]) => typeof (e as Entry | null)?.among === 'string');
  const winners = current.map(([k, e]): [string, unknown] => [k.slice(prefix.length), (e as Entry).winner]);
  return { location: await cacheLocation(CACHE_FILE), winners, older: mine.length - current.length, others: entries.length - mine.length };
}
