// nanoGPT's learning-rate schedule: linear warmup, cosine decay to minLr at lrDecayIters, then flat.
// Its keys are nanoGPT's (warmup_iters, lr_decay_iters), as the Trainer config's.
import { checkInteger, checkNumber, checkOptionKeys, describeValue } from '../tensor/check.js';

/** The schedule: peak lr after warmupIters, decaying to minLr at lrDecayIters. */
export interface CosineSchedule {
  lr: number;
  minLr: number;
  warmupIters: number;
  lrDecayIters: number;
}

/** learningRate's keys until it took nanoGPT's: the schedule and the Trainer refuse them naming the key to use. */
export const ITERS_RENAMED: Readonly<Record<string, string>> = { warmupSteps: 'warmupIters', decaySteps: 'lrDecayIters' };

const STEPS = 'an integer >= 0';

/**
 * The learning rate at `step` (0-based): linear warmup, cosine decay to minLr, then flat. An
 * lrDecayIters at or before warmupIters goes from the warmup's peak straight to minLr (nanoGPT's order of tests).
 */
export function learningRate(step: number, s: CosineSchedule): number {
  // a negative step or a missing field would hand the optimizer a negative or NaN rate
  checkInteger('learningRate', 'step', step, 0, Number.MAX_SAFE_INTEGER, STEPS);
  if (s === null || typeof s !== 'object') throw new TypeError(`learningRate: argument 'schedule' must be { lr, minLr, warmupIters, lrDecayIters }, got ${describeValue(s)}`);
  checkOptionKeys('learningRate', s, ['lr', 'minLr', 'warmupIters', 'lrDecayIters'], { ...ITERS_RENAMED, learningRate: 'lr' });
  for (const k of ['lr', 'minLr'] as const) {
    const v = checkNumber('learningRate', k, s[k], true);
    if (v < 0) throw new RangeError(`learningRate: argument '${k}' must be a finite number >= 0, got ${describeValue(v)}`);
  }
  // the cosine would then rise from lr to minLr; lr 0 with minLr 0 (no updates) stays allowed
  if (s.minLr > s.lr) throw new RangeError(`learningRate: argument 'minLr' (${s.minLr}) must not exceed 'lr' (${s.lr}): the schedule decays from lr to minLr`);
  for (const k of ['warmupIters', 'lrDecayIters'] as const) checkInteger('learningRate', k, s[k], 0, Number.MAX_SAFE_INTEGER, STEPS);
  if (step < s.warmupIters) return (s.lr * (step + 1)) / (s.warmupIters + 1);
  if (step > s.lrDecayIters) return s.minLr;
  const ratio = (step - s.warmupIters) / Math.max(1, s.lrDecayIters - s.warmupIters);
  const coeff = 0.5 * (1 + Math.cos(Math.PI * ratio)); // 1 -> 0
  return s.minLr + coeff * (s.lr - s.minLr);
}
