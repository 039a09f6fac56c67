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

export const ROW_MAIN_ARGS = `@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lane: u32`;

/**
 * WGSL prelude of a row kernel's main for rows of `len` elements: `row` (this workgroup's row),
 * `live` (row < p.rows), `base` (its first element) and `n` (its length; 0 past the last row, so
 * spare workgroups loop zero times but still reach the barriers).
 */
export function rowIndex(len: string): string {
  return `let row = wid.x + wid.y * nwg.x;
  let live = row < p.rows;
  let base = select(0u, row * ${len}, live);
  let n = select(0u, ${len}, live);`;
}
