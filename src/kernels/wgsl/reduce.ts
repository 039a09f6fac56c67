// Reductions (sum / max / argmax) over any set of axes. Outputs are laid out like rows of a row
// kernel (row.ts): one 64-lane workgroup per output element, lanes striding over the reduced
// elements, then a tree reduction in workgroup memory; or, on CPU adapters with many outputs, a
// lane per output element looping over all of them, no barriers. Grids spread over x and y past 65535. The input is addressed as kept dims x reduced dims, each
// with its own shape and strides, so no transpose is ever materialised.
//   sum:    out = scale * sum(x)          (mean passes scale = 1/R)
//   max:    out = max(x), IEEE: NaN if any element is NaN, -inf only if all are
//   argmax: out = first index of the max  (i32, index into the flattened reduced dims; a NaN is the
//           max, as in PyTorch; -0 ties with +0)
// max and argmax never compare floats: they read the f32 bits as u32 and take the max of their
// ordered keys (ORDERED_WGSL), exact for +-inf and NaN whatever the driver assumes. Callers reject
// empty max / argmax reductions (R = 0). f16 inputs are widened to f32 as they are read (sums
// accumulate in f32; max keys the widened bits) and the result is rounded to f16 once.
import { Kernel, LINEAR, variants, type FloatType } from '../kernel.js';
import { ORDERED_WGSL } from './elementwise.js';
import { rowGrid, rowKernel } from './row.js';

const WG = 64;
export type ReduceKind = 'sum' | 'max' | 'argmax';

/** Per kind: the accumulator's type and start, the value `v` of an element `e`, and the output. */
const KINDS = {
  sum: { acc: 'f32', init: '0.0', load: 'e', out: 'f32', result: 'p.scale * acc' },
  max: { acc: 'u32', init: 'ordered_key(0xff800000u)', load: 'ordered_key(e)', out: 'u32', result: 'from_ordered_key(acc)' },
  // -0 is loaded as +0 so that it ties with +0 (the first one wins)
  argmax: {
    acc: 'u32', init: 'ordered_key(0xff800000u)', load: 'ordered_key(select(e, 0u, e == 0x80000000u))', out: 'i32',
    result: 'i32(select(arg, 0u, arg == 0xffffffffu))',
  },
} as const;

function reduceKernel(kind: ReduceKind, float: FloatType, lanes: number): Kernel {
  const isArg = kind === 'argmax';
  const k = KINDS[kind];
  const combine = kind === 'sum' ? 'acc + v' : 'max(acc, v)';
  const half = float === 'f16';
  // an element `e` as the accumulator wants it: f32 for sums, f32 bits for max and argmax
  const element = (at: string) => (!half ? `x[${at}]` : kind === 'sum' ? `f32(x[${at}])` : `bitcast<u32>(f32(x[${at}]))`);
  const result = !half || isArg ? k.result : kind === 'sum' ? `f16(${k.result})` : `f16(bitcast<f32>(${k.result}))`;
  return new Kernel({
    name: `reduce_${kind}${half ? '_f16' : ''}`,
    read: { x: half ? 'f16' : k.acc },
    write: { out: half && !isArg ? 'f16' : k.out },
    params: {
      n_out: 'u32', r: 'u32', keep_rank: 'u32', red_rank: 'u32', scale: 'f32',
      keep_shape: 'dims', keep_strides: 'dims', red_shape: 'dims', red_strides: 'dims',
    },
    body: /* wgsl */ `
${LINEAR}
${kind === 'sum' ? '' : ORDERED_WGSL}
var<workgroup> vals: array<${k.acc}, ${WG}>;
var<workgroup> idxs: array<u32, ${WG}>;

@compute @workgroup_size(${lanes}, ${WG / lanes})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_id) lid: vec3u) {
  let lane = lid.x;
  let o = linear(wid, nwg, 1u) * ${WG / lanes}u + lid.y;
  let live = o < p.n_out;
  let base = strided(o, p.keep_rank, p.keep_shape, p.keep_strides);
  var acc = ${k.init};
  var arg = 0xffffffffu;
  if (live) {
    for (var j = lane; j < p.r; j += ${lanes}u) {
      let e = ${element('base + strided(j, p.red_rank, p.red_shape, p.red_strides)')};
      let v = ${k.load};
      ${isArg ? 'if (v > acc || arg == 0xffffffffu) { acc = v; arg = j; }' : `acc = ${combine};`}
    }
  }
${lanes === 1 ? '' : `  vals[lane] = acc;
  idxs[lane] = arg;
  workgroupBarrier();
  for (var s = ${lanes / 2}u; s > 0u; s >>= 1u) {
    if (lane < s) {
      let v = vals[lane + s];
      ${
        isArg
          ? `let a = idxs[lane + s];
      let mine = vals[lane];
      let theirs_wins = a != 0xffffffffu && (idxs[lane] == 0xffffffffu || v > mine || (v == mine && a < idxs[lane]));
      if (theirs_wins) { vals[lane] = v; idxs[lane] = a; }`
          : `let acc = vals[lane];\n      vals[lane] = ${combine};`
      }
    }
    workgroupBarrier();
  }
  acc = vals[0];
  arg = idxs[0];`}
  if (lane == 0u && live) {
    out[o] = ${result};
  }
}`,
  });
}

const kernels = variants((key: `${ReduceKind}:${FloatType}`) => {
  const [kind, float] = key.split(':') as [ReduceKind, FloatType];
  return rowKernel((lanes) => reduceKernel(kind, float, lanes));
});

export interface ReducePlan {
  nOut: number;
  r: number;
  keepShape: number[];
  keepStrides: number[];
  redShape: number[];
  redStrides: number[];
}

/** Splits an input shape into kept and reduced dims (with the input's strides for each). */
export function planReduce(shape: readonly number[], strides: readonly number[], axes: readonly number[]): ReducePlan {
  const plan: ReducePlan = { nOut: 1, r: 1, keepShape: [], keepStrides: [], redShape: [], redStrides: [] };
  shape.forEach((d, i) => {
    if (axes.includes(i)) {
      plan.redShape.push(d);
      plan.redStrides.push(strides[i]!);
      plan.r *= d;
    } else {
      plan.keepShape.push(d);
      plan.keepStrides.push(strides[i]!);
      plan.nOut *= d;
    }
  });
  return plan;
}

/** Reduces x (elements of `float`) into out (the same, or i32 for argmax). */
export function launchReduce(kind: ReduceKind, x: GPUBuffer, out: GPUBuffer, plan: ReducePlan, scale = 1, float: FloatType = 'f32'): void {
  const { kernel, lanes } = kernels(`${kind}:${float}`)(plan.nOut);
  kernel.launch(
    [x, out],
    {
      n_out: plan.nOut, r: plan.r, keep_rank: plan.keepShape.length, red_rank: plan.redShape.length, scale,
      keep_shape: plan.keepShape, keep_strides: plan.keepStrides, red_shape: plan.redShape, red_strides: plan.redStrides,
    },
    rowGrid(plan.nOut, lanes),
  );
}
