// Generation tokens/s with and without the KV cache, for the float32 model and for its int8 copy
// (quantizeModel: int8 weights with per-row scales, the skinny int8 kernel per decoded token), and
// batched generation: prompt-processing and decoding tokens/s at batch 1 and 8
// (src/gpt/generate-timing.ts, what `gpt bench-generate` prints) for this model and for a random
// one of nanoGPT's Shakespeare-char GPU shape (6 layers, 6 heads, 384 wide, block 256). Ours only:
// the peers have no generation loop in this suite. The model is the one the train-step benchmark
// trained (a few steps, so its logits are not the near-uniform ones of a fresh model). Sampling is
// seeded (temperature 1), so both modes of one model must produce the same tokens: a near tie
// between two logits could flip a greedy argmax on rounding, while a seeded draw changes only if it
// lands within rounding of a boundary.
import { generate } from '../../src/gpt/generate.js';
import { timeGeneration } from '../../src/gpt/generate-timing.js';
import { GPT } from '../../src/gpt/model.js';
import { quantizeModel } from '../../src/gpt/quantize.js';
import { median, na, time, type Cell, type Context, type Row } from '../harness.js';

const NOT_PEERS = 'generation is benchmarked for our engine only';

const info = (name: string, text: string): Row => ({ family: 'generate', name, unit: 'info', cells: { ours: { text }, tfjs: na(NOT_PEERS), jax: na(NOT_PEERS) } });

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
    cells: { ours: c, tfjs: na(NOT_PEERS), jax: na(NOT_PEERS) },
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
    const ratio = float32.cached.ms && int8.cached.ms ? [info('int8 / float32 tok/s, KV cache', `${(float32.cached.ms / int8.cached.ms).toFixed(2)}x`)] : [];
    const big = new GPT({ vocabSize: model.config.vocabSize, blockSize: 256, nLayer: 6, nHead: 6, nEmbd: 384, dropout: 0, bias: false }, { seed: 1 });
    const batched = [...(await batchRows(model, ctx)), ...(await batchRows(big, ctx))];
    big.dispose();
    return [...float32.rows, ...int8.rows, ...ratio, ...batched];
  } finally {
    quantized.dispose();
  }
}

/** Prefill and decoding rows at batch 1 and 8: prompts of half the window, continued by the other half. */
async function batchRows(model: GPT, ctx: Context): Promise<Row[]> {
  const { nLayer, nHead, nEmbd, blockSize } = model.config;
  const half = ctx.smoke ? 4 : blockSize / 2;
  const shape = `L${nLayer} NH${nHead} C${nEmbd} T${blockSize}`;
  const rows: Row[] = [];
  for (const batch of [1, 8]) {
    const t = await timeGeneration(model, { batch, promptTokens: half, newTokens: half, repeats: ctx.smoke ? 1 : 3 });
    ctx.log(`  ${shape} batch ${batch}: prefill ${t.prefillTokensPerSec.toFixed(1)} tok/s, decode ${t.decodeTokensPerSec.toFixed(1)} tok/s`);
    const cell = (ms: number[]): Cell => ({ ms: median(ms), samplesMs: ms, itersPerSample: 1 });
    const base = { family: 'generate', unit: 'tok/s', tolerance: 'greedy; batching checked in test/generate-batch.test.ts' } as const;
    const peers = { tfjs: na(NOT_PEERS), jax: na(NOT_PEERS) };
    rows.push(
      { ...base, name: `${shape} batch ${batch}: prefill ${half}-token prompts`, work: batch * half, cells: { ours: cell(t.prefillMs), ...peers } },
      { ...base, name: `${shape} batch ${batch}: decode ${half - 1} tokens each`, work: batch * (half - 1), cells: { ours: cell(t.decodeMs), ...peers } },
    );
  }
  return rows;
}
