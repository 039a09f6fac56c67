// dropout beyond the op table's drawn calls (test/ops.test.ts, which holds it to the Philox
// reference mask forward and backward): the fraction kept of 100k elements, reproducibility from
// the seed, p = 0 and training = false as views, p = 1 dropping everything, and the errors.
import { beforeAll, describe, expect, it } from 'vitest';
import * as ops from '../src/index.js';
import { setupDevice } from './helpers.js';

beforeAll(setupDevice);

const { scope, tensor } = ops;

describe('dropout forward', () => {
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

  // PyTorch's p = 1 is x * 0 (NaN for NaN and infinite x); here a dropped element is 0 whatever p
  it('p = 1 gives zeros (non-finite elements too) and a zero gradient; in eval, x', () =>
    scope(async () => {
      const x = tensor([1, -2, NaN, Infinity, -0]).requiresGrad_();
      const y = ops.dropout(x, 1, 3);
      expect([...(await y.toArray())]).toEqual([0, 0, 0, 0, 0]);
      y.mul(tensor([1, 2, 3, 4, 5])).sum().backward();
      expect([...(await x.grad!.toArray())]).toEqual([0, 0, 0, 0, 0]);
      expect(x.dropout(1, 3, false).storage()).toBe(x.storage());
    }));
});

describe('dropout errors name the op', () => {
  it('rejects bad p, seeds and dtypes', () =>
    scope(() => {
      const x = ops.ones([4]);
      expect(() => ops.dropout(x, 1.5, 0)).toThrow(/^dropout: argument 'p' must be a number in \[0, 1\], got 1.5$/);
      expect(() => ops.dropout(x, -0.1, 0)).toThrow(/^dropout: argument 'p' must be a number in \[0, 1\], got -0.1$/);
      expect(() => ops.dropout(x, NaN, 0)).toThrow(/^dropout: argument 'p' must be a number in \[0, 1\], got NaN$/);
      expect(() => ops.dropout(x, 0.5, -1)).toThrow(/dropout: seed must be a non-negative safe integer, got -1/);
      expect(() => ops.dropout(x, 0.5, 1.5)).toThrow(/dropout: seed must be a non-negative safe integer, got 1.5/);
      // training 'no' was truthy (elements dropped), 0 falsy
      expect(() => ops.dropout(x, 0.5, 1, 'no' as never)).toThrow(/^dropout: argument 'training' must be a boolean, got string 'no'$/);
      expect(() => x.dropout(0.5, 1, 0 as never)).toThrow(/^dropout: argument 'training' must be a boolean, got number 0$/);
      expect(() => ops.dropout(ops.ones([4], 'int32'), 0.5, 0)).toThrow(/^dropout: argument 'input' must be a float32 or float16 tensor, got int32\[4\]$/);
    }));
});
