// LayerNorm over the last axis. Layout: x is rows x C row-major; w, b are [C].
//   forward (a row per workgroup or per lane: see row.ts): mean, rstd = 1/sqrt(var + eps) (two passes over the
//     row), y = (x - mean) * rstd * w + b; mean and rstd are written per row for the backward.
//   backward dx (laid out as the forward), with xhat = (x - mean) rstd and g = dy * w:
//     dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
//   backward dw, db: dw = sum_rows dy * xhat, db = sum_rows dy, in two steps, both in a fixed order
//     (deterministic, no atomics): partial sums per chunk of rows, then a sum of the chunks per
//     column, both by column-sums.ts (its header says how each adapter lays them out).
// f16 tensors (x, w, b, y, dy and the gradients) are read widened to f32: the statistics (mean
// and rstd, kept f32 for the backward), the row and column sums are all f32, and each output is
// rounded to f16 once. Called by src/ops/layernorm.ts.
import { device } from '../../device/device.js';
import { floatSuffix, Kernel, narrow, variants, type FloatType } from '../kernel.js';
import { columnGrid, columnPlan, columnSums, type ColumnLayout } from './column-sums.js';
import { blockedSum, rowGrid, rowKernel, rowMain } from './row.js';


const forwardK = variants((float: FloatType) => rowKernel((lanes) => new Kernel({
  name: `layernorm${floatSuffix(float)}`,
  read: { x: float, w: float, b: float },
  write: { y: float, mean: 'f32', rstd: 'f32' },
  params: { rows: 'u32', C: 'u32', eps: 'f32', has_bias: 'u32' },
  body: rowMain(lanes, 'p.C', /* wgsl */ `
  var s = 0.0;
  ${blockedSum('s', 'f32(x[base + j])')}
  let mu = wg_sum(s, lane) / f32(p.C);
  var v = 0.0;
  ${blockedSum('v', '(f32(x[base + j]) - mu) * (f32(x[base + j]) - mu)')}
  let r = inverseSqrt(wg_sum(v, lane) / f32(p.C) + p.eps);
  for (var j = lane; j < n; j += ROW_LANES) {
    let bias = select(0.0, f32(b[j]), p.has_bias == 1u);
    y[base + j] = ${narrow(float, '(f32(x[base + j]) - mu) * r * f32(w[j]) + bias')};
  }
  if (live && lane == 0u) { mean[row] = mu; rstd[row] = r; }`),
})));

const backwardDxK = variants((float: FloatType) => rowKernel((lanes) => new Kernel({
  name: `layernorm_backward_dx${floatSuffix(float)}`,
  read: { x: float, w: float, mean: 'f32', rstd: 'f32', dy: float },
  write: { dx: float },
  params: { rows: 'u32', C: 'u32' },
  body: rowMain(lanes, 'p.C', /* wgsl */ `
  let safe = select(0u, row, live); // select() evaluates both arms: never index past the end
  let mu = select(0.0, mean[safe], live);
  let r = select(0.0, rstd[safe], live);
  var sg = 0.0;
  var sgx = 0.0;
  for (var j = lane; j < n; j += ROW_LANES) {
    let g = f32(dy[base + j]) * f32(w[j]);
    sg += g;
    sgx += g * (f32(x[base + j]) - mu) * r;
  }
  let mg = wg_sum(sg, lane) / f32(p.C);
  let mgx = wg_sum(sgx, lane) / f32(p.C);
  for (var j = lane; j < n; j += ROW_LANES) {
    let xhat = (f32(x[base + j]) - mu) * r;
    dx[base + j] = ${narrow(float, 'r * (f32(dy[base + j]) * f32(w[j]) - mg - xhat * mgx)')};
  }`),
})));

const splitSuffix = (name: ColumnLayout) => (name === 'lane' ? '' : '_split');

// Chunk r of the rows (workgroup row wid.y): partial sums of its rows for each column c, into
// pw[r * C + c] and pb[r * C + c] (f32); with one chunk (`out` = float) those are dw and db themselves.
// Keyed `${x and dy}>${the sums}>${layout}`.
const backwardWbK = variants((key: `${FloatType}>${FloatType}>${ColumnLayout}`) => {
  const [float, out, layout] = key.split('>') as [FloatType, FloatType, ColumnLayout];
  return new Kernel({
    name: `layernorm_backward_wb${floatSuffix(float)}${out !== float ? '_partial' : ''}${splitSuffix(layout)}`,
    read: { x: float, mean: 'f32', rstd: 'f32', dy: float },
    write: { pw: out, pb: out },
    params: { rows: 'u32', C: 'u32', chunk: 'u32' },
    body: columnSums(
      layout, 'p.C', 'wid.y * p.chunk', 'min(p.rows, (wid.y + 1u) * p.chunk)',
      ['f32(dy[i * p.C + c]) * (f32(x[i * p.C + c]) - mean[i]) * rstd[i]', 'f32(dy[i * p.C + c])'],
      `pw[wid.y * p.C + c] = ${narrow(out, 's0')};\n    pb[wid.y * p.C + c] = ${narrow(out, 's1')};`,
    ),
  });
});

// dw[c] = sum_r pw[r * C + c], db likewise (chunks in a fixed order: deterministic).
const wbSumK = variants((key: `${FloatType}>${ColumnLayout}`) => {
  const [float, layout] = key.split('>') as [FloatType, ColumnLayout];
  return new Kernel({
    name: `layernorm_backward_wb_sum${floatSuffix(float)}${splitSuffix(layout)}`,
    read: { pw: 'f32', pb: 'f32' },
    write: { dw: float, db: float },
    params: { C: 'u32', chunks: 'u32' },
    body: columnSums(layout, 'p.C', '0u', 'p.chunks', ['pw[i * p.C + c]', 'pb[i * p.C + c]'], `dw[c] = ${narrow(float, 's0')};\n    db[c] = ${narrow(float, 's1')};`),
  });
});

function launchWeightGrads(b: { x: GPUBuffer; mean: GPUBuffer; rstd: GPUBuffer; dy: GPUBuffer; dw: GPUBuffer; db: GPUBuffer }, rows: number, C: number, float: FloatType): void {
  const { rowsLayout, chunksLayout, chunks, chunk } = columnPlan(rows);
  if (chunks === 1) {
    backwardWbK(`${float}>${float}>${rowsLayout}`).launch([b.x, b.mean, b.rstd, b.dy, b.dw, b.db], { rows, C, chunk }, columnGrid(rowsLayout, C));
    return;
  }
  const dev = device();
  const pw = dev.alloc(4 * chunks * C, 'layernorm dw partials');
  const pb = dev.alloc(4 * chunks * C, 'layernorm db partials');
  backwardWbK(`${float}>f32>${rowsLayout}`).launch([b.x, b.mean, b.rstd, b.dy, pw, pb], { rows, C, chunk }, columnGrid(rowsLayout, C, chunks));
  wbSumK(`${float}>${chunksLayout}`).launch([pw, pb, b.dw, b.db], { C, chunks }, columnGrid(chunksLayout, C));
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
  const { kernel, lanes } = forwardK(float)(rows);
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
    const { kernel, lanes } = backwardDxK(float)(rows);
    kernel.launch([b.x, b.w, b.mean, b.rstd, b.dy, b.dx], { rows, C }, rowGrid(rows, lanes));
  }
  if (b.dw && b.db && C > 0) launchWeightGrads({ ...b, dw: b.dw, db: b.db }, rows, C, float); // C = 0: both empty (a dispatch of no workgroups)
}
