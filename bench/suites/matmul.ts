// Matmul GFLOP/s: square sizes, the GPT linear layers of the nanoGPT-CPU config (B*T = 768 rows,
// C = 128) and the batched attention products (B*NH = 48 heads, T = 64, HS = 32). Checked against
// a float64 host product on a sample of output entries (webgpu-torch: 2-D products only). Where the adapter has shader-f16, each
// shape gets a float16 row beside it (ours only: f16 operands and result, f32 accumulation),
// checked against the float64 product of the f16-rounded operands: the float32 products' kernels
// with f16 operands, and a 'float16 subgroup-matrix' row for the tensor-core kernel where the
// adapter has chromium-experimental-subgroup-matrix (else n/a with why).
import { device } from '../../src/device/device.js';
import { profile, setProfile, type ProfileOverrides } from '../../src/kernels/profile.js';
import { matmul, tensor } from '../../src/ops/index.js';
import { f16BitsToF32, f32ToF16Bits } from '../../src/tensor/half.js';
import { oursCase, tfCase, jaxCase, torchCase, torchTensor } from '../cases.js';
import { na, peersNa, pick, randomFloats, runCase, formatTol, type Context, type Row, type Tolerance } from '../harness.js';
import type { Libs } from '../peers.js';

interface Shape {
  name: string;
  batch: number;
  M: number;
  K: number;
  N: number;
}

function shapes(ctx: Context): Shape[] {
  const square = (n: number): Shape => ({ name: `${n}x${n}x${n}`, batch: 1, M: n, K: n, N: n });
  if (ctx.matmulSquare) return ctx.matmulSquare.map(square);
  // 8192³ (1.1 TFLOP a product) only where a product takes milliseconds, not minutes
  const big = [256, 512, 1024, 2048, 4096, ...(device().info.isFallbackAdapter ? [] : [8192])];
  const sizes = ctx.smoke ? [256] : ctx.big ? big : [256, 512, 1024];
  return [
    ...sizes.map(square),
    { name: 'GPT c_attn [768x128]·[128x384]', batch: 1, M: 768, K: 128, N: 384 },
    { name: 'GPT attn c_proj [768x128]·[128x128]', batch: 1, M: 768, K: 128, N: 128 },
    { name: 'GPT c_fc [768x128]·[128x512]', batch: 1, M: 768, K: 128, N: 512 },
    { name: 'GPT mlp c_proj [768x512]·[512x128]', batch: 1, M: 768, K: 512, N: 128 },
    { name: 'attn q·kT 48x[64x32]·[32x64]', batch: 48, M: 64, K: 32, N: 64 },
    { name: 'attn att·v 48x[64x64]·[64x32]', batch: 48, M: 64, K: 64, N: 32 },
  ];
}

const SAMPLES = 512; // output entries checked against the float64 reference

/** The float64 product of a and b ([batch, M, K] · [batch, K, N]) at flat output indices idx. */
function sampledProduct(a: Float32Array, b: Float32Array, { M, K, N }: Shape, idx: readonly number[]): number[] {
  return idx.map((o) => {
    const bi = Math.floor(o / (M * N));
    const i = Math.floor((o % (M * N)) / N);
    const j = o % N;
    let acc = 0;
    for (let k = 0; k < K; k++) acc += a[bi * M * K + i * K + k]! * b[bi * K * N + k * N + j]!;
    return acc;
  });
}

const toHalf = (v: number) => f16BitsToF32(f32ToF16Bits(v));

export async function matmulSuite(libs: Libs, ctx: Context): Promise<Row[]> {
  const rows: Row[] = [];
  for (const s of shapes(ctx)) {
    const { batch, M, K, N } = s;
    const aShape = batch > 1 ? [batch, M, K] : [M, K];
    const bShape = batch > 1 ? [batch, K, N] : [K, N];
    const a = randomFloats(batch * M * K, 11 + M);
    const b = randomFloats(batch * K * N, 12 + N);
    // sampled float64 reference
    const total = batch * M * N;
    const idx = Array.from({ length: Math.min(SAMPLES, total) }, (_, i) => Math.floor((i * total) / Math.min(SAMPLES, total)));
    const ref = sampledProduct(a, b, s, idx);
    // inputs in [-1, 1): |sum| <= K, float32 rounding grows with K
    const tol: Tolerance = { atol: 4e-6 * K, rtol: 1e-4 };
    // 8192³: #13 asks for ours alone; three peers more would cost a GPU session half a minute
    const peersSkip = M >= 8192 ? 'not run at 8192³ (ours only: a GPU session has minutes)' : undefined;
    // webgpu-torch's mm is 2-D only: no bmm or batched matmul, and no view or slicing to loop over the heads
    const torchSkip = peersSkip ?? (batch > 1 ? 'mm is 2-D only: no batched matmul' : undefined);
    ctx.log(`matmul ${s.name}`);
    const row: Row = {
      family: 'matmul',
      name: s.name,
      unit: 'GFLOP/s',
      work: 2 * batch * M * N * K,
      tolerance: `${formatTol(tol)} on ${idx.length} sampled entries vs float64`,
      cells: {
        ours: await runCase(ctx, 'ours', () => pick(oursCase([tensor(a, aShape), tensor(b, bShape)], ([x, y]) => [matmul(x!, y!)]), [idx]), [ref], tol),
        tfjs: libs.tf && !peersSkip
          ? await runCase(ctx, 'tfjs', () => {
              const tf = libs.tf!;
              return pick(tfCase(tf, [tf.tensor(a, aShape), tf.tensor(b, bShape)], ([x, y]) => [tf.matMul(x!, y!)]), [idx]);
            }, [ref], tol)
          : na(peersSkip ?? libs.errors.tfjs!),
        jax: libs.jax && !peersSkip
          ? await runCase(ctx, 'jax', () => {
              const { numpy: np } = libs.jax!;
              return pick(jaxCase(libs.jax!, [np.array(a).reshape(aShape), np.array(b).reshape(bShape)], (x, y) => [np.matmul(x!, y!)]), [idx]);
            }, [ref], tol)
          : na(peersSkip ?? libs.errors.jax!),
        webgpuTorch: libs.torch && !torchSkip
          ? await runCase(ctx, 'webgpu-torch', () => {
              const torch = libs.torch!;
              return pick(torchCase([torchTensor(torch, a, aShape), torchTensor(torch, b, bShape)], ([x, y]) => [x!.mm(y!)]), [idx]);
            }, [ref], tol)
          : na(torchSkip ?? libs.errors.webgpuTorch!),
      },
    };
    rows.push(row);
    if (!profile().f16) continue;
    // float16: the result is rounded to f16 once (2^-11 relative) after an f32 sum
    const [a16, b16] = [a.map(toHalf), b.map(toHalf)];
    const tol16: Tolerance = { atol: 4e-6 * K, rtol: 2 ** -10 };
    ctx.log(`matmul ${s.name} float16`);
    const ref16 = sampledProduct(a16, b16, s, idx);
    const tensorCores = profile().matmul.subgroupMatrix;
    const half = async (overrides: ProfileOverrides) => {
      setProfile(overrides);
      try {
        return await runCase(ctx, 'ours', () => pick(oursCase([tensor(a16, aShape, 'float16'), tensor(b16, bShape, 'float16')], ([x, y]) => [matmul(x!, y!)]), [idx]), [ref16], tol16);
      } finally {
        setProfile(null);
      }
    };
    const halfRow = (name: string, ours: Row['cells']['ours']): Row => ({
      ...row,
      name,
      tolerance: `${formatTol(tol16)} on ${idx.length} sampled entries vs float64 of the f16 operands`,
      cells: { ours, ...peersNa('float16 not compared') },
    });
    rows.push(halfRow(`${s.name} float16`, await half({ matmul: { subgroupMatrix: null } })));
    if (tensorCores) ctx.log(`matmul ${s.name} float16 subgroup-matrix`);
    const sgm = tensorCores ? await half({}) : na('no chromium-experimental-subgroup-matrix with an f16 -> f32 configuration here, or the device-start self-check turned it off');
    rows.push(halfRow(`${s.name} float16 subgroup-matrix`, sgm));
  }
  return rows;
}
