// Fused distillation loss (Hinton et al. 2015): per row, with s the student's logits, t the
// teacher's, T the temperature, p = softmax(t / T), q = softmax(s / T):
//   loss[row] = alpha T² KL(p || q) + ce_weight * (logsumexp(s) - s[target])
// (ce_weight = 1 - alpha; the row's loss is 0 where its target is ignore_index).
// Layout: s and t rows x V row-major, targets i32 [rows]; a row per workgroup or per lane (row.ts).
//   forward: one pass for the maxima ms, mt, one for the sums (in blocks: blockedSums)
//     zs = sum exp(s - ms), zsT = sum exp((s - ms) / T), ztT = sum exp((t - mt) / T),
//     w = sum exp((t - mt) / T) ((t - mt) - (s - ms)), so that
//     KL = sum p (log p - log q) = (w / ztT) / T - log ztT + log zsT
//     (the differences taken from each row's max: where teacher and student peak at the same
//     entry its term is exactly 0, instead of a difference of two large numbers), weighted as
//     alpha T² KL = alpha T (w / ztT) + alpha T² (log zsT - log ztT): 1 / T is never multiplied
//     back in, and it is capped at F32_MAX / 4 (a driver may fold exp's log2(e) into the product),
//     so a temperature whose inverse overflows float32 (T < 3e-39) gives the T -> 0 limit, not NaN;
//     stats[row] = (ms, log zs, log zsT, mt, log ztT) are kept for the backward.
//   backward: ds = scale * (kl_grad (q - p) + ce_weight (softmax(s) - onehot(target))), 0 on ignored
//     rows; kl_grad = alpha T (d/ds of T² KL is T (q - p)); scale (0-d) = upstream gradient / valid rows.
// Non-finite logits are told by their bits (row.ts; WGSL may assume finite floats): a row where
// the student or the teacher holds a NaN or +-Inf gets a NaN loss and NaN gradients (no -Inf
// masking here: the teacher's 0 * -Inf is NaN in the sums, as it was), and no sum sees a non-finite
// value. A term's exponent (x - max) / T is floored at -EXP_FLOOR / T before the product (`span`):
// at small T the product overflowed to -Inf (and exp(-Inf) = 0 is IEEE's, not WGSL's), and below
// -EXP_FLOOR exp is 0 in float32 anyway, so nothing finite changes.
// The teacher gets no gradient. Targets outside [0, V) are clamped and reported, and logits larger
// than a binding go a chunk of rows at a time (`shift`, `row_shift`, `stats_shift`: where each
// buffer's window starts, row.ts launchRowChunks), as in cross-entropy.ts. f16 logits (student and
// teacher alike) are read widened to f32: the statistics, sums and loss rows are f32, and ds is
// rounded to f16 once. Called by src/ops/distill-loss.ts.
import { defineFault } from '../../device/faults.js';
import { floatSuffix, F32_MAX, Kernel, narrow, variants, type FloatType } from '../kernel.js';
import { TARGET } from './cross-entropy.js';
import { blockedSums, launchRowChunks, rowKernel, rowMain, rowMaxFinite, rowNonFiniteWgsl } from './row.js';

/** Where exp's argument is floored: exp(-110) is 0 in float32 (below half its least subnormal). */
const EXP_FLOOR = 110;

/** WGSL: scaled(d) = d / T for d = x - max <= 0, floored at -EXP_FLOOR (p.span = EXP_FLOOR T, finite where d / T would overflow). */
const SCALED = /* wgsl */ `
fn scaled(d: f32) -> f32 { return max(d, -p.span) * p.inv_t; }`;

const TARGET_OUT_OF_RANGE = defineFault('distillLoss: a target computed on the GPU was outside [0, V) and not ignore_index (it was clamped)');
/** Per-row statistics the forward keeps for the backward. */
export const DISTILL_STATS = 5;


const forwardK = variants((float: FloatType) => rowKernel((lanes) => new Kernel({
  name: `distill_loss${floatSuffix(float)}`,
  read: { x: float, teacher: float, targets: 'i32' },
  write: { loss: 'f32', valid: 'f32', stats: 'f32' },
  params: { rows: 'u32', V: 'u32', ignore_index: 'i32', inv_t: 'f32', span: 'f32', kl_t: 'f32', kl_t2: 'f32', ce_weight: 'f32', shift: 'u32', row_shift: 'u32', stats_shift: 'u32' },
  faults: true,
  body: rowNonFiniteWgsl(float) + SCALED + rowMain(lanes, 'p.V', /* wgsl */ `
  ${rowMaxFinite('ms', 'bad_s', 'f32(x[base + j])', 'not_finite')}
  ${rowMaxFinite('mt', 'bad_t', 'f32(teacher[base + j])', 'not_finite')}
  let nan = bad_s || bad_t;
  var zs = 0.0;
  var zsT = 0.0;
  var ztT = 0.0;
  var w = 0.0;
  ${blockedSums(
    [['zs', 'exp(s - ms)'], ['zsT', 'exp(scaled(s - ms))'], ['ztT', 'e'], ['w', 'e * ((t - mt) - (s - ms))']],
    'let s = finite_or(f32(x[base + j]), ms); let t = finite_or(f32(teacher[base + j]), mt); let e = exp(scaled(t - mt)); ',
  )}
  let ls = log(wg_sum(zs, lane));
  let lsT = log(wg_sum(zsT, lane));
  let zt = wg_sum(ztT, lane);
  let ltT = log(zt);
  let cross = wg_sum(w, lane);
  ${TARGET}
  if (live && lane == 0u) {
    if (!ignored && (t_raw < 0 || t_raw >= i32(p.V))) { raise_fault(${TARGET_OUT_OF_RANGE}u); }
    let kl = p.kl_t * (cross / zt) + p.kl_t2 * (lsT - ltT); // alpha T² KL
    let ce = (ms - finite_or(f32(x[base + t]), ms)) + ls;
    loss[r] = select(select(kl + p.ce_weight * ce, nan_from(ms), nan), 0.0, ignored);
    valid[r] = select(1.0, 0.0, ignored);
    let at = p.stats_shift + row * ${DISTILL_STATS}u;
    stats[at] = select(ms, nan_from(ms), nan); // the backward's sign of a NaN row
    stats[at + 1u] = ls;
    stats[at + 2u] = lsT;
    stats[at + 3u] = mt;
    stats[at + 4u] = ltT;
  }`, 'p.shift'),
})));

const backwardK = variants((float: FloatType) => rowKernel((lanes) => new Kernel({
  name: `distill_loss_backward${floatSuffix(float)}`,
  read: { x: float, teacher: float, targets: 'i32', stats: 'f32', scale: 'f32' },
  write: { dx: float },
  params: { rows: 'u32', V: 'u32', ignore_index: 'i32', inv_t: 'f32', span: 'f32', kl_grad: 'f32', ce_weight: 'f32', shift: 'u32', row_shift: 'u32', stats_shift: 'u32' },
  body: rowNonFiniteWgsl(float) + SCALED + rowMain(lanes, 'p.V', /* wgsl */ `
  if (!live) { return; }
  ${TARGET}
  let at = p.stats_shift + row * ${DISTILL_STATS}u;
  let ms = stats[at];
  let ls = stats[at + 1u];
  let lsT = stats[at + 2u];
  let mt = stats[at + 3u];
  let ltT = stats[at + 4u];
  let k = scale[0];
  let nan = not_finite(ms);
  for (var j = lane; j < n; j += ROW_LANES) {
    let s = finite_or(f32(x[base + j]), ms);
    let q = exp(scaled(s - ms) - lsT);
    let pt = exp(scaled(finite_or(f32(teacher[base + j]), mt) - mt) - ltT);
    let soft = exp((s - ms) - ls) - select(0.0, 1.0, j == t);
    // ignored rows get an exact 0 (as in cross-entropy.ts)
    let g = ${narrow(float, 'k * (p.kl_grad * (q - pt) + p.ce_weight * soft)')};
    dx[base + j] = select(select(g, nan_out(ms), nan), ${narrow(float, '0.0')}, ignored);
  }`, 'p.shift'),
})));

/** The loss weights and temperature as the kernels take them (see the header). */
export interface DistillWeights {
  rows: number;
  V: number;
  ignoreIndex: number;
  temperature: number;
  alpha: number;
}

/** 1 / T as the kernels take it: capped, so that it and its product with log2(e) stay finite in f32 (see the header). */
const invTemperature = (w: DistillWeights) => Math.min(1 / w.temperature, F32_MAX / 4);

/** The kernels' temperature uniforms: 1 / T and the floor's span EXP_FLOOR T (at least EXP_FLOOR over the capped 1 / T, a normal float32). */
const temperatureParams = (w: DistillWeights) => ({ inv_t: invTemperature(w), span: EXP_FLOOR / invTemperature(w) });

export function launchDistillLoss(
  b: { x: GPUBuffer; teacher: GPUBuffer; targets: GPUBuffer; loss: GPUBuffer; valid: GPUBuffer; stats: GPUBuffer },
  w: DistillWeights,
  float: FloatType = 'f32',
): void {
  const params = { rows: w.rows, V: w.V, ignore_index: w.ignoreIndex, ...temperatureParams(w), kl_t: w.alpha * w.temperature, kl_t2: w.alpha * w.temperature ** 2, ce_weight: 1 - w.alpha };
  const buffers = [[b.x, 'rows'], [b.teacher, 'rows'], [b.targets, 'row'], [b.loss, 'row'], [b.valid, 'row'], [b.stats, 'stats']] as const;
  launchRowChunks('distillLoss', forwardK(float), buffers, w.V, params, float, DISTILL_STATS);
}

export function launchDistillLossBackward(
  b: { x: GPUBuffer; teacher: GPUBuffer; targets: GPUBuffer; stats: GPUBuffer; scale: GPUBuffer; dx: GPUBuffer },
  w: DistillWeights,
  float: FloatType = 'f32',
): void {
  const params = { rows: w.rows, V: w.V, ignore_index: w.ignoreIndex, ...temperatureParams(w), kl_grad: w.alpha * w.temperature, ce_weight: 1 - w.alpha };
  const buffers = [[b.x, 'rows'], [b.teacher, 'rows'], [b.targets, 'row'], [b.stats, 'stats'], [b.scale, 'whole'], [b.dx, 'rows']] as const;
  launchRowChunks('distillLoss', backwardK(float), buffers, w.V, params, float, DISTILL_STATS);
}
