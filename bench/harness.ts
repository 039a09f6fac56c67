// The benchmark harness: timing (warm-up, then the median of N samples, each sample K iterations
// followed by one wait for GPU completion), the output check against a reference, and the result
// rows that bench/run.ts prints as a table and writes as JSON.
//
// Every library's timed iteration only enqueues work and returns what it produced; `finish` waits
// for the GPU (ours: device().sync(); TF.js and webgpu-torch: submit + onSubmittedWorkDone; jax-js:
// blockUntilReady, which also runs its lazily recorded work) and frees the outputs. jax-js is
// lazy, so its outputs are all kept until `finish`, never dropped unrealised.
import { median } from '../src/gpt/generate-timing.js';
import { autotuneSettled } from '../src/kernels/autotune.js';

export { median }; // one median for the harness and the generation timings

export type PeerName = 'tfjs' | 'jax' | 'webgpuTorch';
export type LibName = 'ours' | PeerName;
export const PEERS: readonly PeerName[] = ['tfjs', 'jax', 'webgpuTorch'];
export const LIBS: readonly LibName[] = ['ours', ...PEERS];
const LIB_TITLES: Record<LibName, string> = { ours: 'ours', tfjs: 'TF.js', jax: 'jax-js', webgpuTorch: 'webgpu-torch' };

export interface TimingOptions {
  /** Untimed runs first (pipeline compiles, buffer pools, jit traces). */
  warmup: number;
  /** Timed samples; the median is reported. */
  samples: number;
  /** Iterations per sample are chosen so one sample takes about this long (0: one iteration). */
  targetMs: number;
  maxIters: number;
}

export interface Timing {
  /** Median milliseconds per iteration. */
  ms: number;
  /** Every sample, ms per iteration. */
  samplesMs: number[];
  itersPerSample: number;
}

export interface Timed<T> {
  /** Enqueues one iteration; returns its outputs (kept alive until `finish`). */
  iteration(): T | Promise<T>;
  /** Waits until the GPU has finished every iteration, then frees the outputs. */
  finish(outputs: T[]): Promise<void>;
}


async function sample<T>(t: Timed<T>, iters: number): Promise<number> {
  const t0 = performance.now();
  const outs: T[] = [];
  for (let i = 0; i < iters; i++) outs.push(await t.iteration());
  await t.finish(outs);
  return (performance.now() - t0) / iters;
}

export async function time<T>(t: Timed<T>, o: TimingOptions): Promise<Timing> {
  for (let i = 0; i < Math.max(1, o.warmup); i++) await sample(t, 1);
  await autotuneSettled(); // our kernels as tuned for these shapes during warm-up
  // iterations per sample from a run after the warm-up and the tuning: a warm-up run may hold the
  // autotuner's trials or a compile (100x a run), and a sample of one iteration would then time
  // the GPU's round trip more than the work
  const probe = o.targetMs > 0 ? await sample(t, 1) : NaN;
  const iters = o.targetMs > 0 ? Math.max(1, Math.min(o.maxIters, Math.round(o.targetMs / Math.max(probe, 1e-3)))) : 1;
  const samplesMs: number[] = [];
  for (let i = 0; i < Math.max(1, o.samples); i++) samplesMs.push(await sample(t, iters));
  return { ms: median(samplesMs), samplesMs, itersPerSample: iters };
}

// ---- checking outputs ---------------------------------------------------------------------

export interface Tolerance {
  atol: number;
  rtol: number;
}

export interface CheckResult {
  ok: boolean;
  /** Largest |got - want| over all outputs. */
  maxAbsErr: number;
  message?: string;
}

export const formatTol = (t: Tolerance) => `|Δ| <= ${t.atol} + ${t.rtol}·|ref|`;

/** Compares each output with its reference elementwise: |got - want| <= atol + rtol |want|. */
export function checkOutputs(
  got: readonly ArrayLike<number>[],
  want: readonly ArrayLike<number>[],
  tol: Tolerance,
  names: readonly string[] = [],
): CheckResult {
  let maxAbsErr = 0;
  for (let o = 0; o < want.length; o++) {
    const g = got[o];
    const w = want[o]!;
    const name = names[o] ?? `output ${o}`;
    if (!g || g.length !== w.length) {
      return { ok: false, maxAbsErr: Infinity, message: `${name}: ${g?.length ?? 0} values, expected ${w.length}` };
    }
    for (let i = 0; i < w.length; i++) {
      const d = Math.abs(g[i]! - w[i]!);
      if (!(d <= tol.atol + tol.rtol * Math.abs(w[i]!))) {
        return { ok: false, maxAbsErr: Number.isNaN(d) ? NaN : d, message: `${name}[${i}] = ${g[i]}, reference ${w[i]} (${formatTol(tol)})` };
      }
      maxAbsErr = Math.max(maxAbsErr, d);
    }
  }
  return { ok: true, maxAbsErr };
}

// ---- result rows --------------------------------------------------------------------------

/** One library's result in a row: a time (ms per iteration) or why there is none. */
export interface Cell {
  ms?: number;
  samplesMs?: number[];
  itersPerSample?: number;
  /** Largest deviation from the reference seen by the check. */
  maxAbsErr?: number;
  /** The library ran but failed, or computed different numbers (never timed then). */
  error?: string;
  /** The library cannot run this benchmark (the reason). */
  na?: string;
  /** A free-form value for rows that are not timings (counts, bytes). */
  text?: string;
}

export type Unit = 'GFLOP/s' | 'GB/s' | 'ms' | 'ms/step' | 'tok/s' | 'info';

export interface Row {
  family: string;
  name: string;
  unit: Unit;
  /** Work per iteration: FLOPs (GFLOP/s), bytes moved (GB/s) or tokens (tok/s, ms/step). */
  work?: number;
  tolerance?: string;
  cells: Record<LibName, Cell>;
}

export const na = (reason: string): Cell => ({ na: reason });

/** Why a case (or a family) failed, in one line: a WGSL dump or a stack would fill the table. */
export const failure = (e: unknown): string => String((e as Error)?.message ?? e).split('\n')[0]!.slice(0, 300);

/** Every peer's cell of a row that only ours runs (the reason). */
export const peersNa = (reason: string): Record<PeerName, Cell> => ({ tfjs: na(reason), jax: na(reason), webgpuTorch: na(reason) });

/** The row's figure for one library, in its unit. */
export function value(row: Row, c: Cell): number | undefined {
  if (c.ms === undefined) return undefined;
  switch (row.unit) {
    case 'GFLOP/s':
    case 'GB/s':
      return row.work! / (c.ms * 1e6);
    case 'tok/s':
      return (row.work! * 1000) / c.ms;
    default:
      return c.ms;
  }
}

/** How many times faster ours is than `peer` (their time / our time); undefined if either is missing. */
export function speedup(row: Row, peer: LibName): number | undefined {
  const a = row.cells.ours.ms;
  const b = row.cells[peer].ms;
  return a !== undefined && b !== undefined && a > 0 ? b / a : undefined;
}

function fmtNum(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a >= 1000 ? x.toFixed(0) : a >= 100 ? x.toFixed(1) : a >= 10 ? x.toFixed(2) : x.toFixed(3);
}

function formatCell(row: Row, c: Cell): string {
  if (c.error) return 'ERROR';
  if (c.na) return 'n/a';
  if (c.text !== undefined) return c.text;
  const v = value(row, c);
  if (v === undefined) return '-';
  if (row.unit === 'ms/step') return `${fmtNum(v)} ms (${fmtNum((row.work! * 1000) / v)} tok/s)`;
  return fmtNum(v);
}

const fmtRatio = (r: number | undefined) => (r === undefined ? '-' : `${r.toFixed(2)}x`);

/** The results table (GitHub markdown), then the errors and n/a reasons as numbered notes. */
export function formatTable(rows: readonly Row[]): string {
  const header = ['benchmark', 'unit', ...LIBS.map((l) => LIB_TITLES[l]), ...PEERS.map((l) => `ours/${LIB_TITLES[l]}`)];
  const notes: string[] = [];
  const noteFor = (lib: LibName, c: Cell): string => {
    const text = c.error ?? c.na;
    if (!text) return '';
    const line = `${LIB_TITLES[lib]}: ${c.error ? 'error: ' : ''}${text}`;
    let i = notes.indexOf(line);
    if (i < 0) i = notes.push(line) - 1;
    return ` [${i + 1}]`;
  };
  const body = rows.map((r) => [
    `${r.family}: ${r.name}`,
    r.unit === 'ms/step' ? 'ms/step' : r.unit,
    ...LIBS.map((l) => formatCell(r, r.cells[l]) + noteFor(l, r.cells[l])),
    ...PEERS.map((l) => fmtRatio(speedup(r, l))),
  ]);
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((line) => line[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const out = [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...body.map(line)];
  if (notes.length) out.push('', ...notes.map((n, i) => `[${i + 1}] ${n}`));
  return out.join('\n');
}

// ---- running one case on one library ------------------------------------------------------

export interface LibCase<T> extends Timed<T> {
  /** Runs once and reads back the outputs to compare with the reference. */
  outputs(): Promise<ArrayLike<number>[]>;
  /** Frees the inputs. */
  dispose?(): void;
}

/** The same case, its outputs reduced to the given flat indices (checks of big outputs against a sampled reference). */
export function pick<T>(c: LibCase<T>, indices: readonly (readonly number[] | null)[]): LibCase<T> {
  return {
    ...c,
    iteration: () => c.iteration(),
    finish: (outs) => c.finish(outs),
    dispose: () => c.dispose?.(),
    async outputs() {
      const all = await c.outputs();
      return all.map((a, i) => {
        const idx = indices[i];
        return idx ? idx.map((j) => a[j]!) : a;
      });
    },
  };
}

export interface Context {
  timing: TimingOptions;
  log: (line: string) => void;
  /** Small sizes and one repetition: a correctness run, not a measurement. */
  smoke: boolean;
  /** Also the slow sizes (matmul 2048, 4096; 8192 on GPUs). */
  big: boolean;
  /** The matmul family's only shapes: these square sizes. */
  matmulSquare?: readonly number[];
}

/** Checks a library's outputs against `reference`, times it, checks again; a mismatch or a throw becomes the cell's error. */
export async function runCase<T>(
  ctx: Context,
  label: string,
  make: () => LibCase<T> | Promise<LibCase<T>>,
  reference: readonly ArrayLike<number>[] | null,
  tol: Tolerance,
  names?: readonly string[],
): Promise<Cell> {
  let c: LibCase<T> | undefined;
  // checked before timing (a wrong result is never timed) and after: the autotuner may have put
  // another variant in place during the warm-up
  /** The largest deviation from the reference, or the error cell of a mismatch. */
  const check = async (when: string): Promise<number | Cell> => {
    const r = checkOutputs(await c!.outputs(), reference!, tol, names);
    if (r.ok) return r.maxAbsErr;
    ctx.log(`  ${label}: MISMATCH${when} ${r.message}`);
    return { error: `mismatch${when}: ${r.message}`, maxAbsErr: r.maxAbsErr };
  };
  try {
    c = await make();
    let maxAbsErr: number | undefined;
    if (reference) {
      const before = await check('');
      if (typeof before !== 'number') return before;
      maxAbsErr = before;
    }
    const t = await time(c, ctx.timing);
    if (reference) {
      const after = await check(' after timing');
      if (typeof after !== 'number') return after;
      maxAbsErr = Math.max(maxAbsErr!, after);
    }
    ctx.log(`  ${label}: ${t.ms.toFixed(3)} ms/iter (median of ${t.samplesMs.length} x ${t.itersPerSample})${maxAbsErr !== undefined ? `, max |Δ| ${maxAbsErr.toExponential(2)}` : ''}`);
    return { ms: t.ms, samplesMs: t.samplesMs, itersPerSample: t.itersPerSample, maxAbsErr };
  } catch (e) {
    const msg = failure(e);
    ctx.log(`  ${label}: ERROR ${msg}`);
    return { error: msg };
  } finally {
    try {
      c?.dispose?.();
    } catch {
      // freeing after a failure may fail too; the result is already recorded
    }
  }
}

// ---- deterministic host data --------------------------------------------------------------

/** Seeded uniform floats in [lo, hi) (mulberry32), the same inputs for every library. */
export function randomFloats(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}

export function randomInts(n: number, seed: number, max: number): Int32Array {
  const u = randomFloats(n, seed, 0, 1);
  return Int32Array.from(u, (x) => Math.min(max - 1, Math.floor(x * max)));
}

/** A kernel lab's `--name value` from the command line, else `fallback`. */
export function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}

/** A kernel lab's shapes flag, 'AxB,CxD', as pairs of numbers. */
export const pairsOf = (list: string): [number, number][] => list.split(',').map((s) => s.split('x').map(Number) as [number, number]);
