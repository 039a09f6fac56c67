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
