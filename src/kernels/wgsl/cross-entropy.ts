// Fused softmax cross-entropy. Layout: logits rows x V row-major, targets i32 [rows].
//   forward (a row per workgroup or per lane, see row.ts): lse = max + log(sum(exp(x - max))),
//     loss[row] = lse - x[target], computed as (max - x[target]) + log(sum) so that lse is never
//     rounded to the precision of max; valid[row] = 1 (both 0 where target == ignore_index);
//     lse is kept for the backward.
//   backward (laid out alike): dx = scale * (exp(x - lse) - onehot(target)), 0 on ignored
//     rows; scale (a 0-d buffer) = upstream gradient / number of valid rows.
// Targets outside [0, V) that were not checked on the host are clamped, never read out of bounds,
// and the forward reports them as a fault (an error at the next read).
// f16 logits are read widened to f32: max, sum, lse and the loss rows are f32 (the loss stays
// float32), and dx is rounded to f16 once. Logits larger than a binding go a chunk of rows at a
// time (row.ts launchRowChunks): `shift` elements before the chunk's first logit in its window,
// `row_shift` before its first row in the per-row buffers'.
// Called by src/ops/cross-entropy.ts and linear-cross-entropy.ts.
import { defineFault } from '../../device/faults.js';
import { floatSuffix, Kernel, narrow, variants, type FloatType } from '../kernel.js';
import { blockedSum, launchRowChunks, rowKernel, rowMain, rowMax } from './row.js';

const TARGET_OUT_OF_RANGE = defineFault('crossEntropy: a target computed on the GPU was outside [0, V) and not ignore_index (it was clamped)');

// select() evaluates both arms, so rows past the end (grid rounding) read row 0, not out of bounds.
// Shared with the distillation loss (distill-loss.ts), whose rows take targets the same way; `r`
// is the row in the per-row buffers.
export const TARGET = `let r = row + p.row_shift;
  let t_raw = select(p.ignore_index, targets[select(0u, r, live)], live);
  let ignored = t_raw == p.ignore_index;
  let t = u32(clamp(t_raw, 0, i32(p.V) - 1));`;

const forwardK = variants((float: FloatType) => rowKernel((lanes) => new Kernel({
  name: `cross_entropy${floatSuffix(float)}`,
  read: { x: float, targets: 'i32' },
  write: { loss: 'f32', valid: 'f32', lse: 'f32' },
  params: { rows: 'u32', V: 'u32', ignore_index: 'i32', shift: 'u32', row_shift: 'u32' },
  faults: true,
  body: rowMain(lanes, 'p.V', /* wgsl */ `
  ${rowMax('m', 'f32(x[base + j])')}
  var s = 0.0;
  ${blockedSum('s', 'exp(f32(x[base + j]) - m)')}
  let ls = log(wg_sum(s, lane));
  let l = m + ls;
  ${TARGET}
  if (live && lane == 0u) {
    if (!ignored && (t_raw < 0 || t_raw >= i32(p.V))) { raise_fault(${TARGET_OUT_OF_RANGE}u); }
    lse[r] = l;
    loss[r] = select((m - f32(x[base + t])) + ls, 0.0, ignored); // not l - x[t]: exact when x[t] is near m
    valid[r] = select(1.0, 0.0, ignored);
  }`, 'p.shift'),
})));

const backwardK = variants((float: FloatType) => rowKernel((lanes) => new Kernel({
  name: `cross_entropy_backward${floatSuffix(float)}`,
  read: { x: float, targets: 'i32', lse: 'f32', scale: 'f32' },
  write: { dx: float },
  params: { rows: 'u32', V: 'u32', ignore_index: 'i32', shift: 'u32', row_shift: 'u32' },
  body: rowMain(lanes, 'p.V', /* wgsl */ `
  if (!live) { return; }
  ${TARGET}
  let l = lse[r];
  let k = scale[0];
  for (var j = lane; j < n; j += ROW_LANES) {
    // ignored rows get an exact 0 (not 0 * (...), which is -0, or NaN for non-finite logits)
    dx[base + j] = ${narrow(float, 'select(k * (exp(f32(x[base + j]) - l) - select(0.0, 1.0, j == t)), 0.0, ignored)')};
  }`, 'p.shift'),
})));

export function launchCrossEntropy(
  b: { x: GPUBuffer; targets: GPUBuffer; loss: GPUBuffer; valid: GPUBuffer; lse: GPUBuffer },
  rows: number,
  V: number,
  ignoreIndex: number,
  float: FloatType = 'f32',
): void {
  const buffers = [[b.x, 'rows'], [b.targets, 'row'], [b.loss, 'row'], [b.valid, 'row'], [b.lse, 'row']] as const;
  launchRowChunks('crossEntropy', forwardK(float), buffers, V, { rows, V, ignore_index: ignoreIndex }, float);
}

export function launchCrossEntropyBackward(
  b: { x: GPUBuffer; targets: GPUBuffer; lse: GPUBuffer; scale: GPUBuffer; dx: GPUBuffer },
  rows: number,
  V: number,
  ignoreIndex: number,
  float: FloatType = 'f32',
): void {
  const buffers = [[b.x, 'rows'], [b.targets, 'row'], [b.lse, 'row'], [b.scale, 'whole'], [b.dx, 'rows']] as const;
  launchRowChunks('crossEntropy', backwardK(float), buffers, V, { rows, V, ignore_index: ignoreIndex }, float);
}
