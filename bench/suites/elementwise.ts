// Memory-bound ops at the GPT's shapes, in GB/s of logical traffic (each input read once, each
// output written once): softmax [B*T, V] and [B*NH*T, T], layerNorm [B*T, C], GELU [B*T, 4C],
// cross-entropy [B*T, V] with int32 targets. Each library uses its own op where it has one
// (TF.js: softmax, logSoftmax; jax-js: nn.softmax, nn.gelu, nn.logSoftmax, nn.oneHot) and composes
// the rest from primitives. Checked against float64 host references on every element.
// webgpu-torch 0.3.5 has elementwise ops on equal shapes and whole-tensor sums only (no softmax,
// no max, no reduction along a dimension, no broadcasting, no gather): of these ops it can
// compose GELU alone.
import { crossEntropy, layerNorm, softmax, tensor } from '../../src/ops/index.js';
import '../../src/ops/elementwise.js'; // x.gelu()
import { jaxCase, oursCase, tfCase, torchCase, torchTensor } from '../cases.js';
import { formatTol, na, randomFloats, randomInts, runCase, type Context, type Row, type Tolerance } from '../harness.js';
import { torchCannot, type Libs } from '../peers.js';

const GELU_K = Math.sqrt(2 / Math.PI);
const EPS = 1e-5;

function refSoftmax(x: Float32Array, rows: number, C: number): Float64Array {
  const y = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let c = 0; c < C; c++) m = Math.max(m, x[r * C + c]!);
    let s = 0;
    for (let c = 0; c < C; c++) s += y[r * C + c] = Math.exp(x[r * C + c]! - m);
    for (let c = 0; c < C; c++) y[r * C + c]! /= s;
  }
  return y;
}

function refLayerNorm(x: Float32Array, w: Float32Array, b: Float32Array, rows: number, C: number): Float64Array {
  const y = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let c = 0; c < C; c++) mean += x[r * C + c]!;
    mean /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[r * C + c]! - mean) ** 2;
    const rstd = 1 / Math.sqrt(v / C + EPS);
    for (let c = 0; c < C; c++) y[r * C + c] = (x[r * C + c]! - mean) * rstd * w[c]! + b[c]!;
  }
  return y;
}

const refGelu = (x: Float32Array) => Float64Array.from(x, (a) => 0.5 * a * (1 + Math.tanh(GELU_K * (a + 0.044715 * a ** 3))));

function refCrossEntropy(x: Float32Array, t: Int32Array, rows: number, V: number): Float64Array {
  let total = 0;
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let c = 0; c < V; c++) m = Math.max(m, x[r * V + c]!);
    let s = 0;
    for (let c = 0; c < V; c++) s += Math.exp(x[r * V + c]! - m);
    total += m + Math.log(s) - x[r * V + t[r]!]!;
  }
  return Float64Array.of(total / rows);
}

export async function elementwiseSuite(libs: Libs, ctx: Context): Promise<Row[]> {
  const rows: Row[] = [];
  const { tf, jax, torch } = libs;
  const add = async (
    name: string,
    bytes: number,
    tol: Tolerance,
    ref: Float64Array,
    ours: () => ReturnType<typeof oursCase>,
    tfjs: () => ReturnType<typeof tfCase>,
    jx: () => ReturnType<typeof jaxCase>,
    /** webgpu-torch's case, or why it cannot run this op. */
    wt: (() => ReturnType<typeof torchCase>) | string,
  ) => {
    ctx.log(`op ${name}`);
    rows.push({
      family: 'op',
      name,
      unit: 'GB/s',
      work: bytes,
      tolerance: `${formatTol(tol)} vs float64`,
      cells: {
        ours: await runCase(ctx, 'ours', ours, [ref], tol),
        tfjs: tf ? await runCase(ctx, 'tfjs', tfjs, [ref], tol) : na(libs.errors.tfjs!),
        jax: jax ? await runCase(ctx, 'jax', jx, [ref], tol) : na(libs.errors.jax!),
        webgpuTorch: typeof wt === 'string' ? torchCannot(libs, wt) : torch ? await runCase(ctx, 'webgpu-torch', wt, [ref], tol) : na(libs.errors.webgpuTorch!),
      },
    });
  };

  // softmax over the last axis: logits [768, 65] and attention scores [48*64, 64]
  for (const [R, C, what] of [[768, 65, 'logits'], [48 * 64, 64, 'attention']] as const) {
    const x = randomFloats(R * C, 21 + C, -4, 4);
    await add(
      `softmax [${R}x${C}] (${what})`,
      2 * R * C * 4,
      { atol: 1e-6, rtol: 1e-4 },
      refSoftmax(x, R, C),
      () => oursCase([tensor(x, [R, C])], ([a]) => [softmax(a!)]),
      () => tfCase(tf!, [tf!.tensor(x, [R, C])], ([a]) => [tf!.softmax(a!)]),
      () => jaxCase(jax!, [jax!.numpy.array(x).reshape([R, C])], (a) => [jax!.nn.softmax(a!, -1)]),
      'no softmax, and no max or sum along a dimension to compose it',
    );
  }

  {
    const R = 768;
    const C = 128;
    const x = randomFloats(R * C, 31, -2, 2);
    const w = randomFloats(C, 32, 0.5, 1.5);
    const b = randomFloats(C, 33, -0.5, 0.5);
    await add(
      `layerNorm [${R}x${C}]`,
      (2 * R * C + 2 * C) * 4,
      { atol: 1e-4, rtol: 1e-4 },
      refLayerNorm(x, w, b, R, C),
      () => oursCase([tensor(x, [R, C]), tensor(w, [C]), tensor(b, [C])], ([a, g, h]) => [layerNorm(a!, g!, h!, EPS)]),
      () =>
        tfCase(tf!, [tf!.tensor(x, [R, C]), tf!.tensor(w, [C]), tf!.tensor(b, [C])], ([a, g, h]) => {
          const T = tf!;
          const { mean, variance } = T.moments(a!, -1, true);
          return [T.add(T.mul(T.mul(T.sub(a!, mean), T.rsqrt(T.add(variance, EPS))), g!), h!)];
        }),
      () => {
        const np = jax!.numpy;
        return jaxCase(jax!, [np.array(x).reshape([R, C]), np.array(w), np.array(b)], (a, g, h) => {
          const xc = a!.ref.sub(np.mean(a!, -1, { keepdims: true }));
          const variance = np.mean(np.square(xc.ref), -1, { keepdims: true });
          return [xc.mul(np.reciprocal(np.sqrt(variance.add(EPS)))).mul(g!).add(h!)];
        });
      },
      'no layer norm (nn.GroupNorm has no forward), no mean along a dimension, no broadcasting',
    );
  }

  {
    const R = 768;
    const C = 512;
    const x = randomFloats(R * C, 41, -4, 4);
    await add(
      `GELU (tanh) [${R}x${C}]`,
      2 * R * C * 4,
      { atol: 1e-5, rtol: 1e-4 },
      refGelu(x),
      () => oursCase([tensor(x, [R, C])], ([a]) => [a!.geluTanh()]),
      () =>
        tfCase(tf!, [tf!.tensor(x, [R, C])], ([a]) => {
          const T = tf!;
          const inner = T.mul(T.add(a!, T.mul(T.mul(T.mul(a!, a!), a!), 0.044715)), GELU_K);
          return [T.mul(T.mul(a!, 0.5), T.add(T.tanh(inner), 1))];
        }),
      () => jaxCase(jax!, [jax!.numpy.array(x).reshape([R, C])], (a) => [jax!.nn.gelu(a!, { approximate: true })]),
      // no gelu, no scalar operands or broadcasting, and add/mul ignore their alpha: the constants
      // are tensors of x's shape, uploaded once with the input
      () => {
        const full = (v: number) => torchTensor(torch!, new Float32Array(R * C).fill(v), [R, C]);
        return torchCase([torchTensor(torch!, x, [R, C]), full(GELU_K), full(0.044715 * GELU_K), full(0.5)], ([a, k, k3, h], temp) => {
          const inner = temp(a!.mul(temp(temp(temp(a!.mul(a!)).mul(k3!)).add(k!)))); // K·x·(1 + 0.044715·x²)
          const half = temp(a!.mul(h!));
          return [half.add(temp(half.mul(temp(inner.tanh()))))]; // x/2 + x/2·tanh(inner)
        });
      },
    );
  }

  {
    const R = 768;
    const V = 65;
    const x = randomFloats(R * V, 51, -4, 4);
    const t = randomInts(R, 52, V);
    await add(
      `cross-entropy [${R}x${V}] int32 targets`,
      (R * V + R + 1) * 4,
      { atol: 1e-5, rtol: 1e-5 },
      refCrossEntropy(x, t, R, V),
      () => oursCase([tensor(x, [R, V]), tensor(t, [R])], ([a, y]) => [crossEntropy(a!, y!)]),
      () =>
        tfCase(tf!, [tf!.tensor(x, [R, V]), tf!.tensor(t, [R], 'int32')], ([a, y]) => {
          const T = tf!;
          const onehot = T.cast(T.oneHot(y as import('@tensorflow/tfjs-core').Tensor1D, V), 'float32');
          return [T.neg(T.mean(T.sum(T.mul(T.logSoftmax(a!), onehot), -1)))];
        }),
      () => {
        const np = jax!.numpy;
        return jaxCase(jax!, [np.array(x).reshape([R, V]), np.array(t, { dtype: np.int32 })], (a, y) => [
          np.mean(np.sum(jax!.nn.logSoftmax(a!, -1).mul(jax!.nn.oneHot(y!, V)), -1)).neg(),
        ]);
      },
      'no log-softmax or cross-entropy, and no max, gather or one-hot to compose it',
    );
  }
  return rows;
}
