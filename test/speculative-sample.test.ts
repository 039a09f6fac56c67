// speculativeSample (src/ops/speculative.ts) against its float64 reference, the rule the exact test
// integrates (src/check/reference/speculative.ts), on random rounds: k = 1 to 6 drafts, logits
// spread or on a grid (ties) with -Inf among them, the draft's rows the target's nudged or its
// own, draft ids the draft's own draws (likely under p) or any id (p may not keep it), temperature,
// top-k, top-p and min-p. A round whose float64 decisions sit within float32 rounding of a
// boundary (nearBoundary: a top-p cut, a weight at minP, u * q(x) against p(x), a residual of
// almost no weight, u's point against a running sum) may go either way and is not compared; the
// rounds told apart so are counted, and must stay few. Small vocabularies in numbers, GPT-2's (50,257) in a few rounds;
// bad shapes and logits larger than a binding are refused in one line.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ref, type Ref } from '../src/check/reference/array.js';
import { decisionsOf, drawFrom, nearBoundary, roundRows, shareMiddle, speculativeSampleRef, type RoundRow } from '../src/check/reference/speculative.js';
import { scope, speculativeSample, tensor, zeros, type SamplingOptions } from '../src/index.js';
import { setProfile } from '../src/kernels/profile.js';
import { Generator } from '../src/tensor/generator.js';
import { fcParams, setupDevice } from './helpers.js';

await setupDevice();

interface Round {
  seed: number;
  V: number;
  k: number;
  grid: boolean;
  nudged: boolean;
  masked: number; // the share of -Inf logits
  likely: boolean[];
  temperature: number;
  topK: number; // 0: off
  topP: number;
  minP: number;
  shareU: boolean; // u[k] the middle of a share of what the round draws from (else any)
}

const roundArb = (V: fc.Arbitrary<number>) =>
  fc.record({
    seed: fc.integer({ min: 0, max: 2 ** 30 }),
    V,
    k: fc.integer({ min: 1, max: 6 }),
    grid: fc.boolean(),
    nudged: fc.boolean(),
    masked: fc.constantFrom(0, 0, 0.1, 0.6),
    likely: fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
    temperature: fc.constantFrom(0, 0.5, 1, 2),
    topK: fc.constantFrom(0, 0, 1, 3, 40),
    topP: fc.constantFrom(1, 1, 0.3, 0.9),
    minP: fc.constantFrom(0, 0, 0.05, 0.5),
    shareU: fc.boolean(),
  });

/** The round's arguments as speculativeSample takes them (float32 values), from its seed. */
function argsOf(c: Round): { logits: Ref; ids: Ref; u: Ref; opts: SamplingOptions; rows: RoundRow[] } {
  const g = new Generator(c.seed);
  const { V, k } = c;
  const normal = () => Math.sqrt(-2 * Math.log(1 - g.nextFloat())) * Math.cos(2 * Math.PI * g.nextFloat());
  const value = () => (g.nextFloat() < c.masked ? -Infinity : c.grid ? Math.round(normal() * 2) / 2 : 2 * normal());
  const target = Array.from({ length: (k + 1) * V }, value);
  const draft = c.nudged ? target.slice(0, k * V).map((x) => x + 0.3 * normal()) : Array.from({ length: k * V }, value);
  const logits = ref([2 * k + 1, V], Float32Array.from([...target, ...draft]));
  // a row of -Inf alone has no distribution: keep one logit (its row then draws only it)
  for (let r = 0; r < 2 * k + 1; r++) if (logits.data.subarray(r * V, (r + 1) * V).every((x) => x === -Infinity)) logits.data[r * V + (r % V)] = 0;
  const opts = { temperature: c.temperature, topK: c.topK, topP: c.topP, minP: c.minP };
  const rows = roundRows(logits, opts);
  const ids = ref([k], Array.from({ length: k }, (_, i) => (c.likely[i] ? drawFrom(rows[k + 1 + i]!.probs, g.nextFloat()) : g.nextInt(V))));
  const u = ref([k + 1], Array.from({ length: k + 1 }, () => Math.fround(g.nextFloat())));
  if (c.shareU) u.data[k] = Math.fround(shareMiddle(decisionsOf(rows, ids, u)!.from, g.nextInt(V)));
  return { logits, ids, u, opts, rows };
}

/** The GPU's [accepted, token] for a round. */
const onGpu = (a: { logits: Ref; ids: Ref; u: Ref; opts: SamplingOptions }) =>
  scope(async () => Array.from(await speculativeSample(tensor(Float32Array.from(a.logits.data), a.logits.shape), tensor(Int32Array.from(a.ids.data), [a.ids.data.length], 'int32'), tensor(Float32Array.from(a.u.data), [a.u.data.length]), a.opts).toArray()));

/** Checks rounds; returns how many sat on a boundary (not compared) and how many of those the GPU decided the other way. */
async function check(rounds: fc.Arbitrary<Round>, numRuns: number): Promise<{ near: number; flipped: number; runs: number }> {
  const tally = { near: 0, flipped: 0, runs: 0 };
  await fc.assert(
    fc.asyncProperty(rounds, async (c) => {
      const a = argsOf(c);
      const want = Array.from(speculativeSampleRef(a.logits, a.ids, a.u, a.opts, a.rows).data);
      const got = await onGpu(a);
      tally.runs++;
      const why = nearBoundary(a.rows, a.ids, a.u, c.topP);
      if (why) {
        tally.near++;
        if (got.join() !== want.join()) tally.flipped++;
        return;
      }
      expect(got, JSON.stringify(c)).toEqual(want);
    }),
    fcParams(numRuns),
  );
  return tally;
}

describe('speculativeSample', () => {
  it('keeps the drafts and draws the token that the float64 rule does, over vocabularies of 1 to 300', async () => {
    const tally = await check(roundArb(fc.constantFrom(1, 2, 5, 33, 64, 300)), 150);
    expect(tally.near, JSON.stringify(tally)).toBeLessThanOrEqual(tally.runs / 4); // the comparisons are not left out wholesale
  });

  it("does so at GPT-2's vocabulary (50,257), ties and -Inf included", async () => {
    const tally = await check(roundArb(fc.constant(50_257)).map((c) => ({ ...c, k: Math.min(c.k, 2) })), 3);
    expect(tally.near, JSON.stringify(tally)).toBeLessThan(tally.runs);
  });

  it('refuses logits of another shape than [2k + 1, V], or larger than a binding, in one line', () =>
    scope(() => {
      const call = (rows: number, V: number, k: number) => () => speculativeSample(zeros([rows, V]), zeros([k], 'int32'), zeros([k + 1]));
      expect(call(4, 5, 2)).toThrow(/^speculativeSample: logits must be \[2k \+ 1, V\] .*, got \[4, 5\], \[2\] and \[3\]$/);
      setProfile({ bindingLimit: 4096 });
      try {
        expect(call(5, 1000, 2)).toThrow(/^speculativeSample: logits float32\[5, 1000\] take 20000 bytes, but must fit one binding: at most 4096 bytes on this adapter$/);
      } finally {
        setProfile(null);
      }
    }));

  it('tells a row with no distribution as [row, -1], the target rows first; an id outside [0, V) is rejected', async () => {
    const V = 4;
    const rows = (bad: Record<number, number>) => ref([5, V], Array.from({ length: 5 * V }, (_, i) => bad[i] ?? (i % 3)));
    const run = (logits: Ref, ids: number[]) => onGpu({ logits, ids: ref([2], ids), u: ref([3], [0.5, 0.5, 0.5]), opts: {} });
    expect(await run(rows({ 13: NaN, 6: Infinity }), [0, 1])).toEqual([1, -1]); // target row 1 before draft row 3
    expect(await run(rows({ 13: NaN }), [0, 1])).toEqual([3, -1]);
    const clean = rows({});
    const outside = await run(clean, [-1, 1]);
    expect(outside).toEqual(Array.from(speculativeSampleRef(clean, ref([2], [-1, 1]), ref([3], [0.5, 0.5, 0.5]), {}).data));
    expect(outside[0]).toBe(0);
  });

  it('at a temperature whose 1 / temperature is below float32 (1e300): p and q nearly uniform, as sampleLogits draws, not the argmax', async () => {
    const logits = ref([3, 4], [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]);
    const round = { logits, ids: ref([1], [0]), u: ref([2], [0.5, 0.1]) };
    for (const temperature of [1e300, 1e39]) {
      const want = Array.from(speculativeSampleRef(round.logits, round.ids, round.u, { temperature }).data);
      expect(want, 'uniform p = q: the draft kept, then id 0').toEqual([1, 0]);
      expect(await onGpu({ ...round, opts: { temperature } }), `temperature ${temperature}`).toEqual(want);
    }
  });
});
