// Batched matrix multiplication C = op(A) · op(B), op(X) = X or X^T, one pipeline for every case.
//   A: [..., M, K] (trans_a: [..., K, M]), B: [..., K, N] (trans_b: [..., N, K]), C: [...batch, M, N],
//   all row-major. The transpose flags are uniforms: a transposed operand is read through swapped
//   strides, never materialised. C's batch dims are the NumPy broadcast of A's and B's; `a_strides`
//   and `b_strides` are each input's batch strides along them, 0 on broadcast dims.
// Workgroup of 8x8 lanes per 64x64 tile of C; each lane computes an 8x8 block (16 vec4
// accumulators). K advances 16 at a time through two workgroup tiles stored k-major as vec4, so
// per k a lane does 4 shared vec4 loads and 16 vec4 FMAs. Global loads are bounds-checked (zeros
// outside the matrix), so any M, N, K >= 0 works. Tiles (n-tile, m-tile, batch) are numbered flat
// over a grid1d grid, so no grid axis passes 65535. Called by src/ops/matmul.ts.
// Measured on lavapipe (2 cores): 8x8 blocks ~2x faster than 4x4 blocks on 16x16 lanes; 8x16
// blocks no faster but twice the compile time; TK 8/16/32 within noise. ~5-6 GFLOP/s at 1024^3.
import { Kernel, LINEAR, grid1d } from '../kernel.js';

const WG_X = 8; // lanes along N
const WG_Y = 8; // lanes along M
const RM = 8; // C rows per lane (a multiple of 4: rows come 4 to a vec4 of the A tile)
const RN = 8; // C columns per lane (a multiple of 4: vec4 columns)
const TK = 16; // K step
const TM = WG_Y * RM; // C rows per workgroup
const TN = WG_X * RN; // C columns per workgroup
const LANES = WG_X * WG_Y;
const A_SLOTS = (TK * TM) / 4; // vec4 slots of the A tile
const B_SLOTS = (TK * TN) / 4;

let kernel: Kernel | undefined;

function matmulKernel(): Kernel {
  const loop = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i)).join('\n');
  return new Kernel({
    name: 'matmul',
    read: { a: 'f32', b: 'f32' },
    write: { c: 'f32' },
    params: {
      M: 'u32', N: 'u32', K: 'u32', trans_a: 'u32', trans_b: 'u32',
      tiles_n: 'u32', tiles_m: 'u32', tiles: 'u32', batch_rank: 'u32',
      batch_shape: 'dims', a_strides: 'dims', b_strides: 'dims',
    },
    body: /* wgsl */ `
${LINEAR}
// As[k * ${TM / 4} + i] = op(A)[4i .. 4i+3, k] of the tile; Bs[k * ${TN / 4} + j] = op(B)[k, 4j .. 4j+3].
var<workgroup> As: array<vec4f, ${A_SLOTS}>;
var<workgroup> Bs: array<vec4f, ${B_SLOTS}>;

// op(A)[r, k] and op(B)[k, r], read at base + r * sr + k * sk; zero outside the matrix.
fn load_a(base: u32, r: u32, k: u32, sr: u32, sk: u32) -> f32 {
  if (r >= p.M || k >= p.K) { return 0.0; }
  return a[base + r * sr + k * sk];
}
fn load_b(base: u32, r: u32, k: u32, sr: u32, sk: u32) -> f32 {
  if (r >= p.N || k >= p.K) { return 0.0; }
  return b[base + r * sr + k * sk];
}

// C[row, col .. col+3] = v, clipped to the matrix.
fn store(base: u32, row: u32, col: u32, v: vec4f) {
  if (row >= p.M) { return; }
  for (var j = 0u; j < 4u; j++) {
    if (col + j < p.N) { c[base + row * p.N + col + j] = v[j]; }
  }
}

@compute @workgroup_size(${WG_X}, ${WG_Y})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) lane: u32) {
  let t = linear(wid, nwg, 1u);
  if (t >= p.tiles) { return; }
  let n0 = (t % p.tiles_n) * ${TN}u;
  let m0 = ((t / p.tiles_n) % p.tiles_m) * ${TM}u;
  let batch = t / (p.tiles_n * p.tiles_m);

  // batch offsets of A and B (C is contiguous: batch * M * N)
  var rem = batch;
  var a_base = 0u;
  var b_base = 0u;
  for (var d = i32(p.batch_rank) - 1; d >= 0; d--) {
    let n = dim(p.batch_shape, u32(d));
    let i = rem % n;
    rem /= n;
    a_base += i * dim(p.a_strides, u32(d));
    b_base += i * dim(p.b_strides, u32(d));
  }

  // op(A)[m, k] = a[a_base + m * a_sm + k * a_sk]; op(B)[k, n] = b[b_base + n * b_sn + k * b_sk]
  let ta = p.trans_a != 0u;
  let tb = p.trans_b != 0u;
  let a_sm = select(p.K, 1u, ta);
  let a_sk = select(1u, p.M, ta);
  let b_sn = select(1u, p.K, tb);
  let b_sk = select(p.N, 1u, tb);
  // Slot s of a tile holds 4 rows at one k. Neighbouring lanes take neighbouring addresses: slots
  // run k-fastest when k is the contiguous axis of the stored matrix, rows-fastest otherwise.
  // acc[i * ${RN / 4} + c] = C[row + i, col + 4c .. col + 4c + 3]
  var acc: array<vec4f, ${RM * (RN / 4)}>;
  for (var k0 = 0u; k0 < p.K; k0 += ${TK}u) {
    for (var s = lane; s < ${A_SLOTS}u; s += ${LANES}u) {
      let k = select(s % ${TK}u, s / ${TM / 4}u, ta);
      let i = select(s / ${TK}u, s % ${TM / 4}u, ta);
      let m = m0 + 4u * i;
      As[k * ${TM / 4}u + i] = vec4f(
        load_a(a_base, m, k0 + k, a_sm, a_sk), load_a(a_base, m + 1u, k0 + k, a_sm, a_sk),
        load_a(a_base, m + 2u, k0 + k, a_sm, a_sk), load_a(a_base, m + 3u, k0 + k, a_sm, a_sk));
    }
    for (var s = lane; s < ${B_SLOTS}u; s += ${LANES}u) {
      let k = select(s / ${TN / 4}u, s % ${TK}u, tb);
      let j = select(s % ${TN / 4}u, s / ${TK}u, tb);
      let n = n0 + 4u * j;
      Bs[k * ${TN / 4}u + j] = vec4f(
        load_b(b_base, n, k0 + k, b_sn, b_sk), load_b(b_base, n + 1u, k0 + k, b_sn, b_sk),
        load_b(b_base, n + 2u, k0 + k, b_sn, b_sk), load_b(b_base, n + 3u, k0 + k, b_sn, b_sk));
    }
    workgroupBarrier();
    for (var k = 0u; k < ${TK}u; k++) {
${loop(RM / 4, (r) => `      let a${r} = As[k * ${TM / 4}u + lid.y * ${RM / 4}u + ${r}u];`)}
${loop(RN / 4, (c) => `      let b${c} = Bs[k * ${TN / 4}u + lid.x * ${RN / 4}u + ${c}u];`)}
${loop(RM, (i) => loop(RN / 4, (c) => `      acc[${i * (RN / 4) + c}] += a${i >> 2}.${'xyzw'[i & 3]} * b${c};`))}
    }
    workgroupBarrier();
  }

  let c_base = batch * p.M * p.N;
  let row = m0 + lid.y * ${RM}u;
  let col = n0 + lid.x * ${RN}u;
${loop(RM, (i) => loop(RN / 4, (c) => `  store(c_base, row + ${i}u, col + ${4 * c}u, acc[${i * (RN / 4) + c}]);`))}
}`,
  });
}

export interface MatmulPlan {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  /** C's batch shape, and each input's batch strides along it (0 on broadcast dims). */
  batchShape: readonly number[];
  aStrides: readonly number[];
  bStrides: readonly number[];
}

/** Records C = op(A) · op(B) for every batch; `c` must hold batch * M * N floats. */
export function launchMatmul(a: GPUBuffer, b: GPUBuffer, c: GPUBuffer, plan: MatmulPlan): void {
  const { M, N, K, batchShape } = plan;
  const nBatch = batchShape.reduce((x, y) => x * y, 1);
  const tilesN = Math.ceil(N / TN);
  const tilesM = Math.ceil(M / TM);
  const tiles = tilesN * tilesM * nBatch;
  if (tiles === 0) return;
  if (tiles >= 2 ** 32 || nBatch * M * N >= 2 ** 32) throw new Error(`matmul: ${nBatch}x${M}x${N} output is too large`);
  const k = (kernel ??= matmulKernel());
  k.launch(
    [a, b, c],
    {
      M, N, K, trans_a: +plan.transA, trans_b: +plan.transB,
      tiles_n: tilesN, tiles_m: tilesM, tiles, batch_rank: batchShape.length,
      batch_shape: batchShape, a_strides: plan.aStrides, b_strides: plan.bStrides,
    },
    grid1d(tiles, 1),
  );
}
