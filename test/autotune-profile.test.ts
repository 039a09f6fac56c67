// The autotuner and a profile (device().startProfiling, `gpt train --profile`) at the same time: a
// measurement cannot time its candidates while every dispatch is being profiled, and must be made
// again at the problem's next use, not dropped for the rest of the process (its kernel stayed the
// untuned default for the whole training run after the profiled step).
import { beforeAll, describe, expect, it } from 'vitest';
import { device } from '../src/index.js';
import { autotuneSettled, setAutotune, tuned, type Tunable } from '../src/kernels/autotune.js';
import { launchFill } from '../src/kernels/wgsl/fill.js';
import { autotuneCacheDir, runOnce, setupDevice } from './helpers.js';

beforeAll(setupDevice);
const cacheDir = autotuneCacheDir('gpt-autotune-profile-');

describe('autotune during a profile', () => {
  it('a measurement that met a profile is made at the next use', async () => {
    if (!device().info.features.includes('timestamp-query')) return; // nothing is measured without timestamps
    process.env.GPT_CACHE_DIR = cacheDir;
    setAutotune(true);
    // 'measured' fills 4 numbers, the default 256K: once measured, 'measured' wins. Not more: on a loaded
    // machine the default's runs of 4M spent the whole budget (AUTOTUNE_BUDGET_MS), and 'measured' was never timed
    const t: Tunable<string> = {
      key: 'profile-retry test',
      fallback: 'default',
      candidates: ['measured', 'default'],
      prepare: (c) => {
        const out = device().alloc(4 * 2 ** 18, 'autotune test');
        return { run: () => launchFill('i32', out, c === 'default' ? 2 ** 18 : 4, 1, 0), dispose: () => device().release(out) };
      },
    };
    tuned(t); // loads the (empty) cache
    await runOnce(t.prepare('default')); // as the program's first use would: its compile is not the measurement's
    await autotuneSettled();
    device().startProfiling();
    expect(tuned(t)).toBe('default'); // queues a measurement, which meets the profile
    await autotuneSettled();
    await device().stopProfiling();
    expect(tuned(t)).toBe('default'); // not measured yet: queued again
    await autotuneSettled();
    expect(tuned(t)).toBe('measured');
  });
});
