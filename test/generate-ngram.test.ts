// No-repeat n-grams (Hugging Face's no_repeat_ngram_size): banRepeatedNgrams against HF's rule in
// plain TS (src/check/reference/ngram.ts: its map of (n-1)-grams to the tokens that followed them)
// over random histories; generation with noRepeatNgramSize against the float64 reference decode
// (test/float64-walk.ts: GPT-2's float64 logits, the rule over the prompt and the tokens so far,
// drawn with the same uniform numbers), greedy and sampled; a batch row's tokens its own, rows
// leaving at different steps, the KV cache and no cache alike; GPU memory back where it was.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { ref } from '../src/check/reference/array.js';
import { bannedNgramIds, banRepeatedNgramsRef } from '../src/check/reference/ngram.js';
import { generate, type BatchGenerateOptions, type GenerateOptions } from '../src/gpt/generate.js';
import type { GPT } from '../src/gpt/model.js';
import { generateBeams } from '../src/gpt/beam-search.js';
import { banRepeatedNgrams, device, scope, tensor } from '../src/index.js';
import { setProfile } from '../src/kernels/profile.js';
import { batchTokens, expectFloat64Walk, generatedTokens, promptIds, type WalkSettings } from './float64-walk.js';
import { fcParams, loadGPT2, setupDevice } from './helpers.js';
import { randomGPT2, SMALL } from './hf-reference.js';

const params = randomGPT2(5);
let model: GPT;
beforeAll(async () => {
  await setupDevice();
  model = await loadGPT2(params, false);
});

describe('banRepeatedNgrams', () => {
  it("is HF's rule over random histories: n 1 to 4, n-grams repeated (a few distinct ids), rows shorter than n, -Inf logits", async () => {
    const rows = fc.array(fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 12 }), { minLength: 1, maxLength: 4 });
    await fc.assert(
      fc.asyncProperty(rows, fc.integer({ min: 1, max: 4 }), fc.integer({ min: 4, max: 9 }), fc.integer(), async (histories, n, V, seed) => {
        const R = histories.length;
        const T = Math.max(1, ...histories.map((h) => h.length));
        const padded = histories.flatMap((h) => [...new Array<number>(T - h.length).fill(-1), ...h]);
        const x = Float32Array.from({ length: R * V }, (_, i) => (i % 7 === (seed & 7) ? -Infinity : Math.sin(seed + i) * 10));
        const got = await scope(() => banRepeatedNgrams(tensor(x, [R, V]), tensor(Int32Array.from(padded), [R, T]), n).toArray());
        expect(Array.from(got)).toEqual(Array.from(banRepeatedNgramsRef(ref([R, V], x), ref([R, T], padded), n).data));
      }),
      fcParams(),
    );
    // the rule itself, by hand: HF's docstring example, and a history one short of an n-gram
    expect([...bannedNgramIds([40, 2883, 2712, 4346, 2883], 2)]).toEqual([2712]);
    expect([...bannedNgramIds([1, 2, 1, 2], 3)]).toEqual([1]);
    expect([...bannedNgramIds([1, 1], 4)]).toEqual([]);
    expect([...bannedNgramIds([5, 6, 5], 1)].sort()).toEqual([5, 6]);
  });

  it('bans nothing where n passes the history, n past 2^32 too (a u32 in the kernel)', async () => {
    const x = Float32Array.from({ length: 8 }, (_, i) => i / 8);
    const history = [5, 6, 5, 6, 5];
    for (const n of [6, 2 ** 32, 2 ** 32 + 1, 2 ** 32 + 2, Number.MAX_SAFE_INTEGER]) {
      const want = Array.from(banRepeatedNgramsRef(ref([1, 8], x), ref([1, 5], history), n).data);
      expect(want, 'nothing banned').toEqual(Array.from(x));
      expect(Array.from(await scope(() => banRepeatedNgrams(tensor(x, [1, 8]), tensor(Int32Array.from(history), [1, 5]), n).toArray())), `n ${n}`).toEqual(want);
    }
  });

  it('refuses a bad n or shapes with one line naming the op', () =>
    scope(() => {
      const [x, h] = [tensor([1, 2], [1, 2]), tensor(Int32Array.from([0]), [1, 1])];
      expect(() => banRepeatedNgrams(x, h, 0)).toThrow('banRepeatedNgrams: n must be an integer >= 1 (the n-gram size), got number 0');
      expect(() => banRepeatedNgrams(x, tensor(Int32Array.from([0, 1]), [2, 1]), 2)).toThrow('banRepeatedNgrams: logits must be [R, V] with V >= 1 and history [R, T], got [1, 2] and [2, 1]');
    }));
});

/** HF's rule on GPT-2's float64 logits: -Inf where a token would repeat an n-gram of the prompt and the tokens generated so far. */
const banned = (n: number): WalkSettings['adjust'] => (logits, prompt, generated) => {
  const ids = bannedNgramIds([...prompt, ...generated], n);
  return logits.map((x, v) => (ids.has(v) ? -Infinity : x));
};

const tokens = (prompt: number[], opts: GenerateOptions) => generatedTokens(model, prompt, opts);
const batch = (prompts: number[][], opts: BatchGenerateOptions) => batchTokens(model, prompts, opts);
const ids = promptIds;
const GREEDY = { temperature: 0, topK: SMALL.V, topP: 1 };

describe('generate with noRepeatNgramSize', () => {
  it.each([
    ['greedy, n 2, a prompt whose bigram bans the first token', GREEDY, 2, [10, 40, 10, 40], 20],
    ['greedy, n 1, past the window', GREEDY, 1, ids(3, 3), SMALL.T],
    ['sampling, n 3, KV cache', { temperature: 1.1, topK: 80, topP: 0.95, kvCache: true }, 3, ids(5, 1), 16],
    ['sampling, n 2, no cache, a prompt past the window', { temperature: 1.1, topK: 80, topP: 0.95, kvCache: false }, 2, ids(40, 2), 10],
  ] as const)('%s: the float64 walk over the banned logits', async (_name, o, n, prompt, count) => {
    const opts = { ...o, noRepeatNgramSize: n, maxNewTokens: count, seed: 7 };
    const got = await tokens([...prompt], opts);
    expect(got).toHaveLength(count);
    expectFloat64Walk(params, got, [...prompt], { ...o, adjust: banned(n) }, 7);
    if (o.temperature === 0) expect(await tokens([...prompt], { ...opts, noRepeatNgramSize: 0 }), 'the bans change the tokens').not.toEqual(got);
  });

  it("a batch row's tokens are its own: those of generate alone (seed + i), rows leaving at different steps, KV cache or not; no GPU bytes left", async () => {
    const prompts = [ids(3, 4), ids(9, 5), [6, 6, 6, 6]];
    const opts = { noRepeatNgramSize: 2, repetitionPenalty: 1.3, temperature: 0.9, maxNewTokens: 12 };
    const alone = await Promise.all(prompts.map((p, i) => tokens(p, { ...opts, seed: i })));
    const stopToken = alone[1]![4]!; // sequence 1 stops there; the others where they draw it, if they do
    const cut = (s: number[]) => (s.includes(stopToken) ? s.slice(0, s.indexOf(stopToken) + 1) : s);
    expect(new Set(alone.map((s) => cut(s).length)).size, 'rows leave at different steps').toBeGreaterThan(1);
    const before = device().memory();
    for (const kvCache of [true, false]) expect(await batch(prompts, { ...opts, stopToken, kvCache }), `kvCache ${kvCache}`).toEqual(alone.map(cut));
    expect([device().memory().liveBuffers, device().memory().liveBytes]).toEqual([before.liveBuffers, before.liveBytes]);
  });

  it('n 1 over a prompt of every id but one: the one left is drawn, then none is left, said in one line', async () => {
    const prompt = Array.from({ length: SMALL.V - 1 }, (_, i) => (i < 100 ? i : i + 1)); // all but id 100, longer than the window
    const got: number[] = [];
    const run = (async () => {
      for await (const t of generate(model, prompt, { maxNewTokens: 3, temperature: 0.8, seed: 1, noRepeatNgramSize: 1 })) got.push(t);
    })();
    await expect(run).rejects.toThrow(/^generate: the model's logits are not finite at generated token 2 \(position \d+\): .* \(noRepeatNgramSize 1 banned every token left \(-Inf\), or its weights hold NaN/);
    expect(got).toEqual([100]);
  });

  it('refuses, before any token, tokens that would outgrow one binding (the history is bound whole), in one line naming the option', async () => {
    const prompt = ids(1000, 3); // 1000 tokens, kept whole (HF's input_ids): 4000 bytes
    setProfile({ bindingLimit: 4096 });
    try {
      const got: number[] = [];
      const run = async () => {
        for await (const t of generate(model, prompt, { maxNewTokens: 100, temperature: 1, noRepeatNgramSize: 2 })) got.push(t);
      };
      await expect(run()).rejects.toThrow(/^generate: noRepeatNgramSize keeps 1 sequence's tokens on the GPU, 1 × 1099 int32 \(its prompt's 1000, then up to 99 generated\), 4396 bytes, but they must fit one binding: at most 4096 bytes on this adapter; give a shorter prompt or fewer new tokens$/);
      expect(got, 'refused before the first token').toEqual([]);
      await expect(batch([prompt.slice(0, 500), [1]], { maxNewTokens: 20, noRepeatNgramSize: 2 })).rejects.toThrow(/^generateBatch: noRepeatNgramSize keeps 2 sequences' tokens on the GPU, 2 × 519 int32 /);
      await expect(generateBeams(model, prompt.slice(0, 500), { numBeams: 2, maxNewTokens: 20, noRepeatNgramSize: 2 })).rejects.toThrow(/^generateBeams: noRepeatNgramSize keeps 2 sequences' tokens on the GPU, 2 × 519 int32 /);
      expect(await tokens(prompt, { maxNewTokens: 25, temperature: 1, noRepeatNgramSize: 2 }), '1024 tokens fit').toHaveLength(25);
      expect(await tokens(ids(2000, 3), { maxNewTokens: 0, noRepeatNgramSize: 2 }), 'none drawn, none banned').toEqual([]);
    } finally {
      setProfile(null);
    }
  });

  it('refuses a bad noRepeatNgramSize with one line naming the option', async () => {
    await expect(tokens([1], { maxNewTokens: 1, noRepeatNgramSize: 1.5 })).rejects.toThrow('generate: noRepeatNgramSize must be an integer >= 0 (the n-gram size; 0 = off), got number 1.5');
    await expect(batch([[1]], { maxNewTokens: 1, noRepeatNgramSize: -1 })).rejects.toThrow('generateBatch: noRepeatNgramSize must be an integer >= 0 (the n-gram size; 0 = off), got number -1');
  });
});
