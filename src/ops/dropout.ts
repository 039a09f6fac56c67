// dropout(x, p, seed): zeroes each element with probability p and scales the survivors by 1 / (1 - p).
// The mask is a pure function of (element index, seed) (src/kernels/wgsl/dropout.ts), so the
// backward pass regenerates it from the seed instead of keeping a mask tensor. p = 1 drops every
// element, as PyTorch: zeros, and a zero gradient, without a scale of 1 / 0.
import { defineOp, withFront, type OpContext } from '../autograd/op.js';
import { launchDropout } from '../kernels/wgsl/dropout.js';
import { checkBoolean, describeValue } from '../tensor/check.js';
import { zeros } from '../tensor/create.js';
import { FLOAT_DTYPES, floatType, Tensor } from '../tensor/tensor.js';

const dropoutOp = defineOp({
  name: 'dropout',
  dtypes: { input: FLOAT_DTYPES },
  forward(_ctx: OpContext, x: Tensor, p: number, seed: number) {
    if (p === 0) return x.alias(x.shape);
    if (p === 1) return zeros(x.shape, x.dtype);
    const out = Tensor.empty(x.shape, x.dtype, 'dropout');
    launchDropout(x.buffer(), out.buffer(), x.size, p, seed, floatType(x.dtype));
    return out;
  },
  shape: ([x]) => ({ shape: x.shape, dtype: x.dtype }),
  backward(_ctx, g, [, p, seed]) {
    // d dropout = mask * dg / (1 - p), the same mask from the same seed
    if (p === 0) return [g.alias(g.shape)];
    if (p === 1) return [zeros(g.shape, g.dtype)];
    const dx = Tensor.empty(g.shape, g.dtype, 'dropout backward');
    launchDropout(g.buffer(), dx.buffer(), g.size, p, seed, floatType(g.dtype));
    return [dx];
  },
});

/**
 * Inverted dropout with drop probability `p` in [0, 1], reproducible from `seed` (a non-negative
 * safe integer). With p = 0 or training = false the result is a view of `x`; with p = 1, zeros
 * (PyTorch's are NaN where x is NaN or infinite: x * 0; here a dropped element is 0, whatever p).
 */
export const dropout = withFront(dropoutOp, (x: Tensor, p: number, seed: number, training: boolean = true): Tensor => {
  checkDropProbability('dropout', p);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`dropout: seed must be a non-negative safe integer, got ${seed}`);
  checkBoolean('dropout', 'training', training); // 'no' would be truthy: dropped; 0 falsy
  return dropoutOp(x, training ? p : 0, seed);
});

/** A one-line error naming `what` unless `p` is a drop probability: a number in [0, 1]. */
export function checkDropProbability(what: string, p: unknown): void {
  if (typeof p !== 'number') throw new TypeError(`${what}: argument 'p' must be a number in [0, 1], got ${describeValue(p)}`);
  if (!(p >= 0 && p <= 1)) throw new RangeError(`${what}: argument 'p' must be a number in [0, 1], got ${p}`);
}
