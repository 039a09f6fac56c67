// The tensor: a shape, a dtype and a reference-counted GPU storage. Row-major and contiguous
// always, so reshape shares the storage for free. Ops live in src/ops and are attached as methods
// there (the tensor layer knows nothing of them, nor of autograd beyond an opaque `gradFn`).
import { device } from '../device/device.js';
import { envFlag } from '../device/platform.js';
import { freedByScope, OWNER, SCOPED, trackInScope, UNOWNED, untrack } from './scope.js';
import { formatShape, isShape, numel } from './shape.js';

import type { FloatType } from '../kernels/kernel.js';
import { f16BitsToF32 } from './half.js';

/** Node's util.inspect hook, by its registered name: a global symbol, so no node: import (a browser has no such hook and ignores it). */
const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/**
 * float32, float16, int32, or int8. float16 (IEEE binary16) needs the adapter's shader-f16 feature
 * (kernels/profile.ts `f16`); its values read back as a Float32Array holding the float16 values
 * exactly. int8 is quantized weights (src/ops/int8.ts), stored as bytes in element order, four to
 * a 32-bit word, as a safetensors I8 tensor holds them; int8 tensors are made from an Int8Array
 * only, and only the int8 ops take them.
 */
export type DType = 'float32' | 'float16' | 'int32' | 'int8';
/** The dtypes tensors are created in and computed with (every dtype but int8). */
export type PlainDType = Exclude<DType, 'int8'>;
export type TypedArrayFor<D extends DType> = D extends 'int32' ? Int32Array : D extends 'int8' ? Int8Array : Float32Array;

/** What tolist gives: a number for a 0-d tensor, arrays nested a level per dim otherwise. */
export type NestedList = number | NestedList[];

const DTYPES: readonly DType[] = ['float32', 'float16', 'int32', 'int8'];

/** The float dtypes: what a float op's tensor arguments may be (one of them per call). */
export const FLOAT_DTYPES: readonly DType[] = ['float32', 'float16'];

/** The storage type kernels use for a float dtype's elements. */
export const floatType = (dtype: DType): FloatType => (dtype === 'float16' ? 'f16' : 'f32');

/** Bytes an element of `dtype` takes in a buffer. */
export const elementBytes = (dtype: DType): number => (dtype === 'float16' ? 2 : dtype === 'int8' ? 1 : 4);

/** Bytes a buffer of n elements of `dtype` takes: at least 4 and a multiple of 4 (WebGPU's copy and binding granule). */
export const bufferBytes = (n: number, dtype: DType): number => Math.max(4, Math.ceil((n * elementBytes(dtype)) / 4) * 4);

/** What autograd hangs on a tensor it produced; dropped when the tensor is disposed. */
export interface GradFn {
  readonly opName: string;
  drop(): void;
}

let nextId = 1;

/** The id the next tensor gets: a tensor with a smaller one was made before this call. */
export const nextTensorId = (): number => nextId;

// a module returned from a scope is not a tensor it keeps: its parameters are freed with the scope
const SCOPE_ENDED =
  "the scope that created it ended (a scope keeps the tensors it returns, alone or in arrays, plain objects and Maps; keep() others, e.g. a module's parameters)";

/** A GPU buffer shared by a tensor and its reshaped views; freed when the last one lets go. */
export class Storage {
  private refs = 1;
  /** Bumped by every in-place write (e.g. an optimizer step), so autograd can tell saved data changed. */
  version = 0;
  constructor(
    readonly buffer: GPUBuffer,
    readonly bytes: number,
    /** A host copy of small int32 data created from JS arrays, used to check indices eagerly. */
    readonly host?: Int32Array,
  ) {}
  retain(): this {
    this.refs++;
    return this;
  }
  /** Whether more than one tensor holds this storage (a write through one shows through the others). */
  get shared(): boolean {
    return this.refs > 1;
  }
  releaseRef(): void {
    if (--this.refs === 0) device().release(this.buffer);
  }
}

// what a leak report names, formatted only when one is made (tensors are created by the thousand a
// step); GPT_LEAK_TRACE=1 adds where each tensor was created (a stack trace a tensor: slow), as a
// string: an unformatted Error would hold its frames' receivers, the tensor among them. Only tensors
// no scope owns are registered (scope.ts's UNOWNED): a scope holds what it owns until it frees it,
// and registering each of a step's intermediates cost about a tenth of its host time.
let traceLeaks: boolean | undefined; // read at the first tensor: a bad value is its error, not an import's
const leakReports = new FinalizationRegistry<{ dtype: DType; shape: readonly number[]; id: number; created?: string }>(({ dtype, shape, id, created }) => {
  const where = created ? `\n  created ${created.split('\n').slice(3).join('\n  ').trim()}` : ' (GPT_LEAK_TRACE=1 tells where it was created)';
  console.warn(`[webgpu-gpt] a tensor was garbage-collected without dispose(): ${dtype}${formatShape(shape)} (id ${id}). Its GPU memory is still held.${where}`);
});

/** Where a tensor is being created: 30 frames, enough to reach the caller past the engine's op plumbing. */
function creationStack(): string {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 30;
  const stack = new Error().stack!;
  Error.stackTraceLimit = limit;
  return stack;
}

export class Tensor {
  readonly id = nextId++;
  readonly shape: readonly number[];
  /**
   * The element count (NumPy's and tfjs's `size`; PyTorch's `numel()`, which is here too). Not
   * PyTorch's `size()`, the shape: that is `shape`.
   */
  readonly size: number;
  private gradFlag = false;
  grad: Tensor | null = null;
  gradFn: GradFn | null = null;
  private storageRef: Storage | null;

  /** Marks tensors for the scopes (scope.ts), which find them among a scope's results. */
  readonly [SCOPED] = true;
  /** What the scope that owns it owns, scope.ts's (set before the constructor tracks it). */
  [OWNER]: unknown = null;
  /** Where it was created, with GPT_LEAK_TRACE=1, for its leak report. */
  private readonly created: string | undefined;
  /** Whether its leak report is registered (once no scope owns it). */
  private leakWatched = false;

  constructor(storage: Storage, shape: readonly number[], readonly dtype: DType) {
    this.created = (traceLeaks ??= envFlag('GPT_LEAK_TRACE', false)) ? creationStack() : undefined; // first: a bad setting throws before the tensor is tracked
    this.storageRef = storage;
    this.shape = Object.isFrozen(shape) ? shape : Object.freeze([...shape]); // a tensor's shape is frozen: views share it
    this.size = numel(shape);
    trackInScope(this);
  }

  /** No scope owns it any more (scope.ts): only the caller can free it, so dropping it is reported. */
  [UNOWNED](): void {
    if (this.leakWatched) return;
    this.leakWatched = true;
    const { dtype, shape, id, created } = this;
    leakReports.register(this, { dtype, shape, id, ...(created && { created }) }, this);
  }

  /** Allocates an uninitialised tensor. `label` names the buffer in GPU error messages. */
  static empty(shape: readonly number[], dtype: DType = 'float32', label = 'tensor'): Tensor {
    // public (Tensor.empty): a dim of -1 or 2.5 made a tensor of that size, an unknown dtype one the ops
    // misread (said without check.ts's describeValue, which imports this module)
    if (!isShape(shape)) throw new RangeError(`Tensor.empty: argument 'shape' must be an array of non-negative integers, got ${Array.isArray(shape) ? formatShape(shape) : typeof shape}`);
    if (!DTYPES.includes(dtype)) throw new TypeError(`Tensor.empty: argument 'dtype' must be one of ${DTYPES.join(', ')}, got ${typeof dtype === 'string' ? `'${dtype}'` : typeof dtype}`);
    const bytes = bufferBytes(numel(shape), dtype);
    return new Tensor(new Storage(device().alloc(bytes, label), bytes), shape, dtype);
  }

  /** Whether ops record this tensor's uses for backward. Assigning it follows requiresGrad_'s rules, named 'requiresGrad' in errors. */
  get requiresGrad(): boolean {
    return this.gradFlag;
  }
  set requiresGrad(on: boolean) {
    this.gradFlag = this.allowedRequiresGrad(on, 'requiresGrad');
  }

  /**
   * Sets requiresGrad and returns this, for chaining. As PyTorch's requires_grad: only float32 and
   * float16 tensors can require grad, and a tensor an op computed cannot stop (detach() gives its
   * data outside the graph): its graph would be cut without a word.
   */
  requiresGrad_(on = true): this {
    this.gradFlag = this.allowedRequiresGrad(on, 'requiresGrad_');
    return this;
  }

  /** `on`, or an error naming `op` where this tensor may not take it (or it is not a boolean). */
  private allowedRequiresGrad(on: unknown, op: string): boolean {
    // 'no' would read as true (said without check.ts's describeValue, which imports this module)
    if (typeof on !== 'boolean') throw new TypeError(`${op}: argument 'on' must be a boolean, got ${typeof on === 'string' ? `string '${on}'` : typeof on}`);
    this.storage(op); // a disposed tensor took the flag without a word
    if (on && !FLOAT_DTYPES.includes(this.dtype)) throw new Error(`${op}: only float32 and float16 tensors can require grad, got ${this.describe()}`);
    if (!on && this.gradFn) throw new Error(`${op}: ${this.describe()} was computed by '${this.gradFn.opName}' (not a leaf); use detach() for the same data outside the graph`);
    return on;
  }

  get rank(): number {
    return this.shape.length;
  }
  /** The rank under PyTorch's property name (x.ndim). */
  get ndim(): number {
    return this.shape.length;
  }
  /** The rank, as PyTorch's x.dim(). */
  dim(): number {
    return this.shape.length;
  }
  /** The element count, as PyTorch's x.numel() (`size` holds it too). */
  numel(): number {
    return this.size;
  }
  get isDisposed(): boolean {
    return this.storageRef === null;
  }

  /** The storage, or an error naming `op` if the tensor was disposed. */
  storage(op = 'use'): Storage {
    if (!this.storageRef) throw new Error(`${op}: tensor ${this.describe()} was used after ${freedByScope(this) ? SCOPE_ENDED : 'dispose()'}`);
    return this.storageRef;
  }
  buffer(op = 'use'): GPUBuffer {
    return this.storage(op).buffer;
  }

  describe(): string {
    return `${this.dtype}${formatShape(this.shape)}`;
  }

  /**
   * Another handle on this tensor's storage under a shape of the same size, outside autograd (no
   * gradFn): for the engine's own code. Users reshape (or view, its PyTorch name), which is recorded.
   */
  alias(shape: readonly number[]): Tensor {
    const storage = this.storage('alias');
    if (!isShape(shape) || numel(shape) !== this.size) throw new RangeError(`alias: shape ${formatShape(shape)} (${numel(shape)} elements) does not fit ${this.describe()} (${this.size} elements)`);
    return new Tensor(storage.retain(), shape, this.dtype);
  }

  /**
   * Makes this tensor hold `src`'s data (same shape and dtype), like `p.data = src` in PyTorch:
   * the storage is swapped, not overwritten, so values saved for a pending backward stay intact.
   */
  assign(src: Tensor): this {
    if (!(src instanceof Tensor)) throw new TypeError(`assign: argument 'src' must be a ${this.describe()} tensor, got ${Array.isArray(src) ? 'an array' : typeof src}`); // was 'src.describe is not a function'
    if (src.dtype !== this.dtype || src.shape.length !== this.shape.length || src.shape.some((d, i) => d !== this.shape[i])) {
      throw new Error(`assign: expected a ${this.describe()} tensor, got ${src.describe()}`);
    }
    const prev = this.storage('assign'); // before retaining src's: a refusal must hold on to nothing
    const next = src.storage('assign').retain();
    prev.releaseRef();
    this.storageRef = next;
    return this;
  }

  dispose(): void {
    if (!this.storageRef) return;
    this.storageRef.releaseRef();
    this.storageRef = null;
    untrack(this);
    if (this.leakWatched) leakReports.unregister(this);
    this.gradFn?.drop();
    this.gradFn = null;
    this.grad?.dispose();
    this.grad = null;
  }

  /**
   * Reads the data back; resolves after all queued GPU work. With the tensor's `dtype` named, the
   * array comes typed for it (toArray('float32'): a Float32Array, as float16's values also come),
   * and a tensor of another dtype is refused.
   */
  toArray<D extends DType>(dtype: D): Promise<TypedArrayFor<D>>;
  toArray(): Promise<TypedArrayFor<DType>>; // last: the one toArray.call(t) is typed by
  async toArray(dtype?: DType): Promise<TypedArrayFor<DType>> {
    if (dtype !== undefined && dtype !== this.dtype) {
      throw new TypeError(`toArray: argument 'dtype' must be the tensor's own, ${this.dtype}, got ${JSON.stringify(dtype) ?? String(dtype)} (cast first: .astype(${JSON.stringify(dtype)}))`);
    }
    const s = this.storage('toArray');
    const data = await device().read(s.buffer, bufferBytes(this.size, this.dtype));
    if (this.dtype === 'int32') return new Int32Array(data, 0, this.size);
    if (this.dtype === 'int8') return new Int8Array(data, 0, this.size);
    if (this.dtype === 'float32') return new Float32Array(data, 0, this.size);
    return Float32Array.from(new Uint16Array(data, 0, this.size), f16BitsToF32);
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    this.storage('item');
    if (this.size !== 1) throw new Error(`item: expected a tensor with one element, got ${this.describe()}`);
    return (await this.toArray())[0]!;
  }

  /** The values as nested arrays of numbers, one level a dim, as torch's tolist (a 0-d tensor's: its number). */
  async tolist(): Promise<NestedList> {
    const data = await this.toArray();
    const nest = (d: number, at: number, block: number): NestedList => {
      if (d === this.shape.length) return data[at]!;
      const inner = block / this.shape[d]!;
      return Array.from({ length: this.shape[d]! }, (_, i) => nest(d + 1, at + i * inner, inner));
    };
    return nest(0, 0, this.size);
  }

  toString(): string {
    return `Tensor(${this.describe()}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }

  /** What console.log shows in Node (util.inspect): toString's line, not the engine's fields (its values need an await: toArray()). */
  [INSPECT](): string {
    return this.toString();
  }
}
