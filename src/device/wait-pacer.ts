// Pacing GPU waits in Node on a CPU adapter. Dawn's Node bindings poll a pending promise from
// setImmediate, so the main thread spins for the whole of a wait, on a core that a CPU adapter's
// own threads (lavapipe's) need. Work that repeats (a training step, a decoding step, a
// benchmark's iteration) is recognised by what was recorded since the last wait began (each dispatch's
// pipeline and grid): a wait for work seen before first sleeps through most of what it took then,
// and polls only for the rest; new work is waited for as before. The estimate is the shorter of the
// first two waits, so a one-off in the first (compiling its shaders: seconds on lavapipe) is not
// slept through again; a sleep that outlasted the work (done on waking) halves the estimate.

/** The share of the expected wait slept through before polling. */
const SLEEP_FRACTION = 0.8;
/** Waits expected to be shorter are left to polling: a timer wakes late by a millisecond or more, which short waits (a decoding step) feel. */
const MIN_SLEEP_MS = 20;
/** Resolved this soon after waking: the work was done before the sleep ended. */
const DONE_ON_WAKING_MS = 1;
/** Work patterns remembered (the oldest forgotten first). */
const PATTERNS = 256;

/** The hash of no dispatches (FNV-1a's offset basis). */
const NOTHING = 2166136261;
const mix = (h: number, v: number) => Math.imul(h ^ v, 16777619) >>> 0;

export class WaitPacer {
  /** What was recorded since the last wait: a hash, and how many dispatches. */
  private key = NOTHING;
  private count = 0;
  /** Milliseconds a wait is expected to take, by work pattern; not `confirmed` after one wait. */
  private readonly took = new Map<number, { ms: number; confirmed: boolean }>();
  /** The sleep of a wait in progress: waits begun with nothing recorded since share it (the reads of one Promise.all). */
  private sleeping: Promise<void> | null = null;

  /** Notes a recorded dispatch: its pipeline's number and its grid. */
  note(pipeline: number, x: number, y: number, z: number): void {
    this.key = mix(mix(mix(mix(this.key, pipeline), x), y), z);
    this.count++;
  }

  /** Awaits `start()`'s GPU promise, first sleeping through most of the time the same work took before. */
  async wait<T>(start: () => Promise<T>): Promise<T> {
    const [key, count] = [this.key, this.count];
    // what is recorded from now on is the next wait's work, even while this one is pending (a
    // decoding step recorded ahead, before the step before it is read back)
    [this.key, this.count] = [NOTHING, 0];
    const seen = count ? this.took.get(key) : undefined;
    const expected = seen?.confirmed ? seen.ms : undefined;
    const t0 = performance.now();
    const slept = expected !== undefined && expected >= MIN_SLEEP_MS ? SLEEP_FRACTION * expected : 0;
    if (slept) {
      const sleep = (this.sleeping = new Promise((r) => setTimeout(r, slept)));
      await sleep;
      if (this.sleeping === sleep) this.sleeping = null;
    } else if (!count && this.sleeping) {
      await this.sleeping;
    }
    const woke = performance.now();
    const result = await start();
    const done = performance.now();
    if (count) {
      // as known now: waits of the same work may overlap (a decoding step recorded ahead)
      const before = this.took.get(key);
      const ms = slept && done - woke < DONE_ON_WAKING_MS ? expected! / 2 : before && !before.confirmed ? Math.min(before.ms, done - t0) : done - t0;
      this.took.delete(key); // re-inserted as the newest
      this.took.set(key, { ms, confirmed: before !== undefined });
      if (this.took.size > PATTERNS) this.took.delete(this.took.keys().next().value!);
    }
    return result;
  }
}
