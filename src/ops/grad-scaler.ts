// gradScalerUpdate: dynamic loss scaling's step decision after a backward, on the GPU (math in
// src/kernels/wgsl/grad-scaler.ts): skip the step when the scaled gradients overflowed, else
// unscale and clip them through the multiplier AdamW applies, and grow or shrink the loss scale;
// a skip at the smallest scale (the run cannot make progress) marks a divergence watch's status.
import { NOT_DIFFERENTIABLE, optional } from '../autograd/op.js';
import { ADAMW_CONTROL } from '../kernels/wgsl/adamw.js';
import { F32_MAX } from '../kernels/kernel.js';
import { launchGradScalerUpdate, MAX_SCALE, MIN_SCALE, type FloorMark, type ScalerSettings } from '../kernels/wgsl/grad-scaler.js';
import { assertShape } from '../tensor/check.js';
import type { Tensor } from '../tensor/tensor.js';
import { defineUpdate } from './update.js';

export type { FloorMark, ScalerSettings } from '../kernels/wgsl/grad-scaler.js';
export { MAX_SCALE, MIN_SCALE } from '../kernels/wgsl/grad-scaler.js';

const F32 = ['float32'] as const;

/** A range rule: the setting's name, its value, whether it is in range, and what is allowed. */
export type SettingRule = [name: string, value: unknown, ok: boolean, allowed: string];

/** The rules of the scaler's growth and backoff settings (the update op and GradScaler's constructor check them). */
export function scalerFactorRules(s: Pick<ScalerSettings, 'growthFactor' | 'backoffFactor' | 'growthInterval'>): SettingRule[] {
  return [
    // a float32 uniform of the kernel: past float32's range it would be Infinity
    ['growthFactor', s.growthFactor, Number.isFinite(Math.fround(s.growthFactor)) && s.growthFactor >= 1, "a finite number >= 1 within float32's range (< 3.4e38)"],
    ['backoffFactor', s.backoffFactor, typeof s.backoffFactor === 'number' && s.backoffFactor > 0 && s.backoffFactor < 1, 'a number in (0, 1)'],
    ['growthInterval', s.growthInterval, Number.isInteger(s.growthInterval) && s.growthInterval >= 1 && s.growthInterval <= 2 ** 24, 'an integer in [1, 2^24]'],
  ];
}

/** The rules of a scaler's state (GradScaler.load's argument, a checkpoint's trainer.scaler): what the GPU counters can hold. */
export function scalerStateRules(s: Partial<Record<'scale' | 'cleanSteps' | 'skippedSteps', unknown>>): SettingRule[] {
  // the counts are float32 on the GPU (the control AdamW reads), whole numbers exact up to 2^24
  const count = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 2 ** 24;
  return [
    ['scale', s.scale, typeof s.scale === 'number' && s.scale >= MIN_SCALE && s.scale <= MAX_SCALE, 'a number in [2^-24, 2^24]'],
    ['cleanSteps', s.cleanSteps, count(s.cleanSteps), 'an integer in [0, 2^24]'],
    ['skippedSteps', s.skippedSteps, count(s.skippedSteps), 'an integer in [0, 2^24]'],
  ];
}

/**
 * norm (0-d): the global norm of the scaled gradients, rewritten unscaled; scale (0-d): the loss
 * scale; control (float32 [4]): what adamw reads as gradScale (multiplier, skip flag, steps
 * skipped so far, clean steps since the scale last changed). status (int32 [2], watchNonFinite's
 * layout) or null: a step skipped while the scale is MIN_SCALE sets the bits `mark.flag` of
 * status[0], and status[1] = mark.step if no bit was set before.
 */
export const gradScalerUpdate = defineUpdate({
  name: 'gradScalerUpdate',
  dtypes: { norm: F32, scale: F32, control: F32, status: optional(['int32']), settings: null },
  run(norm: Tensor, scale: Tensor, control: Tensor, status: Tensor | null, settings: ScalerSettings, mark?: FloorMark) {
    launchGradScalerUpdate(norm.buffer(), scale.buffer(), control.buffer(), settings, status?.buffer() ?? null, mark);
    return [norm, scale, control, ...(status ? [status] : [])];
  },
  check([norm, scale, control, status, s, mark]) {
    assertShape('gradScalerUpdate', norm, [], 'norm');
    assertShape('gradScalerUpdate', scale, [], 'scale');
    assertShape('gradScalerUpdate', control, [ADAMW_CONTROL], 'control');
    if (status) assertShape('gradScalerUpdate', status, [2], 'status');
    const bad: SettingRule[] = [
      ['maxNorm', s.maxNorm, s.maxNorm === null || (s.maxNorm > 0 && s.maxNorm <= F32_MAX), 'a number in (0, 3.4e38] (float32), or null (no clipping)'],
      ...scalerFactorRules(s),
      ['mark', mark && JSON.stringify(mark), !status || (mark !== undefined && Number.isInteger(mark.flag) && mark.flag >= 1 && mark.flag < 2 ** 31 && Number.isInteger(mark.step) && mark.step >= 0 && mark.step < 2 ** 31),
        '{ flag, step } with integers in [1, 2^31) and [0, 2^31) where a status is given'],
    ];
    const [name, value, , allowed] = bad.find(([, , ok]) => !ok) ?? [];
    if (name) throw new RangeError(`gradScalerUpdate: ${name} must be ${allowed}, got ${value}`);
  },
  backward: NOT_DIFFERENTIABLE,
});
