// topk(x, k, axis = -1), torch.topk's: the k largest elements along an axis, largest first, and
// their indices (int32), from one kernel (src/kernels/wgsl/topk.ts: one pass over a row for k up
// to its cap of 32, a pass per 32 beyond). Ties: the lower index first (-0 ties with +0), the
// order of torch.sort(x, descending=True, stable=True)[:k]; torch.topk leaves the order of ties
// unspecified, and 1.13's CPU kernel does not keep this one (checked: 19 of 20 rows of small integers
// differed). NaN is larger than every number, as in torch. float16 input gives float16 values.
// The gradient of the values goes to x at their indices, zero elsewhere (torch's); the indices have
// none. k runs from 0 to the axis' size (a 0-d tensor, one element: k 1). Over another axis than
// the last, that axis is swapped with the last around the kernel, as softmax does.
// The op table holds topk as two entries, its values and its indices (an entry returns one tensor).
import { checkArgs, defineOp, withFront, type OpContext } from '../autograd/op.js';
import { launchTopk, launchTopkScatter } from '../kernels/wgsl/topk.js';
import { rowChunksOf } from '../kernels/wgsl/row.js';
import { checkAxis, checkInteger } from '../tensor/check.js';
import { zeros } from '../tensor/create.js';
import { freeOnThrow } from '../tensor/scope.js';
import { FLOAT_DTYPES, floatType, Tensor } from '../tensor/tensor.js';
import { cast } from './cast.js';
import { transpose } from './shape.js';

/** Where topk's forward hands its indices to the front (the op returns the values). */
export interface Found {
  indices: Tensor | null;
}

/** Rows and their length of x, the last axis being the rows' (a 0-d tensor: one row of one). */
const rowsOf = (x: Tensor) => {
  const V = x.shape[x.rank - 1] ?? 1;
  return { R: V ? x.size / V : 0, V };
};

const topkOp = defineOp({
  name: 'topk',
  dtypes: { input: FLOAT_DTYPES },
  forward(ctx: OpContext, x: Tensor, k: number, found: Found) {
    const { R, V } = rowsOf(x);
    const shape = ctx.out.shape;
    const values = Tensor.empty(shape, 'float32', 'topk');
    const indices = Tensor.empty(shape, 'int32', 'topk indices');
    if (R * k > 0) launchTopk(x.buffer(), values.buffer(), indices.buffer(), R, V, k, floatType(x.dtype));
    ctx.save(indices);
    found.indices = indices;
    if (x.dtype === 'float32') return values;
    const half = cast(values, 'float16'); // exact: each value is an element of x
    values.dispose();
    return half;
  },
  shape([x, k]) {
    const { R, V } = rowsOf(x);
    rowChunksOf('topk', `input ${x.describe()}`, R, V, floatType(x.dtype), k); // throws if a row is larger than a binding
    return { shape: x.rank ? [...x.shape.slice(0, -1), k] : [], dtype: x.dtype };
  },
  backward(ctx, g, [x, k]) {
    // d values[r, j] / d x[r, i] = 1 where indices[r, j] = i: g goes back to where each value came from
    const { R, V } = rowsOf(x);
    const dx = zeros(x.shape, g.dtype);
    const g32 = g.dtype === 'float32' ? g : cast(g, 'float32');
    if (R * k > 0) launchTopkScatter(g32.buffer(), ctx.saved[0]!.buffer(), dx.buffer(), R, V, k, floatType(g.dtype));
    if (g32 !== g) g32.dispose();
    return [dx];
  },
});

/** The k largest elements of `x` along `axis` (the last by default), largest first, and their indices (int32): torch.topk (see the header). */
export function topk(x: Tensor, k: number, axis = -1): [values: Tensor, indices: Tensor] {
  checkArgs(topkOp.spec, [x]);
  const ax = checkAxis('topk', 'axis', axis, x);
  const n = x.rank ? x.shape[ax]! : 1;
  const least = x.rank ? 0 : 1; // a 0-d result holds its one element
  checkInteger('topk', 'k', k, least, n, `an integer in [${least}, ${n}] (the size of axis ${ax} of ${x.describe()})`);
  const found: Found = { indices: null };
  if (ax >= x.rank - 1) return [topkOp(x, k, found), found.indices!];
  return freeOnThrow(() => {
    const rows = transpose(x, ax, -1);
    const values = topkOp(rows, k, found);
    const out: [Tensor, Tensor] = [transpose(values, ax, -1), transpose(found.indices!, ax, -1)];
    for (const t of [rows, values, found.indices!]) t.dispose(); // the graph holds what backward needs
    return out;
  });
}

/** topk's values alone (the op table's entry for them). */
export const topkValues = withFront(topkOp, (x: Tensor, k: number, axis?: number): Tensor => {
  const [values, indices] = topk(x, k, axis);
  indices.dispose();
  return values;
});

/** topk's indices alone (the op table's entry for them). */
export const topkIndices = withFront(topkOp, (x: Tensor, k: number, axis?: number): Tensor => {
  const [values, indices] = topk(x, k, axis);
  values.dispose();
  return indices;
});
