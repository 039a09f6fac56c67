// bench's webgpu-torch peer (bench/peers.ts, bench/cases.ts): it runs on the same Dawn adapter,
// its results are checked against float64 like the other peers' (a wrong answer is an error, not
// a time), and where its ops cannot express a benchmark the row says why.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { torchCase, torchTensor } from '../bench/cases.js';
import { randomFloats, runCase, type Context } from '../bench/harness.js';
import { openTorch, shareGpuAsNavigator, type Libs, type Torch } from '../bench/peers.js';
import { elementwiseSuite } from '../bench/suites/elementwise.js';
import { setupDevice } from './helpers.js';

const ctx: Context = { timing: { warmup: 1, samples: 1, targetMs: 0, maxIters: 1 }, log: () => {}, smoke: true, big: false };
const tol = { atol: 1e-5, rtol: 1e-5 };
const [M, K, N] = [37, 19, 23]; // shapes no tile divides: the nested-array upload and read-back per dimension

/** The float64 product a·b of row-major [M, K] and [K, N] (transposeA: a is stored [K, M]). */
function product(a: Float32Array, b: Float32Array, transposeA = false): Float64Array {
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += (transposeA ? a[k * M + i]! : a[i * K + k]!) * b[k * N + j]!;
      out[i * N + j] = s;
    }
  }
  return out;
}

let torch: Torch;
let libs: Libs;
beforeAll(async () => {
  const ours = await setupDevice();
  await shareGpuAsNavigator();
  ({ torch } = await openTorch());
  libs = { ours, tf: null, jax: null, torch, errors: { tfjs: 'not here', jax: 'not here' }, versions: {} };
});
afterAll(() => {
  delete (globalThis as { navigator?: unknown }).navigator;
});

describe('bench webgpu-torch peer', () => {
  const a = randomFloats(M * K, 1);
  const b = randomFloats(K * N, 2);
  const mm = () => torchCase([torchTensor(torch, a, [M, K]), torchTensor(torch, b, [K, N])], ([x, y]) => [x!.mm(y!)]);

  it('its mm is timed once it matches the float64 product', async () => {
    const cell = await runCase(ctx, 'webgpu-torch', mm, [product(a, b)], tol);
    expect(cell.error).toBeUndefined();
    expect(cell.ms).toBeGreaterThan(0);
    expect(cell.maxAbsErr).toBeLessThan(1e-5);
  });

  it('a reference off by 1e-3 in one entry is a mismatch, not a time', async () => {
    const wrong = product(a, b);
    wrong[M * N - 1]! += 1e-3;
    const cell = await runCase(ctx, 'webgpu-torch', mm, [wrong], tol);
    expect(cell.ms).toBeUndefined();
    expect(cell.error).toMatch(new RegExp(`^mismatch: output 0\\[${M * N - 1}\\] = `));
  });

  it("a wrong answer of its own is caught: mm of t() reads the storage as if it were not transposed (0.3.5's bug)", async () => {
    const at = randomFloats(K * M, 3); // stored [K, M]; t() is a strided [M, K] view
    const cell = await runCase(ctx, 'webgpu-torch', () => torchCase([torchTensor(torch, at, [K, M]), torchTensor(torch, b, [K, N])], ([x, y]) => [x!.t().mm(y!)]), [product(at, b, true)], tol);
    expect(cell.ms).toBeUndefined();
    expect(cell.error).toMatch(/^mismatch: /);
  });

  it('op family: its composed GELU matches float64; the ops it lacks are n/a with why', async () => {
    const rows = await elementwiseSuite(libs, ctx);
    const cell = (name: string) => rows.find((r) => r.name.startsWith(name))!.cells.webgpuTorch;
    expect(cell('GELU').error).toBeUndefined();
    expect(cell('GELU').ms).toBeGreaterThan(0);
    expect(cell('softmax').na).toMatch(/no softmax/);
    expect(cell('layerNorm').na).toMatch(/no layer norm/);
    expect(cell('cross-entropy').na).toMatch(/no log-softmax or cross-entropy/);
  });
});
