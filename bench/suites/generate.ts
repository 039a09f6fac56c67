// Generation tokens/s with and without the KV cache, for the float32 model and for its int8 copy
// (quantizeModel: int8 weights with per-row scales, the skinny int8 kernel per decoded token) and
// int4 copy (int4 Linear weights, a scale per INT4_GROUP_SIZE inputs, the skinny int4 kernel), and
// batched generation: prompt-processing and decoding tokens/s at batch 1 and 8
// (src/gpt/generate-timing.ts, what `gpt bench-generate` prints) for this model and for a random
// one of nanoGPT's Shakespeare-char GPU shape (6 layers, 6 heads, 384 wide, block 256), whose
// tok/s with and without the KV cache are also timed on GPUs; and the
// int8 copy's batch-8 prefill with float32 activations and, where the adapter has i8 -> i32
// subgroup matrices, with its activations quantized to int8 on tensor cores (else n/a); and beam search
// with 4 beams (generateBeams; tok/s counts its steps). Ours only:
// the peers have no generation loop in this suite. The model is the one the train-step benchmark
// trained (a few steps, so its logits are not the near-uniform ones of a fresh model). Sampling is
// seeded (temperature 1), so both modes of one model must produce the same tokens: a near tie
// between two logits could flip a greedy argmax on rounding, while a seeded draw changes only if it
// lands within rounding of a boundary.
import { device } from '../../src/device/device.js';
import { generateBeams } from '../../src/gpt/beam-search.js';
import { generate } from '../../src/gpt/generate.js';
import { timeGeneration } from '../../src/gpt/generate-timing.js';
import { GPT } from '../../src/gpt/model.js';
import { INT4_GROUP_SIZE, quantizeModel } from '../../src/gpt/quantize.js';
import { profile, setProfile, type ProfileOverrides } from '../../src/kernels/profile.js';
import { speculativeRows } from './generate-speculative.js';
import { median, na, peersNa, time, type Cell, type Context, type Row } from '../harness.js';

const NOT_PEERS = 'generation is benchmarked for our engine only';
const BIG_LABEL = ', L6 NH6 C384 T256 random weights';

const info = (name: string, text: string): Row => ({ family: 'generate', name, unit: 'info', cells: { ours: { text }, ...peersNa(NOT_PEERS) } });

/** Rows of one model: tok/s with the KV cache and without, and the speedup. */
async function modelRows(model: GPT, label: string, ctx: Context): Promise<{ rows: Row[]; cached: Cell }> {
  const { blockSize } = model.config;
  const newTokens = ctx.smoke ? 16 : blockSize - 1; // prompt of 1 token: the whole window, cache never slides
  const run = async (kvCache: boolean) => {
    const out: number[] = [];
    for await (const t of generate(model, [0], { maxNewTokens: newTokens, temperature: 1, seed: 7, kvCache })) out.push(t);
    return out;
  };
  ctx.log(`generate ${newTokens} tokens${label} (prompt 1 token, blockSize ${blockSize})`);
  const cached = await run(true);
  const uncached = await run(false);
  const same = cached.length === uncached.length && cached.every((t, i) => t === uncached[i]);
  const firstDiff = cached.findIndex((t, i) => t !== uncached[i]);
  const timing = { ...ctx.timing, targetMs: 0, maxIters: 1, samples: ctx.smoke ? 1 : Math.max(3, Math.min(ctx.timing.samples, 5)) };
  const cell = async (kvCache: boolean): Promise<Cell> => {
    if (!same) return { error: `KV-cache and full-recompute tokens differ at position ${firstDiff}` };
    const t = await time({ iteration: () => run(kvCache), finish: async () => {} }, timing);
    ctx.log(`  ${kvCache ? 'KV cache' : 'no cache'}: ${((newTokens * 1000) / t.ms).toFixed(1)} tok/s`);
    return { ms: t.ms, samplesMs: t.samplesMs, itersPerSample: 1 };
  };
  const withCache = await cell(true);
  const without = await cell(false);
  const row = (name: string, c: Cell): Row => ({
    family: 'generate',
    name: name + label,
    unit: 'tok/s',
    work: newTokens,
    tolerance: 'identical seeded samples with and without the cache',
    cells: { ours: c, ...peersNa(NOT_PEERS) },
  });
  const rows = [row(`${newTokens} tokens, KV cache`, withCache), row(`${newTokens} tokens, no cache`, without)];
  if (withCache.ms && without.ms) rows.push(info(`KV-cache speedup${label}`, `${(without.ms / withCache.ms).toFixed(2)}x`));
  return { rows, cached: withCache };
}

export async function generateSuite(model: GPT, ctx: Context): Promise<Row[]> {
  const float32 = await modelRows(model, '', ctx);
  const quantized = await quantizeModel(model);
  try {
    const int8 = await modelRows(quantized, ', int8 weights', ctx);
    const int4 = await int4Rows(model, ctx);
    const ratio = (name: string, q: Cell) => (float32.cached.ms && q.ms ? [info(`${name} / float32 tok/s, KV cache`, `${(float32.cached.ms / q.ms).toFixed(2)}x`)] : []);
    const big = new GPT({ vocabSize: model.config.vocabSize, blockSize: 256, nLayer: 6, nHead: 6, nEmbd: 384, dropout: 0, bias: false }, { seed: 1 });
    try {
      const batched = [...(await batchRows(model, ctx)), ...(await batchRows(quantized, ctx, ' int8 weights')), ...(await batchRows(big, ctx))];
      // the KV cache's gain at block size 256 (#13's target); without the cache, each of 255 tokens
      // runs the whole window: minutes on a CPU adapter
      const window = device().info.isFallbackAdapter
        ? [info(`KV cache / no cache${BIG_LABEL}`, 'n/a: CPU adapter (minutes without the cache)')]
        : (await modelRows(big, BIG_LABEL, ctx)).rows;
      const speculative = await speculativeRows(model, [['the target itself', model], ['its int8 copy', quantized]], ctx);
      const beams = await beamRow(model, ctx);
      return [...float32.rows, ...int8.rows, ...ratio('int8', int8.cached), ...int4.rows, ...ratio('int4', int4.cached), ...batched, ...window, ...(await int8PrefillRows(quantized, ctx)), ...speculative, beams];
    } finally {
      big.dispose();
    }
  } finally {
    quantized.dispose();
  }
}

/**
 * Beam search with 4 beams from a 1-token prompt, no EOS: every step of maxNewTokens runs (a step
 * of 4 beams, its 8 candidates read back, the cache rows gathered); tok/s counts the steps.
 */
async function beamRow(model: GPT, ctx: Context): Promise<Row> {
  const numBeams = 4;
  const newTokens = ctx.smoke ? 16 : model.config.blockSize - 1;
  ctx.log(`beam search, ${numBeams} beams, ${newTokens} tokens`);
  const run = () => generateBeams(model, [0], { numBeams, maxNewTokens: newTokens });
  const timing = { ...ctx.timing, targetMs: 0, maxIters: 1, samples: ctx.smoke ? 1 : Math.max(3, Math.min(ctx.timing.samples, 5)) };
  const t = await time({ iteration: run, finish: async () => {} }, timing);
  ctx.log(`  ${((newTokens * 1000) / t.ms).toFixed(1)} tok/s`);
  return {
    family: 'generate',
    name: `beam search, ${numBeams} beams: ${newTokens} tokens`,
    unit: 'tok/s',
    work: newTokens,
    tolerance: "HF's beam search, checked in test/beam-search.test.ts against a float64 reference",
    cells: { ours: { ms: t.ms, samplesMs: t.samplesMs, itersPerSample: 1 }, ...peersNa(NOT_PEERS) },
  };
}

/** modelRows of `model`'s int4 copy. */
async function int4Rows(model: GPT, ctx: Context): Promise<{ rows: Row[]; cached: Cell }> {
  const int4 = await quantizeModel(model, { bits: 4, groupSize: INT4_GROUP_SIZE });
  try {
    return await modelRows(int4, `, int4 weights (groups of ${INT4_GROUP_SIZE})`, ctx);
  } finally {
    int4.dispose();
  }
}

/** Prefill and decoding rows at batch 1 and 8: prompts of half the window, continued by the other half; `label` says what the model is. */
async function batchRows(model: GPT, ctx: Context, label = ''): Promise<Row[]> {
  const { nLayer, nHead, nEmbd, blockSize } = model.config;
  const half = ctx.smoke ? 4 : blockSize / 2;
  const shape = `L${nLayer} NH${nHead} C${nEmbd} T${blockSize}${label}`;
  const rows: Row[] = [];
  for (const batch of [1, 8]) {
    const t = await timeGeneration(model, { batch, promptTokens: half, newTokens: half, repeats: ctx.smoke ? 1 : 3 });
    ctx.log(`  ${shape} batch ${batch}: prefill ${t.prefillTokensPerSec.toFixed(1)} tok/s, decode ${t.decodeTokensPerSec.toFixed(1)} tok/s`);
    const cell = (ms: number[]): Cell => ({ ms: median(ms), samplesMs: ms, itersPerSample: 1 });
    const base = { family: 'generate', unit: 'tok/s', tolerance: 'greedy; batching checked in test/generate-batch.test.ts' } as const;
    const peers = peersNa(NOT_PEERS);
    rows.push(
      { ...base, name: `${shape} batch ${batch}: prefill ${half}-token prompts`, work: batch * half, cells: { ours: cell(t.prefillMs), ...peers } },
      { ...base, name: `${shape} batch ${batch}: decode ${half - 1} tokens each`, work: batch * (half - 1), cells: { ours: cell(t.decodeMs), ...peers } },
    );
  }
  return rows;
}

/** The int8 model's batch-8 prefill: float32 activations, then int8 activations on int8 tensor cores where the profile has them. */
async function int8PrefillRows(model: GPT, ctx: Context): Promise<Row[]> {
  const { nLayer, nHead, nEmbd, blockSize } = model.config;
  const [batch, half] = [8, ctx.smoke ? 4 : blockSize / 2];
  const name = (how: string) => `L${nLayer} NH${nHead} C${nEmbd} T${blockSize} int8 weights batch ${batch}: prefill ${half}-token prompts, ${how}`;
  const prefill = async (overrides: ProfileOverrides): Promise<Cell> => {
    setProfile(overrides);
    try {
      const t = await timeGeneration(model, { batch, promptTokens: half, newTokens: 2, repeats: ctx.smoke ? 1 : 3 });
      return { ms: median(t.prefillMs), samplesMs: t.prefillMs, itersPerSample: 1 };
    } finally {
      setProfile(null);
    }
  };
  const base = { family: 'generate', unit: 'tok/s', work: batch * half, tolerance: 'int8 activations: checked by test/int8-activations.test.ts and the device-start self-check' } as const;
  const peers = peersNa(NOT_PEERS);
  ctx.log(`  int8 weights batch ${batch} prefill: float32 activations, then int8 tensor cores`);
  const tensorCores = profile().matmul.int8SubgroupMatrix
    ? await prefill({})
    : na('no chromium-experimental-subgroup-matrix with an i8 -> i32 configuration here, or the device-start self-check turned it off');
  return [
    { ...base, name: name('float32 activations'), cells: { ours: await prefill({ matmul: { int8SubgroupMatrix: null } }), ...peers } },
    { ...base, name: name('int8 activations on tensor cores'), cells: { ours: tensorCores, ...peers } },
  ];
}
