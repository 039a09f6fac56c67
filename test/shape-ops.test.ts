// permute / transpose / slice / concat / cast against float64 references. The copies are exact
// (tolerance 0, int32 and float32 bit patterns alike); gradients use checkGrad's defaults
// (atol 1e-3, rtol 1e-2 against float64 central differences, which are exact for these linear ops).
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import * as ops from '../src/index.js';
import { checkGrad } from './gradcheck.js';
import { expectClose, fcParams, seededValues, setupDevice, shapeArb } from './helpers.js';
import { numel, ref, type Ref } from './reference.js';
import { concatRef, permuteRef, sliceRef } from './reference-index.js';

beforeAll(setupDevice);

const { scope, tensor } = ops;
type Tensor = ops.Tensor;

/** Small integers stored as float32 (so int32 and float32 runs can share the reference). */
function intValues(shape: number[], seed: number): Ref {
  return ref(shape, Array.from(seededValues(numel(shape), seed, -1000, 1000), Math.round));
}
const asTensor = (r: Ref, dtype: ops.DType) =>
  dtype === 'int32' ? tensor(Int32Array.from(r.data), r.shape) : tensor(Float32Array.from(r.data), r.shape);

const permArb = (rank: number) => fc.shuffledSubarray([...Array(rank).keys()], { minLength: rank, maxLength: rank });
const dtypeArb = fc.constantFrom<ops.DType>('float32', 'int32');

describe('permute / transpose', () => {
  it('match the reference for random shapes (rank 0-4) and permutations, both dtypes', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb(0, 4).chain((s) => fc.tuple(fc.constant(s), permArb(s.length), fc.integer({ min: 1, max: 1e6 }), dtypeArb)),
        ([shape, perm, seed, dtype]) =>
          scope(async () => {
            const a = intValues(shape, seed);
            const out = ops.permute(asTensor(a, dtype), perm);
            expect(out.dtype).toBe(dtype);
            await expectClose(out, permuteRef(a, perm), 0, 0, `permute [${perm}] of [${shape}]`);
          }),
      ),
      fcParams(25),
    );
  });

  it('negative dims, transpose defaults and explicit axes, rank 6', () =>
    scope(async () => {
      const a = intValues([2, 3, 5], 7);
      const t = asTensor(a, 'float32');
      await expectClose(ops.permute(t, [-1, 0, -2]), permuteRef(a, [2, 0, 1]), 0, 0, 'negative dims');
      await expectClose(t.transpose(), permuteRef(a, [0, 2, 1]), 0, 0, 'transpose()');
      await expectClose(ops.transpose(t, 0, 2), permuteRef(a, [2, 1, 0]), 0, 0, 'transpose(0, 2)');
      const b = intValues([2, 3, 1, 2, 5, 3], 9);
      const perm = [5, 3, 0, 4, 2, 1];
      await expectClose(asTensor(b, 'int32').permute(perm), permuteRef(b, perm), 0, 0, 'rank 6');
    }));

  it('copy raw bits: -0, denormals, NaN payloads and int32 extremes survive', () =>
    scope(async () => {
      const words = new Uint32Array([0x80000000, 0x00000001, 0x007fffff, 0x7fc00123, 0xffffffff, 0x7fffffff]);
      const f = tensor(new Float32Array(words.buffer), [2, 3]);
      const i = tensor(new Int32Array(words.buffer), [2, 3]);
      const bits = async (t: Tensor) => [...new Uint32Array((await t.toArray()).buffer)];
      const want = [0, 3, 1, 4, 2, 5].map((k) => words[k]!);
      expect(await bits(f.transpose())).toEqual(want);
      expect(await bits(i.transpose())).toEqual(want);
      expect(await bits(ops.concat([f.slice(1, 2), f.slice(1, 0, 2)], 1))).toEqual([2, 0, 1, 5, 3, 4].map((k) => words[k]!));
    }));
});

describe('slice / concat', () => {
  it('slice matches Python semantics (negative, clamped and empty bounds)', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb(1, 4).chain((s) =>
          fc.tuple(
            fc.constant(s),
            fc.integer({ min: -s.length, max: s.length - 1 }),
            fc.integer({ min: -80, max: 80 }),
            fc.option(fc.integer({ min: -80, max: 80 })),
            fc.integer({ min: 1, max: 1e6 }),
            dtypeArb,
          ),
        ),
        ([shape, axis, start, end, seed, dtype]) =>
          scope(async () => {
            const a = intValues(shape, seed);
            const ax = axis < 0 ? axis + shape.length : axis;
            const out = ops.slice(asTensor(a, dtype), axis, start, end ?? undefined);
            await expectClose(out, sliceRef(a, ax, start, end ?? undefined), 0, 0, `slice ${axis} ${start}:${end} of [${shape}]`);
          }),
      ),
      fcParams(30),
    );
  });

  it('concat of 1-4 pieces (some empty) matches the reference', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb(1, 4).chain((s) =>
          fc.tuple(
            fc.constant(s),
            fc.integer({ min: 0, max: s.length - 1 }),
            fc.array(fc.oneof(fc.integer({ min: 0, max: 7 }), fc.constantFrom(13, 31)), { minLength: 1, maxLength: 4 }),
            fc.integer({ min: 1, max: 1e6 }),
            dtypeArb,
          ),
        ),
        ([shape, axis, lens, seed, dtype]) =>
          scope(async () => {
            const pieces = lens.map((len, k) => intValues(shape.map((d, i) => (i === axis ? len : d)), seed + k));
            const out = ops.concat(pieces.map((p) => asTensor(p, dtype)), axis - shape.length); // negative axis
            await expectClose(out, concatRef(pieces, axis), 0, 0, `concat [${lens}] along ${axis}`);
          }),
      ),
      fcParams(30),
    );
  });

  it('slices and concat round-trip along the last axis of a [B, T, 3C] tensor', () =>
    scope(async () => {
      const [B, T, C] = [2, 5, 7];
      const qkv = intValues([B, T, 3 * C], 3);
      const t = asTensor(qkv, 'float32');
      const parts = [0, 1, 2].map((i) => ops.slice(t, 2, i * C, (i + 1) * C));
      await expectClose(ops.concat(parts, -1), qkv, 0, 0, 'round trip');
    }));
});

describe('gradients', () => {
  it('d permute is the inverse permutation', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb(1, 4)
          .filter((s) => numel(s) <= 300)
          .chain((s) => fc.tuple(fc.constant(s), permArb(s.length))),
        async ([shape, perm]) => {
          await checkGrad({
            name: `permute [${perm}]`,
            inputs: [ref(shape, seededValues(numel(shape), 11))],
            engine: ([x]) => ops.permute(x!, perm),
            reference: ([x]) => permuteRef(x!, perm),
          });
        },
      ),
      fcParams(10),
    );
  });

  it('d slice is the gradient zero-padded into the slice region', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb(1, 4)
          .filter((s) => numel(s) <= 300)
          .chain((s) =>
            fc.tuple(fc.constant(s), fc.integer({ min: 0, max: s.length - 1 }), fc.integer({ min: -9, max: 9 }), fc.integer({ min: -9, max: 9 })),
          ),
        async ([shape, axis, start, end]) => {
          await checkGrad({
            name: `slice ${axis} ${start}:${end}`,
            inputs: [ref(shape, seededValues(numel(shape), 12))],
            engine: ([x]) => ops.slice(x!, axis, start, end),
            reference: ([x]) => sliceRef(x!, axis, start, end),
          });
        },
      ),
      fcParams(10),
    );
  });

  it('d concat is the gradient cut into pieces (only for inputs that need it)', async () => {
    const a = ref([2, 3, 4], seededValues(24, 1));
    const b = ref([2, 1, 4], seededValues(8, 2));
    const c = ref([2, 5, 4], seededValues(40, 3));
    await checkGrad({
      name: 'concat',
      inputs: [a, b, c],
      engine: (xs) => ops.concat(xs, 1),
      reference: (xs) => concatRef(xs, 1),
    });
    await checkGrad({
      name: 'concat (middle input constant)',
      inputs: [a, b, c],
      differentiable: [true, false, true],
      engine: (xs) => ops.concat(xs, 1),
      reference: (xs) => concatRef(xs, 1),
    });
  });
});

describe('cast', () => {
  it('float32 -> int32 truncates toward zero; int32 -> float32 is exact; same dtype is a view', () =>
    scope(async () => {
      const f = tensor([-2.7, -0.5, 0, 0.5, 2.7, 1e6 + 0.75, -123456.9, 16777216]);
      const i = f.astype('int32');
      expect(i.dtype).toBe('int32');
      expect([...(await i.toArray())]).toEqual([-2, 0, 0, 0, 2, 1000000, -123456, 16777216]);
      expect([...(await tensor([3e9, -3e9]).astype('int32').toArray())]).toEqual([2147483520, -2147483648]); // saturates (WGSL: at 2^31 - 128)
      const back = ops.cast(tensor(new Int32Array([-7, 0, 5, 16777217, -2147483648]), [5]), 'float32');
      expect(back.dtype).toBe('float32');
      expect([...(await back.toArray())]).toEqual([-7, 0, 5, 16777216, -2147483648].map(Math.fround));
      const same = f.astype('float32');
      expect(same.storage()).toBe(f.storage());
      const x = tensor([1.5, 2.5]).requiresGrad_();
      expect(x.astype('int32').requiresGrad).toBe(false); // not differentiable
      expect(ops.zeros([0, 3]).astype('int32').shape).toEqual([0, 3]);
    }));

  it('float32 -> int32 matches Math.trunc for random shapes', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb(0, 4), fc.integer({ min: 1, max: 1e6 }), (shape, seed) =>
        scope(async () => {
          const vals = Float32Array.from(seededValues(numel(shape), seed, -1e5, 1e5));
          const out = tensor(vals, shape).astype('int32');
          expect([...out.shape]).toEqual(shape);
          expect([...(await out.toArray())]).toEqual(Array.from(vals, Math.trunc).map((v) => v | 0));
        }),
      ),
      fcParams(10),
    );
  });
});

describe('errors name the op', () => {
  it('permute / transpose', () =>
    scope(() => {
      const t = ops.zeros([2, 3, 4]);
      expect(() => ops.permute(t, [0, 0, 1])).toThrow(/permute: \[0, 0, 1\] is not a permutation of the 3 dims of float32\[2, 3, 4\]/);
      expect(() => ops.permute(t, [0, 1])).toThrow(/permute: .*not a permutation/);
      expect(() => ops.permute(t, [0, 1, 3])).toThrow(/permute: .*not a permutation/);
      expect(() => ops.transpose(t, 0, 3)).toThrow(/transpose: axis 3 is out of range for a tensor of rank 3/);
      expect(() => ops.transpose(ops.zeros([4]))).toThrow(/transpose: axis -2 is out of range/);
    }));

  it('slice', () =>
    scope(() => {
      const t = ops.zeros([2, 3]);
      expect(() => ops.slice(t, 2, 0, 1)).toThrow(/slice: axis 2 is out of range for a tensor of rank 2/);
      expect(() => ops.slice(ops.zeros([]), 0, 0, 1)).toThrow(/slice: needs a tensor of rank >= 1, got float32\[\]/);
      expect(() => ops.slice(t, 0, 0.5, 1)).toThrow(/slice: bounds must be integers/);
    }));

  it('concat', () =>
    scope(() => {
      const a = ops.zeros([2, 3]);
      expect(() => ops.concat([a, ops.zeros([3, 3])], 1)).toThrow(/concat: shapes must match except along axis 1, got \[2, 3\] and \[3, 3\]/);
      expect(() => ops.concat([a, ops.zeros([2, 3, 1])], 0)).toThrow(/concat: shapes must match/);
      expect(() => ops.concat([a, ops.zeros([2, 3], 'int32')], 0)).toThrow(/concat: tensors must share a dtype, got float32\[2, 3\] and int32\[2, 3\]/);
      expect(() => ops.concat([a], 2)).toThrow(/concat: axis 2 is out of range/);
      expect(() => ops.concat([], 0)).toThrow(/concat: needs at least one tensor/);
      const gone = ops.zeros([2, 3]);
      gone.dispose();
      expect(() => ops.concat([a, gone], 0)).toThrow(/concat: tensor float32\[2, 3\] was used after dispose/);
    }));
});
