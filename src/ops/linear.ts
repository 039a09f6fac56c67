// linear(x [..., K], weight [N, K], bias [N] or none) = x · weightᵀ + bias: a Linear layer's product and
// bias in one op, so that where the product is skinny (decoding's few rows: matmul-skinny.ts adds
// the bias as it stores, matmulAddsBias) a layer is one dispatch, not two; elsewhere the product,
// then the add, the two ops it stands for (the same numbers). Backward: those ops' rules,
//   dx = dy · weight,   dweight = dyᵀ · x (rows folded),   dbias = dy summed over the rows.
import { defineOp, optional, withFront, type OpContext } from '../autograd/op.js';
import { matmulAddsBias, launchMatmul } from '../kernels/wgsl/matmul.js';
import { FLOAT_DTYPES, floatType, Tensor } from '../tensor/tensor.js';
import { assertRank, assertShape } from '../tensor/check.js';
import { numel } from '../tensor/shape.js';
import { sumTo } from './broadcast.js';
import { add } from './elementwise.js';
import { matmul } from './matmul.js';
import { fitsOneLaunch } from './matmul-blocks.js';

const NO_DIMS: readonly number[] = [];
/** x's rows: the product of its leading dims (not x.size / K, which is NaN where K = 0). */
const rowsOf = (x: Tensor) => numel(x.shape.slice(0, -1));

/** x [..., K] and weight [N, K], or a one-line error. */
function checkWeight(x: Tensor, w: Tensor): void {
  assertRank('linear', x, 1, 'input [..., K]');
  if (w.rank !== 2 || w.shape[1] !== x.shape.at(-1)) throw new Error(`linear: weight ${w.describe()} must be [N, K] for input ${x.describe()} (K = ${x.shape.at(-1)})`);
}

/** x · weightᵀ + bias, for x [..., K], weight [N, K] (PyTorch's Linear layout) and bias [N] or null. */
const linearOp = defineOp({
  name: 'linear',
  dtypes: { input: FLOAT_DTYPES, weight: FLOAT_DTYPES, bias: optional(FLOAT_DTYPES) },
  forward(ctx: OpContext, x: Tensor, w: Tensor, b: Tensor | null) {
    ctx.save(x, w);
    if (!b) return matmul(x, w, { transB: true });
    const [N, K] = w.shape as [number, number];
    const plan = { M: rowsOf(x), N, K, transA: false, transB: true, batchShape: NO_DIMS, aStrides: NO_DIMS, bStrides: NO_DIMS, float: floatType(x.dtype) };
    if (matmulAddsBias(plan) && fitsOneLaunch(plan, x.size, w.size)) {
      const y = Tensor.empty([...x.shape.slice(0, -1), N], x.dtype, 'linear');
      launchMatmul(x.buffer('linear'), w.buffer('linear'), y.buffer(), { ...plan, bias: b.buffer('linear') });
      return y;
    }
    const y = matmul(x, w, { transB: true });
    const out = add(y, b);
    y.dispose();
    return out;
  },
  shape([x, w, b]) {
    checkWeight(x, w);
    if (b) assertShape('linear', b, [w.shape[0]!], `bias for weight ${w.describe()}`);
    return { shape: [...x.shape.slice(0, -1), w.shape[0]!], dtype: x.dtype };
  },
  backward(ctx, g, [, , b]) {
    const [x, w] = ctx.saved as [Tensor, Tensor];
    const [N, K] = w.shape as [number, number];
    const dx = ctx.needsGrad[0] ? matmul(g, w) : null;
    let dw: Tensor | null = null;
    if (ctx.needsGrad[1]) {
      const rows = rowsOf(x);
      const [g2, x2] = [g.alias([rows, N]), x.alias([rows, K])];
      dw = matmul(g2, x2, { transA: true });
      g2.dispose();
      x2.dispose();
    }
    if (!b) return [dx, dw]; // a gradient per tensor input
    return [dx, dw, ctx.needsGrad[2] ? sumTo(g, b.shape) : null];
  },
});

/** x · weightᵀ (+ bias), for x [..., K], weight [N, K] (PyTorch's Linear layout) and bias [N]; as torch's F.linear, the bias may be left out (or null). */
export const linear = withFront(linearOp, (x: Tensor, w: Tensor, b?: Tensor | null): Tensor => linearOp(x, w, b ?? null));
