// Autotuning: which variant of a kernel family runs a given problem (a matmul's shape) fastest on
// this adapter, found by measuring. The first use of a problem runs the profile's default and
// queues a measurement: each candidate a few times on scratch buffers, GPU time from timestamp
// queries, within a budget. Later uses take the fastest. Winners persist per adapter
// (cache-files.ts: a JSON file in the user's cache directory, or localStorage), so later runs
// start tuned. Candidates compute the same products, so tuning changes results at most by float32
// reassociation (split-K). The default is measured first (a measurement cut short by its budget
// keeps it unless another was faster); a candidate that fails to compile or validate is left out
// with a one-line warning. Off (defaults only) with GPT_AUTOTUNE=0, as the tests run, or
// setAutotune(false), and on Dawn's null backend (nothing runs there to time).
import { device, DeviceLostError, onDeviceOpen } from '../device/device.js';
import { readCache, updateCache } from '../device/cache-files.js';
import { envFlag } from '../device/platform.js';

const CACHE_FILE = 'autotune.json';
/** Runs of each candidate per measurement; the fastest counts (the first may include compilation). */
const RUNS = 3;
/** GPU time one measurement may spend, all candidates together. */
const BUDGET_MS = 200;

export interface Tunable<C> {
  /** The family and problem, e.g. `matmul 384x1152x16384 tb`: one winner per key and adapter. */
  key: string;
  fallback: C;
  candidates: readonly C[];
  /** Scratch inputs for one candidate and a function recording one run, then a way to free them. */
  prepare(candidate: C): { run: () => void; dispose: () => void };
}

let enabled: boolean | undefined; // GPT_AUTOTUNE unless set: read as the device opens, so a bad value fails there on every adapter, not an import
onDeviceOpen(async () => void (enabled ??= envFlag('GPT_AUTOTUNE', true)));
let winners: Map<string, unknown> | null = null; // adapter-scoped; loaded on first use
let loading: Promise<void> | null = null;
const queued = new Set<string>();
let queue: Promise<void> = Promise.resolve();

/** Turns tuning on or off (off: every problem gets the profile's default). */
export function setAutotune(on: boolean): void {
  enabled = on;
}

const adapterKey = () => {
  const i = device().info;
  return [i.vendor, i.architecture, i.device, i.description, i.backend].join('|');
};

/** The candidate to run for `t`: its tuned winner when known, else the fallback (and a measurement is queued). */
export function tuned<C>(t: Tunable<C>): C {
  if (!enabled || t.candidates.length < 2 || !device().executes) return t.fallback;
  if (!winners) {
    loading ??= load();
    return t.fallback;
  }
  const key = `${adapterKey()} ${t.key}`;
  if (winners.has(key)) {
    const winner = knownCandidate(t, winners.get(key));
    if (winner !== undefined) {
      winners.set(key, winner); // later calls find it by identity
      return winner;
    }
    warn(`the cached winner of '${t.key}' is none of its candidates: ${JSON.stringify(winners.get(key)).slice(0, 200)}`);
    winners.delete(key); // measured again
  }
  if (!queued.has(key)) {
    queued.add(key);
    queue = queue.then(() => measure(key, t)).catch(() => undefined);
  }
  return t.fallback;
}

/** Resolves when every queued measurement is done (tests, benchmarks). */
export async function autotuneSettled(): Promise<void> {
  await loading;
  await queue;
}

/**
 * The candidate of `t` a cached winner names, or undefined: the file is anyone's to edit, and a
 * value no candidate has (a tile name, a fractional split count) could fail or compute wrong.
 */
function knownCandidate<C>(t: Tunable<C>, saved: unknown): C | undefined {
  if (saved === t.fallback || t.candidates.includes(saved as C)) return saved as C; // checked before, or measured here
  const text = JSON.stringify(saved);
  return measureOrder(t).find((c) => JSON.stringify(c) === text);
}

const warn = (why: string) => console.warn(`[webgpu-gpt] autotune: ${why}; ignored (${CACHE_FILE} in the cache directory, GPT_CACHE_DIR)`);

/** The saved winners by key, or null where the cache file is damaged (not a JSON object). */
function parseCache(text: string): Record<string, unknown> | null {
  try {
    const saved: unknown = JSON.parse(text);
    return typeof saved === 'object' && saved !== null && !Array.isArray(saved) ? (saved as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

async function load(): Promise<void> {
  const text = (await readCache(CACHE_FILE)) ?? '{}';
  const saved = parseCache(text);
  if (!saved) warn(`the cache is not a JSON object of winners: ${JSON.stringify(text.slice(0, 60))}`);
  winners = new Map(Object.entries(saved ?? {})); // a damaged cache is an empty one
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
  let spent = 0;
  for (const candidate of measureOrder(t)) {
    if (spent > BUDGET_MS) break;
    let scratch: ReturnType<Tunable<C>['prepare']> | null = null;
    try {
      scratch = t.prepare(candidate);
      let fastest = Infinity;
      for (let i = 0; i < RUNS; i++) {
        const ms = await device().timeDispatches(scratch.run);
        if (ms === null) {
          // no timestamps here: keep the defaults; a profile being taken: measure at the next use
          if (device().info.features.includes('timestamp-query')) queued.delete(key);
          return;
        }
        spent += ms;
        fastest = Math.min(fastest, ms);
      }
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
  winners!.set(key, best.candidate);
  // with the winners other processes saved since this one loaded (under the file's lock: theirs would be lost otherwise)
  await updateCache(CACHE_FILE, (text) => JSON.stringify({ ...parseCache(text ?? '{}'), ...Object.fromEntries(winners!) }, null, 1));
}
