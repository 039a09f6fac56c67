// Shared test helpers: one device per test file, random shapes and values from fast-check, and a
// comparison that prints the worst element when it fails.
import fc from 'fast-check';
import { expect } from 'vitest';
import { initDevice, tensor, type Tensor } from '../src/index.js';
import type { Ref } from './reference.js';

export async function setupDevice() {
  try {
    return await initDevice();
  } catch (e) {
    throw new Error(`${(e as Error).message}\nThe tests need a WebGPU adapter: run \`node bin/gpt.js doctor\`.`);
  }
}

/** Fixed in CI; set FC_SEED to explore other cases locally. */
export const fcParams = (numRuns = 25): fc.Parameters<unknown> => ({
  numRuns,
  seed: process.env.FC_SEED ? Number(process.env.FC_SEED) : 42,
  endOnFailure: true,
});

export const dimArb = fc.oneof(fc.integer({ min: 1, max: 8 }), fc.constantFrom(1, 2, 3, 5, 7, 13, 31, 67, 70));
export const shapeArb = (minRank = 0, maxRank = 4) =>
  fc.array(dimArb, { minLength: minRank, maxLength: maxRank }).filter((s) => s.reduce((a, b) => a * b, 1) <= 40_000);

/** A shape and another that broadcasts with it (some dims dropped or set to 1). */
export const broadcastPairArb = shapeArb(0, 4).chain((s) =>
  fc.tuple(
    fc.constant(s),
    fc.tuple(fc.integer({ min: 0, max: s.length }), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 })).map(
      ([drop, ones]) => s.slice(drop).map((d, i) => (ones[i] ? 1 : d)),
    ),
    fc.boolean(),
  ).map(([a, b, swap]) => (swap ? [b, a] : [a, b]) as [number[], number[]]),
);

export function valuesArb(n: number, min = -3, max = 3) {
  return fc.array(fc.float({ min: Math.fround(min), max: Math.fround(max), noNaN: true, noDefaultInfinity: true }), {
    minLength: n,
    maxLength: n,
  });
}

/** Deterministic pseudo-random values (for bigger tensors than fast-check should generate). */
export function seededValues(n: number, seed: number, min = -1, max = 1): Float64Array {
  let s = seed >>> 0 || 1;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = min + ((s >>> 0) / 2 ** 32) * (max - min);
  }
  return out;
}

export const toTensor = (r: Ref): Tensor => tensor(Float32Array.from(r.data), r.shape);

/** |got - want| <= atol + rtol |want| everywhere, with the worst element in the message. */
export async function expectClose(t: Tensor, want: Ref, atol = 1e-5, rtol = 1e-4, what = ''): Promise<void> {
  expect([...t.shape], `${what} shape`).toEqual(want.shape);
  const got = await t.toArray();
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < got.length; i++) {
    const w = want.data[i]!;
    const g = got[i]!;
    const err = Math.abs(g - w) - (atol + rtol * Math.abs(w));
    if (!(err <= 0) && (worst < 0 || err > worstErr || Number.isNaN(g))) {
      worst = i;
      worstErr = err;
    }
  }
  if (worst >= 0) {
    throw new Error(
      `${what}: element ${worst} of ${t.describe()} is ${got[worst]}, expected ${want.data[worst]} (atol ${atol}, rtol ${rtol})`,
    );
  }
}
