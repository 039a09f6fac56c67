// biasGelu(x, b) = gelu(x + b), exact (erf) GELU, with b [C] added along the last axis of x [..., C]:
// the MLP's c_fc bias and activation in one forward and one backward dispatch (plus db's reduction)
// instead of add + gelu, and without materialising x + b. WGSL in src/kernels/wgsl/bias-gelu.ts.
import { defineOp } from '../autograd/op.js';
import { launchBiasGelu, launchBiasGeluBackward } from '../kernels/wgsl/bias-gelu.js';
import { Tensor } from '../tensor/tensor.js';
import { assertDtype, assertShape } from '../tensor/check.js';
import { sumTo } from './reduce.js';

const biasGeluOp = defineOp({
  name: 'biasGelu',
  forward(ctx, x: Tensor, b: Tensor) {
    const C = b.size;
    const y = Tensor.empty(x.shape, 'float32', 'biasGelu');
    launchBiasGelu(x.buffer('biasGelu'), b.buffer('biasGelu'), y.buffer(), x.size, C);
    ctx.save(x, b);
    return y;
  },
  backward(ctx, g, [x, b]) {
    // a = x + b:  dx = dy gelu'(a),  db = sum over rows of dx;  gelu'(a) = Phi(a) + a phi(a)
    const [xs, bs] = ctx.saved as [Tensor, Tensor];
    const dx = Tensor.empty(x.shape, 'float32', 'biasGelu dx');
    launchBiasGeluBackward(xs.buffer(), bs.buffer(), g.buffer(), dx.buffer(), x.size, b.size);
    if (!ctx.needsGrad[1]) return [dx, null];
    const reduced = sumTo(dx, b.shape);
    const db = reduced === dx ? dx.view(dx.shape) : reduced; // x is [C]: db is dx itself
    if (!ctx.needsGrad[0]) {
      dx.dispose();
      return [null, db];
    }
    return [dx, db];
  },
});

/** gelu(x + b) for x [..., C] and b [C] (exact erf GELU, as `gelu`). */
export function biasGelu(x: Tensor, b: Tensor): Tensor {
  assertDtype('biasGelu', 'float32', x, b);
  if (x.rank === 0) throw new Error(`biasGelu: x must have rank >= 1 ([..., C]), got ${x.describe()}`);
  assertShape('biasGelu', b, [x.shape[x.rank - 1]!], `bias for x ${x.describe()}`);
  return biasGeluOp(x, b);
}

declare module '../tensor/tensor.js' {
  interface Tensor {
    biasGelu(b: Tensor): Tensor;
  }
}
Tensor.prototype.biasGelu = function (b) { return biasGelu(this, b); };
