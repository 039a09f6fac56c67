// softmax and logSoftmax over the last axis (stable), each one fused kernel forward and backward;
// float16 rows are computed in float32 (max, sums, exp) and rounded once. A tensor larger than a
// binding goes a chunk of rows at a time; a single row must fit one. Over another axis (PyTorch's
// dim may be any), that axis is swapped with the last around the kernel: two transposes.
import { checkArgs, defineOp, withFront, type OpContext } from '../autograd/op.js';
import { rowChunksOf } from '../kernels/wgsl/row.js';
import { launchSoftmax, launchSoftmaxBackward } from '../kernels/wgsl/softmax.js';
import { checkAxis } from '../tensor/check.js';
import { freeOnThrow } from '../tensor/scope.js';
import { FLOAT_DTYPES, floatType, Tensor } from '../tensor/tensor.js';
import { transpose } from './shape.js';

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
    checkArgs(op.spec, [x]); // as given: another axis is transposed below
    const ax = checkAxis(name, 'axis', axis, x); // a 0-d tensor takes axis 0 or -1, as torch's: one row of one
    if (ax >= x.rank - 1) return op(x);
    return freeOnThrow(() => {
      const rows = transpose(x, ax, -1);
      const y = op(rows);
      const out = transpose(y, ax, -1);
      for (const t of [rows, y]) t.dispose(); // the graph holds what backward needs
      return out;
    });
  });
}

export const softmax = softmaxOp('softmax');
export const logSoftmax = softmaxOp('logSoftmax');
