// Generation under autocast('float16') (a model computing in float16, as HF's generate runs under
// torch.autocast): the logits are float16, and the draw takes them in float32, as HF's generate
// casts its next-token logits. Checked against the walk over GPT-2's float64 logits (test/
// hf-reference.ts) with the same seeded uniform numbers, wherever a draw is not within float16's
// rounding of a boundary between two tokens; also a generation whose steps are taken in and out of
// autocast regions.
import { beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../src/gpt/generate.js';
import type { GPT } from '../src/gpt/model.js';
import { autocast } from '../src/nn/index.js';
import { loadGPT2, setupDevice } from './helpers.js';
import { expectFloat64Walk } from './float64-walk.js';
import { randomGPT2, SMALL } from './hf-reference.js';

const params = randomGPT2(3);
let model: GPT;
beforeAll(async () => {
  await setupDevice();
  model = await loadGPT2(params, false);
});

describe('generate under autocast float16', () => {
  it.each([true, false])('samples (temperature, top-k, top-p) as the float64 walk does (kvCache %s)', async (kvCache) => {
    const prompt = [5, 17, 200, 3];
    const opts = { temperature: 1.3, topK: 60, topP: 0.95 };
    const n = 2 * SMALL.T; // past the window too
    const got = await autocast('float16', async () => {
      const out: number[] = [];
      for await (const t of generate(model, prompt, { ...opts, maxNewTokens: n, seed: 9, kvCache })) out.push(t);
      return out;
    });
    expect(got).toHaveLength(n);
    expectFloat64Walk(params, got, prompt, opts, 9);
  });
});

describe('a generation whose steps are taken in different autocast regions', () => {
  // its float16 keys and values would meet a float32 step's queries (refused as a mismatch by attention)
  it.each([true, false])('re-encodes when the compute dtype changes, sampling as the float64 walk does (kvCache %s)', async (kvCache) => {
    const prompt = [5, 17, 200, 3];
    const opts = { temperature: 1.3, topK: 60, topP: 0.95 };
    const dtypeAt = (k: number) => (Math.floor(k / 3) % 2 ? 'float32' : 'float16'); // after every 3 tokens, the other region
    const g = generate(model, prompt, { ...opts, maxNewTokens: 12, seed: 4, kvCache });
    const got: number[] = [];
    for (let next = await autocast(dtypeAt(0), () => g.next()); !next.done; next = await autocast(dtypeAt(got.length), () => g.next())) got.push(next.value);
    expect(got).toHaveLength(12);
    expectFloat64Walk(params, got, prompt, opts, 4);
  });
});
