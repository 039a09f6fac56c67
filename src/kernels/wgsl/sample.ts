// sample_rows: one token id per row of logits [R, V], drawn after temperature, top-k, top-p
// (nucleus) and min-p filtering, with the row's uniform number u in [0, 1) from the host's seeded
// generator. It picks the token that a host walk would pick: candidates sorted by logit, descending,
// ties by lower id first; keep those at least the top_k-th largest logit (its ties too, as nanoGPT
// and Hugging Face keep them); keep the shortest prefix whose weight reaches top_p of the kept
// weight; keep those weighing at least min_p (Hugging Face's MinPLogitsWarper, after top-p: a
// probability at least min_p times the top one's, which weighs 1); then the first candidate at
// which the running weight exceeds u * (kept weight).
// Weights are exp((logit - max) / temperature); a -Inf logit (a mask) weighs nothing. A row with
// no distribution to draw from, holding a NaN or +Inf logit or none above -Inf (softmax gives NaNs
// there, which torch.multinomial refuses: a diverged model's), draws -1, no token, whatever the
// settings, greedy too; it is told by the ordered key of its largest logit (WGSL may assume
// finite floats: no float compare could be trusted to see a NaN or an infinity).
// Greedy (temperature 0): the first id holding the largest logit, as argmax, found by the first
// pass over the row that every draw makes (its smallest key, its largest, and the first id holding
// that), with nothing after it. It is a variant of the kernel, not a uniform: its pipeline
// compiles in a fraction of the draw's time, and the wait pacer (src/device/wait-pacer.ts), which
// knows work by its pipelines and grids, tells it from a draw (interleaved with sampled draws over
// 50,257 logits on lavapipe, a greedy one took 39 ms sharing their pipeline, 1.0 ms with its own).
//
// Nothing is sorted. Every cut of that order ("the candidates before a point") is a key threshold
// plus a count of tied candidates taken in id order (or all of them: no count needed), so each
// stage is a bisection over the 32-bit ordered keys of the logits (src/kernels/wgsl/elementwise.ts
// ordered_key), each step a pass over the row and a workgroup sum; the tie that is drawn is then
// found by a bisection over the index. min_p's cut needs no pass over the row: a weight is a
// function of the key alone, so its threshold is a bisection over keys on scalars, and its cut
// keeps every tie at it. About 120 passes over the row in the worst case, no workgroup memory
// beyond the sums, so any V. Greedy makes one.
//
// Layout: logits row-major [R, V] f32; u [R] f32; tokens [R] i32. WG lanes a row striding over
// it, as the profile's drawLanes and greedyLanes choose by V (src/kernels/profile.ts): a draw
// 256, or 32 for rows of at most 2048 (a character vocabulary), where the passes' tree sums, not
// the loads, are the cost (on lavapipe 256 lanes made a 96-wide draw take 4 ms); a workgroup a
// row (gridRows). Greedy's one pass is its loads: GPUs take the draw's lanes; CPU adapters 32, and
// one lane a row up to 1024 logits, 64 rows a workgroup, with no tree and no barrier (row.ts's CPU
// layout). lavapipe runs a workgroup 8 lanes at a time, each 8 on to the next barrier before the
// next 8 start, so each 8 sweeps the whole row: over 256 x 50,257 logits, 256 lanes took 1.8
// times the argmax reduction's time, 32 lanes 1.0-1.2 times; over 1 or 8 rows, 256 lanes 0.85-0.9
// times, 32 lanes 0.7-0.85; over 256 x 65, 32 lanes a workgroup a row took 2.2-3.1 times, one
// lane a row 0.6-0.9 times (more in src/kernels/profile.ts). Logits larger than a binding go a
// chunk of rows at a time (row.ts launchRowChunks: `shift`, `row_shift` are where each chunk
// starts in its windows).
// The tree sums' first stride is a uniform (`half`, WG / 2), not a constant: with a constant,
// lavapipe unrolled the tree around its barriers at every inlined call, and the first draw of a
// fresh machine compiled for 15 s at 256 lanes, 6 s at 32 (now 1.8 and 1.7 s; later draws within
// noise of before).
import { F32_MAX, gridRows, Kernel, variants } from '../kernel.js';
import { lanesByLength, profile } from '../profile.js';
import { ORDERED_WGSL } from './elementwise.js';
import { launchRowChunks } from './row.js';

/**
 * sample_rows at WG lanes a row. `greedy`: the first id of the row's largest logit, nothing drawn;
 * greedy at one lane a row takes 64 rows a workgroup (no barriers, no workgroup memory). `cut`:
 * no draw either, the row's candidates as a record (cut_record) for speculative_rule.
 */
function sampleKernel(WG: number, mode: SampleMode): Kernel {
  const greedy = mode === 'greedy';
  const rows = rowsPerWorkgroup(WG, greedy);
  return new Kernel({
    name: `${mode === 'draw' ? 'sample' : mode}_rows_${WG}`,
    read: mode === 'cut' ? { logits: 'f32' } : { logits: 'f32', u: 'f32' },
    write: mode === 'cut' ? { cuts: 'vec4u' } : { tokens: 'i32' },
    params: { rows: 'u32', V: 'u32', scale: 'f32', min_gap: 'f32', top_k: 'u32', top_p: 'f32', min_p: 'f32', index_steps: 'u32', half: 'u32', shift: 'u32', row_shift: 'u32' },
    body: /* wgsl */ `
${KEY_WGSL}
const WG = ${WG}u;
${WG === 1 ? '' : `var<workgroup> red_range: array<vec3u, ${WG}>;`}
var<private> lane: u32;

/** (smallest, largest) key of two ranges, with the first id holding the largest. */
fn joined(a: vec3u, b: vec3u) -> vec3u {
  let b_top = b.y > a.y || (b.y == a.y && b.z < a.z);
  return vec3u(min(a.x, b.x), select(a.yz, b.yz, b_top));
}
/** The row's (smallest key, largest key, first id holding the largest); every lane must call it. */
fn row_range() -> vec3u {
  var r = vec3u(0xffffffffu, 0u, 0u); // 0: below every key, so a lane with no ids never wins
  // a lane meets its ids in order: the first of its largest stays
  for (var i = lane; i < p.V; i += WG) { let k = key_at(i); r = vec3u(min(r.x, k), select(r.yz, vec2u(k, i), k > r.y)); }
  ${WG === 1 ? "return r; // a lane's range is its row's" : TREE_WGSL}
}
${greedy ? '' : CANDIDATES_WGSL}
${mode === 'draw' ? DRAW_WGSL : mode === 'cut' ? CUT_RECORD_WGSL : ''}
@compute @workgroup_size(${WG}, ${rows})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  lane = lid.x;
  let row = ${rows === 1 ? 'wid.x + wid.y * nwg.x' : `(wid.x + wid.y * nwg.x) * ${rows}u + lid.y`};
  if (row >= p.rows) { return; } // the same for the whole workgroup where it has barriers (a row to itself)
  base = p.shift + row * p.V;
  let range = row_range();
  // a NaN or +Inf logit, or only -Inf: no distribution (uniform, so the draw's barriers are skipped by all)
  if (no_distribution(range.y)) {
    if (lane == 0u) { ${mode === 'cut' ? 'cuts[row + p.row_shift] = vec4u(0u, 0u, range.y, 0u);' : 'tokens[row + p.row_shift] = -1;'} }
    return;
  }
  let out = ${mode === 'cut' ? 'cut_record(range)' : greedy ? 'i32(range.z)' : 'i32(draw(row, range.x, range.y))'};
  if (lane == 0u) { ${mode === 'cut' ? 'cuts' : 'tokens'}[row + p.row_shift] = out; }
}`,
  });
}

/** What sampleKernel writes: a token drawn, the argmax, or the candidates' record (speculative_rule reads them). */
type SampleMode = 'draw' | 'greedy' | 'cut';

/**
 * A row's logits as ordered keys, and a candidate's weight: shared by sample_rows and the kernels
 * that read its records (speculative.ts). Needs the binding `logits`, params scale and min_gap;
 * `base` is the row's first logit, `top` and `top_key` its largest logit and that one's key.
 */
export const KEY_WGSL = /* wgsl */ `${ORDERED_WGSL}
var<private> base: u32;
var<private> top: f32;
var<private> top_key: u32;

// -0 and +0 are one logit to the host's sort: give them one key
fn key_at(i: u32) -> u32 {
  let bits = bitcast<u32>(logits[base + i]);
  return ordered_key(select(bits, 0u, (bits & 0x7fffffffu) == 0u));
}
const INF_KEY = 0xff800000u; // ordered_key(+Inf); NaNs' is larger
const NEG_INF_KEY = 0x007fffffu; // ordered_key(-Inf), the smallest key
/** Whether a row whose largest key is largest has no distribution: a NaN or +Inf logit, or only -Inf ones. */
fn no_distribution(largest: u32) -> bool { return largest >= INF_KEY || largest == NEG_INF_KEY; }

fn weight_of_key(k: u32) -> f32 {
  if (k == top_key) { return 1.0; }
  if (k == NEG_INF_KEY) { return 0.0; }
  // (logit - top) / temperature without overflow: eighths subtract exactly and stay above
  // -F32_MAX / 4, as a driver may fold exp's scaling by log2(e) into the product (lavapipe does),
  // so no gap is clamped; at min_gap or below the weight is exp(-128) or less, 0 in f32
  let gap = bitcast<f32>(from_ordered_key(k)) * 0.125 - top * 0.125;
  return exp(max(gap, p.min_gap) * p.scale);
}`;

// row_range's tree over the lanes' ranges (more than one lane a row).
const TREE_WGSL = /* wgsl */ `red_range[lane] = r;
  workgroupBarrier();
  for (var s = p.half; s > 0u; s >>= 1u) {
    if (lane < s) { red_range[lane] = joined(red_range[lane], red_range[lane + s]); }
    workgroupBarrier();
  }
  return workgroupUniformLoad(&red_range[0]);`;

// The candidates past the row's range: the stages of the header, from the bisections' sums.
const CANDIDATES_WGSL = /* wgsl */ `
var<workgroup> red: array<vec2f, WG>;

/** (sum of v.x, sum of v.y) over the workgroup; every lane must call it. */
fn wg_sum(v: vec2f) -> vec2f {
  red[lane] = v;
  workgroupBarrier();
  for (var s = p.half; s > 0u; s >>= 1u) {
    if (lane < s) { red[lane] += red[lane + s]; }
    workgroupBarrier();
  }
  return workgroupUniformLoad(&red[0]);
}

// A cut of the sorted order: the candidates with key > key, then the first \`ties\` (in id order)
// of those with key == key; ties ALL: every one of them, uncounted.
struct Cut { key: u32, ties: f32 }
const ALL = -1.0;

/** (count, weight) of the candidates inside cut with key >= t. */
fn inside_from(t: u32, cut: Cut) -> vec2f {
  let all = cut.ties == ALL;
  var acc = vec2f(0.0);
  for (var i = lane; i < p.V; i += WG) {
    let k = key_at(i);
    if (k >= t && (k > cut.key || (all && k == cut.key))) { acc += vec2f(1.0, weight_of_key(k)); }
  }
  let tied = select(0.0, cut.ties, t <= cut.key && !all);
  return wg_sum(acc) + vec2f(tied, tied * weight_of_key(cut.key));
}
/** (count, weight) of the candidates inside cut with key > t (none above the largest key, NaNs'). */
fn inside_above(t: u32, cut: Cut) -> vec2f {
  return select(inside_from(t + 1u, cut), vec2f(0.0), t == 0xffffffffu);
}
/** How many candidates have key k. */
fn count_key(k: u32) -> f32 {
  var c = 0.0;
  for (var i = lane; i < p.V; i += WG) { c += select(0.0, 1.0, key_at(i) == k); }
  return wg_sum(vec2f(c, 0.0)).x;
}
/** The ties at key t that a cut holds: all of them, or only the cut's own when t is its key and it counts them. */
fn ties_at(t: u32, cut: Cut) -> f32 { return select(count_key(t), cut.ties, t == cut.key && cut.ties != ALL); }

/** The middle of [lo, hi], rounded up, without overflow. */
fn upper_mid(lo: u32, hi: u32) -> u32 { return lo + (hi - lo) / 2u + ((hi - lo) & 1u); }

/**
 * The largest key t in [lo0, hi] at which the candidates of cut with key >= t count (by_count) or
 * weigh more than need (or at least need, with at_least). The predicate must hold at lo0.
 */
fn largest_key(lo0: u32, hi: u32, cut: Cut, need: f32, by_count: bool, at_least: bool) -> u32 {
  var lo = lo0;
  var h = hi;
  for (var step = 0u; step < 32u; step++) {
    let mid = upper_mid(lo, h);
    let s = inside_from(mid, cut);
    let v = select(s.y, s.x, by_count);
    let ok = select(v > need, v >= need, at_least);
    lo = select(lo, mid, ok);
    h = select(mid - 1u, h, ok);
  }
  return lo;
}

/** The smallest key in [lo, hi] weighing at least min_p (hi: the largest logit's, weighing 1), on scalars alone. */
fn min_p_key(lo0: u32, hi: u32) -> u32 {
  var lo = lo0;
  var h = hi;
  for (var step = 0u; step < 32u; step++) {
    let mid = lo + (h - lo) / 2u;
    let ok = weight_of_key(mid) >= p.min_p;
    h = select(h, mid, ok);
    lo = select(mid + 1u, lo, ok);
  }
  return h;
}

/** The id of the j-th (from 0) candidate with key k, in id order. */
fn nth_with_key(k: u32, j: f32) -> u32 {
  var lo = 0u;
  var h = p.V - 1u;
  for (var step = 0u; step < p.index_steps; step++) {
    let mid = upper_mid(lo, h);
    var c = 0.0;
    for (var i = lane; i < mid; i += WG) { c += select(0.0, 1.0, key_at(i) == k); }
    let ok = wg_sum(vec2f(c, 0.0)).x <= j;
    lo = select(lo, mid, ok);
    h = select(mid - 1u, h, ok);
  }
  return lo;
}

/** The candidates of the row whose keys lie in [lo, hi] (hi: the largest logit's), after top-k, top-p and min-p; sets top and top_key. */
fn candidates(lo: u32, hi: u32) -> Cut {
  top_key = hi;
  top = bitcast<f32>(from_ordered_key(top_key));
  var cut = Cut(lo, ALL); // every candidate
  if (p.top_k < p.V) { cut = Cut(largest_key(lo, hi, cut, f32(p.top_k), true, true), ALL); }
  if (p.top_p < 1.0) {
    // the shortest prefix weighing at least top_p of the cut's weight
    let need = p.top_p * inside_from(lo, cut).y;
    let t = largest_key(cut.key, hi, cut, need, false, true);
    let above = inside_above(t, cut).y;
    let w = weight_of_key(t);
    let ties = ties_at(t, cut);
    cut = Cut(t, select(ties, clamp(ceil((need - above) / w), 1.0, ties), w > 0.0));
  }
  if (p.min_p > 0.0) {
    // those weighing at least min_p: a key threshold, every tie at it kept (weights are the key's)
    let t = min_p_key(cut.key, hi);
    if (t > cut.key) { cut = Cut(t, ALL); }
  }
  return cut;
}
`;

// The draw from the candidates: the first at which the running weight exceeds u times their weight.
const DRAW_WGSL = /* wgsl */ `
/** The id that u draws from row's candidates, whose keys lie in [lo, hi] (hi: the largest logit's). */
fn draw(row: u32, lo: u32, hi: u32) -> u32 {
  let cut = candidates(lo, hi);
  // the draw: the first candidate at which the running weight exceeds r, kept below the total (u < 1
  // puts it there; float32 rounding might not), so that the key found holds a candidate
  let total = inside_from(lo, cut).y;
  let r = min(u[row + p.row_shift] * total, bitcast<f32>(bitcast<u32>(total) - 1u));
  let t = largest_key(cut.key, hi, cut, r, false, false);
  let above = inside_above(t, cut).y;
  let ties = ties_at(t, cut);
  return nth_with_key(t, clamp(floor((r - above) / weight_of_key(t)), 0.0, ties - 1.0));
}
`;

// The candidates as a record: (cut key, the last id of its ties that it holds (all of them: past
// every id), top key, bits of their total weight). Id j is a candidate when key(j) > cut key, or
// key(j) == cut key and j <= the last id; its probability weight_of_key(key(j)) / total. Greedy
// (scale 0): the argmax alone.
const CUT_RECORD_WGSL = /* wgsl */ `
fn cut_record(range: vec3u) -> vec4u {
  if (p.scale == 0.0) { return vec4u(range.y, range.z, range.y, bitcast<u32>(1.0)); }
  let cut = candidates(range.x, range.y);
  let total = inside_from(range.x, cut).y;
  // found for ALL too (then unused): a branch around its barriers would not pass WGSL's uniformity analysis
  let last = select(nth_with_key(cut.key, max(cut.ties, 1.0) - 1.0), 0xffffffffu, cut.ties == ALL);
  return vec4u(cut.key, last, range.y, bitcast<u32>(total));
}
`;

/** Rows a workgroup takes: greedy at one lane a row 64 (no barriers: row.ts's CPU layout), else one (a draw's barriers are its row's). */
const rowsPerWorkgroup = (lanes: number, greedy: boolean) => (greedy && lanes === 1 ? 64 : 1);

const kernels = { draw: variants((WG: number) => sampleKernel(WG, 'draw')), greedy: variants((WG: number) => sampleKernel(WG, 'greedy')), cut: variants((WG: number) => sampleKernel(WG, 'cut')) };

/** Options of a draw: 1 / temperature (> 0; 0 = greedy), top-k (V = off), top-p (1 = off) and min-p (0 = off). */
export interface SampleParams {
  invTemperature: number;
  topK: number;
  topP: number;
  minP: number;
}

/** The lanes a row and the params of sample_rows (and of the kernels reading its records) for rows of V logits. */
export function sampleParams(V: number, s: SampleParams, greedy = s.invTemperature === 0): { lanes: number; params: Record<string, number> } {
  const lanes = lanesByLength(greedy ? profile().greedyLanes : profile().drawLanes, V);
  // the eighths of the gaps to (logit - top) / temperature; kept at float32's least normal number where
  // 1 / temperature is smaller (temperature past ~7e38): 0 would read as greedy to cut_record, a denormal may be flushed to it
  const scale = s.invTemperature === 0 ? 0 : Math.max(8 * s.invTemperature, 2 ** -126);
  const minGap = Math.max(-128 / scale, -F32_MAX / 4); // finite, also where 1 / temperature rounds to 0 in f32
  return { lanes, params: { V, scale, min_gap: minGap, top_k: Math.min(s.topK, V), top_p: s.topP, min_p: s.minP, index_steps: Math.ceil(Math.log2(V)), half: lanes / 2 } };
}

/** tokens[r] = the candidate of logits row r that u[r] picks (see the header). */
export function launchSample(logits: GPUBuffer, u: GPUBuffer, tokens: GPUBuffer, rows: number, V: number, s: SampleParams): void {
  const greedy = s.invTemperature === 0;
  const { lanes, params } = sampleParams(V, s);
  const buffers = [[logits, 'rows'], [u, 'row'], [tokens, 'row']] as const;
  const kernel = kernels[greedy ? 'greedy' : 'draw'](lanes);
  // rowGrid lays out 64 / lanes rows a workgroup: 64 lanes for a workgroup a row
  launchRowChunks('sampleLogits', () => ({ kernel, lanes: 64 / rowsPerWorkgroup(lanes, greedy) }), buffers, V, { rows, ...params });
}

/** cuts[r] (vec4u) = the record of logits row r's candidates (cut_record; greedy: its argmax), a workgroup a row; the logits bound whole. */
export function launchCandidates(logits: GPUBuffer, cuts: GPUBuffer, rows: number, V: number, s: SampleParams): void {
  const { lanes, params } = sampleParams(V, s, false); // a draw's lanes: the record's bisections are a draw's
  kernels.cut(lanes).launch([logits, cuts], { rows, ...params, shift: 0, row_shift: 0 }, gridRows(rows));
}
