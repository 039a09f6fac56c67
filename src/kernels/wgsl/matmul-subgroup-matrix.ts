// Tensor-core matmul: C = op(A) · op(B) for float16 A and B, accumulated in f32 with WGSL's subgroup
// matrices (chromium_experimental_subgroup_matrix: cooperative matrices on Vulkan, simdgroup
// matrices on Metal), C stored as f16 or f32. Layout and batch broadcasting as in matmul.ts, which
// dispatches float16 products here when the profile has a configuration (profile.ts
// detectSubgroupMatrix: the fragment shape M x N x K, the subgroup size, the K step BK).
// A workgroup of 8 subgroups computes a 128x128 tile of C, subgroup s the 64x32 block at rows
// 64 * (s / 4), columns 32 * (s % 4): (64/M) x (32/N) fragments (4x2 of 16x16x16), each a
// subgroup_matrix_result<f32> held through the whole K loop. Per K step the workgroup stages
// op(A)'s 128 x BK and op(B)'s BK x 128 tiles in workgroup memory in the stored matrices' own
// layouts (A [m][k], transposed [k][m]; B [k][n], transposed [n][k]): a transposed operand is
// loaded column-major by subgroupMatrixLoad, so staging never transposes. Then each subgroup loads
// its fragments from the tiles and multiply-accumulates: one stage, two barriers per K step.
// Global loads move 8 f16 at a time as one vec4<u32> where the stored matrices' contiguous axis and
// the batch strides are multiples of 8 (`wide` variants), else 8 bounds-checked scalar loads.
// Edges: rows, columns and k outside the matrices are staged as zeros, so the same tiles compute
// any M, N, K; the epilogue passes each fragment through an M x N f32 slot of workgroup memory
// (subgroupMatrixStore), from which the subgroup's lanes store the elements inside C, converted
// to C's type. Every offset into workgroup memory derives from subgroup_id, workgroup_id and loop
// counters: subgroup-uniform, as Dawn's uniformity analysis requires of subgroup-matrix calls.
// int8 (`element` 'i8', int8 weights' prompt processing, ops/int8.ts through matmul.ts): C f32 =
// (Aq · Qᵀ) ⊙ (xScale ⊗ wScale) for int8 Aq [M, K] (activations quantized per row by int8.ts
// launchQuantizeRows) and int8 Q [N, K] (the weights), both packed four to a u32 in element order,
// K a multiple of 4 (rows are whole words), so transA = false and transB = true only. Fragments are
// i8 x i8 -> i32 (subgroup_matrix_left<i8> loaded from the u32 tiles: offsets and strides count
// u32 words, as Dawn's templated load counts elements of the array it is given since its change of
// 2026-06-29; npm webgpu's Dawn is newer: it takes vector arrays, a change of 2026-08-11; the
// device-start self-check would catch another count); tiles are staged as words,
// 16 i8 per global vec4u load where K is a multiple of 16 (`wide`), else 4 bounds-checked words;
// the epilogue scales each i32 sum by its row's and column's scale (exact integer sums: |sum| <=
// 127² K, below 2³¹ up to K = 133,144, INT8_TENSOR_CORE_MAX_K: deeper products would wrap, so
// profile.ts int8TensorCoresFor sends them to the float32-activation kernels).
// The layout assumes subgroups of `lanes` lanes (the adapter's fixed size, or pinned with
// @subgroup_size); workgroups have 8 * lanes invocations. Products with a small M x N
// and a long K (weight gradients: K = batch x block) split K over several workgroups, each
// writing f32 partials that matmul-tiled.ts's split sum adds in a fixed order (matmul.ts picks the
// splits, as for the buffer family). Issue #14's standalone kernel of this design reached
// 114.6 TFLOP/s at 4096^3 and 156 at 8192^3 on an NVIDIA H200; this one is not yet measured there.
// Tests compile and validate it on Dawn's null backend, and run its tiling with software fragments
// (an `emulated` tiling, softwareFragments below: the same tiles, offsets, strides and epilogue,
// each fragment operation done by plain WGSL) on any adapter against float64; the device-start
// self-check verifies its numbers wherever the feature exists.
import type { Resource } from '../../device/bind-groups.js';
import { each, Kernel, LINEAR, grid1d, narrow, variants, type FloatType } from '../kernel.js';
import { INT8_TENSOR_CORE_MAX_K, SGM_BLOCK_M, SGM_BLOCK_N, SGM_SUBGROUPS, SGM_TILE, type SgmElement, type SubgroupMatrixTiling } from '../profile.js';
import { splitChunk, TILED_PARAMS, tileOfWorkgroup, type MatmulPlan } from './matmul-tiled.js';

export interface SubgroupMatrixVariant extends SubgroupMatrixTiling {
  /** What A and B hold: f16, or int8 packed four to a u32 (then C is f32 = sums times scales). */
  element: SgmElement;
  transA: boolean;
  transB: boolean;
  /** 16 bytes per global load, 8 f16 or 16 i8 (see the header). */
  wide: boolean;
  /** How C stores its elements. */
  out: FloatType;
}

/** How a tile holds an element type: as `unit`s of `pack` elements each, `perLoad` units per 16-byte global load. */
const TILE_UNITS: Record<SgmElement, { unit: 'f16' | 'u32'; pack: number; perLoad: number; result: string }> = {
  f16: { unit: 'f16', pack: 1, perLoad: 8, result: 'f32' },
  i8: { unit: 'u32', pack: 4, perLoad: 4, result: 'i32' },
};

/**
 * WGSL staging a `rows` x `cols` block of a stored matrix (cols along its contiguous axis, all in
 * tile units) into `tile` row-major, zeros outside the matrix: a 16-byte slot of consecutive units
 * per load, `lanes` lanes.
 */
function stage(o: { x: 'a' | 'b'; tile: 'As' | 'Bs'; rows: number; cols: number; row0: string; rowEnd: string; col0: string; colEnd: string; ld: string; wide: boolean; lanes: number; element: SgmElement }): string {
  const { x, tile, rows, cols, row0, rowEnd, col0, colEnd, ld, wide, lanes } = o;
  const { unit, perLoad: n } = TILE_UNITS[o.element];
  const unpack = unit === 'f16'
    ? `${[0, 1, 2, 3].map((q) => `let h${q} = bitcast<vec2h>(w[${q}]);`).join(' ')}
        h = array(h0.x, h0.y, h1.x, h1.y, h2.x, h2.y, h3.x, h3.y);`
    : 'h = array(w.x, w.y, w.z, w.w);';
  const read = wide
    ? `let w = ${x}[at / ${n}u];
        ${unpack}`
    : `for (var j = 0u; j < ${n}u; j++) { if (${col0} + c + j < ${colEnd}) { h[j] = ${x}[at + j]; } }`;
  return `    for (var s = lane; s < ${(rows * cols) / n}u; s += ${lanes}u) {
      let r = s / ${cols / n}u;
      let c = ${n}u * (s % ${cols / n}u);
      var h = array<${unit}, ${n}>(); // zeros outside the matrix, on every pass (kernel.ts: Tint zeroes a bare var once)
      if (${row0} + r < ${rowEnd} && ${col0} + c < ${colEnd}) {
        let at = ${x}_base + (${row0} + r) * ${ld} + ${col0} + c;
        ${read}
      }
      for (var j = 0u; j < ${n}u; j++) { ${tile}[r * ${cols}u + c + j] = h[j]; }
    }`;
}

/** How the kernel declares, loads, multiplies and stores its fragments (WGSL text for each). */
interface FragmentOps {
  enable: string[];
  /** After `@workgroup_size`, and main's parameters after its invocation index; `prelude` opens main. */
  attributes: string;
  ids: string;
  prelude: string;
  /** Module-scope WGSL the others call (empty, or ending in a blank line). */
  helpers: string;
  /** A zeroed result fragment. */
  zero: string;
  load(operand: 'left' | 'right', at: string, layout: 'row_major' | 'col_major', stride: string): string;
  /** A statement adding left · right to the result fragment `acc`. */
  multiplyAccumulate(left: string, right: string, acc: string): string;
  /** Stores a result fragment row-major into Cs. */
  store(at: string, acc: string, stride: string): string;
}

/** WGSL's subgroup matrices: `left` fragments load from As, `right` ones from Bs. */
function hardwareFragments(v: SubgroupMatrixVariant): FragmentOps {
  const { M, N, K, lanes, element } = v;
  const type = {
    left: `subgroup_matrix_left<${element}, ${K}, ${M}>`,
    right: `subgroup_matrix_right<${element}, ${N}, ${K}>`,
  };
  return {
    enable: ['subgroups', 'chromium_experimental_subgroup_matrix', ...(v.pinned ? ['subgroup_size_control'] : [])],
    attributes: v.pinned ? ` @subgroup_size(${lanes})` : '',
    ids: `,
        @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) sl: u32`,
    prelude: '',
    helpers: '',
    zero: `subgroup_matrix_result<${TILE_UNITS[element].result}, ${N}, ${M}>()`,
    load: (operand, at, layout, stride) => `subgroupMatrixLoad<${type[operand]}, ${layout}>(&${operand === 'left' ? 'As' : 'Bs'}, ${at}, ${stride})`,
    multiplyAccumulate: (left, right, acc) => `${acc} = subgroupMatrixMultiplyAccumulate(${left}, ${right}, ${acc})`,
    store: (at, acc, stride) => `subgroupMatrixStore<row_major>(&Cs, ${at}, ${acc}, ${stride})`,
  };
}

/**
 * Fragments in software, for an `emulated` tiling: the same tiles, offsets and strides with the
 * semantics of WGSL's subgroup matrices (left M x K, right K x N, result M x N; element (r, c) at
 * offset + r * stride + c row-major, offset + c * stride + r column-major, counting tile units,
 * int8 elements four to a word in element order), so the kernel's tiling runs on any adapter.
 * Subgroups are consecutive runs of `lanes` invocations; a left or right fragment is where it lies
 * in As or Bs, read as it is multiplied (between the same barriers as a load); lane l owns the
 * elements l, l + lanes, ... of a result fragment, row-major.
 */
function softwareFragments(v: SubgroupMatrixVariant): FragmentOps {
  const { M, N, K, lanes, element } = v;
  const { pack, result: acc } = TILE_UNITS[element];
  const owned = Math.ceil((M * N) / lanes);
  const read = (tile: string) => (element === 'f16' ? `f32(${tile}[i])` : `extractBits(bitcast<i32>(${tile}[i / 4u]), 8u * (i % 4u), 8u)`);
  return {
    enable: [],
    attributes: '',
    ids: '',
    prelude: `  let sg = lane / ${lanes}u;
  let sl = lane % ${lanes}u;
  owned_count = select(${owned}u, 0u, p.tiles == 0u); // p.tiles > 0 wherever this runs
  k_count = select(${K}u, 0u, p.tiles == 0u);
`,
    helpers: `struct Fragment { at: u32, stride: u32, col_major: bool }
struct Owned { v: array<${acc}, ${owned}> }
// trip counts the compiler cannot fold, so that it keeps these loops rolled (set in main; lavapipe
// takes minutes to compile them unrolled 16 times over)
var<private> owned_count: u32;
var<private> k_count: u32;
fn element_index(f: Fragment, r: u32, c: u32) -> u32 {
  return ${pack}u * f.at + select(r * ${pack}u * f.stride + c, c * ${pack}u * f.stride + r, f.col_major);
}
fn left_element(f: Fragment, r: u32, c: u32) -> ${acc} { let i = element_index(f, r, c); return ${read('As')}; }
fn right_element(f: Fragment, r: u32, c: u32) -> ${acc} { let i = element_index(f, r, c); return ${read('Bs')}; }
fn multiply_accumulate(l: Fragment, r: Fragment, acc: Owned, sl: u32) -> Owned {
  var sum = acc;
  for (var j = 0u; j < owned_count; j++) {
    let e = sl + ${lanes}u * j;
    if (e < ${M * N}u) {
      for (var k = 0u; k < k_count; k++) { sum.v[j] += left_element(l, e / ${N}u, k) * right_element(r, k, e % ${N}u); }
    }
  }
  return sum;
}
fn store_fragment(at: u32, acc: Owned, stride: u32, sl: u32) {
  for (var j = 0u; j < owned_count; j++) {
    let e = sl + ${lanes}u * j;
    if (e < ${M * N}u) { Cs[at + (e / ${N}u) * stride + e % ${N}u] = acc.v[j]; }
  }
}

`,
    zero: 'Owned()',
    load: (_operand, at, layout, stride) => `Fragment(${at}, ${stride}, ${layout === 'col_major'})`,
    multiplyAccumulate: (left, right, accumulator) => `${accumulator} = multiply_accumulate(${left}, ${right}, ${accumulator}, sl)`,
    store: (at, accumulator, stride) => `store_fragment(${at}, ${accumulator}, ${stride}, sl)`,
  };
}

/** The kernel for one variant: its WGSL and bindings (built without a device, so tests can compile it anywhere). */
export function subgroupMatrixKernel(v: SubgroupMatrixVariant): Kernel {
  const { M, N, K, lanes, bk, element, transA, transB, wide, out } = v;
  const int8 = element === 'i8';
  if (int8 && (transA || !transB || out !== 'f32')) throw new Error('matmul-sgm: int8 operands are multiplied as A [M, K] · Qᵀ into f32 only');
  const { unit, pack, result: acc } = TILE_UNITS[element];
  const T = SGM_TILE;
  const fm = SGM_BLOCK_M / M; // fragments of a subgroup's block along M
  const fn = SGM_BLOCK_N / N; // and along N
  const size = SGM_SUBGROUPS * lanes;
  const blocksN = T / SGM_BLOCK_N; // subgroups along N
  const operand = wide ? 'vec4u' : unit;
  const kw = bk / pack; // tile units along K
  const units = (e: string) => (pack === 1 ? e : `(${e} / ${pack}u)`); // k in tile units (K % 4 = 0 for i8)
  const common = { wide, lanes: size, element };
  // op(A) staged as stored: A [m][k] (BK wide, row-major), A^T [k][m] (128 wide, read column-major)
  const stageA = transA
    ? stage({ x: 'a', tile: 'As', rows: bk, cols: T, row0: 'k0', rowEnd: 'p.K', col0: 'm0', colEnd: 'p.M', ld: 'p.M', ...common })
    : stage({ x: 'a', tile: 'As', rows: T, cols: kw, row0: 'm0', rowEnd: 'p.M', col0: units('k0'), colEnd: units('p.K'), ld: units('p.K'), ...common });
  const stageB = transB
    ? stage({ x: 'b', tile: 'Bs', rows: T, cols: kw, row0: 'n0', rowEnd: 'p.N', col0: units('k0'), colEnd: units('p.K'), ld: units('p.K'), ...common })
    : stage({ x: 'b', tile: 'Bs', rows: bk, cols: T, row0: 'k0', rowEnd: 'p.K', col0: 'n0', colEnd: 'p.N', ld: 'p.N', ...common });
  const ops = v.emulated ? softwareFragments(v) : hardwareFragments(v);
  // fragment i of the subgroup's rows and j of its columns at depth kk of the staged tiles; offsets
  // and strides count tile units (Dawn's loads count elements of the array they are given)
  const loadA = (i: number, kk: number) => transA
    ? ops.load('left', `${kk * T}u + sm + ${i * M}u`, 'col_major', `${T}u`)
    : ops.load('left', `(sm + ${i * M}u) * ${kw}u + ${kk / pack}u`, 'row_major', `${kw}u`);
  const loadB = (j: number, kk: number) => transB
    ? ops.load('right', `(sn + ${j * N}u) * ${kw}u + ${kk / pack}u`, 'col_major', `${kw}u`)
    : ops.load('right', `${kk * T}u + sn + ${j * N}u`, 'row_major', `${T}u`);
  const fragments = (f: (i: number, j: number) => string) => each(fm, (i) => each(fn, (j) => f(i, j)));
  const steps = each(bk / K, (s) => [
    '    {',
    each(fm, (i) => `      let l${i} = ${loadA(i, s * K)};`),
    each(fn, (j) => `      let r${j} = ${loadB(j, s * K)};`),
    fragments((i, j) => `      ${ops.multiplyAccumulate(`l${i}`, `r${j}`, `acc${i}_${j}`)};`),
    '    }',
  ].join('\n'));
  const slot = M * N;
  // int8: the exact i32 sum times its row's and column's scales
  const store = int8 ? `f32(Cs[sg * ${slot}u + e]) * xs[row] * ws[col]` : narrow(out, `Cs[sg * ${slot}u + e]`);
  const epilogue = fragments((i, j) => `  ${ops.store(`sg * ${slot}u`, `acc${i}_${j}`, `${N}u`)};
  workgroupBarrier();
  for (var e = sl; e < ${slot}u; e += ${lanes}u) {
    let row = m0 + sm + ${i * M}u + e / ${N}u;
    let col = n0 + sn + ${j * N}u + e % ${N}u;
    if (row < p.M && col < p.N) { c[c_base + row * p.N + col] = ${store}; }
  }
  workgroupBarrier();`);
  return new Kernel({
    name: `matmul-sgm-${element}-${M}x${N}x${K}-k${bk}-${lanes}${transA ? '-ta' : ''}${transB ? '-tb' : ''}${wide ? '-wide' : ''}-${out}`,
    enable: [...(int8 ? [] : ['f16']), ...ops.enable],
    read: { a: operand, b: operand, ...(int8 ? { xs: 'f32' as const, ws: 'f32' as const } : {}) },
    write: { c: out },
    params: TILED_PARAMS,
    body: /* wgsl */ `
${LINEAR}
var<workgroup> As: array<${unit}, ${(T * bk) / pack}>; // op(A)'s tile as A stores it: ${transA ? '[k][m]' : '[m][k]'}
var<workgroup> Bs: array<${unit}, ${(bk * T) / pack}>; // op(B)'s tile as B stores it: ${transB ? '[n][k]' : '[k][n]'}
var<workgroup> Cs: array<${acc}, ${SGM_SUBGROUPS * slot}>; // a fragment per subgroup, on its way to C

${ops.helpers}@compute @workgroup_size(${size})${ops.attributes}
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lane: u32${ops.ids}) {
${ops.prelude}${tileOfWorkgroup(T, T)}
  // this subgroup's block of the tile
  let sm = (sg / ${blocksN}u) * ${SGM_BLOCK_M}u;
  let sn = (sg % ${blocksN}u) * ${SGM_BLOCK_N}u;
${fragments((i, j) => `  var acc${i}_${j} = ${ops.zero};`)}
  let k_begin = split * p.chunk; // a multiple of the K step: only the last split's last step crosses K
  let k_end = min(p.K, k_begin + p.chunk);
  for (var k0 = k_begin; k0 < k_end; k0 += ${bk}u) {
${stageA}
${stageB}
    workgroupBarrier();
${steps}
    workgroupBarrier();
  }
  let c_base = (split * (p.tiles / (p.tiles_n * p.tiles_m)) + batch) * p.M * p.N;
${epilogue}
}`,
  });
}

const kernels = variants((key: string) => subgroupMatrixKernel(JSON.parse(key) as SubgroupMatrixVariant));

/** Whether every global load of this product can move 16 bytes (8 f16, 16 i8) at once (see the header). */
function wideAligned(l: MatmulPlan, element: SgmElement = 'f16'): boolean {
  const n = 16 / (element === 'f16' ? 2 : 1);
  return [l.transA ? l.M : l.K, l.transB ? l.K : l.N, ...l.aStrides, ...l.bStrides].every((d) => d % n === 0);
}

/** Records one variant's launch over the tiles of C, K split in `splits` (C then holds the f32 partials [splits][batch][M][N]). */
function record(resources: Resource[], plan: MatmulPlan, variant: SubgroupMatrixVariant, splits = 1): void {
  const nBatch = plan.batchShape.reduce((x, y) => x * y, 1);
  const tilesN = Math.ceil(plan.N / SGM_TILE);
  const tilesM = Math.ceil(plan.M / SGM_TILE);
  const tiles = tilesN * tilesM * nBatch;
  if (tiles * splits >= 2 ** 32) throw new Error(`matmul: ${nBatch}x${plan.M}x${plan.N} output is too large`);
  const chunk = splitChunk(plan.K, splits, variant.bk);
  kernels(JSON.stringify(variant)).launch(
    resources,
    {
      M: plan.M, N: plan.N, K: plan.K, tiles_n: tilesN, tiles_m: tilesM, tiles, splits, chunk,
      batch_rank: plan.batchShape.length, batch_shape: plan.batchShape, a_strides: plan.aStrides, b_strides: plan.bStrides,
    },
    grid1d(tiles * splits, 1),
  );
}

/**
 * Records C = op(A) · op(B) for f16 A and B on tensor cores; C is f16 unless `out` says f32. With
 * `splits` > 1, split s sums k in [s * chunk, (s + 1) * chunk) and C is the f32 partials
 * [splits][batch][M][N] for matmul-tiled.ts launchSplitSum to add in order.
 */
export function launchSubgroupMatrixMatmul(a: Resource, b: Resource, c: Resource, plan: MatmulPlan, tiling: SubgroupMatrixTiling, out: FloatType = 'f16', splits = 1): void {
  if (splits > 1 && out !== 'f32') throw new Error('matmul-sgm: split-K partials are f32');
  record([a, b, c], plan, { ...tiling, element: 'f16', transA: plan.transA, transB: plan.transB, wide: wideAligned(plan), out }, splits);
}

/**
 * Records C [M, N] f32 = (Aq · Qᵀ) ⊙ (xScale ⊗ wScale) on tensor cores, for int8 Aq [M, K] and
 * Q [N, K] packed four to a u32 (K a multiple of 4), xScale [M] and wScale [N] f32.
 */
export function launchInt8SubgroupMatrixMatmul(aq: Resource, q: Resource, xScale: Resource, wScale: Resource, c: Resource, M: number, N: number, K: number, tiling: SubgroupMatrixTiling): void {
  if (K % 4 !== 0 || K > INT8_TENSOR_CORE_MAX_K) throw new Error(`matmul: int8 tensor-core products need K a multiple of 4 and at most ${INT8_TENSOR_CORE_MAX_K} (i32 sums), got ${K}`);
  const plan: MatmulPlan = { M, N, K, transA: false, transB: true, batchShape: [], aStrides: [], bStrides: [] };
  record([aq, q, xScale, wScale, c], plan, { ...tiling, element: 'i8', transA: false, transB: true, wide: wideAligned(plan, 'i8'), out: 'f32' });
}
