// AdamW step, in place, for a group of up to PARAMS parameter tensors in one dispatch (the
// "multi-tensor apply" of fused optimizers). For element j of parameter k:
//   g' = g * gscale                   (gscale: a 0-d tensor, e.g. the grad-clipping factor)
//   m = b1 m + (1 - b1) g'            v = b2 v + (1 - b2) g'^2
//   p = p - lr (m / bc1 / (sqrt(v / bc2) + eps) + wd_k p)     (decoupled weight decay)
// m and v are the optimizer's flat moment buffers (every parameter back to back); the group's
// parameters are laid out from `mv_base` in them, `ends` holds the group's running element counts,
// and bit k of `decay` says whether parameter k is decayed. WGSL cannot index bindings, so each
// parameter is a binding of its own and a switch picks it. bc1 = 1 - b1^t, bc2 = 1 - b2^t come
// precomputed. With a GradScaler (mixed precision), gscale is its control [4] instead: the
// multiplier, a skip flag (1: the gradients were not finite, leave everything unchanged), the steps
// skipped so far (bias correction counts the steps taken: t = step - skipped) and the scaler's own
// count. 1-D grid of 256-lane workgroups over the group's elements.
import type { Resource } from '../../device/bind-groups.js';
import { device } from '../../device/device.js';
import { Kernel, perElement, grid1d, variants } from '../kernel.js';

const WG = 256;
/** Parameters per dispatch at most (the `ends` param is a `dims`, 8 entries). */
const MAX_GROUP = 8;

/** Parameters one dispatch can update on this adapter: each needs two bindings beside gscale, m and v. */
export function adamwGroupSize(): number {
  const bindings = device().info.limits.maxStorageBuffersPerShaderStage ?? 8;
  return Math.max(1, Math.min(MAX_GROUP, Math.floor((bindings - 3) / 2)));
}

const adamwKernel = variants((key: `${number}${'' | '-controlled'}`) => {
  const group = parseInt(key);
  const controlled = key.endsWith('-controlled');
  const idx = Array.from({ length: group }, (_, k) => k);
  return new Kernel({
    name: `adamw${controlled ? '-controlled' : ''}`,
    read: { gscale: 'f32', ...Object.fromEntries(idx.map((k) => [`grad${k}`, 'f32'])) },
    write: { m: 'f32', v: 'f32', ...Object.fromEntries(idx.map((k) => [`param${k}`, 'f32'])) },
    params: {
      n: 'u32', mv_base: 'u32', decay: 'u32', step: 'u32', ends: 'dims',
      lr: 'f32', b1: 'f32', b2: 'f32', eps: 'f32', wd: 'f32', bc1: 'f32', bc2: 'f32', lb1: 'f32', lb2: 'f32',
    },
    body: /* wgsl */ `
// the updated value of a parameter element x with gradient g and moments at m[j], v[j]
fn step(x: f32, g: f32, j: u32, wd: f32, bc1: f32, bc2: f32) -> f32 {
  let grad = g * gscale[0];
  let m1 = p.b1 * m[j] + (1.0 - p.b1) * grad;
  let v1 = p.b2 * v[j] + (1.0 - p.b2) * grad * grad;
  m[j] = m1;
  v[j] = v1;
  let update = (m1 / bc1) / (sqrt(v1 / bc2) + p.eps);
  return x - p.lr * (update + wd * x);
}
${perElement(WG, `${controlled ? CONTROLLED_PRELUDE : '\n  let bc1 = p.bc1;\n  let bc2 = p.bc2;'}
  var k = 0u;
  while (k < ${group - 1}u && i >= dim(p.ends, k)) { k++; }
  let local = i - select(0u, dim(p.ends, max(k, 1u) - 1u), k > 0u);
  let wd = select(0.0, p.wd, ((p.decay >> k) & 1u) == 1u);
  let j = p.mv_base + i;
  switch k {
${idx.map((k) => `    case ${k}u: { param${k}[local] = step(param${k}[local], grad${k}[local], j, wd, bc1, bc2); }`).join('\n')}
    default: {}
  }`)}`,
  });
});

// a skipped step writes nothing; after skipped ones, the bias corrections of the steps taken,
// b^t as exp2(t log2 b) with log2 b from the host in float64 (WGSL's pow, exp2(y log2 x), loses
// up to 2^-21 absolute in log2 of a b near 1)
const CONTROLLED_PRELUDE = /* wgsl */ `
  if (gscale[1] != 0.0) { return; }
  let skipped = u32(gscale[2]);
  let taken = f32(max(i32(p.step) - i32(skipped), 1));
  let bc1 = select(p.bc1, 1.0 - exp2(taken * p.lb1), skipped > 0u);
  let bc2 = select(p.bc2, 1.0 - exp2(taken * p.lb2), skipped > 0u);`;

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  step: number;
}

export interface AdamWGroupMember {
  param: Resource;
  grad: Resource;
  size: number;
  /** Whether weight decay applies to it. */
  decay: boolean;
}

/** log2 of a beta for exp2 in the kernel; beta 0 (no momentum) as a large negative finite number (uniforms hold no -Infinity). */
const log2Beta = (b: number) => Math.max(Math.log2(b), -1e4);

/** Length of a GradScaler's control, which may stand for gscale. */
export const ADAMW_CONTROL = 4;

/**
 * One dispatch updating `members` (at most adamwGroupSize()), whose moments start at `mvBase` in m
 * and v; `controlled`: gscale is a GradScaler's control [ADAMW_CONTROL], not a 0-d multiplier.
 */
export function launchAdamW(
  members: AdamWGroupMember[],
  moments: { m: Resource; v: Resource; mvBase: number; gscale: GPUBuffer; controlled: boolean },
  h: AdamWHyper,
): void {
  if (members.length > adamwGroupSize()) throw new Error(`adamw: ${members.length} parameters in one group, at most ${adamwGroupSize()}`);
  const k = adamwKernel(`${members.length}${moments.controlled ? '-controlled' : ''}`);
  const ends: number[] = [];
  let n = 0;
  for (const m of members) ends.push((n += m.size));
  if (!n) return;
  k.launch(
    [moments.gscale, ...members.map((m) => m.grad), moments.m, moments.v, ...members.map((m) => m.param)],
    {
      n, mv_base: moments.mvBase, decay: members.reduce((bits, m, i) => bits | (+m.decay << i), 0), step: h.step, ends,
      lr: h.lr, b1: h.beta1, b2: h.beta2, eps: h.eps, wd: h.weightDecay,
      bc1: 1 - h.beta1 ** h.step, bc2: 1 - h.beta2 ** h.step,
      lb1: log2Beta(h.beta1), lb2: log2Beta(h.beta2),
    },
    grid1d(n, WG),
  );
}
