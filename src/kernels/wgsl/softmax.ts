// Softmax and log-softmax over the last axis, forward and backward. Layout: rows x C, row-major.
// A row per workgroup or per lane (row.ts, by adapter), lanes striding over C. Forward is stable: the row max
// is subtracted before exp, and log-softmax is (x - max) - log(sum), never x - lse, which would
// round lse to the precision of the row max. Backward (y = the saved forward output, dy the
// upstream gradient):
//   softmax:     dx = y * (dy - sum(dy * y))
//   log-softmax: dx = dy - exp(y) * sum(dy)
// f16 rows (float16 tensors) are read widened to f32: the max, the sums and every exp are f32,
// and each output is rounded to f16 once. Tensors larger than a binding go a chunk of rows at a
// time (row.ts launchRowChunks), each bound as a window `shift` elements before its first row.
// Called by src/ops/softmax.ts.
import { floatSuffix, Kernel, narrow, variants, type FloatType } from '../kernel.js';
import { blockedSum, launchRowChunks, rowKernel, rowMain, rowMax } from './row.js';

function forwardKernel(log: boolean, float: FloatType, lanes: number): Kernel {
  return new Kernel({
    name: `${log ? 'log_softmax' : 'softmax'}${floatSuffix(float)}`,
    read: { x: float },
    write: { y: float },
    params: { rows: 'u32', C: 'u32', shift: 'u32' },
    body: rowMain(lanes, 'p.C', /* wgsl */ `
  ${rowMax('m', 'f32(x[base + j])')}
  var s = 0.0;
  ${blockedSum('s', 'exp(f32(x[base + j]) - m)')}
  s = wg_sum(s, lane);
  ${log ? 'let ls = log(s);' : 'let inv = 1.0 / s;'}
  for (var j = lane; j < n; j += ROW_LANES) {
    y[base + j] = ${narrow(float, log ? '(f32(x[base + j]) - m) - ls' : 'exp(f32(x[base + j]) - m) * inv')};
  }`, 'p.shift'),
  });
}

function backwardKernel(log: boolean, float: FloatType, lanes: number): Kernel {
  return new Kernel({
    name: `${log ? 'log_softmax_backward' : 'softmax_backward'}${floatSuffix(float)}`,
    read: { y: float, dy: float },
    write: { dx: float },
    params: { rows: 'u32', C: 'u32', shift: 'u32' },
    body: rowMain(lanes, 'p.C', /* wgsl */ `
  var s = 0.0;
  ${blockedSum('s', log ? 'f32(dy[base + j])' : 'f32(dy[base + j]) * f32(y[base + j])')}
  s = wg_sum(s, lane);
  for (var j = lane; j < n; j += ROW_LANES) {
    dx[base + j] = ${narrow(float, log ? 'f32(dy[base + j]) - exp(f32(y[base + j])) * s' : 'f32(y[base + j]) * (f32(dy[base + j]) - s)')};
  }`, 'p.shift'),
  });
}

const kernels = {
  forward: [false, true].map((log) => variants((float: FloatType) => rowKernel((lanes) => forwardKernel(log, float, lanes)))),
  backward: [false, true].map((log) => variants((float: FloatType) => rowKernel((lanes) => backwardKernel(log, float, lanes)))),
};

export function launchSoftmax(log: boolean, x: GPUBuffer, y: GPUBuffer, rows: number, C: number, float: FloatType = 'f32'): void {
  launchRowChunks(log ? 'logSoftmax' : 'softmax', kernels.forward[+log]!(float), [[x, 'rows'], [y, 'rows']], C, { rows, C }, float);
}

export function launchSoftmaxBackward(log: boolean, y: GPUBuffer, dy: GPUBuffer, dx: GPUBuffer, rows: number, C: number, float: FloatType = 'f32'): void {
  launchRowChunks(log ? 'logSoftmax' : 'softmax', kernels.backward[+log]!(float), [[y, 'rows'], [dy, 'rows'], [dx, 'rows']], C, { rows, C }, float);
}
