// Batched generation (generateBatch): prompts of different lengths in one forward per step, left-
// padded, a KV-cache row per sequence. Checked against GPT-2's float64 forward (test/hf-reference.ts,
// written independently) on a small model with random weights large enough that its tokens vary,
// and against single-prompt generation of each prompt; per-sequence stop; seeded sampling per
// sequence; the next step recorded while the consumer takes a token; GPU memory flat over many
// steps and back to where it was at the end.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { generate, generateBatch, type BatchGenerateOptions } from '../src/gpt/generate.js';
import type { GPT } from '../src/gpt/model.js';
import { AdamW, device, noGrad, scope, tensor } from '../src/index.js';
import type { LoRATarget } from '../src/gpt/lora.js';
import { Tensor } from '../src/tensor/tensor.js';
import { fcParams, loadGPT2, seededValues, setupDevice } from './helpers.js';
import { gpt2Logits, randomGPT2, SMALL, type GPT2Params } from './hf-reference.js';

const params = randomGPT2(11);
let model: GPT;
beforeAll(async () => {
  await setupDevice();
  model = await loadGPT2(params, false);
});

const { T: blockSize, V } = SMALL;
const ids = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (seed * 97 + i * 31 + ((i * i) % 7)) % V);
/** Lengths 1, a few, blockSize - 1 and blockSize (the window already full: the first step re-encodes). */
const PROMPTS = [ids(1, 1), ids(5, 2), ids(blockSize - 1, 3), ids(3, 4), ids(blockSize, 5)];
/** Prompts whose windows stay within blockSize for 8 tokens: the KV cache serves every step. */
const SHORT = [ids(1, 1), ids(5, 2), ids(8, 6), ids(3, 4)];

/** Each sequence's tokens from a batch run. */
async function batch(prompts: ArrayLike<number>[], opts: BatchGenerateOptions): Promise<number[][]> {
  const out: number[][] = prompts.map(() => []);
  for await (const step of generateBatch(model, prompts, opts)) step.forEach((t, i) => t !== null && out[i]!.push(t));
  return out;
}

async function single(prompt: ArrayLike<number>, opts: Parameters<typeof generate>[2]): Promise<number[]> {
  const out: number[] = [];
  for await (const t of generate(model, prompt, opts)) out.push(t);
  return out;
}

describe('generateBatch', () => {
  it("prefill logits of left-padded prompts are GPT-2's float64 logits of each prompt alone", async () => {
    const width = Math.max(...PROMPTS.map((p) => p.length));
    const starts = PROMPTS.map((p) => width - p.length);
    const padded = PROMPTS.flatMap((p, b) => [...new Array<number>(starts[b]!).fill(7), ...p]);
    const logits = await noGrad(() =>
      scope(async () => (await model.forward(tensor(Int32Array.from(padded), [PROMPTS.length, width]), { lastOnly: true, starts }).logits.toArray()) as Float32Array),
    );
    PROMPTS.forEach((p, b) => {
      const want = gpt2Logits(params, p).at(-1)!;
      const worst = Math.max(...want.map((w, v) => Math.abs(logits[b * V + v]! - w)));
      expect(worst, `prompt ${b} (length ${p.length})`).toBeLessThan(1e-4);
    });
  });

  it("greedy tokens are GPT-2's float64 greedy continuation of each prompt, past the window", async () => {
    const n = 24; // the 1-token prompt passes blockSize 16 too: the windows slide
    const got = await batch(PROMPTS, { maxNewTokens: n, temperature: 0 });
    PROMPTS.forEach((p, b) => {
      expect(got[b], `prompt ${b}`).toHaveLength(n);
      // the reference is fed our tokens: a near tie (float32 against float64) cannot derail the rest
      got[b]!.forEach((t, k) => {
        const row = gpt2Logits(params, [...p, ...got[b]!.slice(0, k)].slice(-blockSize)).at(-1)!;
        const best = row.reduce((m, x, v) => (x > row[m]! ? v : m), 0);
        expect(row[best]! - row[t]!, `prompt ${b}, token ${k}: ours ${t}, float64 argmax ${best}`).toBeLessThan(1e-4);
      });
    });
    expect(new Set(got.flat()).size, 'the model does not just repeat one token').toBeGreaterThan(5);
  });

  it('equals single-prompt generation of each prompt: greedy (cached; re-encoded past the window) and seeded sampling', async () => {
    for (const [prompts, opts] of [
      [PROMPTS, { maxNewTokens: 12, temperature: 0 }],
      [SHORT, { maxNewTokens: 8, temperature: 0 }],
      [SHORT, { maxNewTokens: 8, temperature: 1.2, topK: 40, seed: 5 }],
    ] as const) {
      const got = await batch([...prompts], opts);
      for (const [b, p] of prompts.entries()) {
        expect(got[b], `${JSON.stringify(opts)} prompt ${b}`).toEqual(await single(p, { ...opts, seed: ('seed' in opts ? opts.seed : 0) + b }));
      }
    }
  });

  it('random batches: greedy per sequence equals single-prompt generation (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.integer({ min: 0, max: V - 1 }), { minLength: 1, maxLength: blockSize }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 8 }),
        async (prompts, n) => {
          const got = await batch(prompts, { maxNewTokens: n, temperature: 0 });
          for (const [b, p] of prompts.entries()) expect(got[b]).toEqual(await single(p, { maxNewTokens: n, temperature: 0 }));
        },
      ),
      fcParams(4),
    );
  });

  it("a sequence's seeded tokens do not depend on the rest of the batch", async () => {
    const opts = { maxNewTokens: 10, temperature: 1, seed: [3, 9] };
    const alone = await batch([PROMPTS[1]!, PROMPTS[3]!], opts);
    const other = await batch([PROMPTS[1]!, PROMPTS[2]!], opts);
    expect(other[0]).toEqual(alone[0]);
  });

  it('stops each sequence on its own: the stop token is yielded, then null; the rest go on unchanged', async () => {
    const n = 8;
    const free: number[][] = [];
    for (const p of SHORT) free.push(await single(p, { maxNewTokens: n, temperature: 0 }));
    // the longest prompt stops after 3 tokens (its cache row leaves, and the padding only it needed), the others where they draw it
    const stopToken = free[2]![2]!;
    const steps: (number | null)[][] = [];
    for await (const step of generateBatch(model, SHORT, { maxNewTokens: n, temperature: 0, stopToken })) steps.push(step);
    const cut = (s: number[]) => (s.includes(stopToken) ? s.slice(0, s.indexOf(stopToken) + 1) : s);
    expect(cut(free[2]!)).toHaveLength(3);
    expect(free.filter((s) => cut(s).length > 3).length, 'some sequences go on after it').toBeGreaterThan(0);
    SHORT.forEach((_, b) => {
      const mine = steps.map((s) => s[b]);
      const want = cut(free[b]!);
      expect(mine.slice(0, want.length), `sequence ${b}`).toEqual(want);
      expect(mine.slice(want.length).every((t) => t === null), `sequence ${b} stopped`).toBe(true);
    });
    expect(steps.length).toBe(Math.max(...free.map((s) => cut(s).length)));
  });

  it('stopAfter ends a sequence after the token it returns true for, told every token in order; the rest go on unchanged', async () => {
    const opts = { maxNewTokens: 8, temperature: 0.9, seed: [5, 6, 7, 8] };
    const free = await batch(SHORT, opts);
    const told: number[][] = SHORT.map(() => []);
    // sequence 1 ends after its 3rd token, as a caller's stop string found in its text would end it
    const stopAfter = (sequence: number, id: number) => told[sequence]!.push(id) === 3 && sequence === 1;
    const steps: (number | null)[][] = [];
    for await (const step of generateBatch(model, SHORT, { ...opts, stopAfter })) steps.push(step);
    expect(told).toEqual([free[0], free[1]!.slice(0, 3), free[2], free[3]]);
    expect(steps.map((s) => s[1])).toEqual([...free[1]!.slice(0, 3), ...new Array<null>(5).fill(null)]);
    for (const b of [0, 2, 3]) expect(steps.map((s) => s[b]), `sequence ${b}`).toEqual(free[b]);
    await expect(batch([[1]], { maxNewTokens: 1, stopAfter: 3 as unknown as () => boolean })).rejects.toThrow('generateBatch: stopAfter must be a function (sequence, id) => boolean, got number 3');
  });

  it('records the next step before the consumer takes a token (KV cache, after the first: its input is the draws on the GPU), with the tokens of one step at a time', async () => {
    const opts = { maxNewTokens: 8, temperature: 0.9, seed: [5, 6, 7, 8] };
    const forward = model.forward.bind(model);
    const calls: string[] = [];
    model.forward = ((...args: Parameters<GPT['forward']>) => (calls.push('forward'), forward(...args))) as GPT['forward'];
    const got: number[][] = SHORT.map(() => []);
    try {
      for await (const step of generateBatch(model, SHORT, opts)) {
        calls.push('token');
        step.forEach((t, i) => t !== null && got[i]!.push(t));
      }
    } finally {
      model.forward = forward;
    }
    // the first token right after the prefill; from the second on, each with the next step already recorded
    const ahead = Array.from({ length: opts.maxNewTokens - 2 }, () => ['forward', 'token']).flat();
    expect(calls).toEqual(['forward', 'token', 'forward', ...ahead, 'token']);
    // one step at a time: every window re-encoded each step, no cache, nothing ahead
    expect(got).toEqual(await batch(SHORT, { ...opts, kvCache: false }));
  });

  it('random batches with stop tokens and the window filling: the step ahead gives the tokens of one step at a time and of each prompt alone, and frees its memory (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.integer({ min: 0, max: V - 1 }), { minLength: 1, maxLength: blockSize }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: blockSize + 4 }),
        fc.constantFrom(0, 1.5),
        fc.nat(1000),
        fc.nat(),
        async (prompts, n, temperature, seed, pick) => {
          const before = device().memory();
          const opts = { maxNewTokens: n, temperature, seed };
          const free = await batch(prompts, { ...opts, kvCache: false });
          // a token some row draws partway, so that row stops while the others go on
          const drawnOnce = free.flat();
          const stopToken = drawnOnce[pick % drawnOnce.length]!;
          const want = await batch(prompts, { ...opts, stopToken, kvCache: false });
          expect(await batch(prompts, { ...opts, stopToken }), `stop ${stopToken}`).toEqual(want);
          for (const [b, p] of prompts.entries()) expect(want[b], `prompt ${b} alone`).toEqual(await single(p, { ...opts, stopToken, seed: seed + b }));
          expect(device().memory().liveBytes).toBe(before.liveBytes);
          expect(device().memory().liveBuffers).toBe(before.liveBuffers);
        },
      ),
      fcParams(6),
    );
  });

  it('two generations interleaved on one model: eval while either runs, the mode before the first restored after the last', async () => {
    // the first to end put the model back to training under the other, the last left it in eval
    const was = model.training;
    for (const startTraining of [true, false]) {
      model.train(startTraining);
      const a = generate(model, [1], { maxNewTokens: 2, temperature: 0 });
      const b = generate(model, [2], { maxNewTokens: 3, temperature: 0 });
      await a.next();
      await b.next();
      expect(model.training).toBe(false);
      while (!(await a.next()).done);
      expect(model.training, 'one still running').toBe(false);
      while (!(await b.next()).done);
      expect(model.training, 'both ended').toBe(startTraining);
    }
    model.train(was);
  });

  it('model.train() while a generation is paused: refused at its next step in one line (with the cache or without), not decoded with dropout; nothing leaks', async () => {
    const was = model.training;
    const before = device().memory().liveBytes;
    for (const kvCache of [true, false]) {
      const g = generateBatch(model, SHORT, { maxNewTokens: 6, temperature: 0, kvCache });
      await g.next();
      model.train();
      const run = async () => {
        while (!(await g.next()).done);
      };
      await expect(run()).rejects.toThrow(/^generateBatch: the model was put in training mode \(model\.train\(\)\) while this generation was paused/);
      expect(model.training, 'the mode it was given, kept').toBe(true);
      expect(device().memory().liveBytes).toBe(before);
    }
    model.train(was);
  });

  // the end of the generation put a training model back into training: an evaluation the caller
  // then ran thought to be in eval mode ran with dropout
  it('model.eval() while a generation of a training model is paused stands after it ends, as a train() would', async () => {
    const was = model.training;
    model.train();
    const g = generate(model, [1], { maxNewTokens: 3, temperature: 0 });
    await g.next();
    model.eval();
    while (!(await g.next()).done);
    expect(model.training).toBe(false);
    model.train(was);
  });

  // A KV cache holds keys and values of the weights it was filled with: weights changed while a
  // generation is paused (a load, an optimizer step) must not be mixed with them, nor with a step
  // recorded ahead on the old ones; its tokens from then on are those of the new weights.
  it('weights changed while a generation is paused: the next tokens are the new weights\' (float64 greedy), with the cache as without it', async () => {
    const hostState = async (m: GPT) => new Map(await Promise.all([...m.stateDict()].map(async ([k, t]) => [k, { shape: [...t.shape], data: (await t.toArray()) as Float32Array }] as const)));
    const original = await hostState(model);
    const params2 = randomGPT2(12);
    const other = await loadGPT2(params2, false);
    const changed = await hostState(other);
    other.dispose();
    const at = 2; // tokens taken before the change: the next one's step is already recorded (with the cache)
    const n = 7;
    /** Each sequence's tokens, `change` run once the consumer has taken `at` steps. */
    const run = async (kvCache: boolean, change: () => void | Promise<void>, sampling: BatchGenerateOptions = { maxNewTokens: n, temperature: 0 }) => {
      model.loadStateDict(original);
      const out: number[][] = SHORT.map(() => []);
      let k = 0;
      for await (const step of generateBatch(model, SHORT, { ...sampling, kvCache })) {
        step.forEach((t, i) => t !== null && out[i]!.push(t));
        if (++k === at) await change();
      }
      return out;
    };
    try {
      for (const kvCache of [true, false]) {
        const got = await run(kvCache, () => model.loadStateDict(changed));
        SHORT.forEach((p, b) => {
          got[b]!.forEach((t, k) => {
            const row = gpt2Logits(k < at ? params : params2, [...p, ...got[b]!.slice(0, k)]).at(-1)!;
            const best = row.reduce((m, x, v) => (x > row[m]! ? v : m), 0);
            expect(row[best]! - row[t]!, `kvCache ${kvCache}, prompt ${b}, token ${k}: ours ${t}, float64 argmax ${best}`).toBeLessThan(1e-4);
          });
        });
      }
      // an optimizer step writes the weights in place (their storage stays, its version moves); sampled:
      // the step redone on the new weights draws with the uniform numbers it had
      const step = async () => {
        const opt = new AdamW(model.parameters(), { lr: 0.05 });
        scope(() => model.forward(tensor(Int32Array.from(SHORT[2]!), [1, 8]), { targets: tensor(Int32Array.from([...SHORT[2]!.slice(1), 0]), [1, 8]) }).loss.backward());
        opt.step();
        opt.zeroGrad();
        opt.dispose();
      };
      // with penalties too: the redone step's token counts are those of the tokens taken (the dropped step never counted its draws)
      for (const penalties of [{}, { repetitionPenalty: 1.4, presencePenalty: 0.8, frequencyPenalty: 0.6 }]) {
        const sampling = { maxNewTokens: n, temperature: 1.5, seed: 3, ...penalties };
        const [cached, uncached] = [await run(true, step, sampling), await run(false, step, sampling)];
        expect(cached, JSON.stringify(penalties)).toEqual(uncached);
        expect(cached, 'the step changed the tokens').not.toEqual(await run(false, () => undefined, sampling));
      }
    } finally {
      model.loadStateDict(original);
    }
  });

  it('LoRA adapters added (then trained) or merged while a generation is paused: the next tokens are the adapted model\'s (float64 greedy), with the cache as without it', async () => {
    const lora = { rank: 2, alpha: 4, dropout: 0, targets: ['c_attn', 'c_fc'] as LoRATarget[] };
    const [at, n] = [2, 6];
    const prompt = SHORT[1]!;
    /** Adds adapters to `m`, their B set to seeded values (peft's zeros would change nothing), as training them would. */
    const adapt = (m: GPT) => {
      m.addLoRA(lora);
      let seed = 40;
      for (const [name, p] of m.namedParameters()) {
        if (name.endsWith('lora.B')) scope(() => p.assign(tensor(Float32Array.from(seededValues(p.size, seed++, -1.5, 1.5)), [...p.shape])));
      }
    };
    /** GPT-2's tensors with each adapted layer's W + (alpha / rank)·B·A, from `m`'s adapters (Conv1D weights are [in, out]). */
    const adaptedParams = async (m: GPT) => {
      const out: GPT2Params = new Map(params);
      const named = new Map(m.namedParameters());
      for (const [name, A] of named) {
        if (!name.endsWith('lora.A')) continue;
        const layer = name.slice(0, -'.lora.A'.length);
        const [a, b] = [await A.toArray(), await named.get(`${layer}.lora.B`)!.toArray()];
        const { shape, data } = params.get(`${layer}.weight`)!;
        const [I, O] = shape as [number, number];
        const scale = lora.alpha / lora.rank;
        const delta = (i: number, o: number) => Array.from({ length: lora.rank }, (_, r) => b[o * lora.rank + r]! * a[r * I + i]!).reduce((x, y) => x + y, 0);
        out.set(`${layer}.weight`, { shape, data: Float32Array.from(data, (w, k) => w + scale * delta(Math.floor(k / O), k % O)) });
      }
      return out;
    };
    /** The tokens of `m`, `change` run once the consumer has taken `at` (the next one's step already recorded, with the cache). */
    const run = async (m: GPT, kvCache: boolean, change: () => void) => {
      const out: number[] = [];
      for await (const t of generate(m, prompt, { maxNewTokens: n, temperature: 0, kvCache })) if (out.push(t) === at) change();
      return out;
    };
    const argmax = (p: GPT2Params, ids: number[]) => {
      const row = gpt2Logits(p, ids).at(-1)!;
      return { row, best: row.reduce((i, x, v) => (x > row[i]! ? v : i), 0) };
    };
    const expectGreedy = (got: number[], before: GPT2Params, after: GPT2Params, what: string) =>
      got.forEach((t, k) => {
        const { row, best } = argmax(k < at ? before : after, [...prompt, ...got.slice(0, k)]);
        expect(row[best]! - row[t]!, `${what}, token ${k}: ours ${t}, float64 argmax ${best}`).toBeLessThan(1e-4);
      });
    for (const kvCache of [true, false]) {
      const added = await loadGPT2(params, false);
      const merged = await loadGPT2(params, false);
      try {
        const got = await run(added, kvCache, () => adapt(added));
        const adapted = await adaptedParams(added);
        expect(argmax(adapted, [...prompt, ...got.slice(0, at)]).best, 'the adapters change the next token').not.toBe(argmax(params, [...prompt, ...got.slice(0, at)]).best);
        expectGreedy(got, params, adapted, `adapters added, kvCache ${kvCache}`);
        adapt(merged);
        const same = await adaptedParams(merged);
        expectGreedy(await run(merged, kvCache, () => merged.mergeLoRA()), same, same, `adapters merged, kvCache ${kvCache}`);
      } finally {
        added.dispose();
        merged.dispose();
      }
    }
  });

  it('frees every step, the one ahead too, when the consumer breaks or throws at any step', async () => {
    const before = device().memory();
    for (const at of [0, 1, 2, 5]) {
      let k = at;
      for await (const _ of generateBatch(model, SHORT, { maxNewTokens: 8, temperature: 0 })) if (k-- === 0) break;
      expect(device().memory().liveBytes, `break at step ${at}`).toBe(before.liveBytes);
      const run = async () => {
        k = at;
        for await (const _ of generateBatch(model, SHORT, { maxNewTokens: 8, temperature: 0 })) if (k-- === 0) throw new Error('consumer');
      };
      await expect(run()).rejects.toThrow('consumer');
      expect(device().memory().liveBytes, `throw at step ${at}`).toBe(before.liveBytes);
      expect(device().memory().liveBuffers).toBe(before.liveBuffers);
    }
  });

  it('frees every step, the one ahead too, when stopAfter throws at any token: the error reaches the consumer', async () => {
    const before = device().memory();
    for (const at of [0, 1, 2, 5, 13]) {
      let told = 0;
      const stopAfter = () => {
        if (told++ === at) throw new Error('stopAfter');
        return false;
      };
      await expect(batch(SHORT, { maxNewTokens: 8, temperature: 0, stopAfter }), `throw at token ${at}`).rejects.toThrow('stopAfter');
      expect(device().memory().liveBytes, `throw at token ${at}`).toBe(before.liveBytes);
      expect(device().memory().liveBuffers).toBe(before.liveBuffers);
    }
  });

  it("frees the step ahead when a step's readback fails (a lost device): the error reaches the consumer, nothing is left unhandled", async () => {
    const before = device().memory();
    const read = Tensor.prototype.toArray;
    let reads = 0;
    // the prefill's draws come back; from the second step on (whose step ahead is recorded before it is read) every readback fails
    Tensor.prototype.toArray = function (this: Tensor) {
      return ++reads >= 2 ? Promise.reject(new Error('device lost')) : read.call(this);
    } as Tensor['toArray'];
    try {
      await expect(batch(SHORT, { maxNewTokens: 8, temperature: 0 })).rejects.toThrow('device lost');
    } finally {
      Tensor.prototype.toArray = read;
    }
    expect(reads, 'a step ahead was recorded').toBe(3);
    expect(device().memory().liveBytes).toBe(before.liveBytes);
    expect(device().memory().liveBuffers).toBe(before.liveBuffers);
  });

  it('keeps GPU memory flat over many steps, and frees it all at the end or on break', async () => {
    const before = device().memory();
    const live: number[] = [];
    const n = 4 * blockSize;
    for await (const _ of generateBatch(model, PROMPTS.slice(0, 3), { maxNewTokens: n, temperature: 0.8, seed: 1 })) live.push(device().memory().liveBytes);
    expect(live).toHaveLength(n);
    // the cache grows until the longest window is full, then every step re-encodes the windows
    expect(Math.max(...live.slice(2 * blockSize)), 'no growth after the windows fill').toBeLessThanOrEqual(Math.max(...live.slice(0, 2 * blockSize)));
    expect(new Set(live.slice(2 * blockSize)).size, 'live bytes once every window slides').toBe(1);
    expect(device().memory().liveBuffers).toBe(before.liveBuffers);
    for await (const _ of generateBatch(model, PROMPTS, { maxNewTokens: 10, temperature: 0 })) break;
    expect(device().memory().liveBytes).toBe(before.liveBytes);
  });

  it("takes typed arrays as prompts (encodePrompt's ids are an Int32Array): the tokens of the same ids in an array", async () => {
    const opts = { maxNewTokens: 6, temperature: 1, seed: 8 };
    expect(await single(Int32Array.from(SHORT[1]!), opts)).toEqual(await single(SHORT[1]!, opts));
    const typed = [Int32Array.from(SHORT[0]!), Uint16Array.from(SHORT[2]!)];
    expect(await batch(typed, opts)).toEqual(await batch([SHORT[0]!, SHORT[2]!], opts));
  });

  it('refuses bad prompts and options in one line naming the argument', async () => {
    const first = (prompts: unknown, opts: object) => generateBatch(model, prompts as number[][], opts as BatchGenerateOptions).next();
    await expect(first([], { maxNewTokens: 1 })).rejects.toThrow(/^generateBatch: prompts must be a non-empty array of prompts/);
    await expect(first([[1], []], { maxNewTokens: 1 })).rejects.toThrow(/^generateBatch: prompts\[1\] must be a non-empty array \(or typed array\) of token ids, got array \[\]$/);
    await expect(first([[1], '12'], { maxNewTokens: 1 })).rejects.toThrow(/^generateBatch: prompts\[1\] must be a non-empty array \(or typed array\) of token ids, got string '12'$/);
    await expect(first([Int32Array.from([1, V])], { maxNewTokens: 1 })).rejects.toThrow(`generateBatch: prompts[0][1] = number ${V} is not a token id in [0, ${V})`);
    await expect(first([[1], [2, V]], { maxNewTokens: 1 })).rejects.toThrow(`generateBatch: prompts[1][1] = number ${V} is not a token id in [0, ${V})`);
    await expect(first([[1], [2]], { maxNewTokens: 1, seed: [1] })).rejects.toThrow(/^generateBatch: seed must be one number, or one per prompt \(2\), got 1$/);
    // a hole or undefined is refused as any other bad element (forEach skipped a hole; find() found undefined as "none")
    await expect(first([[1], , [2]], { maxNewTokens: 1 })).rejects.toThrow(/^generateBatch: prompts\[1\] must be a non-empty array \(or typed array\) of token ids, got undefined$/);
    await expect(first([[1], [2]], { maxNewTokens: 1, seed: [1, undefined] })).rejects.toThrow(/^generateBatch: seed must be an integer, got undefined$/);
    await expect(first([[1], [2]], { maxNewTokens: 1, seed: [1, ,] })).rejects.toThrow(/^generateBatch: seed must be an integer, got undefined$/);
    await expect(first([[1]], { maxNewTokens: 1, stopToken: -1 })).rejects.toThrow(`generateBatch: stopToken must be a token id in [0, ${V}), got number -1`);
    expect(() => scope(() => model.forward(tensor(new Int32Array(4), [2, 2]), { starts: [0, 2] }))).toThrow(/GPT.forward: starts\[1\] = 2 is not a slot in \[0, 2\)/);
  });
});
