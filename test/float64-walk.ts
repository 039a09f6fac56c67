// The float64 reference decode that seeded generation is checked against: GPT-2's float64 logits
// (test/hf-reference.ts) of each context, optionally changed (logit bias, penalties), drawn from by the float64
// walk (src/check/reference/sample.ts) with generation's seeded uniform numbers; and the tokens of
// generate and generateBatch gathered into arrays, for the tests that compare them with it.
import { expect } from 'vitest';
import { sampleWalk } from '../src/check/reference/sample.js';
import { generate, generateBatch, type BatchGenerateOptions, type GenerateOptions } from '../src/gpt/generate.js';
import type { GPT } from '../src/gpt/model.js';
import { Generator } from '../src/tensor/generator.js';
import { gpt2Logits, SMALL, type GPT2Params } from './hf-reference.js';

/** What the reference decode draws with, and `adjust`: the logits of a step from the model's, given the prompt and the tokens generated so far. */
export interface WalkSettings {
  temperature: number;
  topK: number;
  topP: number;
  minP?: number;
  adjust?: (logits: Float64Array, prompt: readonly number[], generated: readonly number[]) => ArrayLike<number>;
}

/**
 * Expects each token to be the float64 walk's with the seeded uniform numbers, wherever a draw is
 * not near a boundary between two tokens (0.01 of the cumulative weights, 1% of minP; greedy: 1e-3
 * between the top two logits), where float32 or float16 logits could land on the other side.
 */
export function expectFloat64Walk(params: GPT2Params, got: number[], prompt: number[], o: WalkSettings, seed: number): void {
  const rng = new Generator(seed);
  const opts = { temperature: o.temperature, topK: o.topK, topP: o.topP, minP: o.minP ?? 0 };
  const context = [...prompt];
  let compared = 0;
  for (const [k, token] of got.entries()) {
    const u = Math.fround(rng.nextFloat());
    const model = gpt2Logits(params, context.slice(-SMALL.T)).at(-1)!;
    const logits = o.adjust ? o.adjust(model, prompt, context.slice(prompt.length)) : model;
    const draw = (du: number, dp: number, minP = opts.minP) => sampleWalk(logits, u + du, { ...opts, topP: opts.topP + dp, minP }).token;
    const want = draw(0, 0);
    const clearOfTies = o.temperature > 0 || Array.from(logits).every((x, v) => v === want || logits[want]! - x > 1e-3);
    const nearMinP = [draw(0, 0, opts.minP * 0.99), draw(0, 0, Math.min(1, opts.minP * 1.01))];
    if (clearOfTies && [draw(-0.01, 0), draw(0.01, 0), draw(0, -0.01), draw(0, 0.01), ...nearMinP].every((t) => t === want)) {
      expect(token, `token ${k}`).toBe(want);
      compared++;
    }
    context.push(token);
  }
  expect(compared, 'draws not near a boundary').toBeGreaterThan(got.length / 3);
  expect(new Set(got).size, 'the tokens vary').toBeGreaterThan(got.length / 4);
}

/** generate's tokens continuing `prompt`. */
export async function generatedTokens(model: GPT, prompt: number[], opts: GenerateOptions): Promise<number[]> {
  const out: number[] = [];
  for await (const t of generate(model, prompt, opts)) out.push(t);
  return out;
}

/** generateBatch's tokens, each sequence's in order. */
export async function batchTokens(model: GPT, prompts: number[][], opts: BatchGenerateOptions): Promise<number[][]> {
  const out: number[][] = prompts.map(() => []);
  for await (const step of generateBatch(model, prompts, opts)) step.forEach((t, i) => t !== null && out[i]!.push(t));
  return out;
}

/** A prompt of `n` ids of SMALL's vocabulary, the same for the same `seed`. */
export const promptIds = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (seed * 97 + i * 31 + ((i * i) % 7)) % SMALL.V);
