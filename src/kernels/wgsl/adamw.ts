// AdamW step, in place, for a group of up to MAX_GROUP (kernel.ts) parameter tensors in one dispatch (the
// "multi-tensor apply" of fused optimizers). For element j of parameter k:
//   g' = g * gscale                   (gscale: a 0-d tensor, e.g. the grad-clipping factor)
//   m = b1 m + (1 - b1) g'            v = b2 v + (1 - b2) g'^2
//   p = p - lr (m / bc1 / (sqrt(v / bc2) + eps) + wd_k p)     (decoupled weight decay)
// m and v are the optimizer's flat moment buffers (every parameter back to back); parameter k's
// moments start at `starts[k]` in the group's window of them, and bit k of `decay` says whether it
// is decayed. bc1 = 1 - b1^t, bc2 = 1 - b2^t come precomputed, and so do 1 - b1 and 1 - b2 (in
// float32 from a b2 = 0.999 rounded to float32 the difference was 1.3e-5 off: the first update
// 6e-6). With a GradScaler (mixed precision), gscale is its control [4] instead: the multiplier,
// a skip flag (1: the gradients were not finite, leave everything unchanged), the steps skipped
// so far (bias correction counts the steps taken: t = step - skipped) and the scaler's own count.
// A grouped kernel (kernel.ts): each parameter and gradient a binding of its own, each parameter
// its own 256-lane workgroups, a lane per element, or per 4 elements (vec4 loads and math) where
// every size and start of the group is a multiple of 4 (GPT's are): measured on lavapipe, a small
// GPT's step (0.8M parameters) 12.0 -> 6.7 ms, 85M parameters 949 -> 355 ms.
import type { Resource } from '../../device/bind-groups.js';
import { Kernel, groupLaunch, groupSize, perMember, variants } from '../kernel.js';

const WG = 256;

/** Parameters one dispatch can update on this adapter: each needs two bindings beside gscale, m and v. */
export const adamwGroupSize = (): number => groupSize(2, 3);

const adamwKernel = variants((key: `${number}:${'f32' | 'vec4f'}:${'plain' | 'controlled'}`) => {
  const [size, type, control] = key.split(':') as [string, 'f32' | 'vec4f', string];
  const group = parseInt(size);
  const controlled = control === 'controlled';
  const idx = Array.from({ length: group }, (_, k) => k);
  return new Kernel({
    name: `adamw${controlled ? '-controlled' : ''}${type === 'vec4f' ? '-vec4' : ''}`,
    read: { gscale: 'f32', ...Object.fromEntries(idx.map((k) => [`grad${k}`, type])) },
    write: { m: type, v: type, ...Object.fromEntries(idx.map((k) => [`param${k}`, type])) },
    params: {
      sizes: 'dims', ends: 'dims', starts: 'dims', decay: 'u32', step: 'u32',
      lr: 'f32', b1: 'f32', b2: 'f32', ob1: 'f32', ob2: 'f32', eps: 'f32', wd: 'f32', bc1: 'f32', bc2: 'f32', lnb1: 'f32', lnb2: 'f32',
    },
    body: /* wgsl */ `${controlled ? ONE_MINUS_POW : ''}
// the updated value of parameter elements x with gradients g and moments at m[at], v[at]
fn step(x: ${type}, g: ${type}, at: u32, wd: f32, bc1: f32, bc2: f32) -> ${type} {
  let grad = g * gscale[0];
  let m1 = p.b1 * m[at] + p.ob1 * grad;
  let v1 = p.b2 * v[at] + p.ob2 * grad * grad;
  m[at] = m1;
  v[at] = v1;
  let update = (m1 / bc1) / (sqrt(v1 / bc2) + p.eps);
  return x - p.lr * (update + wd * x);
}
${perMember(WG, group, `${controlled ? CONTROLLED_PRELUDE : '\n  let bc1 = p.bc1;\n  let bc2 = p.bc2;'}
  let wd = select(0.0, p.wd, ((p.decay >> k) & 1u) == 1u);
  let at = dim(p.starts, k) + j;
  switch k {
${idx.map((k) => `    case ${k}u: { param${k}[j] = step(param${k}[j], grad${k}[j], at, wd, bc1, bc2); }`).join('\n')}
    default: {}
  }`)}`,
  });
});

// a skipped step writes nothing; after skipped ones, the bias corrections of the steps taken,
// 1 - b^t by one_minus_pow with ln b from the host in float64 (WGSL's pow, exp2(y log2 x), loses
// up to 2^-21 absolute in log2 of a b near 1)
const CONTROLLED_PRELUDE = /* wgsl */ `
  if (gscale[1] != 0.0) { return; }
  let skipped = u32(gscale[2]);
  let taken = f32(max(i32(p.step) - i32(skipped), 1));
  let bc1 = select(p.bc1, one_minus_pow(taken, p.lnb1), skipped > 0u);
  let bc2 = select(p.bc2, one_minus_pow(taken, p.lnb2), skipped > 0u);`;

// 1 - b^t = -expm1(t ln b) = -2 sinh(h) exp(h), h = t ln b / 2: sinh's series where b^t is near 1
// (|h| <= 1/4: the next term is below 5e-11 relative), where 1 - exp(2h) would cancel (b = 0.999,
// t = 1: 1 - exp2(log2 b) was 5e-5 off, the update as much); 1 - exp(2h) past it (>= 0.39: no cancellation)
const ONE_MINUS_POW = /* wgsl */ `
fn one_minus_pow(t: f32, ln_b: f32) -> f32 {
  let h = 0.5 * t * ln_b;
  let s = max(h, -0.25); // the series only where it is used: at beta 0 (ln b -1e4) h2 would overflow
  let s2 = s * s;
  let near = -2.0 * s * (1.0 + s2 / 6.0 * (1.0 + s2 / 20.0 * (1.0 + s2 / 42.0))) * exp(s);
  return select(1.0 - exp(2.0 * h), near, h > -0.25);
}`;

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

/** ln of a beta for one_minus_pow in the kernel; beta 0 (no momentum) as a large negative finite number (uniforms hold no -Infinity). */
const lnBeta = (b: number) => Math.max(Math.log(b), -1e4);

/** Length of a GradScaler's control, which may stand for gscale. */
export const ADAMW_CONTROL = 4;

/**
 * One dispatch updating `members` (at most adamwGroupSize()), whose moments lie back to back from
 * `mvBase` in m and v; `controlled`: gscale is a GradScaler's control [ADAMW_CONTROL], not a 0-d multiplier.
 */
export function launchAdamW(
  members: AdamWGroupMember[],
  moments: { m: Resource; v: Resource; mvBase: number; gscale: GPUBuffer; controlled: boolean },
  h: AdamWHyper,
): void {
  if (members.length > adamwGroupSize()) throw new Error(`adamw: ${members.length} parameters in one group, at most ${adamwGroupSize()}`);
  let at = moments.mvBase;
  const starts = members.map((m) => {
    const start = at;
    at += m.size;
    return start;
  });
  const vec4 = starts.every((s, k) => s % 4 === 0 && members[k]!.size % 4 === 0);
  const per = vec4 ? 4 : 1;
  const { params, grid } = groupLaunch(members.map((m) => m.size / per), WG);
  if (!grid) return;
  const k = adamwKernel(`${members.length}:${vec4 ? 'vec4f' : 'f32'}:${moments.controlled ? 'controlled' : 'plain'}`);
  k.launch(
    [moments.gscale, ...members.map((m) => m.grad), moments.m, moments.v, ...members.map((m) => m.param)],
    {
      ...params, starts: starts.map((s) => s / per), decay: members.reduce((bits, m, i) => bits | (+m.decay << i), 0), step: h.step,
      lr: h.lr, b1: h.beta1, b2: h.beta2, ob1: 1 - h.beta1, ob2: 1 - h.beta2, eps: h.eps, wd: h.weightDecay,
      bc1: 1 - h.beta1 ** h.step, bc2: 1 - h.beta2 ** h.step,
      lnb1: lnBeta(h.beta1), lnb2: lnBeta(h.beta2),
    },
    grid,
  );
}
