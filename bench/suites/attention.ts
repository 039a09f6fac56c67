// Causal self-attention, B=12, NH=4, T=64, HS=32 (the nanoGPT-CPU config):
//   scores = q·kᵀ / sqrt(HS) [B, NH, T, T];  masked = where(qpos >= kpos, scores, -1e9)
//   y = softmax(masked) · v [B, NH, T, HS]
// Ours is the fused kernel the model uses (causalAttention over packed q|k|v rows [B, T, 3C],
// heads merged in y [B, T, C]; the packing is done on the host, outside the timing); TF.js and
// jax-js compose it from their ops (mask, where, softmax, matmuls). Forward: y. Forward +
// backward: the gradients of sum(y * w) (w a fixed random cotangent) with respect to q, k and v.
// Checked against float64.
import '../../src/ops/index.js';
import { causalAttention, tensor } from '../../src/ops/index.js';
import { jaxCase, oursCase, tfCase } from '../cases.js';
import { formatTol, na, randomFloats, runCase, type Context, type Row, type Tolerance } from '../harness.js';
import { torchCannot, type Libs } from '../peers.js';

const B = 12;
const NH = 4;
const T = 64;
const HS = 32;
const SHAPE = [B, NH, T, HS];
const SCALE = 1 / Math.sqrt(HS);
/** webgpu-torch 0.3.5 has 2-D mm only, no softmax, no max and no broadcasting to compose one. */
const NO_TORCH_ATTENTION = 'no batched matmul or softmax';

/** float64 forward and backward of causal attention, head by head. */
function reference(q: Float32Array, k: Float32Array, v: Float32Array, w: Float32Array) {
  const n = B * NH * T * HS;
  const y = new Float64Array(n);
  const dq = new Float64Array(n);
  const dk = new Float64Array(n);
  const dv = new Float64Array(n);
  const P = new Float64Array(T * T);
  const dP = new Float64Array(T * T);
  for (let h = 0; h < B * NH; h++) {
    const o = h * T * HS;
    for (let i = 0; i < T; i++) {
      let m = -Infinity;
      for (let j = 0; j <= i; j++) {
        let s = 0;
        for (let d = 0; d < HS; d++) s += q[o + i * HS + d]! * k[o + j * HS + d]!;
        P[i * T + j] = s * SCALE;
        m = Math.max(m, s * SCALE);
      }
      let z = 0;
      for (let j = 0; j <= i; j++) z += P[i * T + j] = Math.exp(P[i * T + j]! - m);
      for (let j = 0; j <= i; j++) P[i * T + j]! /= z;
      for (let j = 0; j <= i; j++) {
        let dp = 0;
        for (let d = 0; d < HS; d++) {
          y[o + i * HS + d]! += P[i * T + j]! * v[o + j * HS + d]!;
          dp += w[o + i * HS + d]! * v[o + j * HS + d]!; // dP = dY · Vᵀ
          dv[o + j * HS + d]! += P[i * T + j]! * w[o + i * HS + d]!; // dV = Pᵀ · dY
        }
        dP[i * T + j] = dp;
      }
      let dot = 0;
      for (let j = 0; j <= i; j++) dot += P[i * T + j]! * dP[i * T + j]!;
      for (let j = 0; j <= i; j++) {
        const ds = P[i * T + j]! * (dP[i * T + j]! - dot) * SCALE; // softmax backward, then the scale
        for (let d = 0; d < HS; d++) {
          dq[o + i * HS + d]! += ds * k[o + j * HS + d]!;
          dk[o + j * HS + d]! += ds * q[o + i * HS + d]!;
        }
      }
    }
  }
  return { y, dq, dk, dv };
}

/** [B, NH, T, HS] head-major arrays -> one [B, T, parts * C] row-major array (q | k | v ...). */
function packRows(parts: ArrayLike<number>[]): Float32Array {
  const C = NH * HS;
  const out = new Float32Array(B * T * parts.length * C);
  parts.forEach((x, part) => {
    for (let b = 0; b < B; b++)
      for (let h = 0; h < NH; h++)
        for (let t = 0; t < T; t++)
          for (let d = 0; d < HS; d++) out[(b * T + t) * parts.length * C + part * C + h * HS + d] = x[((b * NH + h) * T + t) * HS + d]!;
  });
  return out;
}

export async function attentionSuite(libs: Libs, ctx: Context): Promise<Row[]> {
  const { tf, jax } = libs;
  const n = B * NH * T * HS;
  const [q, k, v] = [61, 62, 63].map((s) => randomFloats(n, s, -1, 1)) as [Float32Array, Float32Array, Float32Array];
  const w = randomFloats(n, 64, -1, 1);
  const ref = reference(q, k, v, w);
  const tol: Tolerance = { atol: 2e-5, rtol: 1e-4 };
  const rows: Row[] = [];

  type TFT = import('@tensorflow/tfjs-core').Tensor;
  const tfAttention = (a: TFT, b: TFT, c: TFT): TFT => {
    const t = tf!;
    const scores = t.mul(t.matMul(a, b, false, true), SCALE);
    const mask = t.greaterEqual(t.reshape(t.range(0, T), [T, 1]), t.reshape(t.range(0, T), [1, T]));
    return t.matMul(t.softmax(t.where(mask, scores, t.scalar(-1e9))), c);
  };
  type JA = import('@jax-js/jax').Array;
  const jaxAttention = (a: JA, b: JA, c: JA): JA => {
    const { numpy: np, nn } = jax!;
    const scores = np.matmul(a, np.swapaxes(b, -1, -2)).mul(SCALE);
    const mask = np.greaterEqual(np.arange(T).reshape([T, 1]), np.arange(T).reshape([1, T]));
    return np.matmul(nn.softmax(np.where(mask, scores, -1e9), -1), c);
  };
  const C3 = 3 * NH * HS;
  const oursInputs = (grad: boolean) => {
    const qkv = tensor(packRows([q, k, v]), [B, T, C3]);
    return [grad ? qkv.requiresGrad_() : qkv, tensor(packRows([w]), [B, T, C3 / 3])];
  };
  const oursY = [Float64Array.from(packRows([ref.y]))];
  const oursGrad = [Float64Array.from(packRows([ref.dq, ref.dk, ref.dv]))];
  const tfInputs = () => [q, k, v, w].map((x) => tf!.tensor(x, SHAPE));
  const jaxInputs = () => [q, k, v, w].map((x) => jax!.numpy.array(x).reshape(SHAPE));

  ctx.log(`attention forward B=${B} NH=${NH} T=${T} HS=${HS}`);
  rows.push({
    family: 'attention',
    name: `causal fwd B${B} NH${NH} T${T} HS${HS}`,
    unit: 'ms',
    tolerance: `${formatTol(tol)} vs float64`,
    cells: {
      ours: await runCase(ctx, 'ours', () => oursCase(oursInputs(false), ([qkv]) => [causalAttention(qkv!, NH)]), oursY, tol),
      tfjs: tf ? await runCase(ctx, 'tfjs', () => tfCase(tf, tfInputs(), ([a, b, c]) => [tfAttention(a!, b!, c!)]), [ref.y], tol) : na(libs.errors.tfjs!),
      jax: jax ? await runCase(ctx, 'jax', () => jaxCase(jax, jaxInputs(), (a, b, c, d) => (d!.dispose(), [jaxAttention(a!, b!, c!)])), [ref.y], tol) : na(libs.errors.jax!),
      webgpuTorch: torchCannot(libs, NO_TORCH_ATTENTION),
    },
  });

  ctx.log('attention forward + backward');
  const grads = [ref.dq, ref.dk, ref.dv];
  const names = ['dq', 'dk', 'dv'];
  rows.push({
    family: 'attention',
    name: `causal fwd+bwd B${B} NH${NH} T${T} HS${HS}`,
    unit: 'ms',
    tolerance: `${formatTol(tol)} vs float64 (dq, dk, dv)`,
    cells: {
      ours: await runCase(
        ctx,
        'ours',
        () =>
          oursCase(oursInputs(true), ([qkv, d]) => {
            causalAttention(qkv!, NH).mul(d!).sum().backward();
            const g = qkv!.grad!;
            qkv!.grad = null; // the caller owns (and frees) it now
            return [g];
          }),
        oursGrad,
        tol,
        ['dqkv'],
      ),
      tfjs: tf
        ? await runCase(
            ctx,
            'tfjs',
            () => tfCase(tf, tfInputs(), ([a, b, c, d]) => tf.grads((x: TFT, y: TFT, z: TFT) => tf.sum(tf.mul(tfAttention(x, y, z), d!)))([a!, b!, c!])),
            grads,
            tol,
            names,
          )
        : na(libs.errors.tfjs!),
      jax: jax
        ? await runCase(
            ctx,
            'jax',
            () => {
              const loss = (a: JA, b: JA, c: JA, d: JA) => jax.numpy.sum(jaxAttention(a, b, c).mul(d));
              const g = jax.grad(loss, { argnums: [0, 1, 2] });
              return jaxCase(jax, jaxInputs(), (a, b, c, d) => g(a!, b!, c!, d!) as JA[]);
            },
            grads,
            tol,
            names,
          )
        : na(libs.errors.jax!),
      webgpuTorch: torchCannot(libs, `${NO_TORCH_ATTENTION}; mm has no gradient`),
    },
  });
  return rows;
}
