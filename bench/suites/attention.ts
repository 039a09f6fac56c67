// Causal self-attention from primitives, B=12, NH=4, T=64, HS=32 (the nanoGPT-CPU config):
//   scores = q·kᵀ / sqrt(HS) [B, NH, T, T];  masked = where(qpos >= kpos, scores, -1e9)
//   y = softmax(masked) · v [B, NH, T, HS]
// Ours as in src/nn/transformer.ts (mask built from aranges each call, where, softmax, matmuls);
// TF.js and jax-js the same with their ops. Forward: y. Forward + backward: the gradients of
// sum(y * w) (w a fixed random cotangent) with respect to q, k and v. Checked against float64.
import { where } from '../../src/ops/elementwise.js';
import { matmul } from '../../src/ops/matmul.js';
import { softmax } from '../../src/ops/softmax.js';
import '../../src/ops/index.js';
import { arange, tensor } from '../../src/tensor/create.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { jaxCase, oursCase, tfCase } from '../cases.js';
import { formatTol, na, randomFloats, runCase, type Context, type Row, type Tolerance } from '../harness.js';
import type { Libs } from '../peers.js';

const B = 12;
const NH = 4;
const T = 64;
const HS = 32;
const SHAPE = [B, NH, T, HS];
const SCALE = 1 / Math.sqrt(HS);

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

function oursAttention(q: Tensor, k: Tensor, v: Tensor): Tensor {
  const scores = matmul(q, k, { transB: true }).mul(SCALE); // [B, NH, T, T]
  const mask = arange(T).reshape([T, 1]).astype('float32').ge(arange(T).reshape([1, T]).astype('float32'));
  return matmul(softmax(where(mask, scores, -1e9), -1), v); // [B, NH, T, HS]
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
  const oursInputs = (grad: boolean) => [q, k, v, w].map((x, i) => (grad && i < 3 ? tensor(x, SHAPE).requiresGrad_() : tensor(x, SHAPE)));
  const tfInputs = () => [q, k, v, w].map((x) => tf!.tensor(x, SHAPE));
  const jaxInputs = () => [q, k, v, w].map((x) => jax!.numpy.array(x).reshape(SHAPE));

  ctx.log(`attention forward B=${B} NH=${NH} T=${T} HS=${HS}`);
  rows.push({
    family: 'attention',
    name: `causal fwd B${B} NH${NH} T${T} HS${HS}`,
    unit: 'ms',
    tolerance: `${formatTol(tol)} vs float64`,
    cells: {
      ours: await runCase(ctx, 'ours', () => oursCase(oursInputs(false), ([a, b, c]) => [oursAttention(a!, b!, c!)]), [ref.y], tol),
      tfjs: tf ? await runCase(ctx, 'tfjs', () => tfCase(tf, tfInputs(), ([a, b, c]) => [tfAttention(a!, b!, c!)]), [ref.y], tol) : na(libs.errors.tfjs!),
      jax: jax ? await runCase(ctx, 'jax', () => jaxCase(jax, jaxInputs(), (a, b, c, d) => (d!.dispose(), [jaxAttention(a!, b!, c!)])), [ref.y], tol) : na(libs.errors.jax!),
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
          oursCase(oursInputs(true), ([a, b, c, d]) => {
            oursAttention(a!, b!, c!).mul(d!).sum().backward();
            const g = [a!.grad!, b!.grad!, c!.grad!];
            a!.grad = b!.grad = c!.grad = null; // the caller owns (and frees) them now
            return g;
          }),
        grads,
        tol,
        names,
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
    },
  });
  return rows;
}
