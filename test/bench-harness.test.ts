// bench/harness.ts: what a row's cell records. The check must cover the kernels that were timed:
// the autotuner may switch a product to another variant during the warm-up, after the first check.
import { describe, expect, it } from 'vitest';
import { runCase, type Context, type LibCase } from '../bench/harness.js';

const ctx: Context = { timing: { warmup: 1, samples: 3, targetMs: 0, maxIters: 1 }, log: () => {}, smoke: false, big: false };
const tol = { atol: 1e-6, rtol: 0 };

/** A case whose outputs are right until it has been timed (a variant chosen during warm-up computes wrong). */
function switchesAfterTiming(): LibCase<number> {
  let runs = 0;
  return {
    iteration: () => runs++,
    finish: async () => {},
    outputs: async () => [runs > 0 ? [1, 2.5] : [1, 2]],
  };
}

describe('bench runCase', () => {
  it('a case that computes wrong once timed is an error, not a time', async () => {
    const cell = await runCase(ctx, 'ours', switchesAfterTiming, [[1, 2]], tol);
    expect(cell.ms).toBeUndefined();
    expect(cell.error).toMatch(/^mismatch after timing: output 0\[1\] = 2.5, reference 2 /);
  });

  it('a case right before and after timing has its time and largest deviation', async () => {
    const right: LibCase<number> = { iteration: () => 0, finish: async () => {}, outputs: async () => [[1, 2 + 5e-7]] };
    const cell = await runCase(ctx, 'ours', () => right, [[1, 2]], tol);
    expect(cell.error).toBeUndefined();
    expect(cell.ms).toBeGreaterThanOrEqual(0);
    expect(cell.samplesMs).toHaveLength(3);
    expect(cell.maxAbsErr).toBeCloseTo(5e-7, 12);
  });
});
