// Storage buffers pooled by size class: a released buffer waits in its class's free list and the
// next request of that class takes it back, so a training loop stops creating buffers after its
// first step. Classes are 4 per power of two (at most 25% slack). A request gets the oldest free
// buffer of its class, so which buffer a given allocation of a step gets depends only on which
// are free, not on the order they were released in: a loop binds the same buffers every step
// (the device's bind-group cache relies on it) instead of a permutation that drifts step by step.
import { PendingChecks } from './pending.js';

const USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
const MIN_BYTES = 16;

export function sizeClass(bytes: number): number {
  const n = Math.max(MIN_BYTES, bytes);
  const pow = 2 ** Math.floor(Math.log2(n));
  const quarter = Math.max(4, pow / 4);
  return Math.ceil(n / quarter) * quarter;
}

/**
 * The size of the buffer a pool hands out for a request of `bytes`: its size class, but never
 * rounded past `bindable` (the largest buffer the adapter binds whole) when the request fits it, nor
 * past `largest` (maxBufferSize). The memory plan (src/gpt/memory-plan.ts) counts buffers so.
 */
export function pooledSize(bytes: number, bindable: number, largest: number): number {
  let size = sizeClass(bytes);
  if (size > bindable && bytes <= bindable) size = Math.ceil(bytes / 4) * 4;
  if (size > largest) size = Math.max(bytes, Math.floor(largest / 4) * 4);
  return size;
}

/** What the pool knows of a buffer it created: made once, with the buffer (no allocation per acquire or release). */
interface Pooled {
  buffer: GPUBuffer;
  size: number;
  /** Its rank in creation order: the free lists hand out the oldest first. */
  age: number;
  /** It ran out of memory (invalid): never handed out again once released. */
  failed: boolean;
}

/** Free buffers of one size class, the oldest (first created) on top: a binary min-heap by age. */
class OldestFirst {
  private readonly heap: Pooled[] = [];

  push(entry: Pooled): void {
    const h = this.heap;
    h.push(entry);
    for (let i = h.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.age <= entry.age) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  pop(): Pooled | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (!top || !last || !h.length) return top;
    h[0] = last;
    for (let i = 0; ; ) {
      const [l, r] = [2 * i + 1, 2 * i + 2];
      let least = i;
      if (l < h.length && h[l]!.age < h[least]!.age) least = l;
      if (r < h.length && h[r]!.age < h[least]!.age) least = r;
      if (least === i) break;
      [h[i], h[least]] = [h[least]!, h[i]!];
      i = least;
    }
    return top;
  }

  buffers(): GPUBuffer[] {
    return this.heap.map((e) => e.buffer);
  }
}

export class BufferPool {
  private readonly free = new Map<number, OldestFirst>();
  private created = 0;
  /** Buffers handed out and not yet released, with their sizes (a Map read is cheaper than GPUBuffer.size, a native call). */
  private readonly live = new Map<GPUBuffer, Pooled>();
  private liveBytes = 0;
  private pooledBytes = 0;
  private peakBytes = 0;

  /** The out-of-memory checks of new buffers, until each resolves. */
  private readonly checks = new PendingChecks();

  constructor(
    private readonly gpu: GPUDevice,
    private readonly onOutOfMemory: (e: Error) => void,
    /** The largest buffer the adapter can bind whole: a size class never rounds a request past it. */
    private readonly bindable: number,
    /** The largest buffer the adapter can create (maxBufferSize): nor past this. */
    private readonly largest: number,
  ) {}

  acquire(bytes: number, label: string): GPUBuffer {
    const size = pooledSize(bytes, this.bindable, this.largest);
    const list = this.free.get(size);
    let entry = list?.pop();
    while (entry?.failed) {
      this.pooledBytes -= size;
      entry = list!.pop();
    }
    if (entry) {
      this.pooledBytes -= size;
    } else {
      // WebGPU reports running out later, through the scope, and hands back an invalid buffer meanwhile
      this.gpu.pushErrorScope('out-of-memory');
      const created: Pooled = { buffer: this.gpu.createBuffer({ label, size, usage: USAGE() }), size, age: this.created++, failed: false };
      const held = `${(this.liveBytes / 2 ** 20).toFixed(1)} MiB`;
      this.checks.add(
        this.gpu.popErrorScope().then((e) => {
          if (!e) return;
          created.failed = true;
          this.onOutOfMemory(new Error(`out of GPU memory allocating ${size} bytes for '${label}' (${held} held in tensors before it): ${e.message.split('\n')[0]}`));
        }),
      );
      entry = created;
    }
    this.live.set(entry.buffer, entry);
    this.liveBytes += size;
    this.peakBytes = Math.max(this.peakBytes, this.liveBytes);
    return entry.buffer;
  }

  release(buffer: GPUBuffer): void {
    const entry = this.live.get(buffer);
    if (entry === undefined) throw new Error(`buffer '${buffer.label}' released twice or not from this pool`);
    this.live.delete(buffer);
    this.liveBytes -= entry.size;
    this.pooledBytes += entry.size;
    let list = this.free.get(entry.size);
    if (!list) this.free.set(entry.size, (list = new OldestFirst()));
    list.push(entry);
  }

  /** Resolves once every buffer created so far is known to have been allocated, or reported to onOutOfMemory. */
  settled(): Promise<void> {
    return this.checks.settled();
  }

  /** The size of a buffer this pool handed out and that is still live; undefined for any other. */
  sizeOf(buffer: GPUBuffer): number | undefined {
    return this.live.get(buffer)?.size;
  }

  /** Empties the free lists; returns their buffers for the caller to destroy. */
  trim(): GPUBuffer[] {
    const freed = [...this.free.values()].flatMap((list) => list.buffers());
    this.free.clear();
    this.pooledBytes = 0;
    return freed;
  }

  /** Starts peak tracking over from the bytes live now. */
  resetPeak(): void {
    this.peakBytes = this.liveBytes;
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

  /** Empties the pool; returns its textures for the caller to destroy. */
  trim(): GPUTexture[] {
    this.pooledBytes = 0;
    return this.free.splice(0);
  }
}
