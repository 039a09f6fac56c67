// Mixed precision, PyTorch's autocast: inside autocast('float16', fn) the layers compute in
// float16 (their float32 parameters cast on the way in, the casts differentiable so gradients
// reach the float32 master weights in float32); outside, or with 'float32', nothing changes.
// Synchronous like noGrad: a forward and its backward run inside fn.
import { cast, type Tensor } from '../ops/index.js';

/** The dtypes a model may compute in. */
export const COMPUTE_DTYPES = ['float32', 'float16'] as const;
/** A dtype a model may compute in: 'float32' or 'float16'. */
export type ComputeDtype = (typeof COMPUTE_DTYPES)[number];

let current: ComputeDtype = 'float32';

/** The dtype layers compute in now. */
export function computeDtype(): ComputeDtype {
  return current;
}

/** Runs fn (synchronous) with layers computing in `dtype`. */
export function autocast<R>(dtype: ComputeDtype, fn: () => R): R {
  if (!COMPUTE_DTYPES.includes(dtype)) throw new Error(`autocast: dtype must be one of ${COMPUTE_DTYPES.join(', ')}, got ${JSON.stringify(dtype)}`);
  const prev = current;
  current = dtype;
  try {
    return fn();
  } finally {
    current = prev;
  }
}

/**
 * `t` as a layer computes with it: under autocast('float16') a float32 tensor (a parameter, an
 * input) cast to float16, differentiably; otherwise `t` itself, so nothing runs that did not before.
 */
export function castForCompute(t: Tensor): Tensor {
  return current === 'float16' && t.dtype === 'float32' ? cast(t, 'float16') : t;
}
