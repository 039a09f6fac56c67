// Shared WGSL for row-wise kernels (softmax, layernorm, cross-entropy): one 64-lane workgroup per
// row, lanes striding over the row's C elements, and workgroup-wide sum / max reductions. Every
// lane must call the reductions (they contain barriers), also lanes of rows past the end.
export const ROW_WG = 64;

export const ROW_REDUCE = /* wgsl */ `
var<workgroup> red: array<f32, ${ROW_WG}>;
fn wg_sum(v: f32, lane: u32) -> f32 {
  red[lane] = v;
  workgroupBarrier();
  for (var s = ${ROW_WG / 2}u; s > 0u; s >>= 1u) {
    if (lane < s) { red[lane] += red[lane + s]; }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();
  return total;
}
fn wg_max(v: f32, lane: u32) -> f32 {
  red[lane] = v;
  workgroupBarrier();
  for (var s = ${ROW_WG / 2}u; s > 0u; s >>= 1u) {
    if (lane < s) { red[lane] = max(red[lane], red[lane + s]); }
    workgroupBarrier();
  }
  let m = red[0];
  workgroupBarrier();
  return m;
}`;

/** WGSL prelude of a row kernel's main: `row` (workgroup's row), `lane`, `live` (row < rows). */
export const ROW_MAIN_ARGS = `@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lane: u32`;
export const ROW_INDEX = `let row = wid.x + wid.y * nwg.x;\n  let live = row < p.rows;`;
