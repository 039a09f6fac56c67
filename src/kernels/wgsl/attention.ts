// Causal self-attention, flash style: online softmax, the [Tq, Tk] weights are never stored.
//   qkv [B, Tq, 3C]: nanoGPT's c_attn output, q | k | v, head h at columns h*HS .. h*HS+HS-1 of each.
//   kv  [B, R, 3C]: where keys and values are read, the first Tk of each row's R >= Tk slots; the
//                    queries are their last Tq positions (kv = qkv when training, R = Tk = Tq; a
//                    KV cache with room to grow when decoding).
//   y   [B, Tq, C]:  heads merged, ready for c_proj.   lse [B, NH, Tq]: log-sum-exp of each
//                    query's scaled scores, kept for the backward.
//   starts [B] (int32, the padded forward only): a batch of left-padded sequences; row b's keys
//                    before slot starts[b] are padding and never read (keyRange in
//                    attention-prelude.ts).
// Backward (kv = qkv): dq in one kernel (a lane per query; it also writes D = rowsum(dy * y)),
// then dk and dv in another (a lane per key), both recomputing p = exp(s - lse). No atomics.
// Training may drop attention weights (attention-prelude.ts: a mask regenerated from the seed):
// a kept weight is z = 1 / (1 - p) times p_ij, a dropped one 0; lse stays that of the undropped
// weights, and with dp_ij = dy_i . v_j the gradients are dv_j = sum_i z p_ij dy_i and
// ds_ij = p_ij (z dp_ij - D_i), D_i = dy_i . y_i = sum_j z p_ij dp_ij as without dropout.
// These kernels (for GPUs): 64 lanes per workgroup, one row (query or key) per lane, one workgroup
// per (b, h, 64 rows); the other side streams through workgroup memory in tiles of TILE rows.
// Specialised by HS (vec4-padded; loads and stores guard the padding) and TILE. On CPU adapters
// with 8-lane subgroups (llvmpipe), attention-subgroup.ts's kernels take their place.
import { device } from '../../device/device.js';
import { tuned, type Tunable } from '../autotune.js';
import { floatBytes, Kernel, grid1d, type FloatType } from '../kernel.js';
import { ATTENTION_KEYS, profile, type AttentionKeys } from '../profile.js';
import { dropoutHelpers, eachVec4, forwardReads, keyRange, NO_SCORE, PARAMS, prelude, storeRow, suffix } from './attention-prelude.js';
import { backwardKeySgKernel, backwardQuerySgKernel, forwardSgKernel, SG } from './attention-subgroup.js';
import { splitSeed } from './random.js';

const LANES = 64;
/** Floats of one tile of head rows at most (6 KB): a kernel's two such tiles stay within ~12 KB. */
const TILE_FLOATS = 1536;

/**
 * Rows per workgroup-memory tile (a power of two dividing 64) for a kernel whose tiles take
 * `rowBytes` a row: a tile of HS floats per row within TILE_FLOATS, and all within the adapter's
 * workgroup memory; a head row too long for even one row a tile is refused.
 */
function tileRows(hs: number, rowBytes: number): number {
  const room = device().info.limits.maxComputeWorkgroupStorageSize ?? 16384;
  let t = 64;
  while (t > 1 && (t * hs > TILE_FLOATS || t * rowBytes > room)) t /= 2;
  if (t * rowBytes > room) {
    throw new Error(`causalAttention: head size ${hs} needs ${rowBytes} bytes of workgroup memory, this adapter allows ${room} (maxComputeWorkgroupStorageSize): use more heads`);
  }
  return t;
}

/**
 * A kernel's `main`: this workgroup's (b, h) and 64-row block as `blk`, its head row
 * b * n_head + h as `bh`, and this lane's row (a query, or a key) as `r`, `live` when r < Tq;
 * `tiles` are workgroup-memory tiles of TILE head rows, `scalars` of TILE floats, `words` of
 * 4 TILE u32. `body` follows.
 */
function attentionMain(hs: number, tiles: string[], scalars: string[], body: string, words: string[] = []): string {
  const rowBytes = 16 * Math.ceil(hs / 4) * tiles.length + 4 * scalars.length + 16 * words.length;
  return /* wgsl */ `
const TILE = ${tileRows(hs, rowBytes)}u;
${tiles.map((t) => `var<workgroup> ${t}: array<vec4f, TILE * V4>;`).join('\n')}
${scalars.map((t) => `var<workgroup> ${t}: array<f32, TILE>;`).join('\n')}
${words.map((t) => `var<workgroup> ${t}: array<u32, 4u * TILE>;`).join('\n')}

@compute @workgroup_size(${LANES})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lane: u32) {
  if (linear(wid, nwg, 1u) >= p.groups) { return; }
  let blk = block_of(wid, nwg, p.Tq);
  let bh = blk.b * p.n_head + blk.h;
  let r = blk.row0 + lane;
  let live = r < p.Tq;
${body}
}`;
}

/** Keys and values k0 .. k0 + TILE of `src` (rows [B, rows, 3C]) into the tiles ks, vs; then a barrier. */
function keyTile(src: string, rows: string, stride = rows): string {
  return /* wgsl */ `    for (var slot = lane; slot < TILE * V4; slot += ${LANES}u) {
      let j = k0 + slot / V4;
      if (j < ${rows}) {
        let base = (blk.b * ${stride} + j) * 3u * p.C + p.C + blk.h * HS;
        ks[slot] = load_${src}(base, slot % V4);
        vs[slot] = load_${src}(base + p.C, slot % V4);
      }
    }
    workgroupBarrier();`;
}

/**
 * WGSL: `z`, the dropout factor of key j (= k0 + jj) for this lane's query i, in a loop over
 * keys that starts at a multiple of 4 (no padding when dropping); one draw per four keys.
 */
const keyFactor = (dropping: boolean) =>
  dropping
    ? `      let j = k0 + jj;
      if ((j & 3u) == 0u) { words = dropout_words(bh, i, j >> 2u); }
      let z = keep(words[j & 3u]);`
    : '';

function forwardKernel(hs: number, padded: boolean, float: FloatType, dropping = false): Kernel {
  const each = eachVec4(hs);
  return new Kernel({
    name: `attention_forward${padded ? '_padded' : ''}${suffix(float, dropping)}`,
    read: forwardReads(padded, float),
    write: { y: float, lse: 'f32' },
    params: PARAMS,
    body: /* wgsl */ `
${prelude(hs, ['qkv', 'kv'], LANES)}
${storeRow('y', hs, float)}
${keyRange(padded)}
${dropoutHelpers(dropping)}
${attentionMain(hs, ['ks', 'vs'], [], `
  let i = r;
  let past = p.Tk - p.Tq; // query i sits at position past + i and sees keys lo ..= past + i
  let lo = first_key(blk.b, past + i);
  var q: array<vec4f, V4>;
  var acc: array<vec4f, V4>;
  if (live) {
    let base = (blk.b * p.Tq + i) * 3u * p.C + blk.h * HS;
${each((d) => `    q[${d}] = load_qkv(base, ${d}) * p.scale;`)}
  }
  var m = ${NO_SCORE}; // running max of the scores
  var l = 0.0;   // running sum of exp(score - m)${dropping ? `
  var words: vec4u;` : ''}
  let k_end = past + min(blk.row0 + ${LANES}u, p.Tq); // keys any lane of this block sees
  for (var k0 = first_key(blk.b, past + blk.row0); k0 < k_end; k0 += TILE) {
${keyTile('kv', 'p.Tk', 'p.kv_rows')}
    let n = select(0u, min(TILE, past + i + 1u - k0), live && past + i >= k0);
    for (var jj = select(0u, lo - k0, lo > k0); jj < n; jj++) {
      let row = jj * V4;
      var s = 0.0;
${each((d) => `      s += dot(q[${d}], ks[row + ${d}]);`)}
      if (s > m) { // a new max: rescale what was summed so far
        let correction = exp(m - s);
        l *= correction;
${each((d) => `        acc[${d}] *= correction;`)}
        m = s;
      }
      let pj = exp(s - m);
      l += pj;
${keyFactor(dropping)}
${each((d) => `      acc[${d}] += ${dropping ? 'z * ' : ''}pj * vs[row + ${d}];`)}
    }
    workgroupBarrier();
  }
  if (live) {
    let base = (blk.b * p.Tq + i) * p.C + blk.h * HS;
${each((d) => `    store_y(base, ${d}, acc[${d}] / l);`)}
    lse[(blk.b * p.n_head + blk.h) * p.Tq + i] = m + log(l);
  }`)}`,
  });
}

// dq_i = scale * sum_j p_ij (dy_i . v_j - D_i) k_j, with D_i = dy_i . y_i
function backwardQueryKernel(hs: number, float: FloatType, dropping = false): Kernel {
  const each = eachVec4(hs);
  return new Kernel({
    name: `attention_backward_dq${suffix(float, dropping)}`,
    read: { qkv: float, y: float, dy: float, lse: 'f32' },
    write: { dqkv: float, dsum: 'f32' },
    params: PARAMS,
    body: /* wgsl */ `
${prelude(hs, ['qkv', 'y', 'dy'], LANES)}
${storeRow('dqkv', hs, float)}
${dropoutHelpers(dropping)}
${attentionMain(hs, ['ks', 'vs'], [], `
  let i = r;
  var q: array<vec4f, V4>;
  var g: array<vec4f, V4>;
  var dq: array<vec4f, V4>;
  var lse_i = 0.0;
  var d_i = 0.0;${dropping ? `
  var words: vec4u;` : ''}
  if (live) {
    let base = (blk.b * p.Tq + i) * 3u * p.C + blk.h * HS;
    let ybase = (blk.b * p.Tq + i) * p.C + blk.h * HS;
${each((d) => `    q[${d}] = load_qkv(base, ${d}) * p.scale;
    g[${d}] = load_dy(ybase, ${d});
    d_i += dot(g[${d}], load_y(ybase, ${d}));`)}
    lse_i = lse[(blk.b * p.n_head + blk.h) * p.Tq + i];
    dsum[(blk.b * p.n_head + blk.h) * p.Tq + i] = d_i;
  }
  let k_end = min(blk.row0 + ${LANES}u, p.Tq);
  for (var k0 = 0u; k0 < k_end; k0 += TILE) {
${keyTile('qkv', 'p.Tq')}
    let n = select(0u, min(TILE, i + 1u - k0), live && i >= k0);
    for (var jj = 0u; jj < n; jj++) {
      let row = jj * V4;
      var s = 0.0;
${each((d) => `      s += dot(q[${d}], ks[row + ${d}]);`)}
      var dp = 0.0;
${each((d) => `      dp += dot(g[${d}], vs[row + ${d}]);`)}
${keyFactor(dropping)}
      let ds = exp(s - lse_i) * (${dropping ? 'z * ' : ''}dp - d_i);
${each((d) => `      dq[${d}] += ds * ks[row + ${d}];`)}
    }
    workgroupBarrier();
  }
  if (live) {
    let base = (blk.b * p.Tq + i) * 3u * p.C + blk.h * HS;
${each((d) => `    store_dqkv(base, ${d}, dq[${d}] * p.scale);`)}
  }`)}`,
  });
}

/** What a key kernel writes: dk and dv together, or one of them (two kernels; see AttentionKeys). */
type KeyPart = 'dkv' | 'dk' | 'dv';

// dv_j = sum_i p_ij dy_i;  dk_j = scale * sum_i p_ij (dy_i . v_j - D_i) q_i   (queries i >= j)
// Together a lane holds four head rows (k, v, dk, dv); apart, dv's kernel holds two (k, dv) and
// dk's three (k, v, dk), each recomputing p_ij: the same sums in the same order either way.
function backwardKeyKernel(hs: number, float: FloatType, dropping = false, part: KeyPart = 'dkv'): Kernel {
  const each = eachVec4(hs);
  const [dk, dv] = [part !== 'dv', part !== 'dk'];
  const z = dropping ? 'z * ' : '';
  return new Kernel({
    name: `attention_backward_${part}${suffix(float, dropping)}`,
    read: dk ? { qkv: float, dy: float, lse: 'f32', dsum: 'f32' } : { qkv: float, dy: float, lse: 'f32' },
    write: { dqkv: float },
    params: PARAMS,
    body: /* wgsl */ `
${prelude(hs, ['qkv', 'dy'], LANES)}
${storeRow('dqkv', hs, float)}
${dropoutHelpers(dropping)}
${attentionMain(hs, ['qs', 'gs'], dk ? ['lses', 'dsums'] : ['lses'], `
  let j = r;
  var k: array<vec4f, V4>;${dk ? `
  var v: array<vec4f, V4>;
  var dk: array<vec4f, V4>;` : ''}${dv ? `
  var dv: array<vec4f, V4>;` : ''}
  if (live) {
    let base = (blk.b * p.Tq + j) * 3u * p.C + p.C + blk.h * HS;
${each((d) => `    k[${d}] = load_qkv(base, ${d}) * p.scale;${dk ? `
    v[${d}] = load_qkv(base + p.C, ${d});` : ''}`)}
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
        lses[r] = lse[lse_base + q0 + r];${dk ? `
        dsums[r] = dsum[lse_base + q0 + r];` : ''}
      }
    }${dropping ? `
    // the block's dropout decisions for this tile, four draws a lane at any TILE: word 4 ii + quarter,
    // bit c = key row0 + 16 quarter + c of query q0 + ii
    for (var w = lane; w < 4u * TILE; w += ${LANES}u) {
      let key4 = (blk.row0 + 16u * (w % 4u)) / 4u;
      var bits = 0u;
      for (var g = 0u; g < 4u; g++) { bits |= kept_bits(dropout_words(bh, q0 + w / 4u, key4 + g)) << (4u * g); }
      kept[w] = bits;
    }` : ''}
    workgroupBarrier();
    let first = select(0u, j - q0, j > q0); // queries i >= j of this tile
    let end = select(0u, min(TILE, p.Tq - q0), live);
    for (var ii = first; ii < end; ii++) {
      let row = ii * V4;
      var s = 0.0;
${each((d) => `      s += dot(k[${d}], qs[row + ${d}]);`)}
      let pij = exp(s - lses[ii]);${dropping ? `
      let z = select(0.0, p.keep_scale, ((kept[4u * ii + lane / 16u] >> (lane % 16u)) & 1u) != 0u);` : ''}${dk ? `
      var dp = 0.0;
${each((d) => `      dp += dot(v[${d}], gs[row + ${d}]);`)}
      let ds = pij * (${z}dp - dsums[ii]);` : ''}
${each((d) => [dv && `      dv[${d}] += ${z}pij * gs[row + ${d}];`, dk && `      dk[${d}] += ds * qs[row + ${d}];`].filter(Boolean).join('\n'))}
    }
    workgroupBarrier();
  }
  if (live) {
    let base = (blk.b * p.Tq + j) * 3u * p.C + p.C + blk.h * HS;
${each((d) => [dk && `    store_dqkv(base, ${d}, dk[${d}] * p.scale);`, dv && `    store_dqkv(base + p.C, ${d}, dv[${d}]);`].filter(Boolean).join('\n'))}
  }`, dropping ? ['kept'] : [])}`,
  });
}

type Kind = 'fwd' | 'fwd_padded' | 'dq' | KeyPart;
type Make = (hs: number, float: FloatType, dropping: boolean) => Kernel;
const WORKGROUP_KERNELS: Record<Kind, Make> = {
  fwd: (hs, float, dropping) => forwardKernel(hs, false, float, dropping),
  fwd_padded: (hs, float) => forwardKernel(hs, true, float),
  dq: backwardQueryKernel,
  dkv: (hs, float, dropping) => backwardKeyKernel(hs, float, dropping, 'dkv'),
  dk: (hs, float, dropping) => backwardKeyKernel(hs, float, dropping, 'dk'),
  dv: (hs, float, dropping) => backwardKeyKernel(hs, float, dropping, 'dv'),
};
const SUBGROUP_KERNELS: Record<Exclude<Kind, 'dk' | 'dv'>, Make> = {
  fwd: (hs, float, dropping) => forwardSgKernel(hs, false, float, dropping),
  fwd_padded: (hs, float) => forwardSgKernel(hs, true, float),
  dq: backwardQuerySgKernel,
  dkv: backwardKeySgKernel,
};

const cache = new Map<string, Kernel>();
function kernel(kind: Kind, hs: number, subgroups: boolean, float: FloatType, dropping: boolean): Kernel {
  const key = `${kind}:${hs}:${subgroups}:${float}:${dropping}`;
  let k = cache.get(key);
  if (!k) {
    const make = subgroups && kind !== 'dk' && kind !== 'dv' ? SUBGROUP_KERNELS[kind] : WORKGROUP_KERNELS[kind];
    cache.set(key, (k = make(hs, float, dropping)));
  }
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
  /** Training's dropout on the attention weights: probability p in [0, 1) (0: none) and the mask's seed; Tk = Tq, no padding. */
  dropout?: { p: number; seed: number };
  /** The slots a row of kv holds, of which the first Tk are read (Tk when absent): a KV cache with room to grow. */
  kvRows?: number;
}

function launchArgs(s: AttentionShape) {
  const subgroups = profile().subgroupSharing; // SG-lane subgroups (the profile checks the size)
  const lanes = subgroups ? SG : LANES;
  // heads of size 0 (C = 0): y and dqkv are empty, nothing to launch (nor a kernel whose arrays have no elements)
  const blocks = s.C === 0 ? 0 : s.B * s.nHead * Math.ceil(s.Tq / lanes);
  const { p, seed } = s.dropout ?? { p: 0, seed: 0 };
  const params = {
    B: s.B, n_head: s.nHead, C: s.C, Tq: s.Tq, Tk: s.Tk, kv_rows: s.kvRows ?? s.Tk, scale: 1 / Math.sqrt(s.C / s.nHead), groups: blocks,
    threshold: Math.ceil(p * 2 ** 24), keep_scale: 1 / (1 - p), ...splitSeed(seed),
  };
  return { params, grid: grid1d(blocks, 1), hs: s.C / s.nHead, subgroups, float: s.float ?? 'f32', dropping: p > 0 };
}

/**
 * y [B, Tq, C] and lse [B, NH, Tq] from packed qkv [B, Tq, 3C] and kv [B, kvRows, 3C] (its first Tk slots a row); with `starts`
 * (int32 [B]), row b's keys before slot starts[b] are left out (left padding).
 */
export function launchAttention(
  b: { qkv: GPUBuffer; kv: GPUBuffer; starts?: GPUBuffer; y: GPUBuffer; lse: GPUBuffer },
  s: AttentionShape,
): void {
  const { params, grid, hs, subgroups, float, dropping } = launchArgs(s);
  if (!params.groups) return;
  if (dropping && (b.starts || s.Tk !== s.Tq)) throw new Error('attention: dropout is for training, without padding or a cache');
  if (b.starts) kernel('fwd_padded', hs, subgroups, float, false).launch([b.qkv, b.kv, b.starts, b.y, b.lse], params, grid);
  else kernel('fwd', hs, subgroups, float, dropping).launch([b.qkv, b.kv, b.y, b.lse], params, grid);
}

/** dqkv [B, T, 3C] (fully written) from the forward's qkv, y, lse and the upstream dy; dsum is scratch [B, NH, T]. */
export function launchAttentionBackward(
  b: { qkv: GPUBuffer; y: GPUBuffer; dy: GPUBuffer; lse: GPUBuffer; dsum: GPUBuffer; dqkv: GPUBuffer },
  s: AttentionShape,
): void {
  const args = launchArgs(s);
  const { params, grid, hs, subgroups, float, dropping } = args;
  if (!params.groups) return;
  kernel('dq', hs, subgroups, float, dropping).launch([b.qkv, b.y, b.dy, b.lse, b.dqkv, b.dsum], params, grid);
  // the subgroup kernels hold a lane's four rows without trouble (CPU drivers); GPUs choose
  const choice = profile().attentionKeys;
  const keys = subgroups ? 'together' : choice === 'auto' ? tuned(keysTunable(s, args)) : choice;
  recordKeys(b, args, keys);
}

/** The key kernels: dk and dv together, or apart. */
function recordKeys(b: { qkv: GPUBuffer; dy: GPUBuffer; lse: GPUBuffer; dsum: GPUBuffer; dqkv: GPUBuffer }, args: ReturnType<typeof launchArgs>, keys: AttentionKeys): void {
  const { params, grid, hs, subgroups, float, dropping } = args;
  if (keys === 'together') return kernel('dkv', hs, subgroups, float, dropping).launch([b.qkv, b.dy, b.lse, b.dsum, b.dqkv], params, grid);
  kernel('dk', hs, subgroups, float, dropping).launch([b.qkv, b.dy, b.lse, b.dsum, b.dqkv], params, grid);
  kernel('dv', hs, subgroups, float, dropping).launch([b.qkv, b.dy, b.lse, b.dqkv], params, grid);
}

/** Both ways of computing dk and dv, to measure on scratch buffers of this attention's shape. */
function keysTunable(s: AttentionShape, args: ReturnType<typeof launchArgs>): Tunable<AttentionKeys> {
  const { hs, float, dropping } = args;
  const rows = s.B * s.Tq;
  const kind = `hs${hs}${float === 'f16' ? ' f16' : ''}${dropping ? ' dropout' : ''}`;
  return {
    key: `attention keys ${s.B}x${s.nHead}x${s.Tq} ${kind}`,
    family: `attention keys ${kind}`,
    fallback: 'together',
    candidates: ATTENTION_KEYS,
    prepare(candidate) {
      const dev = device();
      const e = floatBytes(float);
      const sizes = { qkv: 3 * s.C * rows * e, dy: s.C * rows * e, lse: 4 * s.nHead * rows, dsum: 4 * s.nHead * rows, dqkv: 3 * s.C * rows * e };
      const b = Object.fromEntries(Object.entries(sizes).map(([k, n]) => [k, dev.alloc(n, 'attention autotune')])) as Record<keyof typeof sizes, GPUBuffer>;
      return { run: () => recordKeys(b, args, candidate), dispose: () => Object.values(b).forEach((x) => dev.release(x)) };
    },
  };
}
