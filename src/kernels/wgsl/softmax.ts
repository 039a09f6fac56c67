// Softmax and log-softmax over the last axis, forward and backward. Layout: rows x C, row-major.
// One 64-lane workgroup per row (gridRows), lanes striding over C. Forward is stable: the row max
// is subtracted before exp, and log-softmax is (x - max) - log(sum), never x - lse, which would
// round lse to the precision of the row max. Backward (y = the saved forward output, dy the
// upstream gradient):
//   softmax:     dx = y * (dy - sum(dy * y))
//   log-softmax: dx = dy - exp(y) * sum(dy)
// Called by src/ops/softmax.ts.
import { Kernel, gridRows } from '../kernel.js';
import { ROW_MAIN_ARGS, ROW_REDUCE, ROW_WG, rowIndex } from './row.js';

function forwardKernel(log: boolean): Kernel {
  return new Kernel({
    name: log ? 'log_softmax' : 'softmax',
    read: { x: 'f32' },
    write: { y: 'f32' },
    params: { rows: 'u32', C: 'u32' },
    body: /* wgsl */ `
${ROW_REDUCE}
@compute @workgroup_size(${ROW_WG})
fn main(${ROW_MAIN_ARGS}) {
  ${rowIndex('p.C')}
  var m = -3.402823e38;
  for (var j = lane; j < n; j += ${ROW_WG}u) { m = max(m, x[base + j]); }
  m = wg_max(m, lane);
  var s = 0.0;
  for (var j = lane; j < n; j += ${ROW_WG}u) { s += exp(x[base + j] - m); }
  s = wg_sum(s, lane);
  ${log ? 'let ls = log(s);' : 'let inv = 1.0 / s;'}
  for (var j = lane; j < n; j += ${ROW_WG}u) {
    y[base + j] = ${log ? '(x[base + j] - m) - ls' : 'exp(x[base + j] - m) * inv'};
  }
}`,
  });
}

function backwardKernel(log: boolean): Kernel {
  return new Kernel({
    name: log ? 'log_softmax_backward' : 'softmax_backward',
    read: { y: 'f32', dy: 'f32' },
    write: { dx: 'f32' },
    params: { rows: 'u32', C: 'u32' },
    body: /* wgsl */ `
${ROW_REDUCE}
@compute @workgroup_size(${ROW_WG})
fn main(${ROW_MAIN_ARGS}) {
  ${rowIndex('p.C')}
  var s = 0.0;
  for (var j = lane; j < n; j += ${ROW_WG}u) { s += ${log ? 'dy[base + j]' : 'dy[base + j] * y[base + j]'}; }
  s = wg_sum(s, lane);
  for (var j = lane; j < n; j += ${ROW_WG}u) {
    dx[base + j] = ${log ? 'dy[base + j] - exp(y[base + j]) * s' : 'y[base + j] * (dy[base + j] - s)'};
  }
}`,
  });
}

const kernels = new Map<string, Kernel>();
function get(kind: 'forward' | 'backward', log: boolean): Kernel {
  const key = `${kind}:${log}`;
  let k = kernels.get(key);
  if (!k) kernels.set(key, (k = kind === 'forward' ? forwardKernel(log) : backwardKernel(log)));
  return k;
}

export function launchSoftmax(log: boolean, x: GPUBuffer, y: GPUBuffer, rows: number, C: number): void {
  get('forward', log).launch([x, y], { rows, C }, gridRows(rows));
}

export function launchSoftmaxBackward(log: boolean, y: GPUBuffer, dy: GPUBuffer, dx: GPUBuffer, rows: number, C: number): void {
  get('backward', log).launch([y, dy, dx], { rows, C }, gridRows(rows));
}
