// Storage buffers pooled by size class: a released buffer waits in its class's free list and the
// next request of that class takes it back, so a training loop stops creating buffers after its
// first step. Classes are 4 per power of two (at most 25% slack).
const USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
const MIN_BYTES = 16;

export function sizeClass(bytes: number): number {
  const n = Math.max(MIN_BYTES, bytes);
  const pow = 2 ** Math.floor(Math.log2(n));
  const quarter = Math.max(4, pow / 4);
  return Math.ceil(n / quarter) * quarter;
}

export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  private readonly live = new Set<GPUBuffer>();
  private liveBytes = 0;
  private pooledBytes = 0;
  private peakBytes = 0;

  constructor(
    private readonly gpu: GPUDevice,
    private readonly onError: (e: Error) => void,
  ) {}

  acquire(bytes: number, label: string): GPUBuffer {
    const size = sizeClass(bytes);
    let buffer = this.free.get(size)?.pop();
    if (buffer) {
      this.pooledBytes -= size;
    } else {
      this.gpu.pushErrorScope('out-of-memory');
      buffer = this.gpu.createBuffer({ label, size, usage: USAGE() });
      void this.gpu.popErrorScope().then((e) => {
        if (e) this.onError(new Error(`out of GPU memory allocating ${size} bytes for '${label}': ${e.message}`));
      });
    }
    this.live.add(buffer);
    this.liveBytes += size;
    this.peakBytes = Math.max(this.peakBytes, this.liveBytes);
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    if (!this.live.delete(buffer)) throw new Error(`buffer '${buffer.label}' released twice or not from this pool`);
    this.liveBytes -= buffer.size;
    this.pooledBytes += buffer.size;
    const list = this.free.get(buffer.size);
    if (list) list.push(buffer);
    else this.free.set(buffer.size, [buffer]);
  }

  trim(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.pooledBytes = 0;
  }

  stats() {
    return {
      liveBytes: this.liveBytes,
      pooledBytes: this.pooledBytes,
      peakBytes: this.peakBytes,
      liveBuffers: this.live.size,
    };
  }
}
