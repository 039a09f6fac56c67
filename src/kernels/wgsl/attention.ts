// Causal self-attention, flash style: online softmax, the [Tq, Tk] weights are never stored.
//   qkv [B, Tq, 3C]: nanoGPT's c_attn output, q | k | v, head h at columns h*HS .. h*HS+HS-1 of each.
//   kv  [B, Tk, 3C]: where keys and values are read; the queries are its last Tq positions
//                    (kv = qkv when training; the cached sequence when decoding).
//   y   [B, Tq, C]:  heads merged, ready for c_proj.   lse [B, NH, Tq]: log-sum-exp of each
//                    query's scaled scores, kept for the backward.
//   starts [B] (int32, the padded forward only): a batch of left-padded sequences; row b's keys
//                    before slot starts[b] are padding and never read (keyRange in
//                    attention-prelude.ts).
// Backward (kv = qkv): dq in one kernel (a lane per query; it also writes D = rowsum(dy * y)),
// then dk and dv in another (a lane per key), both recomputing p = exp(s - lse). No atomics.
// These kernels (for GPUs): 64 lanes per workgroup, one row (query or key) per lane, one workgroup
// per (b, h, 64 rows); the other side streams through workgroup memory in tiles of TILE rows.
// Specialised by HS (vec4-padded; loads and stores guard the padding) and TILE. On CPU adapters
// with 8-lane subgroups (llvmpipe), attention-subgroup.ts's kernels take their place.
import { Kernel, grid1d, type FloatType } from '../kernel.js';
import { profile } from '../profile.js';
import { forwardReads, keyRange, PARAMS, prelude, storeRow, unroller } from './attention-prelude.js';
import { backwardKeySgKernel, backwardQuerySgKernel, forwardSgKernel, SG } from './attention-subgroup.js';

const LANES = 64;

/** Rows per workgroup-memory tile: two tiles of HS floats per row stay within ~12 KB. */
function tileRows(hs: number): number {
  let t = 64;
  while (t > 4 && t * hs > 1536) t /= 2;
  return t;
}

/**
 * A kernel's `main`: this workgroup's (b, h) and 64-row block as `blk`, and this lane's row (a
 * query, or a key) as `r`, `live` when r < Tq; `tiles` are workgroup-memory tiles of TILE head
 * rows, `scalars` of TILE floats. `body` follows.
 */
function attentionMain(hs: number, tiles: string[], scalars: string[], body: string): string {
  return /* wgsl */ `
const TILE = ${tileRows(hs)}u;
${tiles.map((t) => `var<workgroup> ${t}: array<vec4f, TILE * V4>;`).join('\n')}
${scalars.map((t) => `var<workgroup> ${t}: array<f32, TILE>;`).join('\n')}

@compute @workgroup_size(${LANES})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lane: u32) {
  if (linear(wid, nwg, 1u) >= p.groups) { return; }
  let blk = block_of(wid, nwg, p.Tq);
  let r = blk.row0 + lane;
  let live = r < p.Tq;
${body}
}`;
}

/** Keys and values k0 .. k0 + TILE of `src` (rows [B, rows, 3C]) into the tiles ks, vs; then a barrier. */
function keyTile(src: string, rows: string): string {
  return /* wgsl */ `    for (var slot = lane; slot < TILE * V4; slot += ${LANES}u) {
      let j = k0 + slot / V4;
      if (j < ${rows}) {
        let base = (blk.b * ${rows} + j) * 3u * p.C + p.C + blk.h * HS;
        ks[slot] = load_${src}(base, slot % V4);
        vs[slot] = load_${src}(base + p.C, slot % V4);
      }
    }
    workgroupBarrier();`;
}

function forwardKernel(hs: number, padded: boolean, float: FloatType): Kernel {
  const u = unroller(hs);
  return new Kernel({
    name: `attention_forward${padded ? '_padded' : ''}${float === 'f16' ? '_f16' : ''}`,
    read: forwardReads(padded, float),
    write: { y: float, lse: 'f32' },
    params: PARAMS,
    body: /* wgsl */ `
${prelude(hs, ['qkv', 'kv'], LANES)}
${storeRow('y', hs, float)}
${keyRange(padded)}
${attentionMain(hs, ['ks', 'vs'], [], `
  let i = r;
  let past = p.Tk - p.Tq; // query i sits at position past + i and sees keys lo ..= past + i
  let lo = first_key(blk.b, past + i);
  var q: array<vec4f, V4>;
  var acc: array<vec4f, V4>;
  if (live) {
    let base = (blk.b * p.Tq + i) * 3u * p.C + blk.h * HS;
${u((d) => `    q[${d}] = load_qkv(base, ${d}u) * p.scale;`)}
  }
  var m = -1e30; // running max of the scores
  var l = 0.0;   // running sum of exp(score - m)
  let k_end = past + min(blk.row0 + ${LANES}u, p.Tq); // keys any lane of this block sees
  for (var k0 = first_key(blk.b, past + blk.row0); k0 < k_end; k0 += TILE) {
${keyTile('kv', 'p.Tk')}
    let n = select(0u, min(TILE, past + i + 1u - k0), live && past + i >= k0);
    for (var jj = select(0u, lo - k0, lo > k0); jj < n; jj++) {
      let row = jj * V4;
      let s = ${u((d) => `dot(q[${d}], ks[row + ${d}u])`, ' + ')};
      if (s > m) { // a new max: rescale what was summed so far
        let correction = exp(m - s);
        l *= correction;
${u((d) => `        acc[${d}] *= correction;`)}
        m = s;
      }
      let pj = exp(s - m);
      l += pj;
${u((d) => `      acc[${d}] += pj * vs[row + ${d}u];`)}
    }
    workgroupBarrier();
  }
  if (live) {
    let base = (blk.b * p.Tq + i) * p.C + blk.h * HS;
${u((d) => `    store_y(base, ${d}u, acc[${d}] / l);`)}
    lse[(blk.b * p.n_head + blk.h) * p.Tq + i] = m + log(l);
  }`)}`,
  });
}

// dq_i = scale * sum_j p_ij (dy_i . v_j - D_i) k_j, with D_i = dy_i . y_i
function backwardQueryKernel(hs: number, float: FloatType): Kernel {
  const u = unroller(hs);
  return new Kernel({
    name: `attention_backward_dq${float === 'f16' ? '_f16' : ''}`,
    read: { qkv: float, y: float, dy: float, lse: 'f32' },
    write: { dqkv: float, dsum: 'f32' },
    params: PARAMS,
    body: /* wgsl */ `
${prelude(hs, ['qkv', 'y', 'dy'], LANES)}
${storeRow('dqkv', hs, float)}
${attentionMain(hs, ['ks', 'vs'], [], `
  let i = r;
  var q: array<vec4f, V4>;
  var g: array<vec4f, V4>;
  var dq: array<vec4f, V4>;
  var lse_i = 0.0;
  var d_i = 0.0;
  if (live) {
    let base = (blk.b * p.Tq + i) * 3u * p.C + blk.h * HS;
    let ybase = (blk.b * p.Tq + i) * p.C + blk.h * HS;
${u((d) => `    q[${d}] = load_qkv(base, ${d}u) * p.scale;
    g[${d}] = load_dy(ybase, ${d}u);
    d_i += dot(g[${d}], load_y(ybase, ${d}u));`)}
    lse_i = lse[(blk.b * p.n_head + blk.h) * p.Tq + i];
    dsum[(blk.b * p.n_head + blk.h) * p.Tq + i] = d_i;
  }
  let k_end = min(blk.row0 + ${LANES}u, p.Tq);
  for (var k0 = 0u; k0 < k_end; k0 += TILE) {
${keyTile('qkv', 'p.Tq')}
    let n = select(0u, min(TILE, i + 1u - k0), live && i >= k0);
    for (var jj = 0u; jj < n; jj++) {
      let row = jj * V4;
      let s = ${u((d) => `dot(q[${d}], ks[row + ${d}u])`, ' + ')};
      let dp = ${u((d) => `dot(g[${d}], vs[row + ${d}u])`, ' + ')};
      let ds = exp(s - lse_i) * (dp - d_i);
${u((d) => `      dq[${d}] += ds * ks[row + ${d}u];`)}
    }
    workgroupBarrier();
  }
  if (live) {
    let base = (blk.b * p.Tq + i) * 3u * p.C + blk.h * HS;
${u((d) => `    store_dqkv(base, ${d}u, dq[${d}] * p.scale);`)}
  }`)}`,
  });
}

// dv_j = sum_i p_ij dy_i;  dk_j = scale * sum_i p_ij (dy_i . v_j - D_i) q_i   (queries i >= j)
function backwardKeyKernel(hs: number, float: FloatType): Kernel {
  const u = unroller(hs);
  return new Kernel({
    name: `attention_backward_dkv${float === 'f16' ? '_f16' : ''}`,
    read: { qkv: float, dy: float, lse: 'f32', dsum: 'f32' },
    write: { dqkv: float },
    params: PARAMS,
    body: /* wgsl */ `
${prelude(hs, ['qkv', 'dy'], LANES)}
${storeRow('dqkv', hs, float)}
${attentionMain(hs, ['qs', 'gs'], ['lses', 'dsums'], `
  let j = r;
  var k: array<vec4f, V4>;
  var v: array<vec4f, V4>;
  var dk: array<vec4f, V4>;
  var dv: array<vec4f, V4>;
  if (live) {
    let base = (blk.b * p.Tq + j) * 3u * p.C + p.C + blk.h * HS;
${u((d) => `    k[${d}] = load_qkv(base, ${d}u) * p.scale;
    v[${d}] = load_qkv(base + p.C, ${d}u);`)}
  }
  let lse_base = (blk.b * p.n_head + blk.h) * p.Tq;
  for (var q0 = blk.row0; q0 < p.Tq; q0 += TILE) { // TILE divides 64: queries i >= j start here
    for (var slot = lane; slot < TILE * V4; slot += ${LANES}u) {
      let i = q0 + slot / V4;
      if (i < p.Tq) {
        qs[slot] = load_qkv((blk.b * p.Tq + i) * 3u * p.C + blk.h * HS, slot % V4);
        gs[slot] = load_dy((blk.b * p.Tq + i) * p.C + blk.h * HS, slot % V4);
      }
    }
    for (var r = lane; r < TILE; r += ${LANES}u) {
      if (q0 + r < p.Tq) {
        lses[r] = lse[lse_base + q0 + r];
        dsums[r] = dsum[lse_base + q0 + r];
      }
    }
    workgroupBarrier();
    let first = select(0u, j - q0, j > q0); // queries i >= j of this tile
    let end = select(0u, min(TILE, p.Tq - q0), live);
    for (var ii = first; ii < end; ii++) {
      let row = ii * V4;
      let s = ${u((d) => `dot(k[${d}], qs[row + ${d}u])`, ' + ')};
      let dp = ${u((d) => `dot(v[${d}], gs[row + ${d}u])`, ' + ')};
      let pij = exp(s - lses[ii]);
      let ds = pij * (dp - dsums[ii]);
${u((d) => `      dv[${d}] += pij * gs[row + ${d}u];
      dk[${d}] += ds * qs[row + ${d}u];`)}
    }
    workgroupBarrier();
  }
  if (live) {
    let base = (blk.b * p.Tq + j) * 3u * p.C + p.C + blk.h * HS;
${u((d) => `    store_dqkv(base, ${d}u, dk[${d}] * p.scale);
    store_dqkv(base + p.C, ${d}u, dv[${d}]);`)}
  }`)}`,
  });
}

type Kind = 'fwd' | 'fwd_padded' | 'dq' | 'dkv';
const WORKGROUP_KERNELS = {
  fwd: (hs: number, float: FloatType) => forwardKernel(hs, false, float),
  fwd_padded: (hs: number, float: FloatType) => forwardKernel(hs, true, float),
  dq: backwardQueryKernel,
  dkv: backwardKeyKernel,
};
const SUBGROUP_KERNELS = {
  fwd: (hs: number, float: FloatType) => forwardSgKernel(hs, false, float),
  fwd_padded: (hs: number, float: FloatType) => forwardSgKernel(hs, true, float),
  dq: backwardQuerySgKernel,
  dkv: backwardKeySgKernel,
};

const cache = new Map<string, Kernel>();
function kernel(kind: Kind, hs: number, subgroups: boolean, float: FloatType): Kernel {
  const key = `${kind}:${hs}:${subgroups}:${float}`;
  let k = cache.get(key);
  if (!k) cache.set(key, (k = (subgroups ? SUBGROUP_KERNELS : WORKGROUP_KERNELS)[kind](hs, float)));
  return k;
}

export interface AttentionShape {
  B: number;
  nHead: number;
  /** Model width; head size is C / nHead. */
  C: number;
  Tq: number;
  Tk: number;
  /** How qkv, y and their gradients store their elements (f32 when absent); lse is f32. */
  float?: FloatType;
}

function launchArgs(s: AttentionShape) {
  const subgroups = profile().subgroupSharing; // SG-lane subgroups (the profile checks the size)
  const lanes = subgroups ? SG : LANES;
  const blocks = s.B * s.nHead * Math.ceil(s.Tq / lanes);
  const params = { B: s.B, n_head: s.nHead, C: s.C, Tq: s.Tq, Tk: s.Tk, scale: 1 / Math.sqrt(s.C / s.nHead), groups: blocks };
  return { params, grid: grid1d(blocks, 1), hs: s.C / s.nHead, subgroups, float: s.float ?? 'f32' };
}

/**
 * y [B, Tq, C] and lse [B, NH, Tq] from packed qkv [B, Tq, 3C] and kv [B, Tk, 3C]; with `starts`
 * (int32 [B]), row b's keys before slot starts[b] are left out (left padding).
 */
export function launchAttention(
  b: { qkv: GPUBuffer; kv: GPUBuffer; starts?: GPUBuffer; y: GPUBuffer; lse: GPUBuffer },
  s: AttentionShape,
): void {
  const { params, grid, hs, subgroups, float } = launchArgs(s);
  if (!params.groups) return;
  if (b.starts) kernel('fwd_padded', hs, subgroups, float).launch([b.qkv, b.kv, b.starts, b.y, b.lse], params, grid);
  else kernel('fwd', hs, subgroups, float).launch([b.qkv, b.kv, b.y, b.lse], params, grid);
}

/** dqkv [B, T, 3C] (fully written) from the forward's qkv, y, lse and the upstream dy; dsum is scratch [B, NH, T]. */
export function launchAttentionBackward(
  b: { qkv: GPUBuffer; y: GPUBuffer; dy: GPUBuffer; lse: GPUBuffer; dsum: GPUBuffer; dqkv: GPUBuffer },
  s: AttentionShape,
): void {
  const { params, grid, hs, subgroups, float } = launchArgs(s);
  if (!params.groups) return;
  kernel('dq', hs, subgroups, float).launch([b.qkv, b.y, b.dy, b.lse, b.dqkv, b.dsum], params, grid);
  kernel('dkv', hs, subgroups, float).launch([b.qkv, b.dy, b.lse, b.dsum, b.dqkv], params, grid);
}
