// matmul beyond the op table's drawn calls (test/ops.test.ts): bigger fixed cases on every kernel
// path (not multiples of the tile, 256^3, the shapes of a GPT), more batches than a grid axis
// holds, K = 0, and the errors. Tolerance: |got - want| <= 1e-5 sqrt(K) + 1e-4 |want|, inputs in
// [-1, 1] rounded to float32 (float32 dot-product error grows like sqrt(K) for random-sign terms).
import { beforeAll, describe, expect, it } from 'vitest';
import { matmul, scope, tensor } from '../src/index.js';
import { device } from '../src/device/device.js';
import { detectProfile, profile, setProfile, SKINNY_KERNELS, type ProfileOverrides } from '../src/kernels/profile.js';
import { toHalf } from '../src/check/sample.js';
import { expectClose, seededValues, setupDevice, storedShape, toTensor, widestBinding, type MatmulCase } from './helpers.js';
import { matmulRef, numel, ref, type Ref } from '../src/check/reference/index.js';

beforeAll(setupDevice);

const tol = (K: number) => [1e-5 * Math.sqrt(Math.max(K, 1)), 1e-4] as const;

/** Seeded values in [-1, 1], rounded to float32 so engine and reference see the same inputs. */
const values = (shape: number[], seed: number): Ref => ref(shape, seededValues(numel(shape), seed).map(Math.fround));
const halfValues = (shape: number[], seed: number): Ref => ref(shape, seededValues(numel(shape), seed).map(toHalf));
const toHalfTensor = (r: Ref) => tensor(Float32Array.from(r.data), r.shape, 'float16');


interface Case extends MatmulCase {
  seed: number;
}

function inputs(c: Case): [Ref, Ref] {
  return [values(storedShape(c.batchA, c.M, c.K, c.transA), c.seed), values(storedShape(c.batchB, c.K, c.N, c.transB), c.seed + 1)];
}

const describeCase = (c: Case) =>
  `A ${JSON.stringify(storedShape(c.batchA, c.M, c.K, c.transA))}${c.transA ? '^T' : ''} @ B ${JSON.stringify(storedShape(c.batchB, c.K, c.N, c.transB))}${c.transB ? '^T' : ''}`;

/** Each case's inputs and float64 product, computed once: the fixed cases run again under every kernel path. */
const computed = new Map<Case, { a: Ref; b: Ref; want: Ref }>();
function inputsAndProduct(c: Case): { a: Ref; b: Ref; want: Ref } {
  let hit = computed.get(c);
  if (!hit) {
    const [a, b] = inputs(c);
    hit = { a, b, want: matmulRef(a, b, c.transA, c.transB) };
    computed.set(c, hit);
  }
  return hit;
}

async function checkForward(c: Case): Promise<void> {
  const { a, b, want } = inputsAndProduct(c);
  await scope(async () => {
    const out = matmul(toTensor(a), toTensor(b), { transA: c.transA, transB: c.transB });
    await expectClose(out, want, ...tol(c.K), describeCase(c));
  });
}

/** The fixed cases every kernel path runs. */
const FIXED_CASES: Case[] = [
  { M: 130, N: 128, K: 192, transA: false, transB: false, batchA: [2], batchB: [2], seed: 6 },
  { M: 70, N: 64, K: 64, transA: false, transB: false, batchA: [3], batchB: [1], seed: 7 },
  { M: 33, N: 200, K: 128, transA: false, transB: false, batchA: [2, 1], batchB: [3], seed: 8 },
  { M: 130, N: 67, K: 257, transA: false, transB: false, batchA: [], batchB: [], seed: 1 },
  { M: 130, N: 257, K: 67, transA: true, transB: true, batchA: [], batchB: [], seed: 2 },
  { M: 67, N: 130, K: 257, transA: true, transB: false, batchA: [2], batchB: [], seed: 3 },
  { M: 65, N: 129, K: 100, transA: false, transB: true, batchA: [3, 1], batchB: [2], seed: 4 },
  { M: 256, N: 256, K: 256, transA: false, transB: false, batchA: [], batchB: [], seed: 5 },
  // transposed operands whose stored rows can be copied (texture layouts along M / along K)
  { M: 128, N: 72, K: 100, transA: true, transB: false, batchA: [2], batchB: [2], seed: 9 },
  { M: 40, N: 96, K: 128, transA: false, transB: true, batchA: [], batchB: [], seed: 10 },
  { M: 64, N: 130, K: 64, transA: true, transB: true, batchA: [3], batchB: [3], seed: 11 },
  { M: 384, N: 128, K: 768, transA: true, transB: false, batchA: [], batchB: [], seed: 12 }, // a GPT dW
  // 24 rows a lane (96-row tiles: M 130, 384, 520, 768) or 32 (128-row tiles: M 128, 256, 600), a partial last tile, every operand layout
  { M: 600, N: 70, K: 130, transA: false, transB: false, batchA: [2], batchB: [], seed: 13 },
  { M: 600, N: 70, K: 128, transA: true, transB: true, batchA: [], batchB: [], seed: 14 },
  { M: 520, N: 33, K: 64, transA: true, transB: false, batchA: [], batchB: [], seed: 15 },
  { M: 768, N: 65, K: 128, transA: false, transB: true, batchA: [], batchB: [], seed: 16 }, // the GPT's LM head
  // fewer than 128 rows, N <= 32 (4 columns a lane): attention's att·v, and every layout
  { M: 64, N: 32, K: 64, transA: false, transB: false, batchA: [3], batchB: [3], seed: 17 },
  { M: 100, N: 20, K: 37, transA: true, transB: true, batchA: [], batchB: [], seed: 18 },
  // decoding: 1 to 4 rows times a transposed weight (the skinny vec4 kernels' layout), N not a
  // multiple of 4, batch dims broadcast or not, K past the workgroup kernel's 64 lanes of vec4s
  { M: 1, N: 65, K: 128, transA: false, transB: true, batchA: [], batchB: [], seed: 19 },
  { M: 3, N: 130, K: 64, transA: false, transB: true, batchA: [2], batchB: [], seed: 20 },
  { M: 4, N: 7, K: 4, transA: false, transB: true, batchA: [2], batchB: [2], seed: 21 },
  { M: 2, N: 33, K: 1028, transA: false, transB: true, batchA: [], batchB: [], seed: 22 },
  // 5 to 8 rows (CPU adapters' skinnyRows): a group of 4 rows and a partial one, both operands broadcast
  { M: 7, N: 9, K: 36, transA: false, transB: true, batchA: [2, 1], batchB: [3], seed: 23 },
  // few rows in layouts only 'element' takes: transposed A, B not transposed, K not a multiple of 4
  { M: 3, N: 5, K: 37, transA: true, transB: false, batchA: [2], batchB: [1], seed: 24 },
  { M: 4, N: 6, K: 8, transA: false, transB: false, batchA: [], batchB: [2], seed: 25 },
  { M: 2, N: 9, K: 6, transA: false, transB: true, batchA: [], batchB: [], seed: 26 },
];

describe('matmul matches the float64 reference on fixed cases', () => {
  // auto picks skinny for the profile's skinnyRows (each of its kernels checked here; layouts only 'element' takes, <= 4 rows),
  // else the texture path on llvmpipe/lavapipe and the buffer path elsewhere: check all, the texture path with and without subgroup sharing of A (where the adapter
  // has it) and with each of its blocks (24 or 32 rows a lane with 4 lanes along M, 32 with 2; 4 or 8 columns).
  it.each(['buffer', 'buffer, 128x128 tiles, K in 3 splits', 'texture', 'texture without subgroups', 'texture, sampled', 'skinny, element', 'skinny, columns', 'skinny, workgroup'] as const)('bigger fixed cases (not multiples of the tile, 256^3, rows copied to textures), %s path', async (variant) => {
    const paths: Record<typeof variant, ProfileOverrides> = {
      buffer: { matmul: { tiled: 'buffer', skinnyRows: 0 } },
      // what GPUs run for large products (auto picks it past 128 tiles, and splits past K = 512)
      'buffer, 128x128 tiles, K in 3 splits': { matmul: { tiled: 'buffer', skinnyRows: 0, tiles: 'large', splits: 3 } },
      texture: { matmul: { tiled: 'texture', skinnyRows: 0 } },
      'texture without subgroups': { matmul: { tiled: 'texture', skinnyRows: 0 }, subgroupSharing: false },
      // the operand textures read as sampled textures (where WGSL cannot read storage textures)
      'texture, sampled': { matmul: { tiled: 'texture', skinnyRows: 0, textureReads: 'sampled' } },
      // every product through one skinny kernel (those the vec4 kernels cannot take: through 'element' up to 4 rows, else tiles)
      'skinny, element': { matmul: { skinnyRows: Infinity, skinny: 'element' } },
      'skinny, columns': { matmul: { skinnyRows: Infinity, skinny: 'columns' } },
      'skinny, workgroup': { matmul: { skinnyRows: Infinity, skinny: 'workgroup' } },
    };
    setProfile(paths[variant]);
    try {
      for (const c of FIXED_CASES) await checkForward(c);
    } finally {
      setProfile(null);
    }
  });

  it("the texture path reads its operands as the profile's textureReads says: storage textures where WGSL allows, else sampled ones", async () => {
    const info = device().info;
    const wgslFeatures = info.wgslFeatures.filter((f) => f !== 'readonly_and_readwrite_storage_textures');
    expect(detectProfile({ ...info, wgslFeatures }).matmul.textureReads).toBe('sampled');
    expect(detectProfile({ ...info, wgslFeatures: [...wgslFeatures, 'readonly_and_readwrite_storage_textures'] }).matmul.textureReads).toBe('storage');
    if (!info.features.includes('timestamp-query')) return; // the kernels' names come from the profiler
    const c: Case = { M: 96, N: 64, K: 40, transA: true, transB: false, batchA: [], batchB: [], seed: 40 };
    const reads = info.wgslFeatures.includes('readonly_and_readwrite_storage_textures') ? (['storage', 'sampled'] as const) : (['sampled'] as const);
    for (const textureReads of reads) {
      setProfile({ matmul: { tiled: 'texture', skinnyRows: 0, textureReads } });
      try {
        device().startProfiling();
        await checkForward(c);
        const kernels = (await device().stopProfiling()).map((k) => k.name).filter((k) => k.startsWith('matmul-texture'));
        expect(kernels.length, textureReads).toBe(1);
        expect(kernels[0]!.endsWith('-sampled'), textureReads).toBe(textureReads === 'sampled');
      } finally {
        setProfile(null);
      }
    }
  });

  it("products past the texture path's largest texture go in blocks of texture products, not to the buffer kernel", async () => {
    if (profile().matmul.tiled !== 'texture') return; // other adapters have no such limit (matmulLaunchLimits)
    const max = device().info.limits.maxTextureDimension2D ?? 8192;
    // each past one limit: N of a transposed B ('k' rows), K of an untransposed B ('outer' rows),
    // M of an untransposed A ('k' rows), M of a transposed A ('outer' texels along M), N of an
    // untransposed B ('outer' texels along N), K of a transposed A ('outer' rows), K of both 'k'
    // layouts (texels along K)
    const cases: Case[] = [
      { M: 130, N: max + 70, K: 64, transA: false, transB: true, batchA: [], batchB: [], seed: 30 },
      { M: 70, N: 40, K: max + 30, transA: false, transB: false, batchA: [], batchB: [], seed: 31 },
      { M: max + 50, N: 24, K: 36, transA: false, transB: false, batchA: [], batchB: [], seed: 32 },
      { M: 4 * max + 20, N: 8, K: 12, transA: true, transB: false, batchA: [], batchB: [], seed: 33 },
      { M: 12, N: 4 * max + 40, K: 8, transA: false, transB: false, batchA: [], batchB: [], seed: 34 },
      { M: 20, N: 12, K: max + 30, transA: true, transB: true, batchA: [], batchB: [], seed: 35 },
      { M: 9, N: 9, K: 4 * max + 20, transA: false, transB: true, batchA: [], batchB: [], seed: 36 },
    ];
    const onTextures = async (what: string, body: () => Promise<void>) => {
      device().startProfiling();
      await body();
      const kernels = (await device().stopProfiling()).map((k) => k.name);
      expect(kernels.filter((k) => k.startsWith('matmul-tiled')), what).toEqual([]);
      expect(kernels.some((k) => k.startsWith('matmul-texture')), what).toBe(true);
    };
    setProfile({ matmul: { skinnyRows: 0 } });
    try {
      for (const c of cases) await onTextures(describeCase(c), () => checkForward(c));
      // float16 operands go in blocks of float32 copies (float32 sums rounded once to float16)
      const [a, b] = [halfValues([40, 32], 37), halfValues([max + 70, 32], 38)];
      await onTextures('float16', () =>
        scope(() => expectClose(matmul(toHalfTensor(a), toHalfTensor(b), { transB: true }), matmulRef(a, b, false, true), 1e-5 * Math.sqrt(32), 1e-3, 'float16')),
      );
    } finally {
      setProfile(null);
    }
  });

  // GPUs without tensor cores run float16 products on the register-tiled kernel, 128x128 tiles once
  // there are enough of them and K in splits when there are few (the device-start self-check holds
  // only the 64x64 tiles to the float32 kernel); the split sum rounds to float16 once
  it.each([['64x64 tiles, K in 2 splits', 'small', 2], ['128x128 tiles, K in 3 splits', 'large', 3]] as const)('float16 on the register-tiled buffer kernel: %s, vec4 and scalar layouts, empty splits', (_, tiles, splits) =>
    scope(async () => {
      setProfile({ matmul: { tiled: 'buffer', skinnyRows: 0, subgroupMatrix: null, tiles, splits } });
      try {
        const cases: Case[] = [
          { M: 130, N: 68, K: 260, transA: false, transB: true, batchA: [2], batchB: [], seed: 40 }, // vec4
          { M: 67, N: 129, K: 37, transA: true, transB: false, batchA: [], batchB: [], seed: 41 }, // scalar, partial tiles
          { M: 5, N: 12, K: 2, transA: false, transB: false, batchA: [], batchB: [3], seed: 42 }, // fewer k than splits
        ];
        device().startProfiling();
        for (const c of cases) {
          const [a, b] = [halfValues(storedShape(c.batchA, c.M, c.K, c.transA), c.seed), halfValues(storedShape(c.batchB, c.K, c.N, c.transB), c.seed + 1)];
          const got = matmul(toHalfTensor(a), toHalfTensor(b), { transA: c.transA, transB: c.transB });
          await expectClose(got, matmulRef(a, b, c.transA, c.transB), 1e-5 * Math.sqrt(c.K), 1e-3, `float16 ${describeCase(c)}`);
        }
        // the profile names each kernel once: one for each of the three layouts, and their split sums
        const kernels = (await device().stopProfiling()).map((k) => k.name);
        const size = tiles === 'large' ? '128x128' : '64x64';
        expect(kernels.filter((k) => k.startsWith(`matmul-tiled-${size}`) && k.endsWith('-split-f16')).length, kernels.join(', ')).toBe(cases.length);
        expect(kernels.filter((k) => k.startsWith('matmul_split_sum') && k.endsWith('-f16')).sort(), kernels.join(', ')).toEqual(['matmul_split_sum-f16', 'matmul_split_sum-vec4-f16']);
      } finally {
        setProfile(null);
      }
    }));

  // float16 operands are read as vec4h; rows past 4 in groups; a workgroup per 4 columns of each of
  // 70000 batches is more workgroups than one grid axis holds; operands past a binding go in blocks
  it.each(SKINNY_KERNELS)('skinny %s kernel: float16, 70000 batches, operands past a 4 KiB binding', (kernel) =>
    scope(async () => {
      setProfile({ matmul: { skinnyRows: Infinity, skinny: kernel } });
      try {
        for (const [batch, M, N, K] of [[[2], 1, 7, 260], [[], 6, 13, 64], [[3], 4, 3, 4]] as const) {
          const [a, b] = [halfValues([...batch, M, K], M + N), halfValues([N, K], K)];
          const got = matmul(toHalfTensor(a), toHalfTensor(b), { transB: true });
          // float32 sums of float16 products, rounded once to float16
          await expectClose(got, matmulRef(a, b, false, true), 1e-5 * Math.sqrt(K), 1e-3, `float16 [${[...batch, M, K]}]·[${N}, ${K}]^T`);
        }
        const [a, b] = [values([70_000, 1, 4], 7), values([70_000, 2, 4], 8)];
        await expectClose(matmul(toTensor(a), toTensor(b), { transB: true }), matmulRef(a, b, false, true), ...tol(4), '70000 batches');
        setProfile({ bindingLimit: 4096, matmul: { skinnyRows: Infinity, skinny: kernel } });
        const [x, w] = [values([3, 256], 9), values([300, 256], 10)];
        await expectClose(matmul(toTensor(x), toTensor(w), { transB: true }), matmulRef(x, w, false, true), ...tol(256), 'blocks of a 4 KiB binding');
      } finally {
        setProfile(null);
      }
    }));

  // the f32 partials of K splits are one buffer, splits x the output: fewer splits where they would
  // pass the profile's binding limit (they were held to the device's, past a lowered limit's 4 KiB)
  it("split-K partials stay within the profile's binding limit", () =>
    scope(async () => {
      setProfile({ bindingLimit: 4096, matmul: { tiled: 'buffer', skinnyRows: 0, splits: 4 } });
      try {
        for (const [M, N, K] of [[20, 20, 40], [30, 30, 16]]) {
          const [a, b] = [values([M, K], M), values([K, N], N)];
          const [, widest] = await widestBinding(() => expectClose(matmul(toTensor(a), toTensor(b)), matmulRef(a, b), ...tol(K), `[${M}, ${K}]·[${K}, ${N}]`));
          expect(widest, `the widest binding of [${M}, ${K}]·[${K}, ${N}] in 4 splits`).toBeLessThanOrEqual(4096);
        }
      } finally {
        setProfile(null);
      }
    }));

  it('more tiles than one grid axis holds (70000 batches)', () =>
    scope(async () => {
      const a = values([70_000, 1, 2], 7);
      const b = values([70_000, 2, 1], 8);
      await expectClose(matmul(toTensor(a), toTensor(b)), matmulRef(a, b), ...tol(2), 'batch 70000');
    }));

  it('K = 0 gives zeros; the method form works', () =>
    scope(async () => {
      const z = matmul(tensor(new Float32Array(0), [2, 0]), tensor(new Float32Array(0), [0, 3]));
      await expectClose(z, ref([2, 3], new Float64Array(6)), 0, 0, 'K = 0');
      const a = values([4, 3], 12);
      const b = values([4, 5], 13);
      await expectClose(toTensor(a).matmul(toTensor(b), { transA: true }), matmulRef(a, b, true), ...tol(4), 'method');
    }));
});

describe('matmul errors name the op and the shapes', () => {
  const f = (shape: number[]) => tensor(new Float32Array(numel(shape)), shape);
  it('inner dimensions differ', () =>
    scope(() => {
      expect(() => matmul(f([2, 3]), f([4, 5]))).toThrow(/matmul: inner dimensions differ in \[2, 3\] @ \[4, 5\]/);
      expect(() => matmul(f([2, 3]), f([2, 5]), { transB: true })).toThrow(/matmul:.*\[2, 5\]\^T.*3 columns.*5 rows/);
      expect(() => matmul(f([3]), f([4]))).toThrow(/matmul: inner dimensions/);
    }));
  it('batch dims not broadcastable', () =>
    scope(() => {
      expect(() => matmul(f([2, 2, 3]), f([3, 3, 4]))).toThrow(/matmul: batch dims \[2\] and \[3\].*cannot be broadcast/);
    }));
  it('wrong dtype, scalar operand', () =>
    scope(() => {
      expect(() => matmul(f([2, 3]), tensor(new Int32Array(12), [3, 4]))).toThrow(/^matmul: argument 'other' must be a float32 or float16 tensor, got int32\[3, 4\]$/);
      expect(() => matmul(f([]), f([3, 4]))).toThrow(/^matmul: input must have rank >= 1, got float32\[\]$/);
    }));
  it('options: a misspelt one or a flag that is not a boolean', () =>
    scope(() => {
      // { transposeB: true } was ignored (an inner-dimension error for [1, 2] @ [1, 2]ᵀ), transB: 'yes' taken as true
      expect(() => matmul(f([1, 2]), f([1, 2]), { transposeB: true } as never)).toThrow(/^matmul: unknown option 'transposeB'; the options are transA and transB$/);
      expect(() => matmul(f([1, 2]), f([1, 2]), { transB: 'yes' } as never)).toThrow(/^matmul: argument 'transB' must be a boolean, got string 'yes'$/);
      expect(() => matmul(f([1, 2]), f([1, 2]), null as never)).toThrow(/^matmul: argument 'opts' must be \{ transA\?, transB\? \}, got null$/);
    }));
});
