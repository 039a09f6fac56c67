// Dynamic loss scaling's bookkeeping after a backward, on the GPU (one lane), so a mixed-precision
// step needs no readback: from the global norm of the scaled gradients (norm, 0-d, from gradNorm),
//   not finite:  skip this step (control = [0, 1, skipped + 1, 0]), scale *= backoff
//   finite:      control = [clip / scale, 0, skipped, clean + 1], norm /= scale, where
//                clip = min(1, max_norm / (norm + 1e-6)) of the unscaled norm (exactly 1 without
//                clipping, dividing only where it clips: as clip_scale in grad-norm.ts);
//                after `interval` clean steps in a row, scale *= growth and the count restarts.
// The scale stays within [MIN_SCALE, MAX_SCALE], so it can neither vanish nor overflow float32.
// A skip while the scale already is MIN_SCALE means the gradients overflow at the smallest scale
// there is, so every later step would be skipped too: the `watched` variant then marks `status`
// (i32 [2], the non-finite watch's layout, src/kernels/wgsl/finite.ts) with the bits `flag` and
// the step, which the training loop reads with its other checks (no readback of its own).
// control is what AdamW reads as its gradient scale (src/kernels/wgsl/adamw.ts). Non-finite is
// tested by the bit pattern (WGSL may assume finite floats).
import { Kernel, variants } from '../kernel.js';
import { MARK_FN, NON_FINITE_FN } from './finite.js';
import { CLIP_EPS } from './grad-norm.js';

export const MIN_SCALE = 2 ** -24;
export const MAX_SCALE = 2 ** 24;

const scalerKernel = variants((watched: boolean) => new Kernel({
  name: `grad_scaler_update${watched ? '-watched' : ''}`,
  write: { norm: 'f32', scale: 'f32', control: 'f32', ...(watched && { status: 'i32' as const }) },
  params: { max_norm: 'f32', clip: 'u32', growth: 'f32', backoff: 'f32', interval: 'f32', ...(watched && { flag: 'i32' as const, step: 'i32' as const }) },
  body: /* wgsl */ `
${NON_FINITE_FN}
${watched ? MARK_FN : ''}
@compute @workgroup_size(1)
fn main() {
  let s = scale[0];
  if (non_finite(norm[0])) {
    control[0] = 0.0;
    control[1] = 1.0;
    control[2] += 1.0;
    control[3] = 0.0;
    scale[0] = max(s * p.backoff, ${MIN_SCALE});
${watched ? `    if (s <= ${MIN_SCALE}) { mark(p.flag, p.step); }` : ''}
    return;
  }
  let nrm = norm[0] / s;
  let d = nrm + ${CLIP_EPS};
  let clip = select(1.0, p.max_norm / d, p.clip != 0u && d > p.max_norm);
  norm[0] = nrm;
  control[0] = clip / s;
  control[1] = 0.0;
  let clean = control[3] + 1.0;
  let grow = clean >= p.interval;
  control[3] = select(clean, 0.0, grow);
  scale[0] = select(s, min(s * p.growth, ${MAX_SCALE}.0), grow);
}`,
}));

export interface ScalerSettings {
  /** Clip the unscaled gradients to this global norm; null: no clipping. */
  maxNorm: number | null;
  growthFactor: number;
  backoffFactor: number;
  growthInterval: number;
}

/** Where a step skipped at MIN_SCALE is recorded: the bits `flag` of status[0], and `step` in status[1] if it is the first mark. */
export interface FloorMark {
  flag: number;
  step: number;
}

/**
 * One update of scale (0-d) and control ([4]) from norm (0-d, rewritten unscaled when finite);
 * with `status`, a step skipped at MIN_SCALE marks it as `mark` says.
 */
export function launchGradScalerUpdate(norm: GPUBuffer, scale: GPUBuffer, control: GPUBuffer, s: ScalerSettings, status: GPUBuffer | null = null, mark: FloorMark = { flag: 0, step: 0 }): void {
  const settings = { max_norm: s.maxNorm ?? 0, clip: s.maxNorm === null ? 0 : 1, growth: s.growthFactor, backoff: s.backoffFactor, interval: s.growthInterval };
  if (status) scalerKernel(true).launch([norm, scale, control, status], { ...settings, ...mark }, [1, 1, 1]);
  else scalerKernel(false).launch([norm, scale, control], settings, [1, 1, 1]);
}
