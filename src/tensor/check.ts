// Argument checks for ops and tensor creation, in one place. Each error is one line naming the op,
// the argument, what is allowed and what was given, e.g.
//   add: argument 'other' must be a Tensor or a number, got string '3'
// TypeError when the value is the wrong kind of thing (a string where a number belongs), RangeError
// when it is the right kind but outside what is allowed (a negative dim, 2^40 as int32 data).
// JS would otherwise coerce silently: '3' + 1, [1, 2] * 1 = NaN, null + 1 = 1.
import { formatShape, normAxes, normAxis } from './shape.js';
import { Tensor, type PlainDType } from './tensor.js';

const DTYPES: readonly PlainDType[] = ['float32', 'float16', 'int32'];
export const INT32_MIN = -(2 ** 31);
export const INT32_MAX = 2 ** 31 - 1;
export const INT32_RANGE = '[-2^31, 2^31 - 1]';

/** `value` as an error message shows it: `string '3'`, `array [1, 2]`, `null`, `a float32[2] tensor`. */
export function describeValue(value: unknown): string {
  if (value instanceof Tensor) return `a ${value.describe()} tensor`;
  // a JavaScript caller passing an async function's result straight on
  if (value instanceof Promise) return 'a Promise (missing an await?)';
  const kind = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  // an iterator's constructor says nothing ('' for a generator, Object for a Set's values())
  if (kind === 'object' && typeof (value as Iterator<unknown>).next === 'function' && Symbol.iterator in (value as object)) return `an iterator (${Object.prototype.toString.call(value).slice(8, -1)})`;
  if (kind === 'object') return `an object (${(value as object).constructor?.name ?? 'no prototype'})`;
  const shown = show(value);
  return kind === shown ? kind : `${kind} ${shown}`;
}

/** A number bare (1.5, NaN), anything else as describeValue says it (string '1.5'): for messages whose numbers read bare. */
export const showValue = (value: unknown): string => (typeof value === 'number' ? String(value) : describeValue(value));

/** A short one-line rendering: arrays up to 4 entries, strings up to 24 characters. */
function show(value: unknown): string {
  if (value instanceof Tensor) return value.describe();
  if (typeof value === 'string') return `'${value.length > 24 ? `${value.slice(0, 24)}...` : value}'`;
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (Array.isArray(value)) return `[${value.slice(0, 4).map(show).join(', ')}${value.length > 4 ? ', ...' : ''}]`;
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'object' || typeof value === 'function') return typeof value;
  return String(value);
}

function fail(Kind: typeof TypeError | typeof RangeError, op: string, arg: string, allowed: string, got: string): never {
  throw new Kind(`${op}: argument '${arg}' must be ${allowed}, got ${got}`);
}

export function checkTensor(op: string, arg: string, value: unknown): Tensor {
  if (!(value instanceof Tensor)) fail(TypeError, op, arg, 'a Tensor', describeValue(value));
  return value;
}

export function checkTensorOrNumber(op: string, arg: string, value: unknown): Tensor | number {
  if (!(value instanceof Tensor) && typeof value !== 'number') fail(TypeError, op, arg, 'a Tensor or a number', describeValue(value));
  return value;
}

/** A number; `finite` excludes NaN and +-Infinity. */
export function checkNumber(op: string, arg: string, value: unknown, finite = false): number {
  const allowed = finite ? 'a finite number' : 'a number';
  if (typeof value !== 'number') fail(TypeError, op, arg, allowed, describeValue(value));
  if (finite && !Number.isFinite(value)) fail(RangeError, op, arg, allowed, describeValue(value));
  return value;
}

/** That `opts` (an options object) names only `known` keys: a misspelt one (PyTorch's weight_decay) would be ignored. One in `renamed` is refused naming the key to use. */
export function checkOptionKeys(op: string, opts: object, known: readonly string[], renamed: Readonly<Record<string, string>> = {}): void {
  if (opts === null || typeof opts !== 'object') throw new TypeError(`${op}: the options must be an object of ${known.join(', ')}, got ${describeValue(opts)}`);
  const unknown = Object.keys(opts).find((k) => !known.includes(k));
  if (unknown !== undefined && Object.hasOwn(renamed, unknown)) throw new TypeError(`${op}: unknown option '${unknown}'; it is named '${renamed[unknown]}' here`);
  if (unknown !== undefined) throw new TypeError(`${op}: unknown option '${unknown}' (the options are ${known.join(', ')})`);
}

/** A finite number >= 0 (NaN would pass a `< 0` test; a string would be coerced where it is used). */
export function checkNonNegative(op: string, arg: string, value: unknown): number {
  const allowed = 'a finite number >= 0';
  if (typeof value !== 'number') fail(TypeError, op, arg, allowed, describeValue(value));
  if (!(Number.isFinite(value) && value >= 0)) fail(RangeError, op, arg, allowed, describeValue(value));
  return value;
}

/**
 * A finite `value` a kernel takes as a float32 uniform (a learning rate, an epsilon, a bound):
 * refused past float32's range, where it would round to Infinity (kernels may assume finite math).
 */
export function checkFloat32(op: string, arg: string, value: number): number {
  if (!Number.isFinite(Math.fround(value))) fail(RangeError, op, arg, "within float32's range (|x| < 3.4e38: a kernel takes it as float32)", describeValue(value));
  return value;
}

/** An integer in [min, max]; `allowed` says so in words. */
export function checkInteger(op: string, arg: string, value: unknown, min: number, max: number, allowed: string): number {
  if (typeof value !== 'number') fail(TypeError, op, arg, allowed, describeValue(value));
  if (!Number.isInteger(value) || value < min || value > max) fail(RangeError, op, arg, allowed, describeValue(value));
  return value;
}

/** A value int32 storage holds exactly. */
export function checkInt32(op: string, arg: string, value: unknown): number {
  return checkInteger(op, arg, value, INT32_MIN, INT32_MAX, `an integer in ${INT32_RANGE}`);
}

export function checkBoolean(op: string, arg: string, value: unknown): boolean {
  if (typeof value !== 'boolean') fail(TypeError, op, arg, 'a boolean', describeValue(value));
  return value;
}

export function checkDtype(op: string, value: unknown): PlainDType {
  const names = DTYPES.map((d) => `'${d}'`);
  if (!DTYPES.includes(value as PlainDType)) fail(TypeError, op, 'dtype', `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`, describeValue(value));
  return value as PlainDType;
}

/** A shape: an array of non-negative safe integers. */
export function checkShape(op: string, arg: string, value: unknown): number[] {
  const allowed = 'an array of non-negative integers';
  // PyTorch's habits: sizes as arguments, zeros(2, 3); a dtype in the shape's place, tensor(data, 'int32')
  const hint = typeof value === 'number' ? ` (a shape is an array: [${value}, ...])` : typeof value === 'string' ? ' (the dtype is the argument after the shape)' : '';
  if (!Array.isArray(value)) fail(TypeError, op, arg, allowed, describeValue(value) + hint);
  for (const d of value as unknown[]) {
    if (typeof d !== 'number') fail(TypeError, op, arg, allowed, `${describeValue(value)} (holding ${describeValue(d)})`);
    if (!Number.isSafeInteger(d) || d < 0) fail(RangeError, op, arg, allowed, describeValue(value));
  }
  return value as number[];
}

/** Element `at` of int32 data (`value`): an integer that int32 storage holds exactly. */
export function checkInt32Element(op: string, arg: string, value: number, at: readonly number[]): void {
  if (!Number.isInteger(value) || value < INT32_MIN || value > INT32_MAX) {
    throw new RangeError(`${op}: argument '${arg}' must hold integers in ${INT32_RANGE} for dtype 'int32', got ${describeValue(value)} at ${formatShape(at)}`);
  }
}

/** One axis of `t` (negative counts from the end), normalised. Rank 0 takes axis 0 or -1, as in PyTorch. */
export function checkAxis(op: string, arg: string, value: unknown, t: Tensor): number {
  const n = Math.max(t.rank, 1);
  const allowed = `an integer in [${-n}, ${n - 1}] for ${t.describe()}`;
  if (typeof value !== 'number') fail(TypeError, op, arg, allowed, describeValue(value));
  if (!Number.isInteger(value) || value < -n || value >= n) fail(RangeError, op, arg, allowed, describeValue(value));
  return normAxis(op, value, t.rank);
}

/** Axes of `t`: one axis, an array of them, or undefined for all; normalised and sorted. */
export function checkAxes(op: string, arg: string, value: unknown, t: Tensor): number[] {
  if (value === undefined) return normAxes(op, undefined, t.rank);
  if (typeof value !== 'number' && !Array.isArray(value)) {
    fail(TypeError, op, arg, 'an integer axis, an array of them or undefined', describeValue(value));
  }
  const list = typeof value === 'number' ? [value] : (value as unknown[]);
  const axes = list.map((a) => checkAxis(op, arg, a, t));
  // refused with what was given: [0, -2] of a matrix normalises to [0, 0]
  const twice = axes.find((a, i) => axes.indexOf(a) !== i);
  if (twice !== undefined) fail(RangeError, op, arg, `distinct axes of ${t.describe()}`, `${describeValue(value)} (axis ${twice} twice)`);
  return normAxes(op, axes, t.rank);
}

export function assertRank(op: string, t: Tensor, min: number, what = 'input'): void {
  if (t.rank < min) throw new RangeError(`${op}: ${what} must have rank >= ${min}, got ${t.describe()}`);
}

export function assertShape(op: string, t: Tensor, expected: readonly number[], what: string): void {
  if (t.shape.length !== expected.length || t.shape.some((d, i) => d !== expected[i])) {
    throw new Error(`${op}: ${what} must have shape ${formatShape(expected)}, got ${t.describe()}`);
  }
}
