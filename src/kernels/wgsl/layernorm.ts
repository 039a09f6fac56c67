// LayerNorm over the last axis. Layout: x is rows x C row-major; w, b are [C].
//   forward (a row per workgroup or per lane: see row.ts): mean, rstd = 1/sqrt(var + eps) (two passes over the
//     row), y = (x - mean) * rstd * w + b; mean and rstd are written per row for the backward. var is
//     the corrected two-pass (Σd² - (Σd)² / C) / C, d = x - mean (Chan, Golub, LeVeque): the f32 mean's
//     error δ (>= half an ulp) would put δ² into a plain Σd² / C (rows of 3000 ± 0.01 on lavapipe: y's
//     spread off by up to 2.4e-3, now 8e-9). y keeps that δ as a shift, δ rstd (PyTorch's f32 path too).
//   backward dx (laid out as the forward), with xhat = (x - mean) rstd and g = dy * w:
//     dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
//   backward dw, db: dw = sum_rows dy * xhat, db = sum_rows dy, in two steps, both in a fixed order
//     (deterministic, no atomics): partial sums per chunk of rows, then a sum of the chunks per
//     column, both by column-sums.ts (its header says how each adapter lays them out).
// Where a lane has a row to itself (CPU adapters) and rows are whole vec4s, every kernel reads and
// writes vec4s (row.ts rowKernel; dw and db a lane per 4 columns): on lavapipe, 768 x 128, forward
// 1.3x, dx 1.5x, dw and db 1.8x (GPU time, medians of 15 interleaved pairs, 2 busy cores).
// f16 tensors (x, w, b, y, dy and the gradients) are read widened to f32: the statistics (mean
// and rstd, kept f32 for the backward), the row and column sums are all f32, and each output is
// rounded to f16 once. Called by src/ops/layernorm.ts.
import { device } from '../../device/device.js';
import { floatSuffix, Kernel, narrow, variants, vec4Of, type FloatType } from '../kernel.js';
import { columnGrid, columnPlan, columnSums, type ColumnLayout } from './column-sums.js';
import { blockedSum, blockedSums, rowGrid, rowKernel, rowMain, rowWidth, type RowWidth } from './row.js';


/**
 * How a LayerNorm kernel of `width` (row.ts RowWidth) spells its element work in WGSL: an element
 * of `buf` at `i` as f32 (width 1) or vec4f (width 4), `total` of such a value as f32, a `zero` of
 * its type, `store` of it as `float`; `len`, a row's length in elements of the bindings.
 */
function rowElements(float: FloatType, width: RowWidth) {
  const vec = width === 4;
  return {
    type: vec ? vec4Of(float) : float,
    len: vec ? '(p.C / 4u)' : 'p.C',
    load: (buf: string, i = 'base + j') => `${vec ? 'vec4f' : 'f32'}(${buf}[${i}])`,
    total: (v: string) => (vec ? `dot(${v}, vec4f(1.0))` : v),
    zero: vec ? 'vec4f(0.0)' : '0.0',
    store: (v: string) => (vec && float === 'f16' ? `vec4h(${v})` : narrow(float, v)),
  };
}

/** The suffix a kernel's name takes for its width: '_vec4', none for scalars. */
const vecSuffix = (width: RowWidth) => (width === 4 ? '_vec4' : '');

const forwardK = variants((float: FloatType) => rowKernel((lanes, width) => {
  const { type, len, load, total, zero, store } = rowElements(float, width);
  return new Kernel({
    name: `layernorm${floatSuffix(float)}${vecSuffix(width)}`,
    read: { x: type, w: type, b: type },
    write: { y: type, mean: 'f32', rstd: 'f32' },
    params: { rows: 'u32', C: 'u32', eps: 'f32', has_bias: 'u32' },
    body: rowMain(lanes, len, /* wgsl */ `
  var s = 0.0;
  ${blockedSum('s', total(load('x')))}
  let mu = wg_sum(s, lane) / f32(p.C);
  var sd = 0.0;
  var sd2 = 0.0;
  ${blockedSums([['sd', total('d')], ['sd2', total('d * d')]], `let d = ${load('x')} - mu; `)}
  let dsum = wg_sum(sd, lane);
  let r = inverseSqrt(max(wg_sum(sd2, lane) - dsum * dsum / f32(p.C), 0.0) / f32(p.C) + p.eps);
  for (var j = lane; j < n; j += ROW_LANES) {
    let bias = select(${zero}, ${load('b', 'j')}, p.has_bias == 1u);
    y[base + j] = ${store(`(${load('x')} - mu) * r * ${load('w', 'j')} + bias`)};
  }
  if (live && lane == 0u) { mean[row] = mu; rstd[row] = r; }`),
  });
}));

const backwardDxK = variants((float: FloatType) => rowKernel((lanes, width) => {
  const { type, len, load, total, store } = rowElements(float, width);
  return new Kernel({
    name: `layernorm_backward_dx${floatSuffix(float)}${vecSuffix(width)}`,
    read: { x: type, w: type, mean: 'f32', rstd: 'f32', dy: type },
    write: { dx: type },
    params: { rows: 'u32', C: 'u32' },
    body: rowMain(lanes, len, /* wgsl */ `
  let safe = select(0u, row, live); // select() evaluates both arms: never index past the end
  let mu = select(0.0, mean[safe], live);
  let r = select(0.0, rstd[safe], live);
  var sg = 0.0;
  var sgx = 0.0;
  for (var j = lane; j < n; j += ROW_LANES) {
    let g = ${load('dy')} * ${load('w', 'j')};
    sg += ${total('g')};
    sgx += ${total(`g * (${load('x')} - mu) * r`)};
  }
  let mg = wg_sum(sg, lane) / f32(p.C);
  let mgx = wg_sum(sgx, lane) / f32(p.C);
  for (var j = lane; j < n; j += ROW_LANES) {
    let xhat = (${load('x')} - mu) * r;
    dx[base + j] = ${store(`r * (${load('dy')} * ${load('w', 'j')} - mg - xhat * mgx)`)};
  }`),
  });
}));

const splitSuffix = (name: ColumnLayout) => (name === 'lane' ? '' : '_split');

// Chunk r of the rows (workgroup row wid.y): partial sums of its rows for each column c, into
// pw[r * C + c] and pb[r * C + c] (f32); with one chunk (`out` = float) those are dw and db themselves.
// At width 4 a lane sums 4 columns, each buffer bound as vec4s. Keyed `${x and dy}>${the sums}>${layout}>${width}`.
const backwardWbK = variants((key: `${FloatType}>${FloatType}>${ColumnLayout}>${RowWidth}`) => {
  const [float, out, layout, w] = key.split('>') as [FloatType, FloatType, ColumnLayout, string];
  const width = Number(w) as RowWidth;
  const { type, len, load, zero } = rowElements(float, width);
  const sums = rowElements(out, width);
  return new Kernel({
    name: `layernorm_backward_wb${floatSuffix(float)}${out !== float ? '_partial' : ''}${splitSuffix(layout)}${vecSuffix(width)}`,
    read: { x: type, mean: 'f32', rstd: 'f32', dy: type },
    write: { pw: sums.type, pb: sums.type },
    params: { rows: 'u32', C: 'u32', chunk: 'u32' },
    body: columnSums(
      layout, len, 'wid.y * p.chunk', 'min(p.rows, (wid.y + 1u) * p.chunk)',
      [`${load('dy', `i * ${len} + c`)} * (${load('x', `i * ${len} + c`)} - mean[i]) * rstd[i]`, load('dy', `i * ${len} + c`)],
      `pw[wid.y * ${len} + c] = ${sums.store('s0')};\n    pb[wid.y * ${len} + c] = ${sums.store('s1')};`,
      zero,
    ),
  });
});

// dw[c] = sum_r pw[r * C + c], db likewise (chunks in a fixed order: deterministic); width as above.
const wbSumK = variants((key: `${FloatType}>${ColumnLayout}>${RowWidth}`) => {
  const [float, layout, w] = key.split('>') as [FloatType, ColumnLayout, string];
  const width = Number(w) as RowWidth;
  const { type, len, zero, store } = rowElements(float, width);
  const partial = rowElements('f32', width).type;
  return new Kernel({
    name: `layernorm_backward_wb_sum${floatSuffix(float)}${splitSuffix(layout)}${vecSuffix(width)}`,
    read: { pw: partial, pb: partial },
    write: { dw: type, db: type },
    params: { C: 'u32', chunks: 'u32' },
    body: columnSums(layout, len, '0u', 'p.chunks', [`pw[i * ${len} + c]`, `pb[i * ${len} + c]`], `dw[c] = ${store('s0')};\n    db[c] = ${store('s1')};`, zero),
  });
});

function launchWeightGrads(b: { x: GPUBuffer; mean: GPUBuffer; rstd: GPUBuffer; dy: GPUBuffer; dw: GPUBuffer; db: GPUBuffer }, rows: number, C: number, float: FloatType): void {
  const { rowsLayout, chunksLayout, chunks, chunk } = columnPlan(rows);
  const width = rowWidth(rowsLayout === 'lane' && chunksLayout === 'lane', C); // a lane per 4 columns where it has them to itself
  if (chunks === 1) {
    backwardWbK(`${float}>${float}>${rowsLayout}>${width}`).launch([b.x, b.mean, b.rstd, b.dy, b.dw, b.db], { rows, C, chunk }, columnGrid(rowsLayout, C / width));
    return;
  }
  const dev = device();
  const pw = dev.alloc(4 * chunks * C, 'layernorm dw partials');
  const pb = dev.alloc(4 * chunks * C, 'layernorm db partials');
  backwardWbK(`${float}>f32>${rowsLayout}>${width}`).launch([b.x, b.mean, b.rstd, b.dy, pw, pb], { rows, C, chunk }, columnGrid(rowsLayout, C / width, chunks));
  wbSumK(`${float}>${chunksLayout}>${width}`).launch([pw, pb, b.dw, b.db], { C, chunks }, columnGrid(chunksLayout, C / width));
  dev.release(pw); // scratch: later dispatches that reuse it run after these
  dev.release(pb);
}

export function launchLayerNorm(
  b: { x: GPUBuffer; w: GPUBuffer; bias: GPUBuffer | null; y: GPUBuffer; mean: GPUBuffer; rstd: GPUBuffer },
  rows: number,
  C: number,
  eps: number,
  float: FloatType = 'f32',
): void {
  const { kernel, lanes } = forwardK(float)(rows, C);
  kernel.launch([b.x, b.w, b.bias ?? b.w, b.y, b.mean, b.rstd], { rows, C, eps, has_bias: b.bias ? 1 : 0 }, rowGrid(rows, lanes));
}

export function launchLayerNormBackward(
  b: {
    x: GPUBuffer; w: GPUBuffer; mean: GPUBuffer; rstd: GPUBuffer; dy: GPUBuffer;
    /** Each output is skipped when null (dw and db come from one kernel: both or neither). */
    dx: GPUBuffer | null; dw: GPUBuffer | null; db: GPUBuffer | null;
  },
  rows: number,
  C: number,
  float: FloatType = 'f32',
): void {
  if (b.dx) {
    const { kernel, lanes } = backwardDxK(float)(rows, C);
    kernel.launch([b.x, b.w, b.mean, b.rstd, b.dy, b.dx], { rows, C }, rowGrid(rows, lanes));
  }
  if (b.dw && b.db && C > 0) launchWeightGrads({ ...b, dw: b.dw, db: b.db }, rows, C, float); // C = 0: both empty (a dispatch of no workgroups)
}
