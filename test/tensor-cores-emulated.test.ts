// The tensor-core (subgroup-matrix) matmul's numbers without tensor cores: its kernel with software
// fragments (profile tilings marked `emulated`: the same staging, tiles, fragment offsets and
// strides, and epilogue, each fragment load, multiply-accumulate and store done by plain WGSL with
// the subgroup-matrix semantics) runs here, on lavapipe. Its results are compared exactly with a
// float64 product: operands are small integers, so every sum is exact in f32 and in f16; split-K
// too, through the engine's dispatch. Then the
// op table's float16 matmul runs on it through the engine, the device-start self-check passes it
// (float16 and int8), and a float16 training run on it tracks one on the adapter's own kernels.
// What this cannot see: a driver's own fragment layouts, and Dawn's counting of int8 offsets
// (subgroup-matrix.test.ts validates the WGSL on Dawn's null backend; the self-check runs the real
// thing wherever the feature exists). It found one bug: staging kept a previous pass's values where
// it meant zeros (kernel.ts assertBlockVarsInitialised), so products whose K ends mid-step over
// more than one K step summed stale elements.
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { availableChecks } from '../src/check/index.js';
import { matmulRef, ref } from '../src/check/reference/index.js';
import { cast, device, scope, Tensor, tensor } from '../src/index.js';
import { emulatedTensorCores, forgetVerdicts, SGM_SUBGROUPS, sgmWorkgroupBytes, int8TensorCoresFor, profile, setProfile, verdictsOf, type ProfileOverrides, type SubgroupMatrixTiling } from '../src/kernels/profile.js';
import { checkFastPaths } from '../src/kernels/self-check.js';
import { launchMatmul } from '../src/kernels/wgsl/matmul.js';
import type { MatmulPlan } from '../src/kernels/wgsl/matmul-tiled.js';
import { launchInt8SubgroupMatrixMatmul, launchSubgroupMatrixMatmul } from '../src/kernels/wgsl/matmul-subgroup-matrix.js';
import { disposeTrainers, fcParams, randomFromGen, setupDevice, storedShape, trainLosses, type MatmulCase } from './helpers.js';
import { TRAIN_DEFAULTS, Trainer } from '../src/gpt/trainer.js';
import { Generator } from '../src/tensor/generator.js';

await setupDevice();
const emulated = emulatedTensorCores();
afterEach(() => setProfile(null));
afterAll(() => forgetVerdicts(device().info));

/** Seeded integers in [-range, range]. */
function integers(n: number, seed: number, range = 3): Float32Array {
  const rng = new Generator(seed);
  return Float32Array.from({ length: n }, () => rng.nextInt(2 * range + 1) - range);
}

const batchStrides = (dims: number[], matrix: number) => dims.map((n, d) => (n === 1 ? 0 : dims.slice(d + 1).reduce((x, y) => x * y, matrix)));

type Launch = (a: GPUBuffer, b: GPUBuffer, c: GPUBuffer, plan: MatmulPlan) => void;

/** op(A) · op(B) of f16 operands through `launch` (C f16, or f32), against float64: null, or what differs. */
async function runProduct(p: MatmulCase, launch: Launch, seed: number, out: 'f16' | 'f32' = 'f16'): Promise<string | null> {
  const aShape = storedShape(p.batchA, p.M, p.K, p.transA);
  const bShape = storedShape(p.batchB, p.K, p.N, p.transB);
  const a = integers(aShape.reduce((x, y) => x * y, 1), seed);
  const b = integers(bShape.reduce((x, y) => x * y, 1), seed + 1);
  const want = matmulRef(ref(aShape, Array.from(a)), ref(bShape, Array.from(b)), p.transA, p.transB);
  return scope(async () => {
    const [a16, b16] = [cast(tensor(a, aShape), 'float16'), cast(tensor(b, bShape), 'float16')];
    const c = Tensor.empty(want.shape, out === 'f16' ? 'float16' : 'float32');
    const batchShape = p.batchA.map((n, d) => Math.max(n, p.batchB[d]!));
    const plan = { M: p.M, N: p.N, K: p.K, transA: p.transA, transB: p.transB, batchShape, aStrides: batchStrides(p.batchA, p.M * p.K), bStrides: batchStrides(p.batchB, p.K * p.N) };
    launch(a16.buffer(), b16.buffer(), c.buffer(), plan);
    const got = await (out === 'f16' ? cast(c, 'float32') : c).toArray();
    const bad = want.data.findIndex((w, i) => got[i] !== w);
    return bad < 0 ? null : `${want.data.filter((w, i) => got[i] !== w).length} of ${want.data.length} elements differ, the first at flat ${bad}: ${got[bad]} for ${want.data[bad]}`;
  });
}

/** The tensor-core kernel with `tiling`, C stored as `out`. */
const withTiling = (tiling: SubgroupMatrixTiling, out: 'f16' | 'f32' = 'f16'): Launch => (a, b, c, plan) => launchSubgroupMatrixMatmul(a, b, c, plan, tiling, out);

/** Products crossing tile edges, K ending mid-step over several steps, both transposes, batches; `aligned` makes every stored row a multiple of 8 (the 16-byte loads). */
const productArb = (aligned: boolean) => {
  const dim = (max: number) => (aligned ? fc.integer({ min: 1, max: max / 8 }).map((n) => 8 * n) : fc.integer({ min: 1, max }));
  return fc.record({
    M: dim(160), N: dim(160), K: dim(104), transA: fc.boolean(), transB: fc.boolean(),
    batch: fc.constantFrom<[number[], number[]]>([[], []], [[2], [2]], [[2, 1], [1, 3]], [[1], [3]]),
  }).map(({ batch: [batchA, batchB], ...p }) => ({ ...p, batchA, batchB }));
};

/** Whether this device has the workgroup memory and invocations of `tiling`'s kernel. */
function fits(tiling: SubgroupMatrixTiling, element: 'f16' | 'i8'): boolean {
  const { limits } = device().info;
  return sgmWorkgroupBytes(tiling, element) <= (limits.maxComputeWorkgroupStorageSize ?? 16384) && SGM_SUBGROUPS * tiling.lanes <= (limits.maxComputeInvocationsPerWorkgroup ?? 256);
}

describe.skipIf(!emulated)('the tensor-core matmul with software fragments', () => {
  // the H200's tiling (issue #14), every layout; then other fragment shapes and subgroup sizes on a
  // few (each is a new kernel, a second or more for lavapipe to compile; Apple's 8x8x8 fragments,
  // 32 a subgroup, take it minutes, so they are only validated, in subgroup-matrix.test.ts). The
  // H200's K step is the one that fits this device's workgroup memory (16 at WebGPU's default 16 KiB).
  const h200 = emulated?.overrides.matmul?.subgroupMatrix as SubgroupMatrixTiling;
  const others: [string, SubgroupMatrixTiling, MatmulCase][] = [
    ['16x8x16 fragments, K step 16', { M: 16, N: 8, K: 16, lanes: 32, pinned: false, bk: 16, emulated: true }, { M: 150, N: 67, K: 40, transA: false, transB: true, batchA: [2], batchB: [1] }],
    ['16x8x8 fragments, 64-lane subgroups', { M: 16, N: 8, K: 8, lanes: 64, pinned: false, bk: 32, emulated: true }, { M: 70, N: 140, K: 75, transA: true, transB: false, batchA: [], batchB: [] }],
  ];

  it.each([false, true])('the H200 tiling equals float64 on drawn products, 16-byte loads %s', async (aligned) => {
    await fc.assert(fc.asyncProperty(productArb(aligned), fc.integer({ min: 1, max: 1000 }), async (p, seed) => {
      expect(await runProduct(p, withTiling(h200), seed), JSON.stringify(p)).toBeNull();
    }), fcParams(12));
  });

  it('float32 C (split-K partials hold it) and a K of 0', async () => {
    expect(await runProduct({ M: 70, N: 33, K: 50, transA: true, transB: false, batchA: [], batchB: [] }, withTiling(h200, 'f32'), 5, 'f32')).toBeNull();
    expect(await runProduct({ M: 20, N: 9, K: 0, transA: false, transB: false, batchA: [], batchB: [] }, withTiling(h200), 6)).toBeNull();
  });

  for (const [name, tiling, product] of others) {
    it.skipIf(!fits(tiling, 'f16'))(name, async () => {
      expect(await runProduct(product, withTiling(tiling), 7)).toBeNull();
    });
  }

  it('split-K through the engine: K in 2 to 16 splits of f32 partials, summed in order', async () => {
    const splitsArb = fc.constantFrom(2, 3, 5, 16);
    await fc.assert(fc.asyncProperty(productArb(false), splitsArb, fc.integer({ min: 1, max: 1000 }), async (p, splits, seed) => {
      setProfile({ ...emulated!.overrides, matmul: { ...emulated!.overrides.matmul, splits } });
      const viaEngine: Launch = (a, b, c, plan) => launchMatmul(a, b, c, { ...plan, float: 'f16' });
      expect(await runProduct({ ...p, K: 5 * p.K }, viaEngine, seed), `${JSON.stringify(p)}, K x 5, ${splits} splits`).toBeNull();
    }), fcParams(4));
  });

  it('int8: x · Qᵀ times the row and column scales, equal to float64 within the f32 rounding of the scaling', async () => {
    const tiling = emulated!.overrides.matmul!.int8SubgroupMatrix as SubgroupMatrixTiling;
    const words = (v: Float32Array) => new Int32Array(Int8Array.from(v).buffer); // four int8 to a word, in element order
    for (const [M, N, K] of [[130, 70, 68], [17, 129, 192], [40, 40, 4]] as const) {
      const x = integers(M * K, M, 127);
      const q = integers(N * K, N, 127);
      const xs = Float32Array.from({ length: M }, (_, m) => 2 ** -(m % 5));
      const ws = Float32Array.from({ length: N }, (_, n) => 1 + n / 64);
      await scope(async () => {
        const [xt, qt] = [tensor(words(x), [(M * K) / 4]), tensor(words(q), [(N * K) / 4])];
        const c = Tensor.empty([M, N]);
        launchInt8SubgroupMatrixMatmul(xt.buffer(), qt.buffer(), tensor(xs).buffer(), tensor(ws).buffer(), c.buffer(), M, N, K, tiling);
        const got = await c.toArray();
        for (let m = 0; m < M; m++) {
          for (let n = 0; n < N; n++) {
            let sum = 0;
            for (let k = 0; k < K; k++) sum += x[m * K + k]! * q[n * K + k]!;
            const want = sum * xs[m]! * ws[n]!;
            if (Math.abs(got[m * N + n]! - want) > 2 ** -22 * Math.abs(want)) expect.fail(`${M}x${K} · (${N}x${K})ᵀ [${m}, ${n}]: ${got[m * N + n]} for ${want}`);
          }
        }
      });
    }
  });
});

describe.skipIf(!emulated)('the engine on emulated tensor cores', () => {
  /** Kernel names dispatched by `body`. */
  async function dispatched(body: () => Promise<void>): Promise<Set<string>> {
    const names = new Set<string>();
    const dev = device();
    const original = dev.dispatch.bind(dev);
    const spy = vi.spyOn(dev, 'dispatch').mockImplementation((kernel, ...rest) => (names.add(kernel.name), original(kernel, ...rest)));
    try {
      await body();
    } finally {
      spy.mockRestore();
    }
    return names;
  }

  it('int8 products deeper than i32 sums can hold leave the tensor cores (127² K past 2³¹ - 1 would wrap)', () => {
    setProfile(emulated!.overrides);
    // the deepest K, a multiple of 4, whose sum of K products 127 · 127 stays within int32
    let deepest = 4;
    while (127n * 127n * BigInt(deepest + 4) <= 2n ** 31n - 1n) deepest += 4;
    const M = profile().matmul.skinnyRows + 1; // prompt processing, not decoding
    expect(int8TensorCoresFor(M, deepest)).not.toBeNull();
    expect(int8TensorCoresFor(M, deepest + 4)).toBeNull();
    expect(int8TensorCoresFor(M, 2 * deepest)).toBeNull();
  });

  // (linearCrossEntropy widens float16 operands to float32 first; int8 weights take the tensor cores
  // for rows of whole words past skinnyRows, which the self-check below sends through the engine)
  it('matmul (float16) matches its float64 reference', async () => {
    setProfile(emulated!.overrides);
    const { check } = availableChecks().find((c) => c.name === 'matmul (float16)')!;
    const names = await dispatched(async () => {
      await fc.assert(fc.asyncProperty(fc.gen(), async (g) => {
        const result = await check(randomFromGen(g));
        if (result.failure) throw new Error(`${result.what}: ${result.failure}`);
      }), fcParams(6));
    });
    expect([...names].some((n) => n.startsWith('matmul-sgm-f16-')), `it ran ${[...names].join(', ')}`).toBe(true);
  });

  it('the device-start self-check passes both paths, through the engine\'s dispatch', async () => {
    setProfile(emulated!.overrides);
    forgetVerdicts(device().info); // an adapter with tensor cores judged its own at device start: judge these now
    const warnings: string[] = [];
    const names = await dispatched(() => checkFastPaths(launchMatmul, { paths: ['subgroup-matrix', 'int8-subgroup-matrix'], warn: (w) => warnings.push(w) }));
    expect([...names].filter((n) => n.startsWith('matmul-sgm-')).map((n) => n.split('-')[2])).toEqual(expect.arrayContaining(['f16', 'i8']));
    // split-K too (what weight gradients take on GPUs): f16 operands into f32 partials, then their sum
    const ran = [...names];
    expect([ran.some((n) => /^matmul-sgm-f16-.*-f32$/.test(n)), ran.some((n) => /^matmul_split_sum.*-f16$/.test(n))], `it ran ${ran.join(', ')}`).toEqual([true, true]);
    // against the float32 kernel in one split: a wrong split sum cannot be wrong on both sides alike
    expect(ran.filter((n) => /^matmul_split_sum(-vec4)?$/.test(n)), 'float32 split sums').toEqual([]);
    expect(warnings).toEqual([]);
    expect(Object.fromEntries(verdictsOf(device().info))).toMatchObject({ 'subgroup-matrix': 'verified', 'int8-subgroup-matrix': 'verified' });
  });

  it("a float16 training run's losses track the same run on the adapter's own float16 kernels", async () => {
    const run = async (overrides: ProfileOverrides | null) => {
      setProfile(overrides);
      const V = 65;
      const rng = new Generator(11);
      const ids = Int32Array.from({ length: 4000 }, () => rng.nextInt(V));
      const cfg = { ...TRAIN_DEFAULTS, nLayer: 2, nHead: 2, nEmbd: 64, blockSize: 32, batchSize: 4, dropout: 0, warmupIters: 0, dtype: 'float16' as const, seed: 3 };
      const trainer = new Trainer(cfg, { train: ids.slice(0, 3000), val: ids.slice(3000), vocabSize: V });
      try {
        return await trainLosses(trainer, 6);
      } finally {
        disposeTrainers(trainer);
      }
    };
    const [tensorCores, own] = [await run(emulated!.overrides), await run(null)];
    tensorCores.forEach((loss, i) => expect(Math.abs(loss - own[i]!), `step ${i}: ${loss} vs ${own[i]}`).toBeLessThan(1e-3 * own[i]!));
  });
});
