// Global gradient norm for clipping, in two kernels and no float atomics:
//   grad_sumsq: partial[2 (base + w)] = sum((g_k 2^-e)^2) over slice s of tensor k and
//     partial[2 (base + w) + 1] = e, the exponent of the slice's largest |g| (clamped to [-126, 126],
//     where 2^-e is a normal float32), for a group of up to
//     MAX_GROUP (kernel.ts) gradient tensors bound side by side; one 256-lane workgroup w per slice of SLICE
//     elements (tensor k's slices numbered after those of the tensors before it, `ends` holding the
//     running counts), lanes striding over the slice, then a tree reduction in workgroup memory.
//     Slicing keeps a large tensor (GPT-2's 38.6M-element embedding) from being one workgroup's
//     serial tail on a GPU; a tensor of at most SLICE elements is one slice, summed as it always
//     was. WGSL cannot index bindings: a switch picks g_k. Scaling by a power of two is exact, so
//     the sums are those of the plain squares where those fit, but squares that overflow float32
//     (gradients past ~1.8e19: the norm was Infinity, clipping every gradient to 0) or underflow it
//     (below ~1e-19: the norm was 0) no longer do; the max is taken on the bits (no float compares;
//     NaN and Infinity give the top exponent).
//   clip_scale: E = the largest slice exponent, norm = sqrt(sum(partial_s 2^(2 (e_s - E)))) 2^E
//     (Infinity only where the norm itself is past float32). A slice holding a NaN or Inf writes
//     that element's bits as its sum (NaN over Inf), and the norm is those bits (NaN over Inf, as
//     torch's): the overflow check of the loss scaler (grad-scaler.ts) and clipping rest on bit
//     tests, not on NaN and Inf surviving squares, sums, ldexp and sqrt (WGSL may assume finite
//     floats: issue #13); scale = min(1, maxNorm / (norm + 1e-6)) as PyTorch's
//     clip_grad_norm_: exactly 1 where norm + 1e-6 <= maxNorm or `clip` is 0 (no limit: a uniform
//     cannot hold Infinity), dividing only where it clips; 0 for a norm of Infinity and NaN for a
//     NaN, as there (a NaN gradient then makes every weight NaN, as in torch). GPUs that divide by
//     multiplying with a reciprocal flush 1 / x to 0 for x past 2^126 (WGSL promises x / y only for
//     |y| <= 2^126), so maxNorm / maxNorm gave 0 for a limit of 1e38; and x / x need not be exactly 1. One lane.
// Called by src/ops/grad-norm.ts.
import type { Resource } from '../../device/bind-groups.js';
import { F32_MAX, gridRows, groupSize, Kernel, variants } from '../kernel.js';

const WG = 256;
/** Elements a workgroup sums at most: 256 per lane. */
const SLICE = 256 * WG;

/** The partial sums a gradient of `size` elements gets (its slices). */
export const gradSlices = (size: number) => Math.max(1, Math.ceil(size / SLICE));

/** WGSL for PyTorch's clip_grad_norm_ epsilon: the clipping factor is max_norm / (norm + CLIP_EPS) (grad-scaler.ts too). */
export const CLIP_EPS = '1e-6';

/** Floats of `partial` a slice takes: its scaled sum of squares and its exponent. */
export const SLICE_PARTIAL = 2;

/** The clipping limit a kernel's uniform takes for maxNorm: past float32's range (Infinity too), null, no clipping. */
export const clipLimit = (maxNorm: number): number | null => (maxNorm < F32_MAX ? maxNorm : null);

/** Gradients one grad_sumsq dispatch can sum on this adapter (one binding each, beside `partial`). */
export const gradNormGroupSize = (): number => groupSize(1, 1);

const sumsqKernel = variants((group: number) => {
  const idx = Array.from({ length: group }, (_, k) => k);
  return new Kernel({
    name: 'grad_sumsq',
    read: Object.fromEntries(idx.map((k) => [`g${k}`, 'f32'])),
    write: { partial: 'f32' },
    params: { base: 'u32', sizes: 'dims', ends: 'dims' },
    body: /* wgsl */ `
var<workgroup> red: array<f32, ${WG}>;
var<workgroup> top: atomic<u32>; // the slice's largest |g| as bits (zero-initialised)

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lane: u32) {
  let w = wid.x + wid.y * nwg.x; // more than 65,535 slices spread over y (gridRows)
  if (w >= dim(p.ends, ${group - 1}u)) { return; }
  var k = 0u;
  while (k < ${group - 1}u && w >= dim(p.ends, k)) { k++; }
  let lo = (w - select(0u, dim(p.ends, max(k, 1u) - 1u), k > 0u)) * ${SLICE}u;
  let hi = min(dim(p.sizes, k), lo + ${SLICE}u);
  var bits = 0u;
  switch k {
${idx.map((k) => `    case ${k}u: { for (var j = lo + lane; j < hi; j += ${WG}u) { bits = max(bits, bitcast<u32>(g${k}[j]) & 0x7fffffffu); } }`).join('\n')}
    default: {}
  }
  atomicMax(&top, bits);
  let top_bits = workgroupUniformLoad(&top);
  // at most 126: 2^-127 is not a normal float32 (its bits would read as 0), and |g| 2^-126 < 4 anyway
  let e = clamp(i32(top_bits >> 23u) - 127, -126, 126);
  let unit = bitcast<f32>(u32(127 - e) << 23u); // 2^-e
  var acc = 0.0;
  switch k {
${idx.map((k) => `    case ${k}u: { for (var j = lo + lane; j < hi; j += ${WG}u) { let v = g${k}[j] * unit; acc += v * v; } }`).join('\n')}
    default: {}
  }
  red[lane] = acc;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (lane < s) { red[lane] += red[lane + s]; }
    workgroupBarrier();
  }
  if (lane == 0u) {
    // a NaN or Inf in the slice is written as its bits (the largest |g|: NaN over Inf), not left to
    // the squares' arithmetic (WGSL may assume finite floats)
    partial[${SLICE_PARTIAL}u * (p.base + w)] = select(red[0], bitcast<f32>(top_bits), top_bits >= 0x7f800000u);
    partial[${SLICE_PARTIAL}u * (p.base + w) + 1u] = f32(e);
  }
}`,
  });
});

const scaleKernel = new Kernel({
  name: 'clip_scale',
  read: { partial: 'f32' },
  write: { norm: 'f32', scale: 'f32' },
  params: { count: 'u32', max_norm: 'f32', clip: 'u32' },
  body: /* wgsl */ `
@compute @workgroup_size(1)
fn main() {
  var top = -126;
  for (var i = 0u; i < p.count; i++) { top = max(top, i32(partial[${SLICE_PARTIAL}u * i + 1u])); }
  var total = 0.0;
  var bad = 0u; // a non-finite slice's bits (NaN over Inf), 0 if none
  for (var i = 0u; i < p.count; i++) {
    let sum = partial[${SLICE_PARTIAL}u * i];
    let bits = bitcast<u32>(sum);
    bad = max(bad, select(0u, bits, bits >= 0x7f800000u));
    total += select(ldexp(sum, 2 * (i32(partial[${SLICE_PARTIAL}u * i + 1u]) - top)), 0.0, bits >= 0x7f800000u);
  }
  // the norm is sqrt(total) 2^top exactly: past float32 when sqrt(total)'s exponent plus top
  // reaches 128, then written as Infinity's bits rather than overflowed
  let root = sqrt(total);
  let over = i32(bitcast<u32>(root) >> 23u) - 127 + top >= 128;
  let non_finite = select(select(0u, 0x7f800000u, over), bad, bad != 0u);
  let nrm = select(ldexp(root, top), bitcast<f32>(non_finite), non_finite != 0u);
  norm[0] = nrm;
  let d = nrm + ${CLIP_EPS};
  // a norm of Infinity clips by 0 and NaN by NaN (the norm itself), told by the bits (WGSL may
  // assume finite floats: a NaN compared or divided could give anything, on lavapipe a factor of 1)
  let bits = bitcast<u32>(nrm) & 0x7fffffffu;
  let factor = select(select(p.max_norm / d, 0.0, bits == 0x7f800000u), nrm, bits > 0x7f800000u);
  scale[0] = select(1.0, factor, p.clip != 0u && (bits >= 0x7f800000u || d > p.max_norm));
}`,
});

/**
 * partial[SLICE_PARTIAL base ...] = the scaled sums of squares of grads' slices and their exponents (at most MAX_GROUP gradients, with their
 * sizes), in order; returns how many partial sums it wrote.
 */
export function launchGradSumSquares(grads: { buffer: Resource; size: number }[], partial: GPUBuffer, base: number): number {
  if (grads.length > gradNormGroupSize()) throw new Error(`grad_sumsq: ${grads.length} tensors in one group, at most ${gradNormGroupSize()}`);
  const ends: number[] = [];
  let slices = 0;
  for (const g of grads) ends.push((slices += gradSlices(g.size)));
  sumsqKernel(grads.length).launch([...grads.map((g) => g.buffer), partial], { base, sizes: grads.map((g) => g.size), ends }, gridRows(slices));
  return slices;
}

/** norm[0] and scale[0] from the first `count` slices' partial sums of squares; maxNorm null: scale 1. */
export function launchClipScale(partial: GPUBuffer, count: number, maxNorm: number | null, norm: GPUBuffer, scale: GPUBuffer): void {
  scaleKernel.launch([partial, norm, scale], { count, max_norm: maxNorm ?? 0, clip: maxNorm === null ? 0 : 1 }, [1, 1, 1]);
}
