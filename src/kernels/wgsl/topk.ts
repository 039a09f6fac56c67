// topk_rows: the k largest elements of each row of x [R, V] (f32 or f16) and their ids, largest
// first, ties by the lower id first (torch's stable descending sort), NaN above every number (torch's),
// -0 tied with +0. Elements compare by (ordered key, id): the key of src/kernels/wgsl/elementwise.ts
// ordered_key (NaNs' the top one), the lower id winning a tie.
// One pass over the row per CAP of k: each lane keeps a sorted private list of the best `take`
// (at most CAP) of its strided slice, then the workgroup merges the lanes' lists: `take` rounds of
// a tree over the lanes' heads, the winner's lane stepping on. k past CAP takes more passes in the
// same dispatch, each over what comes after the previous pass's last pick: ceil(k / CAP) passes
// (k = V of 50,257: 1,571). Values are read back from x (an f32 output for either input: the op
// rounds it to f16, exactly), ids as i32.
// Layout: x row-major [R, V]; values f32 and indices i32 [R, k]. WG lanes a row striding over it,
// as the profile's greedyLanes choose by V (one pass over the row, as greedy's: src/kernels/profile.ts),
// a workgroup a row; at one lane a row 64 rows a workgroup and no merge (no barriers). Tensors
// larger than a binding go a chunk of rows at a time (row.ts launchRowChunks: `shift`, `stats_shift`).
// topk_scatter (the backward): dx [R, V] (zeroed by the caller) gets g [R, k] (f32) at the ids: a
// workgroup a row, 64 lanes over its k. A row's ids are distinct, so no two lanes write one element.
// Called by src/ops/topk.ts.
import { floatSuffix, Kernel, narrow, variants, type FloatType } from '../kernel.js';
import { lanesByLength, profile } from '../profile.js';
import { ORDERED_WGSL } from './elementwise.js';
import { launchRowChunks, rowMain } from './row.js';

/** The most of k one pass over a row finds: the length of a lane's private list. */
export const TOPK_CAP = 32;

/** Rows a workgroup takes: one lane a row 64 (no barriers, row.ts's CPU layout), else one. */
const rowsPerWorkgroup = (lanes: number) => (lanes === 1 ? 64 : 1);

function topkKernel(WG: number, float: FloatType): Kernel {
  const rows = rowsPerWorkgroup(WG);
  return new Kernel({
    name: `topk_rows_${WG}${floatSuffix(float)}`,
    read: { x: float },
    write: { values: 'f32', indices: 'i32' },
    params: { rows: 'u32', V: 'u32', k: 'u32', shift: 'u32', stats_shift: 'u32' },
    body: /* wgsl */ `
${ORDERED_WGSL}
const WG = ${WG}u;
const CAP = ${TOPK_CAP}u;
${WG === 1 ? '' : 'var<workgroup> heads: array<vec2u, WG>;'}
var<private> keys: array<u32, CAP>;
var<private> ids: array<u32, CAP>;

// x[i]'s key, -0 as +0 (the bits: WGSL may assume finite floats)
fn key_of(v: f32) -> u32 {
  let bits = bitcast<u32>(v);
  return ordered_key(select(bits, 0u, (bits & 0x7fffffffu) == 0u));
}
/** Whether (key a, id a) comes before (key b, id b): the larger key, or the same and the lower id. */
fn before(a: vec2u, b: vec2u) -> bool { return a.x > b.x || (a.x == b.x && a.y < b.y); }

@compute @workgroup_size(${WG}, ${rows})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let lane = lid.x;
  let row = ${rows === 1 ? 'wid.x + wid.y * nwg.x' : `(wid.x + wid.y * nwg.x) * ${rows}u + lid.y`};
  if (row >= p.rows) { return; } // the same for the whole workgroup where it has barriers (a row to itself)
  let base = p.shift + row * p.V;
  let out = p.stats_shift + row * p.k;
  var last = vec2u(0xffffffffu, 0u); // the previous pass's last pick; before the first, nothing is taken
  for (var first = 0u; first < p.k; first += CAP) {
    let take = min(CAP, p.k - first);
    var held = 0u;
    // a lane meets its ids in order: a tie never moves ahead of what it holds
    for (var i = lane; i < p.V; i += WG) {
      let e = vec2u(key_of(f32(x[base + i])), i);
      if ((first > 0u && !before(last, e)) || (held == take && !before(e, vec2u(keys[take - 1u], ids[take - 1u])))) { continue; }
      var j = min(held, take - 1u);
      held = min(held + 1u, take);
      for (; j > 0u && before(e, vec2u(keys[j - 1u], ids[j - 1u])); j--) { keys[j] = keys[j - 1u]; ids[j] = ids[j - 1u]; }
      keys[j] = e.x;
      ids[j] = e.y;
    }
    ${WG === 1 ? ONE_LANE_WGSL : MERGE_WGSL}
  }
}`,
  });
}

// one lane a row: its list is the row's
const ONE_LANE_WGSL = /* wgsl */ `for (var j = 0u; j < take; j++) {
      values[out + first + j] = f32(x[base + ids[j]]);
      indices[out + first + j] = i32(ids[j]);
    }
    last = vec2u(keys[take - 1u], ids[take - 1u]);`;

// take rounds: the best of the lanes' heads (a tree), whose lane steps on; key 0 is below every
// element's (-Inf's is 0x007fffff), so a lane with nothing left never wins
const MERGE_WGSL = /* wgsl */ `var at = 0u;
    for (var j = 0u; j < take; j++) {
      let mine = vec2u(keys[min(at, CAP - 1u)], ids[min(at, CAP - 1u)]);
      heads[lane] = select(vec2u(0u, 0xffffffffu), mine, at < held);
      workgroupBarrier();
      for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lane < s && before(heads[lane + s], heads[lane])) { heads[lane] = heads[lane + s]; }
        workgroupBarrier();
      }
      last = workgroupUniformLoad(&heads[0]);
      if (at < held && mine.y == last.y) { at++; }
      if (lane == 0u) {
        values[out + first + j] = f32(x[base + last.y]);
        indices[out + first + j] = i32(last.y);
      }
    }`;

function scatterKernel(float: FloatType): Kernel {
  return new Kernel({
    name: `topk_scatter${floatSuffix(float)}`,
    read: { g: 'f32', indices: 'i32' },
    write: { dx: float },
    params: { rows: 'u32', V: 'u32', k: 'u32', shift: 'u32', stats_shift: 'u32' },
    body: rowMain(64, 'p.V', /* wgsl */ `
  if (!live) { return; }
  for (var j = lane; j < p.k; j += ROW_LANES) {
    let at = p.stats_shift + row * p.k + j;
    dx[base + u32(indices[at])] = ${narrow(float, 'g[at]')};
  }`, 'p.shift'),
  });
}

const kernels = variants((key: `${number}${FloatType}`) => topkKernel(parseInt(key, 10), key.endsWith('f16') ? 'f16' : 'f32'));
const scatters = variants(scatterKernel);

/** values[r, j], indices[r, j] = the j-th largest of x's row r and its id (see the header), for rows of V and k >= 1. */
export function launchTopk(x: GPUBuffer, values: GPUBuffer, indices: GPUBuffer, rows: number, V: number, k: number, float: FloatType): void {
  const lanes = lanesByLength(profile().greedyLanes, V);
  const kernel = kernels(`${lanes}${float}`);
  // rowGrid lays out 64 / lanes rows a workgroup: 64 lanes for a workgroup a row
  const buffers = [[x, 'rows'], [values, 'stats'], [indices, 'stats']] as const;
  launchRowChunks('topk', () => ({ kernel, lanes: 64 / rowsPerWorkgroup(lanes) }), buffers, V, { rows, V, k }, float, k);
}

/** dx[r, indices[r, j]] = g[r, j] for rows of V, k ids each; dx's other elements are left as they are. */
export function launchTopkScatter(g: GPUBuffer, indices: GPUBuffer, dx: GPUBuffer, rows: number, V: number, k: number, float: FloatType): void {
  const buffers = [[g, 'stats'], [indices, 'stats'], [dx, 'rows']] as const;
  launchRowChunks('topk backward', () => ({ kernel: scatters(float), lanes: 64 }), buffers, V, { rows, V, k }, float, k);
}
