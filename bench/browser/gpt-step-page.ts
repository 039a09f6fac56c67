// The page of bench/browser-step.ts: opens WebGPU with navigator.gpu, builds a GPT of the asked
// size on random tokens and runs training steps, reporting the memory plan, each step's loss and
// time, and the measured peak. Any WebGPU validation or out-of-memory error surfaces as a rejected
// promise (the engine throws GPU errors at the next readback).
import { device, initDevice } from '../../src/index.js';
import { TRAIN_DEFAULTS, Trainer, type TrainConfig } from '../../src/gpt/index.js';
import { Generator } from '../../src/tensor/generator.js';

export interface StepRequest {
  cfg: Partial<TrainConfig>;
  vocabSize: number;
  steps: number;
}

export interface StepReport {
  adapter: string;
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number };
  params: number;
  planBytes: number;
  peakBytes: number;
  losses: number[];
  ms: number[];
}

async function gptSteps({ cfg: over, vocabSize, steps }: StepRequest): Promise<StepReport> {
  await initDevice();
  const { info } = device();
  const cfg: TrainConfig = { ...TRAIN_DEFAULTS, warmupIters: 0, ...over };
  const rng = new Generator(7);
  const ids = Int32Array.from({ length: 12 * cfg.blockSize * (cfg.batchSize + 1) }, () => rng.nextInt(vocabSize));
  const n = Math.floor(ids.length * 0.9);
  const trainer = new Trainer(cfg, { train: ids.slice(0, n), val: ids.slice(n), vocabSize });
  const report: StepReport = {
    adapter: [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unnamed adapter',
    limits: { maxBufferSize: info.limits.maxBufferSize!, maxStorageBufferBindingSize: info.limits.maxStorageBufferBindingSize! },
    params: trainer.model.numParams(),
    planBytes: trainer.memoryPlan().bytes.total,
    peakBytes: 0,
    losses: [],
    ms: [],
  };
  device().resetPeakMemory();
  try {
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      report.losses.push((await trainer.trainStep(true)).loss);
      report.ms.push(performance.now() - t0);
    }
    await device().sync();
    report.peakBytes = device().memory().peakBytes;
  } finally {
    trainer.dispose();
    trainer.model.dispose();
  }
  return report;
}

(globalThis as unknown as { gptSteps: typeof gptSteps }).gptSteps = gptSteps;
