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

// 2-D rgba32float textures (matmul operands on CPU adapters, see src/kernels/wgsl/matmul.ts),
// pooled by exact size. At most MAX_POOLED_TEXTURE_BYTES wait for reuse; past that the oldest
// are handed back to be destroyed (by the device, once recorded commands no longer use them).
const TEXTURE_USAGE = () => GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.COPY_DST;
const MAX_POOLED_TEXTURE_BYTES = 64 * 2 ** 20;
const textureBytes = (t: GPUTexture) => t.width * t.height * 16;

export class TexturePool {
  private readonly free: GPUTexture[] = []; // oldest first
  private readonly live = new Set<GPUTexture>();
  pooledBytes = 0;

  constructor(private readonly gpu: GPUDevice) {}

  acquire(width: number, height: number, label: string): GPUTexture {
    const i = this.free.findIndex((t) => t.width === width && t.height === height);
    let texture: GPUTexture;
    if (i >= 0) {
      texture = this.free.splice(i, 1)[0]!;
      this.pooledBytes -= textureBytes(texture);
    } else {
      texture = this.gpu.createTexture({ label, size: [width, height], format: 'rgba32float', usage: TEXTURE_USAGE() });
    }
    this.live.add(texture);
    return texture;
  }

  /** Takes `texture` back; returns the pooled textures evicted to stay under the cap. */
  release(texture: GPUTexture): GPUTexture[] {
    if (!this.live.delete(texture)) throw new Error(`texture '${texture.label}' released twice or not from this pool`);
    this.free.push(texture);
    this.pooledBytes += textureBytes(texture);
    const evicted: GPUTexture[] = [];
    while (this.pooledBytes > MAX_POOLED_TEXTURE_BYTES) {
      const t = this.free.shift()!;
      this.pooledBytes -= textureBytes(t);
      evicted.push(t);
    }
    return evicted;
  }

  trim(): void {
    for (const t of this.free.splice(0)) t.destroy();
    this.pooledBytes = 0;
  }
}
