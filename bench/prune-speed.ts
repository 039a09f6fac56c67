// Speed of pruned models against the original: one training step (forward + backward + clipping +
// AdamW, batch 12 x block of the model, readback of the loss) and decoding with the KV cache
// (tokens/s over 200 sampled tokens, one position per step until the window is full, then
// nanoGPT's sliding window). The checkpoints are timed in turns, round after round, so that a
// machine shared with other work slows them alike; medians over the rounds are reported.
// Usage: node scripts/run-ts.mjs bench/prune-speed.ts [--rounds N] DIR...
import { initDevice } from '../src/device/device.js';
import { modelFromCheckpoint } from '../src/gpt/checkpoint.js';
import { generate } from '../src/gpt/generate.js';
import { TRAIN_DEFAULTS, Trainer } from '../src/gpt/trainer.js';
import { loadCheckpoint } from '../src/node/checkpoint-dir.js';
import { median } from './harness.js';

const args = process.argv.slice(2);
const at = args.indexOf('--rounds');
const rounds = at >= 0 ? Number(args.splice(at, 2)[1]) : 3;
if (!args.length) throw new Error('usage: bench/prune-speed.ts [--rounds N] CHECKPOINT_DIR...');
await initDevice();

const STEPS = 10;
const TOKENS = 200;

/** ms per training step (median of STEPS, after 2 untimed) and decoded tokens/s, for one checkpoint. */
async function timeOne(path: string): Promise<{ stepMs: number; tokPerSec: number; params: number }> {
  const ckpt = await loadCheckpoint(path);
  const { model } = modelFromCheckpoint(ckpt, { dropout: 0 });
  const V = model.config.vocabSize;
  const ids = Int32Array.from({ length: 20_000 }, (_, i) => (i * 7919) % V); // any tokens: only the time counts
  const { blockSize, nLayer, nHead, nEmbd, bias, shareLayers = 1 } = model.config; // the Trainer refuses a config of another shape
  const trainer = new Trainer({ ...TRAIN_DEFAULTS, blockSize, nLayer, nHead, nEmbd, bias, shareLayers, dropout: 0 }, { train: ids, val: ids, vocabSize: V }, model);
  const times: number[] = [];
  for (let i = 0; i < STEPS + 2; i++) {
    const t0 = performance.now();
    await trainer.trainStep();
    if (i >= 2) times.push(performance.now() - t0);
  }
  trainer.dispose();
  const decode = async (n: number) => {
    const t0 = performance.now();
    for await (const _ of generate(model, [0], { maxNewTokens: n, temperature: 0.8, topK: 200, seed: 1 }));
    return performance.now() - t0;
  };
  await decode(8); // compiles the decoding kernels
  const ms = await decode(TOKENS);
  const params = model.numParams();
  model.dispose();
  return { stepMs: median(times), tokPerSec: (1000 * TOKENS) / ms, params };
}

const results = new Map<string, { stepMs: number[]; tokPerSec: number[]; params: number }>();
for (let r = 0; r < rounds; r++) {
  for (const path of args) {
    const t = await timeOne(path);
    const acc = results.get(path) ?? { stepMs: [], tokPerSec: [], params: t.params };
    acc.stepMs.push(t.stepMs);
    acc.tokPerSec.push(t.tokPerSec);
    results.set(path, acc);
    console.log(`round ${r + 1}: ${path}: ${t.stepMs.toFixed(1)} ms/step, ${t.tokPerSec.toFixed(1)} tok/s`);
  }
}
const [first] = results.values();
console.log(`\n| checkpoint | parameters | train step (ms) | decoding (tok/s) |\n|---|---|---|---|`);
for (const [path, r] of results) {
  const [ms, tps] = [median(r.stepMs), median(r.tokPerSec)];
  const vs = (a: number, b: number) => (path === args[0] ? '' : ` (${(a / b).toFixed(2)}x)`);
  console.log(`| ${path} | ${r.params.toLocaleString('en-US')} | ${ms.toFixed(1)}${vs(median(first!.stepMs), ms)} | ${tps.toFixed(1)}${vs(tps, median(first!.tokPerSec))} |`);
}
