// biasGelu(x, b) = gelu(x + b), exact (erf) GELU, with b [C] added along the last axis of x [..., C]:
// the MLP's c_fc bias and activation in one forward and one backward dispatch (plus db's reduction)
// instead of add + gelu, and without materialising x + b. WGSL in src/kernels/wgsl/bias-gelu.ts;
// x larger than a binding goes in pieces, the bias (a row of x) must fit one.
import { defineOp, type OpContext } from '../autograd/op.js';
import { floatBytes, rowChunks } from '../kernels/kernel.js';
import { launchBiasGelu, launchBiasGeluBackward } from '../kernels/wgsl/bias-gelu.js';
import { FLOAT_DTYPES, floatType, Tensor } from '../tensor/tensor.js';
import { assertRank, assertShape } from '../tensor/check.js';
import { sumTo } from './broadcast.js';

/** gelu(x + b) for x [..., C] and b [C] (exact erf GELU, as `gelu`). */
export const biasGelu = defineOp({
  name: 'biasGelu',
  dtypes: { input: FLOAT_DTYPES, bias: FLOAT_DTYPES },
  forward(ctx: OpContext, x: Tensor, b: Tensor) {
    const C = b.size;
    const y = Tensor.empty(x.shape, x.dtype, 'biasGelu');
    launchBiasGelu(x.buffer('biasGelu'), b.buffer('biasGelu'), y.buffer(), x.size, C, floatType(x.dtype));
    ctx.save(x, b);
    return y;
  },
  shape([x, b]) {
    assertRank('biasGelu', x, 1, 'input [..., C]');
    assertShape('biasGelu', b, [x.shape[x.rank - 1]!], `bias for x ${x.describe()}`);
    rowChunks(x.size / Math.max(b.size, 1), b.size * floatBytes(floatType(x.dtype)), 'biasGelu', `input ${x.describe()}`); // throws if a row (the bias) is larger than a binding
    return { shape: x.shape, dtype: x.dtype };
  },
  backward(ctx, g, [x, b]) {
    // a = x + b:  dx = dy gelu'(a),  db = sum over rows of dx;  gelu'(a) = Phi(a) + a phi(a)
    const [xs, bs] = ctx.saved as [Tensor, Tensor];
    const dx = Tensor.empty(x.shape, x.dtype, 'biasGelu dx');
    launchBiasGeluBackward(xs.buffer(), bs.buffer(), g.buffer(), dx.buffer(), x.size, b.size, floatType(x.dtype));
    if (!ctx.needsGrad[1]) return [dx, null];
    const db = sumTo(dx, b.shape); // x is [C]: a view of dx
    if (!ctx.needsGrad[0]) {
      dx.dispose();
      return [null, db];
    }
    return [dx, db];
  },
});
