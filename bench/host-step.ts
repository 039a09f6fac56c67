// What the host side of a step costs: JavaScript (tensors, autograd, kernel choice, uniforms) and
// Dawn's validation and encoding, measured on Dawn's null backend, which records every command and
// executes none. On a fast GPU this is the floor of a step's time unless the GPU overlaps it, and
// it decides decoding's tokens/s. The null backend holds at most 512 MiB, so the GPU-sized models
// keep their structure (layers, heads, the same ops and dispatches) at a smaller width, block and
// batch; the row names say which. Ours only: the peers' host costs would need the same backend.
//
//   npm run bench:host                   every row, 30 timed steps each
//   npm run bench:host -- --steps 10
// Prints a table and writes bench/results/host-step.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

process.env.GPT_DAWN_BACKEND = 'null'; // read when the device opens, below
const { device, initDevice } = await import('../src/device/device.js');
const { generate } = await import('../src/gpt/generate.js');
const { GPT } = await import('../src/gpt/model.js');
const { TRAIN_DEFAULTS, Trainer } = await import('../src/gpt/trainer.js');
const { Generator } = await import('../src/tensor/generator.js');
const { median } = await import('./harness.js');
const { engineCommit } = await import('./provenance.js');
type TrainConfig = import('../src/gpt/trainer.js').TrainConfig;

const args = process.argv.slice(2);
const stepsAt = args.indexOf('--steps');
const steps = stepsAt >= 0 ? Number(args[stepsAt + 1]) : 30;
if (!Number.isInteger(steps) || steps < 1) throw new Error(`--steps expects a positive integer, got '${args[stepsAt + 1]}'`);
const WARMUP = 25; // runs before timing: every pipeline and bind group exists, and the JIT has settled (8 were too few for the first row)
const V = 65;

const TRAIN: { name: string; shape: Partial<TrainConfig> }[] = [
  { name: "nanoGPT's CPU config L4 NH4 C128 T64 B12", shape: { nLayer: 4, nHead: 4, nEmbd: 128, blockSize: 64, batchSize: 12 } },
  { name: 'GPU recipe structure L6 NH6 (C384 T256 B2), dropout 0.2', shape: { nLayer: 6, nHead: 6, nEmbd: 384, blockSize: 256, batchSize: 2, dropout: 0.2 } },
  { name: 'GPT-2-small structure L12 NH12 (C192 T128 B2)', shape: { nLayer: 12, nHead: 12, nEmbd: 192, blockSize: 128, batchSize: 2 } },
];

interface HostRow {
  name: string;
  dtype: string;
  /** Median host time of one step (or one decoded token), ms; and the fastest (the least disturbed by other work on the machine). */
  ms: number;
  bestMs: number;
  samplesMs: number[];
  dispatches: number;
}

/** Median wall time of `run` (which ends with a sync) over `steps` runs after warm-up, and the dispatches of one. */
async function measure(run: () => Promise<unknown>, count: number): Promise<{ ms: number; bestMs: number; samplesMs: number[]; dispatches: number }> {
  for (let i = 0; i < WARMUP; i++) await run();
  const samplesMs: number[] = [];
  const before = device().stats.dispatches;
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await run();
    samplesMs.push(performance.now() - t);
  }
  return { ms: median(samplesMs), bestMs: Math.min(...samplesMs), samplesMs, dispatches: (device().stats.dispatches - before) / count };
}

await initDevice();
const t0 = performance.now();
const rows: HostRow[] = [];
const dtypes = device().info.features.includes('shader-f16') ? (['float32', 'float16'] as const) : (['float32'] as const);
for (const { name, shape } of TRAIN) {
  for (const dtype of dtypes) {
    const cfg: TrainConfig = { ...TRAIN_DEFAULTS, ...shape, warmupIters: 0, dtype };
    const rng = new Generator(3);
    const ids = Int32Array.from({ length: 4 * cfg.blockSize * cfg.batchSize + 1000 }, () => rng.nextInt(V));
    const trainer = new Trainer(cfg, { train: ids.slice(0, -1000), val: ids.slice(-1000), vocabSize: V });
    // a step as `gpt train` runs it between logs: no readback, then the wait for the GPU
    const m = await measure(async () => {
      await trainer.trainStep(false);
      await device().sync();
    }, steps);
    rows.push({ name: `train step, ${name}`, dtype, ...m });
    console.log(`${rows.at(-1)!.name} ${dtype}: ${m.ms.toFixed(2)} ms (best ${m.bestMs.toFixed(2)}), ${m.dispatches} dispatches`);
    trainer.dispose();
    trainer.model.dispose();
  }
}
{
  const model = new GPT({ vocabSize: V, nLayer: 6, nHead: 6, nEmbd: 384, blockSize: 256, dropout: 0, bias: true });
  model.eval();
  const TOKENS = 32;
  const decode = async () => {
    for await (const _ of generate(model, [0], { maxNewTokens: TOKENS, temperature: 1, seed: 7, kvCache: true }));
  };
  const m = await measure(decode, Math.max(3, Math.round(steps / 6)));
  const perToken = (ms: number) => ms / TOKENS;
  rows.push({ name: 'decode one token (KV cache), L6 NH6 C384 T256, batch 1', dtype: 'float32', ms: perToken(m.ms), bestMs: perToken(m.bestMs), samplesMs: m.samplesMs.map(perToken), dispatches: m.dispatches / TOKENS });
  console.log(`${rows.at(-1)!.name}: ${rows.at(-1)!.ms.toFixed(3)} ms (best ${rows.at(-1)!.bestMs.toFixed(3)})`);
  model.dispose();
}

console.log(`\nhost side on Dawn's null backend; ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}\n`);
console.log('| workload | dtype | ms (median) | ms (best) | dispatches | µs a dispatch (median) |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.name} | ${r.dtype} | ${r.ms.toFixed(2)} | ${r.bestMs.toFixed(2)} | ${r.dispatches.toFixed(0)} | ${((1000 * r.ms) / r.dispatches).toFixed(1)} |`);
}
const out = 'bench/results'; // run from the repository root, like bench/run.ts
mkdirSync(out, { recursive: true });
const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', node: process.version };
writeFileSync(join(out, 'host-step.json'), JSON.stringify({ when: new Date().toISOString(), commit: engineCommit(), machine, steps, rows, wallSeconds: (performance.now() - t0) / 1000 }, null, 2) + '\n');
