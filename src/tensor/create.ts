// Creating tensors: from JS data (uploaded), or filled on the GPU (zeros, ones, full, arange and
// seeded uniform/normal random numbers from a counter-based generator; a float32 arange is computed
// on the host, in float64 as PyTorch computes it). Every argument is checked
// (src/tensor/check.ts): JS would coerce '3', null or a ragged array into numbers without a word.
import { device } from '../device/device.js';
import { launchFill } from '../kernels/wgsl/fill.js';
import { launchRandom } from '../kernels/wgsl/random.js';
import {
  checkDtype, checkFloat32, checkInt32, checkInt32Element, checkInteger, checkNumber, checkShape, checkTensor, describeValue, INT32_MAX,
  INT32_MIN, INT32_RANGE,
} from './check.js';
import { requireF16 } from '../kernels/profile.js';
import { f32ToF16Bits, float32Bits } from './half.js';
import { formatShape, numel, type Shape } from './shape.js';
import { bufferBytes, Storage, Tensor, type DType } from './tensor.js';

export type NestedArray = number | NestedArray[];
const HOST_COPY_LIMIT = 1 << 20; // int32 data up to this many elements keeps a host copy for index checks
const DATA_KINDS = 'a number, a nested array of numbers or a typed array';

type NumericArray = Exclude<ArrayBufferView, DataView | BigInt64Array | BigUint64Array>;

/** A typed array of numbers: what tensor() takes as data besides arrays (not a DataView, nor BigInt64/BigUint64 values). */
export function isNumericArray(data: unknown): data is NumericArray {
  return ArrayBuffer.isView(data) && !(data instanceof DataView || data instanceof BigInt64Array || data instanceof BigUint64Array);
}

/**
 * The shape and row-major values of nested arrays, which must be rectangular and hold numbers only
 * (integers in int32's range for `dtype` int32). The shape is read down the first elements; every
 * other element is checked against it.
 */
function flattenNested(data: NestedArray, dtype: DType): { shape: number[]; flat: number[] } {
  const shape: number[] = [];
  for (let d: unknown = data; Array.isArray(d); d = d[0]) shape.push(d.length);
  const flat: number[] = [];
  const at: number[] = []; // index of the element being visited, for error messages
  const visit = (v: unknown): void => {
    const depth = at.length;
    if (depth === shape.length) {
      if (typeof v !== 'number') {
        throw new TypeError(`tensor: argument 'data' must hold only numbers, got ${describeValue(v)} at ${formatShape(at)}`);
      }
      if (dtype === 'int32') checkInt32Element('tensor', 'data', v, at);
      flat.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth]) {
      const sibling = formatShape([...at.slice(0, -1), 0]);
      throw new TypeError(
        `tensor: argument 'data' must be a rectangular nested array, got ${describeValue(v)} at ${formatShape(at)} ` +
          `where ${sibling} has length ${shape[depth]}`,
      );
    }
    for (let i = 0; i < v.length; i++) {
      at.push(i);
      visit(v[i]);
      at.pop();
    }
  };
  visit(data);
  return { shape, flat };
}

/** What tensor() takes as data. */
export type TensorInput = NestedArray | Float32Array | Int32Array | Int8Array | readonly number[];

/**
 * A tensor from JS data: a nested array (shape inferred), or a flat array / typed array with a shape.
 * `dtype` defaults to int32 for an Int32Array, int8 for an Int8Array (quantized weights; that
 * dtype is made from an Int8Array only), float32 otherwise. float32 data may hold NaN and
 * +-Infinity (as in PyTorch); int32 data must be integers in [-2^31, 2^31 - 1]. float16 data is
 * rounded on the host, to nearest with ties to even (through float32 first), overflowing to +-Infinity.
 */
export function tensor(data: TensorInput, shape?: Shape, dtype?: DType): Tensor;
/** The dtype without a shape, as torch.tensor(data, dtype=torch.int32): tensor([1, 2], 'int32'). */
export function tensor(data: TensorInput, dtype: DType): Tensor;
export function tensor(data: TensorInput, shapeOrDtype?: Shape | DType, dtype?: DType): Tensor {
  // a string in the shape's place is the dtype when none follows (a dtype there and after it is refused as a shape)
  let shape = shapeOrDtype as Shape | undefined;
  if (typeof shapeOrDtype === 'string' && dtype === undefined) [shape, dtype] = [undefined, shapeOrDtype];
  if (data instanceof Int8Array && (dtype == null || dtype === 'int8')) return int8Tensor(data, shape);
  if (dtype === 'int8') throw new TypeError(`tensor: dtype 'int8' is made from an Int8Array (quantized weights), got ${describeValue(data)}`);
  dtype = dtype == null ? (data instanceof Int32Array ? 'int32' : 'float32') : checkDtype('tensor', dtype);
  let flat: ArrayLike<number>;
  let inferred: Shape;
  if (isNumericArray(data)) {
    flat = data;
    inferred = [data.length];
    if (dtype === 'int32' && !(data instanceof Int32Array)) {
      for (let i = 0; i < data.length; i++) checkInt32Element('tensor', 'data', data[i]!, [i]);
    }
  } else if (typeof data === 'number' || Array.isArray(data)) {
    ({ shape: inferred, flat } = flattenNested(data as NestedArray, dtype));
  } else {
    throw new TypeError(`tensor: argument 'data' must be ${DATA_KINDS}, got ${describeValue(data)}`);
  }
  if (shape !== undefined) inferred = checkShape('tensor', 'shape', shape);
  if (numel(inferred) !== flat.length) {
    throw new RangeError(`tensor: ${flat.length} values do not fill shape ${formatShape(inferred)} (${numel(inferred)} elements)`);
  }
  if (dtype === 'float16') requireF16('tensor');
  const typed = dtype === 'int32' ? Int32Array.from(flat) : dtype === 'float16' ? Uint16Array.from(flat, f32ToF16Bits) : Float32Array.from(flat);
  const bytes = bufferBytes(typed.length, dtype);
  const buffer = device().alloc(bytes, 'tensor-data');
  if (typed.byteLength) device().write(buffer, typed);
  const host = dtype === 'int32' && typed.length <= HOST_COPY_LIMIT ? (typed as Int32Array) : undefined;
  return new Tensor(new Storage(buffer, bytes, host), inferred, dtype);
}

/** int8 data as it is: its bytes, four to a word (the last word padded with zeros). */
function int8Tensor(data: Int8Array, shape: Shape = [data.length]): Tensor {
  checkShape('tensor', 'shape', shape);
  if (numel(shape) !== data.length) {
    throw new RangeError(`tensor: ${data.length} values do not fill shape ${formatShape(shape)} (${numel(shape)} elements)`);
  }
  const t = Tensor.empty(shape, 'int8', 'tensor-data');
  if (data.length) device().write(t.buffer(), data);
  return t;
}

/** `value` everywhere; `op` names the caller in errors. */
function fill(op: string, shape: Shape, dtype: DType, value: number): Tensor {
  checkShape(op, 'shape', shape);
  checkDtype(op, dtype);
  checkNumber(op, 'value', value);
  if (dtype === 'float16') requireF16(op);
  const t = Tensor.empty(shape, dtype, op);
  if (dtype === 'int32') launchFill('i32', t.buffer(), t.size, checkInt32(op, 'value', value), 0);
  // float fills copy the value's bits with the integer fill: exact for NaN, +-Infinity and -0,
  // which the f32 fill's start + i * step need not keep (WGSL may assume finite math); float16
  // writes a word of two elements' bits at a time
  else if (dtype === 'float32') launchFill('i32', t.buffer(), t.size, float32Bits(value), 0);
  else launchFill('i32', t.buffer(), Math.ceil(t.size / 2), (f32ToF16Bits(value) * 0x10001) | 0, 0);
  return t;
}

export const full = (shape: Shape, value: number, dtype: DType = 'float32') => fill('full', shape, dtype, value);
/** zeros' and ones' arguments: (shape, dtype?), or the dims one by one as torch.zeros(2, 3), then a dtype or not. */
export interface SizedFill<T> {
  (shape: Shape, dtype?: DType): T;
  (...size: number[]): T;
  (...sizeThenDtype: [...number[], DType]): T;
}

/** `op`'s shape and dtype from SizedFill's arguments (left for fill to check); one past them is refused, not dropped. */
function sizeArgs(op: string, args: readonly unknown[]): [Shape, DType] {
  const byDims = typeof args[0] === 'number';
  const end = byDims ? args.findIndex((a) => typeof a !== 'number') : 1; // the dims run up to the first non-number
  const shape = byDims ? args.slice(0, end < 0 ? args.length : end) : args[0];
  const [dtype = 'float32', ...extra] = end < 0 ? [] : args.slice(end);
  if (extra.length) throw new TypeError(`${op}: expected a shape (an array, or dims one by one) then a dtype, got ${extra.length} more argument(s) after the dtype`);
  return [shape as Shape, dtype as DType];
}

export const zeros: SizedFill<Tensor> = (...args: unknown[]) => fill('zeros', ...sizeArgs('zeros', args), 0);
export const ones: SizedFill<Tensor> = (...args: unknown[]) => fill('ones', ...sizeArgs('ones', args), 1);
/** The shape of a *Like fill's input, which must not be disposed: its shape and dtype outlive its data, and the fill went ahead without a word. */
function likeShape(op: string, t: Tensor): Shape {
  checkTensor(op, 'input', t).storage(op);
  return t.shape;
}
export const zerosLike = (t: Tensor) => fill('zerosLike', likeShape('zerosLike', t), t.dtype, 0);
export const onesLike = (t: Tensor) => fill('onesLike', likeShape('onesLike', t), t.dtype, 1);

/**
 * [start, start + step, ...) below `end`, like torch.arange. int32 unless a bound is fractional.
 * As in PyTorch, a step that points away from `end` is an error (not an empty tensor).
 */
export function arange(start: number, end?: number, step = 1, dtype?: DType): Tensor {
  if (end === undefined) [start, end] = [0, start];
  checkNumber('arange', 'start', start, true);
  checkNumber('arange', 'end', end, true);
  checkNumber('arange', 'step', step, true);
  if (step === 0 || Math.sign(end - start) === -Math.sign(step)) {
    throw new RangeError(`arange: argument 'step' must be non-zero and point from start to end, got ${step} for [${start}, ${end})`);
  }
  const n = Math.ceil((end - start) / step);
  if (!Number.isSafeInteger(n)) throw new RangeError(`arange: [${start}, ${end}) in steps of ${step} has ${n} elements, too many`);
  dtype = dtype == null ? ([start, end, step].every(Number.isInteger) ? 'int32' : 'float32') : checkDtype('arange', dtype);
  if (dtype === 'int32') {
    checkInt32('arange', 'start', start);
    checkInt32('arange', 'step', step);
    const last = start + (n - 1) * step;
    if (n > 0 && (last < INT32_MIN || last > INT32_MAX)) {
      throw new RangeError(`arange: argument 'end' must keep int32 values in ${INT32_RANGE}, got ${end} (last value ${last})`);
    }
  }
  if (dtype === 'float16') {
    requireF16('arange');
    for (const [arg, v] of Object.entries({ start, end, step })) checkFloat32('arange', arg, v); // computed in float32 (torch refuses these too)
  }
  const t = Tensor.empty([n], dtype, 'arange');
  if (dtype === 'float32') uploadRange(t, start, step);
  else launchFill(dtype === 'int32' ? 'i32' : 'f16', t.buffer(), n, start, step);
  return t;
}

const RANGE_CHUNK = 1 << 20; // float32 arange values computed on the host at a time

/**
 * float32 arange's values as PyTorch computes them: start + i * step in float64, rounded once to
 * float32 (in float32, i * step rounded before the sum, a fifth of arange(0, 1e6, 0.1) was an ulp
 * off). WGSL has no float64: computed on the host and uploaded a chunk at a time, so that the host
 * never holds the tensor.
 */
function uploadRange(t: Tensor, start: number, step: number): void {
  const chunk = new Float32Array(Math.min(t.size, RANGE_CHUNK));
  for (let base = 0; base < t.size; base += chunk.length) {
    const values = chunk.subarray(0, Math.min(chunk.length, t.size - base));
    for (let i = 0; i < values.length; i++) values[i] = start + (base + i) * step; // rounded to float32 as stored
    device().write(t.buffer(), values, base * 4); // copied out at once: the chunk is free for the next
  }
}

/** Checks a random op's shape and seed. */
function randomArgs(op: string, shape: Shape, opts: { seed: number } | undefined): void {
  checkShape(op, 'shape', shape);
  if (typeof opts !== 'object' || opts === null) {
    throw new TypeError(`${op}: argument 'opts' must be an object with a seed, got ${describeValue(opts)}`);
  }
  checkInteger(op, 'seed', opts.seed, 0, Number.MAX_SAFE_INTEGER, 'a non-negative safe integer');
}

/** Uniform in [low, high), reproducible from `seed`. */
export function rand(shape: Shape, opts: { seed: number; low?: number; high?: number }): Tensor {
  randomArgs('rand', shape, opts);
  const low = checkFloat32('rand', 'low', checkNumber('rand', 'low', opts.low ?? 0, true));
  const high = checkFloat32('rand', 'high', checkNumber('rand', 'high', opts.high ?? 1, true));
  if (low > high) throw new RangeError(`rand: argument 'high' must be >= low (${low}), got ${high}`);
  // the kernel scales by high - low in float32: past its range that is Infinity (torch's uniform_ refuses it too)
  if (!Number.isFinite(Math.fround(Math.fround(high) - Math.fround(low)))) throw new RangeError(`rand: high - low must be within float32's range (< 3.4e38), got ${high} - ${low}`);
  const t = Tensor.empty(shape, 'float32', 'rand');
  launchRandom('uniform', t.buffer(), t.size, opts.seed, low, high);
  return t;
}

/** Normal(mean, std), reproducible from `seed`. */
export function randn(shape: Shape, opts: { seed: number; mean?: number; std?: number }): Tensor {
  randomArgs('randn', shape, opts);
  const mean = checkFloat32('randn', 'mean', checkNumber('randn', 'mean', opts.mean ?? 0, true));
  const std = checkFloat32('randn', 'std', checkNumber('randn', 'std', opts.std ?? 1, true));
  if (std < 0) throw new RangeError(`randn: argument 'std' must be >= 0, got ${std}`);
  const t = Tensor.empty(shape, 'float32', 'randn');
  launchRandom('normal', t.buffer(), t.size, opts.seed, mean, std);
  return t;
}
