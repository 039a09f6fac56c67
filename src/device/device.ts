// The only module that touches GPUDevice, GPUBuffer and command encoders. Everything above it
// asks for buffers (alloc/release), moves bytes (write/read) and records dispatches; this layer
// pools buffers by size class, caches pipelines by their WGSL text and bind groups by what they
// bind, batches dispatches into one encoder and turns GPU errors (and faults kernels report) into
// JS errors that name the kernel.
import { adapterInfo, describeAdapter, limitChoice, memoryBound, NULL_BACKEND_DEVICE, requestDevice, type DeviceInfo, type DeviceOptions, type LimitChoice, type MemoryBound } from './adapter.js';
import { BindGroupCache, type BufferWindow, type Resource } from './bind-groups.js';
import { describeFaults } from './faults.js';
import { DeviceLostError } from './lost.js';
import { getPlatform } from './platform.js';
import { PendingChecks } from './pending.js';
import { BufferPool, sizeClass, TexturePool } from './pool.js';
import { Profiler, type KernelTime } from './profiler.js';
import { WaitPacer } from './wait-pacer.js';

export { DeviceLostError };

export interface KernelLike {
  readonly name: string;
  readonly wgsl: string;
  readonly layoutEntries: GPUBindGroupLayoutEntry[];
  /** Bytes of its uniforms; 0 when it has none. */
  readonly paramBytes: number;
  /** Writes a dispatch's uniform values at byte `at` of `view`. */
  writeParams(view: DataView, at: number, values: Readonly<Record<string, number | readonly number[]>>): void;
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
const NO_OFFSETS: number[] = [];
const MAX_DISPATCHES_PER_SUBMIT = 512;
// On a GPU the first submit after it ran dry comes after this many dispatches, and each next one
// after twice as many (up to the most): the GPU starts while the host records the rest of a step,
// instead of waiting for a batch of 512. CPU adapters keep whole batches: their driver runs on the
// cores that record, so starting early overlaps nothing.
const FIRST_SUBMIT_ON_GPU = 32;
/** Bind groups kept for reuse (a GPT training step binds a few hundred distinct combinations). */
const BIND_GROUP_CACHE = 4096;
// Bind groups not yet garbage-collected, each possibly holding a descriptor set (bind-groups.ts):
// past this many, a dispatch that would need a new one (a synchronous forward or backward through
// a huge graph of live tensors binds new buffers at every op) runs through stand-in buffers whose
// bind groups repeat and are cached: copy in, dispatch, copy back. Slower, but the count of
// descriptor sets stops growing (lavapipe dies near 65k).
const OUTSTANDING_GROUPS_MAX = BIND_GROUP_CACHE + 8192;
/** Submits whose Dawn bookkeeping (command pools, upload space) breathe() lets pile up at most. */
const SUBMITS_TO_BREATHE = 64;
/** How long a readback the device's loss cancelled waits for device.lost to say so (Chromium's comes a few milliseconds after the map's rejection). */
const LOSS_TOLD_MS = 1000;
export class Device {
  readonly info: DeviceInfo;
  /**
   * False on Dawn's null backend (GPT_DAWN_BACKEND=null), which validates and records every command
   * and runs none: reads then return zeros and raise no faults, so the host side of any workload
   * runs as it would on a GPU (`npm run bench:host` measures it).
   */
  readonly executes: boolean;
  readonly stats: DeviceStats = { dispatches: 0, submits: 0 };
  private readonly pool: BufferPool;
  private readonly textures: TexturePool;
  private readonly pipelines = new Map<string, { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout; id: number }>();
  private pipelinesMade = 0;
  /** While a trial is recorded: the compile checks and WGSL of the pipelines it makes, and its errors (not the program's). */
  private onTrial: { checks: Promise<void>[]; made: string[]; errors: Error[] } | null = null;
  private readonly bindGroups: BindGroupCache;
  /** Bits set by kernels that met bad input (see faults.ts); every read checks and clears them. */
  readonly faultWord: GPUBuffer;
  /** Submits the GPU is known to have finished (Dawn recycles their bookkeeping then). */
  private finishedSubmits = 0;
  /** Stand-ins for buffers, by binding slot and size, while new bind groups are rationed. */
  private readonly proxies = new Map<string, GPUBuffer>();
  private readonly errors: Error[] = [];
  /** Allocations that ran out of GPU memory: reported before the validation errors their invalid buffers raised since. */
  private readonly outOfMemory: Error[] = [];
  /** Compile checks of new pipelines, until each resolves. */
  private readonly compileChecks = new PendingChecks();
  /** The last GPU error a read threw, and the submits recorded by then: reads under way beside it throw it too. */
  private thrown: { error: Error; submits: number } | null = null;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  /** The pipeline the open pass has set (null: none yet). */
  private passPipeline: GPUComputePipeline | null = null;
  private pendingDispatches = 0;
  /** Dispatches the open encoder takes before it is submitted (see FIRST_SUBMIT_ON_GPU). */
  private submitAfter: number;
  private readonly firstSubmit: number;
  // The params of every dispatch of a batch, one slot each, uploaded by queue.writeBuffer just
  // before the batch is submitted. Queue operations run in order, so the next batch may rewrite
  // the same buffer while the GPU still runs this one: each batch reads its own values.
  private readonly uniformHost = new ArrayBuffer(UNIFORM_SLOT * MAX_DISPATCHES_PER_SUBMIT);
  private readonly uniformView = new DataView(this.uniformHost);
  private readonly uniformGpu: GPUBuffer;
  private uniformUsed = 0;
  private readonly toDestroy: (GPUBuffer | GPUTexture)[] = []; // after the next submit
  /** Why the device was lost, once it was. */
  private lostInfo: { reason: string; message: string } | null = null;
  /** Resolves, with the error every later use throws, when the device is lost (never, while it works). */
  readonly lost: Promise<DeviceLostError>;
  private pendingFlush: Promise<void> | null = null;
  /** Paces GPU waits in Node on a CPU adapter, where Dawn's polling would take a core (wait-pacer.ts). */
  private readonly pacer: WaitPacer | null;
  private profiler: Profiler | null = null;

  constructor(
    readonly gpu: GPUDevice,
    info: DeviceInfo,
    /** The most its buffers can take in all (WebGPU tells no total): models whose weights alone are larger are refused before anything is made. */
    readonly memoryBound: MemoryBound,
  ) {
    this.info = info;
    this.executes = info.device !== NULL_BACKEND_DEVICE;
    this.firstSubmit = this.submitAfter = info.isFallbackAdapter ? MAX_DISPATCHES_PER_SUBMIT : FIRST_SUBMIT_ON_GPU;
    this.pacer = info.platform === 'node' && info.isFallbackAdapter ? new WaitPacer() : null;
    const { maxBufferSize, maxStorageBufferBindingSize } = info.limits;
    const largest = maxBufferSize ?? Infinity;
    this.pool = new BufferPool(gpu, (e) => this.outOfMemory.push(e), Math.min(largest, maxStorageBufferBindingSize ?? Infinity), largest);
    this.textures = new TexturePool(gpu);
    this.bindGroups = new BindGroupCache(gpu, BIND_GROUP_CACHE);
    this.uniformGpu = gpu.createBuffer({
      label: 'uniforms',
      size: this.uniformHost.byteLength,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    this.faultWord = gpu.createBuffer({
      label: 'faults',
      size: 4,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    gpu.addEventListener('uncapturederror', (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      this.errors.push(new Error(`WebGPU ${e.constructor?.name ?? 'error'}: ${e.message}`));
    });
    this.lost = gpu.lost.then((l) => {
      this.lostInfo = { reason: l.reason, message: l.message };
      return this.lostError();
    });
  }

  // ---- memory -----------------------------------------------------------------------------
  alloc(bytes: number, label: string): GPUBuffer {
    this.assertUsable(label);
    const max = this.info.limits.maxBufferSize ?? Infinity;
    if (bytes > max) throw new RangeError(`${label}: ${bytes} bytes exceed this adapter's largest buffer (maxBufferSize ${max} bytes)`);
    return this.pool.acquire(bytes, label);
  }

  release(buffer: GPUBuffer): void {
    this.pool.release(buffer);
  }

  /** `buffer.size`, from the pool's records where it has them (GPUBuffer.size is a native call; kernels ask at every dispatch). */
  bufferSize(buffer: GPUBuffer): number {
    return this.pool.sizeOf(buffer) ?? buffer.size;
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
    this.destroyAfterSubmit(this.textures.release(texture));
  }

  memory(): MemoryStats {
    const s = this.pool.stats();
    return { ...s, pooledBytes: s.pooledBytes + this.textures.pooledBytes };
  }

  /** Makes peakBytes start over from the bytes live now (to measure one phase of a program). */
  resetPeakMemory(): void {
    this.pool.resetPeak();
  }

  /** Frees every pooled (unused) buffer and texture. */
  emptyCache(): void {
    this.destroyAfterSubmit([...this.pool.trim(), ...this.textures.trim()]);
    this.flush(); // recorded commands may still use pooled buffers: destroyed once submitted
  }

  /** Bind groups cached for reuse, and how many were created so far (tests). */
  bindGroupStats(): { cached: number; created: number } {
    return { cached: this.bindGroups.size, created: this.bindGroups.created };
  }

  // ---- transfers --------------------------------------------------------------------------
  write(buffer: GPUBuffer, data: ArrayBufferView, offset = 0): void {
    this.assertUsable('write');
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

  /**
   * Waits for the GPU if many submits were recorded since it last caught up: in Node, Dawn
   * recycles command pools, upload space and destroyed buffers only for finished work, from its
   * event-loop callbacks. A loop that awaits this once per step (the Trainer does) never piles them
   * up; it returns at once when there is nothing to do. Also retires the stand-in buffers of
   * rationed bind groups once enough groups were collected.
   */
  async breathe(): Promise<void> {
    if (this.proxies.size && this.bindGroups.outstanding < OUTSTANDING_GROUPS_MAX / 2) {
      this.destroyAfterSubmit([...this.proxies.values()]); // submitted work may still use them: destroy() waits
      this.proxies.clear();
    }
    if (this.stats.submits + (this.encoder ? 1 : 0) - this.finishedSubmits < SUBMITS_TO_BREATHE) return;
    this.flush();
    const submitted = this.stats.submits;
    await this.waitForGpu(() => this.gpu.queue.onSubmittedWorkDone());
    this.finished(submitted);
  }

  /**
   * Waits until the GPU has done everything recorded so far (the autotuner: its wall clock then
   * times its own work and compiles, not the program's queued before it).
   */
  async idle(): Promise<void> {
    this.assertUsable('idle');
    this.flush();
    const submitted = this.stats.submits;
    await this.waitForGpu(() => this.gpu.queue.onSubmittedWorkDone());
    this.finished(submitted);
  }

  /** Records that the GPU has finished the first `submitted` submits. */
  private finished(submitted: number): void {
    this.finishedSubmits = Math.max(this.finishedSubmits, submitted);
    if (this.finishedSubmits === this.stats.submits) this.submitAfter = this.firstSubmit; // it ran dry
  }

  /** Awaits `start()`'s GPU promise, paced on CPU adapters in Node (wait-pacer.ts). */
  private waitForGpu<T>(start: () => Promise<T>): Promise<T> {
    return this.pacer ? this.pacer.wait(start) : start();
  }

  /** Copies `rows` rows of `texture.width` texels (4 floats each) from `source`, rows `4 * floatsPerRow` bytes apart (a multiple of 256), in command order. */
  copyToTexture(source: GPUBuffer | BufferWindow, texture: GPUTexture, floatsPerRow: number, rows: number): void {
    this.assertUsable('copyToTexture');
    this.endPass();
    const { buffer, offset } = 'offset' in source ? source : { buffer: source, offset: 0 };
    this.getEncoder().copyBufferToTexture({ buffer, offset, bytesPerRow: 4 * floatsPerRow }, { texture }, [floatsPerRow / 4, rows]);
  }

  /** Copies `bytes` bytes (a multiple of 4) between buffers in command order; no binding, so no binding limit. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.assertUsable('copy');
    if (!bytes) return;
    this.endPass();
    this.getEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Reads `bytes` bytes of `buffer` back; throws the faults kernels reported before this point. */
  async read(buffer: GPUBuffer, bytes: number, offset = 0): Promise<ArrayBuffer> {
    this.assertUsable('read');
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.gpu.createBuffer({
      label: 'readback-staging',
      size: size + 4, // the fault word comes back behind the data
      usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ,
    });
    const encoder = this.getEncoder();
    this.endPass();
    if (size) encoder.copyBufferToBuffer(buffer, offset, staging, 0, size);
    encoder.copyBufferToBuffer(this.faultWord, 0, staging, size, 4);
    await this.flushSoon();
    const submitted = this.stats.submits;
    try {
      await this.waitForGpu(() => staging.mapAsync(GPUMapMode.READ));
      this.finished(submitted);
      await this.throwPendingErrors(submitted);
      if (!this.executes) return new ArrayBuffer(bytes);
      const mapped = staging.getMappedRange();
      this.throwFaults(new Uint32Array(mapped, size, 1)[0]!);
      return mapped.slice(0, bytes);
    } catch (e) {
      await this.lossToldAfter(e);
      await this.throwPendingErrors(submitted);
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

  /** Waits until all recorded work is done; throws any GPU error or kernel fault raised meanwhile. */
  async sync(): Promise<void> {
    await this.read(this.faultWord, 0);
  }

  private throwFaults(bits: number): void {
    if (!bits) return;
    this.write(this.faultWord, new Uint32Array(1)); // reported once
    throw new Error(describeFaults(bits));
  }

  // ---- compute ----------------------------------------------------------------------------
  dispatch(
    kernel: KernelLike,
    buffers: Resource[],
    params: Readonly<Record<string, number | readonly number[]>>,
    workgroups: readonly [number, number, number],
  ): void {
    this.assertUsable(kernel.name);
    this.assertBindable(kernel.name, buffers);
    const { pipeline, layout, id } = this.pipeline(kernel);
    if (this.profiler?.full) this.flush(); // before this dispatch claims a uniform slot of the batch
    const bytes = kernel.paramBytes;
    let uniformOffsets: number[] = NO_OFFSETS;
    if (bytes) {
      if (bytes > UNIFORM_SLOT) throw new Error(`${kernel.name}: params exceed ${UNIFORM_SLOT} bytes`);
      if (this.uniformUsed + UNIFORM_SLOT > this.uniformHost.byteLength) this.flush();
      kernel.writeParams(this.uniformView, this.uniformUsed, params); // straight into this batch's slot
      uniformOffsets = [this.uniformUsed];
      this.uniformUsed += UNIFORM_SLOT;
    }
    const uniform = bytes ? { buffer: this.uniformGpu, offset: 0, size: bytes } : null;
    let bound = buffers;
    let key = this.bindGroups.key(pipeline, bound, uniform && this.uniformGpu);
    let bindGroup = this.bindGroups.find(key);
    let writeBack: [GPUBuffer, BufferWindow][] = [];
    if (!bindGroup && this.bindGroups.outstanding >= OUTSTANDING_GROUPS_MAX) {
      ({ bound, writeBack } = this.throughProxies(kernel, buffers));
      key = this.bindGroups.key(pipeline, bound, uniform && this.uniformGpu);
      bindGroup = this.bindGroups.find(key);
    }
    bindGroup ??= this.bindGroups.create(key, layout, kernel.name, bound, uniform);
    if (this.profiler) {
      this.endPass();
      this.pass = this.getEncoder().beginComputePass({ label: kernel.name, timestampWrites: this.profiler.passFor(kernel.name) });
    }
    const pass = this.getPass();
    if (this.passPipeline !== pipeline) pass.setPipeline(pipeline); // a run of one kernel sets it once
    this.passPipeline = pipeline;
    pass.setBindGroup(0, bindGroup, uniformOffsets);
    pass.dispatchWorkgroups(workgroups[0], workgroups[1], workgroups[2]);
    this.pacer?.note(id, workgroups[0], workgroups[1], workgroups[2]);
    if (writeBack.length) {
      this.endPass();
      for (const [proxy, w] of writeBack) this.getEncoder().copyBufferToBuffer(proxy, 0, w.buffer, w.offset, w.size);
    }
    this.stats.dispatches++;
    if (++this.pendingDispatches >= this.submitAfter) this.flush();
  }

  /** A clear error, before WebGPU's validation, for a buffer bound whole past the adapter's binding limit. */
  private assertBindable(kernel: string, buffers: readonly Resource[]): void {
    const limit = this.info.limits.maxStorageBufferBindingSize ?? Infinity;
    for (const r of buffers) {
      const bytes = 'offset' in r ? r.size : 'createView' in r ? 0 : this.bufferSize(r); // textures are not storage buffers
      if (bytes > limit) {
        throw new RangeError(
          `${kernel}: a ${bytes}-byte buffer is bound whole but this adapter binds at most ${limit} bytes (maxStorageBufferBindingSize); this op does not split tensors that large`,
        );
      }
    }
  }

  /** Submits everything recorded so far. */
  flush(): void {
    if (this.encoder) {
      this.endPass();
      const afterSubmit = this.profiler?.resolve(this.encoder);
      if (this.uniformUsed > 0) this.gpu.queue.writeBuffer(this.uniformGpu, 0, this.uniformHost, 0, this.uniformUsed);
      this.gpu.queue.submit([this.encoder.finish()]);
      afterSubmit?.();
      this.stats.submits++;
      this.encoder = null;
      this.pendingDispatches = 0;
      this.submitAfter = Math.min(MAX_DISPATCHES_PER_SUBMIT, 2 * this.submitAfter);
      this.uniformUsed = 0;
    }
    for (const b of this.toDestroy.splice(0)) b.destroy();
  }

  /**
   * GPU milliseconds of the dispatches `record` makes, each timed in a pass of its own; null where
   * the adapter has no timestamp queries or a profile is being taken. For autotuning: `record` is a
   * trial (see `trial`), and one that fails throws here; its timestamps, never written, would read
   * as 0 ms, the fastest.
   */
  async timeDispatches(record: () => void): Promise<number | null> {
    if (this.profiler || !this.gpu.features.has('timestamp-query')) return null;
    this.flush();
    const timer = new Profiler(this.gpu);
    this.profiler = timer;
    let verdict: () => Promise<Error | null>;
    try {
      verdict = this.submitTrial(record);
    } finally {
      this.profiler = null;
    }
    let kernels: KernelTime[];
    try {
      const failure = await verdict();
      kernels = await timer.report();
      if (failure) throw failure;
    } catch (e) {
      await this.lossToldAfter(e);
      throw this.lostInfo ? this.lostError('timeDispatches') : e; // its timestamps' readback rejected
    } finally {
      timer.destroy();
    }
    return kernels.reduce((ms, k) => ms + k.ms, 0);
  }

  /**
   * Records and submits what `record` does as a trial whose failure is its own: an error it throws,
   * a compile error of a pipeline it makes, or a GPU error its commands raise is returned, in one
   * line, rather than thrown at the program's next read (nor printed by Dawn), and the pipelines it
   * made are forgotten, so that a later use compiles them again and reports their errors there.
   * Null: it went through. A device lost meanwhile is no verdict: its DeviceLostError is thrown.
   * For what may fail on an adapter and must not crash the program: the
   * autotuner's candidates, the device-start self-check's fast paths.
   */
  trial(record: () => void): Promise<Error | null> {
    return this.submitTrial(record)();
  }

  /** A trial's recording and submit, within error scopes (synchronous: no other work's errors land in them); then its verdict. */
  private submitTrial(record: () => void): () => Promise<Error | null> {
    this.flush(); // the work recorded so far is not on trial
    const trial = (this.onTrial = { checks: [] as Promise<void>[], made: [] as string[], errors: [] as Error[] });
    const scopes = ['validation', 'internal', 'out-of-memory'] as const;
    for (const scope of scopes) this.gpu.pushErrorScope(scope);
    let scoped: Promise<GPUError | null>[];
    try {
      record();
    } catch (e) {
      trial.errors.push(e as Error);
    } finally {
      this.flush();
      this.onTrial = null;
      scoped = scopes.map(() => this.gpu.popErrorScope());
    }
    return async () => {
      const gpuErrors = (await Promise.all(scoped)).filter((e) => e !== null);
      await Promise.all(trial.checks); // compile errors, first in trial.errors
      // not the trial's failure, and no verdict: on a lost device nothing ran, and scopes report nothing
      if (this.lostInfo) throw this.lostError('trial');
      const failure = trial.errors[0] ?? gpuErrors[0];
      if (!failure) return null;
      for (const wgsl of trial.made) this.pipelines.delete(wgsl);
      const [first, detail] = failure.message.split('\n'); // a compile error's first line ends in ':', the error follows
      return new Error(first!.endsWith(':') && detail ? `${first} ${detail}` : first);
    };
  }

  /** Starts timing every dispatch (needs the adapter's timestamp-query feature). */
  startProfiling(): void {
    this.assertUsable('startProfiling');
    if (!this.gpu.features.has('timestamp-query')) throw new Error('profiling needs the timestamp-query feature, which this adapter lacks');
    // its timestamps would be whatever the readback buffers held: nothing runs to write them
    if (!this.executes) throw new Error("profiling needs an adapter that runs commands; Dawn's null backend (GPT_DAWN_BACKEND=null) runs none");
    this.flush();
    this.profiler ??= new Profiler(this.gpu);
    this.profiler.reset();
  }

  /** Stops timing and returns GPU milliseconds per kernel, slowest first. */
  async stopProfiling(): Promise<KernelTime[]> {
    const profiler = this.profiler;
    if (!profiler) return [];
    try {
      await this.sync();
      return await profiler.report();
    } finally {
      profiler.destroy(); // stopped however it ends (a lost device throws above)
      this.profiler = null;
    }
  }

  destroy(): void {
    this.destroyAfterSubmit([...this.proxies.values()]);
    this.emptyCache();
    for (const b of [this.uniformGpu, this.faultWord]) b.destroy();
    this.gpu.destroy();
  }

  /**
   * Copies each buffer of a dispatch into a stand-in of its binding slot and size, whose bind groups
   * repeat and are cached; returns the stand-ins and the (stand-in, buffer) pairs to copy back after
   * the dispatch (the writable bindings).
   */
  private throughProxies(kernel: KernelLike, buffers: Resource[]) {
    this.endPass();
    const encoder = this.getEncoder();
    const writeBack: [GPUBuffer, BufferWindow][] = [];
    const bound = buffers.map((r, slot) => {
      if ('createView' in r) return r; // textures are pooled by size and bound again and again
      const window = 'offset' in r ? r : { buffer: r, offset: 0, size: r.size };
      // one stand-in per slot and size class (kernels read only what they index): few of them
      const size = sizeClass(window.size);
      const name = `${slot}:${size}`;
      let proxy = this.proxies.get(name);
      if (!proxy) {
        proxy = this.gpu.createBuffer({ label: `proxy ${name}`, size, usage: window.buffer.usage });
        this.proxies.set(name, proxy);
      }
      encoder.copyBufferToBuffer(window.buffer, window.offset, proxy, 0, window.size);
      if (kernel.layoutEntries[slot]?.buffer?.type === 'storage') writeBack.push([proxy, window]);
      return proxy;
    });
    return { bound, writeBack };
  }

  /** Destroys pooled resources once the commands recorded so far are submitted (they may use them). */
  private destroyAfterSubmit(resources: (GPUBuffer | GPUTexture)[]): void {
    for (const r of resources) this.bindGroups.forget(r);
    this.toDestroy.push(...resources);
  }

  private pipeline(kernel: KernelLike) {
    let hit = this.pipelines.get(kernel.wgsl);
    if (hit) return hit;
    const module = this.gpu.createShaderModule({ label: kernel.name, code: kernel.wgsl });
    const check = this.checkCompilation(kernel, module, this.onTrial?.errors ?? this.errors);
    this.compileChecks.add(check);
    this.onTrial?.checks.push(check);
    this.onTrial?.made.push(kernel.wgsl);
    const layout = this.gpu.createBindGroupLayout({ label: kernel.name, entries: kernel.layoutEntries });
    const pipeline = this.gpu.createComputePipeline({
      label: kernel.name,
      layout: this.gpu.createPipelineLayout({ label: kernel.name, bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main' },
    });
    hit = { pipeline, layout, id: this.pipelinesMade++ };
    this.pipelines.set(kernel.wgsl, hit);
    return hit;
  }

  /** Puts the module's compile errors, if any, first in `into`. */
  private async checkCompilation(kernel: KernelLike, module: GPUShaderModule, into: Error[]): Promise<void> {
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === 'error');
    if (errors.length) into.unshift(new Error(formatCompileErrors(kernel, errors)));
  }

  /** Throws the GPU errors raised before a read of what the first `submitted` submits wrote could trust its data. */
  private async throwPendingErrors(submitted: number): Promise<void> {
    await this.compileChecks.settled();
    await this.pool.settled();
    if (this.lostInfo) throw this.lostError(); // before the errors the loss made (a rejected readback's AbortError)
    if (this.errors.length || this.outOfMemory.length) {
      const all = [...this.outOfMemory.splice(0), ...this.errors.splice(0)];
      const err = all[0]!;
      if (all.length > 1) err.message += ` (+${all.length - 1} more GPU errors)`; // on the line of a one-line error
      this.thrown = { error: err, submits: this.stats.submits };
      throw err;
    }
    // a read of work submitted before another read threw: its data may be a failed submit's (zeros)
    if (this.thrown && submitted <= this.thrown.submits) throw this.thrown.error;
  }

  /**
   * Waits (LOSS_TOLD_MS at most) for device.lost where `e` is a readback the loss cancelled (an
   * AbortError): Chromium rejects the map first, and its bare 'Buffer was unmapped before mapping
   * was resolved' was the error the page showed in place of the loss.
   */
  private async lossToldAfter(e: unknown): Promise<void> {
    if (this.lostInfo || (e as Error | null)?.name !== 'AbortError') return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.lost, new Promise((r) => (timer = setTimeout(r, LOSS_TOLD_MS)))]);
    clearTimeout(timer);
  }

  private assertUsable(what: string): void {
    if (this.lostInfo) throw this.lostError(what);
  }

  private lostError(what?: string): DeviceLostError {
    return new DeviceLostError(this.lostInfo!.reason, this.lostInfo!.message, what);
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
    this.passPipeline = null;
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
const openHooks: ((d: Device) => Promise<void>)[] = [];

/**
 * Runs `hook` on the device as it opens, before initDevice resolves (`device()` already works in
 * it): the layers above use it to check their fast paths on this adapter (kernels/self-check.ts).
 * Hooks registered after the device opened do not run.
 */
export function onDeviceOpen(hook: (d: Device) => Promise<void>): void {
  openHooks.push(hook);
}

let openedWith: LimitChoice | null = null;

/**
 * Opens (once) the WebGPU device, with the adapter's real limits or WebGPU's defaults
 * (DeviceOptions.limits). Later calls get the open device; one asking for the other limits is an
 * error (a process has one device: the first call, or GPT_LIMITS, chooses).
 */
export function initDevice(options: DeviceOptions = {}): Promise<Device> {
  let choice: LimitChoice;
  try {
    choice = openedWith && options.limits === undefined ? openedWith : limitChoice(options);
  } catch (e) {
    return Promise.reject(e as Error);
  }
  if (openedWith && openedWith !== choice) {
    return Promise.reject(new Error(`initDevice limits=${choice}: the device is already open with ${openedWith} limits (one device per process: GPT_LIMITS or the first initDevice call chooses)`));
  }
  openedWith = choice;
  // callers during the hooks wait for them too: `opening`, not `current`
  opening ??= openDevice(choice).then(async (d) => {
    current = d;
    for (const hook of openHooks) await hook(d);
    return d;
  });
  return opening;
}

/** The open device; ops call this synchronously, so `await initDevice()` must come first. */
export function device(): Device {
  if (!current) throw new Error('No WebGPU device: call `await initDevice()` before creating tensors.');
  return current;
}

async function openDevice(choice: LimitChoice): Promise<Device> {
  const platform = await getPlatform();
  const { adapter, reason } = await describeAdapter();
  if (!adapter) throw new Error(`No WebGPU adapter found (${reason}). Run \`npx gpt doctor\` for how to fix it.`);
  const gpu = await requestDevice(adapter, choice);
  const info = adapterInfo(adapter, platform, gpu.limits);
  return new Device(gpu, info, memoryBound(info, platform.hostMemory));
}
