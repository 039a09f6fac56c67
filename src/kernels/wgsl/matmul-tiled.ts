// The GPU matmul family: register-blocked tiles, C = op(A) · op(B) for every batch (layout and
// batch broadcasting as in matmul.ts). A workgroup of (BN/TN) x (BM/TM) lanes computes a BM x BN
// tile of C; each lane a TM x TN block held in TM*TN/4 vec4 accumulators. K advances BK at a time:
// the workgroup stages the A tile transposed (As[k][m], so a lane reads 4 rows of one k as one vec4)
// and the B tile (Bs[k][n]) in workgroup memory, one barrier before and one after the products
// (double-buffering the K loop measured within 2% on an NVIDIA H200, 2026-12-04). A lane's rows are
// 4*(y + r*LY) .. +3 and its columns 4*(x + c*LX) .. +3: neighbouring lanes read neighbouring vec4s of
// the staged tiles (no bank conflicts) and store neighbouring columns of C.
// Global loads move 4 consecutive elements along the stored matrix's contiguous axis (k for A and
// B^T, m for A^T, n for B): one vec4 load where that axis, the batch strides and C's rows are
// multiples of 4 (`vec4` variants), else 4 bounds-checked scalar loads. Outside the matrix: zeros.
// Split-K (S > 1): split s of a tile sums k in [s*chunk, (s+1)*chunk) into partial products laid
// out [S][batch][M][N], and `matmul_split_sum` adds the S partials of each element in order s = 0,
// 1, ...: deterministic, no float atomics. For small M*N and large K (a weight gradient has
// K = B*T), where one tile per workgroup would leave most of a GPU idle.
// f16 operands (`float` 'f16') are widened to f32 as they are staged: the tiles in workgroup
// memory, the products and the accumulators are f32, and C (or the f32 split-K partials' sum) is
// rounded to f16 once, as it is stored.
// int8 weights (`int8` variants, inference): B is Q int8 [N, K] (transB, four to a word, int8.ts)
// with per-row scales, C = op(A) · (scale ⊙ Q)ᵀ. The B tile is staged as for a transposed f32 B,
// each 4 consecutive k being one word sign-extended into a vec4 in registers (vec4 variants; else
// byte by byte), so the products run on the f32 tiles unchanged; each column of C is multiplied
// by its scale when stored (split-K: each partial, a linear map, before they are summed).
// What each shape gets (tile sizes, vec4, splits) is decided by matmul.ts from the profile.
import type { Resource } from '../../device/bind-groups.js';
import { vec4Of, each, Kernel, LINEAR, grid1d, perElement, variants, type FloatType, type StorageType } from '../kernel.js';
import { TILES, type TileConfig, type TileName } from '../profile.js';
import { INT8_WGSL } from './int8.js';

const tileKey = (t: TileConfig) => `${t.bm}x${t.bn}x${t.bk}/${t.tm}x${t.tn}`;

interface Variant {
  tiles: TileConfig;
  transA: boolean;
  transB: boolean;
  /** One vec4 per global load and store. */
  vec4: boolean;
  /** How A, B and C store their elements (B's, unless int8). */
  float: FloatType;
  /** B is int8 [N, K] with per-row scales (transB). */
  int8: boolean;
}

/** A float storage type, or a vec4 of it. */
const storage = (float: FloatType, vec4: boolean): StorageType => (vec4 ? vec4Of(float) : float);

/**
 * WGSL that stages one operand's BK-deep tile in workgroup memory: `outer` rows (m for A, n for B)
 * starting at `origin`, in vec4 slots of 4 consecutive elements along the stored matrix's
 * contiguous axis. When that axis is k (`alongK`) the 4 values go to 4 k rows of the staged tile,
 * one vec4 component each; otherwise the slot is a vec4 of the staged tile as it is.
 */
function stageTile(o: { name: 'a' | 'b'; tile: 'As' | 'Bs'; origin: 'm0' | 'n0'; size: 'p.M' | 'p.N'; ld: 'lda' | 'ldb'; outer: number; bk: number; alongK: boolean; vec4: boolean; int8?: boolean; lanes: number }): string {
  const { name, tile, origin, size, ld, outer, bk, alongK, vec4, int8, lanes } = o;
  const slots = (outer * bk) / 4;
  const coords = alongK
    ? `let r = s / ${bk / 4}u; let kk = 4u * (s % ${bk / 4}u);`
    : `let kk = s / ${outer / 4}u; let r = 4u * (s % ${outer / 4}u);`;
  const inRange = `${origin} + r < ${size} && k0 + kk < k_end`;
  const offset = alongK ? `(${origin} + r) * ${ld} + k0 + kk` : `(k0 + kk) * ${ld} + ${origin} + r`;
  // the scalar variant checks each of the 4: the contiguous axis may end among them
  const last = alongK ? 'k0 + kk' : `${origin} + r`;
  const end = alongK ? 'k_end' : size;
  // an int8 operand is words of 4 bytes: a word of 4 k (vec4), else the byte of each element
  const element = (e: string) => (int8 ? `i8_at(${name}[(${e}) / 4u], (${e}) % 4u)` : `f32(${name}[${e}])`);
  const read = vec4
    ? `v = ${int8 ? `i8x4(${name}[base / 4u])` : `vec4f(${name}[base / 4u])`};`
    : `for (var j = 0u; j < 4u; j++) { if (${last} + j < ${end}) { v[j] = ${element('base + j')}; } }`;
  // along k: component r % 4 of 4 staged vec4s, which neighbouring lanes share, so by a swizzle
  // (kernel.ts assertSharedComponentStores: FXC rewrites a whole vector for tile[i][r % 4u] = x)
  const components = [...'xyzw'].map((c, q) => `        ${q < 3 ? `case ${q}u` : 'default'}: { ${[0, 1, 2, 3].map((j) => `${tile}[(kk + ${j}u) * ${outer / 4}u + r / 4u].${c} = v[${j}];`).join(' ')} }`);
  const store = alongK
    ? `      switch (r % 4u) {\n${components.join('\n')}\n      }`
    : `      ${tile}[kk * ${outer / 4}u + r / 4u] = v;`;
  return `    for (var s = lane; s < ${slots}u; s += ${lanes}u) {
      ${coords}
      var v = vec4f(0.0);
      if (${inRange}) {
        let base = ${name}_base + ${offset};
        ${read}
      }
${store}
    }`;
}

/** The uniforms of a split-K tiled product (launchTiledMatmul's, launchSubgroupMatrixMatmul's): its sizes, tile grid, splits and batch strides. */
export const TILED_PARAMS = {
  M: 'u32', N: 'u32', K: 'u32', tiles_n: 'u32', tiles_m: 'u32', tiles: 'u32', splits: 'u32', chunk: 'u32',
  batch_rank: 'u32', batch_shape: 'dims', a_strides: 'dims', b_strides: 'dims',
} as const;

/**
 * WGSL opening `main` of a split-K tiled product (TILED_PARAMS): workgroup g (splits fastest, then
 * tiles along N, M and the batch) takes split `split` of the bm x bn tile of C at (m0, n0) in batch
 * `batch`, whose A and B start at a_base and b_base.
 */
export const tileOfWorkgroup = (bm: number, bn: number): string => /* wgsl */ `  let g = linear(wid, nwg, 1u);
  if (g >= p.tiles * p.splits) { return; }
  let split = g % p.splits;
  let t = g / p.splits;
  let n0 = (t % p.tiles_n) * ${bn}u;
  let m0 = ((t / p.tiles_n) % p.tiles_m) * ${bm}u;
  let batch = t / (p.tiles_n * p.tiles_m);
  let a_base = strided(batch, p.batch_rank, p.batch_shape, p.a_strides);
  let b_base = strided(batch, p.batch_rank, p.batch_shape, p.b_strides);`;

function tiledKernel(v: Variant, split: boolean): Kernel {
  const { bm, bn, bk, tm, tn } = v.tiles;
  const lx = bn / tn;
  const ly = bm / tm;
  const lanes = lx * ly;
  // split-K partials stay f32 (matmul_split_sum rounds their sum); C itself is stored as A and B are
  const out = split ? 'f32' : v.float;
  const narrow = (x: string) => (out === 'f16' ? `${v.vec4 ? 'vec4h' : 'f16'}(${x})` : x);
  const stageA = stageTile({ name: 'a', tile: 'As', origin: 'm0', size: 'p.M', ld: 'lda', outer: bm, bk, alongK: !v.transA, vec4: v.vec4, lanes });
  const stageB = stageTile({ name: 'b', tile: 'Bs', origin: 'n0', size: 'p.N', ld: 'ldb', outer: bn, bk, alongK: v.transB, vec4: v.vec4, int8: v.int8, lanes });
  const acc = (r: number, i: number, c: number) => `acc[${(4 * r + i) * (tn / 4) + c}]`;
  // int8: column n of C scaled by scale[n] (vec4 variants have N % 4 == 0, so all 4 columns exist)
  const scaled = (x: string, n: string, j?: string) =>
    !v.int8 ? x : j ? `${x} * scale[${n} + ${j}]` : `${x} * vec4f(scale[${n}], scale[${n} + 1u], scale[${n} + 2u], scale[${n} + 3u])`;
  const storeRow = (r: number, i: number) => {
    const row = `4u * (lid.y + ${r * ly}u) + ${i}u`;
    return each(tn / 4, (c) => {
      const col = `4u * (lid.x + ${c * lx}u)`;
      return v.vec4
        ? `  if (m0 + ${row} < p.M && n0 + ${col} < p.N) { c[(c_base + (m0 + ${row}) * p.N + n0 + ${col}) / 4u] = ${narrow(scaled(acc(r, i, c), `n0 + ${col}`))}; }`
        : `  for (var j = 0u; j < 4u; j++) { if (m0 + ${row} < p.M && n0 + ${col} + j < p.N) { c[c_base + (m0 + ${row}) * p.N + n0 + ${col} + j] = ${narrow(scaled(`${acc(r, i, c)}[j]`, `n0 + ${col}`, 'j'))}; } }`;
    });
  };
  const el = storage(v.float, v.vec4);
  return new Kernel({
    name: `matmul-tiled-${tileKey(v.tiles)}${v.transA ? '-ta' : ''}${v.transB ? '-tb' : ''}${v.vec4 ? '-vec4' : ''}${v.int8 ? '-int8' : ''}${split ? '-split' : ''}${v.float === 'f16' ? '-f16' : ''}`,
    read: v.int8 ? { a: el, b: 'u32', scale: 'f32' } : { a: el, b: el },
    write: { c: storage(out, v.vec4) },
    params: TILED_PARAMS,
    body: /* wgsl */ `
${LINEAR}${v.int8 ? INT8_WGSL : ''}
var<workgroup> As: array<vec4f, ${(bk * bm) / 4}>; // As[k * ${bm / 4} + i] = op(A)[4i .. 4i+3, k] of the tile
var<workgroup> Bs: array<vec4f, ${(bk * bn) / 4}>; // Bs[k * ${bn / 4} + j] = op(B)[k, 4j .. 4j+3]

@compute @workgroup_size(${lx}, ${ly})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) lane: u32) {
${tileOfWorkgroup(bm, bn)}
  // leading dimensions of the stored matrices
  let lda = ${v.transA ? 'p.M' : 'p.K'};
  let ldb = ${v.transB ? 'p.K' : 'p.N'};
  let k_begin = split * p.chunk;
  let k_end = min(p.K, k_begin + p.chunk);

  var acc: array<vec4f, ${(tm * tn) / 4}>;
  for (var k0 = k_begin; k0 < k_end; k0 += ${bk}u) {
${stageA}
${stageB}
    workgroupBarrier();
    for (var k = 0u; k < ${bk}u; k++) {
${each(tm / 4, (r) => `      let a${r} = As[k * ${bm / 4}u + lid.y + ${r * ly}u];`)}
${each(tn / 4, (c) => `      let b${c} = Bs[k * ${bn / 4}u + lid.x + ${c * lx}u];`)}
${each(tm / 4, (r) => each(4, (i) => each(tn / 4, (c) => `      ${acc(r, i, c)} += a${r}.${'xyzw'[i]} * b${c};`)))}
    }
    workgroupBarrier();
  }

  let c_base = (split * (p.tiles / (p.tiles_n * p.tiles_m)) + batch) * p.M * p.N;
${each(tm / 4, (r) => each(4, (i) => storeRow(r, i)))}
}`,
  });
}

/** A variant by its key `tiles:flags:float`, flags one character each of transA transB vec4 int8 split ('1' or '0'). */
const kernels = variants((key: string) => {
  const [tiles, flags, float] = key.split(':') as [TileName, string, FloatType];
  const [transA, transB, vec4, int8, split] = [...flags].map((f) => f === '1') as [boolean, boolean, boolean, boolean, boolean];
  return tiledKernel({ tiles: TILES[tiles], transA, transB, vec4, float, int8 }, split);
});

const SUM_WG = 256;

/** out[i] = sum over s < splits of the f32 part[s * n + i], in order (vec4: 4 floats a lane), stored as `float`. */
const splitSum = variants((key: `${boolean}:${FloatType}`) => {
  const [vec4, float] = [key.startsWith('true'), key.endsWith('f16') ? 'f16' : 'f32'] as const;
  return new Kernel({
    name: `matmul_split_sum${vec4 ? '-vec4' : ''}${float === 'f16' ? '-f16' : ''}`,
    read: { part: storage('f32', vec4) },
    write: { out: storage(float, vec4) },
    params: { n: 'u32', splits: 'u32' },
    body: perElement(SUM_WG, `
  var s = part[i];
  for (var k = 1u; k < p.splits; k++) { s += part[k * p.n + i]; }
  out[i] = ${float === 'f16' ? `${vec4 ? 'vec4h' : 'f16'}(s)` : 's'};`),
  });
});

/** A product C = op(A) · op(B), batched: its sizes, transposes, batch strides and storage. */
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
  /** How A, B and C store their elements (f32 when absent; A's and C's only, when B is int8). */
  float?: FloatType;
  /** Set when B is int8 weights Q [N, K] (transB, no batch): their per-row scales, B = scale ⊙ Q. */
  scale?: Resource;
  /** A bias [N] (in A's float type) added to every row of C: only where matmulAddsBias says the path adds it. */
  bias?: Resource;
}


/** Whether every global access of this product can be a vec4 (see the header). */
export function vec4Aligned(l: MatmulPlan): boolean {
  const contiguousA = l.transA ? l.M : l.K;
  const contiguousB = l.transB ? l.K : l.N;
  const four = (d: number) => d % 4 === 0;
  return four(contiguousA) && four(contiguousB) && four(l.N) && l.aStrides.every(four) && l.bStrides.every(four);
}

/** Records C = op(A) · op(B) in `tiles`, K split in `splits`; `part` is the split-K scratch (unused when splits = 1). */
export function launchTiledMatmul(a: Resource, b: Resource, c: Resource, part: Resource | null, l: MatmulPlan, tiles: TileName, splits: number): void {
  const nBatch = l.batchShape.reduce((x, y) => x * y, 1);
  const config = TILES[tiles];
  const tilesN = Math.ceil(l.N / config.bn);
  const tilesM = Math.ceil(l.M / config.bm);
  const workgroups = tilesN * tilesM * nBatch;
  splits = Math.max(1, splits);
  const chunk = splitChunk(l.K, splits, config.bk);
  if (workgroups * splits >= 2 ** 32) throw new Error(`matmul: ${nBatch}x${l.M}x${l.N} output is too large`);
  const vec4 = vec4Aligned(l);
  const float = l.float ?? 'f32';
  const flags = `${+l.transA}${+l.transB}${+vec4}${+!!l.scale}${+(splits > 1)}`;
  const out = splits > 1 ? part! : c;
  kernels(`${tiles}:${flags}:${float}`).launch(
    l.scale ? [a, b, l.scale, out] : [a, b, out],
    {
      M: l.M, N: l.N, K: l.K, tiles_n: tilesN, tiles_m: tilesM, tiles: workgroups, splits, chunk,
      batch_rank: l.batchShape.length, batch_shape: l.batchShape, a_strides: l.aStrides, b_strides: l.bStrides,
    },
    grid1d(workgroups * splits, 1),
  );
  if (splits > 1) launchSplitSum(part!, c, nBatch * l.M * l.N, splits, float);
}

/** K of each of `splits` splits of depth K, a multiple of the K step `bk` (so only the last split's last step crosses K). */
export const splitChunk = (K: number, splits: number, bk: number): number => Math.ceil(Math.ceil(K / splits) / bk) * bk;

/** Records C[i] = the sum over s < splits of the f32 partials part[s * n + i], in order, stored as `float`. */
export function launchSplitSum(part: Resource, c: Resource, n: number, splits: number, float: FloatType): void {
  const sumVec4 = n % 4 === 0;
  const lanes = sumVec4 ? n / 4 : n;
  splitSum(`${sumVec4}:${float}`).launch([part, c], { n: lanes, splits }, grid1d(lanes, SUM_WG));
}
