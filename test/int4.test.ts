// int4 weights: the group-wise quantization against a float64 reference written out plainly
// (scale = max|group| / 7, q = round(w / scale), packed two a byte, low nibble first), and the
// int4 matmul on each of its paths (forced through the profile) against a float64 product of the
// dequantized weights. The checkpoint's round trip is in cli-quantize.test.ts.
import fc from 'fast-check';
import { afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { dequantizeInt4Ref, matmulRef, quantizeInt4Ref, ref } from '../src/check/reference/index.js';
import { Generator, linearInt4, ones, scope, tensor } from '../src/index.js';
import { Linear, pruneGlobal } from '../src/nn/index.js';
import { checkpointBytes, decodeCheckpoint, encodeCheckpoint } from '../src/gpt/checkpoint.js';
import { GPT } from '../src/gpt/model.js';
import { quantizeModel } from '../src/gpt/quantize.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { quantizeGroupsInt4 } from '../src/ops/index.js';
import { setProfile } from '../src/kernels/profile.js';
import { expectClose, fcParams, setupDevice, valuesArb } from './helpers.js';

beforeAll(setupDevice);
afterEach(() => setProfile(null));

describe('int4 quantization', () => {
  it('equals the float64 reference, groups of zeros too, and |w - q scale| <= scale / 2', () => {
    const matrix = fc.record({ rows: fc.integer({ min: 1, max: 5 }), G: fc.constantFrom(8, 16, 32), groups: fc.integer({ min: 1, max: 3 }) }).chain(({ rows, G, groups }) =>
      fc.tuple(fc.constant({ rows, G, cols: G * groups }), valuesArb(rows * G * groups, -4, 4), fc.array(fc.integer({ min: 0, max: rows * groups - 1 }), { maxLength: 2 })),
    );
    fc.assert(
      fc.property(matrix, ([{ rows, G, cols }, values, zeroGroups]) => {
        const w = Float32Array.from(values);
        for (const g of zeroGroups) w.fill(0, g * G, (g + 1) * G); // a group of zeros: scale 0
        const { q, scale } = quantizeGroupsInt4(w, rows, cols, G);
        const want = quantizeInt4Ref(ref([rows, cols], w), G);
        expect([...q]).toEqual([...want.packed.data]);
        expect([...scale]).toEqual([...want.scale32.data]);
        const back = dequantizeInt4Ref(ref([rows, cols / 2], q), ref([rows, cols / G], scale));
        const far = [...w.keys()].filter((i) => !(Math.abs(w[i]! - back.data[i]!) <= scale[Math.floor(i / G)]! * (0.5 + 1e-6)));
        expect(far).toEqual([]);
      }),
      fcParams(25),
    );
  });

  it('rounds halves away from zero, keeps the extremes at ±7 (negative ones too), packs low nibble first', () => {
    // a group whose largest magnitude is 7 has scale exactly 1: its halves are exact
    const { q, scale } = quantizeGroupsInt4(Float32Array.of(-7, 2.5, -2.5, 0.49, 7, -0.5, 1, -1), 1, 8, 8);
    expect(scale[0]).toBe(1);
    // weights -7 3 -3 0 7 -1 1 -1 as nibbles 9 3 d 0 7 f 1 f, two a byte, the first low
    expect([...new Uint8Array(q.buffer)]).toEqual([0x39, 0x0d, 0xf7, 0xf1]);
    expect([...quantizeGroupsInt4(Float32Array.of(-3, 1, 0, 0, 0, 0, 0, 0), 1, 8, 8).q]).toEqual([0x29, 0, 0, 0]); // -3 the extreme: -7 (nibble 9); 1 -> 2
    expect(() => quantizeGroupsInt4(Float32Array.of(1, NaN, 0, 0, 0, 0, 0, 0), 1, 8, 8)).toThrow(/row 0 holds NaN/);
    expect(() => quantizeGroupsInt4(new Float32Array(16), 1, 16, 12)).toThrow(/a group size must be a multiple of 8 .*got 12/);
    expect(() => quantizeGroupsInt4(new Float32Array(24), 1, 24, 16)).toThrow(/group size 16 does not divide rows of 24 weights/);
  });
});

/** x [M, K] · Wᵀ for W random bytes as int4 (every nibble, -8 too) with group scales, on the engine and in float64. */
async function checkLinear(M: number, N: number, K: number, G: number, seed: number): Promise<void> {
  const x = Float32Array.from({ length: M * K }, (_, i) => Math.sin(seed + i * 1.3) * 0.9);
  const q = Int8Array.from({ length: (N * K) / 2 }, (_, i) => Math.floor(Math.abs(Math.sin(seed * 3 + i * 0.7)) * 256) - 128);
  const s = Float32Array.from({ length: (N * K) / G }, (_, i) => (i % 7 === 3 ? 0 : 0.01 + 0.1 * Math.abs(Math.cos(seed + i))));
  await scope(async () => {
    const got = linearInt4(tensor(x, [M, K]), tensor(q, [N, K / 2]), tensor(s, [N, K / G]));
    const want = matmulRef(ref([M, K], x), dequantizeInt4Ref(ref([N, K / 2], q), ref([N, K / G], s)), false, true);
    await expectClose(got, want, 1e-5 * Math.sqrt(K), 1e-4, `linearInt4 [${M}, ${K}] · int4[${N}, ${K}]ᵀ (groups of ${G})`);
  });
}

describe('linearInt4 equals float64 of the dequantized weights, on each path', () => {
  const shapes = fc.record({ M: fc.integer({ min: 1, max: 13 }), N: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.constant(67)), G: fc.constantFrom(8, 16, 32), groups: fc.integer({ min: 1, max: 4 }), seed: fc.integer({ min: 0, max: 1000 }) });
  it.each([
    { path: 'skinny (a lane per 4 columns and up to 4 rows; every row count)', overrides: { matmul: { skinnyRows: 1 << 30 } } },
    { path: 'dequantized, then the tiled kernel', overrides: { matmul: { tiled: 'buffer' as const, skinnyRows: 0, tiles: 'small' as const, splits: 1 } } },
    { path: 'dequantized, then the texture path', overrides: { matmul: { tiled: 'texture' as const, skinnyRows: 0 } } },
  ])('$path', async ({ overrides }) => {
    setProfile(overrides);
    await fc.assert(fc.asyncProperty(shapes, ({ M, N, G, groups, seed }) => checkLinear(M, N, G * groups, G, seed)), fcParams(8));
  });

  it('rows beyond a binding go in bands', async () => {
    setProfile({ bindingLimit: 1024 });
    await checkLinear(20, 3, 64, 16, 5); // x is 5120 bytes, 4 rows a band
  });

  it('a weight whose float32 copy would not fit one binding: prompt rows too go through the skinny kernel, not refused', async () => {
    setProfile({ bindingLimit: 1024, matmul: { skinnyRows: 0 } });
    await checkLinear(6, 9, 64, 16, 7); // W dequantized: 2304 bytes; x, 256 bytes a row: 4 rows a band
  });

  it('K = 0 (no inputs) gives zeros, on either path, as linearInt8 does', async () => {
    for (const skinnyRows of [1 << 30, 0]) {
      setProfile({ matmul: { skinnyRows } });
      await scope(async () => {
        const got = linearInt4(tensor(new Float32Array(0), [2, 0]), tensor(new Int8Array(0), [3, 0]), tensor(new Float32Array(0), [3, 0]));
        expect([...(await got.toArray())], `skinnyRows ${skinnyRows}`).toEqual([0, 0, 0, 0, 0, 0]);
      });
    }
  });

  it('refuses mismatched shapes and group sizes in one line naming the op', () =>
    scope(() => {
      const q = tensor(new Int8Array(16), [2, 8]);
      const s = tensor(new Float32Array(4), [2, 2]);
      expect(() => linearInt4(tensor(new Float32Array(8), [1, 8]), q, s)).toThrow(/^linearInt4: input float32\[1, 8\] must end in K = 16, twice the columns of weight int8\[2, 8\]/);
      expect(() => linearInt4(tensor(new Float32Array(16), [16]), q, tensor(new Float32Array(2), [2]))).toThrow(/^linearInt4: scale \[N, K \/ G\] must have rank 2, got float32\[2\]$/);
      expect(() => linearInt4(tensor(new Float32Array(16), [16]), q, tensor(new Float32Array(6), [3, 2]))).toThrow(/^linearInt4: scale .* must have shape \[2, 2\]/);
      expect(() => linearInt4(tensor(new Float32Array(16), [16]), q, tensor(new Float32Array(8), [2, 4]))).toThrow(/^linearInt4: scale float32\[2, 4\] for K = 16: a group size must be a multiple of 8/);
    }));
});

// these refusals said 'int8' of every quantized weight
it("refuses to prune or adapt an int4 Linear, naming its weights int4", async () => {
  const layer = new Linear(16, 4, { rng: new Generator(1), int4: 8 });
  try {
    expect(() => layer.addLoRA({ rank: 1 } as never)).toThrow(/^Linear\.addLoRA: cannot adapt an int4 weight \(/);
    scope(() => expect(() => layer.setWeightMask(ones([4, 16]))).toThrow(/^Linear\.setWeightMask: an int4 weight cannot be pruned/));
    await expect(pruneGlobal(layer, 0.5)).rejects.toThrow(/^pruneGlobal: Linear '' holds int4 weights, which cannot be pruned/);
  } finally {
    layer.dispose();
  }
});

it("refuses a checkpoint's negative int4 scale in one line, naming it int4's", async () => {
  const model = new GPT({ vocabSize: 8, blockSize: 4, nLayer: 1, nHead: 1, nEmbd: 8, quantization: 'int4', groupSize: 8 });
  const ckpt = decodeCheckpoint(await encodeCheckpoint(model, CharTokenizer.train('abcdefgh')));
  model.dispose();
  ckpt.weights.get('h.0.mlp.c_fc.weight_scale')!.data[3] = -0.5;
  expect(() => decodeCheckpoint(checkpointBytes(ckpt))).toThrow(/^checkpoint: tensor 'h\.0\.mlp\.c_fc\.weight_scale' holds -0\.5 \(at index 3\); an int4 scale \(its group's largest \|weight\| \/ 7\) is never negative$/);
});

// { bits: 4 } was refused as a bad GPT config (groupSize missing), a groupSize with int8 ignored, an unknown key too
it('quantizeModel: { bits: 4 } takes groups of 32 (gpt quantize\'s default); bad settings refused in one line naming it', async () => {
  const float = new GPT({ vocabSize: 8, blockSize: 4, nLayer: 1, nHead: 1, nEmbd: 32 });
  onTestFinished(() => float.dispose());
  const int4 = await quantizeModel(float, { bits: 4 });
  expect([int4.config.groupSize, int4.h.items[0]!.attn.c_attn.weightScale!.describe()]).toEqual([32, 'float32[96, 1]']);
  int4.dispose();
  const refusals: [unknown, RegExp][] = [
    [null, /^quantizeModel: the options must be an object of bits, groupSize, got null$/],
    [{ groupSize: 8 }, /^quantizeModel: groupSize is int4's setting \(bits 4; int8 scales whole rows\), got groupSize 8 with bits 8$/],
    [{ bits: 8, groupSize: 8 }, /^quantizeModel: groupSize is int4's setting/],
    [{ bits: 4, groupsize: 8 }, /^quantizeModel: unknown option 'groupsize' \(the options are bits, groupSize\)$/],
    [{ bits: 4, groupSize: '8' }, /^quantizeModel: argument 'groupSize' must be a multiple of 8 dividing every Linear's input width, got string '8'$/],
    [{ bits: 4, groupSize: 12 }, /^quantizeModel: groupSize: a group size must be a multiple of 8 \(whole words of eight int4 weights\), got 12$/],
    [{ bits: 4, groupSize: 64 }, /^quantizeModel: groupSize: group size 64 does not divide rows of 32 weights \(attn\.c_attn's input\)$/],
    [{ bits: 2 }, /^quantizeModel: bits must be 8 or 4, got 2$/],
  ];
  for (const [settings, message] of refusals) await expect(quantizeModel(float, settings as never), JSON.stringify(settings)).rejects.toThrow(message);
  float.addLoRA({ rank: 2 });
  await expect(quantizeModel(float, { bits: 4 })).rejects.toThrow(/^quantizeModel: the model has LoRA adapters, which int4 weights cannot hold; merge them first/);
});
