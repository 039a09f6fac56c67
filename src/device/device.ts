// The only module that touches GPUDevice, GPUBuffer and command encoders. Everything above it
// asks for buffers (alloc/release), moves bytes (write/read) and records dispatches; this layer
// pools buffers by size class, caches pipelines by their WGSL text, batches dispatches into one
// encoder and turns GPU errors into JS errors that name the kernel.
import { getPlatform, type Platform } from './platform.js';
import { BufferPool, TexturePool } from './pool.js';
import { Profiler, type KernelTime } from './profiler.js';

export interface KernelLike {
  readonly name: string;
  readonly wgsl: string;
  readonly layoutEntries: GPUBindGroupLayoutEntry[];
}

export interface DeviceInfo {
  platform: 'node' | 'browser';
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  backend: string;
  isFallbackAdapter: boolean;
  features: string[];
  limits: Record<string, number>;
  /** The adapter's subgroup sizes [min, max], where it tells. */
  subgroupSizes: [number, number] | null;
}

export interface MemoryStats {
  liveBytes: number; // held by tensors
  pooledBytes: number; // free, kept for reuse
  peakBytes: number; // highest liveBytes seen
  liveBuffers: number;
}

export interface DeviceStats {
  dispatches: number;
  submits: number;
}

const UNIFORM_SLOT = 256; // minUniformBufferOffsetAlignment on every adapter we know
const MAX_DISPATCHES_PER_SUBMIT = 512;
const REPORTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxTextureDimension2D',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

export class Device {
  readonly info: DeviceInfo;
  readonly stats: DeviceStats = { dispatches: 0, submits: 0 };
  private readonly pool: BufferPool;
  private readonly textures: TexturePool;
  private readonly pipelines = new Map<string, { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>();
  private readonly errors: Error[] = [];
  private readonly pendingChecks: Promise<void>[] = [];
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private pendingDispatches = 0;
  private readonly uniformHost = new ArrayBuffer(UNIFORM_SLOT * MAX_DISPATCHES_PER_SUBMIT);
  // Uniform arenas: the batch being recorded binds `uniformGpu`; a submitted batch's arena is only
  // rewritten once the GPU has finished that batch (never while a slow driver may still read it).
  private uniformGpu: GPUBuffer;
  private readonly idleArenas: GPUBuffer[] = [];
  private uniformUsed = 0;
  private readonly toDestroy: (GPUBuffer | GPUTexture)[] = []; // after the next submit
  private lost: string | null = null;
  private pendingFlush: Promise<void> | null = null;
  private profiler: Profiler | null = null;

  constructor(
    readonly gpu: GPUDevice,
    info: DeviceInfo,
  ) {
    this.info = info;
    this.pool = new BufferPool(gpu, (e) => this.errors.push(e));
    this.textures = new TexturePool(gpu);
    this.uniformGpu = this.newArena();
    gpu.addEventListener('uncapturederror', (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      this.errors.push(new Error(`WebGPU ${e.constructor?.name ?? 'error'}: ${e.message}`));
    });
    void gpu.lost.then((l) => {
      if (l.reason !== 'destroyed') this.lost = `WebGPU device lost (${l.reason}): ${l.message}`;
    });
  }

  // ---- memory -----------------------------------------------------------------------------
  alloc(bytes: number, label: string): GPUBuffer {
    this.assertUsable(label);
    return this.pool.acquire(bytes, label);
  }

  release(buffer: GPUBuffer): void {
    this.pool.release(buffer);
  }

  /**
   * A width x height rgba32float texture (sampled, storage-writable, copy destination), pooled
   * like buffers. Kernels use them as scratch within one op and release them right after recording.
   */
  allocTexture(width: number, height: number, label: string): GPUTexture {
    this.assertUsable(label);
    return this.textures.acquire(width, height, label);
  }

  releaseTexture(texture: GPUTexture): void {
    this.toDestroy.push(...this.textures.release(texture));
  }

  memory(): MemoryStats {
    const s = this.pool.stats();
    return { ...s, pooledBytes: s.pooledBytes + this.textures.pooledBytes };
  }

  /** Frees every pooled (unused) buffer and texture. */
  emptyCache(): void {
    this.flush(); // recorded commands may still use pooled buffers
    this.pool.trim();
    this.textures.trim();
  }

  // ---- transfers --------------------------------------------------------------------------
  write(buffer: GPUBuffer, data: ArrayBufferView, offset = 0): void {
    const bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    // Uploads go through a staging buffer copied in command order: queue.writeBuffer would jump
    // ahead of recorded dispatches, and a pooled buffer may still be read by submitted ones.
    const size = Math.ceil(bytes.byteLength / 4) * 4;
    const staging = this.gpu.createBuffer({
      label: 'upload-staging',
      size,
      usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.MAP_WRITE,
      mappedAtCreation: true,
    });
    new Uint8Array(staging.getMappedRange()).set(bytes);
    staging.unmap();
    this.endPass();
    this.getEncoder().copyBufferToBuffer(staging, 0, buffer, offset, size);
    this.toDestroy.push(staging);
  }

  /** Copies `rows` rows of `texture.width` texels (4 floats each) from `buffer`, rows `4 * floatsPerRow` bytes apart (a multiple of 256), in command order. */
  copyToTexture(buffer: GPUBuffer, texture: GPUTexture, floatsPerRow: number, rows: number): void {
    this.assertUsable('copyToTexture');
    this.endPass();
    this.getEncoder().copyBufferToTexture({ buffer, bytesPerRow: 4 * floatsPerRow }, { texture }, [floatsPerRow / 4, rows]);
  }

  async read(buffer: GPUBuffer, bytes: number, offset = 0): Promise<ArrayBuffer> {
    this.assertUsable('read');
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.gpu.createBuffer({
      label: 'readback-staging',
      size: Math.max(size, 4),
      usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ,
    });
    const encoder = this.getEncoder();
    this.endPass();
    encoder.copyBufferToBuffer(buffer, offset, staging, 0, size);
    await this.flushSoon();
    try {
      await staging.mapAsync(GPUMapMode.READ);
      await this.throwPendingErrors();
      return staging.getMappedRange().slice(0, bytes);
    } catch (e) {
      await this.throwPendingErrors();
      throw e;
    } finally {
      if (staging.mapState === 'mapped') staging.unmap();
      staging.destroy();
    }
  }

  /** One flush for every read recorded in this tick (Promise.all of several reads: one submit). */
  private flushSoon(): Promise<void> {
    this.pendingFlush ??= Promise.resolve().then(() => {
      this.pendingFlush = null;
      this.flush();
    });
    return this.pendingFlush;
  }

  /** Waits until all submitted work is done; throws any GPU error raised meanwhile. */
  async sync(): Promise<void> {
    this.flush();
    await this.gpu.queue.onSubmittedWorkDone();
    await this.throwPendingErrors();
  }

  // ---- compute ----------------------------------------------------------------------------
  dispatch(
    kernel: KernelLike,
    buffers: (GPUBuffer | GPUTexture)[],
    params: ArrayBuffer | null,
    workgroups: readonly [number, number, number],
  ): void {
    this.assertUsable(kernel.name);
    const { pipeline, layout } = this.pipeline(kernel);
    const entries: GPUBindGroupEntry[] = buffers.map((r, binding) => ({
      binding,
      resource: 'createView' in r ? r.createView() : { buffer: r },
    }));
    if (params) {
      if (params.byteLength > UNIFORM_SLOT) throw new Error(`${kernel.name}: params exceed ${UNIFORM_SLOT} bytes`);
      if (this.uniformUsed + UNIFORM_SLOT > this.uniformHost.byteLength) this.flush();
      new Uint8Array(this.uniformHost, this.uniformUsed, params.byteLength).set(new Uint8Array(params));
      entries.push({
        binding: buffers.length,
        resource: { buffer: this.uniformGpu, offset: this.uniformUsed, size: params.byteLength },
      });
      this.uniformUsed += UNIFORM_SLOT;
    }
    const bindGroup = this.gpu.createBindGroup({ label: kernel.name, layout, entries });
    if (this.profiler) {
      if (this.profiler.full) this.flush();
      this.endPass();
      this.pass = this.getEncoder().beginComputePass({ label: kernel.name, timestampWrites: this.profiler.passFor(kernel.name) });
    }
    const pass = this.getPass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(workgroups[0], workgroups[1], workgroups[2]);
    this.stats.dispatches++;
    if (++this.pendingDispatches >= MAX_DISPATCHES_PER_SUBMIT) this.flush();
  }

  /** Submits everything recorded so far. */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    const afterSubmit = this.profiler?.resolve(this.encoder);
    if (this.uniformUsed > 0) this.gpu.queue.writeBuffer(this.uniformGpu, 0, this.uniformHost, 0, this.uniformUsed);
    this.gpu.queue.submit([this.encoder.finish()]);
    if (this.uniformUsed > 0) {
      const used = this.uniformGpu;
      void this.gpu.queue.onSubmittedWorkDone().then(() => this.idleArenas.push(used));
      this.uniformGpu = this.idleArenas.pop() ?? this.newArena();
    }
    afterSubmit?.();
    this.stats.submits++;
    this.encoder = null;
    this.pendingDispatches = 0;
    this.uniformUsed = 0;
    for (const b of this.toDestroy.splice(0)) b.destroy();
  }

  /** Starts timing every dispatch (needs the adapter's timestamp-query feature). */
  startProfiling(): void {
    if (!this.gpu.features.has('timestamp-query')) throw new Error('profiling needs the timestamp-query feature, which this adapter lacks');
    this.flush();
    this.profiler ??= new Profiler(this.gpu);
    this.profiler.reset();
  }

  /** Stops timing and returns GPU milliseconds per kernel, slowest first. */
  async stopProfiling(): Promise<KernelTime[]> {
    if (!this.profiler) return [];
    await this.sync();
    const report = await this.profiler.report();
    this.profiler.destroy();
    this.profiler = null;
    return report;
  }

  destroy(): void {
    this.flush();
    this.pool.trim();
    this.textures.trim();
    for (const b of [this.uniformGpu, ...this.idleArenas]) b.destroy();
    this.gpu.destroy();
  }

  private newArena(): GPUBuffer {
    return this.gpu.createBuffer({
      label: 'uniform-arena',
      size: this.uniformHost.byteLength,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
  }

  private pipeline(kernel: KernelLike) {
    let hit = this.pipelines.get(kernel.wgsl);
    if (hit) return hit;
    const module = this.gpu.createShaderModule({ label: kernel.name, code: kernel.wgsl });
    this.pendingChecks.push(this.checkCompilation(kernel, module));
    const layout = this.gpu.createBindGroupLayout({ label: kernel.name, entries: kernel.layoutEntries });
    const pipeline = this.gpu.createComputePipeline({
      label: kernel.name,
      layout: this.gpu.createPipelineLayout({ label: kernel.name, bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main' },
    });
    hit = { pipeline, layout };
    this.pipelines.set(kernel.wgsl, hit);
    return hit;
  }

  private async checkCompilation(kernel: KernelLike, module: GPUShaderModule): Promise<void> {
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === 'error');
    if (errors.length) this.errors.unshift(new Error(formatCompileErrors(kernel, errors)));
  }

  private async throwPendingErrors(): Promise<void> {
    await Promise.all(this.pendingChecks.splice(0));
    if (this.lost) throw new Error(this.lost);
    if (this.errors.length) {
      const all = this.errors.splice(0);
      const err = all[0]!;
      if (all.length > 1) err.message += `\n(+${all.length - 1} more GPU errors)`;
      throw err;
    }
  }

  private assertUsable(what: string): void {
    if (this.lost) throw new Error(`${what}: ${this.lost}`);
  }

  private getEncoder(): GPUCommandEncoder {
    this.encoder ??= this.gpu.createCommandEncoder({ label: 'batch' });
    return this.encoder;
  }

  private getPass(): GPUComputePassEncoder {
    this.pass ??= this.getEncoder().beginComputePass({ label: 'compute' });
    return this.pass;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }
}

function formatCompileErrors(kernel: KernelLike, messages: readonly GPUCompilationMessage[]): string {
  const lines = kernel.wgsl.split('\n');
  const parts = messages.map((m) => {
    const from = Math.max(0, m.lineNum - 3);
    const excerpt = lines
      .slice(from, m.lineNum + 2)
      .map((l, i) => `${String(from + i + 1).padStart(4)}${from + i + 1 === m.lineNum ? ' >' : '  '} ${l}`)
      .join('\n');
    return `${kernel.name}:${m.lineNum}:${m.linePos}: ${m.message}\n${excerpt}`;
  });
  return `WGSL compile error in kernel '${kernel.name}':\n${parts.join('\n')}`;
}

// ---- the process-wide device --------------------------------------------------------------
let current: Device | null = null;
let opening: Promise<Device> | null = null;

/** Opens (once) the WebGPU device with the adapter's real limits. */
export function initDevice(): Promise<Device> {
  if (current) return Promise.resolve(current);
  opening ??= openDevice().then((d) => (current = d));
  return opening;
}

/** The open device; ops call this synchronously, so `await initDevice()` must come first. */
export function device(): Device {
  if (!current) throw new Error('No WebGPU device: call `await initDevice()` before creating tensors.');
  return current;
}

export async function describeAdapter(): Promise<{ adapter: GPUAdapter | null; reason?: string }> {
  let gpu: GPU;
  try {
    gpu = (await getPlatform()).gpu;
  } catch (e) {
    return { adapter: null, reason: (e as Error).message };
  }
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  return adapter ? { adapter } : { adapter: null, reason: 'requestAdapter() returned null' };
}

export function adapterInfo(adapter: GPUAdapter, platform: Platform): DeviceInfo {
  const i = adapter.info;
  const limits: Record<string, number> = {};
  for (const k of REPORTED_LIMITS) limits[k] = adapter.limits[k];
  return {
    platform: platform.name,
    vendor: i.vendor,
    architecture: i.architecture,
    device: i.device,
    description: i.description,
    backend: (i as { backendType?: string }).backendType ?? platform.backend,
    isFallbackAdapter: (i as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
    features: [...adapter.features].sort(),
    limits,
    subgroupSizes: i.subgroupMinSize && i.subgroupMaxSize ? [i.subgroupMinSize, i.subgroupMaxSize] : null,
  };
}

const WANTED_FEATURES = ['shader-f16', 'timestamp-query', 'subgroups'] as const;

async function openDevice(): Promise<Device> {
  const platform = await getPlatform();
  const { adapter, reason } = await describeAdapter();
  if (!adapter) throw new Error(`No WebGPU adapter found (${reason}). Run \`npx gpt doctor\` for how to fix it.`);
  const requiredLimits: Record<string, number> = {};
  for (const k of REPORTED_LIMITS) requiredLimits[k] = adapter.limits[k];
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const gpu = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'webgpu-gpt' });
  return new Device(gpu, adapterInfo(adapter, platform));
}
