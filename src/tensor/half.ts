// 16-bit floats as stored in checkpoints: IEEE binary16 (F16) and bfloat16 (BF16), converted to
// and from float32. Encoding rounds to nearest, ties to even, like the hardware and PyTorch do (F16
// from a float64 number too, in one rounding).

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The bits of `x` as a float32, as a signed 32-bit integer. */
export function float32Bits(x: number): number {
  f32[0] = x;
  return u32[0]! | 0;
}

export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24; // zero or subnormal
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** x's binary16 bits, rounded once to nearest, ties to even: from a float32, or from any number (a float64). */
export function f32ToF16Bits(x: number): number {
  f32[0] = x;
  // a float64 that float32 cannot hold is rounded to float32 toward odd, so that the rounding to
  // float16 below meets no false tie (1 + 2^-11 + 2^-40 would go to 1 + 2^-11, then to even, 1)
  if (Number.isFinite(x) && f32[0] !== x && !(u32[0]! & 1)) u32[0]! += Math.abs(f32[0]!) < Math.abs(x) ? 1 : -1;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf, or a quiet NaN
  const e = exp - 127 + 15; // the exponent rebiased for binary16
  if (e >= 0x1f) return sign | 0x7c00; // too large: Inf
  if (e <= 0) {
    // Subnormal in binary16: shift the mantissa, implicit 1 included, into the 10 low bits.
    const shift = 14 - e;
    if (shift > 24) return sign; // below half the smallest subnormal: rounds to zero
    return sign | roundShift(mant | 0x800000, shift);
  }
  // A carry out of the mantissa bumps the exponent, up to Inf, which is the right rounding.
  return sign | ((e << 10) + roundShift(mant, 13));
}

export function bf16BitsToF32(h: number): number {
  u32[0] = h << 16;
  return f32[0]!;
}

export function f32ToBf16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  if (Number.isNaN(x)) return ((bits >>> 16) & 0x8000) | 0x7fc0; // rounding could turn NaN into Inf
  return (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
}

/** `value >> shift`, rounded to nearest with ties to even. */
function roundShift(value: number, shift: number): number {
  const kept = value >>> shift;
  const rest = value & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rest > half || (rest === half && kept & 1) ? kept + 1 : kept;
}
