// bench/run.ts's command line. Every flag is checked: a misspelt one (--no-peer, --onyl) would
// otherwise be ignored and the whole suite run, minutes of a GPU session's few.
import type { TimingOptions } from './harness.js';

export const FAMILIES = ['matmul', 'op', 'attention', 'train', 'train-gpu', 'gpt2', 'generate'] as const;
export type Family = (typeof FAMILIES)[number];

export interface BenchArgs {
  smoke: boolean;
  big: boolean;
  peers: boolean;
  /** The families to run. */
  only: Family[];
  /** Whether --only named the family (train-gpu and gpt2 run on CPU adapters only then). */
  named: (f: Family) => boolean;
  /** --matmul-square: the matmul family's only shapes, these square sizes (a second run's few rows, under other Dawn flags). */
  matmulSquare?: number[];
  timing: TimingOptions;
}

/**
 * Iterations per sample at most. A sample ends with one wait for the GPU (a submit and a
 * round trip, ~0.1-0.5 ms); on a fast GPU a small op takes microseconds, and at 50 iterations (the
 * cap before) that wait was most of the per-iteration time of a 256³ matmul: GFLOP/s of latency.
 */
const MAX_ITERS = 1000;

const SWITCHES = ['--smoke', '--big', '--no-peers'];
const VALUED = ['--only', '--samples', '--warmup', '--target-ms', '--matmul-square'];

export function parseBenchArgs(args: readonly string[]): BenchArgs {
  const values = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (SWITCHES.includes(a)) {
      values.set(a, '');
    } else if (VALUED.includes(a)) {
      const v = args[i + 1];
      if (v === undefined || v.startsWith('--')) throw new Error(`bench: flag ${a} needs a value, got ${v === undefined ? 'none' : `'${v}'`}`);
      values.set(a, v);
      i++;
    } else {
      throw new Error(`bench: unknown flag '${a}' (known: ${[...SWITCHES, ...VALUED].join(', ')})`);
    }
  }
  const num = (flag: string, dflt: number) => {
    const v = values.get(flag);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`bench: ${flag} expects a non-negative number, got '${v}'`);
    return n;
  };
  const named = values.get('--only')?.split(',') ?? [];
  for (const f of named) if (!(FAMILIES as readonly string[]).includes(f)) throw new Error(`bench: --only: unknown family '${f}' (known: ${FAMILIES.join(', ')})`);
  const square = values.get('--matmul-square')?.split(',');
  for (const n of square ?? []) if (!/^[1-9]\d*$/.test(n)) throw new Error(`bench: --matmul-square expects sizes like 4096,8192, got '${n}'`);
  const smoke = values.has('--smoke');
  return {
    smoke,
    big: values.has('--big'),
    peers: !values.has('--no-peers'),
    only: named.length ? (named as Family[]) : [...FAMILIES],
    named: (f) => named.includes(f),
    ...(square && { matmulSquare: square.map(Number) }),
    timing: smoke
      ? { warmup: 1, samples: 1, targetMs: 0, maxIters: 1 }
      : { warmup: num('--warmup', 2), samples: num('--samples', 7), targetMs: num('--target-ms', 150), maxIters: MAX_ITERS },
  };
}
