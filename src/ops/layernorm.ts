// layerNorm over the last axis with weight (and optional bias) of shape [C]; fused kernels forward
// and backward (see src/kernels/wgsl/layernorm.ts for the math). The forward writes mean and rstd
// per row, and the backward reuses them instead of recomputing the statistics. float16 tensors
// keep those statistics in float32 (and every sum: see the kernels).
import { defineOp, optional, withFront, type OpContext } from '../autograd/op.js';
import { launchLayerNorm, launchLayerNormBackward } from '../kernels/wgsl/layernorm.js';
import { numel } from '../tensor/shape.js';
import { FLOAT_DTYPES, floatType, Tensor } from '../tensor/tensor.js';
import { assertRank, assertShape, checkFloat32, showValue } from '../tensor/check.js';


const layerNormOp = defineOp({
  name: 'layerNorm',
  dtypes: { input: FLOAT_DTYPES, weight: FLOAT_DTYPES, bias: optional(FLOAT_DTYPES) },
  forward(ctx: OpContext, x: Tensor, w: Tensor, b: Tensor | null, eps: number) {
    const C = x.shape[x.rank - 1]!;
    const rows = numel(x.shape.slice(0, -1));
    const y = Tensor.empty(x.shape, x.dtype, 'layerNorm');
    const mean = Tensor.empty([rows], 'float32', 'layerNorm mean');
    const rstd = Tensor.empty([rows], 'float32', 'layerNorm rstd');
    launchLayerNorm({ x: x.buffer(), w: w.buffer(), bias: b?.buffer() ?? null, y: y.buffer(), mean: mean.buffer(), rstd: rstd.buffer() }, rows, C, eps, floatType(x.dtype));
    ctx.save(x, w, mean, rstd);
    mean.dispose();
    rstd.dispose();
    return y;
  },
  shape([x, w, b, eps]) {
    assertRank('layerNorm', x, 1);
    const C = x.shape[x.rank - 1]!;
    assertShape('layerNorm', w, [C], 'weight');
    if (b) assertShape('layerNorm', b, [C], 'bias');
    if (!(eps >= 0) || !Number.isFinite(eps)) throw new Error(`layerNorm: eps must be a finite number >= 0, got ${showValue(eps)}`);
    checkFloat32('layerNorm', 'eps', eps);
    return { shape: x.shape, dtype: x.dtype };
  },
  backward(ctx, g, [, , b]) {
    // xhat = (x - mean) rstd:  dx = rstd (dy w - mean(dy w) - xhat mean(dy w xhat)),
    // dw = sum_rows dy xhat,  db = sum_rows dy
    const [x, w, mean, rstd] = ctx.saved as [Tensor, Tensor, Tensor, Tensor];
    const C = x.shape[x.rank - 1]!;
    const wantWb = ctx.needsGrad[1]! || (!!b && ctx.needsGrad[2]!);
    const dx = ctx.needsGrad[0] ? Tensor.empty(x.shape, x.dtype, 'layerNorm dx') : null;
    const dw = wantWb ? Tensor.empty([C], x.dtype, 'layerNorm dw') : null;
    const db = wantWb ? Tensor.empty([C], x.dtype, 'layerNorm db') : null;
    launchLayerNormBackward(
      { x: x.buffer(), w: w.buffer(), mean: mean.buffer(), rstd: rstd.buffer(), dy: g.buffer(), dx: dx?.buffer() ?? null, dw: dw?.buffer() ?? null, db: db?.buffer() ?? null },
      mean.size,
      C,
      floatType(x.dtype),
    );
    if (!b) {
      db?.dispose();
      return [dx, dw];
    }
    return [dx, dw, db];
  },
});

/** y = (x - mean) / sqrt(var + eps) * weight + bias over the last axis (biased variance, as PyTorch); weight required (PyTorch's may be None). */
export const layerNorm = withFront(layerNormOp, (x: Tensor, weight: Tensor, bias?: Tensor | null, eps: number = 1e-5): Tensor =>
  layerNormOp(x, weight, bias ?? null, eps),
);
