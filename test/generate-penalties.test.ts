// Repetition, presence and frequency penalties: penalizeLogits against the float64 rules (Hugging
// Face's repetition penalty, vLLM's presence and frequency over the generated tokens), and
// generation with them against the float64 reference decode (test/float64-walk.ts: GPT-2's float64
// logits, penalized by the float64 rules, drawn with the same uniform numbers); a batch row's tokens
// independent of the others, rows leaving the batch, the KV cache and no cache alike.
import { beforeAll, describe, expect, it } from 'vitest';
import { penalizedLogit, penalizeRef } from '../src/check/reference/penalty.js';
import type { BatchGenerateOptions, GenerateOptions } from '../src/gpt/generate.js';
import type { GPT } from '../src/gpt/model.js';
import { device, penalizeLogits, scope, tensor } from '../src/index.js';
import { worstElement } from '../src/check/compare.js';
import { ref } from '../src/check/reference/array.js';
import { batchTokens, expectFloat64Walk, generatedTokens, promptIds, type WalkSettings } from './float64-walk.js';
import { loadGPT2, seededValues, setupDevice } from './helpers.js';
import { randomGPT2, SMALL } from './hf-reference.js';

const params = randomGPT2(5);
let model: GPT;
beforeAll(async () => {
  await setupDevice();
  model = await loadGPT2(params, false);
});

describe('penalizeLogits', () => {
  it('follows the float64 rules: negative logits, ids generated more than once, -Inf, a row with no history; over 50,257 logits too', async () => {
    // the rules on a few values, by hand: HF divides a positive logit, multiplies a negative one
    const o = { repetitionPenalty: 2, presencePenalty: 0.5, frequencyPenalty: 0.25 };
    expect([penalizedLogit(3, 0, true, o), penalizedLogit(-3, 0, true, o), penalizedLogit(3, 2, false, o), penalizedLogit(3, 0, false, o)]).toEqual([1.5, -6, 0.5, 3]);
    for (const V of [7, 50257]) {
      const x = Float32Array.from(seededValues(3 * V, V, -5, 5));
      x[1] = x[V + 1] = -Infinity;
      const counts = Float32Array.from({ length: 3 * V }, (_, i) => (i >= 2 * V ? 0 : [0, 1, 3, 0, 2][i % 5]!)); // row 2: nothing generated
      const prompt = Float32Array.from({ length: 3 * V }, (_, i) => (i >= 2 * V ? 0 : +(i % 3 === 0)));
      for (const opts of V === 7 ? [o, { repetitionPenalty: 0.7, presencePenalty: -1, frequencyPenalty: 2 }] : [o]) {
        const got = await scope(() => penalizeLogits(tensor(x, [3, V]), tensor(counts, [3, V]), tensor(prompt, [3, V]), opts).toArray());
        const want = penalizeRef(ref([3, V], x), ref([3, V], counts), ref([3, V], prompt), opts).data;
        expect(worstElement(got, want, { atol: 1e-6, rtol: 1e-6 })!.ratio, `V ${V}, ${JSON.stringify(opts)}`).toBeLessThanOrEqual(1);
        expect([got[1], got[V + 1]]).toEqual([-Infinity, -Infinity]);
        expect(got.subarray(2 * V), 'a row with no history is left as it is').toEqual(x.subarray(2 * V));
      }
    }
  });

  it('refuses bad penalties with one line naming the option', () =>
    scope(() => {
      const t = tensor([1, 2], [1, 2]);
      expect(() => penalizeLogits(t, t, t, { repetitionPenalty: 0 })).toThrow('penalizeLogits: repetitionPenalty must be a finite number > 0 (1 = off), got number 0');
      expect(() => penalizeLogits(t, t, t, { presencePenalty: 2.5 })).toThrow('penalizeLogits: presencePenalty must be a number in [-2, 2] (0 = off), got number 2.5');
      expect(() => penalizeLogits(t, tensor([1], [1, 1]), t)).toThrow('penalizeLogits: counts must have shape [1, 2], got float32[1, 1]');
    }));
});

/** The float64 rules on GPT-2's logits: the prompt's ids (all of it) for the repetition penalty, the generated ones counted. */
const penalized = (o: GenerateOptions): WalkSettings['adjust'] => (logits, prompt, generated) => {
  const inPrompt = new Set(prompt);
  const count = new Map<number, number>();
  for (const id of generated) count.set(id, (count.get(id) ?? 0) + 1);
  return logits.map((x, v) => penalizedLogit(x, count.get(v) ?? 0, inPrompt.has(v), o));
};

const tokens = (prompt: number[], opts: GenerateOptions) => generatedTokens(model, prompt, opts);
const batch = (prompts: number[][], opts: BatchGenerateOptions) => batchTokens(model, prompts, opts);
const ids = promptIds;
const PENALTIES = { repetitionPenalty: 1.8, presencePenalty: 0.6, frequencyPenalty: 0.9 };

describe('generate with penalties', () => {
  // a prompt longer than the window: its first ids still count for the repetition penalty
  it.each([
    ['sampling, KV cache, past the window', { temperature: 1.1, topK: 80, topP: 0.95, kvCache: true }, ids(5, 1), 16],
    ['sampling, no cache, a prompt past the window', { temperature: 1.1, topK: 80, topP: 0.95, kvCache: false }, ids(40, 2), 10],
    ['greedy', { temperature: 0, topK: SMALL.V, topP: 1 }, ids(3, 3), 20],
  ] as const)('%s: the float64 walk over the penalized logits', async (_name, o, prompt, n) => {    const opts = { ...PENALTIES, ...o, maxNewTokens: n, seed: 7 };
    const got = await tokens(prompt, opts);
    expect(got).toHaveLength(n);
    expectFloat64Walk(params, got, prompt, { ...o, adjust: penalized(opts) }, 7);
  });

  it("a batch row's tokens are its own: those of generate alone (seed + i), with rows leaving (stop token), KV cache or not", async () => {
    const prompts = [ids(3, 4), ids(9, 5), ids(1, 6)];
    const opts = { ...PENALTIES, temperature: 0.9, maxNewTokens: 12 };
    const alone = await Promise.all(prompts.map((p, i) => tokens(p, { ...opts, seed: i })));
    const stopToken = alone[1]![4]!; // sequence 1 stops there; the others where they draw it, if they do
    const cut = (s: number[]) => (s.includes(stopToken) ? s.slice(0, s.indexOf(stopToken) + 1) : s);
    const before = device().memory().liveBuffers;
    for (const kvCache of [true, false]) expect(await batch(prompts, { ...opts, stopToken, kvCache }), `kvCache ${kvCache}`).toEqual(alone.map(cut));
    expect(device().memory().liveBuffers).toBe(before);
  });

  it('refuses bad penalties with one line naming the option', async () => {
    await expect(tokens([1], { maxNewTokens: 1, frequencyPenalty: -3 })).rejects.toThrow('generate: frequencyPenalty must be a number in [-2, 2] (0 = off), got number -3');
    await expect(batch([[1]], { maxNewTokens: 1, repetitionPenalty: Infinity })).rejects.toThrow('generateBatch: repetitionPenalty must be a finite number > 0 (1 = off), got number Infinity');
  });
});
