// LayerNorm over the last axis. Layout: x is rows x C row-major; w, b are [C].
//   forward (a row per workgroup or per lane: see row.ts): mean, rstd = 1/sqrt(var + eps) (two passes over the
//     row), y = (x - mean) * rstd * w + b; mean and rstd are written per row for the backward.
//   backward dx (laid out as the forward), with xhat = (x - mean) rstd and g = dy * w:
//     dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
//   backward dw, db (a lane per column and chunk of rows, then a lane per column sums the chunks
//     in order: deterministic, no atomics): dw = sum_rows dy * xhat, db = sum_rows dy
// Called by src/ops/layernorm.ts.
import { device } from '../../device/device.js';
import { Kernel } from '../kernel.js';
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
/** Rows per chunk of the dw, db sums: enough chunks to keep every driver thread busy. */
const WB_CHUNK_ROWS = 64;
const WB_MAX_CHUNKS = 16;

/** `main` of a lane-per-column kernel: sums `w` and `b` (of row i, column c) over rows from .. to - 1 into `store`. */
function columnSums(from: string, to: string, w: string, b: string, store: string): string {
  return /* wgsl */ `
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= p.C) { return; }
  var sw = 0.0;
  var sb = 0.0;
  for (var i = ${from}; i < ${to}; i++) {
    sw += ${w};
    sb += ${b};
  }
  ${store}
}`;
}

// Chunk r of the rows (workgroup row y): partial sums of its rows for each column c (x), into
// pw[r * C + c] and pb[r * C + c]; with one chunk those are dw and db themselves.
const backwardWbK = new Kernel({
  name: 'layernorm_backward_wb',
  read: { x: 'f32', mean: 'f32', rstd: 'f32', dy: 'f32' },
  write: { pw: 'f32', pb: 'f32' },
  params: { rows: 'u32', C: 'u32', chunk: 'u32' },
  body: columnSums(
    'gid.y * p.chunk', 'min(p.rows, (gid.y + 1u) * p.chunk)',
    'dy[i * p.C + c] * (x[i * p.C + c] - mean[i]) * rstd[i]', 'dy[i * p.C + c]',
    'pw[gid.y * p.C + c] = sw;\n  pb[gid.y * p.C + c] = sb;',
  ),
});

// dw[c] = sum_r pw[r * C + c], db likewise (chunks in order: deterministic).
const wbSumK = new Kernel({
  name: 'layernorm_backward_wb_sum',
  read: { pw: 'f32', pb: 'f32' },
  write: { dw: 'f32', db: 'f32' },
  params: { C: 'u32', chunks: 'u32' },
  body: columnSums('0u', 'p.chunks', 'pw[i * p.C + c]', 'pb[i * p.C + c]', 'dw[c] = sw;\n  db[c] = sb;'),
});

function launchWeightGrads(b: { x: GPUBuffer; mean: GPUBuffer; rstd: GPUBuffer; dy: GPUBuffer; dw: GPUBuffer; db: GPUBuffer }, rows: number, C: number): void {
  const chunks = Math.max(1, Math.min(WB_MAX_CHUNKS, Math.ceil(rows / WB_CHUNK_ROWS)));
  const chunk = Math.ceil(rows / chunks);
  const groups = Math.ceil(C / WG);
  if (chunks === 1) {
    backwardWbK.launch([b.x, b.mean, b.rstd, b.dy, b.dw, b.db], { rows, C, chunk }, [groups, 1, 1]);
    return;
  }
  const dev = device();
  const pw = dev.alloc(4 * chunks * C, 'layernorm dw partials');
  const pb = dev.alloc(4 * chunks * C, 'layernorm db partials');
  backwardWbK.launch([b.x, b.mean, b.rstd, b.dy, pw, pb], { rows, C, chunk }, [groups, chunks, 1]);
  wbSumK.launch([pw, pb, b.dw, b.db], { C, chunks }, [groups, 1, 1]);
  dev.release(pw); // scratch: later dispatches that reuse it run after these
  dev.release(pb);
}

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
  if (b.dw && b.db) launchWeightGrads({ ...b, dw: b.dw, db: b.db }, rows, C);
}
