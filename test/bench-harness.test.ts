// bench/harness.ts: what a row's cell records. The check must cover the kernels that were timed:
// the autotuner may switch a product to another variant during the warm-up, after the first check.
// And the train-step benchmark computes in float32, as its peers do, where 'auto' would be float16.
import { afterAll, describe, expect, it, vi } from 'vitest';
import { formatTable, na, runCase, time, type Context, type LibCase, type Row } from '../bench/harness.js';
import { trainStepSuite } from '../bench/suites/train-step.js';
import { profile, setProfile } from '../src/kernels/profile.js';
import { setupDevice } from './helpers.js';

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

describe('bench formatTable', () => {
  it('has a column and a ratio for each peer, webgpu-torch the third, and notes its n/a reasons', () => {
    const row: Row = {
      family: 'matmul',
      name: '2x2x2',
      unit: 'ms',
      cells: { ours: { ms: 1 }, tfjs: { ms: 3 }, jax: na('jax-js away'), webgpuTorch: { ms: 2 } },
    };
    const missing: Row = { ...row, name: 'batched', cells: { ...row.cells, webgpuTorch: na('mm is 2-D only') } };
    const lines = formatTable([row, missing]).split('\n');
    expect(lines[0]!.split('|').map((c) => c.trim()).filter(Boolean)).toEqual(['benchmark', 'unit', 'ours', 'TF.js', 'jax-js', 'webgpu-torch', 'ours/TF.js', 'ours/jax-js', 'ours/webgpu-torch']);
    expect(lines[2]!.split('|').map((c) => c.trim()).slice(-4, -1)).toEqual(['3.00x', '-', '2.00x']);
    expect(lines[3]).toMatch(/\| n\/a \[2\] +\| 3\.00x +\| - +\| - +\|$/);
    expect(lines).toContain('[2] webgpu-torch: mm is 2-D only');
  });
});

describe('bench time', () => {
  it('sizes its samples by a run after the warm-up: a slow warm-up (a compile, the tuner) does not leave one iteration a sample', async () => {
    // a clock each run moves on by its length: two warm-up runs of 200 ms (their compiles), then 1 ms a run
    let runs = 0;
    let clock = 0;
    const now = vi.spyOn(performance, 'now').mockImplementation(() => clock);
    try {
      const t = await time({ iteration: () => void (clock += ++runs <= 2 ? 200 : 1), finish: async () => {} }, { warmup: 2, samples: 3, targetMs: 40, maxIters: 1000 });
      expect(t).toEqual({ ms: 1, samplesMs: [1, 1, 1], itersPerSample: 40 });
    } finally {
      now.mockRestore();
    }
  });
});

describe('bench train-step suite', () => {
  afterAll(() => setProfile(null));

  it("runs in float32 where the adapter's training dtype (auto) is float16, as the peers it is checked against", async () => {
    const ours = await setupDevice();
    setProfile({ trainingDtype: 'float16' }); // an adapter with tensor cores
    if (!profile().f16) return; // no shader-f16: auto is float32 anyway
    expect(profile().trainingDtype).toBe('float16');
    const smoke: Context = { timing: { warmup: 1, samples: 1, targetMs: 0, maxIters: 1 }, log: () => {}, smoke: true, big: false };
    const r = await trainStepSuite({ ours, tf: null, jax: null, torch: null, errors: { tfjs: 'not here', jax: 'not here', webgpuTorch: 'not here' }, versions: {} }, smoke);
    try {
      expect(r.trainer.dtype).toBe('float32');
      expect(r.rows[0]!.cells.ours.ms).toBeGreaterThan(0);
    } finally {
      r.trainer.dispose();
      r.trainer.model.dispose();
    }
  });
});
