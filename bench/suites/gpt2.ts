// GPT-2 124M (12 layers, 12 heads, 768 wide, block 1024, vocabulary 50,257, biases, tanh GELU),
// ours only: a training step with its memory plan and measured peak GPU bytes (on GPUs, again with
// activation checkpointing: --recompute), and KV-cache
// generation tokens/s (prefill and decoding, as `gpt bench-generate`). Batch 8 on GPUs, batch 1 on CPU adapters, where it runs only when named
// (`--only gpt2`: minutes a step). The weights are random: speed and memory do not depend on them.
import { device } from '../../src/device/device.js';
import { timeGeneration } from '../../src/gpt/generate-timing.js';
import { describePlan } from '../../src/gpt/memory-plan.js';
import { GPT } from '../../src/gpt/model.js';
import { modelConfig, TRAIN_DEFAULTS, Trainer, type TrainConfig } from '../../src/gpt/trainer.js';
import { Generator } from '../../src/tensor/generator.js';
import { na, peersNa, time, type Context, type Row, type Unit } from '../harness.js';

const V = 50_257;
const PROMPT = 64;
const GENERATED = 32;
const UNCHECKED = 'not compared (ours only); a non-finite loss fails the step';

export async function gpt2Suite(ctx: Context, asked: boolean): Promise<Row[]> {
  const cpu = device().info.isFallbackAdapter;
  const row = (name: string, unit: Unit, ours: Row['cells']['ours'], work?: number): Row => ({
    family: 'gpt2', name, unit, work, cells: { ours, ...peersNa('ours only') },
  });
  const B = cpu ? 1 : 8;
  const label = `GPT-2 124M step B${B} T1024 V${V} fwd+bwd+clip+AdamW`;
  if (cpu && !asked) return [row(label, 'ms/step', na('CPU adapter: --only gpt2 runs it (minutes a step)'))];
  // float32, #16's measure (against PyTorch fp32): the default 'auto' is float16 where the adapter has tensor cores
  const cfg: TrainConfig = { ...TRAIN_DEFAULTS, nLayer: 12, nHead: 12, nEmbd: 768, blockSize: 1024, batchSize: B, bias: true, warmupIters: 0, dtype: 'float32' };
  const rng = new Generator(7);
  const ids = Int32Array.from({ length: 12 * 1024 * (B + 1) }, () => rng.nextInt(V)); // val (10%) holds more than one window
  const n = Math.floor(ids.length * 0.9);
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  /** A trainer of GPT-2 124M (`recompute`: activation checkpointing), its step timed and its peak GPU bytes against its plan. */
  const measureStep = async (recompute: boolean) => {
    // GPT-2's tanh GELU (a TrainConfig has no activation: the model is made here)
    const gpt2 = new GPT({ ...modelConfig(cfg, V), activation: 'gelu_tanh' }, { seed: cfg.seed });
    const trainer = new Trainer({ ...cfg, recompute }, { train: ids.slice(0, n), val: ids.slice(n), vocabSize: V }, gpt2);
    const plan = trainer.memoryPlan();
    ctx.log(`gpt2${recompute ? ' (recompute)' : ''}: ${(trainer.model.numParams() / 1e6).toFixed(1)}M parameters; ${describePlan(plan)}`);
    const timing = { ...ctx.timing, warmup: 1, targetMs: 0, maxIters: 1, samples: cpu || ctx.smoke ? 1 : Math.max(3, ctx.timing.samples) };
    device().resetPeakMemory();
    const t = await time({ iteration: () => trainer.trainStep(true), finish: async () => {} }, timing);
    const peak = device().memory().peakBytes;
    ctx.log(`  ours: ${(t.ms / 1000).toFixed(2)} s/step, peak ${mib(peak)} (plan ${mib(plan.bytes.total)})`);
    return { trainer, t, peak, plan };
  };
  const { trainer, t, peak, plan } = await measureStep(false);

  const model = trainer.model;
  // greedy, after an untimed run (its shader compiles); the decoding rows are a token per sequence a step
  const g = await timeGeneration(model, { batch: B, promptTokens: PROMPT, newTokens: GENERATED, repeats: 1 });
  ctx.log(`  generation, batch ${B}: prefill ${g.prefillTokensPerSec.toFixed(1)} tok/s, decode ${g.decodeTokensPerSec.toFixed(1)} tok/s (${g.decodeMsPerStep.toFixed(0)} ms a step)`);
  trainer.dispose();
  model.dispose();
  // activation checkpointing: the memory it saves and the forward it adds (GPUs only: on a CPU
  // adapter one step already takes minutes)
  const recomputeRows: Row[] = [];
  if (!cpu) {
    const r = await measureStep(true);
    r.trainer.dispose();
    r.trainer.model.dispose();
    recomputeRows.push(
      { ...row(`${label}, --recompute`, 'ms/step', { ms: r.t.ms, samplesMs: r.t.samplesMs, itersPerSample: 1 }, B * 1024), tolerance: UNCHECKED },
      row('GPT-2 124M --recompute peak GPU bytes of a step / memory plan', 'info', { text: `${mib(r.peak)} / ${mib(r.plan.bytes.total)} (${(r.peak / r.plan.bytes.total).toFixed(2)}x; ${(r.peak / peak).toFixed(2)}x the peak without)` }),
    );
  }
  const generation = (what: string, ms: number[], work: number): Row => ({
    ...row(`GPT-2 124M generation B${B}, KV cache: ${what}`, 'tok/s', { ms: ms[0]!, samplesMs: ms, itersPerSample: 1 }, work),
    tolerance: 'greedy; random weights',
  });
  return [
    { ...row(label, 'ms/step', { ms: t.ms, samplesMs: t.samplesMs, itersPerSample: 1 }, B * 1024), tolerance: UNCHECKED },
    row('GPT-2 124M peak GPU bytes of a step / memory plan', 'info', { text: `${mib(peak)} / ${mib(plan.bytes.total)} (${(peak / plan.bytes.total).toFixed(2)}x)` }),
    ...recomputeRows,
    generation(`prefill ${PROMPT}-token prompts`, g.prefillMs, B * PROMPT),
    generation(`decode ${GENERATED - 1} tokens each`, g.decodeMs, B * (GENERATED - 1)),
  ];
}
