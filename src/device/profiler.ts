// Per-kernel GPU time from timestamp queries: while profiling, every dispatch runs in its own
// compute pass whose beginning and end are timestamped; at each submit the timestamps are resolved
// and read back asynchronously, and the durations summed per kernel name.
const SLOTS = 512; // dispatches per submit at most (2 timestamps each)

export interface KernelTime {
  name: string;
  calls: number;
  ms: number;
}

export class Profiler {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuf: GPUBuffer;
  private names: string[] = [];
  private readonly totals = new Map<string, { calls: number; ns: bigint }>();
  private readonly pending: Promise<void>[] = [];
  /** The first timestamp readback that failed. */
  private failure: Error | null = null;

  constructor(private readonly gpu: GPUDevice) {
    this.querySet = gpu.createQuerySet({ type: 'timestamp', count: 2 * SLOTS });
    this.resolveBuf = gpu.createBuffer({ size: 16 * SLOTS, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  }

  get full(): boolean {
    return this.names.length >= SLOTS;
  }

  /** Timestamp writes for the pass of the next dispatch, of kernel `name`. */
  passFor(name: string): GPUComputePassTimestampWrites {
    const i = this.names.push(name) - 1;
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Called before the encoder is finished: resolves this batch's timestamps into a readback buffer. */
  resolve(encoder: GPUCommandEncoder): (() => void) | null {
    const n = this.names.length;
    if (!n) return null;
    const names = this.names;
    this.names = [];
    const read = this.gpu.createBuffer({ size: 16 * n, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    encoder.resolveQuerySet(this.querySet, 0, 2 * n, this.resolveBuf, 0);
    encoder.copyBufferToBuffer(this.resolveBuf, 0, read, 0, 16 * n);
    // after submit: read the timestamps back without blocking
    return () => {
      this.pending.push(
        read.mapAsync(GPUMapMode.READ).then(() => {
          const t = new BigUint64Array(read.getMappedRange());
          names.forEach((name, i) => {
            const e = this.totals.get(name) ?? { calls: 0, ns: 0n };
            e.calls++;
            e.ns += t[2 * i + 1]! > t[2 * i]! ? t[2 * i + 1]! - t[2 * i]! : 0n;
            this.totals.set(name, e);
          });
          read.unmap();
          read.destroy();
        }, (e: unknown) => {
          // a lost device rejects the readback: report() throws it, and none is left unhandled
          this.failure ??= e as Error;
          read.destroy();
        }),
      );
    };
  }

  /** Per-kernel totals since the last reset, slowest first. */
  async report(): Promise<KernelTime[]> {
    await Promise.all(this.pending.splice(0));
    if (this.failure) throw this.failure;
    return [...this.totals]
      .map(([name, { calls, ns }]) => ({ name, calls, ms: Number(ns) / 1e6 }))
      .sort((a, b) => b.ms - a.ms);
  }

  reset(): void {
    this.totals.clear();
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolveBuf.destroy();
  }
}
