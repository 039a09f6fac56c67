// What a case of the op table gives the runner: one drawn call of the op (its tensor inputs as
// float64 arrays, the op's arguments around them) with its float64 reference and tolerances.
// src/check/cases/ has one case per op and update; src/check/run.ts runs them.
import type { OPS, OpName, UPDATES, UpdateName } from '../ops/index.js';
import { f16BitsToF32, f32ToF16Bits } from '../tensor/half.js';
import type { DType, Tensor } from '../tensor/tensor.js';
import type { Random } from './random.js';
import type { Ref } from './reference/array.js';

/** |got - want| <= atol + rtol |want| elementwise. */
export interface Tolerance {
  atol: number;
  rtol: number;
}

export const EXACT: Tolerance = { atol: 0, rtol: 0 };
/**
 * Gradients against float64 central differences, unless a case says otherwise: float32's few
 * roundings per gradient element err ~1e-6 relative, and float64 differences far less. (1e-3 and
 * 1e-2 let a backward 0.5% off through: a Linear's bias gradient times 1.005, gelu's times 1.004.)
 */
export const GRAD_TOL: Tolerance = { atol: 1e-5, rtol: 1e-4 };

// ---- float16 --------------------------------------------------------------------------------
// The runner's float16 pass (run.ts) draws every float32 input as float16 values, so the float64
// reference sees exactly what the engine holds, and expects a float16 result (unless a case says
// otherwise). Tolerances are stated in float16's unit roundoff:

/** A value rounded to float16 (through float32, as tensor() rounds it). */
export const toHalf = (v: number): number => f16BitsToF32(f32ToF16Bits(v));

/** float16's unit roundoff: one rounding to float16 errs by at most 2^-11 relative. */
export const F16_EPS = 2 ** -11;
/** The spacing of float16's subnormals: what a rounding near 0 may lose absolutely. */
export const F16_TINY = 2 ** -24;

/**
 * A float16 result computed in float32 (every sum accumulated in float32) and rounded once: one
 * rounding (F16_EPS) plus float32's error, which is 2^13 times smaller even over thousands of terms;
 * the case's float32 tolerance still covers the kernel's own approximations (erf, exp). Exact ops
 * (copies, max, comparisons, where, embedding's forward) stay exact.
 */
export const halfTol = (f32: Tolerance): Tolerance =>
  f32.atol === 0 && f32.rtol === 0 ? EXACT : { atol: Math.max(f32.atol, 2 * F16_TINY), rtol: Math.max(f32.rtol, 2 * F16_EPS) };

/**
 * Gradients in float16: the upstream gradient, each backward rule's output and each broadcast
 * gradient's sum are rounded to float16 once each, a chain of a few roundings of terms of size ~1:
 * 16 units relative, and an absolute 16 units for gradients that cancel to near 0 from terms of size
 * `scale` (a case with long sums scales it by sqrt(terms): their roundings err at random signs).
 */
export const halfGradTol = (scale = 1): Tolerance => ({ atol: 16 * F16_EPS * scale, rtol: 16 * F16_EPS });

/** How a case runs in the float16 pass, where its defaults (halfTol of its tol, halfGradTol()) do not fit. */
export interface HalfSpec {
  tol?: Tolerance;
  gradTol?: Tolerance;
  /** The result's dtype in float16 (float16 unless said: crossEntropy's loss stays float32). */
  dtype?: DType;
}

/** A tensor argument: its values (exact in its dtype) and whether the op may be differentiated by it. */
export interface Input {
  ref: Ref;
  dtype: DType;
  grad: boolean;
}

export const floatInput = (ref: Ref, grad = true): Input => ({ ref, dtype: 'float32', grad });
export const intInput = (ref: Ref): Input => ({ ref, dtype: 'int32', grad: false });
/** int8 values (quantized weights), integers in [-128, 127]. */
export const int8Input = (ref: Ref): Input => ({ ref, dtype: 'int8', grad: false });

/** Inputs, the float64 result expected from them, and how close the engine must come. */
export interface Comparison {
  inputs: Input[];
  /** The expected result from the inputs' values (in the inputs' order). */
  reference(xs: Ref[]): Ref;
  /**
   * The function whose derivative the gradients must be, where it is not `reference` (a rounding,
   * whose derivative is taken as 1: the identity it approximates); the same shape of result.
   */
  gradReference?(xs: Ref[]): Ref;
  /** The result's dtype: float32 unless said. */
  dtype?: DType;
  tol: Tolerance;
  /** For the gradients of the inputs with `grad`: GRAD_TOL unless said. */
  gradTol?: Tolerance;
  /** In the float16 pass: see HalfSpec. */
  half?: HalfSpec;
}

/** One drawn call of an op: a Comparison, and the op's arguments with the inputs' tensors in place. */
export interface Sample<P extends unknown[]> extends Comparison {
  args(ts: Tensor[]): P;
}

type OpArgs<K extends OpName> = Parameters<(typeof OPS)[K]>;

/** How to draw valid arguments for op K, with what they must give. */
export interface OpCase<K extends OpName> {
  draw(r: Random): Sample<OpArgs<K>>;
  /** false: no float16 pass (the case draws float16 itself, or the op is float32 only). */
  half?: false;
}

/** What an update must leave in one of its inputs. */
export interface Written {
  input: number;
  want: Ref;
  tol: Tolerance;
}

/** One drawn call of an in-place update: inputs, arguments, and what it writes (the rest must stay as they were). */
export interface UpdateSample<P extends unknown[]> {
  inputs: Input[];
  args(ts: Tensor[]): P;
  reference(xs: Ref[]): Written[];
}

export interface UpdateCase<K extends UpdateName> {
  draw(r: Random): UpdateSample<Parameters<(typeof UPDATES)[K]>>;
}
