// softmax and logSoftmax over the last axis (stable), each one fused kernel forward and backward.
import { defineOp, withFront, type OpContext } from '../autograd/op.js';
import { launchSoftmax, launchSoftmaxBackward } from '../kernels/wgsl/softmax.js';
import { assertRank, checkAxis } from '../tensor/check.js';
import { Tensor } from '../tensor/tensor.js';

function softmaxOp(name: 'softmax' | 'logSoftmax') {
  const log = name === 'logSoftmax';
  const op = defineOp({
    name,
    dtypes: { input: ['float32'] },
    forward(ctx: OpContext, x: Tensor) {
      const C = x.shape[x.rank - 1] ?? 1;
      const y = Tensor.empty(x.shape, 'float32', name);
      launchSoftmax(log, x.buffer(), y.buffer(), C ? x.size / C : 0, C);
      ctx.save(y);
      return y;
    },
    shape: ([x]) => ({ shape: x.shape, dtype: 'float32' }),
    backward(ctx, g) {
      const y = ctx.saved[0]!;
      const C = y.shape[y.rank - 1] ?? 1;
      const dx = Tensor.empty(y.shape, 'float32', `${name} backward`);
      launchSoftmaxBackward(log, y.buffer(), g.buffer(), dx.buffer(), C ? y.size / C : 0, C);
      return [dx];
    },
  });
  return withFront(op, (x: Tensor, axis: number = -1): Tensor => {
    assertRank(name, x, 1);
    if (checkAxis(name, 'axis', axis, x) !== x.rank - 1) {
      throw new Error(`${name}: only the last axis is supported (got axis ${axis} for ${x.describe()}); permute first`);
    }
    return op(x);
  });
}

export const softmax = softmaxOp('softmax');
export const logSoftmax = softmaxOp('logSoftmax');
