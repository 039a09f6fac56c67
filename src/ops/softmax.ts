// softmax and logSoftmax over the last axis (stable), each one fused kernel forward and backward;
// float16 rows are computed in float32 (max, sums, exp) and rounded once. A tensor larger than a
// binding goes a chunk of rows at a time; a single row must fit one.
import { defineOp, withFront, type OpContext } from '../autograd/op.js';
import { rowChunksOf } from '../kernels/wgsl/row.js';
import { launchSoftmax, launchSoftmaxBackward } from '../kernels/wgsl/softmax.js';
import { assertRank, checkAxis, checkTensor } from '../tensor/check.js';
import { FLOAT_DTYPES, floatType, Tensor } from '../tensor/tensor.js';

function softmaxOp(name: 'softmax' | 'logSoftmax') {
  const log = name === 'logSoftmax';
  const op = defineOp({
    name,
    dtypes: { input: FLOAT_DTYPES },
    forward(ctx: OpContext, x: Tensor) {
      const C = x.shape[x.rank - 1] ?? 1;
      const y = Tensor.empty(x.shape, x.dtype, name);
      launchSoftmax(log, x.buffer(), y.buffer(), C ? x.size / C : 0, C, floatType(x.dtype));
      ctx.save(y);
      return y;
    },
    shape([x]) {
      const C = x.shape[x.rank - 1] ?? 1;
      rowChunksOf(name, `input ${x.describe()}`, C ? x.size / C : 0, C, floatType(x.dtype)); // throws if a row is larger than a binding
      return { shape: x.shape, dtype: x.dtype };
    },
    backward(ctx, g) {
      const y = ctx.saved[0]!;
      const C = y.shape[y.rank - 1] ?? 1;
      const dx = Tensor.empty(y.shape, y.dtype, `${name} backward`);
      launchSoftmaxBackward(log, y.buffer(), g.buffer(), dx.buffer(), C ? y.size / C : 0, C, floatType(y.dtype));
      return [dx];
    },
  });
  return withFront(op, (x: Tensor, axis: number = -1): Tensor => {
    checkTensor(name, 'input', x);
    assertRank(name, x, 1);
    if (checkAxis(name, 'axis', axis, x) !== x.rank - 1) {
      throw new Error(`${name}: only the last axis is supported (got axis ${axis} for ${x.describe()}); permute first`);
    }
    return op(x);
  });
}

export const softmax = softmaxOp('softmax');
export const logSoftmax = softmaxOp('logSoftmax');
