// LayerNorm over the last axis. Layout: x is rows x C row-major; w, b are [C].
//   forward (a row per workgroup or per lane: see row.ts): mean, rstd = 1/sqrt(var + eps) (two passes over the
//     row), y = (x - mean) * rstd * w + b; mean and rstd are written per row for the backward.
//   backward dx (laid out as the forward), with xhat = (x - mean) rstd and g = dy * w:
//     dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
//   backward dw, db (one lane per column, looping over rows: deterministic, no atomics):
//     dw = sum_rows dy * xhat, db = sum_rows dy
// Called by src/ops/layernorm.ts.
import { Kernel, grid1d } from '../kernel.js';
import { rowGrid, rowKernel, rowMain } from './row.js';

const forwardK = rowKernel((lanes) => new Kernel({
  name: 'layernorm',
  read: { x: 'f32', w: 'f32', b: 'f32' },
  write: { y: 'f32', mean: 'f32', rstd: 'f32' },
  params: { rows: 'u32', C: 'u32', eps: 'f32', has_bias: 'u32' },
  body: rowMain(lanes, 'p.C', /* wgsl */ `
  var s = 0.0;
  for (var j = lane; j < n; j += ROW_LANES) { s += x[base + j]; }
  let mu = wg_sum(s, lane) / f32(p.C);
  var v = 0.0;
  for (var j = lane; j < n; j += ROW_LANES) { let d = x[base + j] - mu; v += d * d; }
  let r = inverseSqrt(wg_sum(v, lane) / f32(p.C) + p.eps);
  for (var j = lane; j < n; j += ROW_LANES) {
    let bias = select(0.0, b[j], p.has_bias == 1u);
    y[base + j] = (x[base + j] - mu) * r * w[j] + bias;
  }
  if (live && lane == 0u) { mean[row] = mu; rstd[row] = r; }`),
}));

const backwardDxK = rowKernel((lanes) => new Kernel({
  name: 'layernorm_backward_dx',
  read: { x: 'f32', w: 'f32', mean: 'f32', rstd: 'f32', dy: 'f32' },
  write: { dx: 'f32' },
  params: { rows: 'u32', C: 'u32' },
  body: rowMain(lanes, 'p.C', /* wgsl */ `
  let safe = select(0u, row, live); // select() evaluates both arms: never index past the end
  let mu = select(0.0, mean[safe], live);
  let r = select(0.0, rstd[safe], live);
  var sg = 0.0;
  var sgx = 0.0;
  for (var j = lane; j < n; j += ROW_LANES) {
    let g = dy[base + j] * w[j];
    sg += g;
    sgx += g * (x[base + j] - mu) * r;
  }
  let mg = wg_sum(sg, lane) / f32(p.C);
  let mgx = wg_sum(sgx, lane) / f32(p.C);
  for (var j = lane; j < n; j += ROW_LANES) {
    let xhat = (x[base + j] - mu) * r;
    dx[base + j] = r * (dy[base + j] * w[j] - mg - xhat * mgx);
  }`),
}));

const WG = 64;
const backwardWbK = new Kernel({
  name: 'layernorm_backward_wb',
  read: { x: 'f32', mean: 'f32', rstd: 'f32', dy: 'f32' },
  write: { dw: 'f32', db: 'f32' },
  params: { rows: 'u32', C: 'u32' },
  body: /* wgsl */ `
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= p.C) { return; }
  var sw = 0.0;
  var sb = 0.0;
  for (var i = 0u; i < p.rows; i++) {
    let g = dy[i * p.C + c];
    sw += g * (x[i * p.C + c] - mean[i]) * rstd[i];
    sb += g;
  }
  dw[c] = sw;
  db[c] = sb;
}`,
});

export function launchLayerNorm(
  b: { x: GPUBuffer; w: GPUBuffer; bias: GPUBuffer | null; y: GPUBuffer; mean: GPUBuffer; rstd: GPUBuffer },
  rows: number,
  C: number,
  eps: number,
): void {
  const { kernel, lanes } = forwardK(rows);
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
): void {
  if (b.dx) {
    const { kernel, lanes } = backwardDxK(rows);
    kernel.launch([b.x, b.w, b.mean, b.rstd, b.dy, b.dx], { rows, C }, rowGrid(rows, lanes));
  }
  if (b.dw && b.db) backwardWbK.launch([b.x, b.mean, b.rstd, b.dy, b.dw, b.db], { rows, C }, grid1d(C, WG));
}
