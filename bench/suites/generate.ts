// Generation tokens/s with and without the KV cache (ours only: the peers have no generation
// loop in this suite), and batched generation: prompt-processing and decoding tokens/s at batch 1
// and 8 (src/gpt/generate-timing.ts, what `gpt bench-generate` prints) for this model and for a
// random one of nanoGPT's Shakespeare-char GPU shape (6 layers, 6 heads, 384 wide, block 256). The model is the one the train-step benchmark trained (a few steps, so its
// logits are not the near-uniform ones of a fresh model). Sampling is seeded (temperature 1), so
// both modes must produce the same tokens: a near tie between two logits could flip a greedy
// argmax on rounding, while a seeded draw changes only if it lands within rounding of a boundary.
import { generate } from '../../src/gpt/generate.js';
import { timeGeneration } from '../../src/gpt/generate-timing.js';
import { GPT } from '../../src/gpt/model.js';
import { median, na, time, type Cell, type Context, type Row } from '../harness.js';

const NOT_PEERS = 'generation is benchmarked for our engine only';

export async function generateSuite(model: GPT, ctx: Context): Promise<Row[]> {
  const { blockSize } = model.config;
  const newTokens = ctx.smoke ? 16 : blockSize - 1; // prompt of 1 token: the whole window, cache never slides
  const run = async (kvCache: boolean) => {
    const out: number[] = [];
    for await (const t of generate(model, [0], { maxNewTokens: newTokens, temperature: 1, seed: 7, kvCache })) out.push(t);
    return out;
  };
  ctx.log(`generate ${newTokens} tokens (prompt 1 token, blockSize ${blockSize})`);
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
    name,
    unit: 'tok/s',
    work: newTokens,
    tolerance: 'identical seeded samples with and without the cache',
    cells: { ours: c, tfjs: na(NOT_PEERS), jax: na(NOT_PEERS) },
  });
  const rows = [row(`${newTokens} tokens, KV cache`, withCache), row(`${newTokens} tokens, no cache`, without)];
  rows.push(...(await batchRows(model, ctx)));
  const big = new GPT({ vocabSize: model.config.vocabSize, blockSize: 256, nLayer: 6, nHead: 6, nEmbd: 384, dropout: 0, bias: false }, { seed: 1 });
  rows.push(...(await batchRows(big, ctx)));
  big.dispose();
  if (withCache.ms && without.ms) {
    rows.push({
      family: 'generate',
      name: 'KV-cache speedup',
      unit: 'info',
      cells: { ours: { text: `${(without.ms / withCache.ms).toFixed(2)}x` }, tfjs: na(NOT_PEERS), jax: na(NOT_PEERS) },
    });
  }
  return rows;
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
