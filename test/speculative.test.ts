// Speculative decoding (src/gpt/speculative.ts) on GPT-2-shaped models with random weights large
// enough that their tokens vary (test/hf-reference.ts): greedy equals the target's own greedy
// generate (through the block size, where it hands over to generate); a draft that is the target
// keeps every token; seeded draws repeat; a round's tokens are those of the float64 rule
// (src/check/reference/speculative.ts) over the models' own logits with the seeded stream's
// numbers (so speculativeSample is wired as the rule reads it: rows, ids, numbers in order);
// sampleLogits' kernel draws the distribution the rule reads (samplingProbabilities); bad
// arguments are refused with one-line errors.
import { beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../src/gpt/generate.js';
import type { GPT } from '../src/gpt/model.js';
import { generateSpeculative, type SpeculativeOptions } from '../src/gpt/speculative.js';
import { ref } from '../src/check/reference/array.js';
import { sampleWalk } from '../src/check/reference/sample.js';
import { nearBoundary, roundRows, samplingProbabilities, speculativeSampleRef } from '../src/check/reference/speculative.js';
import { device, GPT as GPTClass, noGrad, sampleLogits, scope, tensor, type SamplingOptions } from '../src/index.js';
import { setProfile } from '../src/kernels/profile.js';
import { Generator } from '../src/tensor/generator.js';
import { loadGPT2, seededValues, setupDevice } from './helpers.js';
import { randomGPT2, SMALL } from './hf-reference.js';

let target: GPT;
let draft: GPT;
beforeAll(async () => {
  await setupDevice();
  target = await loadGPT2(randomGPT2(11), false);
  draft = await loadGPT2(randomGPT2(12), false);
});

const { T: blockSize, V } = SMALL;
const prompt = [3, 141, 59, 26];
const BELOW_ONE = 1 - 2 ** -24; // generateSpeculative's cap on its uniform numbers (float32 rounds above it to 1)

async function collect(it: AsyncGenerator<number>): Promise<number[]> {
  const out: number[] = [];
  for await (const t of it) out.push(t);
  return out;
}
const speculative = async (d: GPT, opts: SpeculativeOptions) => {
  const rounds: [number, number][] = [];
  const tokens = await collect(generateSpeculative(target, d, prompt, { ...opts, onRound: (drafted, accepted) => rounds.push([drafted, accepted]) }));
  return { tokens, rounds };
};

describe('generateSpeculative', () => {
  it("greedy is the target's greedy generate, past the block size too, with and without KV caches", async () => {
    const maxNewTokens = blockSize + 4; // the context fills: the last tokens come from generate's sliding window
    const want = await collect(generate(target, prompt, { maxNewTokens, temperature: 0 }));
    for (const kvCache of [true, false]) {
      const { tokens, rounds } = await speculative(draft, { maxNewTokens, temperature: 0, draftTokens: 3, kvCache });
      expect(tokens, `kvCache ${kvCache}`).toEqual(want);
      expect(rounds.some(([d, a]) => a < d)).toBe(true); // the draft is another model: some of its tokens are rejected
    }
  });

  it("draftTokens past what a round's rows of logits fit in one binding: rounds of fewer drafts, greedy generate's tokens; none fit: generate", async () => {
    const maxNewTokens = 8;
    const want = await collect(generate(target, prompt, { maxNewTokens, temperature: 0 }));
    setProfile({ bindingLimit: 8192 }); // 7 rows of V = 260 logits: k = 3 at most (2k + 1 rows a round)
    try {
      const { tokens, rounds } = await speculative(draft, { maxNewTokens, temperature: 0, draftTokens: 6 });
      expect(tokens).toEqual(want);
      expect(Math.max(...rounds.map(([d]) => d))).toBe(3);
      setProfile({ bindingLimit: 2048 }); // one row fits, not the 3 of a round of one draft: plain generate
      expect((await speculative(draft, { maxNewTokens, temperature: 0, draftTokens: 6 })).tokens).toEqual(want);
    } finally {
      setProfile(null);
    }
  });

  it("weights changed while a generation is paused: the next rounds are the new weights', with the caches as without them", async () => {
    const hostState = async (m: GPT) => new Map(await Promise.all([...m.stateDict()].map(async ([k, t]) => [k, { shape: [...t.shape], data: (await t.toArray()) as Float32Array }] as const)));
    const [original, changed] = [await hostState(target), await hostState(draft)]; // the draft's weights: another model of the same shape
    const run = async (kvCache: boolean, change: boolean) => {
      target.loadStateDict(original);
      const out: number[] = [];
      for await (const t of generateSpeculative(target, draft, prompt, { maxNewTokens: 10, temperature: 0, draftTokens: 2, kvCache })) {
        out.push(t);
        if (change && out.length === 2) target.loadStateDict(changed);
      }
      return out;
    };
    try {
      const uncached = await run(false, true);
      expect(await run(true, true)).toEqual(uncached);
      expect(uncached, 'the load changed the tokens').not.toEqual(await run(false, false));
    } finally {
      target.loadStateDict(original);
    }
  });

  it("stops at a stopToken drawn inside an accepted run, none of the run's later tokens yielded; a draft of a smaller block size still gives greedy generate's tokens; no buffers left", async () => {
    const before = device().memory().liveBuffers;
    const want = await collect(generate(target, prompt, { maxNewTokens: 12, temperature: 0 }));
    const stopToken = want[3]!; // inside the first round's 7 tokens: the target drafting for itself keeps all 6
    const cut = want.slice(0, want.indexOf(stopToken) + 1);
    expect((await speculative(target, { maxNewTokens: 12, temperature: 0, draftTokens: 6, stopToken })).tokens).toEqual(cut);
    const small = new GPTClass({ vocabSize: V, blockSize: 6, nLayer: 1, nHead: 2, nEmbd: 16, dropout: 0, bias: true }, { seed: 2 });
    try {
      const longer = await collect(generate(target, prompt, { maxNewTokens: blockSize, temperature: 0 }));
      expect((await speculative(small, { maxNewTokens: blockSize, temperature: 0, draftTokens: 3 })).tokens).toEqual(longer);
    } finally {
      small.dispose();
    }
    expect(device().memory().liveBuffers).toBe(before);
  });

  it('a draft that is the target keeps every drafted token; the same seed draws the same tokens', async () => {
    const opts = { maxNewTokens: 9, temperature: 1.5, topK: 100, draftTokens: 4, seed: 5 };
    const first = await speculative(target, opts);
    expect(first.rounds.every(([d, a]) => a === d), JSON.stringify(first.rounds)).toBe(true);
    expect(first.tokens).toHaveLength(9);
    expect((await speculative(target, opts)).tokens).toEqual(first.tokens);
    expect(new Set(first.tokens).size).toBeGreaterThan(1); // drawn, not one token repeated
  });

  it.each<[string, SamplingOptions]>([
    ['temperature 1', {}],
    ['top-k, top-p, temperature 0.6', { topK: 20, topP: 0.8, temperature: 0.6 }],
  ])("a round's tokens are the float64 rule's over the models' own logits, with the seeded stream's numbers (%s)", async (_name, o) => {
    const k = 2;
    const logitsOf = (m: GPT, ids: number[]) =>
      scope(async () => {
        const out = noGrad(() => m.forward(tensor(Int32Array.from(ids), [1, ids.length])).logits);
        return Float32Array.from(await out.toArray()); // [1, T, V]
      });
    const rowOf = (all: Float32Array, t: number) => all.subarray(t * V, (t + 1) * V);
    let compared = 0;
    for (let seed = 1; seed <= 8; seed++) {
      const d = seed % 4 === 0 ? target : draft; // the target drafting for itself keeps both: the bonus token
      // the stream as generateSpeculative reads it: k draws for the draft, k accept numbers, then u
      const rng = new Generator(seed);
      const [drafts, accept, u] = [[0, 0].map(() => Math.fround(Math.min(rng.nextFloat(), BELOW_ONE))), [0, 0].map(() => Math.fround(Math.min(rng.nextFloat(), BELOW_ONE))), Math.fround(Math.min(rng.nextFloat(), BELOW_ONE))];
      const full = { temperature: 1, topK: V, topP: 1, ...o };
      const ids: number[] = [];
      const draftRows: Float32Array[] = [];
      let near = false;
      for (let i = 0; i < k; i++) {
        const ctx = [...prompt, ...ids];
        const row = rowOf(await logitsOf(d, ctx), ctx.length - 1);
        const walk = sampleWalk(row, drafts[i]!, full);
        near ||= walk.atDraw.some((c) => Math.abs(c - drafts[i]!) < 1e-5) || walk.beforeTopP.some((c) => Math.abs(c - full.topP) < 1e-5);
        ids.push(walk.token);
        draftRows.push(row);
      }
      const all = await logitsOf(target, [...prompt, ...ids]);
      const logits = ref([2 * k + 1, V], [...[0, 1, 2].flatMap((i) => [...rowOf(all, prompt.length - 1 + i)]), ...draftRows.flatMap((r) => [...r])]);
      const [idRef, uRef] = [ref([k], ids), ref([k + 1], [...accept, u])];
      const rows = roundRows(logits, o);
      if (near || nearBoundary(rows, idRef, uRef, o.topP)) continue; // float32 may decide it the other way
      const [accepted, next] = speculativeSampleRef(logits, idRef, uRef, o, rows).data;
      const { tokens, rounds } = await speculative(d, { ...o, maxNewTokens: k + 1, draftTokens: k, seed });
      expect(rounds[0], `seed ${seed}`).toEqual([k, accepted]);
      expect(tokens.slice(0, accepted! + 1), `seed ${seed}`).toEqual([...ids.slice(0, accepted), next]);
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(6);
  });

  it.each<[string, SamplingOptions]>([
    ['temperature', { temperature: 0.7 }],
    ['top-k with ties at the k-th logit', { topK: 5 }],
    ['top-p', { temperature: 2, topP: 0.6 }],
    ['top-k, then top-p', { topK: 9, topP: 0.8 }],
  ])('samplingProbabilities is the distribution sampleLogits draws (%s)', (_name, o) =>
    scope(async () => {
      const row = Float32Array.from(seededValues(40, 3, -2, 2), (x) => Math.round(x * 4) / 4); // ties
      const probs = samplingProbabilities(row, o)!;
      // each kept id's share of [0, 1) in the kernel's order (logit descending, ties lower id first): its middle draws it
      const order = [...probs.keys()].filter((i) => probs[i]! > 0).sort((a, b) => row[b]! - row[a]! || a - b);
      const mids = order.map((i, j) => order.slice(0, j).reduce((s, h) => s + probs[h]!, 0) + probs[i]! / 2);
      const drawn = await sampleLogits(tensor(Float32Array.from(mids.flatMap(() => [...row])), [mids.length, row.length]), tensor(mids, [mids.length]), o).toArray();
      expect([...drawn]).toEqual(order);
      expect(probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    }),
  );

  it('samplingProbabilities has no distribution where sampleLogits draws -1: a NaN or +Inf logit, or only -Inf ones', () =>
    scope(async () => {
      const rows = [[0, NaN, 1], [Infinity, 0, 1], [-Infinity, -Infinity, -Infinity], [-0, 0, -Infinity]];
      const drawn = await sampleLogits(tensor(Float32Array.from(rows.flat()), [rows.length, 3]), tensor(new Float32Array(rows.length).fill(0.5), [rows.length])).toArray();
      expect(rows.map((r) => samplingProbabilities(r, {}) === null)).toEqual([...drawn].map((id) => id === -1));
      expect([...drawn]).toEqual([-1, -1, -1, 1]); // the last: -0 and 0 tie, half each
    }),
  );

  it.each([0, 1])("NaN weights in the target or the draft fail with generate's error, naming which (temperature %i)", async (temperature) => {
    for (const which of ['target', 'draft']) {
      const cfg = { vocabSize: 20, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 8, dropout: 0, bias: true };
      const [t, d] = [new GPTClass(cfg, { seed: 1 }), new GPTClass(cfg, { seed: 2 })];
      try {
        const w = (which === 'target' ? t : d).wte.weight;
        const nan = tensor(new Float32Array(w.size).fill(NaN), w.shape);
        w.assign(nan);
        nan.dispose();
        const run = collect(generateSpeculative(t, d, [1, 2], { maxNewTokens: 5, temperature }));
        const model = which === 'target' ? '' : ' \\(the draft model\\)';
        await expect(run).rejects.toThrow(new RegExp(`^generateSpeculative${model}: the model's logits are not finite at generated token 1 \\(position 2\\)`));
      } finally {
        t.dispose();
        d.dispose();
      }
    }
  });

  it('refuses bad arguments with one-line errors', async () => {
    const other = new GPTClass({ vocabSize: V + 1, blockSize: 8, nLayer: 1, nHead: 1, nEmbd: 8, dropout: 0 }, { seed: 1 });
    const refused = async (d: unknown, opts: unknown) => {
      try {
        await collect(generateSpeculative(target, d as GPT, prompt, opts as SpeculativeOptions));
      } catch (e) {
        return (e as Error).message;
      }
      return 'not refused';
    };
    try {
      expect(await refused(other, { maxNewTokens: 2 })).toBe(`generateSpeculative: the draft model's vocabulary (${V + 1} tokens) must be the target's (${V} tokens)`);
    } finally {
      other.dispose();
    }
    expect(await refused({}, { maxNewTokens: 2 })).toBe("generateSpeculative: argument 'draft' must be a GPT, got an object (Object)");
    expect(await refused(draft, { maxNewTokens: 2, draftTokens: 0 })).toBe('generateSpeculative: draftTokens must be an integer >= 1, got number 0');
    expect(await refused(draft, { maxNewTokens: 2, draftTokens: 2.5 })).toMatch(/^generateSpeculative: draftTokens must be an integer >= 1, got number 2\.5$/);
    expect(await refused(draft, { maxNewTokens: 2, noRepeatNgramSize: 2 })).toBe('generateSpeculative: noRepeatNgramSize is not applied in speculative decoding; give 0 (off), or use generate without a draft');
    expect(await refused(draft, { maxNewTokens: 2, repetitionPenalty: 1.2 })).toMatch(/^generateSpeculative: penalties \(repetitionPenalty, presencePenalty, frequencyPenalty\) are not applied in speculative decoding/);
    expect(await refused(draft, { maxNewTokens: 2, repetitionPenalty: 1, presencePenalty: 0 })).toBe('not refused'); // off values
    expect(await refused(draft, { maxNewTokens: 2, onRound: 3 })).toMatch(/^generateSpeculative: onRound must be a function .*, got number 3$/);
    expect(await refused(draft, { maxNewTokens: 2, draftToken: 3 })).toMatch(/^generateSpeculative: .*draftToken/);
    expect(await refused(draft, { maxNewTokens: -1 })).toMatch(/^generateSpeculative: maxNewTokens must be an integer >= 0/);
    expect(await refused(draft, undefined)).toMatch(/^generateSpeculative: options/);
  });
});
