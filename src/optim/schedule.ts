// nanoGPT's learning-rate schedule: linear warmup, cosine decay to minLr at decaySteps, then flat.
/** The schedule: peak lr after warmupSteps, decaying to minLr at decaySteps. */
export interface CosineSchedule {
  lr: number;
  minLr: number;
  warmupSteps: number;
  decaySteps: number;
}

/** The learning rate at `step` (0-based): linear warmup, cosine decay to minLr, then flat. */
export function learningRate(step: number, s: CosineSchedule): number {
  if (step < s.warmupSteps) return (s.lr * (step + 1)) / (s.warmupSteps + 1);
  if (step > s.decaySteps) return s.minLr;
  const ratio = (step - s.warmupSteps) / Math.max(1, s.decaySteps - s.warmupSteps);
  const coeff = 0.5 * (1 + Math.cos(Math.PI * ratio)); // 1 -> 0
  return s.minLr + coeff * (s.lr - s.minLr);
}
