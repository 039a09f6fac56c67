// The autotuner's measurements as trials (src/kernels/autotune.ts measure, device.ts
// timeDispatches): a candidate a driver refuses (a compile or validation error) must be left out,
// not win with the 0 ms its never-written timestamps read as, be saved, and then fail every later
// run; nor may its error surface at the program's next read. And a measurement its budget cuts
// short keeps the default unless something measured beat it, and a candidate far slower than the
// others does not run three times its budget; a candidate timed at 0 ms is no winner. The budget is
// wall time and counts compiling (seconds a kernel on SwiftShader, which the GPU's timestamps never
// saw): faked here by a candidate whose first run blocks the thread, as Dawn's pipeline creation
// does in Node.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { device, scope, tensor } from '../src/index.js';
import { AUTOTUNE_BUDGET_MS, autotuneSettled, forgetWinners, setAutotune, tuned, type Tunable } from '../src/kernels/autotune.js';
import { Kernel } from '../src/kernels/kernel.js';
import { autotuneCacheDir, runOnce, setupDevice } from './helpers.js';

beforeAll(setupDevice);
const cacheDir = autotuneCacheDir('gpt-autotune-trials-');

/** One workgroup looping `p.n` times; `broken` names an undefined value (a compile error). */
const spin = (broken: boolean) =>
  new Kernel({
    name: broken ? 'autotune-broken' : 'autotune-spin',
    write: { out: 'f32' },
    params: { n: 'u32' },
    body: `@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  var s = 0.0;
  for (var i = 0u; i < p.n; i++) { s = fma(s, 0.999, ${broken ? 'undefined_value' : 'f32(i)'}); }
  out[g.x] = s;
}`,
  });
const [working, broken] = [spin(false), spin(true)];

/** A Tunable whose candidates each launch `how(candidate)`: a kernel, its loop count and its grid. */
function tunable<C extends string>(key: string, fallback: C, candidates: C[], how: (c: C) => { kernel: Kernel; n: number; grid: [number, number, number] }): Tunable<C> {
  return {
    key,
    fallback,
    candidates,
    prepare(candidate) {
      const out = device().alloc(4 * 64, 'autotune trial');
      const { kernel, n, grid } = how(candidate);
      return { run: () => kernel.launch([out], { n }, grid), dispose: () => device().release(out) };
    },
  };
}

/** Measures `t` (its first use queues it) and returns its winner then, the warnings meanwhile and what was saved. */
async function measured<C>(t: Tunable<C>): Promise<{ winner: C; warnings: string[]; saved: unknown }> {
  const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
  try {
    tuned(t); // loads the cache
    await runOnce(t.prepare(t.fallback)); // as the program's first use would: its compile is not the measurement's
    await autotuneSettled();
    tuned(t); // queues the measurement
    await autotuneSettled();
    const cache = Object.entries(JSON.parse(readFileSync(join(cacheDir, 'autotune.json'), 'utf8')) as Record<string, unknown>);
    const saved = (cache.find(([k]) => k.endsWith(` ${t.key}`))?.[1] as { winner: unknown } | undefined)?.winner;
    return { winner: tuned(t), warnings: warn.mock.calls.map((c) => String(c[0])), saved };
  } finally {
    warn.mockRestore();
  }
}

describe('autotune measurements', () => {
  beforeAll(() => {
    process.env.GPT_CACHE_DIR = cacheDir;
    setAutotune(true);
  });

  it.each([
    ['fails to compile', { kernel: broken, n: 10, grid: [1, 1, 1] as [number, number, number] }, /WGSL compile error in kernel 'autotune-broken': autotune-broken:\d+:\d+: .*undefined_value/],
    ['fails validation (a grid past the adapter\'s limit)', { kernel: working, n: 10, grid: [1, 1, 2 ** 31] as [number, number, number] }, /workgroup/i],
  ])('a candidate that %s is left out with one warning line; the next read is clean', async (what, refused, message) => {
    if (!device().info.features.includes('timestamp-query')) return; // nothing is measured without timestamps
    const key = `refused candidate ${what}`;
    const t = tunable(key, 'default', ['refused', 'default'], (c) => (c === 'refused' ? refused : { kernel: working, n: 10, grid: [1, 1, 1] }));
    const { winner, warnings, saved } = await measured(t);
    expect(winner).toBe('default');
    expect(saved).toBe('default');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.startsWith(`[webgpu-gpt] autotune: candidate "refused" of '${key}' failed (`), warnings[0]).toBe(true);
    expect(warnings[0]).toMatch(message);
    expect(warnings[0]).not.toContain('\n');
    await scope(async () => expect(Array.from(await tensor(new Float32Array([1, 2]), [2]).mul(2).toArray())).toEqual([2, 4]));
  });

  it('a measurement its budget cuts short keeps the default, which it measured first', async () => {
    if (!device().info.features.includes('timestamp-query')) return;
    // 'slow' alone spends the budget (AUTOTUNE_BUDGET_MS: 3 runs of ~100 ms on lavapipe): listed first, it was the only one measured, and won
    const t = tunable('budget test', 'default', ['slow', 'default'], (c) => ({ kernel: working, n: c === 'slow' ? 2_000_000 : 10, grid: [1, 1, 1] }));
    const { winner, saved } = await measured(t);
    expect(winner).toBe('default');
    expect(saved).toBe('default');
  });

  it('a candidate far slower than the budget is run once, not three times', async () => {
    if (!device().info.features.includes('timestamp-query')) return;
    // one run of 'slow' (~500 ms on lavapipe) spends the budget alone
    const t = tunable('pathological test', 'default', ['default', 'slow'], (c) => ({ kernel: working, n: c === 'slow' ? 10_000_000 : 10, grid: [1, 1, 1] }));
    let slowRuns = 0;
    const counted: typeof t = {
      ...t,
      prepare: (c) => {
        const scratch = t.prepare(c);
        return { ...scratch, run: () => (c === 'slow' && slowRuns++, scratch.run()) };
      },
    };
    const { winner } = await measured(counted);
    expect(winner).toBe('default');
    expect(slowRuns).toBe(1);
  });

  it("a candidate timed at 0 ms (it dispatched nothing, or ran below the timer's resolution) is not the winner", async () => {
    if (!device().info.features.includes('timestamp-query')) return;
    const t: Tunable<string> = {
      key: 'zero test',
      fallback: 'default',
      candidates: ['default', 'nothing'],
      prepare(candidate) {
        const out = device().alloc(4 * 64, 'autotune trial');
        return { run: () => (candidate === 'default' ? working.launch([out], { n: 10 }, [1, 1, 1]) : undefined), dispose: () => device().release(out) };
      },
    };
    const { winner, saved } = await measured(t);
    expect(winner).toBe('default');
    expect(saved).toBe('default');
  });

  it("a compile that spends the budget ends the measurement, and its estimate keeps another problem's uncompiled candidate from being tried; the default stays", async () => {
    if (!device().info.features.includes('timestamp-query')) return;
    forgetWinners(); // no compile measured yet on this device
    const compileMs = AUTOTUNE_BUDGET_MS + 100;
    const runs = new Map<string, number>();
    /** `t`'s candidates, their runs counted; `compiling`'s first run blocks for compileMs first, as a compile would. */
    const counted = <C extends string>(t: Tunable<C>, compiling: C): Tunable<C> => ({
      ...t,
      prepare: (c) => {
        const scratch = t.prepare(c);
        return {
          ...scratch,
          run: () => {
            const n = runs.get(`${t.key} ${c}`) ?? 0;
            runs.set(`${t.key} ${c}`, n + 1);
            for (const until = performance.now() + (c === compiling && n === 0 ? compileMs : 0); performance.now() < until; );
            scratch.run();
          },
        };
      },
    });
    // its GPU time is the default's 10 loops and more: only its compile passes the budget
    const spin = (n: number) => ({ kernel: working, n, grid: [1, 1, 1] as [number, number, number] });
    const first = counted(tunable('compile test', 'default', ['default', 'compiling', 'after'], (c) => spin(c === 'compiling' ? 1000 : 10)), 'compiling');
    const one = await measured(first);
    expect([one.winner, one.saved]).toEqual(['default', 'default']);
    expect(runs.get('compile test compiling'), 'run once: its compile spent the budget').toBe(1);
    expect(runs.get('compile test after'), 'not tried: the budget was spent').toBeUndefined();
    // another problem: its default is measured, its other candidate (never compiled here) is not tried
    const second = counted(tunable('estimate test', 'default', ['default', 'uncompiled'], (c) => spin(c === 'uncompiled' ? 1 : 10)), 'uncompiled');
    const two = await measured(second);
    expect([two.winner, two.saved]).toEqual(['default', 'default']);
    expect(runs.get('estimate test default'), "the first use's run, then three measured").toBe(4);
    expect(runs.get('estimate test uncompiled'), 'its compile, estimated, would pass the budget').toBeUndefined();
  });
});
