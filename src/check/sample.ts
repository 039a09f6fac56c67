// What a case of the op table gives the runner: one drawn call of the op (its tensor inputs as
// float64 arrays, the op's arguments around them) with its float64 reference and tolerances.
// src/check/cases/ has one case per op and update; src/check/run.ts runs them.
import type { OPS, OpName, UPDATES, UpdateName } from '../ops/index.js';
import type { DType, Tensor } from '../tensor/tensor.js';
import type { Random } from './random.js';
import type { Ref } from './reference/array.js';

/** |got - want| <= atol + rtol |want| elementwise. */
export interface Tolerance {
  atol: number;
  rtol: number;
}

export const EXACT: Tolerance = { atol: 0, rtol: 0 };
/** Gradients against float64 central differences, unless a case says otherwise. */
export const GRAD_TOL: Tolerance = { atol: 1e-3, rtol: 1e-2 };

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
  /** The result's dtype: float32 unless said. */
  dtype?: DType;
  tol: Tolerance;
  /** For the gradients of the inputs with `grad`: GRAD_TOL unless said. */
  gradTol?: Tolerance;
}

/** One drawn call of an op: a Comparison, and the op's arguments with the inputs' tensors in place. */
export interface Sample<P extends unknown[]> extends Comparison {
  args(ts: Tensor[]): P;
}

type OpArgs<K extends OpName> = Parameters<(typeof OPS)[K]>;

/** How to draw valid arguments for op K, with what they must give. */
export interface OpCase<K extends OpName> {
  draw(r: Random): Sample<OpArgs<K>>;
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
