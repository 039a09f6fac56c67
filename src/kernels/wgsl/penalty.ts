// Repetition, presence and frequency penalties on logits [R, V], and the per-row token counts
// they read; called by src/ops/penalty.ts (penalizeLogits, countTokens), for generation; and
// no-repeat n-gram bans (below).
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
//
// ban_repeated_ngrams: no-repeat n-grams (Hugging Face's NoRepeatNGramLogitsProcessor) on logits
// [R, V], from each row's token history [R, T] i32 (its tokens right-aligned, -1 before them:
// padding, which matches no token); called by src/ops/ngram.ts (banRepeatedNgrams).
//   out[r, v] = -Inf  where some window history[r, j .. j+n-2] equals the row's last n-1 tokens
//                     history[r, T-n+1 .. T-1] and history[r, j+n-1] = v (v would repeat that n-gram);
//   out[r, v] = logits[r, v] elsewhere.
// A window holding padding never equals the tail of a row with n-1 tokens or more (it holds more
// padding than the tail), and a row with fewer has no n-gram: nothing is banned there, as HF's
// `cur_len + 1 < ngram_size`. A workgroup of 64 lanes a row: the lanes copy the row, then (after a
// storage barrier) stride over the windows, each match writing -Inf (lanes that write one id write
// the same bits). -Inf comes from a uniform's bits: a constant infinity does not compile.
import { gridRows, Kernel } from '../kernel.js';
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

const LANES = 64;
const NEG_INF_BITS = 0xff800000;

const banKernel = new Kernel({
  name: 'ban_repeated_ngrams',
  read: { logits: 'f32', history: 'i32' },
  write: { out: 'f32' },
  params: { rows: 'u32', V: 'u32', T: 'u32', n: 'u32', neg_inf: 'u32' },
  body: /* wgsl */ `
@compute @workgroup_size(${LANES})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lane: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; } // the whole workgroup: the barrier below stays uniform
  let base = row * p.V;
  for (var v = lane; v < p.V; v += ${LANES}u) { out[base + v] = logits[base + v]; }
  storageBarrier();
  if (p.T < p.n) { return; }
  let h = row * p.T;
  let tail = h + p.T - (p.n - 1u); // the row's last n - 1 tokens
  for (var j = lane; j + p.n <= p.T; j += ${LANES}u) {
    var same = true;
    for (var k = 0u; k + 1u < p.n; k++) {
      if (history[h + j + k] != history[tail + k]) { same = false; break; }
    }
    let id = history[h + j + p.n - 1u];
    if (same && id >= 0 && u32(id) < p.V) { out[base + u32(id)] = bitcast<f32>(p.neg_inf); }
  }
}`,
});

/** out = logits [rows, V] with -Inf at the ids that would repeat an n-gram of history [rows, T] (see the header). */
export function launchBanRepeatedNgrams(logits: GPUBuffer, history: GPUBuffer, out: GPUBuffer, rows: number, V: number, T: number, n: number): void {
  banKernel.launch([logits, history, out], { rows, V, T, n, neg_inf: NEG_INF_BITS }, gridRows(rows));
}
