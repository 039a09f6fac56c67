// The wait pacer (src/device/wait-pacer.ts) on fake timers: repeated work waits first sleep through
// most of what it took before (the shorter of its first two waits), new work is polled at once, and
// an oversleep halves the estimate.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WaitPacer } from '../src/device/wait-pacer.js';

/**
 * Runs pacer.wait on work the GPU finishes `ms` after the call (whenever its promise is asked for),
 * on fake timers; resolves to [when the promise was asked for, when the wait ended], from the call.
 */
async function timedWait(pacer: WaitPacer, ms: number): Promise<[number, number]> {
  const t0 = performance.now();
  let asked = NaN;
  const p = pacer.wait(() => {
    asked = performance.now() - t0;
    return new Promise<void>((r) => setTimeout(r, Math.max(0, t0 + ms - performance.now())));
  });
  await vi.runAllTimersAsync();
  await p;
  return [asked, performance.now() - t0];
}

describe('WaitPacer', () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ['setTimeout', 'performance'] }));
  afterEach(() => vi.useRealTimers());

  it('polls new work at once and sleeps through 0.8 of what the same work took before', async () => {
    const pacer = new WaitPacer();
    const record = (k: number) => { pacer.note(k, 4, 1, 1); pacer.note(k + 1, 8, 1, 1); };
    record(1);
    expect((await timedWait(pacer, 100))[0]).toBe(0); // never seen: asked for at once
    record(1);
    expect((await timedWait(pacer, 100))[0]).toBe(0); // seen once: measured again
    record(1);
    const [asked, done] = await timedWait(pacer, 100);
    expect(asked).toBeCloseTo(80, 5); // the same pipelines and grids: 0.8 of the 100 ms it took
    expect(done).toBeCloseTo(100, 5); // polled for the last 20
    record(3); // other work
    expect((await timedWait(pacer, 100))[0]).toBe(0);
    pacer.note(1, 4, 1, 1);
    pacer.note(2, 16, 1, 1); // a grid changed: other work too
    expect((await timedWait(pacer, 100))[0]).toBe(0);
  });

  it('halves an estimate the sleep outlasted, and follows work that got slower', async () => {
    const pacer = new WaitPacer();
    const run = async (ms: number) => { pacer.note(7, 1, 1, 1); return (await timedWait(pacer, ms))[0]; };
    await run(100);
    await run(100);
    expect(await run(10)).toBeCloseTo(80, 5); // slept 80 ms for 10 ms of work: done on waking
    expect(await run(10)).toBeCloseTo(40, 5); // 100 / 2, times 0.8
    expect(await run(10)).toBeCloseTo(20, 5);
    expect(await run(200)).toBe(0); // 12.5 ms expected: too short to sleep for; the wait took 200 ms
    expect(await run(200)).toBeCloseTo(160, 5);
  });

  it("a first wait slowed by a one-off (compiling the work's shaders) is not slept through again", async () => {
    const pacer = new WaitPacer();
    const run = async (ms: number) => { pacer.note(4, 2, 1, 1); return (await timedWait(pacer, ms))[0]; };
    expect(await run(10_000)).toBe(0); // 10 s: shaders compiled, then 100 ms of work
    expect(await run(100)).toBe(0); // not 8 s of sleep (and then 4, 2, 1 s...): measured again
    expect(await run(100)).toBeCloseTo(80, 5); // the shorter of the two
    expect(await run(100)).toBeCloseTo(80, 5);
  });

  it('sleeps through nothing when nothing was recorded since the last wait (a second read of done work)', async () => {
    const pacer = new WaitPacer();
    pacer.note(1, 1, 1, 1);
    await timedWait(pacer, 50);
    expect((await timedWait(pacer, 50))[0]).toBe(0);
  });

  it('waits begun together (the reads of one Promise.all) share the first one\'s sleep instead of polling through it', async () => {
    const pacer = new WaitPacer();
    for (let i = 0; i < 2; i++) {
      pacer.note(9, 2, 1, 1);
      await timedWait(pacer, 100);
    }
    pacer.note(9, 2, 1, 1);
    const t0 = performance.now();
    const asked: number[] = [];
    const read = () => pacer.wait(() => (asked.push(performance.now() - t0), new Promise<void>((r) => setTimeout(r, Math.max(0, t0 + 100 - performance.now())))));
    const all = Promise.all([read(), read(), read()]);
    await vi.runAllTimersAsync();
    await all;
    expect(asked).toHaveLength(3);
    for (const ms of asked) expect(ms).toBeCloseTo(80, 5);
  });

  it('knows repeated work recorded while an earlier wait is pending (decoding one step ahead: step k+1 recorded before step k is read)', async () => {
    const pacer = new WaitPacer();
    const t0 = performance.now();
    const asked: number[] = [];
    // each step takes 100 ms of GPU time after the one before; its wait starts when it is recorded
    let gpuFree = 0;
    const step = () => {
      pacer.note(5, 4, 1, 1);
      const recorded = performance.now() - t0;
      gpuFree = Math.max(gpuFree, recorded) + 100;
      const done = gpuFree;
      return pacer.wait(() => {
        asked.push(performance.now() - t0 - recorded);
        return new Promise<void>((r) => setTimeout(r, Math.max(0, t0 + done - performance.now())));
      });
    };
    let current = step();
    for (let k = 0; k < 6; k++) {
      const ahead = step(); // recorded before the current step's wait ends
      let settled = false;
      void current.then(() => (settled = true));
      while (!settled) await vi.advanceTimersByTimeAsync(1); // the next step is recorded as soon as this one is read, its step ahead still running
      current = ahead;
    }
    await vi.runAllTimersAsync();
    await current;
    expect(asked.slice(0, 2), 'new work: polled at once').toEqual([0, 0]);
    expect(asked.slice(3).every((ms) => ms > 0), `the same step, recognised: slept first (${asked.join(', ')})`).toBe(true);
  });
});
