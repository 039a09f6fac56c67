// What the peers' GPT implementations share with bench/suites/train-step.ts: the weights (taken
// from our model, GPT-2 names and PyTorch layouts: Linear weight [out, in]), the optimizer
// settings, and the step interface.
import type { GPTConfig } from '../../src/gpt/model.js';

export interface Weights {
  /** In our model's parameter order. */
  names: string[];
  shapes: Map<string, number[]>;
  data: Map<string, Float32Array>;
}

export interface StepHyper {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  gradClip: number;
}

export interface StepResult {
  loss: number;
  gradNorm: number;
}

/**
 * One training step, as Trainer.trainStep does it: the mean cross-entropy of the batch and its
 * gradient, global-norm clipping (scale = clip / max(norm + 1e-6, clip)), then AdamW with
 * decoupled weight decay on parameters of rank >= 2 only. `loss` and `gradNorm` are read back.
 */
export interface PeerTrainer {
  step(x: Int32Array, y: Int32Array, lr: number): Promise<StepResult>;
  dispose(): void;
}

export type PeerFactory = (cfg: GPTConfig, batchSize: number, w: Weights, h: StepHyper) => PeerTrainer | Promise<PeerTrainer>;

export const LN_EPS = 1e-5;
