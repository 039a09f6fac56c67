// Softmax and log-softmax over the last axis, forward and backward. Layout: rows x C, row-major.
// A row per workgroup or per lane (row.ts, by adapter), lanes striding over C. Forward is stable: the row max
// is subtracted before exp, and log-softmax is (x - max) - log(sum), never x - lse, which would
// round lse to the precision of the row max. Backward (y = the saved forward output, dy the
// upstream gradient):
//   softmax:     dx = y * (dy - sum(dy * y))
//   log-softmax: dx = dy - exp(y) * sum(dy)
// Called by src/ops/softmax.ts.
import { Kernel } from '../kernel.js';
import { rowGrid, rowKernel, rowMain } from './row.js';

function forwardKernel(log: boolean, lanes: number): Kernel {
  return new Kernel({
    name: log ? 'log_softmax' : 'softmax',
    read: { x: 'f32' },
    write: { y: 'f32' },
    params: { rows: 'u32', C: 'u32' },
    body: rowMain(lanes, 'p.C', /* wgsl */ `
  var m = -3.402823e38;
  for (var j = lane; j < n; j += ROW_LANES) { m = max(m, x[base + j]); }
  m = wg_max(m, lane);
  var s = 0.0;
  for (var j = lane; j < n; j += ROW_LANES) { s += exp(x[base + j] - m); }
  s = wg_sum(s, lane);
  ${log ? 'let ls = log(s);' : 'let inv = 1.0 / s;'}
  for (var j = lane; j < n; j += ROW_LANES) {
    y[base + j] = ${log ? '(x[base + j] - m) - ls' : 'exp(x[base + j] - m) * inv'};
  }`),
  });
}

function backwardKernel(log: boolean, lanes: number): Kernel {
  return new Kernel({
    name: log ? 'log_softmax_backward' : 'softmax_backward',
    read: { y: 'f32', dy: 'f32' },
    write: { dx: 'f32' },
    params: { rows: 'u32', C: 'u32' },
    body: rowMain(lanes, 'p.C', /* wgsl */ `
  var s = 0.0;
  for (var j = lane; j < n; j += ROW_LANES) { s += ${log ? 'dy[base + j]' : 'dy[base + j] * y[base + j]'}; }
  s = wg_sum(s, lane);
  for (var j = lane; j < n; j += ROW_LANES) {
    dx[base + j] = ${log ? 'dy[base + j] - exp(y[base + j]) * s' : 'y[base + j] * (dy[base + j] - s)'};
  }`),
  });
}

const kernels = {
  forward: [false, true].map((log) => rowKernel((lanes) => forwardKernel(log, lanes))),
  backward: [false, true].map((log) => rowKernel((lanes) => backwardKernel(log, lanes))),
};

export function launchSoftmax(log: boolean, x: GPUBuffer, y: GPUBuffer, rows: number, C: number): void {
  const { kernel, lanes } = kernels.forward[+log]!(rows);
  kernel.launch([x, y], { rows, C }, rowGrid(rows, lanes));
}

export function launchSoftmaxBackward(log: boolean, y: GPUBuffer, dy: GPUBuffer, dx: GPUBuffer, rows: number, C: number): void {
  const { kernel, lanes } = kernels.backward[+log]!(rows);
  kernel.launch([y, dy, dx], { rows, C }, rowGrid(rows, lanes));
}
