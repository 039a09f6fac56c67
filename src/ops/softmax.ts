// softmax and logSoftmax over the last axis (stable), each one fused kernel forward and backward.
import { defineOp } from '../autograd/op.js';
import { launchSoftmax, launchSoftmaxBackward } from '../kernels/wgsl/softmax.js';
import { normAxis } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { assertDtype } from '../tensor/check.js';

function softmaxOp(name: 'softmax' | 'logSoftmax') {
  const log = name === 'logSoftmax';
  const op = defineOp({
    name,
    forward(ctx, x: Tensor) {
      assertDtype(name, 'float32', x);
      const C = x.shape[x.rank - 1] ?? 1;
      const y = Tensor.empty(x.shape, 'float32', name);
      launchSoftmax(log, x.buffer(), y.buffer(), C ? x.size / C : 0, C);
      ctx.save(y);
      return y;
    },
    backward(ctx, g) {
      const y = ctx.saved[0]!;
      const C = y.shape[y.rank - 1] ?? 1;
      const dx = Tensor.empty(y.shape, 'float32', `${name} backward`);
      launchSoftmaxBackward(log, y.buffer(), g.buffer(), dx.buffer(), C ? y.size / C : 0, C);
      return [dx];
    },
  });
  return (x: Tensor, axis = -1): Tensor => {
    if (x.rank === 0) throw new Error(`${name}: expected a tensor of rank >= 1, got ${x.describe()}`);
    if (normAxis(name, axis, x.rank) !== x.rank - 1) {
      throw new Error(`${name}: only the last axis is supported (got axis ${axis} for ${x.describe()}); permute first`);
    }
    return op(x);
  };
}

export const softmax = softmaxOp('softmax');
export const logSoftmax = softmaxOp('logSoftmax');

declare module '../tensor/tensor.js' {
  interface Tensor {
    softmax(axis?: number): Tensor;
    logSoftmax(axis?: number): Tensor;
  }
}
Tensor.prototype.softmax = function (axis) { return softmax(this, axis); };
Tensor.prototype.logSoftmax = function (axis) { return logSoftmax(this, axis); };
