// Progress output for long work: a redrawn bar with ETA on a terminal, plain lines otherwise
// (CI logs, pipes), so logs stay readable either way.
export class Progress {
  private readonly start = performance.now();
  private readonly tty = !!process.stdout.isTTY;
  private lastLine = 0;

  constructor(
    private readonly total: number,
    private readonly from = 0,
  ) {}

  /** Redraws the bar (TTY) with `status`; plain mode prints nothing here. */
  update(done: number, status: string): void {
    if (!this.tty) return;
    const frac = Math.min(1, done / this.total);
    const width = 24;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    process.stdout.write(`\r[${bar}] ${done}/${this.total} ${status} eta ${this.eta(done)}\x1b[K`);
    this.lastLine = done;
  }

  /** A line that stays (a log line); the bar is redrawn after it on a terminal. */
  log(line: string): void {
    if (this.tty && this.lastLine) process.stdout.write('\r\x1b[K');
    console.log(line);
  }

  done(): void {
    if (this.tty && this.lastLine) process.stdout.write('\n');
  }

  eta(done: number): string {
    const elapsed = (performance.now() - this.start) / 1000;
    const rate = (done - this.from) / Math.max(elapsed, 1e-9);
    if (done <= this.from || rate <= 0) return '?';
    return formatSeconds((this.total - done) / rate);
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  const sec = Math.round(s % 60);
  return m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}
