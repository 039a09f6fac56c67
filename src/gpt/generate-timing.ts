// How fast generateBatch runs at one batch size: prompt processing (the prefill, the first step:
// every prompt through the model at once, the first token drawn) and decoding (each later step: a
// token per sequence) in tokens/s, as `gpt bench-generate` prints them and bench/suites/generate.ts
// records them. Greedy, so the host's sampling costs next to nothing; prompts are random tokens of
// one length; each figure is the median of the timed runs, after one untimed run (shader compiles,
// autotuning).
import { autotuneSettled } from '../kernels/autotune.js';
import { Generator } from '../tensor/generator.js';
import { generateBatch } from './generate.js';
import type { GPT } from './model.js';

/** What to time: sequences per batch, their prompt length, tokens to generate each, timed runs. */
export interface GenerationTimingOptions {
  batch: number;
  promptTokens: number;
  newTokens: number;
  repeats?: number;
  seed?: number;
}

/** Medians over the timed runs; `*Ms` lists every run's milliseconds. */
export interface GenerationTiming {
  prefillTokensPerSec: number;
  decodeTokensPerSec: number;
  /** Milliseconds of one decoding step (a token for each of the batch's sequences). */
  decodeMsPerStep: number;
  prefillMs: number[];
  decodeMs: number[];
}

/** Throws a one-line error unless the prompt and the new tokens fit the model's window (decoding past it re-encodes: another measurement), or for repeats or a seed it cannot use. */
function checkTimingShape(model: GPT, o: GenerationTimingOptions): void {
  const { blockSize } = model.config;
  if (!(Number.isInteger(o.batch) && o.batch >= 1)) throw new RangeError(`timeGeneration: batch must be a positive integer, got ${o.batch}`);
  if (!(Number.isInteger(o.newTokens) && o.newTokens >= 2)) throw new RangeError(`timeGeneration: newTokens must be an integer >= 2 (the first comes from the prefill), got ${o.newTokens}`);
  if (!(Number.isInteger(o.promptTokens) && o.promptTokens >= 1 && o.promptTokens + o.newTokens <= blockSize)) {
    throw new RangeError(`timeGeneration: promptTokens (${o.promptTokens}) + newTokens (${o.newTokens}) must fit the model's blockSize ${blockSize}`);
  }
  if (o.repeats !== undefined && !(Number.isInteger(o.repeats) && o.repeats >= 1)) throw new RangeError(`timeGeneration: repeats must be a positive integer, got ${o.repeats}`); // 0: no run, NaN figures
  if (o.seed !== undefined && !Number.isSafeInteger(o.seed)) throw new RangeError(`timeGeneration: seed must be an integer, got ${o.seed}`);
}

/** The middle value, or the mean of the middle two for an even count. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Times generateBatch on `batch` random prompts (see the header). */
export async function timeGeneration(model: GPT, o: GenerationTimingOptions): Promise<GenerationTiming> {
  checkTimingShape(model, o);
  const { batch, promptTokens, newTokens, repeats = 3 } = o;
  const rng = new Generator(o.seed ?? 1);
  const prompts = Array.from({ length: batch }, () => Array.from({ length: promptTokens }, () => rng.nextInt(model.config.vocabSize)));
  const run = async () => {
    const t0 = performance.now();
    let t1: number | undefined; // when the first step (the prefill) was done
    for await (const _ of generateBatch(model, prompts, { maxNewTokens: newTokens, temperature: 0 })) t1 ??= performance.now();
    return { prefill: t1! - t0, decode: performance.now() - t1! };
  };
  await run();
  await autotuneSettled(); // kernels as tuned for these shapes during the untimed run
  const runs: { prefill: number; decode: number }[] = [];
  for (let i = 0; i < repeats; i++) runs.push(await run());
  const prefillMs = runs.map((r) => r.prefill);
  const decodeMs = runs.map((r) => r.decode);
  const steps = newTokens - 1;
  return {
    prefillTokensPerSec: (batch * promptTokens * 1000) / median(prefillMs),
    decodeTokensPerSec: (batch * steps * 1000) / median(decodeMs),
    decodeMsPerStep: median(decodeMs) / steps,
    prefillMs,
    decodeMs,
  };
}
