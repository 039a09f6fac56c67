// Shape ops. reshape is free (a view of the same storage).
import { defineOp } from '../autograd/op.js';
import { formatShape, numel, type Shape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';

function resolveShape(op: string, t: Tensor, shape: Shape): number[] {
  const free = shape.filter((d) => d === -1).length;
  if (free > 1 || shape.some((d) => !Number.isInteger(d) || d < -1)) {
    throw new Error(`${op}: invalid target shape ${formatShape(shape)} for ${t.describe()}`);
  }
  const known = numel(shape.filter((d) => d !== -1));
  const out = shape.map((d) => (d === -1 ? (known === 0 ? 0 : t.size / known) : d));
  if (numel(out) !== t.size || out.some((d) => !Number.isInteger(d))) {
    throw new Error(`${op}: cannot reshape ${t.describe()} (${t.size} elements) to ${formatShape(shape)}`);
  }
  return out;
}

const reshapeOp = defineOp({
  name: 'reshape',
  forward(_ctx, a: Tensor, shape: number[]) {
    return a.view(shape);
  },
  backward(_ctx, g, [a]) {
    return [g.view(a.shape)];
  },
});

/** Same data, another shape (one dimension may be -1). Free: shares the storage. */
export function reshape(t: Tensor, shape: Shape): Tensor {
  return reshapeOp(t, resolveShape('reshape', t, shape));
}

declare module '../tensor/tensor.js' {
  interface Tensor {
    reshape(shape: Shape): Tensor;
  }
}
Tensor.prototype.reshape = function (shape) { return reshape(this, shape); };
