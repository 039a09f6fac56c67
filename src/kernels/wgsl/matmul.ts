// Batched matrix multiplication C = op(A) · op(B), op(X) = X or X^T, any shapes, three paths (below).
//   A: [..., M, K] (trans_a: [..., K, M]), B: [..., K, N] (trans_b: [..., N, K]), C: [...batch, M, N],
//   all row-major. C's batch dims are the NumPy broadcast of A's and B's; `a_strides` and
//   `b_strides` are each input's batch strides along them, 0 on broadcast dims. Called by
//   src/ops/matmul.ts through launchMatmul, which picks one of three paths: 'skinny' (for the
//   profile's skinnyRows, e.g. decoding a token for each of a few sequences: matmul-skinny.ts),
//   else one of these two tiled ones.
//   int8 weights (a plan with `scale`, src/ops/int8.ts): the skinny path of int8.ts, else the
//   buffer path's int8 variant, except where the profile picks textures: there the weights are
//   dequantized to a transient float32 operand for the texture path (see int8.ts); and where the
//   profile has int8 tensor cores (and K % 4 = 0), A quantized per row to int8 times Q on them.
//
// Buffer path (GPUs): the register-tiled family of matmul-tiled.ts, tile size and split-K per
// product from the profile (src/kernels/profile.ts matmulTiling).
//
// Texture path (Mesa's CPU drivers, llvmpipe/lavapipe): there every storage-buffer access is a
// per-lane bounds-checked scalar load, while textureLoad of an rgba32float texel is one gather.
// op(A) and op(B) are first put in two rgba32float textures (4 floats a texel), each in the layout
// its stored matrix already has ('k': 4 consecutive k of one row of op(A) / column of op(B);
// 'outer': 4 consecutive rows of op(A) / columns of op(B) at one k), then the matmul reads only
// textures:
//   A 'k' (A untransposed)   texel (kq, b * M + m)      = op(A)[b][m, 4kq .. 4kq+3]
//   A 'outer' (transposed)   texel (mq, b * Kp + k)     = op(A)[b][4mq .. 4mq+3, k]
//   B 'outer' (untransposed) texel (nq, b * Kp + k)     = op(B)[b][k, 4nq .. 4nq+3]
//   B 'k' (transposed)       texel (kq, b * N + n)      = op(B)[b][4kq .. 4kq+3, n]
// (Mp, Np: M, N rounded up to the tile; Kp: K rounded up to 4; K's padding must be zeros, the other
// padding is never stored to C, so it may hold anything). When the stored rows are whole texel
// rows (a multiple of 64 floats, no K padding, batches back to back) the operand is copied with
// copyBufferToTexture (a memcpy: 0.1 ms for 1024x1024); otherwise `matmul-pack` writes it, one
// lane per texel (6 ms for 1024x1024, 0.4 ms for 768x128), resolving batch strides and padding.
// Keeping stored layouts made every weight and dW operand of the GPT step a copy (step ~15%
// faster than packing transposes). The matmul reads them as read-only storage textures where WGSL
// can (profile matmul.textureReads; lavapipe's texel fetch is then ~50 instructions a call, not
// ~130 with a sampled texture's per-lane mip level: the GPT's products 1.10-1.32x per CPU-second),
// else as sampled textures. The matmul has 8 lanes along N by WY along M, each an RM x RN
// block of C: per 4 k, RM A texels (scalars of 4 k for each row), RN B texels (as vec4 columns),
// RM * RN/4 vec4 FMAs; no workgroup memory, no bounds checks but the store. Textures are pooled by
// the device and released as soon as the dispatches are recorded.
// f16 operands (plan.float 'f16'): where the profile has subgroup matrices (tensor cores), every
// product but the skinny ones runs matmul-subgroup-matrix.ts; otherwise every path reads them
// widened to f32 and accumulates in f32 (the texture path packs them into the same rgba32float
// textures, never a copy), and stores C rounded to f16.
// Subgroup sharing of A: the 8 lanes along N of one lid.y need the same A texels. Where subgroups
// are exactly those 8 lanes (llvmpipe with 256-bit vectors), each lane fetches RM/8 of them and the
// rest come by subgroupBroadcast, so a lane can afford RM = 32 (WY = 4: 128-row tiles). Measured on
// lavapipe (bench --only matmul, train; quiet 2 cores): 1.3-1.7x the unshared 8x16 blocks at the
// GPT shapes (c_fc 768x128x512: 18 -> 31 GFLOP/s), step 350 -> ~270 ms; RM x RN 16x8 and 32x8
// with 8 lanes along M, 24x8, 16x4, 32x4 and 16x16 were each slower. RM = 24 with WY = 4 (96-row
// tiles), where they pad M no more than 128-row ones do (lavapipe, 2 busy cores, interleaved, CPU
// time): the GPT step's 768-row products (forward and dX) 1.1-1.2x, its texture matmuls 1.2-1.25x
// (GPU time), the step 1.04-1.15x; 384-row dW products even; M = 128 and 512 (padded to 192 and
// 576) slower, so those keep RM = 32. Below 128 rows, 2 lanes
// along M x 32 rows (64-row tiles) and RN = 4 for N <= 32: attention's 48x[64x64]·[64x32]
// 3.4 -> 6.3 GFLOP/s. Without sharing: 8 lanes along M, 8 x RN blocks (RN = 16 when N > 64, else 8).
// Measured with bench/matmul-variants.ts (lavapipe, 2 cores, LP_NUM_THREADS=8, a training run
// sharing the cores, medians of interleaved runs, copies/packing included), texture vs buffer
// path: 1024^3 11-17 vs 5 GFLOP/s; [768x128]·[128x384|128|512], [768x512]·[512x128] and the
// transA/transB backward products 1.6-3x; attention 48x[64x64]·[64x32] 1.4x, 48x[64x32]·[32x64]^T
// 0.94x (both operands packed, K = 32 cannot be copied). Tried and dropped: textures + workgroup
// tiles (slower than without), 16x16 lanes x 4x4 regs, 8x16 lanes x 4x8, 8x8 lanes x 4x8.
import type { BufferWindow, Resource } from '../../device/bind-groups.js';
import { device, onDeviceOpen } from '../../device/device.js';
import { each, Kernel, LINEAR, grid1d, narrow, variants, windowOf, type FloatType } from '../kernel.js';
import { mergeDims } from '../merge-dims.js';
import { tuned, type Tunable } from '../autotune.js';
import { int8TensorCoresFor, matmulTiling, matmulTilingIsAuto, matmulTilings, profile, SHARING_LANES, splitCandidates, tensorCoreSplits, type MatmulTiling, type SkinnyKernel, type SubgroupMatrixTiling, type TextureReads } from '../profile.js';
import { checkFastPaths } from '../self-check.js';
import { launchDequantize, launchQuantizeRows, launchSkinnyInt8Matmul } from './int8.js';
import { isSkinny, launchSkinnyMatmul, skinnyKernelsFor } from './matmul-skinny.js';
import { launchInt8SubgroupMatrixMatmul, launchSubgroupMatrixMatmul } from './matmul-subgroup-matrix.js';
import { launchSplitSum, launchTiledMatmul, vec4Aligned, type MatmulPlan } from './matmul-tiled.js';

// the fast paths of float16 and int8 products are verified on each adapter before use
onDeviceOpen(() => checkFastPaths(launchMatmul));

/**
 * Whether launchMatmul adds a bias row to C itself for this product (plan.bias): the skinny
 * kernels do, as they store (decoding's Linear layers: one dispatch, not two); elsewhere the
 * caller adds it (src/ops/linear.ts).
 */
export function matmulAddsBias(plan: Pick<MatmulPlan, 'M' | 'K' | 'transA' | 'transB' | 'scale'>): boolean {
  return !plan.scale && isSkinny(plan, profile().matmul.skinnyRows);
}

/**
 * Whether an int8 product A [M, K] · Qᵀ (Q [N, K]) dequantizes Q into a float32 transient [N, K]
 * first, as launchMatmul does on the texture path (memory plans count it).
 */
export function int8ProductDequantizes(M: number, N: number, K: number): boolean {
  const { tiled, skinnyRows } = profile().matmul;
  return M > skinnyRows && !int8TensorCoresFor(M, K) && tiled === 'texture' && 4 * N * K <= profile().bindingLimit;
}

/** Records C = op(A) · op(B) (+ plan.bias on every row, see matmulAddsBias) for every batch; `c` must hold batch * M * N floats. */
export function launchMatmul(a: Resource, b: Resource, c: Resource, given: MatmulPlan): void {
  // batch dims laid out one after another in A and B (C's are in order) merge: fewer dims to index
  const batch = mergeDims(given.batchShape, [given.aStrides, given.bStrides]);
  const plan = { ...given, batchShape: batch.shape, aStrides: batch.strides[0]!, bStrides: batch.strides[1]! };
  const { M, N, K, batchShape } = plan;
  const nBatch = batchShape.reduce((x, y) => x * y, 1);
  if (nBatch * M * N === 0) return;
  if (nBatch * M * N >= 2 ** 32) throw new Error(`matmul: ${nBatch}x${M}x${N} output is too large`);
  if (plan.bias && !matmulAddsBias(plan)) throw new Error(`matmul: a ${M}-row product adds no bias here (matmulAddsBias); add it apart`);
  const { tiled, skinnyRows, subgroupMatrix } = profile().matmul;
  if (plan.scale) {
    if (plan.transA || !plan.transB || nBatch !== 1) throw new Error('matmul: int8 weights are multiplied as A [M, K] · Qᵀ only');
    if (M <= skinnyRows) return launchSkinnyInt8Matmul(a, b, plan.scale, c, M, N, K);
    const int8TensorCores = int8TensorCoresFor(M, K);
    if (int8TensorCores) {
      // A quantized per row into transients, released once recorded (later dispatches may reuse them)
      const [aq, xs] = [device().alloc(M * K, 'matmul int8 activations'), device().alloc(4 * M, 'matmul int8 activation scales')];
      launchQuantizeRows(a, aq, xs, M, K);
      launchInt8SubgroupMatrixMatmul(aq, b, xs, plan.scale, c, M, N, K, int8TensorCores);
      device().release(aq);
      device().release(xs);
      return;
    }
    if (int8ProductDequantizes(M, N, K)) {
      const w = device().alloc(Math.max(4, 4 * N * K), 'matmul dequantized int8');
      launchDequantize(b, plan.scale, w, N, K);
      launchMatmul(a, w, c, { ...plan, scale: undefined });
      device().release(w); // later dispatches may reuse it: this one is recorded
      return;
    }
    return recordTiled(a, b, c, plan, 1, matmulTiling(M, N, K, 1));
  }
  if (isSkinny(plan, skinnyRows)) return recordSkinny(a, b, c, plan, nBatch);
  if (plan.float === 'f16' && subgroupMatrix) {
    const fallback = tensorCoreSplits(M, N, K, nBatch);
    const record = (a: Resource, b: Resource, c: Resource, splits: number) => recordTensorCores(a, b, c, plan, nBatch, subgroupMatrix, splits);
    const splits = matmulTilingIsAuto() ? tuned(productTunable(plan, nBatch, 'tensor cores', fallback, splitCandidates(K), record)) : fallback;
    return record(a, b, c, splits);
  }
  if (tiled === 'texture' && K > 0 && launchTextureMatmul(a, b, c, plan, nBatch)) return;
  const fallback = matmulTiling(M, N, K, nBatch);
  const record = (a: Resource, b: Resource, c: Resource, tiling: MatmulTiling) => recordTiled(a, b, c, plan, nBatch, tiling);
  record(a, b, c, matmulTilingIsAuto() ? tuned(productTunable(plan, nBatch, 'tiled', fallback, matmulTilings(K, fallback.tiles), record)) : fallback);
}

/** The skinny product with the profile's kernel; 'auto' measures the ones that fit its layout ('workgroup' until measured). */
function recordSkinny(a: Resource, b: Resource, c: Resource, plan: MatmulPlan, nBatch: number): void {
  const { skinny } = profile().matmul;
  const fits = skinnyKernelsFor(plan);
  const record = (a: Resource, b: Resource, c: Resource, kernel: SkinnyKernel, bias = plan.bias) => launchSkinnyMatmul(a, b, c, { ...plan, bias }, nBatch, kernel);
  if (skinny !== 'auto') return record(a, b, c, fits.includes(skinny) ? skinny : 'element');
  const fallback = fits.includes('workgroup') ? 'workgroup' : 'element';
  record(a, b, c, tuned(productTunable(plan, nBatch, 'skinny', fallback, fits, record)));
}

/**
 * At most `wanted` K splits whose f32 partials fit one binding of the profile (whose limit tests
 * lower), and their scratch: `part` binds the partials alone (a pooled buffer may be larger than
 * asked), `scratch` is released once recorded (later dispatches may reuse it); null for one split.
 */
function splitScratch(wanted: number, elements: number): { splits: number; part: Resource | null; scratch: GPUBuffer | null } {
  const splits = Math.max(1, Math.min(wanted, Math.floor(profile().bindingLimit / (4 * elements))));
  if (splits === 1) return { splits, part: null, scratch: null };
  const scratch = device().alloc(4 * splits * elements, 'matmul split-K');
  return { splits, part: windowOf(scratch, 0, splits * elements), scratch };
}

/** The tiled family's launch, with its split-K scratch. */
function recordTiled(a: Resource, b: Resource, c: Resource, plan: MatmulPlan, nBatch: number, tiling: MatmulTiling): void {
  const { splits, part, scratch } = splitScratch(tiling.splits, nBatch * plan.M * plan.N);
  launchTiledMatmul(a, b, c, part, plan, tiling.tiles, splits);
  if (scratch) device().release(scratch);
}

/** The tensor-core launch, K split in `wanted` (f32 partials, then their sum in order). */
function recordTensorCores(a: Resource, b: Resource, c: Resource, plan: MatmulPlan, nBatch: number, tiling: SubgroupMatrixTiling, wanted: number): void {
  const elements = nBatch * plan.M * plan.N;
  const { splits, part, scratch } = splitScratch(wanted, elements);
  if (!part || !scratch) return launchSubgroupMatrixMatmul(a, b, c, plan, tiling);
  launchSubgroupMatrixMatmul(a, b, part, plan, tiling, 'f32', splits);
  launchSplitSum(part, c, elements, splits, 'f16');
  device().release(scratch);
}

/** A family's candidates (tiles and splits, or splits) to measure for this product, on scratch operands of its shape and layout. */
function productTunable<C>(plan: MatmulPlan, nBatch: number, family: string, fallback: C, candidates: readonly C[], record: (a: Resource, b: Resource, c: Resource, candidate: C, bias?: Resource) => void): Tunable<C> {
  const { M, N, K, transA, transB, batchShape } = plan;
  const layout = `${transA ? 'ta' : ''}${transB ? 'tb' : ''}${vec4Aligned(plan) ? ' vec4' : ''}`;
  // elements a buffer must hold for its batch strides (0 where broadcast) plus one matrix
  const extent = (strides: readonly number[], matrix: number) => strides.reduce((n, st, d) => n + (batchShape[d]! - 1) * st, matrix);
  const kind = `${layout}${plan.float === 'f16' ? ' f16' : ''}${family === 'tiled' ? '' : ` ${family}`}`;
  return {
    key: `matmul ${[...batchShape, M, N, K].join('x')} ${kind}`,
    family: `matmul ${kind}`,
    fallback,
    candidates,
    prepare(candidate) {
      const dev = device();
      // 4 bytes an element: enough for f16 operands too; a scratch bias as well where the product
      // adds one (the measurement runs later, when the caller's bias may be freed and destroyed)
      const sizes = [extent(plan.aStrides, M * K), extent(plan.bStrides, K * N), nBatch * M * N, ...(plan.bias ? [N] : [])];
      const buffers = sizes.map((n) => dev.alloc(4 * n, 'matmul autotune'));
      const [a, b, c, bias] = buffers as [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer?];
      return {
        run: () => record(a, b, c, candidate, bias),
        dispose: () => buffers.forEach((x) => dev.release(x)),
      };
    },
  };
}

// ---- texture path ---------------------------------------------------------------------------

const TEX_LANES = SHARING_LANES; // lanes along N (one subgroup on llvmpipe); WY lanes along M
const texKernels = new Map<string, Kernel>(); // by block, operand layouts and A sharing

// op(X)[b][r, c] = x[strided(b, ...) + r * sr + c * sc] for r < rows, c < cols, b < batches; a
// texel of t holds op(X)[b][r, 4x .. 4x+3] at (x, b * pitch + r), zeros outside.
const packKernel = variants((float: FloatType) => new Kernel({
  name: `matmul-pack${float === 'f16' ? '-f16' : ''}`,
  read: { x: float },
  textures: { t: 'store' },
  params: {
    rows: 'u32', cols: 'u32', pitch: 'u32', sr: 'u32', sc: 'u32', batches: 'u32', width: 'u32', height: 'u32',
    batch_rank: 'u32', batch_shape: 'dims', strides: 'dims',
  },
  body: /* wgsl */ `
@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x >= p.width || gid.y >= p.height) { return; }
  let b = gid.y / p.pitch;
  let r = gid.y % p.pitch;
  var v = vec4f(0.0);
  if (b < p.batches && r < p.rows) {
    let base = strided(b, p.batch_rank, p.batch_shape, p.strides) + r * p.sr;
    for (var j = 0u; j < 4u; j++) {
      let c = 4u * gid.x + j;
      if (c < p.cols) { v[j] = f32(x[base + c * p.sc]); }
    }
  }
  textureStore(t, gid.xy, v);
}`,
}));

/**
 * How an operand sits in its texture. 'k': a texel holds 4 consecutive k of one row of op(A) (one
 * column of op(B)), texel (kq, b * pitch + outer). 'outer': a texel holds 4 consecutive rows of
 * op(A) (columns of op(B)) at one k, texel (outerq, b * Kp + k). Each operand takes the layout its
 * stored matrix already has, so that it can be copied rather than packed: A 'k' and B 'outer'
 * untransposed, A 'outer' and B 'k' transposed.
 */
type TexLayout = 'k' | 'outer';

function textureMatmulKernel(WY: number, RM: number, RNT: number, aLayout: TexLayout, bLayout: TexLayout, shareA: boolean, float: FloatType, reads: TextureReads): Kernel {
  // a texel of texture t at vec2u(xy): storage textures have no mip level to name
  const texel = (t: string, xy: string) => (reads === 'storage' ? `textureLoad(${t}, vec2u(${xy}))` : `textureLoad(${t}, vec2u(${xy}), 0)`);
  const RQ = RNT / 4; // vec4 columns per lane
  const TMT = WY * RM;
  const TNT = TEX_LANES * RNT;
  // per kq: load the texels, then A(i, c) (a scalar) and B(c, q) (a vec4 of 4 columns) for k = 4kq + c
  // Sharing A: the 8 lanes of one lid.y (a subgroup) all need the same RM A texels; lane sg fetches
  // texels 8h + sg and the rest come by broadcast. Texel t is row t ('k'), or column group t / 4
  // at k offset t % 4 ('outer').
  const aLoads = shareA
    ? [each(RM / 8, (h) => aLayout === 'k'
        ? `    let a_mine${h} = ${texel('ta', `kq, a_row + ${8 * h}u + sg`)};`
        : `    let a_mine${h} = ${texel('ta', `a_col + ${2 * h}u + sg / 4u, a_k + 4u * kq + sg % 4u`)};`),
       aLayout === 'k'
        ? each(RM, (i) => `    let a${i} = subgroupBroadcast(a_mine${i >> 3}, ${i & 7}u);`)
        : each(4, (c) => each(RM / 4, (g) => `    let a${c}_${g} = subgroupBroadcast(a_mine${(4 * g + c) >> 3}, ${(4 * g + c) & 7}u);`))].join('\n')
    : aLayout === 'k'
      ? each(RM, (i) => `    let a${i} = ${texel('ta', `kq, a_row + ${i}u`)};`)
      : each(4, (c) => each(RM / 4, (g) => `    let a${c}_${g} = ${texel('ta', `a_col + ${g}u, a_k + 4u * kq + ${c}u`)};`));
  const A = (i: number, c: number) => (aLayout === 'k' ? `a${i}.${'xyzw'[c]}` : `a${c}_${i >> 2}.${'xyzw'[i & 3]}`);
  const bLoads =
    bLayout === 'outer'
      ? each(4, (c) => each(RQ, (q) => `    let b${c}_${q} = ${texel('tb', `b_col + ${q}u, b_k + 4u * kq + ${c}u`)};`))
      : [
          each(RNT, (j) => `    let t${j} = ${texel('tb', `kq, b_row + ${j}u`)};`),
          each(4, (c) => each(RQ, (q) => `    let b${c}_${q} = vec4f(${[0, 1, 2, 3].map((x) => `t${4 * q + x}.${'xyzw'[c]}`).join(', ')});`)),
        ].join('\n');
  return new Kernel({
    name: `matmul-texture-${TMT}x${TNT}-${aLayout}-${bLayout}${shareA ? '-shared' : ''}${float === 'f16' ? '-f16' : ''}${reads === 'sampled' ? '-sampled' : ''}`, // C tile, layouts
    enable: shareA ? ['subgroups'] : [],
    write: { c: float },
    textures: { ta: reads === 'storage' ? 'read' : 'load', tb: reads === 'storage' ? 'read' : 'load' },
    params: { M: 'u32', N: 'u32', kq: 'u32', kp: 'u32', tiles_n: 'u32', tiles_m: 'u32', tiles: 'u32' },
    body: /* wgsl */ `
${LINEAR}
// C[row, col .. col+3] = v, clipped to the matrix.
fn store(base: u32, row: u32, col: u32, v: vec4f) {
  if (row >= p.M) { return; }
  for (var j = 0u; j < 4u; j++) {
    if (col + j < p.N) { c[base + row * p.N + col + j] = ${narrow(float, 'v[j]')}; }
  }
}

@compute @workgroup_size(${TEX_LANES}, ${WY})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u${shareA ? ', @builtin(subgroup_invocation_id) sg: u32' : ''}) {
  let t = linear(wid, nwg, 1u);
  if (t >= p.tiles) { return; }
  let n0 = (t % p.tiles_n) * ${TNT}u;
  let m0 = ((t / p.tiles_n) % p.tiles_m) * ${TMT}u;
  let batch = t / (p.tiles_n * p.tiles_m);
  let row = m0 + lid.y * ${RM}u;
  let col = n0 + lid.x * ${RNT}u;
  // texel coordinates of this lane's rows of op(A) and columns of op(B) at k = 0 (per layout)
  let a_row = batch * p.M + row;
  let a_col = row / 4u;
  let a_k = batch * p.kp;
  let b_row = batch * p.N + col;
  let b_col = col / 4u;
  let b_k = batch * p.kp;
  // acc[i * ${RQ} + q] = C[row + i, col + 4q .. col + 4q + 3]
  var acc: array<vec4f, ${RM * RQ}>;
  for (var kq = 0u; kq < p.kq; kq++) {
${aLoads}
${bLoads}
${each(RM, (i) => each(RQ, (q) => `    acc[${i * RQ + q}] += ${[0, 1, 2, 3].map((c) => `${A(i, c)} * b${c}_${q}`).join(' + ')};`))}
  }
  let c_base = batch * p.M * p.N;
  // Stored by a loop, not ${RM * RQ} inlined stores: their clipping branches took LLVM (lavapipe)
  // ~10x as long to compile. The loop indexes a copy: indexing acc itself at run time would keep
  // acc in memory through the k loop (~10% slower there).
  var out: array<vec4f, ${RM * RQ}>;
${each(RM * RQ, (k) => `  out[${k}] = acc[${k}];`)}
  for (var i = 0u; i < ${RM}u; i++) {
${each(RQ, (q) => `    store(c_base, row + i, col + ${4 * q}u, out[i * ${RQ}u + ${q}u]);`)}
  }
}`,
  });
}

/** Whether `strides` (per batch dim of `shape`) are those of contiguous `matrix`-sized items. */
function contiguous(shape: readonly number[], strides: readonly number[], matrix: number): boolean {
  let expect = matrix;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d]! > 1 && strides[d] !== expect) return false;
    expect *= shape[d]!;
  }
  return true;
}

/** Puts one operand in its texture: a copy when the stored matrix already is the layout, else a pack. */
function fillTexture(
  x: Resource, t: GPUTexture, nBatch: number, batchShape: readonly number[], strides: readonly number[],
  o: { rows: number; cols: number; pitch: number; sr: number; sc: number; width: number; height: number },
  float: FloatType,
): void {
  // a copy moves whole rows of `cols` f32 (4 cols bytes, a multiple of 256) with no padding rows
  // between batches: the stored matrix must be exactly that, batches back to back (f16 is packed)
  if (float === 'f32' && o.sr === o.cols && o.sc === 1 && o.rows === o.pitch && (4 * o.cols) % 256 === 0 && contiguous(batchShape, strides, o.rows * o.cols)) {
    device().copyToTexture(x as GPUBuffer | BufferWindow, t, o.cols, nBatch * o.rows);
    return;
  }
  packKernel(float).launch(
    [x, t],
    { ...o, batches: nBatch, batch_rank: batchShape.length, batch_shape: batchShape, strides },
    [Math.ceil(o.width / 8), Math.ceil(o.height / 8), 1],
  );
}

/**
 * The largest C tile side of the texture path, a multiple of each (TMT below is 64 or 128, TNT 32,
 * 64 or 128) but 96, which is taken only where it pads M no more than 128 does (sharedRows).
 */
const TEXTURE_TILE_MAX = 128;

/**
 * The largest M, N and K one launch of a 2-D product (no batch dims) takes on this adapter: where
 * the profile sends it to the texture path, the textures of its operands are at most
 * maxTextureDimension2D texels on a side (GPT-2's 50257-row LM head and its gradients are not), and
 * larger products go in blocks (src/ops/matmul-blocks.ts) rather than to the buffer kernel, which
 * is far slower there (lavapipe: [512 x 768]·[50257 x 768]^T at 1.7 GFLOP/s, blocks of 7168 rows
 * at 12). Other paths take any size.
 */
export function matmulLaunchLimits(p: Pick<MatmulPlan, 'M' | 'K' | 'transA' | 'transB' | 'float'>): { M: number; N: number; K: number } {
  const { tiled, skinnyRows, subgroupMatrix } = profile().matmul;
  if (isSkinny(p, skinnyRows) || tiled !== 'texture' || (p.float === 'f16' && subgroupMatrix)) return { M: Infinity, N: Infinity, K: Infinity };
  const max = device().info.limits.maxTextureDimension2D ?? 8192;
  // 'k' layouts: a texel row per row of op(A) / column of op(B) (padded to the tile), kq texels wide;
  // 'outer' layouts: 4 of them a texel, Kp (K padded to 4) texel rows
  const tiles = (texels: number) => Math.floor(texels / TEXTURE_TILE_MAX) * TEXTURE_TILE_MAX;
  return {
    M: tiles(p.transA ? 4 * max : max),
    N: tiles(p.transB ? max : 4 * max),
    K: p.transA || !p.transB ? max - (max % 4) : 4 * max,
  };
}

/** C rows a lane of the shared 128-row-class tiles takes: 24 (96-row tiles) where they pad M no more than 32 (128-row tiles) would; see the header. */
const sharedRows = (M: number) => (Math.ceil(M / 96) * 96 <= Math.ceil(M / 128) * 128 ? 24 : 32);

/** The texture path; false (nothing recorded) when a texture would exceed the adapter's limit. */
function launchTextureMatmul(a: Resource, b: Resource, c: Resource, plan: MatmulPlan, nBatch: number): boolean {
  const { M, N, K, transA, transB, batchShape } = plan;
  // the 8 lanes along N of one lid.y need the same A texels: on llvmpipe they are one subgroup
  const shareA = profile().subgroupSharing;
  // lanes along M, and C rows and columns per lane (measured on lavapipe, see the header)
  const [WY, RM, RNT] = shareA ? (M >= 128 ? [4, sharedRows(M), 8] : [2, 32, N <= 32 ? 4 : 8]) : [8, 8, N > 4 * TEX_LANES * 2 ? 16 : 8];
  const TMT = WY * RM;
  const TNT = TEX_LANES * RNT;
  const tilesM = Math.ceil(M / TMT);
  const tilesN = Math.ceil(N / TNT);
  const kq = Math.ceil(K / 4);
  const kp = 4 * kq;
  const aLayout: TexLayout = transA ? 'outer' : 'k';
  const bLayout: TexLayout = transB ? 'k' : 'outer';
  // op(A)[m, k] = a[m * sm + k * sk] per batch, stored [M, K] (transA: [K, M]); likewise op(B)[k, n]
  const [aSm, aSk] = transA ? [1, M] : [K, 1];
  const [bSk, bSn] = transB ? [1, K] : [N, 1];
  // texture extents: 'k' layouts are kq wide and one row per outer index (padded to the tile at the
  // end); 'outer' layouts are a tile multiple / 4 wide and Kp rows per batch (K padded with zeros)
  const aFill = aLayout === 'k'
    ? { rows: M, cols: K, pitch: M, sr: aSm, sc: aSk, width: kq, height: (nBatch - 1) * M + tilesM * TMT }
    : { rows: K, cols: M, pitch: kp, sr: aSk, sc: aSm, width: (tilesM * TMT) / 4, height: nBatch * kp };
  const bFill = bLayout === 'outer'
    ? { rows: K, cols: N, pitch: kp, sr: bSk, sc: bSn, width: (tilesN * TNT) / 4, height: nBatch * kp }
    : { rows: N, cols: K, pitch: N, sr: bSn, sc: bSk, width: kq, height: (nBatch - 1) * N + tilesN * TNT };
  const tiles = tilesM * tilesN * nBatch;
  const max = device().info.limits.maxTextureDimension2D ?? 8192;
  if (Math.max(aFill.width, aFill.height, bFill.width, bFill.height) > max || tiles >= 2 ** 32) return false;
  const dev = device();
  const ta = dev.allocTexture(aFill.width, aFill.height, 'matmul-a');
  const tb = dev.allocTexture(bFill.width, bFill.height, 'matmul-b');
  const float = plan.float ?? 'f32';
  fillTexture(a, ta, nBatch, batchShape, plan.aStrides, aFill, float);
  fillTexture(b, tb, nBatch, batchShape, plan.bStrides, bFill, float);
  const { textureReads } = profile().matmul;
  const key = `${WY}-${RM}-${RNT}-${aLayout}-${bLayout}-${shareA}-${float}-${textureReads}`;
  let k = texKernels.get(key);
  if (!k) texKernels.set(key, (k = textureMatmulKernel(WY, RM, RNT, aLayout, bLayout, shareA, float, textureReads)));
  k.launch([c, ta, tb], { M, N, kq, kp, tiles_n: tilesN, tiles_m: tilesM, tiles }, grid1d(tiles, 1));
  dev.releaseTexture(ta);
  dev.releaseTexture(tb);
  return true;
}
