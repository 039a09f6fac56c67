// Fused softmax cross-entropy. Layout: logits rows x V row-major, targets i32 [rows].
//   forward (a row per workgroup or per lane, see row.ts): lse = max + log(sum(exp(x - max))),
//     loss[row] = lse - x[target], computed as (max - x[target]) + log(sum) so that lse is never
//     rounded to the precision of max; valid[row] = 1 (both 0 where target == ignore_index);
//     lse is kept for the backward.
//   backward (laid out alike): dx = scale * (exp(x - lse) - onehot(target)), 0 on ignored
//     rows; scale (a 0-d buffer) = upstream gradient / number of valid rows.
// Targets outside [0, V) that were not checked on the host are clamped, never read out of bounds,
// and the forward reports them as a fault (an error at the next read).
// Non-finite logits are told by their bits (row.ts, rowNonFiniteWgsl; WGSL may assume finite
// floats, and this loss is what the non-finite watch and, through its gradient, the loss scaler
// judge): a row holding a NaN or +Inf, or only -Inf, gets a NaN loss and lse (torch: NaN or +Inf)
// and NaN gradients (torch's are NaN at least at the +Inf); a -Inf logit weighs an exact 0
// (masking), and a -Inf target's loss is +Inf with the gradient softmax - onehot, as torch's.
// f16 logits are read widened to f32: max, sum, lse and the loss rows are f32 (the loss stays
// float32), and dx is rounded to f16 once. Logits larger than a binding go a chunk of rows at a
// time (row.ts launchRowChunks): `shift` elements before the chunk's first logit in its window,
// `row_shift` before its first row in the per-row buffers'.
// Called by src/ops/cross-entropy.ts and linear-cross-entropy.ts.
import { defineFault } from '../../device/faults.js';
import { floatSuffix, Kernel, narrow, variants, type FloatType } from '../kernel.js';
import { blockedSum, launchRowChunks, rowKernel, rowMain, rowMaxFinite, rowNonFiniteWgsl } from './row.js';

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
  body: rowNonFiniteWgsl(float) + rowMain(lanes, 'p.V', /* wgsl */ `
  ${rowMaxFinite('m', 'bad', 'f32(x[base + j])')}
  var s = 0.0;
  ${blockedSum('s', 'weight(f32(x[base + j]), m)')}
  s = wg_sum(s, lane);
  let nan = bad || s == 0.0; // s >= 1 where a logit is finite (the max adds exp(0))
  let ls = log(select(s, 1.0, nan));
  ${TARGET}
  if (live && lane == 0u) {
    if (!ignored && (t_raw < 0 || t_raw >= i32(p.V))) { raise_fault(${TARGET_OUT_OF_RANGE}u); }
    let xt = f32(x[base + t]);
    lse[r] = select(m + ls, nan_from(m), nan);
    // not lse - x[t]: exact when x[t] is near m; a -Inf target's loss is |x[t]| = +Inf, by the bits
    let l = select(select((m - finite_or(xt, m)) + ls, bitcast<f32>(bitcast<u32>(xt) & 0x7fffffffu), neg_inf(xt)), nan_from(m), nan);
    loss[r] = select(l, 0.0, ignored);
    valid[r] = select(1.0, 0.0, ignored);
  }`, 'p.shift'),
})));

const backwardK = variants((float: FloatType) => rowKernel((lanes) => new Kernel({
  name: `cross_entropy_backward${floatSuffix(float)}`,
  read: { x: float, targets: 'i32', lse: 'f32', scale: 'f32' },
  write: { dx: float },
  params: { rows: 'u32', V: 'u32', ignore_index: 'i32', shift: 'u32', row_shift: 'u32' },
  body: rowNonFiniteWgsl(float) + rowMain(lanes, 'p.V', /* wgsl */ `
  if (!live) { return; }
  ${TARGET}
  let l = lse[r];
  let nan = not_finite(l); // the forward's NaN for a row holding a NaN or +Inf
  let k = scale[0];
  for (var j = lane; j < n; j += ROW_LANES) {
    // ignored rows get an exact 0 (not 0 * (...), which is -0, or NaN for non-finite logits)
    let g = ${narrow(float, 'k * (weight(f32(x[base + j]), finite_or(l, 0.0)) - select(0.0, 1.0, j == t))')};
    dx[base + j] = select(select(g, nan_out(l), nan), ${narrow(float, '0.0')}, ignored);
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
