// Sampling as nanoGPT's sample.py and Hugging Face's generate define it, checked against a float64
// reference written here from their rules (not src/check/reference): temperature first, then
// top-k keeping every logit >= the k-th largest (nanoGPT: logits[logits < v[:, [-1]]] = -Inf; HF's
// TopKLogitsWarper alike), softmax, then top-p keeping the smallest set whose mass reaches p, the
// token that crosses it included (HF's TopPLogitsWarper, min_tokens_to_keep 1). Each uniform number
// must pick what the inverse CDF over those probabilities picks (the sampler's order: logit
// descending, ties lower id first), and seeded generation must draw the reference distribution.
import { describe, expect, it } from 'vitest';
import { device, generate, generateBatch, GPT, noGrad, sampleLogits, scope, tensor, type SamplingOptions } from '../src/index.js';
import { Generator } from '../src/tensor/generator.js';
import { seededValues, setupDevice } from './helpers.js';

await setupDevice();

/** The candidates in the sampler's order and their float64 probabilities after temperature, top-k and top-p (see the header). */
function reference(logits: ArrayLike<number>, o: SamplingOptions): { order: number[]; probs: number[]; cutsBeforeTopP: number[] } {
  const x = Array.from(logits);
  const order = [...x.keys()].sort((a, b) => x[b]! - x[a]! || a - b); // no NaN or +Inf here: -Inf - -Inf is NaN, then id order
  const T = o.temperature ?? 1;
  const kth = x[order[Math.min(o.topK ?? x.length, x.length) - 1]!]!;
  const scaled = order.map((i) => (x[i]! < kth ? -Infinity : x[i]! / T));
  const weights = scaled.map((s) => Math.exp(s - scaled[0]!));
  const sum = weights.reduce((a, b) => a + b, 0);
  let probs = weights.map((w) => w / sum);
  let mass = 0;
  const cutsBeforeTopP = probs.map((p) => (mass += p));
  if (o.topP !== undefined && o.topP < 1) {
    probs = probs.map((p, j) => ((cutsBeforeTopP[j - 1] ?? 0) < o.topP! ? p : 0)); // dropped once the mass before it reaches p
    const kept = probs.reduce((a, b) => a + b, 0);
    probs = probs.map((p) => p / kept);
  }
  return { order, probs, cutsBeforeTopP };
}

/** The token the inverse CDF picks for u, or null where u lies within 1e-5 of a cut (float32 sums may land on either side). */
function inverseCdf(ref: ReturnType<typeof reference>, u: number): number | null {
  let running = 0;
  let last = 0;
  for (const [j, p] of ref.probs.entries()) {
    if (p === 0) continue;
    running += p;
    last = ref.order[j]!;
    if (Math.abs(running - u) < 1e-5) return null;
    if (running > u) return last;
  }
  return last; // u past the float64 total: the last kept candidate
}

/** A row of V logits spread over [-4, 4]; a uniform stream in float32 below 1, as generate draws them. */
const spread = (V: number, seed: number) => Float32Array.from(seededValues(V, seed, -4, 4));
const uniforms = (n: number, seed: number) => {
  const g = new Generator(seed);
  return Array.from({ length: n }, () => Math.fround(Math.min(g.nextFloat(), 1 - 2 ** -24)));
};

const CASES: [string, Float32Array, SamplingOptions][] = [
  ['ties at the k-th logit are all kept', Float32Array.from([2, 1, 1, 1, 0, -1, -Infinity]), { topK: 2 }],
  ['ties at the k-th logit, then top-p', Float32Array.from([1, 1, 1, 0, 1, -2]), { topK: 2, topP: 0.6 }],
  ['top-k, then top-p over the renormalised rest', Float32Array.from([3, 2.5, 2, 1.9, 1.8, 1.7, 1.6, 1.5, 1.4, 1.3]), { topK: 3, topP: 0.7 }],
  ['temperature before top-p', Float32Array.from([2, 1.5, 1, 0.5, 0, -0.5]), { temperature: 3, topP: 0.5 }],
  ['top-k larger than the vocabulary', spread(37, 1), { topK: 100, temperature: 0.9 }],
  ['top-p 1', spread(37, 2), { topP: 1 }],
  ['a tiny top-p keeps the top token', spread(37, 3), { topP: 1e-9 }],
  ['a small temperature over near ties', Float32Array.from([5, 4.999, 4.998, 0, -1, 4]), { temperature: 1e-3 }],
  // as PyTorch divides by it: logits 8 float32 steps (1e-6) below the top are 1000 temperatures below, never drawn; exact ties share
  ['a temperature far below 1e-6: near ties are not drawn, exact ones share', Float32Array.from([2, 2 - 1e-6, 2, 2 - 2e-6, 0]), { temperature: 1e-9 }],
  ['-Inf logits (a mask) and huge ones', Float32Array.from([3e38, -Infinity, 2.9999e38, -3e38, -Infinity, 2.99995e38]), { temperature: 1e34 }],
  ['huge logits at a huge temperature: gaps past F32_MAX / 2, weights well above 0', Float32Array.from([3e38, -3e38, 1e38, 2e38, -Infinity]), { temperature: 1e38 }],
  ['huge logits at temperature 1', Float32Array.from([1e30, -1e30, 1e30 - 1e24, 0]), {}],
  ['2051 logits (256 lanes, not a multiple)', spread(2051, 4), { topK: 1500, topP: 0.9, temperature: 1.2 }],
  ['33 logits (32 lanes, not a multiple)', spread(33, 5), { topK: 20, topP: 0.95, temperature: 0.7 }],
];

describe('sampleLogits against nanoGPT and Hugging Face', () => {
  it.each(CASES)('%s: each uniform number picks what the inverse CDF picks', (_name, row, opts) =>
    scope(async () => {
      const ref = reference(row, opts);
      if (opts.topP !== undefined && opts.topP < 1) expect(ref.cutsBeforeTopP.every((c) => Math.abs(c - opts.topP!) > 1e-5), 'top-p clear of every cut').toBe(true);
      const us = uniforms(400, row.length);
      const V = row.length;
      const logits = tensor(Float32Array.from(us.flatMap(() => [...row])), [us.length, V]);
      const got = await sampleLogits(logits, tensor(us), opts).toArray();
      const want = us.map((u) => inverseCdf(ref, u));
      const compared = want.flatMap((w, i) => (w === null ? [] : [[got[i], w, us[i]]]));
      expect(compared.length).toBeGreaterThan(us.length * 0.95);
      for (const [g, w, u] of compared) expect(g, `u = ${u}`).toBe(w);
    }),
  );

  it('temperature 0 is greedy: the first of the largest logits', () =>
    scope(async () => {
      const rows = [[1, 3, 3, -Infinity], [-1e38, -3e38, -1e38, -2e38], [0, 0, 0, 0]];
      const got = await sampleLogits(tensor(rows), tensor([0.9, 0.9, 0.9]), { temperature: 0, topK: 1, topP: 0.1 }).toArray();
      expect([...got]).toEqual(rows.map((r) => r.indexOf(Math.max(...r))));
    }));
});

/** Chi-square statistic of counts against probabilities, categories expected below 5 merged; and its degrees of freedom. */
function chiSquare(counts: number[], probs: number[], n: number): { chi2: number; df: number } {
  let [chi2, df, restCount, restProb] = [0, -1, 0, 0];
  for (const [i, p] of probs.entries()) {
    if (p * n >= 5) {
      chi2 += (counts[i]! - p * n) ** 2 / (p * n);
      df++;
    } else [restCount, restProb] = [restCount + counts[i]!, restProb + p];
  }
  if (restProb * n >= 1) [chi2, df] = [chi2 + (restCount - restProb * n) ** 2 / (restProb * n), df + 1];
  else expect(restCount, 'draws of tokens the reference all but excludes').toBeLessThanOrEqual(2);
  return { chi2, df };
}

describe('seeded generation draws the reference distribution', () => {
  const model = new GPT({ vocabSize: 13, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 16, dropout: 0, bias: true }, { seed: 7 });
  const prompt = [3, 1, 4];

  it.each([
    // its logits lie within 0.3 of each other: small temperatures spread them
    [{ temperature: 0.05 }],
    [{ temperature: 0.04, topK: 6 }],
    [{ temperature: 0.06, topK: 8, topP: 0.8 }],
  ] as [SamplingOptions][])('the first tokens of 3000 sequences seeded 0..2999 (%o): chi-square within a wide bound', async (opts) => {
    const n = 3000;
    const counts = new Array<number>(13).fill(0);
    for await (const step of generateBatch(model, Array.from({ length: n }, () => prompt), { ...opts, maxNewTokens: 1, seed: 0 })) step.forEach((t) => counts[t!]!++);
    const row = await noGrad(() => scope(async () => (await model.forward(tensor(new Int32Array(prompt), [1, 3])).logits.slice(1, 2).toArray()) as Float32Array));
    const ref = reference(row, opts);
    const probs = new Array<number>(13).fill(0);
    ref.order.forEach((id, j) => (probs[id] = ref.probs[j]!));
    expect(probs.filter((p) => p > 0.02).length, 'a spread distribution').toBeGreaterThan(2);
    const { chi2, df } = chiSquare(counts, probs, n);
    // mean df, sd sqrt(2 df): 6 sd past it, plus 10, has a false alarm rate far below 1e-6; a wrong rule gives hundreds
    expect(chi2, `counts ${counts}, expected ${probs.map((p) => (p * n).toFixed(0))}`).toBeLessThan(df + 6 * Math.sqrt(2 * df) + 10);
  });
});

describe('generate as nanoGPT generates: the context cropped to the last blockSize tokens at every step', () => {
  const blockSize = 8;
  const model = new GPT({ vocabSize: 13, blockSize, nLayer: 2, nHead: 2, nEmbd: 16, dropout: 0, bias: true }, { seed: 11 });
  const opts = { temperature: 1.5, topK: 9, topP: 0.95 };

  it.each([
    ['a prompt shorter than the window, generated past it', [5, 2, 7], true],
    ['a prompt longer than the window', [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 1], true],
    ['a prompt shorter than the window, no KV cache', [5, 2, 7], false],
  ] as const)('%s: each token is the inverse CDF of the cropped context\'s logits at the seeded uniform number', async (_name, prompt, kvCache) => {
    const got: number[] = [];
    for await (const t of generate(model, prompt, { ...opts, maxNewTokens: 2 * blockSize, seed: 21, kvCache })) got.push(t);
    expect(got).toHaveLength(2 * blockSize);
    const rng = new Generator(21);
    const tokens: number[] = [...prompt];
    let compared = 0;
    for (const next of got) {
      const window = tokens.slice(-blockSize);
      const row = await noGrad(() =>
        scope(async () => (await model.forward(tensor(new Int32Array(window), [1, window.length])).logits.slice(1, window.length - 1).toArray()) as Float32Array),
      );
      const want = inverseCdf(reference(row, opts), Math.fround(rng.nextFloat()));
      if (want !== null) {
        expect(next, `token ${tokens.length - prompt.length}`).toBe(want);
        compared++;
      }
      tokens.push(next);
    }
    expect(compared).toBeGreaterThan(2 * blockSize - 2);
  });

  it('maxNewTokens 0 yields nothing and leaves nothing behind', async () => {
    const before = device().memory().liveBytes;
    const got: number[] = [];
    for await (const t of generate(model, [1, 2], { maxNewTokens: 0 })) got.push(t);
    expect(got).toEqual([]);
    expect(device().memory().liveBytes).toBe(before);
  });

  it('return() at any point frees the GPU memory: before the first token, within the window, once it slides', async () => {
    const before = device().memory();
    for (const taken of [0, 1, 3, blockSize + 2]) {
      const g = generate(model, [4, 5, 6], { ...opts, maxNewTokens: 3 * blockSize, seed: 2 });
      for (let i = 0; i < taken; i++) expect((await g.next()).done).toBe(false);
      expect(await g.return(undefined)).toEqual({ done: true, value: undefined });
      expect(device().memory().liveBytes, `return() after ${taken} tokens`).toBe(before.liveBytes);
      expect(device().memory().liveBuffers).toBe(before.liveBuffers);
    }
    expect(model.training, 'eval mode left').toBe(true);
  });
});
