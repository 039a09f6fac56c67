// Elementwise ops: unary math, broadcasting binary arithmetic, comparisons and where. Each entry
// is its forward WGSL expression and its gradient, side by side. Gradient expressions read
// `x` = upstream gradient and `y` = the saved value (input or output, as stated).
import { defineOp, NOT_DIFFERENTIABLE, withFront, type OpContext } from '../autograd/op.js';
import { broadcastKernel, floatKernels, GELU_WGSL, launchBroadcast, launchUnary, NAN_UNLESS_FINITE_WGSL, ORDERED_WGSL, unaryKernel } from '../kernels/wgsl/elementwise.js';
import { full } from '../tensor/create.js';
import { broadcastShapes, broadcastStrides, stridesOf } from '../tensor/shape.js';
import { FLOAT_DTYPES, floatType, Tensor, type DType, type PlainDType } from '../tensor/tensor.js';
import { variants, type FloatType } from '../kernels/kernel.js';
import { requireF16 } from '../kernels/profile.js';
import { checkTensor, checkTensorOrNumber, INT32_MAX, INT32_MIN } from '../tensor/check.js';
import { f16BitsToF32, f32ToF16Bits } from '../tensor/half.js';
import { sumTo } from './broadcast.js';
import { cast } from './cast.js';

const ANY: readonly DType[] = ['float32', 'float16', 'int32'];

// ---- unary -------------------------------------------------------------------------------
// gelu_tanh's tanh argument k (a + 0.044715 a^3), k = sqrt(2 / pi), with a clamped to +-1e4 (the
// tanh is +-1 in float32 from |a| ~ 4.5): a^3 overflowed float32 past 7e12 and the derivative's
// a^2 past 1.8e19, where 0 * Inf gave NaN; nor need a driver assuming finite math see an Infinity
const GELU_C = `const GELU_K: f32 = 0.7978845608028654;
fn gelu_tanh_arg(a: f32) -> f32 {
  let c = clamp(a, -1e4, 1e4);
  return GELU_K * (c + 0.044715 * c * c * c);
}`;
// WGSL's tanh is undefined at NaN (lavapipe: -1) and, computed as sinh / cosh, off by ~3e-8 near 0
// (tanh(1e-30) = 3e-8): Cephes' tanhf instead, a polynomial below 0.625 (-0 kept), 1 - 2 / (exp(2|v|) + 1)
// above, |v| clamped at 15 (where tanh is 1 in float32, and exp stays finite)
const TANH_SAFE = `fn tanh_safe(v: f32) -> f32 {
  if ((bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u) { return v; }
  let a = min(abs(v), 15.0);
  if (a < 0.625) {
    let z = v * v;
    let p = ((((-5.70498872745e-3 * z + 2.06390887954e-2) * z - 5.37397155531e-2) * z + 1.33314422036e-1) * z - 3.33332819422e-1) * z * v + v;
    return select(p, v, a == 0.0);
  }
  let t = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
  return select(t, -t, v < 0.0);
}`;

// WGSL's log promises only an absolute error of 2^-21 in [0.5, 2] (lavapipe: log(1 - 2^-24) = -1.03e-7, want
// -5.96e-8): there 2 atanh(s), s = (x - 1) / (x + 1) (x - 1 exact), its series to s^15 within 2e-9 for |s| <= 1/3
const LOG_WGSL = `fn log_accurate(x: f32) -> f32 {
  if (!(x >= 0.5 && x <= 2.0)) { return log(x); }
  let s = (x - 1.0) / (x + 1.0);
  let z = s * s;
  return 2.0 * s * (1.0 + z * (1.0 / 3.0 + z * (1.0 / 5.0 + z * (1.0 / 7.0 + z * (1.0 / 9.0 + z * (1.0 / 11.0 + z * (1.0 / 13.0 + z / 15.0)))))));
}`;

// sigmoid as 1 / (1 + e) for v >= 0 and e / (1 + e) below, e = exp(-|v|) in (0, 1]: exp(-v) of a
// large negative v overflowed to Inf. |v| is capped at 110 by its bits (exp(-110) is 0 in float32),
// so neither an Inf input nor exp ever computes with Inf; NaN is returned as it is.
const SIGMOID_SAFE = `fn sigmoid_safe(v: f32) -> f32 {
  let bits = bitcast<u32>(v);
  if ((bits & 0x7fffffffu) > 0x7f800000u) { return v; }
  let e = exp(-bitcast<f32>(min(bits & 0x7fffffffu, 0x42dc0000u)));
  let s = 1.0 / (1.0 + e);
  return select(s, e * s, (bits & 0x80000000u) != 0u);
}`;

// d |a| = sgn(a) da, told by a's bits: 0 at +-0 (as PyTorch's sgn) and at NaN
const ABS_GRAD = `fn abs_grad(g: f32, a: f32) -> f32 {
  let bits = bitcast<u32>(a);
  let mag = bits & 0x7fffffffu;
  if (mag == 0u || mag > 0x7f800000u) { return 0.0; }
  return select(g, -g, (bits & 0x80000000u) != 0u);
}`;

interface UnarySpec {
  expr: string;
  helpers?: string;
  /** What the gradient expression's `y` is ('none': it reads only the incoming gradient `x`, and nothing is kept for it). */
  saves: 'input' | 'output' | 'none';
  grad: string;
  gradHelpers?: string;
}

const UNARY = {
  neg: { expr: '-x', saves: 'none', grad: '-x' }, // d(-a) = -da
  square: { expr: 'x * x', saves: 'input', grad: '2.0 * x * y' }, // d a^2 = 2a da
  // the sign bit cleared: NaN and Inf kept without computing with them
  abs: { expr: 'bitcast<f32>(bitcast<u32>(x) & 0x7fffffffu)', saves: 'input', grad: 'abs_grad(x, y)', gradHelpers: ABS_GRAD },
  exp: { expr: 'exp(x)', saves: 'output', grad: 'x * y' }, // d exp(a) = exp(a) da
  log: { expr: 'log_accurate(x)', helpers: LOG_WGSL, saves: 'input', grad: 'x / y' }, // d log(a) = da / a
  sqrt: { expr: 'sqrt(x)', saves: 'output', grad: '0.5 * x / y' }, // d sqrt(a) = da / (2 sqrt(a))
  rsqrt: { expr: 'inverseSqrt(x)', saves: 'output', grad: '-0.5 * x * y * y * y' }, // d a^-1/2 = -a^-3/2 da / 2
  tanh: { expr: 'tanh_safe(x)', helpers: TANH_SAFE, saves: 'output', grad: 'x * (1.0 - y * y)' },
  sigmoid: { expr: 'sigmoid_safe(x)', helpers: SIGMOID_SAFE, saves: 'output', grad: 'x * y * (1.0 - y)' }, // d s(a) = s(a) (1 - s(a)) da
  // relu(NaN) = NaN, relu(-0) = +0. d relu = da except where the output is <= 0, as torch's threshold_backward,
  // so a NaN passes the gradient: the output is +0 there, told by its bits (WGSL may assume no NaN in compares)
  relu: { expr: 'ieee_max(x, 0.0)', helpers: ORDERED_WGSL, saves: 'output', grad: 'select(x, 0.0, bitcast<u32>(y) == 0u)' },
  // exact GELU (PyTorch's nn.GELU(), nanoGPT's MLP): a Phi(a), Phi the standard normal CDF
  // d gelu = [Phi(a) + a phi(a)] da, phi(a) = exp(-a^2 / 2) / sqrt(2 pi)  (WGSL in kernels/wgsl/elementwise.ts)
  gelu: { expr: 'gelu_erf(x)', helpers: GELU_WGSL, saves: 'input', grad: 'x * gelu_erf_grad(y)', gradHelpers: GELU_WGSL },
  // GPT-2's tanh approximation: 0.5 a (1 + tanh(k (a + 0.044715 a^3)))
  geluTanh: {
    expr: '0.5 * x * (1.0 + tanh_safe(gelu_tanh_arg(x)))',
    helpers: `${GELU_C}\n${TANH_SAFE}`,
    saves: 'input',
    // d gelu = [0.5 (1 + t) + 0.5 a (1 - t^2) k (1 + 3 * 0.044715 a^2)] da, t = tanh(k (a + 0.044715 a^3))
    grad: 'x * gelu_tanh_grad(y)',
    gradHelpers: `${GELU_C}\n${TANH_SAFE}\n${NAN_UNLESS_FINITE_WGSL}
fn gelu_tanh_grad(a: f32) -> f32 {
  let t = tanh_safe(gelu_tanh_arg(a));
  let c = clamp(a, -1e4, 1e4); // 1 - t^2 is 0 past it
  return nan_unless_finite(a, 0.5 * (1.0 + t) + 0.5 * c * (1.0 - t * t) * GELU_K * (1.0 + 0.134145 * c * c));
}`,
  },
} satisfies Record<string, UnarySpec>;

export type UnaryName = keyof typeof UNARY;

function unaryOp(name: UnaryName) {
  const spec: UnarySpec = UNARY[name];
  const fwd = variants((f: FloatType) => unaryKernel(name, spec.expr, spec.helpers, f));
  const bwd = floatKernels(`${name}_backward`, spec.grad, { helpers: spec.gradHelpers ?? '' });
  const op = defineOp({
    name,
    dtypes: { input: FLOAT_DTYPES },
    forward(ctx: OpContext, a: Tensor) {
      const out = Tensor.empty(a.shape, a.dtype, name);
      launchUnary(fwd(floatType(a.dtype)), a.buffer(), out.buffer(), a.size);
      if (spec.saves !== 'none') ctx.save(spec.saves === 'input' ? a : out);
      return out;
    },
    shape: ([a]) => ({ shape: a.shape, dtype: a.dtype }),
    backward(ctx, g) {
      return [sameShapeBinary(bwd(floatType(g.dtype)), g, ctx.saved[0] ?? g)];
    },
  });
  // PyTorch's F.gelu(x, approximate='tanh') written gelu(x, { approximate: 'tanh' }) (from JS, or through
  // `any`) was the exact GELU without a word: a unary op takes its input alone
  return withFront(op, (a: Tensor, ...extra: never[]): Tensor => {
    if (extra.length) throw new TypeError(`${name}: takes one argument (input), got ${1 + extra.length}${UNARY_HINTS[name] ?? ''}`);
    return op(a);
  });
}

const UNARY_HINTS: Partial<Record<UnaryName, string>> = { gelu: "; it is the exact (erf) GELU: for PyTorch's approximate='tanh' call geluTanh" };

function sameShapeBinary(k: ReturnType<typeof broadcastKernel>, a: Tensor, b: Tensor): Tensor {
  const out = Tensor.empty(a.shape, a.dtype, k.name);
  const strides = stridesOf(a.shape);
  launchBroadcast(k, [{ buffer: a.buffer(), strides }, { buffer: b.buffer(), strides }], out.buffer(), a.shape, a.size);
  return out;
}

export const neg = unaryOp('neg');
export const square = unaryOp('square');
export const abs = unaryOp('abs');
export const sigmoid = unaryOp('sigmoid');
export const exp = unaryOp('exp');
export const log = unaryOp('log');
export const sqrt = unaryOp('sqrt');
export const rsqrt = unaryOp('rsqrt');
export const tanh = unaryOp('tanh');
export const relu = unaryOp('relu');
export const gelu = unaryOp('gelu');
export const geluTanh = unaryOp('geluTanh');

// ---- broadcasting ------------------------------------------------------------------------
/** Launches a broadcasting kernel over `inputs`, returning the output of the broadcast shape, of `dtype`. */
export function broadcastLaunch(op: string, k: ReturnType<typeof broadcastKernel>, inputs: Tensor[], dtype: DType): Tensor {
  const shape = broadcastShapes(op, ...inputs.map((t) => t.shape));
  const out = Tensor.empty(shape, dtype, op);
  launchBroadcast(
    k,
    inputs.map((t) => ({ buffer: t.buffer(op), strides: broadcastStrides(t.shape, shape) })),
    out.buffer(),
    shape,
    out.size,
  );
  return out;
}

export type TensorOrScalar = Tensor | number;

/** The dtype of a float op's result: its (last) tensor's float dtype (they share one: autograd/op.ts checkOneFloat). */
const floatOf = (ts: readonly Tensor[]): DType => (ts.at(-1)!.dtype === 'float16' ? 'float16' : 'float32');

/** The shape rule of a broadcasting op: the broadcast shape of its tensors, of their float dtype. */
const broadcastRule = (name: string, ts: readonly Tensor[]) => ({ shape: broadcastShapes(name, ...ts.map((t) => t.shape)), dtype: floatOf(ts) });

/** Whether float16 holds the float32 value of v exactly. */
const fitsFloat16 = (v: number) => Object.is(f16BitsToF32(f32ToF16Bits(v)), Math.fround(v));

/**
 * Checks the two operands of `op` (argument names as in PyTorch); numbers become 0-d tensors for the
 * duration of one op, of the dtype of the tensor beside them (so `ids.eq(3)` compares integers and
 * `h.mul(0.5)` stays float16). Where the op `computes` with a number that float16 cannot hold beside
 * a float16 tensor (h.div(70000), h.mul(0.1)), it runs on float32 casts and its result is rounded to
 * float16 once, as PyTorch's CUDA kernels compute with the number in float32: rounding it first
 * would turn 1000 / 70000 into 1000 / Inf = 0.
 */
function withScalars(op: string, fn: (a: Tensor, b: Tensor) => Tensor, alone: DType = 'float32', computes = true) {
  const lifted = (a: TensorOrScalar, b: TensorOrScalar, ...extra: never[]): Tensor => {
    // PyTorch's torch.add(x, y, alpha=2) written add(x, y, { alpha: 2 }) (from JS, or through `any`) was x + y without a word
    if (extra.length) throw new TypeError(`${op}: takes two arguments (input, other), got ${2 + extra.length}${BINARY_HINTS[op] ?? ''}`);
    const args = [checkTensorOrNumber(op, 'input', a), checkTensorOrNumber(op, 'other', b)];
    const partner = args.find((v): v is Tensor => v instanceof Tensor);
    if (computes && partner?.dtype === 'float16' && args.some((v) => typeof v === 'number' && !fitsFloat16(v))) {
      requireF16(op); // before the casts, so that an adapter without shader-f16 is refused under this op's name
      const wide = args.map((v) => (v instanceof Tensor ? cast(v, 'float32') : v));
      const result = lifted(wide[0]!, wide[1]!);
      const out = cast(result, 'float16');
      for (const t of [...wide, result]) if (t instanceof Tensor) t.dispose();
      return out;
    }
    const intPartner = partner?.dtype === 'int32';
    const temps: Tensor[] = [];
    const lift = (v: TensorOrScalar, arg: string) => {
      if (v instanceof Tensor) return v;
      const int = Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX;
      if (intPartner && !int) {
        throw new TypeError(`${op}: argument '${arg}' is ${v}, which does not fit the int32 tensor beside it; cast that tensor with .astype('float32') first`);
      }
      temps.push(full([], v, partner?.dtype ?? alone));
      return temps[temps.length - 1]!;
    };
    try {
      return fn(lift(args[0]!, 'input'), lift(args[1]!, 'other'));
    } finally {
      for (const t of temps) t.dispose();
    }
  };
  return lifted;
}

const BINARY_HINTS: Record<string, string> = { add: "; for PyTorch's alpha write x.add(y.mul(alpha))", sub: "; for PyTorch's alpha write x.sub(y.mul(alpha))" };

interface BinarySpec {
  expr: string;
  helpers?: string;
  /** Gradients w.r.t. x and y as expressions of c = upstream gradient, x, y (before reduction to each input's shape). */
  gradX: string;
  gradY: string;
}

// C's pow (PyTorch's), where WGSL's is undefined for a negative or zero base and drivers may assume
// no NaN or Inf: x^+-0 and 1^y are 1 even for NaN, NaN otherwise propagates; +-0 and +-Inf bases give
// 0 or Inf by the exponent's sign, signed for an odd integer exponent; a negative base takes integer
// exponents only (NaN otherwise), and (-1)^+-Inf is 1. The special cases are told by the bits.
// WGSL's pow is exp2(y log2 x), 12 ulps off at y = 2 and 100 at y = 10: integer exponents up to 32
// multiply by squaring (within a few ulps, as PyTorch's x * x), y = 0.5 is sqrt.
const POW_ANY = `fn pow_any(a: f32, b: f32) -> f32 {
  let ba = bitcast<u32>(a);
  let bb = bitcast<u32>(b);
  let mag_a = ba & 0x7fffffffu;
  let mag_b = bb & 0x7fffffffu;
  if (mag_b == 0u || ba == 0x3f800000u) { return 1.0; }
  if (mag_a > 0x7f800000u) { return a; }
  if (mag_b > 0x7f800000u) { return b; }
  let inf_b = mag_b == 0x7f800000u;
  let odd = !inf_b && abs(b) < 16777216.0 && b == floor(b) && (i32(b) & 1) == 1; // every float from 2^24 is even
  let sign = select(0u, ba & 0x80000000u, odd); // the base's sign, for an odd integer exponent
  if (mag_a == 0u || mag_a == 0x7f800000u) {
    // 0^(b > 0) = 0 and Inf^(b < 0) = 0; 0^(b < 0) = Inf and Inf^(b > 0) = Inf (built from bits: a constant Inf is an error)
    let zero = (mag_a == 0u) != ((bb & 0x80000000u) != 0u);
    return bitcast<f32>(select(0x7f800000u, 0u, zero) | sign);
  }
  let m = abs(a);
  if (inf_b) { return select(pow(m, b), 1.0, m == 1.0); } // a negative base's sign does not matter at +-Inf
  if (b != floor(b)) { return select(select(pow(a, b), sqrt(a), b == 0.5), bitcast<f32>(ba | 0x7fc00000u), a < 0.0); } // NaN for a < 0
  if (abs(b) > 32.0) { return bitcast<f32>(bitcast<u32>(pow(m, b)) | sign); }
  let n = u32(abs(b));
  var r = pow_int(m, n);
  // m^-n as 1 / m^n, or (1 / m)^n where m^n is below float32's normal range (flushed, maybe); past float32, 1 / Inf = 0
  if (b < 0.0) { r = select(1.0 / r, pow_int(1.0 / m, n), r < 1.17549435e-38); }
  return bitcast<f32>(bitcast<u32>(r) | sign);
}
fn pow_int(m: f32, n: u32) -> f32 {
  var r = 1.0;
  var p = m;
  for (var k = n; k != 0u; k = k >> 1u) {
    if ((k & 1u) == 1u) { r = r * p; }
    p = p * p;
  }
  return r;
}`;

const BINARY = {
  add: { expr: 'x + y', gradX: 'c', gradY: 'c' },
  sub: { expr: 'x - y', gradX: 'c', gradY: '-c' },
  mul: { expr: 'x * y', gradX: 'c * y', gradY: 'c * x' },
  div: { expr: 'x / y', gradX: 'c / y', gradY: '-c * x / (y * y)' }, // d(a/b) = da/b - a db/b^2
  // d a^b = b a^(b-1) da + a^b log(a) db; as PyTorch, 0 where b = 0 (a^0 is 1 for every a, 0^-1 * 0 would be
  // NaN) and, for db, where a = 0 and b >= 0 (0^b is constant in b there, 0 * log 0 would be NaN)
  pow: {
    expr: 'pow_any(x, y)',
    helpers: `${POW_ANY}\n${LOG_WGSL}`,
    gradX: 'select(c * y * pow_any(x, y - 1.0), 0.0, y == 0.0)',
    gradY: 'select(c * pow_any(x, y) * log_accurate(x), 0.0, x == 0.0 && y >= 0.0)',
  },
  // NaN propagates (torch.maximum); ties split the gradient equally, and the smaller operand gets
  // none, as PyTorch does: where one is NaN neither is smaller, so both get the gradient (compared
  // by their bits: WGSL lets drivers assume no NaN in float compares)
  maximum: {
    expr: 'ieee_max(x, y)',
    helpers: ORDERED_WGSL,
    gradX: 'c * select(select(1.0, 0.5, ieee_eq(x, y)), 0.0, ieee_lt(x, y))',
    gradY: 'c * select(select(1.0, 0.5, ieee_eq(x, y)), 0.0, ieee_lt(y, x))',
  },
  // maximum's mirror: NaN propagates, ties split the gradient, the larger operand gets none (torch.minimum)
  minimum: {
    expr: 'ieee_min(x, y)',
    helpers: ORDERED_WGSL,
    gradX: 'c * select(select(1.0, 0.5, ieee_eq(x, y)), 0.0, ieee_lt(y, x))',
    gradY: 'c * select(select(1.0, 0.5, ieee_eq(x, y)), 0.0, ieee_lt(x, y))',
  },
} satisfies Record<string, BinarySpec>;

export type BinaryName = keyof typeof BINARY;

function binaryOp(name: BinaryName) {
  const spec: BinarySpec = BINARY[name];
  const helpers = spec.helpers ?? '';
  const fwd = floatKernels(name, spec.expr, { helpers });
  const gradX = floatKernels(`${name}_backward_x`, spec.gradX, { arity: 3, helpers });
  const gradY = floatKernels(`${name}_backward_y`, spec.gradY, { arity: 3, helpers });
  // add's gradients, and sub's for x, are the upstream gradient itself: no kernel, no saved inputs
  const identity = (expr: string) => expr === 'c';
  const savesInputs = !(identity(spec.gradX) && (identity(spec.gradY) || spec.gradY === '-c'));
  const op = defineOp({
    name,
    dtypes: { input: FLOAT_DTYPES, other: FLOAT_DTYPES },
    forward(ctx: OpContext, a: Tensor, b: Tensor) {
      if (savesInputs) ctx.save(a, b);
      return broadcastLaunch(name, fwd(floatType(a.dtype)), [a, b], a.dtype);
    },
    shape: (args) => broadcastRule(name, args),
    backward(ctx, g, [x, y]) {
      const grad = (k: typeof fwd, expr: string, target: Tensor) => {
        if (identity(expr)) return sumTo(g, target.shape);
        const full = broadcastLaunch(`${name} backward`, k(floatType(g.dtype)), savesInputs ? [g, ...ctx.saved] : [g, g, g], g.dtype);
        const reduced = sumTo(full, target.shape);
        full.dispose();
        return reduced;
      };
      return [ctx.needsGrad[0] ? grad(gradX, spec.gradX, x) : null, ctx.needsGrad[1] ? grad(gradY, spec.gradY, y) : null];
    },
  });
  return withFront(op, withScalars(name, op));
}

export const add = binaryOp('add');
export const sub = binaryOp('sub');
export const mul = binaryOp('mul');
export const div = binaryOp('div');
export const pow = binaryOp('pow');
export const maximum = binaryOp('maximum');
export const minimum = binaryOp('minimum');

// ---- comparisons (not differentiable): 1.0 where true, 0.0 where false (float16 for float16
// operands, float32 otherwise) ------------------------------------------------------------------
// Floats are compared by their bits (ORDERED_WGSL): WGSL lets drivers assume no NaN, and lavapipe's
// x != y was false where either was NaN; IEEE (and PyTorch) say true.
const COMPARE = {
  eq: { int: 'x == y', float: 'ieee_eq(x, y)' },
  ne: { int: 'x != y', float: '!ieee_eq(x, y)' },
  lt: { int: 'x < y', float: 'ieee_lt(x, y)' },
  le: { int: 'x <= y', float: 'ieee_lt(x, y) || ieee_eq(x, y)' },
  gt: { int: 'x > y', float: 'ieee_lt(y, x)' },
  ge: { int: 'x >= y', float: 'ieee_lt(y, x) || ieee_eq(x, y)' },
} as const;
export type CompareName = keyof typeof COMPARE;

function compareOp(name: CompareName) {
  const select = (test: string) => `select(0.0, 1.0, ${test})`;
  const float = { expr: select(COMPARE[name].float), helpers: ORDERED_WGSL };
  const kernels = {
    float32: broadcastKernel(name, float.expr, { helpers: float.helpers }),
    float16: broadcastKernel(`${name}_f16`, float.expr, { inType: 'f16', outType: 'f16', helpers: float.helpers }),
    int32: broadcastKernel(`${name}_i32`, select(COMPARE[name].int), { inType: 'i32' }),
  };
  const op = defineOp({
    name,
    dtypes: { input: ANY, other: ANY },
    forward(_ctx: OpContext, a: Tensor, b: Tensor) {
      return broadcastLaunch(name, kernels[a.dtype as PlainDType], [a, b], floatOf([a]));
    },
    shape([a, b]) {
      if (a.dtype !== b.dtype) throw new TypeError(`${name}: arguments 'input' and 'other' must have one dtype, got ${a.describe()} and ${b.describe()}`);
      return broadcastRule(name, [a, b]);
    },
    backward: NOT_DIFFERENTIABLE,
  });
  return withFront(op, withScalars(name, op));
}

export const eq = compareOp('eq');
export const ne = compareOp('ne');
export const lt = compareOp('lt');
export const le = compareOp('le');
export const gt = compareOp('gt');
export const ge = compareOp('ge');

// ---- where -----------------------------------------------------------------------------------
// a NaN condition is non-zero (true), as PyTorch's bool(NaN): compared by its bits, as the comparisons are
const whereKernels = (name: string, x: string, y: string) => floatKernels(name, `select(${y}, ${x}, !ieee_eq(c, 0.0))`, { arity: 3, helpers: ORDERED_WGSL });
const whereK = whereKernels('where', 'x', 'y');
const whereGradX = whereKernels('where_backward_x', 'y', '0.0');
const whereGradY = whereKernels('where_backward_y', '0.0', 'y');

const whereOp = defineOp({
  name: 'where',
  dtypes: { condition: FLOAT_DTYPES, input: FLOAT_DTYPES, other: FLOAT_DTYPES },
  forward(ctx: OpContext, cond: Tensor, a: Tensor, b: Tensor) {
    ctx.save(cond);
    return broadcastLaunch('where', whereK(floatType(a.dtype)), [cond, a, b], a.dtype);
  },
  shape: (args) => broadcastRule('where', args),
  backward(ctx, g) {
    // d where(c, a, b) = where(c, dg, 0) for a, where(c, 0, dg) for b; each reduced to its input's shape
    const [cond] = ctx.saved as [Tensor];
    const grad = (k: typeof whereK, i: number) => {
      if (!ctx.needsGrad[i]) return null;
      const full = broadcastLaunch('where backward', k(floatType(g.dtype)), [cond, g, g], g.dtype);
      const reduced = sumTo(full, ctx.inputShapes[i]!);
      full.dispose();
      return reduced;
    };
    return [null, grad(whereGradX, 1), grad(whereGradY, 2)];
  },
});

/** Elements of `a` where `cond` is non-zero, of `b` elsewhere (broadcasting all three). */
export const where = withFront(whereOp, (cond: Tensor, a: TensorOrScalar, b: TensorOrScalar): Tensor => {
  checkTensor('where', 'condition', cond);
  // two numbers take the condition's float dtype
  // a number is selected, not computed with: rounded to float16 once either way
  return withScalars('where', (x, y) => whereOp(cond, x, y), cond.dtype === 'float16' ? 'float16' : 'float32', false)(a, b);
});
