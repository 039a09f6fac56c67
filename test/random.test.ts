// rand / randn against the plain-TS Philox4x32-10 reference (src/check/reference/philox.ts): the
// reference itself checked on Random123's known-answer vectors; uniform draws bit for bit (exact);
// normal draws within atol 1e-5 + rtol 1e-5 of the float64 Box-Muller (the GPU's f32 log/cos), plus
// a term for f32 log's absolute error where 1 - u1 is within 2^-14 of 1 (see expectNormalClose);
// then statistics over 100k samples and reproducibility from the seed.
import { beforeAll, describe, expect, it } from 'vitest';
import * as ops from '../src/index.js';
import { expectClose, setupDevice } from './helpers.js';
import { draw, mulhilo, normalRef, philox4x32, uniform01, uniformRef } from '../src/check/reference/index.js';
import { ref } from '../src/check/reference/index.js';

beforeAll(setupDevice);

const { scope } = ops;
const SEEDS = [0, 1, 123_456_789, 2 ** 32 - 1, 2 ** 40 + 5, 2 ** 53 - 1];

describe('Philox4x32-10 reference', () => {
  it('reproduces the known-answer vectors of Random123 (kat_vectors, philox4x32 10)', () => {
    const hex = (v: number[]) => v.map((x) => x.toString(16).padStart(8, '0')).join(' ');
    expect(hex(philox4x32([0, 0, 0, 0], [0, 0]))).toBe('6627e8d5 e169c58d bc57ac4c 9b00dbd8');
    const ones = 0xffffffff;
    expect(hex(philox4x32([ones, ones, ones, ones], [ones, ones]))).toBe('408f276d 41c83b0e a20bc7c6 6d5451fd');
    expect(hex(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]))).toBe(
      'd16cfe09 94fdcceb 5001e420 24126ea1',
    );
  });

  it('mulhilo agrees with BigInt products', () => {
    const vals = [0, 1, 0xffff, 0x10000, 0xd2511f53, 0xcd9e8d57, 0xffffffff, 0x80000000, 0x12345678];
    for (const a of vals)
      for (const b of vals) {
        const prod = BigInt(a) * BigInt(b);
        expect(mulhilo(a, b)).toEqual([Number(prod >> 32n), Number(prod & 0xffffffffn)]);
      }
  });
});

describe('rand / randn match the reference', () => {
  it('rand is bit-for-bit the reference uniform01 (100k elements, several seeds)', () =>
    scope(async () => {
      const n = 100_003; // not a multiple of the workgroup size
      for (const seed of SEEDS) {
        const got = await ops.rand([n], { seed }).toArray();
        const want = uniformRef(n, seed);
        let bad = -1;
        for (let i = 0; i < n && bad < 0; i++) if (got[i] !== want[i]) bad = i;
        expect(bad, `seed ${seed}: first mismatch (got ${got[bad]}, want ${want[bad]})`).toBe(-1);
      }
    }));

  it('rand with low/high is low + (high - low) u', () =>
    scope(async () => {
      const want = uniformRef(5000, 42, -2, 3);
      await expectClose(ops.rand([50, 100], { seed: 42, low: -2, high: 3 }), ref([50, 100], want), 1e-6, 1e-6, 'rand [-2, 3)');
    }));

  // Tolerance: 1e-5 + 1e-5 |z|, plus what an absolute error of one float32 ulp(1) (1.2e-7) in
  // the GPU's log(1 - u1) becomes in z = r cos(.), r = sqrt(-2 log(1 - u1)): about 1.2e-7 / r. That
  // term only matters for r < 0.012 (u1 < 7e-5, where log's argument is within 2^-14 of 1 and
  // f32 log has no relative accuracy left; lavapipe is off by up to ~0.5 ulp(1) there).
  async function expectNormalClose(t: ops.Tensor, n: number, seed: number, mean = 0, std = 1): Promise<void> {
    const got = await t.toArray();
    const want = normalRef(n, seed, mean, std);
    for (let i = 0; i < n; i++) {
      const r = Math.sqrt(-2 * Math.log(1 - uniform01(draw(i, seed)[0])));
      const tol = 1e-5 + 1e-5 * Math.abs(want[i]!) + (r > 0 ? (std * 1.2e-7) / r : 0);
      if (!(Math.abs(got[i]! - want[i]!) <= tol)) {
        throw new Error(`randn seed ${seed}: element ${i} is ${got[i]}, expected ${want[i]} (r ${r}, tolerance ${tol})`);
      }
    }
  }

  it('randn is the reference Box-Muller within 1e-5 (a little more where log(1 - u1) is near 0)', () =>
    scope(async () => {
      const n = 100_003;
      for (const seed of SEEDS) await expectNormalClose(ops.randn([n], { seed }), n, seed);
      await expectNormalClose(ops.randn([7, 9], { seed: 3, mean: 2, std: 0.5 }), 63, 3, 2, 0.5);
    }));

  it('element i depends only on (i, seed), not on the shape', () =>
    scope(async () => {
      const flat = await ops.rand([6 * 7 * 5], { seed: 9 }).toArray();
      const shaped = await ops.rand([6, 7, 5], { seed: 9 }).toArray();
      expect([...shaped]).toEqual([...flat]);
      const short = await ops.randn([10], { seed: 9 }).toArray();
      expect([...short]).toEqual([...(await ops.randn([1000], { seed: 9 }).toArray()).slice(0, 10)]);
    }));
});

describe('statistics and reproducibility', () => {
  const moments = (v: ArrayLike<number>) => {
    let [s, min, max] = [0, Infinity, -Infinity];
    for (let i = 0; i < v.length; i++) {
      s += v[i]!;
      min = Math.min(min, v[i]!);
      max = Math.max(max, v[i]!);
    }
    const mean = s / v.length;
    let q = 0;
    for (let i = 0; i < v.length; i++) q += (v[i]! - mean) ** 2;
    return { mean, std: Math.sqrt(q / v.length), min, max };
  };


  it('uniform: mean ~ 0.5, std ~ sqrt(1/12), all in [0, 1), over 100k samples', () =>
    scope(async () => {
      const m = moments(await ops.rand([100_000], { seed: 2024 }).toArray());
      // standard errors: mean 0.0009, std 0.0006; allow about 5 of them
      expect(Math.abs(m.mean - 0.5)).toBeLessThan(0.005);
      expect(Math.abs(m.std - Math.sqrt(1 / 12))).toBeLessThan(0.003);
      expect(m.min).toBeGreaterThanOrEqual(0);
      expect(m.max).toBeLessThan(1);
    }));

  it('normal: mean ~ 0, std ~ 1, finite, over 100k samples', () =>
    scope(async () => {
      const m = moments(await ops.randn([100_000], { seed: 2024 }).toArray());
      // standard errors: mean 0.0032, std 0.0022
      expect(Math.abs(m.mean)).toBeLessThan(0.015);
      expect(Math.abs(m.std - 1)).toBeLessThan(0.01);
      expect(Number.isFinite(m.min) && Number.isFinite(m.max)).toBe(true);
      const m2 = moments(await ops.randn([100_000], { seed: 7, mean: 3, std: 2 }).toArray());
      expect(Math.abs(m2.mean - 3)).toBeLessThan(0.03);
      expect(Math.abs(m2.std - 2)).toBeLessThan(0.02);
    }));

  it('the same seed gives the same numbers; different seeds (also differing only above bit 32) differ', () =>
    scope(async () => {
      const bytes = async (seed: number) => Buffer.from((await ops.randn([4096], { seed }).toArray()).buffer);
      expect((await bytes(11)).equals(await bytes(11))).toBe(true);
      expect((await bytes(11)).equals(await bytes(12))).toBe(false);
      expect((await bytes(5)).equals(await bytes(5 + 2 ** 32))).toBe(false);
    }));

  it('rejects seeds that are not non-negative safe integers', () =>
    scope(() => {
      expect(() => ops.rand([2], { seed: -1 })).toThrow(/rand: argument 'seed' must be a non-negative safe integer, got number -1/);
      expect(() => ops.randn([2], { seed: 0.5 })).toThrow(/randn: argument 'seed' must be a non-negative safe integer, got number 0.5/);
    }));
});
