// Creating tensors: from JS data (uploaded), or filled on the GPU (zeros, ones, full, arange and
// seeded uniform/normal random numbers from a counter-based generator).
import { device } from '../device/device.js';
import { launchFill } from '../kernels/wgsl/fill.js';
import { launchRandom } from '../kernels/wgsl/random.js';
import { assertValidShape, formatShape, numel, type Shape } from './shape.js';
import { Storage, Tensor, type DType } from './tensor.js';

export type NestedArray = number | NestedArray[];
const HOST_COPY_LIMIT = 1 << 20; // int32 data up to this many elements keeps a host copy for index checks

function inferShape(data: NestedArray): number[] {
  const shape: number[] = [];
  let d: NestedArray = data;
  while (Array.isArray(d)) {
    shape.push(d.length);
    d = d[0]!;
  }
  return shape;
}

/**
 * A tensor from JS data: a nested array (shape inferred), or a flat array / typed array with a shape.
 * `dtype` defaults to int32 for an Int32Array, float32 otherwise.
 */
export function tensor(
  data: NestedArray | Float32Array | Int32Array | readonly number[],
  shape?: Shape,
  dtype?: DType,
): Tensor {
  dtype ??= data instanceof Int32Array ? 'int32' : 'float32';
  let flat: ArrayLike<number>;
  let inferred: Shape;
  if (ArrayBuffer.isView(data)) {
    flat = data;
    inferred = shape ?? [data.length];
  } else {
    inferred = inferShape(data as NestedArray);
    flat = Array.isArray(data) ? (data as unknown[]).flat(Infinity as 1) as number[] : [data as number];
    if (shape) inferred = shape;
  }
  assertValidShape('tensor', inferred);
  if (numel(inferred) !== flat.length) {
    throw new Error(`tensor: ${flat.length} values do not fill shape ${formatShape(inferred)} (${numel(inferred)} elements)`);
  }
  const typed = dtype === 'int32' ? Int32Array.from(flat) : Float32Array.from(flat);
  if (dtype === 'int32' && !Array.from(flat).every((v) => Number.isInteger(v))) {
    throw new Error('tensor: int32 data must be integers');
  }
  const bytes = Math.max(4, typed.byteLength);
  const buffer = device().alloc(bytes, 'tensor-data');
  if (typed.byteLength) device().write(buffer, typed);
  const host = dtype === 'int32' && typed.length <= HOST_COPY_LIMIT ? (typed as Int32Array) : undefined;
  return new Tensor(new Storage(buffer, bytes, host), inferred, dtype);
}

export function full(shape: Shape, value: number, dtype: DType = 'float32'): Tensor {
  assertValidShape('full', shape);
  const t = Tensor.empty(shape, dtype, 'full');
  launchFill(dtype === 'int32' ? 'i32' : 'f32', t.buffer(), t.size, value, 0);
  return t;
}

export const zeros = (shape: Shape, dtype: DType = 'float32') => full(shape, 0, dtype);
export const ones = (shape: Shape, dtype: DType = 'float32') => full(shape, 1, dtype);
export const zerosLike = (t: Tensor) => full(t.shape, 0, t.dtype);
export const onesLike = (t: Tensor) => full(t.shape, 1, t.dtype);

/** [start, start + step, ...) below `end`, like torch.arange. int32 unless a bound is fractional. */
export function arange(start: number, end?: number, step = 1, dtype?: DType): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0) throw new Error('arange: step must not be zero');
  const n = Math.max(0, Math.ceil((end - start) / step));
  dtype ??= [start, end, step].every(Number.isInteger) ? 'int32' : 'float32';
  const t = Tensor.empty([n], dtype, 'arange');
  launchFill(dtype === 'int32' ? 'i32' : 'f32', t.buffer(), n, start, step);
  return t;
}

/** Uniform in [low, high), reproducible from `seed`. */
export function rand(shape: Shape, opts: { seed: number; low?: number; high?: number }): Tensor {
  assertValidShape('rand', shape);
  const t = Tensor.empty(shape, 'float32', 'rand');
  launchRandom('uniform', t.buffer(), t.size, opts.seed, opts.low ?? 0, opts.high ?? 1);
  return t;
}

/** Normal(mean, std), reproducible from `seed`. */
export function randn(shape: Shape, opts: { seed: number; mean?: number; std?: number }): Tensor {
  assertValidShape('randn', shape);
  const t = Tensor.empty(shape, 'float32', 'randn');
  launchRandom('normal', t.buffer(), t.size, opts.seed, opts.mean ?? 0, opts.std ?? 1);
  return t;
}
