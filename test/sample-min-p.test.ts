// min-p in sampleLogits (Hugging Face's MinPLogitsWarper, after temperature, top-k and top-p): the
// GPU's draws against the float64 walk (src/check/reference/sample.ts) over many random rows, with
// ties, -Inf logits and every other option, at GPT-2's 50,257 logits too. float32 may put a cut on
// the other side of a value that sits on it: a row is compared only where minP, topP and u are clear
// of the cuts (u: the middle of a candidate's share).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sampleCandidates, sampleWalk } from '../src/check/reference/sample.js';
import { sampleLogits, scope, tensor, type SamplingOptions } from '../src/index.js';
import { fcParams, randomFromGen, seededValues, setupDevice } from './helpers.js';

await setupDevice();

type Random = ReturnType<typeof randomFromGen>;
const pick = <T>(r: Random, xs: readonly T[]): T => xs[r.int(0, xs.length - 1)]!;

/** Whether the candidates stay the same with minP or topP moved by more than float32 could move them. */
function clear(row: Float32Array, o: SamplingOptions): boolean {
  const kept = (d: SamplingOptions) => sampleCandidates(row, { ...o, ...d })?.order.length;
  const { minP = 0, topP = 1 } = o;
  const moved = [...(minP > 0 ? [{ minP: minP * (1 - 1e-4) }, { minP: Math.min(1, minP * (1 + 1e-4)) }] : []), ...(topP < 1 ? [{ topP: Math.max(0, topP - 1e-5) }, { topP: topP + 1e-5 }] : [])];
  const count = kept({});
  return moved.every((d) => kept(d) === count);
}

/** A u in the middle of the share that holds a random point; null where that share is a sliver. */
function middleOfShare(row: Float32Array, o: SamplingOptions, r: Random): number | null {
  const cuts = sampleWalk(row, 0, o).atDraw;
  const point = r.int(0, 999_999) / 1e6;
  const j = Math.max(0, cuts.findIndex((c) => c > point));
  const [lo, hi] = [cuts[j - 1] ?? 0, cuts[j] ?? 1];
  return hi - lo > 2e-5 ? Math.fround((lo + hi) / 2) : null;
}

/** Draws every row of `data` [R, V] on the GPU with its u; the rows that are clear must be the walk's. Returns how many were compared, and how many of those min-p cut. */
async function compare(data: Float32Array, V: number, o: SamplingOptions, r: Random): Promise<{ compared: number; cut: number }> {
  const R = data.length / V;
  const rows = Array.from({ length: R }, (_, i) => data.subarray(i * V, (i + 1) * V));
  const us = rows.map((row) => middleOfShare(row, o, r));
  const got = await scope(() => sampleLogits(tensor(data, [R, V]), tensor(us.map((u) => u ?? 0.5)), o).toArray());
  let [compared, cut] = [0, 0];
  rows.forEach((row, i) => {
    if (us[i] === null || !clear(row, o)) return;
    expect(got[i], `row ${i} of ${R} x ${V}, ${JSON.stringify(o)}, u ${us[i]}`).toBe(sampleWalk(row, us[i]!, o).token);
    compared++;
    const [kept, all] = [sampleCandidates(row, o), sampleCandidates(row, { ...o, minP: 0 })];
    if (o.temperature !== 0 && kept && kept.order.length < all!.order.length) cut++;
  });
  return { compared, cut };
}

/** R rows of V logits: on a grid of 1/4 (ties at every level) or spread, with -Inf now and then. */
function rowsOf(r: Random, R: number, V: number): Float32Array {
  const grid = r.int(0, 1) === 1;
  const data = Float32Array.from(r.ints(R * V, -4000, 4000), (x) => (grid ? Math.round(x / 250) / 4 : x / 1000));
  for (let k = r.int(0, Math.min(3, V - 1)) * R; k > 0; k--) data[r.int(0, data.length - 1)] = -Infinity;
  return data;
}

describe('sampleLogits with minP', () => {
  it('draws the float64 walk\'s tokens over random rows: ties, -Inf, with temperature, top-k and top-p', async () => {
    let [compared, cut] = [0, 0];
    await fc.assert(
      fc.asyncProperty(fc.gen(), async (g) => {
        const r = randomFromGen(g);
        const V = pick(r, [1, 2, 7, r.int(3, 300)]);
        const o: SamplingOptions = {
          temperature: pick(r, [0, 0.3, 1, 2.5]),
          topK: pick(r, [0, r.int(1, V)]),
          topP: pick(r, [1, 1, Math.fround(r.int(5, 95) / 100)]),
          minP: pick(r, [0, 1, Math.fround(r.int(1, 99) / 100), Math.fround(r.int(1, 99) / 1e4)]),
        };
        const n = await compare(rowsOf(r, r.int(1, 6), V), V, o, r);
        [compared, cut] = [compared + n.compared, cut + n.cut];
      }),
      fcParams(60),
    );
    expect(compared, 'rows compared').toBeGreaterThan(150);
    expect(cut, 'rows min-p cut').toBeGreaterThan(40);
  });

  it('draws the float64 walk\'s tokens over rows of 50,257 logits', async () => {
    const V = 50_257;
    const data = Float32Array.from(seededValues(2 * V, 21, -6, 6), (x) => Math.round(x * 8) / 8); // ties at every level
    for (let i = 0; i < data.length; i += 7) data[i] = -Infinity;
    const settings: SamplingOptions[] = [{ minP: 0.05 }, { minP: 1 }, { minP: 0.01, topK: 500, temperature: 0.7 }, { minP: 0.2, topP: 0.9, temperature: 1.5 }];
    let [compared, cut] = [0, 0];
    await fc.assert(
      fc.asyncProperty(fc.gen(), async (g) => {
        const n = await compare(data, V, settings[cut % settings.length]!, randomFromGen(g));
        [compared, cut] = [compared + n.compared, cut + 1];
      }),
      fcParams(settings.length),
    );
    expect(compared, 'rows compared').toBeGreaterThanOrEqual(6);
  });

  it('keeps the likeliest token and its ties at minP 1, and every token at minP 0', () =>
    scope(async () => {
      // oracle: by hand. Ties 0 and 3 share the top; at minP 1 u < 1/2 draws id 0, else id 3
      const row = [2, 1.9, -Infinity, 2, 0];
      const us = [0, 0.3, 0.6, 0.99].map(Math.fround);
      const repeated = tensor(Float32Array.from(us.flatMap(() => row)), [us.length, row.length]);
      expect([...(await sampleLogits(repeated, tensor(us), { minP: 1 }).toArray())]).toEqual([0, 0, 3, 3]);
      // minP 0 is off: the last u reaches id 4, whose weight is e^-2 of the top's
      expect([...(await sampleLogits(repeated, tensor(us), { minP: 0 }).toArray())].at(-1)).toBe(4);
    }));

  it('refuses a minP outside [0, 1] in one line', () =>
    scope(() => {
      const t = tensor([[1, 2]]);
      for (const minP of [-0.1, 1.5, NaN, '0.1']) {
        expect(() => sampleLogits(t, tensor([0.5]), { minP: minP as number })).toThrow(/^sampleLogits: minP must be a number in \[0, 1\] \(0 = off\), got (number|string) /);
      }
    }));
});
