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
// Backward: a stable counting sort of the positions by id, then ordered sums per table row, so
// the result is bit-identical from run to run however the GPU schedules the lanes (no float atomics):
//   1. `embedding_rank`, 256-lane workgroups, one lane per position n: rank[n] = #{m < n : ids[m] ==
//      ids[n]} (ids compared a 256-wide tile at a time from workgroup memory; a workgroup per
//      block of 256 positions and `span` tiles of earlier positions, its count added to rank[n]
//      with an integer atomic), and counts[ids[n]] += 1 (integer sums do not depend on the order).
//   2. `embedding_offsets`, a single 256-lane workgroup, each lane owning V / 256 consecutive rows:
//      starts = exclusive prefix sum of counts (V + 1 entries), and pstarts the same of each row's
//      pieces (below); then order[starts[ids[n]] + rank[n]] = n: the positions sorted by id, each
//      segment in increasing n.
//   3. `embedding_backward_pieces` (split sums only), a 64-lane workgroup per piece and 64 columns:
//      a row with more than P ids is summed in pieces of P consecutive positions of its segment,
//      partial[k, c] for piece k (a binary search of pstarts finds its row).
//   4. `embedding_backward`, a 64-lane workgroup per table row v (gridRows over V; with split
//      sums and few rows, per 64 columns too), lanes striding over C: dtable[v, c] = sum of
//      g[order[j], c] for j in segment v in that order, or of the row's pieces in order; rows no
//      id names get 0.
// Split sums (profile().splitSums, GPUs; embeddingBackwardPlan): step 1 takes a tile per workgroup
// (an N / 256 x N / 256 grid, half of it working: 2k workgroups at N = 16k, where a workgroup per
// block walks up to 64 tiles), and P = sqrt(N), so no lane sums more than ~2 sqrt(N) rows: a
// frequent character of a 65-symbol vocabulary (~2k of 16k ids) is 16 pieces of 128 on 6 x 16
// workgroups, then 16 sums a lane, where one workgroup would add 2k rows for each of its columns.
// CPU adapters keep a workgroup per block (span = all) and one sum a row (P past any N): no
// pieces. Measured on lavapipe (2 shared cores, the fastest of 7 runs, noisy): the split path is
// slower there (N = 16k ids, V = 65, C = 384: ranks 0.4 s a workgroup per block, 1.1 s a tile per
// workgroup; GPT-2's 50257 rows split in 12 column blocks: 1.8 s against 0.1 s, hence column
// blocks only for few rows), so CPU adapters keep it off. The offsets scan, a run of rows a lane
// instead of V / 256 rounds of 16 barriers, went from 7.5-11.8 ms to 0.7 ms at V = 50257.
// Cost: N^2 / 2 id comparisons (step 1, 32M for N = 8k; fine on a GPU, the one term that grows
// faster than the data), 2 V / 256 sequential reads a lane (step 2), and O(N C + V C) reads and
// writes (steps 3, 4). Memory: 2 N + 3 V + 2 u32 of scratch, and 2 N C / P f32 of piece sums.
import { defineFault } from '../../device/faults.js';
import { floatSuffix, Kernel, LINEAR, MAX_GROUPS, floatBytes, grid1d, gridRows, narrow, perElement, pieces, variants, windowOf, type FloatType } from '../kernel.js';
import { profile } from '../profile.js';
import { INT8_WGSL } from './int8.js';

const ID_OUT_OF_RANGE = defineFault('embedding: a token id computed on the GPU was outside [0, V) of its table (it was clamped)');

const WG = 256;
const ROW_WG = 64;
/** Workgroups of the row sums (split sums) at least, when a row's columns can be split that far. */
const BUSY_WORKGROUPS = 2048;
const CLAMP = /* wgsl */ `fn clamp_id(id: i32, v: u32) -> u32 { return u32(clamp(id, 0, i32(v) - 1)); }`;

// the table row of output element i (its id clamped; an id out of range reported once per row)
const ROW_OF_ELEMENT = /* wgsl */ `
  let id = ids[i / p.C];
  if ((id < 0 || id >= i32(p.V)) && i % p.C == 0u) { raise_fault(${ID_OUT_OF_RANGE}u); }
  let row = clamp_id(id, p.V);`;

const gatherK = variants((float: FloatType) => new Kernel({
  name: `embedding${floatSuffix(float)}`,
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

// rank[n] += #{m < n : ids[m] == ids[n]} over the tiles of positions chunk * span ..= min(block,
// chunk * span + span - 1) (block: the 256 positions n of this workgroup, chunk: wid.z); the
// workgroup whose tiles include the block's own also counts it: counts[ids[n]] += 1.
const rankK = new Kernel({
  name: 'embedding_rank',
  read: { ids: 'i32' },
  write: { rank: 'atomic<u32>', counts: 'atomic<u32>' },
  params: { N: 'u32', V: 'u32', span: 'u32' },
  body: /* wgsl */ `
${LINEAR}
${CLAMP}
var<workgroup> tile: array<u32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lane: u32) {
  let block = linear(wid, nwg, 1u);
  let first = wid.z * p.span;
  if (first > block) { return; } // the whole workgroup: no tile m <= n here
  let last = min(block, first + p.span - 1u);
  let n = block * ${WG}u + lane;
  let live = n < p.N;
  var id = 0u;
  if (live) { id = clamp_id(ids[n], p.V); }
  var r = 0u;
  // no early return before the barriers
  for (var t = first; t <= last; t++) {
    let m = t * ${WG}u + lane;
    tile[lane] = select(0xffffffffu, clamp_id(ids[min(m, p.N - 1u)], p.V), m < p.N);
    workgroupBarrier();
    let upto = select(${WG}u, lane, t == block);
    for (var j = 0u; j < upto; j++) { r += select(0u, 1u, tile[j] == id); }
    workgroupBarrier();
  }
  if (live) {
    if (r > 0u) { atomicAdd(&rank[n], r); }
    if (last == block) { atomicAdd(&counts[id], 1u); }
  }
}`,
});

// WGSL pieces_of(count): how many pieces of P positions a table row with `count` ids is summed in
// (0 when it is summed in one go: count <= P).
const PIECES = /* wgsl */ `fn pieces_of(count: u32) -> u32 { return select(0u, (count + p.P - 1u) / p.P, count > p.P); }`;

const offsetsK = new Kernel({
  name: 'embedding_offsets',
  read: { ids: 'i32', rank: 'u32', counts: 'u32' },
  write: { starts: 'u32', pstarts: 'u32', order: 'u32' },
  params: { N: 'u32', V: 'u32', P: 'u32' },
  body: /* wgsl */ `
${CLAMP}
${PIECES}
var<workgroup> scan: array<vec2u, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lane: u32) {
  // lane owns rows lo .. hi - 1: their totals, a scan of the lanes' totals, then the rows' starts
  let per = (p.V + ${WG - 1}u) / ${WG}u;
  let lo = min(lane * per, p.V);
  let hi = min(lo + per, p.V);
  var total = vec2u(0u);
  for (var v = lo; v < hi; v++) { total += vec2u(counts[v], pieces_of(counts[v])); }
  scan[lane] = total;
  workgroupBarrier();
  // Hillis-Steele inclusive scan of the lanes' totals
  for (var s = 1u; s < ${WG}u; s <<= 1u) {
    var add = vec2u(0u);
    if (lane >= s) { add = scan[lane - s]; }
    workgroupBarrier();
    scan[lane] += add;
    workgroupBarrier();
  }
  var run = scan[lane] - total;
  for (var v = lo; v < hi; v++) {
    starts[v] = run.x;
    pstarts[v] = run.y;
    run += vec2u(counts[v], pieces_of(counts[v]));
  }
  if (lane == ${WG - 1}u) {
    starts[p.V] = run.x;
    pstarts[p.V] = run.y;
  }
  storageBarrier();
  for (var n = lane; n < p.N; n += ${WG}u) {
    order[starts[clamp_id(ids[n], p.V)] + rank[n]] = n;
  }
}`,
});

// Piece k (gridRows over the bound, column block wid.z) of a table row v with more than P ids:
// partial[k, c] = sum of g[order[j], c] over its P positions j of the row's segment, in order.
const piecesK = variants((float: FloatType) => new Kernel({
  name: `embedding_backward_pieces${floatSuffix(float)}`,
  read: { g: float, starts: 'u32', pstarts: 'u32', order: 'u32' },
  write: { partial: 'f32' },
  params: { V: 'u32', C: 'u32', P: 'u32' },
  body: /* wgsl */ `
${LINEAR}
@compute @workgroup_size(${ROW_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lane: u32) {
  let k = linear(wid, nwg, 1u);
  if (k >= pstarts[p.V]) { return; }
  // the row v with pstarts[v] <= k < pstarts[v + 1]: the last v with pstarts[v] <= k
  var lo = 0u;
  var hi = p.V;
  while (lo < hi) {
    let mid = (lo + hi + 1u) / 2u;
    if (pstarts[mid] <= k) { lo = mid; } else { hi = mid - 1u; }
  }
  let j0 = starts[lo] + (k - pstarts[lo]) * p.P;
  let j1 = min(starts[lo + 1u], j0 + p.P);
  let c = wid.z * ${ROW_WG}u + lane;
  if (c >= p.C) { return; }
  var acc = 0.0;
  for (var j = j0; j < j1; j++) { acc += f32(g[order[j] * p.C + c]); }
  partial[k * p.C + c] = acc;
}`,
}));

const backwardK = variants((float: FloatType) => new Kernel({
  name: `embedding_backward${floatSuffix(float)}`,
  read: { g: float, starts: 'u32', pstarts: 'u32', order: 'u32', partial: 'f32' },
  write: { dtable: float },
  params: { V: 'u32', C: 'u32', v0: 'u32', vw: 'u32', P: 'u32' },
  body: /* wgsl */ `
${LINEAR}
${PIECES}
@compute @workgroup_size(${ROW_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lane: u32) {
  let r = linear(wid, nwg, 1u); // the row in this window of dtable
  if (r >= p.vw) { return; }
  let lo = starts[p.v0 + r];
  let hi = starts[p.v0 + r + 1u];
  let split = pieces_of(hi - lo) > 0u; // then its pieces' sums, in order
  let plo = pstarts[p.v0 + r];
  let phi = pstarts[p.v0 + r + 1u];
  for (var c = wid.z * ${ROW_WG}u + lane; c < p.C; c += ${ROW_WG}u * nwg.z) {
    var acc = 0.0;
    if (split) {
      for (var k = plo; k < phi; k++) { acc += partial[k * p.C + c]; }
    } else {
      for (var j = lo; j < hi; j++) { acc += f32(g[order[j] * p.C + c]); }
    }
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

/**
 * How the backward splits its sums (profile().splitSums): on GPUs, the rank of a position is
 * counted a tile per workgroup, and a table row with more than P ~ sqrt(N) ids is summed in pieces
 * of P positions (many workgroups), then its pieces in order. CPU adapters: a workgroup per 256
 * positions counts all of their ranks, and a row is summed in one go (P past any N).
 */
export function embeddingBackwardPlan(N: number): { span: number; P: number; pieces: number } {
  const blocks = Math.ceil(N / WG);
  if (!profile().splitSums) return { span: Math.max(1, blocks), P: 0xffffffff, pieces: 0 };
  const P = Math.max(4, Math.ceil(Math.sqrt(N)));
  // rows with more than P ids have ceil(count / P) < 2 count / P pieces: fewer than 2N / P in all
  return { span: Math.max(1, Math.ceil(blocks / MAX_GROUPS)), P, pieces: Math.floor((2 * N) / P) };
}

/** Scratch buffers of the backward (u32 each but partial, f32); `rank` and `counts` must hold zeros. */
export interface EmbeddingScratch {
  rank: GPUBuffer; // N
  counts: GPUBuffer; // V
  starts: GPUBuffer; // V + 1
  pstarts: GPUBuffer; // V + 1
  order: GPUBuffer; // N
  partial: GPUBuffer; // max(1, plan.pieces * C)
}

/** dtable[v, :] = sum of g[n, :] over the n with ids[n] == v, in increasing n (in pieces of P, then their sums, where planned). */
export function launchEmbeddingBackward(
  g: GPUBuffer, ids: GPUBuffer, dtable: GPUBuffer, s: EmbeddingScratch, N: number, V: number, C: number, float: FloatType = 'f32',
): void {
  if (V * C === 0) return;
  const { span, P, pieces: bound } = embeddingBackwardPlan(N);
  const blocks = Math.ceil(N / WG);
  if (N > 0) {
    const [x, y] = gridRows(blocks);
    rankK.launch([ids, s.rank, s.counts], { N, V, span }, [x, y, Math.ceil(blocks / span)]);
  }
  offsetsK.launch([ids, s.rank, s.counts, s.starts, s.pstarts, s.order], { N, V, P }, [1, 1, 1]);
  if (bound > 0) {
    const [x, y] = gridRows(bound);
    piecesK(float).launch([g, s.starts, s.pstarts, s.order, s.partial], { V, C, P }, [x, y, Math.ceil(C / ROW_WG)]);
  }
  const row = floatBytes(float) * C;
  for (const { start: v0, count: vw } of pieces(V, row)) {
    // a workgroup per 64 columns where rows alone are too few to fill a GPU (a 65-symbol vocabulary)
    const columnBlocks = profile().splitSums ? Math.min(Math.ceil(C / ROW_WG), Math.ceil(BUSY_WORKGROUPS / vw)) : 1;
    const [x, y] = gridRows(vw);
    backwardK(float).launch([g, s.starts, s.pstarts, s.order, s.partial, windowOf(dtable, v0, vw, row)], { V, C, v0, vw, P }, [x, y, columnBlocks]);
  }
}
