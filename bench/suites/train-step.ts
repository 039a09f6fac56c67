// A full GPT training step (forward, backward, global-norm clipping, AdamW) at the nanoGPT
// Shakespeare-char CPU configuration (L=4, NH=4, C=128, T=64, B=12, V=65), in ms/step and tokens/s.
// Ours is Trainer.trainStep; TF.js and jax-js run the same model from the same initial weights
// (webgpu-torch cannot: n/a, with why).
//
// Check: CHECK_STEPS steps on the same batches with the same learning rates (lr 1e-3 from the
// first step, no warmup, so the updates are visible in the next losses); every library's loss and
// gradient norm must match ours at each step. Our engine also reports dispatches and submits per
// step and its live/peak GPU bytes (the peak since the process started; this suite runs first).
import { existsSync, readFileSync } from 'node:fs';
import { device } from '../../src/device/device.js';
import { CharTokenizer } from '../../src/gpt/tokenizer/index.js';
import { TRAIN_DEFAULTS, Trainer, type TrainConfig } from '../../src/gpt/trainer.js';
import { Generator } from '../../src/tensor/generator.js';
import { checkOutputs, failure, formatTol, na, peersNa, time, type Cell, type Context, type Row, type Tolerance } from '../harness.js';
import { torchCannot, type Libs } from '../peers.js';
import type { PeerFactory, PeerTrainer, StepHyper, Weights } from './gpt-peer.js';
import { jaxTrainer } from './gpt-jax.js';
import { tfjsTrainer } from './gpt-tfjs.js';

const CORPUS = '../shared/data/tinyshakespeare.txt'; // relative to the repository root
const CHECK_STEPS = 3;
const LOSS_TOL: Tolerance = { atol: 1e-4, rtol: 1e-4 };
const NORM_TOL: Tolerance = { atol: 1e-5, rtol: 1e-3 };

function corpus(): { ids: Int32Array; vocabSize: number; source: string } {
  if (existsSync(CORPUS)) {
    const text = readFileSync(CORPUS, 'utf8');
    const tok = CharTokenizer.train(text);
    return { ids: Int32Array.from(tok.encode(text)), vocabSize: tok.vocabSize, source: 'tinyshakespeare.txt' };
  }
  // no corpus: random tokens over the same vocabulary size (the timing does not depend on the text)
  const rng = new Generator(5);
  return { ids: Int32Array.from({ length: 200_000 }, () => rng.nextInt(65)), vocabSize: 65, source: 'random tokens' };
}

export interface TrainStepResult {
  rows: Row[];
  /** The trained model's trainer, reused by the generation benchmark. */
  trainer: Trainer;
  details: Record<string, unknown>;
}

export async function trainStepSuite(libs: Libs, ctx: Context): Promise<TrainStepResult> {
  const data = corpus();
  const n = Math.floor(data.ids.length * 0.9);
  // float32 as the peers: the default dtype 'auto' is float16 where the adapter has tensor cores
  const cfg: TrainConfig = { ...TRAIN_DEFAULTS, warmupIters: 0, dtype: 'float32' };
  const { batchSize: B, blockSize: T } = cfg;
  const trainer = new Trainer(cfg, { train: data.ids.slice(0, n), val: data.ids.slice(n), vocabSize: data.vocabSize });
  const model = trainer.model;
  const weights: Weights = { names: [], shapes: new Map(), data: new Map() };
  for (const [name, p] of model.namedParameters()) {
    weights.names.push(name);
    weights.shapes.set(name, [...p.shape]);
    weights.data.set(name, (await p.toArray()) as Float32Array);
  }
  const hyper: StepHyper = { beta1: cfg.beta1, beta2: cfg.beta2, eps: trainer.optimizer.eps, weightDecay: cfg.weightDecay, gradClip: cfg.gradClip };
  const name = `GPT L${cfg.nLayer} NH${cfg.nHead} C${cfg.nEmbd} T${T} B${B} V${data.vocabSize} fwd+bwd+clip+AdamW`;
  ctx.log(`train step: ${name} (${(model.numParams() / 1e6).toFixed(2)}M parameters, data: ${data.source})`);

  // ---- ours: the reference steps, then timing, counters and memory
  const steps: { x: Int32Array; y: Int32Array; lr: number; loss: number; gradNorm: number }[] = [];
  for (let s = 0; s < CHECK_STEPS; s++) {
    const state = await trainer.state();
    const { x, y } = trainer.batch('train'); // the batch trainStep is about to draw
    trainer.restore(state);
    const lr = trainer.lr();
    const r = await trainer.trainStep(true);
    steps.push({ x, y, lr, ...r });
    ctx.log(`  ours step ${s}: loss ${r.loss.toFixed(6)}, grad norm ${r.gradNorm.toFixed(6)}`);
  }
  const reference = [Float64Array.from(steps, (s) => s.loss), Float64Array.from(steps, (s) => s.gradNorm)];
  const trainTiming = { ...ctx.timing, targetMs: 0, maxIters: 1, samples: ctx.smoke ? 1 : Math.max(ctx.timing.samples, 10) };
  let ours: Cell;
  const counters: Record<string, number> = {};
  try {
    const before = { ...device().stats };
    await trainer.trainStep(true);
    counters.dispatches = device().stats.dispatches - before.dispatches;
    counters.submits = device().stats.submits - before.submits;
    const t = await time({ iteration: () => trainer.trainStep(true), finish: async () => {} }, trainTiming);
    ours = { ms: t.ms, samplesMs: t.samplesMs, itersPerSample: 1 }; // the reference the peers are checked against
    const mem = device().memory();
    counters.liveBytes = mem.liveBytes;
    counters.peakBytes = mem.peakBytes;
    ctx.log(`  ours: ${t.ms.toFixed(1)} ms/step, ${counters.dispatches} dispatches, ${counters.submits} submits per step`);
  } catch (e) {
    ours = { error: (e as Error).message.split('\n')[0]! };
  }

  // ---- peers: same weights, same batches and learning rates; then timing on fresh batches
  const timingBatches = Array.from({ length: 8 }, (_, i) => trainer.batch('train', new Generator(100 + i)));
  const peer = async (label: string, factory: PeerFactory | null, missing: string | undefined): Promise<Cell> => {
    if (!factory) return na(missing!);
    let tr: PeerTrainer | undefined;
    try {
      tr = await factory(model.config, B, weights, hyper);
      const got: number[][] = [[], []];
      for (const [s, st] of steps.entries()) {
        const r = await tr.step(st.x, st.y, st.lr);
        got[0]!.push(r.loss);
        got[1]!.push(r.gradNorm);
        ctx.log(`  ${label} step ${s}: loss ${r.loss.toFixed(6)}, grad norm ${r.gradNorm.toFixed(6)}`);
      }
      const lossCheck = checkOutputs([got[0]!], [reference[0]!], LOSS_TOL, ['loss']);
      const normCheck = checkOutputs([got[1]!], [reference[1]!], NORM_TOL, ['grad norm']);
      for (const c of [lossCheck, normCheck]) {
        if (!c.ok) {
          ctx.log(`  ${label}: MISMATCH ${c.message}`);
          return { error: `mismatch vs ours: ${c.message}`, maxAbsErr: c.maxAbsErr };
        }
      }
      let i = 0;
      const t = await time(
        {
          iteration: () => {
            const b = timingBatches[i++ % timingBatches.length]!;
            return tr!.step(b.x, b.y, cfg.learningRate);
          },
          finish: async () => {},
        },
        trainTiming,
      );
      ctx.log(`  ${label}: ${t.ms.toFixed(1)} ms/step (loss max |Δ| ${lossCheck.maxAbsErr.toExponential(2)})`);
      return { ms: t.ms, samplesMs: t.samplesMs, itersPerSample: 1, maxAbsErr: lossCheck.maxAbsErr };
    } catch (e) {
      const msg = failure(e);
      ctx.log(`  ${label}: ERROR ${msg}`);
      return { error: msg };
    } finally {
      tr?.dispose();
    }
  };
  const tfjs = await peer('tfjs', libs.tf ? (c, b, w, h) => tfjsTrainer(libs.tf!, c, b, w, h) : null, libs.errors.tfjs);
  const jax = await peer('jax', libs.jax ? (c, b, w, h) => jaxTrainer(libs.jax!, c, b, w, h) : null, libs.errors.jax);

  const oursOnly = 'an engine-internal counter (ours only)';
  const info = (label: string, text: string | undefined): Row => ({
    family: 'train step',
    name: label,
    unit: 'info',
    cells: { ours: text === undefined ? { error: 'not measured' } : { text }, ...peersNa(oursOnly) },
  });
  const mib = (b: number | undefined) => (b === undefined ? undefined : `${(b / 2 ** 20).toFixed(1)} MiB`);
  const rows: Row[] = [
    {
      family: 'train step',
      name,
      unit: 'ms/step',
      work: B * T,
      tolerance: `loss ${formatTol(LOSS_TOL)} and grad norm ${formatTol(NORM_TOL)} vs ours over ${CHECK_STEPS} steps`,
      // webgpu-torch 0.3.5: mm throws 'mm gradient not supported yet'; nn.Linear and nn.GroupNorm have no forward
      cells: { ours, tfjs, jax, webgpuTorch: torchCannot(libs, 'no mm gradient, layer norm, softmax, embedding, cross-entropy or optimizer') },
    },
    info('dispatches per step', counters.dispatches?.toString()),
    info('submits per step', counters.submits?.toString()),
    info('live GPU bytes after a step', mib(counters.liveBytes)),
    info('peak GPU bytes (process)', mib(counters.peakBytes)),
  ];
  return { rows, trainer, details: { config: cfg, data: data.source, checkSteps: steps.map(({ lr, loss, gradNorm }) => ({ lr, loss, gradNorm })), counters } };
}
