// Trainer.trainStep against nanoGPT's train.py iteration: every micro-batch's loss divided by the
// accumulation count (3: 1/3 is inexact in binary) and backpropagated, the summed gradients clipped
// to grad_clip by their global norm, AdamW with nanoGPT's groups at get_lr's rate through warm-up,
// cosine and min_lr. The oracle is PyTorch in float64 on fixed batches
// (test/fixtures/torch/make_trainer_step_fixture.py, trainer-step.json): ours, in float32 from the
// same float32 weights, logs each step's loss and gradient norm within 1e-6 of torch's and ends
// within 1e-5 of its weights, relative to each tensor's largest (measured: 3.6e-7 and 1.7e-7).
// Without clipping the weights land 6e-3 away, with the lr 1% off 1.3e-3, with the loss not divided
// by the count the losses are 3 times torch's.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { GPT } from '../src/gpt/model.js';
import { TRAIN_DEFAULTS, Trainer } from '../src/gpt/trainer.js';
import { disposeTrainers, setupDevice } from './helpers.js';

beforeAll(setupDevice);

const torchRun: {
  config: { vocabSize: number; blockSize: number; nEmbd: number; nLayer: number; nHead: number; batchSize: number; gradAccum: number; learningRate: number; minLr: number; warmupIters: number; lrDecayIters: number; weightDecay: number; beta1: number; beta2: number; gradClip: number };
  weights: Record<string, number[]>;
  blocks: number[][];
  steps: { lr: number; loss: number; gradNorm: number }[];
  final: Record<string, number[]>;
} = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures/torch/trainer-step.json'), 'utf8'));

it("takes nanoGPT's iterations: micro-batches accumulated, gradients clipped, AdamW at get_lr's rate, as PyTorch in float64", async () => {
  const { vocabSize, ...settings } = torchRun.config;
  const cfg = { ...TRAIN_DEFAULTS, ...settings, dropout: 0, bias: false, dtype: 'float32' as const };
  const model = new GPT({ vocabSize, blockSize: cfg.blockSize, nLayer: cfg.nLayer, nHead: cfg.nHead, nEmbd: cfg.nEmbd, dropout: 0, bias: false });
  const shapes = new Map([...model.namedParameters()].map(([name, p]) => [name, [...p.shape]]));
  model.loadStateDict(new Map(Object.entries(torchRun.weights).map(([name, values]) => [name, { shape: shapes.get(name)!, data: Float32Array.from(values) }])));
  // torch's blocks in the order it used them, whatever position the trainer draws
  let drawn = 0;
  const blocks = {
    length: 1000,
    subarray: (begin: number, end: number) => {
      expect(end - begin).toBe(cfg.blockSize + 1);
      return Int32Array.from(torchRun.blocks[drawn++]!);
    },
  };
  const trainer = new Trainer(cfg, { train: blocks, val: blocks, vocabSize }, model);
  const relative = (ours: number, theirs: number) => Math.abs(ours - theirs) / Math.abs(theirs);
  for (const [i, want] of torchRun.steps.entries()) {
    expect(trainer.lr(), `step ${i}`).toBeCloseTo(want.lr, 15);
    const { loss, gradNorm } = await trainer.trainStep();
    expect(drawn, `step ${i}`).toBe((i + 1) * cfg.gradAccum * cfg.batchSize);
    expect(relative(loss, want.loss), `step ${i} loss ${loss} vs ${want.loss}`).toBeLessThan(1e-6);
    expect(relative(gradNorm, want.gradNorm), `step ${i} gradient norm ${gradNorm} vs ${want.gradNorm}`).toBeLessThan(1e-6);
  }
  for (const [name, p] of model.namedParameters()) {
    const ours = (await p.toArray()) as Float32Array;
    const want = torchRun.final[name]!;
    const scale = Math.max(...want.map(Math.abs));
    expect(Math.max(...want.map((w, i) => Math.abs(ours[i]! - w) / scale)), name).toBeLessThan(1e-5);
  }
  disposeTrainers(trainer);
});
