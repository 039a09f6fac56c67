// clamp(x, min, max): x held within number bounds, as torch.clamp: max(x, min), then min(that, max),
// so max wins where min > max; NaN stays NaN. The gradient is torch's: 1 where min <= x <= max
// (bounds included), 0 elsewhere and at NaN. Bounds are uniforms, an absent one told by a flag bit
// (WGSL may assume finite math: no Infinity stands in for "no bound"), compared by their bits.
import { defineOp, withFront, type OpContext } from '../autograd/op.js';
import { floatKernels, launchBroadcast, launchUnary, ORDERED_WGSL, unaryKernel } from '../kernels/wgsl/elementwise.js';
import { variants, type FloatType } from '../kernels/kernel.js';
import { checkTensor, describeValue } from '../tensor/check.js';
import { zeros } from '../tensor/create.js';
import { f16BitsToF32, f32ToF16Bits } from '../tensor/half.js';
import { stridesOf } from '../tensor/shape.js';
import { FLOAT_DTYPES, floatType, Tensor } from '../tensor/tensor.js';

const HAS_MIN = 1;
const HAS_MAX = 2;

const CLAMP_WGSL = `${ORDERED_WGSL}
fn clamp_bounds(v: f32) -> f32 {
  var r = v;
  if ((p.bounds & ${HAS_MIN}u) != 0u && ieee_lt(r, p.lo)) { r = p.lo; }
  if ((p.bounds & ${HAS_MAX}u) != 0u && ieee_lt(p.hi, r)) { r = p.hi; }
  return r;
}`;
const forwardKernel = variants((f: FloatType) => unaryKernel('clamp', 'clamp_bounds(x)', CLAMP_WGSL, f, { lo: 'f32', hi: 'f32', bounds: 'u32' }));
// d clamp = dx where the output is x itself (min <= x <= max; NaN != NaN), 0 where a bound replaced it: c = gradient, x = input, y = output
const backwardKernel = floatKernels('clamp_backward', 'select(0.0, c, ieee_eq(x, y))', { arity: 3, helpers: ORDERED_WGSL });

type Bound = number | null;

const clampOp = defineOp({
  name: 'clamp',
  dtypes: { input: FLOAT_DTYPES },
  forward(ctx: OpContext, x: Tensor, min: Bound, max: Bound) {
    const out = Tensor.empty(x.shape, x.dtype, 'clamp');
    const bounds = (min === null ? 0 : HAS_MIN) | (max === null ? 0 : HAS_MAX);
    launchUnary(forwardKernel(floatType(x.dtype)), x.buffer(), out.buffer(), x.size, { lo: min ?? 0, hi: max ?? 0, bounds });
    ctx.save(x, out);
    return out;
  },
  shape: ([x]) => ({ shape: x.shape, dtype: x.dtype }),
  backward(ctx, g, [, min, max]) {
    // min > max: every output is max, and no x lies within [min, max] (an x equal to max is not one)
    if (min !== null && max !== null && min > max) return [zeros(g.shape, g.dtype)];
    const dx = Tensor.empty(g.shape, g.dtype, 'clamp backward');
    const strides = stridesOf(g.shape);
    launchBroadcast(backwardKernel(floatType(g.dtype)), [g, ...ctx.saved].map((t) => ({ buffer: t.buffer(), strides })), dx.buffer(), g.shape, g.size);
    return [dx];
  },
});

/**
 * A bound as the tensor's dtype holds it (rounding it first leaves every result as it was: rounding
 * keeps order), null where absent or where it bounds nothing (-Infinity below, +Infinity above).
 */
function boundOf(name: 'min' | 'max', value: unknown, dtype: 'float32' | 'float16'): Bound {
  if (value === null || value === undefined) return null;
  const open = name === 'min' ? -Infinity : Infinity;
  const allowed = `a number within ${dtype}'s range, ${open} or null`;
  if (typeof value !== 'number') {
    const hint = value instanceof Tensor ? "; for tensor bounds write x.maximum(min).minimum(max)" : '';
    throw new TypeError(`clamp: argument '${name}' must be ${allowed}, got ${describeValue(value)}${hint}`);
  }
  const rounded = dtype === 'float16' ? f16BitsToF32(f32ToF16Bits(value)) : Math.fround(value);
  if (rounded === open) return null;
  if (!Number.isFinite(rounded)) throw new RangeError(`clamp: argument '${name}' must be ${allowed}, got ${value}`);
  return rounded;
}

/** `x` held within [min, max] (either may be left out: null or undefined), as torch.clamp with number bounds. */
export const clamp = withFront(clampOp, (x: Tensor, min?: number | null, max?: number | null, ...extra: never[]): Tensor => {
  checkTensor('clamp', 'input', x);
  if (extra.length) throw new TypeError(`clamp: takes three arguments (input, min, max), got ${3 + extra.length}`);
  const dtype = x.dtype === 'float16' ? 'float16' : 'float32'; // int32 is refused by the op, under its name
  if (min == null && max == null) throw new TypeError("clamp: at least one of 'min' and 'max' must be given, got neither");
  return clampOp(x, boundOf('min', min, dtype), boundOf('max', max, dtype));
});
