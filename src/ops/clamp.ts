// clamp(x, min, max): x held within bounds, as torch.clamp: max(x, min), then min(that, max), so max
// wins where min > max. Each bound is a number, a tensor broadcasting with x (the result takes the
// broadcast shape), or left out; x may be int32 (no gradient then). NaN in x is kept, NaN in a
// tensor bound propagates; a bound replaces x only where it is strictly beyond x, so a zero of
// either sign on a bound of the other keeps x's sign. The gradient is torch's
// (clamp_backward_min_max): x's where min <= x <= max (bounds included), min's where x < min < max,
// max's where x > max or max < min, nobody's elsewhere (NaN; x < min == max). The forward, where it
// records, writes which operand each element's gradient goes to; the backward picks by it.
// Float compares are on the bits (ORDERED_WGSL): WGSL lets drivers assume no NaN.
import { defineOp, optional, withFront, type OpContext } from '../autograd/op.js';
import { broadcastKernel, floatKernels, ORDERED_WGSL } from '../kernels/wgsl/elementwise.js';
import type { FloatType } from '../kernels/kernel.js';
import { describeValue, INT32_MAX, INT32_MIN } from '../tensor/check.js';
import { full } from '../tensor/create.js';
import { f16BitsToF32, f32ToF16Bits } from '../tensor/half.js';
import { broadcastShapes } from '../tensor/shape.js';
import { floatType, Tensor, type DType } from '../tensor/tensor.js';
import { sumTo } from './broadcast.js';
import { broadcastLaunch } from './elementwise.js';

const DTYPES: readonly DType[] = ['float32', 'float16', 'int32'];

// the gradient's owner per element: 0 none, 1 x, 2 min, 3 max
const CLAMP_WGSL = `${ORDERED_WGSL}
fn is_nan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }
fn clamp_lo(v: f32, lo: f32) -> f32 { return select(select(v, lo, ieee_lt(v, lo)), lo, is_nan(lo)); }
fn clamp_hi(v: f32, hi: f32) -> f32 { return select(select(v, hi, ieee_lt(hi, v)), hi, is_nan(hi)); }
fn ieee_le(a: f32, b: f32) -> bool { return ieee_lt(a, b) || ieee_eq(a, b); }
fn owner_lo(v: f32, lo: f32) -> f32 { return select(select(0.0, 2.0, ieee_lt(v, lo)), 1.0, ieee_le(lo, v)); }
fn owner_hi(v: f32, hi: f32) -> f32 { return select(select(0.0, 3.0, ieee_lt(hi, v)), 1.0, ieee_le(v, hi)); }
fn owner_both(v: f32, lo: f32, hi: f32) -> f32 {
  if (ieee_le(lo, v) && ieee_le(v, hi)) { return 1.0; }
  if (ieee_lt(v, lo) && ieee_lt(lo, hi)) { return 2.0; }
  return select(0.0, 3.0, ieee_lt(hi, v) || ieee_lt(hi, lo));
}`;

type Bounds = 'none' | 'min' | 'max' | 'both';
// per form: the float forward, the int32 forward and the owner, in the kernels' operand names
// (x, y for two operands; c, x, y for three: input, min, max)
// (int32's 'both' is 'min' then 'max': a third operand beside int32 ones is read as a float)
const FORMS: Record<Bounds, { float: string; int?: string; owner: string }> = {
  none: { float: 'x', int: 'x', owner: 'select(1.0, 0.0, is_nan(x))' }, // infinite bounds alone
  min: { float: 'clamp_lo(x, y)', int: 'max(x, y)', owner: 'owner_lo(x, y)' },
  max: { float: 'clamp_hi(x, y)', int: 'min(x, y)', owner: 'owner_hi(x, y)' },
  both: { float: 'clamp_hi(clamp_lo(c, x), y)', owner: 'owner_both(c, x, y)' },
};
type Kernel = ReturnType<typeof broadcastKernel>;
/** Each form's kernels, each built on first use. */
const KERNELS = Object.fromEntries((Object.keys(FORMS) as Bounds[]).map((form) => {
  const opts = { arity: form === 'both' ? 3 : form === 'none' ? 1 : 2, helpers: CLAMP_WGSL } as const;
  let int: Kernel | undefined;
  return [form, {
    float: floatKernels(`clamp_${form}`, FORMS[form].float, opts),
    owner: floatKernels(`clamp_${form}_owner`, FORMS[form].owner, opts),
    int: () => (int ??= broadcastKernel(`clamp_${form}_i32`, FORMS[form].int!, { arity: opts.arity, inType: 'i32', outType: 'i32' })),
  }];
})) as Record<Bounds, { float: (f: FloatType) => Kernel; owner: (f: FloatType) => Kernel; int: () => Kernel }>;
// the gradient where the owner (y) is operand k, 0 elsewhere
const pickKernels = [1, 2, 3].map((k) => floatKernels(`clamp_backward_${k}`, `select(0.0, x, y == ${k}.0)`));

type Bound = Tensor | null;

const formOf = (min: Bound, max: Bound): Bounds => (min && max ? 'both' : min ? 'min' : max ? 'max' : 'none');

const clampOp = defineOp({
  name: 'clamp',
  dtypes: { input: DTYPES, min: optional(DTYPES), max: optional(DTYPES) },
  forward(ctx: OpContext, x: Tensor, min: Bound, max: Bound) {
    const form = formOf(min, max);
    const operands = [x, min, max].filter((t): t is Tensor => t !== null);
    const kernels = KERNELS[form];
    if (x.dtype === 'int32' && form === 'both') {
      const low = broadcastLaunch('clamp', KERNELS.min.int(), [x, min!], 'int32');
      const out = broadcastLaunch('clamp', KERNELS.max.int(), [low, max!], 'int32');
      low.dispose();
      return out;
    }
    if (x.dtype === 'int32') return broadcastLaunch('clamp', kernels.int(), operands, 'int32');
    if (ctx.recording) {
      const owner = broadcastLaunch('clamp', kernels.owner(floatType(x.dtype)), operands, x.dtype);
      ctx.save(owner); // the node's handle keeps it
      owner.dispose();
    }
    return broadcastLaunch('clamp', kernels.float(floatType(x.dtype)), operands, x.dtype);
  },
  shape([x, min, max]) {
    for (const [name, b] of [['min', min], ['max', max]] as const) {
      if (b && b.dtype !== x.dtype) throw new TypeError(`clamp: argument '${name}' must be a number or a tensor of the input's dtype, ${x.dtype}, got ${describeValue(b)}`);
    }
    return { shape: broadcastShapes('clamp', ...[x, min, max].flatMap((t) => (t ? [t.shape] : []))), dtype: x.dtype };
  },
  backward(ctx, g, [, min, max]) {
    const [owner] = ctx.saved as [Tensor];
    // the inputs' slots in order, each with the owner code that sends it the gradient
    const slots = [1, min ? 2 : null, max ? 3 : null].filter((k): k is number => k !== null);
    return slots.map((k, i) => {
      if (!ctx.needsGrad[i]) return null;
      const full = broadcastLaunch('clamp backward', pickKernels[k - 1]!(floatType(g.dtype)), [g, owner], g.dtype);
      const reduced = sumTo(full, ctx.inputShapes[i]!);
      full.dispose();
      return reduced;
    });
  },
});

/**
 * A number bound as x's dtype holds it (rounding it first leaves every result as it was: rounding
 * keeps order), null where absent or where it bounds nothing (-Infinity below, +Infinity above).
 */
function numberBound(name: 'min' | 'max', value: unknown, dtype: DType): number | null {
  if (value === null || value === undefined) return null;
  const open = name === 'min' ? -Infinity : Infinity;
  const int = dtype === 'int32';
  const allowed = `a tensor or ${int ? 'an integer' : 'a number'} within ${dtype}'s range, ${open} or null`;
  if (typeof value !== 'number') throw new TypeError(`clamp: argument '${name}' must be ${allowed}, got ${describeValue(value)}`);
  if (value === open) return null;
  const rounded = dtype === 'float16' ? f16BitsToF32(f32ToF16Bits(value)) : int ? value : Math.fround(value);
  if (rounded === open) return null;
  const fits = int ? Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX : Number.isFinite(rounded);
  if (!fits) throw new RangeError(`clamp: argument '${name}' must be ${allowed}, got ${value}`);
  return rounded;
}

/**
 * `x` held within [min, max], as torch.clamp: each bound a number, a tensor of x's dtype broadcasting
 * with it, or left out (null or undefined); int32 too.
 */
export const clamp = withFront(clampOp, (x: Tensor, min?: Tensor | number | null, max?: Tensor | number | null, ...extra: never[]): Tensor => {
  if (extra.length) throw new TypeError(`clamp: takes three arguments (input, min, max), got ${3 + extra.length}`);
  if (!(x instanceof Tensor)) return clampOp(x, null, null); // refused by the op, under its name
  if (min == null && max == null) throw new TypeError("clamp: at least one of 'min' and 'max' must be given, got neither");
  const temps: Tensor[] = [];
  const lift = (name: 'min' | 'max', b: unknown): Bound => {
    if (b instanceof Tensor) return b;
    const v = numberBound(name, b, x.dtype);
    if (v === null) return null;
    temps.push(full([], v, x.dtype));
    return temps.at(-1)!;
  };
  try {
    return clampOp(x, lift('min', min), lift('max', max));
  } finally {
    for (const t of temps) t.dispose();
  }
});
