// Generation with min-p and a logit bias against the float64 reference decode (test/float64-walk.ts:
// GPT-2's float64 logits, biased, then penalized as vLLM orders them, drawn by the float64 walk with
// min-p, with the same uniform numbers); drawn-token logprobs staying the raw logits'; bad biases
// refused in one line.
import { beforeAll, describe, expect, it } from 'vitest';
import { penalizedLogit } from '../src/check/reference/penalty.js';
import { generate, generateBatch, type BatchGenerateOptions, type GenerateOptions } from '../src/gpt/generate.js';
import type { GPT } from '../src/gpt/model.js';
import { device, generateSpeculative } from '../src/index.js';
import { expectFloat64Walk, type WalkSettings } from './float64-walk.js';
import { loadGPT2, setupDevice } from './helpers.js';
import { gpt2Logits, randomGPT2, SMALL } from './hf-reference.js';

const params = randomGPT2(5);
let model: GPT;
beforeAll(async () => {
  await setupDevice();
  model = await loadGPT2(params, false);
});

async function tokens(prompt: number[], opts: GenerateOptions): Promise<number[]> {
  const out: number[] = [];
  for await (const t of generate(model, prompt, opts)) out.push(t);
  return out;
}

const ids = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (seed * 97 + i * 31 + ((i * i) % 7)) % SMALL.V);
// strong enough to move the draws: ids pushed up and down, one all but banned
const BIAS = { 3: 4, 17: 6, 40: -100, 99: 2.5, 200: -3, [SMALL.V - 1]: 5 };

/** The float64 rules: the bias first, then (vLLM's order) the penalties over the prompt and the generated ids. */
const adjust = (o: GenerateOptions): WalkSettings['adjust'] => (logits, prompt, generated) => {
  const inPrompt = new Set(prompt);
  const count = new Map<number, number>();
  for (const id of generated) count.set(id, (count.get(id) ?? 0) + 1);
  const bias: Record<number, number> = o.logitBias ?? {};
  return logits.map((x, v) => penalizedLogit(x + (bias[v] ?? 0), count.get(v) ?? 0, inPrompt.has(v), o));
};

describe('generate with min-p and a logit bias', () => {
  it.each([
    ['min-p, KV cache', { temperature: 0.7, topK: 0, topP: 1, minP: 0.1, kvCache: true }, {}, 16],
    ['min-p after top-k and top-p, no cache', { temperature: 0.6, topK: 120, topP: 0.97, minP: 0.05, kvCache: false }, {}, 16],
    ['a logit bias', { temperature: 0.6, topK: 0, topP: 1, kvCache: true, logitBias: BIAS }, {}, 16],
    ['a logit bias, then penalties', { temperature: 1.2, topK: 0, topP: 1, minP: 0.05, kvCache: true, logitBias: BIAS }, { repetitionPenalty: 1.8, frequencyPenalty: 0.7 }, 16],
    ['a logit bias, greedy', { temperature: 0, topK: 0, topP: 1, kvCache: true, logitBias: BIAS }, {}, 12],
  ] as const)('%s: the float64 walk over the adjusted logits', async (_name, o, penalties, n) => {
    const opts = { ...o, ...penalties, maxNewTokens: n, seed: 3 };
    const got = await tokens(ids(4, 1), opts);
    expect(got).toHaveLength(n);
    expectFloat64Walk(params, got, ids(4, 1), { ...o, adjust: adjust(opts) }, 3);
  });

  it('a biased id is drawn far more often, a -100 one never; drawn-token logprobs stay the raw logits\' (vLLM\'s raw_logprobs)', async () => {
    const prompts = [ids(3, 2), ids(5, 3), ids(2, 4)];
    const logprobs: { seq: number; id: number; logprob: number }[] = [];
    const out: number[][] = prompts.map(() => []);
    const opts: BatchGenerateOptions = { maxNewTokens: 10, temperature: 1, logitBias: { 17: 20, 40: -100 }, logprobs: { topN: 0, take: (seq, id, lp) => logprobs.push({ seq, id, logprob: lp.logprob }) } };
    const before = device().memory().liveBuffers;
    for await (const step of generateBatch(model, prompts, opts)) step.forEach((t, i) => t !== null && out[i]!.push(t));
    expect(device().memory().liveBuffers, 'the bias row is freed').toBe(before);
    const all = out.flat();
    expect(all.filter((t) => t === 17).length, 'id 17 at +20').toBeGreaterThan(all.length / 2);
    expect(all).not.toContain(40);
    // oracle: log_softmax of GPT-2's float64 logits of each context, unbiased (sequence 1's)
    for (const { seq, id, logprob } of logprobs.filter((l) => l.seq === 1)) {
      const k = logprobs.filter((l) => l.seq === seq).findIndex((l) => l.id === id && l.logprob === logprob);
      const context = [...prompts[seq]!, ...out[seq]!.slice(0, k)];
      const row = gpt2Logits(params, context.slice(-SMALL.T)).at(-1)!;
      const top = Math.max(...row);
      const lse = top + Math.log(row.reduce((s, x) => s + Math.exp(x - top), 0));
      expect(logprob, `sequence ${seq}, token ${k}`).toBeCloseTo(row[id]! - lse, 4);
    }
  });

  it('refuses a bad logit bias in one line, speculative decoding refuses one, and honours min-p', async () => {
    const run = (logitBias: unknown) => tokens([1], { maxNewTokens: 1, logitBias: logitBias as never });
    await expect(run({ [SMALL.V]: 1 })).rejects.toThrow(`generate: logitBias key '${SMALL.V}' is not a token id in [0, ${SMALL.V})`);
    await expect(run({ '01': 1 })).rejects.toThrow(`generate: logitBias key '01' is not a token id in [0, ${SMALL.V})`);
    await expect(run({ 5: 101 })).rejects.toThrow('generate: logitBias[5] must be a number in [-100, 100], got number 101');
    await expect(run({ 5: '1' })).rejects.toThrow("generate: logitBias[5] must be a number in [-100, 100], got string '1'");
    await expect(run([1])).rejects.toThrow('generate: logitBias must be an object { tokenId: bias }, got array [1]');
    await expect(run(Object.fromEntries(Array.from({ length: 301 }, (_, i) => [i, 1])))).rejects.toThrow(/^generate: logitBias holds \d+ entries, more than the 300 allowed/);
    const spec = generateSpeculative(model, model, [1], { maxNewTokens: 1, logitBias: { 1: 2 } });
    await expect(spec.next()).rejects.toThrow('generateSpeculative: logitBias is not applied in speculative decoding; leave it out (or {}), or use generate without a draft');
    // min-p 1 keeps the likeliest token (and its exact ties) alone: the greedy tokens, drafted or not
    const greedy = await tokens(ids(3, 5), { maxNewTokens: 6, temperature: 0 });
    const drafted: number[] = [];
    for await (const t of generateSpeculative(model, model, ids(3, 5), { maxNewTokens: 6, temperature: 1, minP: 1, seed: 2 })) drafted.push(t);
    expect(drafted).toEqual(greedy);
  });
});
