// Softmax and log-softmax over the last axis, forward and backward. Layout: rows x C, row-major.
// A row per workgroup or per lane (row.ts, by adapter), lanes striding over C. Forward is stable: the row max
// is subtracted before exp, and log-softmax is (x - max) - log(sum), never x - lse, which would
// round lse to the precision of the row max. Backward (y = the saved forward output, dy the
// upstream gradient):
//   softmax:     dx = y * (dy - sum(dy * y))
//   log-softmax: dx = dy - exp(y) * sum(dy)
// f16 rows (float16 tensors) are read widened to f32: the max, the sums and every exp are f32,
// and each output is rounded to f16 once. Non-finite inputs are told by their bits (row.ts,
// rowNonFiniteWgsl; WGSL may assume finite floats): a -Inf weighs an exact 0 (masking; log-softmax
// keeps it -Inf), and a row holding a NaN or +Inf, or only -Inf, is all NaN (as torch's: NaN where
// exp(Inf - Inf) is, a softmax of only -Inf NaN too). Backward: an element whose output was NaN
// gets a NaN gradient by the bits; log-softmax's -Inf outputs weigh exp(-Inf) = 0 there too. Tensors larger than a binding go a chunk of rows at a
// time (row.ts launchRowChunks), each bound as a window `shift` elements before its first row.
// Called by src/ops/softmax.ts.
import { floatSuffix, Kernel, narrow, variants, type FloatType } from '../kernel.js';
import { blockedSum, launchRowChunks, rowKernel, rowMain, rowMaxFinite, rowNonFiniteWgsl } from './row.js';

function forwardKernel(log: boolean, float: FloatType, lanes: number): Kernel {
  return new Kernel({
    name: `${log ? 'log_softmax' : 'softmax'}${floatSuffix(float)}`,
    read: { x: float },
    write: { y: float },
    params: { rows: 'u32', C: 'u32', shift: 'u32' },
    body: rowNonFiniteWgsl(float) + rowMain(lanes, 'p.C', /* wgsl */ `
  ${rowMaxFinite('m', 'bad', 'f32(x[base + j])')}
  var s = 0.0;
  ${blockedSum('s', 'weight(f32(x[base + j]), m)')}
  s = wg_sum(s, lane);
  let nan = bad || s == 0.0; // s >= 1 where a term is finite (the max adds exp(0))
  ${log ? 'let ls = log(select(s, 1.0, nan));' : 'let inv = 1.0 / select(s, 1.0, nan);'}
  for (var j = lane; j < n; j += ROW_LANES) {
    let v = f32(x[base + j]);
    y[base + j] = select(${log ? `select(${narrow(float, '(finite_or(v, m) - m) - ls')}, x[base + j], neg_inf(v))` : narrow(float, 'weight(v, m) * inv')}, nan_out(v), nan);
  }`, 'p.shift'),
  });
}

function backwardKernel(log: boolean, float: FloatType, lanes: number): Kernel {
  return new Kernel({
    name: `${log ? 'log_softmax_backward' : 'softmax_backward'}${floatSuffix(float)}`,
    read: { y: float, dy: float },
    write: { dx: float },
    params: { rows: 'u32', C: 'u32', shift: 'u32' },
    body: rowNonFiniteWgsl(float) + rowMain(lanes, 'p.C', /* wgsl */ `
  var s = 0.0;
  ${blockedSum('s', log ? 'f32(dy[base + j])' : 'f32(dy[base + j]) * f32(y[base + j])')}
  s = wg_sum(s, lane);
  for (var j = lane; j < n; j += ROW_LANES) {
    let v = f32(y[base + j]);
    dx[base + j] = select(${narrow(float, log ? 'f32(dy[base + j]) - weight(v, 0.0) * s' : 'v * (f32(dy[base + j]) - s)')}, nan_out(v), not_finite(v) && !neg_inf(v));
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
