// What a cached generation holds on the GPU against its memory plan (memoryPlan's kvCache), the
// oracle being the device's own count of the bytes live in its buffers: every layer's KV cache,
// made whole at the prefill or grown step by step, and the peak while caches move (grown into
// larger ones, or cut down as finished sequences' rows are dropped), in float32 and in float16 (with
// the weights' float16 copies). And the refusal, before the device allocates anything, of a batch
// whose cache one binding cannot hold in the dtype it computes in, naming it. What sampling and beam
// search make beside a step's logits (memoryPlan's sampling), against what the device measures them to add.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkInferenceFits, generationExtent } from '../src/cli/device-fit.js';
import { generateBeams } from '../src/gpt/beam-search.js';
import { generateBatch } from '../src/gpt/generate.js';
import { memoryPlan, type SamplingPlan } from '../src/gpt/memory-plan.js';
import { quantizeModel } from '../src/gpt/quantize.js';
import { pooledSize } from '../src/device/pool.js';
import { autocast, CastCache, type ComputeDtype } from '../src/nn/autocast.js';
import { keepCacheRows } from '../src/nn/transformer.js';
import { zeros } from '../src/ops/index.js';
import { keep } from '../src/tensor/scope.js';
import { GPT, type GPTConfig } from '../src/gpt/model.js';
import { device } from '../src/index.js';
import { profile } from '../src/kernels/profile.js';
import { setupDevice, withLimits } from './helpers.js';

// 3 layers, one with fewer heads (a structurally pruned model's): its cache is narrower
const CFG: GPTConfig = { vocabSize: 65, blockSize: 32, nLayer: 3, nHead: 4, nHeads: [4, 2, 4], nEmbd: 64, dropout: 0, bias: false };
const B = 8;
let model: GPT;
beforeAll(async () => {
  await setupDevice();
  model = new GPT(CFG, { seed: 3 });
});
afterAll(() => model.dispose());

/** An adapter with these limits and the device's memory. */
const room = (limits: Record<string, number>) => ({ limits, memoryBound: device().memoryBound });

const promptsOf = (P: number) => Array.from({ length: B }, (_, b) => Array.from({ length: P }, (_, i) => (i * 7 + b * 5) % CFG.vocabSize));

/**
 * Generates from `P`-token prompts in `dtype` (its weights cast once beforehand in float16, as `gpt
 * sample` casts them): the most bytes live, past the weights and their float16 copies, between steps
 * (the caches, and a step's drawn ids) and at any moment; the bytes of those copies; the tokens drawn.
 */
async function measured(P: number, N: number, stopToken?: number, dtype: ComputeDtype = 'float32') {
  await device().sync();
  const weights = device().memory().liveBytes;
  const casts = dtype === 'float16' ? new CastCache([...model.parameters()]) : undefined;
  try {
    await device().sync();
    const before = device().memory().liveBytes;
    device().resetPeakMemory();
    let between = 0;
    const steps: (number | null)[][] = [];
    await autocast(dtype, async () => {
      for await (const step of generateBatch(model, promptsOf(P), { maxNewTokens: N, temperature: 1, seed: 5, stopToken })) {
        between = Math.max(between, device().memory().liveBytes - before);
        steps.push(step);
      }
    }, casts);
    return { between, peak: device().memory().peakBytes - before, halfWeights: before - weights, steps };
  } finally {
    casts?.dispose();
  }
}

/** The memory plan of the generation `gpt sample` or `bench-generate` checks: at the positions it reaches. */
const planOf = (P: number, N: number, dtype: ComputeDtype = 'float32') =>
  memoryPlan({ ...CFG, blockSize: generationExtent(CFG.blockSize, P, N).positions }, B, { training: false, kvCache: true, dtype, bindingLimit: profile().bindingLimit }).bytes;

describe("a cached generation's KV caches, against the bytes the device holds", () => {
  it.for([
    ['made whole at the prefill (half the block prompted: its cache takes the whole block)', 16, 16, 'float32'],
    ['grown step by step (6, 14, 30, then 32 slots), each move beside the old cache', 3, 29, 'float32'],
    ['made whole at the prefill, in float16', 16, 16, 'float16'],
    ['grown step by step, in float16', 3, 29, 'float16'],
  ] as const)('%s: every layer\'s cache as the plan counts it, the peak within the plan', async ([, P, N, dtype], ctx) => {
    if (dtype === 'float16' && !profile().f16) ctx.skip();
    const plan = planOf(P, N, dtype);
    const { between, peak, halfWeights } = await measured(P, N, undefined, dtype);
    expect(halfWeights).toBe(plan.halfWeights); // the weights' float16 copies (none in float32)
    // between steps: the caches, and the drawn ids of the step recorded ahead ([B, 1] int32: a small buffer)
    expect(between).toBeGreaterThanOrEqual(plan.kvCache);
    expect(between - plan.kvCache).toBeLessThan(4096);
    const past = plan.total - plan.weights - plan.halfWeights;
    expect(peak, `peak ${peak} B, planned ${past} B past the weights`).toBeLessThanOrEqual(past);
  });

  it('sequences that stop early have their rows dropped (two more copies of a layer\'s cache meanwhile): the peak stays within the plan', async () => {
    const [P, N] = [16, 12];
    // the third token the first sequence draws (its draws are seeded), as the stop token: it stops by then
    const { steps } = await measured(P, N);
    const stopped = await measured(P, N, steps[2]![0]!);
    const going = stopped.steps.map((s) => s.filter((t) => t !== null).length); // sequences still going at each step
    expect(going.some((n) => n < B) && going.at(-1)! > 0, `sequences going at each step: ${going}`).toBe(true);
    const plan = planOf(P, N);
    expect(stopped.peak, `peak ${stopped.peak} B, planned ${plan.total - plan.weights} B past the weights`).toBeLessThanOrEqual(plan.total - plan.weights);
  });
});

describe("a generation's penalties, n-gram bans and logprobs, against the bytes the device holds", () => {
  it('counts their [batch, V] tensors (penalties: 2 kept and a penalized copy a step; a logit bias: a biased copy a step; n-gram bans: the tokens kept and a banned copy a step; logprobs: 3 a step and the top N): the peak within the plan, their bytes within 2% of what the device measures them to add', async () => {
    // a vocabulary far wider than the model, and one position: the step's sampling is the peak (the plan without it was 25% short)
    const wide: GPTConfig = { vocabSize: 4096, blockSize: 32, nLayer: 2, nHead: 4, nEmbd: 64, dropout: 0, bias: false };
    const m = new GPT(wide, { seed: 3 });
    try {
      const prompts = Array.from({ length: B }, (_, b) => [b * 5]);
      const peakOf = async (extra: object) => {
        await device().sync();
        const before = device().memory().liveBytes;
        device().resetPeakMemory();
        for await (const step of generateBatch(m, prompts, { maxNewTokens: 1, temperature: 1, seed: 5, ...extra })) void step;
        await device().sync();
        return device().memory().peakBytes - before;
      };
      const plain = await peakOf({});
      const both = await peakOf({ presencePenalty: 0.5, repetitionPenalty: 1.2, noRepeatNgramSize: 2, logitBias: { 7: 2 }, logprobs: { topN: 20, take: () => undefined } });
      const planOf = (sampling?: SamplingPlan) =>
        memoryPlan({ ...wide, blockSize: generationExtent(wide.blockSize, 1, 1).positions }, B, { training: false, kvCache: true, bindingLimit: profile().bindingLimit, sampling }).bytes;
      const plan = planOf({ penalties: true, logitBias: true, noRepeatNgram: true, logprobsTopN: 20 });
      expect(planOf().sampling).toBe(0);
      expect(both, `peak ${both} B, planned ${plan.total - plan.weights} B past the weights`).toBeLessThanOrEqual(plan.total - plan.weights);
      expect(Math.abs(both - plain - plan.sampling) / plan.sampling, `measured ${both - plain} B more, planned ${plan.sampling} B`).toBeLessThan(0.02);
    } finally {
      m.dispose();
    }
  });
});

describe("a beam search's work, against the bytes the device holds", () => {
  // its beams are the batch: N rows of cache, a step's [N, V] log_softmax and its sum with the beams' scores (of the logits'
  // float32 copy, which a greedy generation makes too), the top 2N; between steps each layer's cache gathered by the beams kept
  const N = 8;
  const beamPlan = (cfg: GPTConfig, P: number, steps: number, dtype: ComputeDtype, sampling?: SamplingPlan) =>
    memoryPlan({ ...cfg, blockSize: generationExtent(cfg.blockSize, P, steps).positions }, N, { training: false, kvCache: true, dtype, bindingLimit: profile().bindingLimit, sampling }).bytes;
  /** The most bytes live, past the weights (and their float16 copies, made before), while `run` runs in `dtype`. */
  const peakOf = async (m: GPT, dtype: ComputeDtype, run: () => Promise<unknown>) => {
    const casts = dtype === 'float16' ? new CastCache([...m.parameters()]) : undefined;
    try {
      await device().sync();
      const before = device().memory().liveBytes;
      device().resetPeakMemory();
      await autocast(dtype, run, casts);
      await device().sync();
      return device().memory().peakBytes - before;
    } finally {
      casts?.dispose();
    }
  };

  it.for([['float32'], ['float16']] as const)('counts a step\'s [beams, V] tensors (%s): the peak within the plan, their bytes within 5%% of what the device measures a beam search to add to a greedy generation of as many rows', async ([dtype], ctx) => {
    if (dtype === 'float16' && !profile().f16) ctx.skip();
    // a vocabulary far wider than the model, and a prompt of one token: a step's [N, V] tensors are the peak
    const wide: GPTConfig = { vocabSize: 8192, blockSize: 32, nLayer: 2, nHead: 4, nEmbd: 64, dropout: 0, bias: false };
    const m = new GPT(wide, { seed: 3 });
    try {
      const [P, steps] = [1, 3];
      const beams = await peakOf(m, dtype, () => generateBeams(m, [5], { numBeams: N, maxNewTokens: steps, earlyStopping: 'never' }));
      const greedy = await peakOf(m, dtype, async () => {
        for await (const step of generateBatch(m, Array.from({ length: N }, () => [5]), { maxNewTokens: steps, temperature: 0 })) void step;
      });
      const plan = beamPlan(wide, P, steps, dtype, { beams: true });
      expect(beamPlan(wide, P, steps, dtype).sampling).toBe(0);
      expect(beams, `peak ${beams} B, planned ${plan.total - plan.weights - plan.halfWeights} B past the weights`).toBeLessThanOrEqual(plan.total - plan.weights - plan.halfWeights);
      expect(Math.abs(beams - greedy - plan.sampling) / plan.sampling, `measured ${beams - greedy} B more, planned ${plan.sampling} B`).toBeLessThan(0.05);
    } finally {
      m.dispose();
    }
  });

  it('gathers a layer\'s cache by the beams kept in one copy beside it (was three: the rows\' slices, their concat, the slots\' slice)', async () => {
    const [R, slots, W] = [8, 64, 384];
    for (const rows of [[0, 0, 1, 1, 2, 2, 3, 3], [1, 2, 3, 4, 5, 6, 7, 0], [3, 3, 3, 3, 3, 3, 3, 3]]) {
      const cache = { qkv: keep(zeros([R, slots, W])), length: 40, capacity: slots };
      try {
        await device().sync();
        const before = device().memory().liveBytes;
        device().resetPeakMemory();
        keepCacheRows(cache, rows, 0);
        await device().sync();
        // the copy, and the rows' ids (int32: a small buffer)
        const extra = device().memory().peakBytes - before;
        expect(extra, `rows ${rows}: ${extra} B past the cache`).toBeGreaterThanOrEqual(R * slots * W * 4);
        expect(extra, `rows ${rows}: ${extra} B past the cache`).toBeLessThan(R * slots * W * 4 + 4096);
      } finally {
        cache.qkv!.dispose();
      }
    }
  });

  it('gathers each layer\'s cache by the beams kept (a narrow vocabulary, a wide model, the caches grown to the block): the peak within the plan', async () => {
    const narrow: GPTConfig = { vocabSize: 65, blockSize: 64, nLayer: 3, nHead: 4, nEmbd: 128, dropout: 0, bias: false };
    const m = new GPT(narrow, { seed: 3 });
    try {
      const [P, steps] = [8, 24];
      const peak = await peakOf(m, 'float32', () => generateBeams(m, Array.from({ length: P }, (_, i) => (i * 7) % 65), { numBeams: N, maxNewTokens: steps, earlyStopping: 'never' }));
      const plan = beamPlan(narrow, P, steps, 'float32', { beams: true });
      expect(peak, `peak ${peak} B, planned ${plan.total - plan.weights} B past the weights`).toBeLessThanOrEqual(plan.total - plan.weights);
    } finally {
      m.dispose();
    }
  });
});

describe("a batch whose step's logits [batch, V] one binding cannot hold", () => {
  it('is refused before it runs, naming them, where generating it fails binding them; a smaller batch is taken and runs', async () => {
    const wide: GPTConfig = { vocabSize: 4096, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 16, dropout: 0, bias: false }; // its token embedding 256 KiB
    const m = new GPT(wide, { seed: 3 });
    const limits = { maxStorageBufferBindingSize: 512 * 1024, maxBufferSize: 2 ** 31 };
    const run = (batch: number) => withLimits(limits, async () => {
      for await (const step of generateBatch(m, Array.from({ length: batch }, () => [1]), { maxNewTokens: 2, temperature: 1, seed: 5, presencePenalty: 0.5 })) void step;
    });
    try {
      // 64 sequences: [64, 4096] float32 logits, 1 MiB; 16: 256 KiB
      expect(() => checkInferenceFits(wide, 64, 4, '-n', room(limits), { kvCache: true })).toThrow(/a step's logits \(batch 64 x vocab 4096\) takes 1(\.0+)? MiB, over its maxStorageBufferBindingSize/);
      await expect(run(64), 'the oracle: generating it fails').rejects.toThrow(/bound whole but this adapter binds at most 524288 bytes/);
      expect(() => checkInferenceFits(wide, 16, 4, '-n', room(limits), { kvCache: true })).not.toThrow();
      await run(16);
    } finally {
      m.dispose();
    }
  });
});

describe("an int8 model's float16 generation", () => {
  it('casts its float32 weights (position embedding, LayerNorms, biases, int8 scales), not its int8 matrices: as many bytes as the plan counts', async (ctx) => {
    if (!profile().f16) ctx.skip();
    const int8 = await quantizeModel(model);
    try {
      await device().sync();
      const before = device().memory().liveBytes;
      const casts = new CastCache([...int8.parameters()]); // as gpt sample casts them
      await device().sync();
      const cast = device().memory().liveBytes - before;
      casts.dispose();
      // the device's own count, against float16 bytes of the float32 parameters, each buffer rounded as the pool rounds it
      const float32 = [...int8.namedParameters()].filter(([, p]) => p.dtype === 'float32');
      expect(cast).toBe(float32.reduce((n, [, p]) => n + pooledSize(2 * p.size, profile().bindingLimit, Infinity), 0));
      const plan = memoryPlan({ ...CFG, quantization: 'int8' }, B, { training: false, kvCache: true, dtype: 'float16', bindingLimit: profile().bindingLimit }).bytes;
      expect(plan.halfWeights).toBe(cast);
    } finally {
      int8.dispose();
    }
  });
});

describe('a batch whose KV cache cannot fit', () => {
  it('in float32 but would in float16: refused in float32, taken with --dtype float16', () => {
    const half = B * 32 * 3 * 64 * 2; // a layer's float16 cache [B, 32 slots, 3·n-embd]: half the float32 one
    const limits = { maxStorageBufferBindingSize: half, maxBufferSize: 2 ** 31 };
    expect(() => checkInferenceFits(CFG, B, 32, '--num-samples', room(limits), { kvCache: true, dtype: 'float16' })).not.toThrow();
    expect(() => checkInferenceFits(CFG, B, 32, '--num-samples', room(limits), { kvCache: true, dtype: 'float32' })).toThrow(/^flag --num-samples 8: .* a layer's KV cache .* takes 0\.188 MiB, over its maxStorageBufferBindingSize of 0\.0938 MiB; /);
    expect(() => checkInferenceFits(CFG, B, 32, '--num-samples', room({ ...limits, maxStorageBufferBindingSize: half - 4 }), { kvCache: true, dtype: 'float16' })).toThrow(/KV cache .* takes 0\.0938 MiB/);
  });


  it('is refused in one line naming a layer\'s cache, its size and the adapter\'s limit, and the flag that set the batch', () => {
    const cache = B * 32 * 3 * 64 * 4; // float32 [B, 32 slots, 3·n-embd]
    const limits = { maxStorageBufferBindingSize: cache - 4, maxBufferSize: 2 ** 31 };
    expect(() => checkInferenceFits(CFG, B, 32, '--batch', room(limits), { kvCache: true })).toThrow(
      /^flag --batch 8: the model does not fit this adapter: a layer's KV cache \(batch 8 x block 32 x 3·n-embd 64\) takes 0\.188 MiB, over its maxStorageBufferBindingSize of 0\.187 MiB; a smaller --batch fits$/,
    );
  });
});

describe("a generation's forwards", () => {
  it('are checked at their length (prompt + new tokens), not the KV cache\'s (twice that): a batch whose cache fits is not refused for MLP activations it never makes', async () => {
    const [P, N] = [4, 12];
    const { positions, forwardPositions } = generationExtent(CFG.blockSize, P, N); // 32 slots of cache, forwards of at most 16
    const cache = B * positions * 3 * 64 * 4; // a layer's float32 cache: 0.1875 MiB; the MLP activations over all 32 positions would be 0.25 MiB
    const limits = { maxStorageBufferBindingSize: cache, maxBufferSize: cache }; // an adapter whose largest buffer is a binding
    expect(() => checkInferenceFits(CFG, B, positions, '--num-samples', room(limits), { kvCache: true, forwardPositions })).not.toThrow();
    // the generation runs on a device holding it to those limits (every buffer within maxBufferSize, every binding within the other)
    const drawn = await withLimits(limits, async () => {
      let n = 0;
      for await (const step of generateBatch(model, promptsOf(P), { maxNewTokens: N, temperature: 1, seed: 5 })) n += step.filter((t) => t !== null).length;
      return n;
    });
    expect(drawn).toBe(B * N);
    // twice the batch does not fit (its forwards' MLP activations, listed first, nor its caches)
    expect(() => checkInferenceFits(CFG, 2 * B, positions, '--num-samples', room(limits), { kvCache: true, forwardPositions })).toThrow(/^flag --num-samples 16: the model does not fit this adapter: the MLP activations \(batch 16 x 16 positions x 4·n-embd 64\) takes 0\.250 MiB, over its maxBufferSize of 0\.188 MiB; /);
  });
});
