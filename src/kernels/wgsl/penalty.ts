// Repetition, presence and frequency penalties on logits [R, V], and the per-row token counts
// they read; called by src/ops/penalty.ts (penalizeLogits, countTokens), for generation.
//
// penalize_rows: for element (r, v), with c = counts[r, v] (how often v was generated so far) and
// seen = prompt[r, v] != 0 or c > 0 (v occurs in the context):
//   y = seen ? (x > 0 ? x / repetition : x * repetition) : x     (HF / CTRL's repetition penalty)
//   out = y - frequency * c - presence * (c > 0 ? 1 : 0)           (OpenAI's, in vLLM's order)
// A logit that is not finite (NaN, +-Inf) is kept as it is: what those formulas give it, and WGSL
// may assume finite floats, so it is told by its bits, not by a compare. Layout: a row kernel
// (row.ts: 64 lanes striding over a row, or a lane a row on CPU adapters with many rows), a chunk of
// rows at a time where the tensors exceed a binding (each bound `shift` elements before its row).
//
// count_tokens: counts[r, ids[r]] += 1 for each row r, ids outside [0, V) skipped (sampleLogits'
// -1 for a row with no distribution). A lane a row, 64 rows a workgroup, chunked as above.

import { Kernel } from '../kernel.js';
import { launchRowChunks, rowKernel, rowMain } from './row.js';

const penalizeKernels = rowKernel(
  (lanes) =>
    new Kernel({
      name: 'penalize_rows',
      read: { logits: 'f32', counts: 'f32', prompt: 'f32' },
      write: { out: 'f32' },
      params: { rows: 'u32', V: 'u32', repetition: 'f32', presence: 'f32', frequency: 'f32', shift: 'u32' },
      body: /* wgsl */ `
fn penalized(x: f32, c: f32, in_prompt: f32) -> f32 {
  if ((bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u) { return x; } // NaN, +-Inf: as they are
  var y = x;
  if (c > 0.0 || in_prompt != 0.0) { y = select(x * p.repetition, x / p.repetition, x > 0.0); }
  return y - p.frequency * c - p.presence * select(0.0, 1.0, c > 0.0);
}
${rowMain(lanes, 'p.V', /* wgsl */ `
  for (var j = lane; j < n; j += ROW_LANES) { out[base + j] = penalized(logits[base + j], counts[base + j], prompt[base + j]); }`, 'p.shift')}`,
    }),
);

const countKernel = new Kernel({
  name: 'count_tokens',
  read: { ids: 'i32' },
  write: { counts: 'f32' },
  params: { rows: 'u32', V: 'u32', shift: 'u32', row_shift: 'u32' },
  body: /* wgsl */ `
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lane: u32) {
  let row = (wid.x + wid.y * nwg.x) * 64u + lane;
  if (row >= p.rows) { return; }
  let id = ids[row + p.row_shift];
  if (id < 0 || u32(id) >= p.V) { return; }
  let at = p.shift + row * p.V + u32(id);
  counts[at] += 1.0;
}`,
});

/** How strong each penalty is: repetition 1, presence 0 and frequency 0 are off. */
export interface PenaltyParams {
  repetition: number;
  presence: number;
  frequency: number;
}

/** out = logits penalized by counts and prompt (each [rows, V] f32; see the header). */
export function launchPenalize(logits: GPUBuffer, counts: GPUBuffer, prompt: GPUBuffer, out: GPUBuffer, rows: number, V: number, s: PenaltyParams): void {
  const buffers = [[logits, 'rows'], [counts, 'rows'], [prompt, 'rows'], [out, 'rows']] as const;
  launchRowChunks('penalizeLogits', (r) => penalizeKernels(r), buffers, V, { rows, V, ...s });
}

/** counts[r, ids[r]] += 1 in place, for counts [rows, V] f32 and ids [rows] i32 (see the header). */
export function launchCountTokens(counts: GPUBuffer, ids: GPUBuffer, rows: number, V: number): void {
  launchRowChunks('countTokens', () => ({ kernel: countKernel, lanes: 1 }), [[ids, 'row'], [counts, 'rows']], V, { rows, V });
}
