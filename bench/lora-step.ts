// GPT-2 124M (random weights; speed and memory do not depend on them): the memory plan, the
// measured peak GPU bytes and the time of a training step at batch 1, full fine-tuning against LoRA
// rank 8 on c_attn (peft's GPT-2 default), float32. The first step compiles the kernels. Prints a
// table and writes bench/results/lora-step.json.
//
//   node scripts/run-ts.mjs bench/lora-step.ts [T = 256] [timed steps = 2]
import { mkdirSync, writeFileSync } from 'node:fs';
import { initDevice, device } from '../src/index.js';
import { describePlan } from '../src/gpt/memory-plan.js';
import { GPT } from '../src/gpt/model.js';
import { describeTrainable } from '../src/gpt/lora.js';
import { modelConfig, TRAIN_DEFAULTS, Trainer, type TrainConfig } from '../src/gpt/trainer.js';
import { Generator } from '../src/tensor/generator.js';
import { adapterName, engineCommit } from './provenance.js';

const T = Number(process.argv[2] ?? 256);
const steps = Number(process.argv[3] ?? 2);
if (!Number.isInteger(T) || T < 1 || T > 1024) throw new Error(`T must be an integer in [1, 1024], got '${process.argv[2]}'`);
if (!Number.isInteger(steps) || steps < 1) throw new Error(`timed steps must be an integer >= 1, got '${process.argv[3]}'`);
const dev = await initDevice();
console.log(`${dev.info.description}: maxStorageBufferBindingSize ${(dev.info.limits.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB, maxBufferSize ${(dev.info.limits.maxBufferSize / 2 ** 20).toFixed(0)} MiB`);
const V = 50_257;
const rng = new Generator(7);
const ids = Int32Array.from({ length: 12 * 1024 * 2 }, () => rng.nextInt(V));
const n = Math.floor(ids.length * 0.9);
const rows: { run: string; trainable: number; planMiB: number; peakMiB: number; stepSeconds: number[] }[] = [];
for (const loraRank of [0, 8]) {
  const cfg: TrainConfig = { ...TRAIN_DEFAULTS, nLayer: 12, nHead: 12, nEmbd: 768, blockSize: T, batchSize: 1, bias: true, warmupIters: 0, dtype: 'float32', loraRank };
  // GPT-2's tanh GELU (a TrainConfig has no activation: the model is made here, and the Trainer adapts it as cfg asks)
  const { lora: _, ...plain } = modelConfig(cfg, V);
  const model = new GPT({ ...plain, activation: 'gelu_tanh' }, { seed: cfg.seed });
  const trainer = new Trainer(cfg, { train: ids.slice(0, n), val: ids.slice(n), vocabSize: V }, model);
  const trainable = trainer.optimizer.params.reduce((s, p) => s + p.size, 0);
  console.log(`\n${loraRank ? `LoRA rank ${loraRank} (c_attn)` : 'full fine-tuning'}, B1 T${T}: ${describeTrainable(trainable, model.parameterCount())}`);
  console.log(describePlan(trainer.memoryPlan()));
  device().resetPeakMemory();
  const stepSeconds: number[] = [];
  let t0 = performance.now();
  const first = await trainer.trainStep(true);
  console.log(`step 1 (compiles kernels): ${((performance.now() - t0) / 1000).toFixed(2)} s, loss ${first.loss.toFixed(3)}`);
  for (let i = 0; i < steps; i++) {
    t0 = performance.now();
    const r = await trainer.trainStep(true);
    stepSeconds.push((performance.now() - t0) / 1000);
    console.log(`step ${i + 2}: ${((performance.now() - t0) / 1000).toFixed(2)} s, loss ${r.loss.toFixed(3)}`);
  }
  const [peakMiB, planMiB] = [device().memory().peakBytes / 2 ** 20, trainer.memoryPlan().bytes.total / 2 ** 20];
  console.log(`peak GPU bytes ${peakMiB.toFixed(0)} MiB (plan ${planMiB.toFixed(0)} MiB)`);
  rows.push({ run: loraRank ? `LoRA rank ${loraRank} (c_attn)` : 'full fine-tuning', trainable, planMiB, peakMiB, stepSeconds });
  trainer.dispose();
  model.dispose();
}

console.log(`\n| GPT-2 124M, B1 T${T}, float32 | trainable | plan MiB | peak MiB | step s (after the first) |\n|---|---|---|---|---|`);
for (const r of rows) console.log(`| ${r.run} | ${r.trainable.toLocaleString('en-US')} | ${r.planMiB.toFixed(0)} | ${r.peakMiB.toFixed(0)} | ${r.stepSeconds.map((s) => s.toFixed(2)).join(', ')} |`);
mkdirSync('bench/results', { recursive: true }); // run from the repository root, like bench/run.ts
writeFileSync('bench/results/lora-step.json', JSON.stringify({ when: new Date().toISOString(), commit: engineCommit(), adapter: adapterName(dev.info), T, rows }, null, 2) + '\n');
console.log('wrote bench/results/lora-step.json');
