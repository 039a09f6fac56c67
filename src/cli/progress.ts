// Progress output for long work: a redrawn bar with ETA on a terminal, plain lines otherwise
// (CI logs, pipes), so logs stay readable either way. The ETA's rate is measured from the first
// report on: the steps before it compile every shader and would make the first estimates 2-5x
// too long. A status shown between reports (an evaluation's) does not start it: the first
// evaluation comes before the first step, and its time would count the compiling in again.
export class Progress {
  /** Whether the bar is drawn: on a terminal, unless lines go elsewhere (`print`). */
  private readonly tty: boolean;
  /** Whether the bar is drawn on the current line (at step 0 too: the first evaluation's). */
  private barShown = false;
  /** Where the rate is measured from: the first report (its step and time), once there is one. */
  private mark: { done: number; time: number } | null = null;
  /** When report() last printed a plain line (or was first called). */
  private lastPlain: number | null = null;

  /** `print`: where plain lines go instead of stdout (a download's, to stderr), never as a bar. */
  constructor(
    private readonly total: number,
    private readonly now: () => number = () => performance.now(),
    private readonly print: (line: string) => void = (line) => console.log(line),
    bar = true,
  ) {
    this.tty = bar && !!process.stdout.isTTY;
  }

  /**
   * Redraws the bar (TTY) with `status`; plain mode prints nothing here. `counted` false: `done`
   * has not advanced (work between steps), so the ETA is shown without starting its rate there.
   */
  update(done: number, status: string, counted = true): void {
    if (!this.tty) return;
    const frac = Math.min(1, done / this.total);
    const width = 24;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    const eta = counted ? this.eta(done) : this.mark && done > this.mark.done ? this.remaining(done, this.now()) : '?';
    process.stdout.write(`\r[${bar}] ${done}/${this.total} ${status} eta ${eta}\x1b[K`);
    this.barShown = true;
  }

  /**
   * Progress of work that has no log lines of its own: the bar on a terminal, else a plain line
   * once every `everyMs` (none for work shorter than that).
   */
  report(done: number, status: string, everyMs = 10_000): void {
    if (this.tty) return this.update(done, status);
    const time = this.now();
    this.lastPlain ??= time;
    if (time - this.lastPlain < everyMs) return void this.eta(done); // the rate is measured from the first report
    this.lastPlain = time;
    this.print(`${status}: ${done}/${this.total}, eta ${this.eta(done)}`);
  }

  /** A line that stays (a log line), in place of the bar on a terminal; the next update draws it again. */
  log(line: string): void {
    if (this.tty && this.barShown) process.stdout.write('\r\x1b[K');
    this.barShown = false;
    console.log(line);
  }

  /** Ends the bar's line, where one is drawn. */
  done(): void {
    if (this.tty && this.barShown) process.stdout.write('\n');
    this.barShown = false;
  }

  /** Time left at `done` steps, from the rate since the first report ('?' until a second one). */
  eta(done: number): string {
    const time = this.now();
    if (!this.mark || done <= this.mark.done) {
      this.mark ??= { done, time };
      return '?';
    }
    return this.remaining(done, time);
  }

  /** The time left at `done` at `time`, from the rate since the mark. */
  private remaining(done: number, time: number): string {
    const mark = this.mark!;
    const rate = (done - mark.done) / Math.max(time - mark.time, 1e-9); // steps per ms
    return formatSeconds((this.total - done) / rate / 1000);
  }
}

/** "1 layer", "4 layers". */
export const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;

/** A parameter count as nanoGPT prints it (0.80M), or in full where that would read 0.00M (3,520). */
export function formatParams(n: number): string {
  return n >= 5e3 ? `${(n / 1e6).toFixed(2)}M` : n.toLocaleString('en-US');
}

/** 42s, 4m05s, 1h02m: whole seconds (or minutes) rounded once, so never "4m60s". */
export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const total = Math.round(Math.max(0, s));
  if (total >= 3600) {
    const minutes = Math.round(total / 60);
    return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
  }
  const [m, sec] = [Math.floor(total / 60), total % 60];
  return m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

/**
 * Progress of learning a BPE vocabulary's merges, for BpeTokenizer's onProgress (seconds at 32k
 * tokens on a 10 MB text, minutes on gigabytes, after the counting pass's own bar): the bar at most
 * every 200 ms, or a plain line every 10 s. No ETA: the first merges, of the commonest pairs, take
 * the most time (at 1% of a 10 MB text's 32k merges, a rate-based ETA said 45 minutes for 3 s).
 */
export function mergeProgress(total: number, now = () => performance.now(), print = (line: string) => console.log(line)): { onProgress: (merges: number) => void; done: () => void } {
  const progress = new Progress(total, now);
  let [drawn, printed] = [-Infinity, now()];
  return {
    onProgress: (merges) => {
      const time = now();
      if (time - drawn < 200) return;
      drawn = time;
      progress.update(merges, 'BPE merges learnt', false); // a terminal's bar, where eta stays '?'
      if (process.stdout.isTTY || time - printed < 10_000) return;
      printed = time;
      print(`learning the vocabulary: ${merges} of ${total} BPE merges`);
    },
    done: () => progress.done(),
  };
}
