// bench/run.ts's flags: a misspelt flag or family is refused in one line instead of running the
// whole suite (minutes of a GPU session's few).
import { describe, expect, it } from 'vitest';
import { FAMILIES, parseBenchArgs } from '../bench/args.js';

describe('bench flags', () => {
  it('refuses an unknown flag, naming it and the known ones', () => {
    expect(() => parseBenchArgs(['--no-peer'])).toThrow(/^bench: unknown flag '--no-peer' \(known: --smoke, --big, --no-peers, --only/);
    expect(() => parseBenchArgs(['matmul'])).toThrow(/unknown flag 'matmul'/);
  });

  it('refuses a valued flag without its value', () => {
    expect(() => parseBenchArgs(['--only'])).toThrow(/^bench: flag --only needs a value, got none$/);
    expect(() => parseBenchArgs(['--only', '--big'])).toThrow(/flag --only needs a value, got '--big'/);
    expect(() => parseBenchArgs(['--samples', 'x'])).toThrow(/--samples expects a non-negative number, got 'x'/);
  });

  it('refuses an unknown family', () => {
    expect(() => parseBenchArgs(['--only', 'matmul,gpu2'])).toThrow(/--only: unknown family 'gpu2'/);
  });

  it('--only picks families and marks them named; without it every family runs, none named', () => {
    const some = parseBenchArgs(['--only', 'train-gpu,matmul', '--big']);
    expect(some.only).toEqual(['train-gpu', 'matmul']);
    expect(some.named('train-gpu')).toBe(true);
    expect(some.named('gpt2')).toBe(false);
    expect(some.big).toBe(true);
    const all = parseBenchArgs([]);
    expect(all.only).toEqual([...FAMILIES]);
    expect(FAMILIES.some((f) => all.named(f))).toBe(false);
    expect(all.peers).toBe(true);
    expect(parseBenchArgs(['--no-peers']).peers).toBe(false);
  });

  it('--matmul-square takes positive sizes, and refuses anything else naming it', () => {
    expect(parseBenchArgs(['--only', 'matmul', '--matmul-square', '4096,8192']).matmulSquare).toEqual([4096, 8192]);
    expect(parseBenchArgs([]).matmulSquare).toBeUndefined();
    for (const bad of ['4096,', '0', '4096x', '-8', '1e3']) {
      expect(() => parseBenchArgs(['--matmul-square', bad])).toThrow(/^bench: --matmul-square expects sizes like 4096,8192, got '/);
    }
  });

  it('--smoke times one repetition; otherwise the timing flags are used', () => {
    expect(parseBenchArgs(['--smoke']).timing).toEqual({ warmup: 1, samples: 1, targetMs: 0, maxIters: 1 });
    expect(parseBenchArgs(['--samples', '3', '--warmup', '1', '--target-ms', '50']).timing).toEqual({ warmup: 1, samples: 3, targetMs: 50, maxIters: 1000 });
  });
});
