// Skinny products: C = op(A) · op(B) for the few rows of a decoding step (at most the profile's
// skinnyRows per batch), where a tile of 64 or more rows would waste nearly all its work. Three
// kernels (the profile's matmul.skinny picks; 'auto' measures them per shape):
//   element    any layout: a lane per output element, looping over K with scalar loads.
//   columns    A row-major, B transposed ([N, K]: a Linear's weight, the tied LM head), K a multiple
//              of 4: a lane per 4 consecutive output columns of every row; per 4 k, one vec4 of
//              each row of A (the same for every lane) and one of each of the 4 rows of B. Each
//              weight is read once for all rows, and a quarter as many loads as `element` (on
//              Mesa's CPU drivers every storage load is a bounds-checked per-lane load).
//   workgroup  the same layouts: a workgroup of 64 lanes per 4 output columns; the lanes split K
//              (lane l takes the vec4s l, l + 64, ...: neighbouring lanes read neighbouring memory,
//              which GPUs coalesce), then sum their partials in a tree in workgroup memory.
// Rows: ROWS = min(M, 4) sums per column, the kernels specialised by it; more rows (5 to 8 on CPU
// adapters, any number where tests force this path) go in groups of ROWS, a partial last group
// recomputing row M - 1 without storing it.
// Columns past N in the last group of 4 likewise read column N - 1 and are not stored.
// Each kernel also comes with a bias [N] added to every row as C is stored (plan.bias: the
// linear op, src/ops/linear.ts), so a decoding step's Linear layer is one dispatch.
// Measured on lavapipe (2 cores, quiet; bench/skinny-matmul.ts, medians of 5 rounds, 2026-12-05),
// [M x K]·[N x K]^T at GPT-2's shapes, element / columns / workgroup / texture tiles, ms:
//   768 x 2304:   M 1  3.08 / 1.73 / 6.80 / 9.61    M 4  11.1 / 2.79 / 8.62 / 6.65    M 8  20.0 / 4.25 / 13.5 / 7.93
//   3072 x 768:   M 1  4.35 / 1.75 / 4.42 / 11.4    M 4  14.8 / 4.21 / 8.88 / 12.6    M 8  24.1 / 6.12 / 14.6 / 10.5
//   768 x 50257:  M 1  67.0 / 43.4 / 153 / 1025     M 4  198 / 76.8 / 269 / 984       M 8  402 / 112 / 338 / 938
// GPT-2 124M decoding, batch 1: 216 -> 140 ms a token. GPUs: unmeasured ('auto' measures there).
import type { Resource } from '../../device/bind-groups.js';
import { vec4Of, each, Kernel, grid1d, LINEAR, narrow, perElement, variants, type FloatType, type StorageType } from '../kernel.js';
import { SKINNY_KERNELS, type SkinnyKernel } from '../profile.js';
import type { MatmulPlan } from './matmul-tiled.js';

const LANES = 64;
/** Rows a lane (a workgroup) sums at once. */
const MAX_ROWS = 4;

/** The skinny kernels that can compute this product: the vec4 ones need A row-major, B transposed and K a multiple of 4. */
export function skinnyKernelsFor(plan: Pick<MatmulPlan, 'K' | 'transA' | 'transB'>): readonly SkinnyKernel[] {
  return !plan.transA && plan.transB && plan.K % 4 === 0 && plan.K > 0 ? SKINNY_KERNELS : ['element'];
}

/**
 * Rows 'element' takes at most where the vec4 kernels cannot: past 4 the tiles beat a lane per
 * output (lavapipe, [M x 2304]·[2304 x 768], element / texture tiles: M 4 7.9 / 8.3 ms, M 5
 * 17.8 / 11.6, M 8 29.4 / 14.5), so a profile's skinnyRows past 4 is for the vec4 kernels.
 */
export const ELEMENT_ROWS = 4;

/** Whether this product takes the skinny path under the profile's skinnyRows. */
export function isSkinny(plan: Pick<MatmulPlan, 'M' | 'K' | 'transA' | 'transB'>, skinnyRows: number): boolean {
  return plan.M <= (skinnyKernelsFor(plan).length > 1 ? skinnyRows : Math.min(skinnyRows, ELEMENT_ROWS));
}

const BATCH_PARAMS = { batch_rank: 'u32', batch_shape: 'dims', a_strides: 'dims', b_strides: 'dims' } as const;

/** A kernel's `key`: its float type, rows (the vec4 kernels), and whether it adds a bias. */
const parseKey = (key: string) => {
  const [float, rows, bias] = key.split(' ');
  return { float: float as FloatType, rows: Number(rows), bias: bias === 'bias' };
};
const keyOf = (float: FloatType, rows: number, bias: boolean) => `${float} ${rows} ${bias ? 'bias' : '-'}`;
/** The bindings A, B (and the bias) read: the bias, [N], comes between B and C. */
const reads = (t: StorageType, float: FloatType, bias: boolean) => ({ a: t, b: t, ...(bias && { bias: float }) });
/** C's element: a float32 sum, plus the bias of column `col` when the kernel adds one, in C's type. */
const stored = (float: FloatType, bias: boolean, sum: string, col: string) => narrow(float, bias ? `${sum} + f32(bias[${col}])` : sum);

const elementKernel = variants((key: string) => {
  const { float, bias } = parseKey(key);
  return new Kernel({
    name: `matmul-skinny${bias ? '-bias' : ''}${float === 'f16' ? '-f16' : ''}`,
    read: reads(float, float, bias),
    write: { c: float },
    params: { n: 'u32', M: 'u32', N: 'u32', K: 'u32', a_sm: 'u32', a_sk: 'u32', b_sk: 'u32', b_sn: 'u32', ...BATCH_PARAMS },
    body: perElement(LANES, `
  let col = i % p.N;
  let row = (i / p.N) % p.M;
  let batch = i / (p.N * p.M);
  let a_base = strided(batch, p.batch_rank, p.batch_shape, p.a_strides) + row * p.a_sm;
  let b_base = strided(batch, p.batch_rank, p.batch_shape, p.b_strides) + col * p.b_sn;
  var acc = 0.0;
  for (var k = 0u; k < p.K; k++) { acc += f32(a[a_base + k * p.a_sk]) * f32(b[b_base + k * p.b_sk]); }
  c[i] = ${stored(float, bias, 'acc', 'col')};`),
  });
});


/**
 * WGSL shared by the vec4 kernels, for column group `g` (4 columns) of batch `batch`: `bases`
 * sets w0..w3, the vec4 offsets of the 4 rows of B, and the row loop `rows(body)` runs `body` for
 * each group of ROWS rows with x0.. their vec4 offsets in A; `dots(k)` adds the products of vec4
 * k to acc0..; `stores(sum)` writes sum(r) of each row r and column n0 + j in range.
 */
const vec4Parts = (rows: number, float: FloatType, bias: boolean) => ({
  bases: `
  let n0 = 4u * (g % ((p.N + 3u) / 4u));
  let batch = g / ((p.N + 3u) / 4u);
  let a_base = strided(batch, p.batch_rank, p.batch_shape, p.a_strides) / 4u;
  let b_base = strided(batch, p.batch_rank, p.batch_shape, p.b_strides) / 4u;
${each(4, (j) => `  let w${j} = b_base + min(n0 + ${j}u, p.N - 1u) * p.K4;`)}`,
  rows: (body: string) => `
  for (var r0 = 0u; r0 < p.M; r0 += ${rows}u) {
${each(rows, (r) => `    let x${r} = a_base + min(r0 + ${r}u, p.M - 1u) * p.K4;`)}
${each(rows, (r) => `    var acc${r} = vec4f(0.0);`)}
${body}
  }`,
  dots: (k: string) => `
${each(4, (j) => `      let b${j} = vec4f(b[w${j} + ${k}]);`)}
${each(rows, (r) => `      let a${r} = vec4f(a[x${r} + ${k}]);
      acc${r} += vec4f(dot(a${r}, b0), dot(a${r}, b1), dot(a${r}, b2), dot(a${r}, b3));`)}`,
  stores: (sum: (r: number) => string) => each(rows, (r) => `
    if (r0 + ${r}u < p.M) {
      let out = (batch * p.M + r0 + ${r}u) * p.N + n0;
      let s = ${sum(r)};
      for (var j = 0u; j < 4u && n0 + j < p.N; j++) { c[out + j] = ${stored(float, bias, 's[j]', 'n0 + j')}; }
    }`),
});

const VEC4_PARAMS = { n: 'u32', M: 'u32', N: 'u32', K4: 'u32', ...BATCH_PARAMS } as const;

/** A vec4 kernel per float type, rows and bias (`key`), named `matmul-skinny-${kind}-...`, its body from the shared parts. */
const vec4Kernel = (kind: string, body: (v: ReturnType<typeof vec4Parts>, rows: number) => string) =>
  variants((key: string) => {
    const { float, rows, bias } = parseKey(key);
    return new Kernel({
      name: `matmul-skinny-${kind}-${rows}${bias ? '-bias' : ''}${float === 'f16' ? '-f16' : ''}`,
      read: reads(vec4Of(float), float, bias),
      write: { c: float },
      params: VEC4_PARAMS,
      body: body(vec4Parts(rows, float, bias), rows),
    });
  });

/** A lane per 4 columns (`n` = batches x column groups lanes). */
const columnsKernel = vec4Kernel('columns', (v) => perElement(LANES, `
  let g = i;${v.bases}${v.rows(`
    for (var k = 0u; k < p.K4; k++) {${v.dots('k')}
    }${v.stores((r) => `acc${r}`)}`)}`));

/** A workgroup per 4 columns (`n` = batches x column groups workgroups); the tree sum's strides halve from LANES / 2. */
const workgroupKernel = vec4Kernel('workgroup', (v, rows) => /* wgsl */ `${LINEAR}
var<workgroup> part: array<vec4f, ${LANES * rows}>;

@compute @workgroup_size(${LANES})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) l: u32) {
  let g = linear(wid, nwg, 1u);
  if (g >= p.n) { return; }${v.bases}${v.rows(`
    for (var k = l; k < p.K4; k += ${LANES}u) {${v.dots('k')}
    }
${each(rows, (r) => `    part[l * ${rows}u + ${r}u] = acc${r};`)}
    workgroupBarrier();
    for (var s = ${LANES / 2}u; s > 0u; s >>= 1u) {
      if (l < s) {
${each(rows, (r) => `        part[l * ${rows}u + ${r}u] += part[(l + s) * ${rows}u + ${r}u];`)}
      }
      workgroupBarrier();
    }
    if (l == 0u) {${v.stores((r) => `part[${r}u]`)}
    }
    workgroupBarrier(); // the next group of rows writes part again`)}
}`);

/** Records the skinny product with `kernel` (one of skinnyKernelsFor(plan)). */
export function launchSkinnyMatmul(a: Resource, b: Resource, c: Resource, plan: MatmulPlan, nBatch: number, kernel: SkinnyKernel): void {
  const { M, N, K, transA, transB, batchShape } = plan;
  const float = plan.float ?? 'f32';
  const batch = { batch_rank: batchShape.length, batch_shape: batchShape, a_strides: plan.aStrides, b_strides: plan.bStrides };
  const bound = plan.bias ? [a, b, plan.bias, c] : [a, b, c];
  if (kernel === 'element') {
    const n = nBatch * M * N;
    elementKernel(keyOf(float, 0, !!plan.bias)).launch(bound, {
      n, M, N, K, a_sm: transA ? 1 : K, a_sk: transA ? M : 1, b_sk: transB ? 1 : N, b_sn: transB ? K : 1, ...batch,
    }, grid1d(n, LANES));
    return;
  }
  const key = keyOf(float, Math.min(M, MAX_ROWS), !!plan.bias);
  const n = nBatch * Math.ceil(N / 4);
  const params = { n, M, N, K4: K / 4, ...batch };
  if (kernel === 'columns') columnsKernel(key).launch(bound, params, grid1d(n, LANES));
  else workgroupKernel(key).launch(bound, params, grid1d(n, 1));
}
