// dropout against the plain-TS Philox reference (test/philox-reference.ts): the mask must match bit
// for bit, kept values equal x * fround(1 / (1 - p)) exactly (tolerance 0 for x = 1, atol 1e-6 +
// rtol 1e-6 otherwise), the backward regenerates the same mask, and checkGrad (defaults: atol 1e-3,
// rtol 1e-2) agrees with float64 finite differences of the reference at a fixed seed.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import * as ops from '../src/index.js';
import { checkGrad } from './gradcheck.js';
import { expectClose, fcParams, seededValues, setupDevice, shapeArb } from './helpers.js';
import { dropoutMaskRef } from './philox-reference.js';
import { numel, ref } from './reference.js';
import { dropoutRef } from './reference-index.js';

beforeAll(setupDevice);

const { scope, tensor } = ops;
const seedArb = fc.oneof(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.constantFrom(0, 1, 2 ** 32, 2 ** 53 - 1));
const pArb = fc.oneof(fc.constantFrom(0.1, 0.5, 0.9, 1 / 3, 2 ** -24), fc.double({ min: 0, max: 0.99, noNaN: true }));

describe('dropout forward', () => {
  it('keeps exactly the reference mask and scales by 1 / (1 - p) (random shapes, p, seeds)', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb(0, 4), pArb, seedArb, (shape, p, seed) =>
        scope(async () => {
          const out = ops.dropout(ops.ones(shape), p, seed);
          const mask = dropoutMaskRef(numel(shape), p, seed);
          const scale = Math.fround(1 / (1 - p));
          await expectClose(out, ref([...shape], Array.from(mask, (m) => m * scale)), 0, 0, `dropout p=${p} seed=${seed}`);
        }),
      ),
      fcParams(25),
    );
  });

  it('matches the float64 reference on random values', () =>
    scope(async () => {
      const x = ref([3, 7, 67], seededValues(3 * 7 * 67, 4, -3, 3));
      const p = 0.25;
      const out = ops.dropout(tensor(Float32Array.from(x.data), x.shape), p, 123_456_789);
      await expectClose(out, dropoutRef(x, dropoutMaskRef(x.data.length, p, 123_456_789), p), 1e-6, 1e-6, 'dropout');
    }));

  it('keeps about 1 - p of 100k elements; the same seed repeats, another seed differs', () =>
    scope(async () => {
      const n = 100_003;
      for (const p of [0.1, 0.5, 0.8]) {
        const kept = (await ops.dropout(ops.ones([n]), p, 77).toArray()).filter((v) => v !== 0).length;
        // binomial std of the fraction is at most 0.0016 at n = 100k; allow 5 sigma
        expect(Math.abs(kept / n - (1 - p))).toBeLessThan(0.008);
      }
      const a = await ops.dropout(ops.ones([n]), 0.5, 5).toArray();
      const b = await ops.dropout(ops.ones([n]), 0.5, 5).toArray();
      const c = await ops.dropout(ops.ones([n]), 0.5, 6).toArray();
      expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
      const same = a.filter((v, i) => v === c[i]).length / n;
      expect(same).toBeGreaterThan(0.45); // independent masks agree about half the time
      expect(same).toBeLessThan(0.55);
    }));

  it('p = 0 and training = false return a view of x (same storage), gradient passing through', () =>
    scope(async () => {
      const x = tensor([1, 2, 3]).requiresGrad_();
      const a = ops.dropout(x, 0, 1);
      const b = x.dropout(0.5, 1, false);
      expect(a.storage()).toBe(x.storage());
      expect(b.storage()).toBe(x.storage());
      a.add(b).sum().backward();
      expect([...(await x.grad!.toArray())]).toEqual([2, 2, 2]);
    }));
});

describe('dropout backward', () => {
  it('regenerates the mask from the seed: d x = mask * g / (1 - p)', () =>
    scope(async () => {
      const shape = [4, 129];
      const p = 0.3;
      const seed = 2 ** 40 + 3;
      const x = ops.randn(shape, { seed: 1 }).requiresGrad_();
      const gRef = ref(shape, Float32Array.from(seededValues(numel(shape), 9)));
      ops.dropout(x, p, seed).backward(tensor(Float32Array.from(gRef.data), shape));
      await expectClose(x.grad!, dropoutRef(gRef, dropoutMaskRef(numel(shape), p, seed), p), 1e-6, 1e-6, 'd dropout');
    }));

  it('matches finite differences of the reference (fixed seed)', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb(0, 3).filter((s) => numel(s) <= 300),
        fc.constantFrom(0.2, 0.5, 0.7),
        async (shape, p) => {
          const seed = 31337;
          const mask = dropoutMaskRef(numel(shape), p, seed);
          await checkGrad({
            name: `dropout p=${p} [${shape}]`,
            inputs: [ref(shape, seededValues(numel(shape), 8))],
            engine: ([x]) => ops.dropout(x!, p, seed),
            reference: ([x]) => dropoutRef(x!, mask, p),
          });
        },
      ),
      fcParams(8),
    );
  });
});

describe('dropout errors name the op', () => {
  it('rejects bad p, seeds and dtypes', () =>
    scope(() => {
      const x = ops.ones([4]);
      expect(() => ops.dropout(x, 1, 0)).toThrow(/dropout: p must be in \[0, 1\), got 1/);
      expect(() => ops.dropout(x, -0.1, 0)).toThrow(/dropout: p must be in \[0, 1\), got -0.1/);
      expect(() => ops.dropout(x, NaN, 0)).toThrow(/dropout: p must be in \[0, 1\), got NaN/);
      expect(() => ops.dropout(x, 0.5, -1)).toThrow(/dropout: seed must be a non-negative safe integer, got -1/);
      expect(() => ops.dropout(x, 0.5, 1.5)).toThrow(/dropout: seed must be a non-negative safe integer, got 1.5/);
      expect(() => ops.dropout(ops.ones([4], 'int32'), 0.5, 0)).toThrow(/dropout: expected float32 tensors, got int32\[4\]/);
    }));
});
