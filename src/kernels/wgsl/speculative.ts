// speculative_rule: one round of speculative sampling (Leviathan et al. 2023; Chen et al. 2023)
// on the candidates of sample_rows (sample.ts, mode 'cut': a record per row of logits), so that a
// round reads back two numbers, not rows of logits. Rows: the target's k + 1, then the draft's k;
// p_i(j) and q_i(j) are weight_of_key(key(j)) / total inside a row's cut, 0 outside, exactly the
// distributions sampleLogits draws from. Draft i (ids[i]) is kept when u[i] * q_i(x) < p_i(x); at
// the first rejection the token is drawn from max(0, p_i - q_i) (p_i itself should that have no
// mass), with all kept from p_k, each by the inverse CDF in id order with u[k] (the host's
// drawFrom, src/check/reference/speculative.ts, the float64 statement this kernel follows).
// out = [accepted, token]; where a row has no distribution, [that row, -1] (target rows first).
//
// Layout: logits [2k + 1, V] f32 bound whole; cuts [2k + 1] vec4u; ids [k] i32; u [k + 1] f32;
// out [2] i32. One workgroup of WG lanes. The decisions are a few loads: lane 0 takes them. The
// draw's inverse CDF: each lane sums a contiguous chunk of ids, lane 0 turns the sums into
// starts, each lane walks its chunk from its start, and the first id any lane finds past r wins
// (a lane's float32 running sum may round past r a little off the true crossing; r at or past
// the total: the last id with mass, as the host walk ends). Called by src/ops/speculative.ts.
import { Kernel, variants } from '../kernel.js';
import { KEY_WGSL } from './sample.js';

function ruleKernel(WG: number): Kernel {
  return new Kernel({
    name: `speculative_rule_${WG}`,
    read: { logits: 'f32', cuts: 'vec4u', ids: 'i32', u: 'f32' },
    write: { out: 'i32' },
    params: { k: 'u32', V: 'u32', scale: 'f32', min_gap: 'f32', chunk: 'u32', half: 'u32' },
    body: /* wgsl */ `
${KEY_WGSL}
const WG = ${WG}u;
const NONE = 0xffffffffu;
var<workgroup> sums: array<f32, WG>;
var<workgroup> found: array<vec2u, WG>;
var<workgroup> decided: vec2u;
var<workgroup> mass_total: f32;
var<private> lane: u32;
var<private> p_row: u32; // the row drawn from
var<private> q_row: u32; // the row whose mass is taken off p_row's (NONE: none)

/** Probability of id j in row r: its weight inside the row's cut over the cut's total. */
fn prob(r: u32, j: u32) -> f32 {
  let c = cuts[r];
  base = r * p.V;
  top_key = c.z;
  top = bitcast<f32>(from_ordered_key(top_key));
  let key = key_at(j);
  let inside = key > c.x || (key == c.x && j <= c.y);
  return select(0.0, weight_of_key(key) / bitcast<f32>(c.w), inside);
}
/** The mass of id j drawn from: max(0, p - q), or p alone. */
fn mass(j: u32) -> f32 {
  let pj = prob(p_row, j);
  return select(max(0.0, pj - prob(q_row, j)), pj, q_row == NONE);
}
/** The first id at which the running mass in id order exceeds uu times the whole; NONE when nothing has mass. Every lane must call it. */
fn draw_ids(uu: f32) -> u32 {
  let start = min(p.V, lane * p.chunk);
  let end = min(p.V, start + p.chunk);
  var s = 0.0;
  for (var j = start; j < end; j++) { s += mass(j); }
  sums[lane] = s;
  workgroupBarrier();
  if (lane == 0u) {
    var run = 0.0;
    for (var l = 0u; l < WG; l++) { let v = sums[l]; sums[l] = run; run += v; }
    mass_total = run;
  }
  let total = workgroupUniformLoad(&mass_total);
  if (total <= 0.0) { return NONE; }
  let r = uu * total;
  // (first id past r, 1 + the last id with mass; 0: none) of this lane's chunk
  var f = vec2u(NONE, 0u);
  var run = sums[lane];
  for (var j = start; j < end; j++) {
    let m = mass(j);
    if (m > 0.0) {
      f.y = j + 1u;
      run += m;
      if (run > r && f.x == NONE) { f.x = j; }
    }
  }
  found[lane] = f;
  workgroupBarrier();
  for (var s2 = p.half; s2 > 0u; s2 >>= 1u) {
    if (lane < s2) { found[lane] = vec2u(min(found[lane].x, found[lane + s2].x), max(found[lane].y, found[lane + s2].y)); }
    workgroupBarrier();
  }
  let all = workgroupUniformLoad(&found[0]);
  return select(all.y - 1u, all.x, all.x != NONE);
}

@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_id) lid: vec3u) {
  lane = lid.x;
  let k = p.k;
  if (lane == 0u) {
    var d = vec2u(NONE, k); // (the first row with no distribution, the first draft rejected)
    for (var r = 0u; r < 2u * k + 1u; r++) {
      if (no_distribution(cuts[r].z)) { d.x = r; break; }
    }
    for (var i = 0u; i < k && d.x == NONE; i++) {
      let x = u32(ids[i]); // -1 (no draw) wraps past V: p = q = 0, rejected
      let px = select(0.0, prob(i, x), x < p.V);
      let qx = select(0.0, prob(k + 1u + i, x), x < p.V);
      // kept with probability min(1, p / q), without the division
      if (!(u[i] * qx < px)) { d.y = i; break; }
    }
    decided = d;
  }
  let d = workgroupUniformLoad(&decided);
  if (d.x != NONE) {
    if (lane == 0u) { out[0] = i32(d.x); out[1] = -1; }
    return;
  }
  p_row = d.y;
  q_row = select(NONE, k + 1u + d.y, d.y < k);
  var id = draw_ids(u[k]);
  if (id == NONE) {
    // the residual has no mass (p <= q everywhere, up to rounding): p itself, as the host
    q_row = NONE;
    id = draw_ids(u[k]);
  }
  if (lane == 0u) { out[0] = i32(d.y); out[1] = i32(id); }
}`,
  });
}

const kernels = variants(ruleKernel);

/**
 * out = [accepted, token] of a round over k drafts `ids` with the uniform numbers u ([k + 1]),
 * from logits [2k + 1, V] and their candidates' records `cuts` (launchCandidates); `params` from
 * sampleParams: its lanes and the weight's scale.
 */
export function launchSpeculativeRule(logits: GPUBuffer, cuts: GPUBuffer, ids: GPUBuffer, u: GPUBuffer, out: GPUBuffer, k: number, V: number, lanes: number, scale: { scale: number; min_gap: number }): void {
  const chunk = Math.ceil(V / lanes);
  kernels(lanes).launch([logits, cuts, ids, u, out], { k, V, ...scale, chunk, half: lanes / 2 }, [1, 1, 1]);
}
