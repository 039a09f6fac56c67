// Elementwise kernels, specialised by a WGSL expression. One lane per output element, 1-D grid of
// 256-lane workgroups (2-D past 65535 groups). Broadcasting reads each input through strides that
// are 0 along broadcast dimensions. Each input also gets a load mode (a uniform, so one pipeline
// serves all cases): contiguous inputs of the output's shape read x[i] and single values read x[0],
// skipping the per-element index arithmetic (u32 division is slow on CPU drivers).
// Float kernels have a vec4 twin, launched when the size is a multiple of 4 and no input is
// strided: a lane loads and stores 4 elements as vec4 and applies the expression to each (one
// vec4 load instead of four bounds-checked scalar loads: ~1.8x on lavapipe for a 393k-element add).
import { mergeDims } from '../merge-dims.js';
import { vec4Of, bindsWhole, Kernel, type ParamType, narrow, pieces, piecesThatFit, shiftedWindow, windowOf, windowRoom, perElement, grid1d, variants, type FloatType, type StorageType } from '../kernel.js';

// Exact GELU, a Phi(a) with Phi the standard normal CDF (PyTorch's nn.GELU(), nanoGPT's MLP), for
// the gelu op and the fused bias + GELU kernel. WGSL has no erf: Abramowitz & Stegun 7.1.26,
// |error| <= 1.5e-7 (below float32's resolution of Phi).
// The squares in exp(-v^2) take |v| capped (at 10 in erf, 20 in the derivative's exp(-v^2 / 2), where
// both exps are 0 or below float32's ulp of 1 already): past |v| ~ 1.8e19 the square overflowed to
// Inf, and exp(-Inf) = 0 is IEEE's, not WGSL's (a driver may assume finite math, issue #13).
const ERF_WGSL = /* wgsl */ `fn erf_approx(v: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.3275911 * abs(v));
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  let c = min(abs(v), 10.0);
  return sign(v) * (1.0 - poly * exp(-c * c));
}`;
/**
 * `nan_unless_finite(a, d)`: d, or NaN where a is NaN or +-Infinity: a GELU's derivative there, as
 * torch's (its formulas meet Inf * 0), told by the bits (WGSL may assume finite math).
 */
export const NAN_UNLESS_FINITE_WGSL = /* wgsl */ `fn nan_unless_finite(a: f32, d: f32) -> f32 {
  let bits = bitcast<u32>(a);
  return select(d, bitcast<f32>(bits | 0x7fc00000u), (bits & 0x7f800000u) == 0x7f800000u);
}`;

/** `gelu_erf(a)` and its derivative `gelu_erf_grad(a)` = Phi(a) + a phi(a), phi(a) = exp(-a^2 / 2) / sqrt(2 pi). */
export const GELU_WGSL = /* wgsl */ `${ERF_WGSL}
${NAN_UNLESS_FINITE_WGSL}
fn gelu_erf(v: f32) -> f32 { return 0.5 * v * (1.0 + erf_approx(v * 0.7071067811865476)); }
fn gelu_erf_grad(v: f32) -> f32 {
  let c = min(abs(v), 20.0);
  return nan_unless_finite(v, 0.5 * (1.0 + erf_approx(v * 0.7071067811865476)) + v * 0.3989422804014327 * exp(-0.5 * c * c));
}`;

// IEEE max without float comparisons: WGSL lets drivers assume finite math, so max() and compares
// on NaN or +-Infinity may give anything. ordered_key maps f32 bits to a u32 whose unsigned order is
// the float order (-inf < ... < -0 < +0 < ... < +inf) and every NaN to the top key, so the max of
// keys is IEEE's max with NaN propagating; from_ordered_key maps a key back to f32 bits (the top key
// to the NaN 0x7fffffff). max_ties is a == b as max's gradient wants it: -0 equals +0, NaN equals NaN;
// ieee_eq and ieee_lt are IEEE's a == b and a < b (false where either is NaN; -0 equals +0).
// ieee_min is IEEE's min, NaN propagating. Used by maximum, minimum and their gradients, clamp, relu, the max / argmax reductions and max's backward.
export const ORDERED_WGSL = /* wgsl */ `fn ordered_key(bits: u32) -> u32 {
  if ((bits & 0x7fffffffu) > 0x7f800000u) { return 0xffffffffu; }
  return bits ^ select(0x80000000u, 0xffffffffu, (bits & 0x80000000u) != 0u);
}
fn from_ordered_key(key: u32) -> u32 {
  return key ^ select(0xffffffffu, 0x80000000u, (key & 0x80000000u) != 0u);
}
fn ieee_max(a: f32, b: f32) -> f32 {
  return bitcast<f32>(from_ordered_key(max(ordered_key(bitcast<u32>(a)), ordered_key(bitcast<u32>(b)))));
}
fn ieee_min(a: f32, b: f32) -> f32 {
  let ka = ordered_key(bitcast<u32>(a));
  let kb = ordered_key(bitcast<u32>(b));
  // NaN's key is the top one: the min of keys would drop it (a constant NaN is a compile error)
  return bitcast<f32>(from_ordered_key(select(min(ka, kb), 0xffffffffu, max(ka, kb) == 0xffffffffu)));
}
fn max_ties(a: f32, b: f32) -> bool {
  let ba = bitcast<u32>(a);
  let bb = bitcast<u32>(b);
  return ordered_key(ba) == ordered_key(bb) || ((ba | bb) & 0x7fffffffu) == 0u;
}
fn ieee_eq(a: f32, b: f32) -> bool {
  let ba = bitcast<u32>(a);
  let bb = bitcast<u32>(b);
  return (ba == bb && ordered_key(ba) != 0xffffffffu) || ((ba | bb) & 0x7fffffffu) == 0u;
}
fn ieee_lt(a: f32, b: f32) -> bool {
  let kb = ordered_key(bitcast<u32>(b));
  return kb != 0xffffffffu && ordered_key(bitcast<u32>(a)) < kb && !ieee_eq(a, b);
}`;

const WG = 256;
// keyed by everything the WGSL is made from, so a key cannot stand for two texts
const cache = new Map<string, Kernel>();

function cached(key: string, make: () => Kernel): Kernel {
  let k = cache.get(key);
  if (!k) cache.set(key, (k = make()));
  return k;
}

/** The vec4 twin of each float kernel (see the header), made on first use. */
const vec4Twins = new Map<Kernel, () => Kernel>();

function withVec4Twin(k: Kernel, make: () => Kernel): Kernel {
  if (!vec4Twins.has(k)) {
    let twin: Kernel | undefined;
    vec4Twins.set(k, () => (twin ??= make()));
  }
  return k;
}

/** Element types an elementwise kernel reads and writes: a float storage type, or i32. */
export type ElementType = FloatType | 'i32';
const BYTES = { f32: 4, f16: 2, i32: 4 } as const;
/** Bytes of an element of each kernel's inputs and output (its vec4 twin's: four of them), for windows. */
const widths = new Map<Kernel, { input: number; output: number }>();

function sized(k: Kernel, input: number, output: number): Kernel {
  widths.set(k, { input, output });
  return k;
}

/** A value of `type` as f32 (f16 widens; f32 and i32 stay as they are): the kernels compute in f32. */
const widen = (type: ElementType, v: string) => (type === 'f16' ? `f32(${v})` : v);
const widen4 = (type: FloatType, v: string) => (type === 'f16' ? `vec4f(${v})` : v);

/** `fn f(args) -> f32 { return expr; }`, and f applied to each component of vec4 arguments. */
function scalarFn(args: readonly string[], expr: string): { fn: string; apply: string } {
  const fn = `fn f(${args.map((a) => `${a}: f32`).join(', ')}) -> f32 { return ${expr}; }`;
  const apply = `vec4f(${[...'xyzw'].map((c) => `f(${args.map((a) => `${a}.${c}`).join(', ')})`).join(', ')})`;
  return { fn, apply };
}

/** y = f(x), `expr` in terms of `x` (f32), on `float` storage (computed in f32); `params` are uniforms beside n it may read as `p.<name>` (clamp's bounds). */
export function unaryKernel(name: string, expr: string, helpers = '', float: FloatType = 'f32', params: Record<string, ParamType> = {}): Kernel {
  const { fn, apply } = scalarFn(['x'], expr);
  // the scalar kernel, or its vec4 twin: x is an element or a vec4 of them
  const make = (type: StorageType, load: string, value: string, fns: string) => new Kernel({
    name,
    read: { a: type },
    write: { out: type },
    params: { n: 'u32', ...params },
    body: /* wgsl */ `
${helpers}
${fns}
${perElement(WG, `
  let x = ${load};
  out[i] = ${value};`)}`,
  });
  const bytes = BYTES[float];
  const vec = vec4Of(float);
  return cached(`unary:${name}:${expr}:${float}:${JSON.stringify(params)}:${helpers}`, () => withVec4Twin(
    sized(make(float, widen(float, 'a[i]'), narrow(float, expr), ''), bytes, bytes),
    () => sized(make(vec, widen4(float, 'a[i]'), float === 'f16' ? `vec4h(${apply})` : apply, fn), 4 * bytes, 4 * bytes),
  ));
}

export function launchUnary(k: Kernel, a: GPUBuffer, out: GPUBuffer, n: number, params: Record<string, number> = {}): void {
  const twin = n % 4 === 0 ? vec4Twins.get(k) : undefined;
  const [kernel, lanes] = twin ? [twin(), n / 4] : [k, n];
  const bytes = widths.get(kernel)!.output;
  for (const { start, count } of pieces(lanes, bytes)) {
    kernel.launch([windowOf(a, start, count, bytes), windowOf(out, start, count, bytes)], { ...params, n: count }, grid1d(count, WG));
  }
}

const NAMES = { 1: ['x'], 2: ['x', 'y'], 3: ['c', 'x', 'y'] } as const;

const BROADCAST_INDEX = /* wgsl */ `
// Load modes: 0 contiguous (the output's own index), 1 a single value, 2 strided (broadcast),
// 3 periodic: a trailing block of the output's dims repeated (a bias over rows), the output's
// index modulo its size q, one remainder where strided takes one per dim. Contiguous inputs are
// bound as windows of the same elements as the output (a piece of a tensor larger than a
// binding; p.in_shift elements before the piece's first); the others whole, or, larger than a
// binding, as a window from element o of what the piece reads, indexed from the piece's first
// element p.base.
fn at(i: u32, mode: u32, strides: array<vec4u, 2>, q: u32, o: u32) -> u32 {
  if (mode == 0u) { return i + p.in_shift; }
  if (mode == 1u) { return 0u; }
  if (mode == 3u) { return (p.base + i) % q - o; }
  return strided(p.base + i, p.rank, p.shape, strides) - o;
}`;

/**
 * out = f(x) for `arity` 1 (expand), f(x, y) for 2, or f(c, x, y) for 3 (where). `inType` and
 * `outType` pick the storage of x, y and of the output: f32, f16 (loaded as f32, the expression
 * computed in f32, stored rounded) or i32; `c` is stored as the floats are (f32 beside i32).
 */
export function broadcastKernel(
  name: string,
  expr: string,
  opts: { arity?: 1 | 2 | 3; inType?: ElementType; outType?: ElementType; helpers?: string } = {},
): Kernel {
  const { arity = 2, inType = 'f32', outType = 'f32', helpers = '' } = opts;
  const names = NAMES[arity];
  const typeOf = (n: string): ElementType => (n === 'c' && inType === 'i32' ? 'f32' : inType);
  const read = Object.fromEntries(names.map((n) => [`in_${n}`, typeOf(n)]));
  const params: Record<string, 'u32' | 'dims'> = { n: 'u32', base: 'u32', rank: 'u32', shape: 'dims', in_shift: 'u32', out_shift: 'u32' };
  for (const n of names) {
    params[`s_${n}`] = 'dims';
    params[`mode_${n}`] = 'u32';
    params[`q_${n}`] = 'u32';
    params[`o_${n}`] = 'u32';
  }
  const loads = names.map((n) => `  let ${n} = ${widen(typeOf(n), `in_${n}[at(i, p.mode_${n}, p.s_${n}, p.q_${n}, p.o_${n})]`)};`).join('\n');
  const { fn, apply } = scalarFn(names, expr);
  const make = (types: Record<string, StorageType>, outT: StorageType, fns: string, body: string, value: string) => new Kernel({
    name,
    read: types,
    write: { out: outT },
    params,
    body: /* wgsl */ `
${fns}
${helpers}
${perElement(WG, `
${body}
  out[i + p.out_shift] = ${value};`)}`,
  });
  return cached(`bcast:${name}:${expr}:${arity}:${inType}:${outType}:${helpers}`, () => {
    const scalar = sized(make(read, outType, BROADCAST_INDEX, loads, outType === 'i32' ? expr : narrow(outType, expr)), BYTES[inType], BYTES[outType]);
    if (inType === 'i32' || inType !== outType) return scalar;
    // vec4 twin: load modes 0 (contiguous), 1 (a single value) and 3 (periodic, q counted in vec4s); strided inputs take the scalar kernel
    const vec = vec4Of(inType);
    const read4 = Object.fromEntries(names.map((n) => [`in_${n}`, vec]));
    const loads4 = names
      .map((n) => `  var ${n} = vec4f(${widen(inType, `in_${n}[0].x`)});
  if (p.mode_${n} == 0u) { ${n} = ${widen4(inType, `in_${n}[i + p.in_shift]`)}; }
  else if (p.mode_${n} == 3u) { ${n} = ${widen4(inType, `in_${n}[(p.base + i) % p.q_${n} - p.o_${n}]`)}; }`)
      .join('\n');
    const value4 = inType === 'f16' ? `vec4h(${apply})` : apply;
    return withVec4Twin(scalar, () => sized(make(read4, vec, fn, loads4, value4), 4 * BYTES[inType], 4 * BYTES[inType]));
  });
}

/** A broadcasting kernel per float storage type (inputs and output alike), each built on first use. */
export function floatKernels(name: string, expr: string, opts: { arity?: 1 | 2 | 3; helpers?: string } = {}): (float: FloatType) => Kernel {
  return variants((f: FloatType) => broadcastKernel(name, expr, { ...opts, inType: f, outType: f }));
}

export function launchBroadcast(
  k: Kernel,
  inputs: { buffer: GPUBuffer; strides: number[] }[],
  out: GPUBuffer,
  outShape: readonly number[],
  n: number,
): void {
  const names = NAMES[inputs.length as 1 | 2 | 3];
  // the output, in order, merges wherever the inputs do
  const merged = mergeDims(outShape, inputs.map((inp) => inp.strides));
  outShape = merged.shape;
  inputs = inputs.map((inp, j) => ({ buffer: inp.buffer, strides: merged.strides[j]! }));
  // made once and updated for each piece (a spread copy a launch cost as much as the dispatch's recording)
  const params: Record<string, number | number[]> = { n, base: 0, rank: outShape.length, shape: [...outShape], in_shift: 0, out_shift: 0 };
  // the whole output's size as the period: read in order; 1: a single value; 0: no period, strided
  const size = outShape.reduce((a, b) => a * b, 1);
  const periods = inputs.map((inp) => periodOf(inp.strides, outShape));
  const modes = periods.map((q) => (q === size ? 0 : q === 1 ? 1 : q ? 3 : 2));
  const twin = n % 4 === 0 && modes.every((m, j) => m < 2 || (m === 3 && periods[j]! % 4 === 0)) ? vec4Twins.get(k) : undefined;
  inputs.forEach((inp, j) => {
    params[`s_${names[j]}`] = inp.strides;
    params[`mode_${names[j]}`] = modes[j]!;
    params[`q_${names[j]}`] = twin ? periods[j]! / 4 : periods[j]!;
    params[`o_${names[j]}`] = 0;
  });
  const [kernel, lanes] = twin ? [twin(), n / 4] : [k, n];
  const bytes = widths.get(kernel)!;
  // inputs read out of order that do not fit a binding, as the dims and strides (in lanes) they are read through
  const windowed = inputs.map((inp, j) => {
    if (modes[j]! < 2 || bindsWhole(inp.buffer)) return null;
    const q = params[`q_${names[j]}`] as number;
    return modes[j] === 3 ? { shape: [lanes / q, q], strides: [0, 1] } : { shape: outShape, strides: inp.strides };
  });
  const widest = Math.max(bytes.input, bytes.output);
  // where there are such inputs, pieces start anywhere (each buffer a shifted window), and end where
  // one of them would read more than a window holds (a period's or a row's end)
  const room = Math.max(1, Math.floor(windowRoom() / widest)); // (a limit lowered below one alignment leaves none)
  const fits = (start: number, count: number) => windowed.every((w) => !w || readRange(w, start, count)[1] <= room);
  const parts = windowed.some(Boolean) ? piecesThatFit(lanes, room, fits) : pieces(lanes, widest, Math.min(bytes.input, bytes.output));
  for (const { start, count } of parts) {
    const output = shiftedWindow(out, start, count, bytes.output);
    let inShift = 0;
    const bound = inputs.map((inp, j) => {
      const w = windowed[j];
      if (!w && modes[j] !== 0) return inp.buffer;
      const [first, span] = w ? readRange(w, start, count) : [start, count];
      const { binding, shift } = shiftedWindow(inp.buffer, first, span, bytes.input);
      if (w) params[`o_${names[j]}`] = first - shift;
      else inShift = shift;
      return binding;
    });
    bound.push(output.binding);
    [params.n, params.base, params.in_shift, params.out_shift] = [count, start, inShift, output.shift];
    kernel.launch(bound, params, grid1d(count, WG));
  }
}

/**
 * The elements of an input read through `strides` (0 along broadcast dims) by the output elements
 * [start, start + count) of `shape`, as its first element and a count covering them: the index
 * they share along the dims before the first where they differ, any along the dims after it.
 */
function readRange({ shape, strides }: { shape: readonly number[]; strides: readonly number[] }, start: number, count: number): [number, number] {
  let [lo, hi] = [0, 0];
  let [a, b] = [start, start + count - 1];
  const [first, last] = [shape.map(() => 0), shape.map(() => 0)];
  for (let d = shape.length - 1; d >= 0; d--) {
    [first[d], last[d]] = [a % shape[d]!, b % shape[d]!];
    [a, b] = [Math.floor(a / shape[d]!), Math.floor(b / shape[d]!)];
  }
  let differ = false;
  for (let d = 0; d < shape.length; d++) {
    lo += differ ? 0 : first[d]! * strides[d]!;
    hi += (differ ? shape[d]! - 1 : last[d]!) * strides[d]!;
    differ ||= first[d] !== last[d];
  }
  return [lo, hi - lo + 1];
}

/**
 * The size q of the trailing block of the output's dims that an input holds in order, when it is
 * read as that block repeated (strides 0 along every real dim before it: x[i % q]); else 0.
 */
function periodOf(strides: readonly number[], shape: readonly number[]): number {
  let q = 1;
  let d = shape.length - 1;
  for (; d >= 0 && (shape[d] === 1 || strides[d] === q); d--) q *= shape[d]!;
  for (; d >= 0; d--) if (shape[d] !== 1 && strides[d] !== 0) return 0;
  return q;
}

const accumulateKernel = variants((type: 'f32' | 'vec4f') => new Kernel({
  name: type === 'f32' ? 'accumulate' : 'accumulate_vec4',
  read: { x: type },
  write: { acc: type },
  params: { n: 'u32' },
  body: perElement(WG, `  acc[i] = acc[i] + x[i];`),
}));

/**
 * acc[accStart + i] += x[i] for i < n, in place (a window at a time where they exceed a binding;
 * accStart aligned for a binding offset); 4 elements a lane where n and accStart allow.
 */
export function launchAccumulate(acc: GPUBuffer, x: GPUBuffer, n: number, accStart = 0): void {
  const per = n % 4 === 0 && accStart % 4 === 0 ? 4 : 1;
  const kernel = accumulateKernel(per === 4 ? 'vec4f' : 'f32');
  for (const { start, count } of pieces(n / per, 4 * per)) {
    kernel.launch([windowOf(x, start, count, 4 * per), windowOf(acc, accStart / per + start, count, 4 * per)], { n: count }, grid1d(count, WG));
  }
}
