// Embedding lookup (gather rows) and its deterministic backward, a scatter-add without float atomics.
//   table: [V, C] f32, ids: [N] i32 (any shape, flattened), out / g: [N, C] f32, dtable: [V, C] f32;
//   or all of the floats f16 (float16 tables): rows are copied as they are, sums run in f32.
// Ids are clamped to [0, V) inside every kernel, so a bad id never reads or writes out of bounds
// (the op checks ids eagerly when it has a host copy of them; the forward reports a device-made id
// out of range as a fault, an error at the next read).
//
// Forward `embedding`: out[n, c] = table[ids[n], c]. 1-D grid of 256-lane workgroups, one lane per
// output element. A table larger than a binding is read a window of rows [v0, v0 + vw) at a time,
// each pass writing the outputs whose id falls in it (and the backward writes dtable likewise).
// `embedding-int8` (src/ops/int8.ts, quantized tables): out[n, c] = scale[v] * Q[v, c] for
// v = ids[n], Q int8 [V, C] four to a word (int8.ts), the same grid; the table fits one binding.
//
// Backward: a stable counting sort of the positions by id, then one ordered sum per table row, so
// the result is bit-identical from run to run however the GPU schedules the lanes:
//   1. `embedding_rank`, 256-lane workgroups, one lane per position n: rank[n] = #{m < n : ids[m] ==
//      ids[n]} (ids compared a 256-wide tile at a time from workgroup memory), and counts[ids[n]] += 1
//      with an integer atomic (integer sums do not depend on the order).
//   2. `embedding_offsets`, a single 256-lane workgroup: starts = exclusive prefix sum of counts
//      (V + 1 entries), then order[starts[ids[n]] + rank[n]] = n: the positions sorted by id, each
//      segment in increasing n.
//   3. `embedding_backward`, one 64-lane workgroup per table row v (gridRows over V), lanes striding
//      over C: dtable[v, c] = sum of g[order[j], c] for j in segment v, in that fixed order; rows no
//      id names get 0.
// Cost: N^2 / 2 id comparisons (step 1, 32M for N = 8k; fine on a GPU, the one term that grows
// faster than the data), V / 256 sequential scan steps (step 2), and O(N C + V C) reads and writes
// (step 3). Memory: 2 N + 2 V + 1 u32 of scratch.
import { defineFault } from '../../device/faults.js';
import { Kernel, LINEAR, floatBytes, grid1d, gridRows, narrow, perElement, pieces, variants, windowOf, type FloatType } from '../kernel.js';
import { INT8_WGSL } from './int8.js';

const ID_OUT_OF_RANGE = defineFault('embedding: a token id computed on the GPU was outside [0, V) of its table (it was clamped)');

const WG = 256;
const ROW_WG = 64;
const CLAMP = /* wgsl */ `fn clamp_id(id: i32, v: u32) -> u32 { return u32(clamp(id, 0, i32(v) - 1)); }`;

// the table row of output element i (its id clamped; an id out of range reported once per row)
const ROW_OF_ELEMENT = /* wgsl */ `
  let id = ids[i / p.C];
  if ((id < 0 || id >= i32(p.V)) && i % p.C == 0u) { raise_fault(${ID_OUT_OF_RANGE}u); }
  let row = clamp_id(id, p.V);`;

const gatherK = variants((float: FloatType) => new Kernel({
  name: `embedding${float === 'f16' ? '_f16' : ''}`,
  read: { table: float, ids: 'i32' },
  write: { out: float },
  params: { n: 'u32', C: 'u32', V: 'u32', v0: 'u32', vw: 'u32' },
  faults: true,
  body: /* wgsl */ `
${CLAMP}
${perElement(WG, `${ROW_OF_ELEMENT}
  if (row < p.v0 || row >= p.v0 + p.vw) { return; }
  out[i] = table[(row - p.v0) * p.C + i % p.C];`)}`,
}));

const gatherInt8K = new Kernel({
  name: 'embedding-int8',
  read: { table: 'u32', scale: 'f32', ids: 'i32' },
  write: { out: 'f32' },
  params: { n: 'u32', C: 'u32', V: 'u32' },
  faults: true,
  body: /* wgsl */ `
${CLAMP}${INT8_WGSL}
${perElement(WG, `${ROW_OF_ELEMENT}
  let e = row * p.C + i % p.C;
  out[i] = i8_at(table[e / 4u], e % 4u) * scale[row];`)}`,
});

const rankK = new Kernel({
  name: 'embedding_rank',
  read: { ids: 'i32' },
  write: { rank: 'u32', counts: 'atomic<u32>' },
  params: { N: 'u32', V: 'u32' },
  body: /* wgsl */ `
${LINEAR}
${CLAMP}
var<workgroup> tile: array<u32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lane: u32) {
  let block = linear(wid, nwg, 1u);
  let n = block * ${WG}u + lane;
  let live = n < p.N;
  var id = 0u;
  if (live) { id = clamp_id(ids[n], p.V); }
  var r = 0u;
  // tiles 0..block hold every position m <= n; no early return before the barriers
  for (var t = 0u; t <= block; t++) {
    let m = t * ${WG}u + lane;
    tile[lane] = select(0xffffffffu, clamp_id(ids[min(m, p.N - 1u)], p.V), m < p.N);
    workgroupBarrier();
    let upto = select(${WG}u, lane, t == block);
    for (var j = 0u; j < upto; j++) { r += select(0u, 1u, tile[j] == id); }
    workgroupBarrier();
  }
  if (live) {
    rank[n] = r;
    atomicAdd(&counts[id], 1u);
  }
}`,
});

const offsetsK = new Kernel({
  name: 'embedding_offsets',
  read: { ids: 'i32', rank: 'u32', counts: 'u32' },
  write: { starts: 'u32', order: 'u32' },
  params: { N: 'u32', V: 'u32' },
  body: /* wgsl */ `
${CLAMP}
var<workgroup> scan: array<u32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lane: u32) {
  var carry = 0u;
  for (var base = 0u; base < p.V; base += ${WG}u) {
    let v = base + lane;
    let c = select(0u, counts[min(v, p.V - 1u)], v < p.V);
    scan[lane] = c;
    workgroupBarrier();
    // Hillis-Steele inclusive scan of the chunk
    for (var s = 1u; s < ${WG}u; s <<= 1u) {
      var add = 0u;
      if (lane >= s) { add = scan[lane - s]; }
      workgroupBarrier();
      scan[lane] += add;
      workgroupBarrier();
    }
    if (v < p.V) { starts[v] = carry + scan[lane] - c; }
    carry += scan[${WG - 1}u];
    workgroupBarrier();
  }
  if (lane == 0u) { starts[p.V] = carry; }
  storageBarrier();
  for (var n = lane; n < p.N; n += ${WG}u) {
    order[starts[clamp_id(ids[n], p.V)] + rank[n]] = n;
  }
}`,
});

const backwardK = variants((float: FloatType) => new Kernel({
  name: `embedding_backward${float === 'f16' ? '_f16' : ''}`,
  read: { g: float, starts: 'u32', order: 'u32' },
  write: { dtable: float },
  params: { V: 'u32', C: 'u32', v0: 'u32', vw: 'u32' },
  body: /* wgsl */ `
${LINEAR}
@compute @workgroup_size(${ROW_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lane: u32) {
  let r = linear(wid, nwg, 1u); // the row in this window of dtable
  if (r >= p.vw) { return; }
  let lo = starts[p.v0 + r];
  let hi = starts[p.v0 + r + 1u];
  for (var c = lane; c < p.C; c += ${ROW_WG}u) {
    var acc = 0.0;
    for (var j = lo; j < hi; j++) { acc += f32(g[order[j] * p.C + c]); }
    dtable[r * p.C + c] = ${narrow(float, 'acc')};
  }
}`,
}));

/** out[n, :] = table[clamp(ids[n]), :] for N ids. */
export function launchEmbedding(table: GPUBuffer, ids: GPUBuffer, out: GPUBuffer, N: number, V: number, C: number, float: FloatType = 'f32'): void {
  if (N * C === 0) return;
  const row = floatBytes(float) * C;
  for (const { start: v0, count: vw } of pieces(V, row)) {
    gatherK(float).launch([windowOf(table, v0, vw, row), ids, out], { n: N * C, C, V, v0, vw }, grid1d(N * C, WG));
  }
}

/** out[n, :] = scale[v] * Q[v, :] for v = clamp(ids[n]), N ids; Q int8 [V, C] in one binding. */
export function launchEmbeddingInt8(table: GPUBuffer, scale: GPUBuffer, ids: GPUBuffer, out: GPUBuffer, N: number, V: number, C: number): void {
  if (N * C === 0) return;
  gatherInt8K.launch([table, scale, ids, out], { n: N * C, C, V }, grid1d(N * C, WG));
}

/** Scratch buffers of the backward (u32 each); `counts` must hold zeros. */
export interface EmbeddingScratch {
  rank: GPUBuffer; // N
  counts: GPUBuffer; // V
  starts: GPUBuffer; // V + 1
  order: GPUBuffer; // N
}

/** dtable[v, :] = sum of g[n, :] over the n with ids[n] == v, in increasing n. */
export function launchEmbeddingBackward(
  g: GPUBuffer, ids: GPUBuffer, dtable: GPUBuffer, s: EmbeddingScratch, N: number, V: number, C: number, float: FloatType = 'f32',
): void {
  if (V * C === 0) return;
  if (N > 0) {
    rankK.launch([ids, s.rank, s.counts], { N, V }, gridRows(Math.ceil(N / WG)));
  }
  offsetsK.launch([ids, s.rank, s.counts, s.starts, s.order], { N, V }, [1, 1, 1]);
  const row = floatBytes(float) * C;
  for (const { start: v0, count: vw } of pieces(V, row)) {
    backwardK(float).launch([g, s.starts, s.order, windowOf(dtable, v0, vw, row)], { V, C, v0, vw }, gridRows(vw));
  }
}
