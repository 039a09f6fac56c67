// Non-finite watch for training loops: status (i32 [2]) accumulates, without a readback,
//   status[0] |= 1 << k  for every 0-d value[k] that is NaN or +-Inf,
//   status[1]  = step    the first time status[0] becomes non-zero.
// Values are tested by their bit pattern (exponent all ones): WGSL lets a compiler assume finite
// floats, so comparisons such as x != x cannot be trusted to find a NaN. One lane.
// Called by src/ops/finite.ts.
import { Kernel, variants } from '../kernel.js';

/** WGSL `non_finite(x: f32) -> bool`: NaN or +-Inf, by the bit pattern (exponent all ones). */
export const NON_FINITE_FN = /* wgsl */ `fn non_finite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u; }`;

/**
 * WGSL `mark(bits: i32, step: i32)` for kernels with a `status` (i32 [2]) binding: status[0] |= bits,
 * and status[1] = step the first time status[0] becomes non-zero (the watch's layout; the loss
 * scaler marks it too, src/kernels/wgsl/grad-scaler.ts).
 */
export const MARK_FN = /* wgsl */ `fn mark(bits: i32, step: i32) {
  if (bits != 0 && status[0] == 0) { status[1] = step; }
  status[0] |= bits;
}`;

/** Values one dispatch checks at most. */
export const MAX_VALUES = 4;

const watchKernel = variants((count: number) => {
  const idx = Array.from({ length: count }, (_, k) => k);
  return new Kernel({
    name: 'nonfinite_watch',
    read: Object.fromEntries(idx.map((k) => [`v${k}`, 'f32'])),
    write: { status: 'i32' },
    params: { step: 'i32' },
    body: /* wgsl */ `
${NON_FINITE_FN}
${MARK_FN}
@compute @workgroup_size(1)
fn main() {
  var bits = 0;
${idx.map((k) => `  if (non_finite(v${k}[0])) { bits |= ${1 << k}; }`).join('\n')}
  mark(bits, p.step);
}`,
  });
});

/** Marks `status` for each of `values` (0-d f32 buffers, at most MAX_VALUES) that is not finite. */
export function launchNonFiniteWatch(values: GPUBuffer[], status: GPUBuffer, step: number): void {
  if (values.length < 1 || values.length > MAX_VALUES) throw new Error(`nonfinite_watch: 1 to ${MAX_VALUES} values, got ${values.length}`);
  watchKernel(values.length).launch([...values, status], { step }, [1, 1, 1]);
}
