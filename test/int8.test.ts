// int8 weight-only quantization against independent float64 references: the quantization itself
// (scale = max|row| / 127, q = round(w / scale)), the int8 matmul on each of its paths (forced
// through the profile) against a float64 product of the dequantized weights, and a quantized GPT's
// logits against a float64 GPT-2 forward of its dequantized weights (whole sequences: the tiled
// paths; one token at a time with the KV cache: the skinny one). Drawn cases of both ops under
// every kernel variant are in ops.test.ts (src/check/cases/int8.ts).
import fc from 'fast-check';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dequantizeRef, matmulRef, quantizeRef, ref, type Ref } from '../src/check/reference/index.js';
import type { GPT } from '../src/gpt/model.js';
import { quantizeModel } from '../src/gpt/quantize.js';
import { disposeCache, type KVCache } from '../src/nn/transformer.js';
import { device, embeddingInt8, linearInt8, noGrad, quantizeInt8, scope, tensor } from '../src/index.js';
import { quantizeRowsInt8 } from '../src/ops/index.js';
import { setProfile } from '../src/kernels/profile.js';
import { expectClose, fcParams, loadGPT2, setupDevice, valuesArb } from './helpers.js';
import { gpt2Logits, randomGPT2, SMALL, type GPT2Params } from './hf-reference.js';

beforeAll(setupDevice);
afterEach(() => setProfile(null));

const dim = fc.oneof(fc.integer({ min: 1, max: 9 }), fc.constantFrom(13, 31, 63, 64, 65, 67, 128));

describe('quantization', () => {
  it('equals the float64 reference: scale = max|row| / 127, q = round(w / scale), |w - q scale| <= scale / 2', () => {
    const small = fc.oneof(fc.integer({ min: 1, max: 9 }), fc.constantFrom(13, 31, 63, 64, 65, 67));
    const matrix = fc.tuple(small, small).chain(([rows, cols]) =>
      fc.tuple(fc.constant([rows, cols]), valuesArb(rows * cols, -4, 4), fc.array(fc.integer({ min: 0, max: rows - 1 }), { maxLength: 2 })),
    );
    fc.assert(
      fc.property(matrix, ([[rows, cols], values, zeroRows]) => {
        const w = Float32Array.from(values);
        for (const r of zeroRows) w.fill(0, r * cols, (r + 1) * cols); // all-zero rows: scale 0
        const { q, scale } = quantizeRowsInt8(w, rows, cols);
        const want = quantizeRef(ref([rows, cols], w));
        expect([...q]).toEqual([...want.q.data]);
        expect([...scale]).toEqual([...want.scale32.data]);
        // float32 rounding of the scale: relative, or absolute among subnormals
        const ulp = (x: number) => Math.max(x * 2 ** -24, 2 ** -149);
        expect([...scale.keys()].filter((r) => !(Math.abs(scale[r]! - want.scale64.data[r]!) <= ulp(want.scale64.data[r]!)))).toEqual([]);
        const far = [...w.keys()].filter((i) => {
          const s = scale[Math.floor(i / cols)]!;
          return !(Math.abs(w[i]! - q[i]! * s) <= s * 0.5 + 128 * ulp(s));
        });
        expect(far).toEqual([]);
      }),
      fcParams(25),
    );
  });

  it('rounds halves away from zero, keeps the row maximum at ±127, refuses non-finite weights', () => {
    // a row whose largest magnitude is 127 has scale exactly 1: its halves are exact
    const { q, scale } = quantizeRowsInt8(Float32Array.of(127, 2.5, -2.5, -127, 0.49), 1, 5);
    expect(scale[0]).toBe(1);
    expect([...q]).toEqual([127, 3, -3, -127, 0]);
    expect(() => quantizeRowsInt8(Float32Array.of(1, NaN), 1, 2)).toThrow(/row 0 holds NaN/);
  });

  it('of a GPU tensor: int8 q [N, K] and float32 scale [N], the host quantization read back', async () => {
    const w = Float32Array.from({ length: 5 * 7 }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 3)));
    await scope(async () => {
      const { q, scale } = await quantizeInt8(tensor(w, [5, 7]));
      const want = quantizeRowsInt8(w, 5, 7);
      expect([q.describe(), scale.describe()]).toEqual(['int8[5, 7]', 'float32[5]']);
      expect([...(await q.toArray())]).toEqual([...want.q]);
      expect([...(await scale.toArray())]).toEqual([...want.scale]);
    });
  });
});

/** x [M, K] · (scale ⊙ q)ᵀ, on the engine and in float64 from the same values. */
async function checkLinear(M: number, N: number, K: number, seed: number): Promise<void> {
  const rnd = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed + i * k) * 0.9);
  const x = rnd(M * K, 1.3);
  const q = Int8Array.from({ length: N * K }, (_, i) => Math.round(Math.sin(seed * 3 + i * 0.7) * 127));
  const s = Float32Array.from({ length: N }, (_, i) => 0.001 + 0.007 * Math.abs(Math.cos(seed + i)));
  await scope(async () => {
    const got = linearInt8(tensor(x, [M, K]), tensor(q, [N, K]), tensor(s, [N]));
    const want = matmulRef(ref([M, K], x), dequantizeRef(ref([N, K], q), ref([N], s)), false, true);
    await expectClose(got, want, 1e-5 * Math.sqrt(K), 1e-4, `linearInt8 [${M}, ${K}] · int8[${N}, ${K}]ᵀ`);
  });
}

// int8 tensor cores (on GPUs that have them) are set aside: they quantize the activations too, which
// the float64 reference of dequantized weights does not (int8-activations.test.ts, tensor-cores-emulated.test.ts)
describe('linearInt8 equals float64 of the dequantized weights, odd shapes, on each path', () => {
  const shapes = fc.record({ M: dim, N: dim, K: fc.oneof(dim, fc.integer({ min: 1, max: 40 }).map((k) => 4 * k)), seed: fc.integer({ min: 0, max: 1000 }) });
  it.each([
    { path: 'skinny (a lane per 4 columns and up to 4 rows; every row count)', overrides: { matmul: { skinnyRows: 1 << 30 } } },
    { path: 'tiled int8 kernel (64x64 tiles)', overrides: { matmul: { tiled: 'buffer' as const, skinnyRows: 0, tiles: 'small' as const, splits: 1, int8SubgroupMatrix: null } } },
    { path: 'tiled int8 kernel (128x128 tiles, split-K in 3)', overrides: { matmul: { tiled: 'buffer' as const, skinnyRows: 0, tiles: 'large' as const, splits: 3, int8SubgroupMatrix: null } } },
    { path: 'dequantized, then the texture path', overrides: { matmul: { tiled: 'texture' as const, skinnyRows: 0, int8SubgroupMatrix: null } } },
  ])('$path', async ({ overrides }) => {
    setProfile(overrides);
    await fc.assert(fc.asyncProperty(shapes, ({ M, N, K, seed }) => checkLinear(M, N, K, seed)), fcParams(12));
  });

  it('rows beyond a binding go in bands', async () => {
    setProfile({ bindingLimit: 1024 });
    await checkLinear(70, 9, 13, 5); // x is 3640 bytes, 19 rows a band
  });

  it('refuses mismatched shapes and dtypes in one line naming the op', () =>
    scope(() => {
      const q = tensor(new Int8Array(6), [2, 3]);
      const s = tensor(Float32Array.of(1, 1));
      expect(() => linearInt8(tensor(new Float32Array(8), [2, 4]), q, s)).toThrow(/^linearInt8: input float32\[2, 4\] must end in K = 3/);
      expect(() => linearInt8(tensor(new Float32Array(6), [2, 3]), tensor(new Float32Array(6), [2, 3]), s)).toThrow(/^linearInt8: argument 'weight' must be an int8 tensor/);
      expect(() => linearInt8(tensor(new Float32Array(3), [3]), q, tensor(Float32Array.of(1)))).toThrow(/^linearInt8: scale .* must have shape \[2\]/);
      expect(() => embeddingInt8(q, s, tensor(Int32Array.of(0, 2)))).toThrow(/^embeddingInt8: id 2 at position \[1\] .* out of range \[0, 2\)/);
    }));
});

// ---- a quantized GPT against GPT-2 in float64 ---------------------------------------------------

/** The quantized model's weights dequantized in float64, laid out as GPT-2 stores them (Conv1D [in, out]). */
async function dequantizedParams(model: GPT): Promise<GPT2Params> {
  const state = new Map<string, Ref>();
  for (const [name, p] of model.namedParameters()) state.set(name, ref([...p.shape], await p.toArray()));
  const out: GPT2Params = new Map();
  for (const [name, t] of state) {
    if (name.endsWith('_scale')) continue;
    const scale = state.get(`${name}_scale`);
    const w = scale ? dequantizeRef(t, scale) : t;
    const conv1d = scale && name !== 'wte.weight';
    const [rows, cols] = w.shape as [number, number];
    const data = conv1d ? Float32Array.from({ length: rows * cols }, (_, i) => w.data[(i % rows) * cols + Math.floor(i / rows)]!) : Float32Array.from(w.data);
    out.set(name, { shape: conv1d ? [cols, rows] : w.shape, data });
  }
  return out; // (held as float32, as GPT2Params are: 1 ulp of each dequantized weight, far below the tolerance)
}

describe('a quantized GPT', () => {
  const params = randomGPT2(11);
  const ids = Array.from({ length: SMALL.T }, (_, t) => (t * 37 + 5) % SMALL.V);

  it('computes the logits of its dequantized weights: whole sequences (both tiled paths) and token by token with the KV cache (skinny)', async () => {
    const float = await loadGPT2(params, true);
    const model = await quantizeModel(float);
    float.dispose();
    model.eval();
    expect(model.config.quantization).toBe('int8');
    expect(model.wte.weight.describe()).toBe(`int8[${SMALL.V}, ${SMALL.C}]`);
    const dequantized = await dequantizedParams(model);
    const want = gpt2Logits(dequantized, ids);
    const tol = 2e-4;
    // quantization moves the logits far more than the tolerance: the check tells the two apart
    const unquantized = gpt2Logits(params, ids);
    expect(Math.max(...want.flatMap((row, t) => [...row].map((v, i) => Math.abs(v - unquantized[t]![i]!))))).toBeGreaterThan(50 * tol);

    for (const tiled of ['texture', 'buffer'] as const) {
      setProfile({ matmul: { tiled, int8SubgroupMatrix: null } });
      await noGrad(() => scope(async () => {
        const { logits } = model.forward(tensor(Int32Array.from(ids), [1, SMALL.T]));
        await expectClose(logits, ref([1, SMALL.T, SMALL.V], want.flatMap((r) => [...r])), tol, 1e-4, `whole sequence (${tiled})`);
      }));
    }
    setProfile(null);
    const caches: KVCache[] = Array.from({ length: SMALL.L }, () => ({ qkv: null }));
    for (let t = 0; t < SMALL.T; t++) {
      await noGrad(() => scope(async () => {
        const { logits } = model.forward(tensor(Int32Array.of(ids[t]!), [1, 1]), { caches, lastOnly: true });
        await expectClose(logits, ref([1, 1, SMALL.V], want[t]!), tol, 1e-4, `position ${t} from the cache`);
      }));
    }
    caches.forEach(disposeCache);
    model.dispose();
  });

  it('has the parameters of the model it came from: its per-row scales are not counted (numParams, as gpt info counts)', async () => {
    const float = await loadGPT2(params, true);
    const model = await quantizeModel(float);
    const scales = [...model.namedParameters()].filter(([name]) => name.endsWith('_scale'));
    expect(scales.length).toBeGreaterThan(0);
    for (const nonEmbedding of [true, false]) expect(model.numParams(nonEmbedding), `nonEmbedding ${nonEmbedding}`).toBe(float.numParams(nonEmbedding));
    float.dispose();
    model.dispose();
  });

  // the error named quantizeRowsInt8 and a row, not the call made nor which of the model's weights
  it('refuses a NaN or infinite weight naming quantizeModel and the tensor, leaving nothing on the GPU', async () => {
    const float = await loadGPT2(params, true);
    const state = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [name, p] of float.namedParameters()) state.set(name, { shape: [...p.shape], data: (await p.toArray()) as Float32Array });
    const cols = state.get('h.1.mlp.c_fc.weight')!.shape[1]!;
    for (const bad of [NaN, -Infinity]) {
      state.get('h.1.mlp.c_fc.weight')!.data[2 * cols + 1] = bad;
      float.loadStateDict(state);
      const live = device().memory().liveBytes;
      await expect(quantizeModel(float)).rejects.toThrow(new RegExp(`^quantizeModel: 'h\\.1\\.mlp\\.c_fc\\.weight' row 2 holds ${bad}; only finite weights can be quantized$`));
      expect(device().memory().liveBytes).toBe(live);
    }
    await scope(() => expect(quantizeInt8(tensor(Float32Array.of(1, 2, Infinity, 4), [2, 2]))).rejects.toThrow(/^quantizeInt8: weight float32\[2, 2\] row 1 holds Infinity; only finite/));
    float.dispose();
  });
});
