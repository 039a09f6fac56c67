// The optimizer side of mixed precision is float32: master weights, their gradients, AdamW's
// moments. A float16 parameter or gradient is refused up front, named by its place in the list
// given (the update ops would refuse it later, under their own names and a shard's or the
// gradient list's index).
import { heldGrad } from '../autograd/backward.js';
import type { Tensor } from '../ops/index.js';
import { checkTensor, describeValue } from '../tensor/check.js';

const HINT = 'float16 compute keeps float32 parameters and runs the forward under autocast';

/** Throws naming `op` unless every parameter is float32. */
export function checkFloat32Params(op: string, params: readonly Tensor[]): void {
  const i = params.findIndex((p) => p.dtype !== 'float32');
  if (i >= 0) throw new TypeError(`${op}: params[${i}] is ${params[i]!.describe()}; ${op} updates float32 parameters (${HINT})`);
}

/**
 * The gradients of `params` that have one (heldGrad: a disposed one is cleared), each float32 (else an
 * error naming `op` and the parameter's place). Each must be a Tensor: [[p]] or name-tensor pairs had
 * no .grad, and measured a norm of 0.
 */
export function float32Grads(op: string, params: readonly Tensor[]): Tensor[] {
  if (!Array.isArray(params)) throw new TypeError(`${op}: argument 'params' must be an array of Tensors, got ${describeValue(params)}`);
  return params.flatMap((p, i) => {
    const grad = heldGrad(op, checkTensor(op, `params[${i}]`, p)) as Tensor | null;
    if (!grad) return [];
    if (grad.dtype !== 'float32') throw new TypeError(`${op}: params[${i}].grad is ${grad.describe()}; gradients are measured in float32 (${HINT})`);
    return [grad];
  });
}
