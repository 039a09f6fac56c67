// Reductions (sum / max / min / argmax / argmin) over any set of axes. Outputs are laid out like
// rows of a row kernel (row.ts): one 64-lane workgroup per output element, lanes striding over the reduced
// elements, then a tree reduction in workgroup memory; or, on CPU adapters with many outputs, a
// lane per output element looping over all of them, no barriers. Grids spread over x and y past
// 65535. The input is addressed as kept dims x reduced dims, each with its own shape and strides,
// so no transpose is ever materialised.
// Sums over the rows of a [rows, columns] layout (a bias gradient: [B, T, C] summed over B and T)
// on GPUs (profile().splitSums) take column-sums.ts instead, in two steps: a 64-lane workgroup per
// output would stride through memory a row apart, with rows summed serially by its lanes.
//   sum:    out = scale * sum(x)          (mean passes scale = 1/R)
//   max:    out = max(x), IEEE: NaN if any element is NaN, -inf only if all are
//   argmax: out = first index of the max  (i32, index into the flattened reduced dims; a NaN is the
//           max, as in PyTorch; -0 ties with +0)
//   min, argmin: max and argmax of the elements with their sign bit flipped (NaN stays NaN and still
//           wins, as in PyTorch; -0 ranks below +0 for min, ties with it for argmin); min flips its
//           result back
// max and argmax (min and argmin too) never compare floats: they read the f32 bits as u32 and take
// the max of their ordered keys (ORDERED_WGSL), exact for +-inf and NaN whatever the driver
// assumes. Callers reject empty max / min / argmax / argmin reductions (R = 0). f16 inputs are widened to f32 as they are read (sums
// accumulate in f32; max keys the widened bits) and the result is rounded to f16 once.
// An input larger than a binding is reduced a slab at a time (contiguous ranges planned by
// src/ops/reduce-launch.ts, each bound as a window `shift` elements before its start, writing a
// contiguous range of the output `out_shift` elements into its window). Where slabs share outputs
// (a reduced axis is split), the kernel's folding form (`_fold`) folds its result into what
// earlier slabs wrote, in slab order: sums add (in f32, also for f16 inputs: the caller rounds once at the end), max takes the
// max, and argmax keeps the ordered key of each output's max in `best` and takes a later slab's
// index (plus `offset`, its first reduced index) only when its max is strictly greater, so that
// the first maximum still wins.
import { device } from '../../device/device.js';
import { floatSuffix, floatBytes, Kernel, LINEAR, MAX_GROUPS, shiftedWindow, variants, type FloatType } from '../kernel.js';
import { ORDERED_WGSL } from './elementwise.js';
import { profile } from '../profile.js';
import { columnGrid, columnPlan, columnSums, COLUMN_LAYOUTS } from './column-sums.js';
import { blockedSum, rowGrid, rowKernel } from './row.js';

const WG = 64;
export type ReduceKind = 'sum' | 'max' | 'min' | 'argmax' | 'argmin';

/** Whether a kind gives indices (int32) rather than values. */
export const isArgKind = (kind: ReduceKind): boolean => kind === 'argmax' || kind === 'argmin';
/** min and argmin reduce the elements' bits with the sign bit flipped, by max and argmax. */
const flipsSign = (kind: ReduceKind): boolean => kind === 'min' || kind === 'argmin';
const SIGN = '0x80000000u';
/** WGSL for `arg` before any element is taken (an empty reduction, a lane past the end): no index; stored as 0. */
const NO_ARG = '0xffffffffu';

/** Per kind: the accumulator's type and start, the value `v` of an element `e`, and the output. */
const KINDS = {
  sum: { acc: 'f32', init: '0.0', load: 'e', out: 'f32', result: 'p.scale * acc' },
  max: { acc: 'u32', init: 'ordered_key(0xff800000u)', load: 'ordered_key(e)', out: 'u32', result: 'from_ordered_key(acc)' },
  min: { acc: 'u32', init: 'ordered_key(0xff800000u)', load: 'ordered_key(e)', out: 'u32', result: `from_ordered_key(acc) ^ ${SIGN}` },
  // -0 is loaded as +0 so that it ties with +0 (the first one wins)
  argmax: {
    acc: 'u32', init: 'ordered_key(0xff800000u)', load: `ordered_key(select(e, 0u, e == ${SIGN}))`, out: 'i32',
    result: `i32(select(arg, 0u, arg == ${NO_ARG}))`,
  },
} as const;
const kindOf = (kind: ReduceKind) => KINDS[kind === 'argmin' ? 'argmax' : kind];

function reduceKernel(kind: ReduceKind, float: FloatType, lanes: number, fold: boolean): Kernel {
  const isArg = isArgKind(kind);
  const k = kindOf(kind);
  const combine = kind === 'sum' ? 'acc + v' : 'max(acc, v)';
  const half = float === 'f16';
  const halfOut = half && !isArg && !(fold && kind === 'sum'); // folded sums stay f32
  // an element `e` as the accumulator wants it: f32 for sums, f32 bits for the others (sign flipped for min and argmin)
  const bits = (at: string) => (!half ? `x[${at}]` : `bitcast<u32>(f32(x[${at}]))`);
  const element = (at: string) => (kind === 'sum' ? (!half ? `x[${at}]` : `f32(x[${at}])`) : flipsSign(kind) ? `(${bits(at)} ^ ${SIGN})` : bits(at));
  const result = !halfOut ? k.result : kind === 'sum' ? `f16(${k.result})` : `f16(bitcast<f32>(${k.result}))`;
  return new Kernel({
    name: `reduce_${kind}${half ? '_f16' : ''}${fold ? '_fold' : ''}`,
    read: { x: half ? 'f16' : k.acc },
    write: { out: halfOut ? 'f16' : k.out, ...(fold && isArg && { best: 'u32' as const }) },
    params: {
      n_out: 'u32', r: 'u32', keep_rank: 'u32', red_rank: 'u32', scale: 'f32',
      keep_shape: 'dims', keep_strides: 'dims', red_shape: 'dims', red_strides: 'dims',
      shift: 'u32', out_shift: 'u32', accumulate: 'u32', offset: 'u32',
    },
    body: /* wgsl */ `
${LINEAR}
${kind === 'sum' ? '' : ORDERED_WGSL}
// the offset of reduced element j from its output's first; one reduced dim (the common case, after
// planReduce merges dims) needs no division
fn reduced_offset(j: u32) -> u32 {
  if (p.red_rank == 1u) { return j * dim(p.red_strides, 0u); }
  return strided(j, p.red_rank, p.red_shape, p.red_strides);
}
var<workgroup> vals: array<${k.acc}, ${WG}>;
var<workgroup> idxs: array<u32, ${WG}>;

@compute @workgroup_size(${lanes}, ${WG / lanes})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_id) lid: vec3u) {
  let lane = lid.x;
  let o = linear(wid, nwg, 1u) * ${WG / lanes}u + lid.y;
  let live = o < p.n_out;
  let base = p.shift + strided(o, p.keep_rank, p.keep_shape, p.keep_strides);
  var acc = ${k.init};
  var arg = ${NO_ARG};
  if (live) {
    ${kind === 'sum' ? blockedSum('acc', element('base + reduced_offset(j)'), 'lane', 'p.r', `${lanes}u`) : `for (var j = lane; j < p.r; j += ${lanes}u) {
      let e = ${element('base + reduced_offset(j)')};
      let v = ${k.load};
      ${isArg ? `if (v > acc || arg == ${NO_ARG}) { acc = v; arg = j; }` : `acc = ${combine};`}
    }`}
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
      let theirs_wins = a != ${NO_ARG} && (idxs[lane] == ${NO_ARG} || v > mine || (v == mine && a < idxs[lane]));
      if (theirs_wins) { vals[lane] = v; idxs[lane] = a; }`
          : `let acc = vals[lane];\n      vals[lane] = ${combine};`
      }
    }
    workgroupBarrier();
  }
  acc = vals[0];
  arg = idxs[0];`}
  if (lane == 0u && live) {
    let at = o + p.out_shift;
${fold ? folded(kind, half, result) : `    out[at] = ${result};`}
  }
}`,
  });
}

/** A slab's sums over rows on GPUs, step 1 (`_partial`): chunk wid.y's sum of each column into part[wid.y * C + c] (f32). */
const columnPartialK = variants((float: FloatType) => new Kernel({
  name: `reduce_sum_columns_partial${floatSuffix(float)}`,
  read: { x: float },
  write: { part: 'f32' },
  params: { C: 'u32', rows: 'u32', chunk: 'u32', row_stride: 'u32', shift: 'u32' },
  body: columnSums('rows', 'p.C', 'wid.y * p.chunk', 'min(p.rows, (wid.y + 1u) * p.chunk)', ['f32(x[p.shift + i * p.row_stride + c])'], 'part[wid.y * p.C + c] = s0;'),
}));

/** Step 2: the chunks' sums of each column in order, times scale, stored as reduceKernel stores (folded into earlier slabs' where they share outputs). */
const columnTotalK = variants((key: `${FloatType}:${boolean}`) => {
  const [float, fold] = key.split(':') as [FloatType, string];
  const halfOut = float === 'f16' && fold !== 'true'; // folded sums stay f32
  const result = halfOut ? `f16(${KINDS.sum.result})` : KINDS.sum.result;
  return new Kernel({
    name: `reduce_sum_columns${floatSuffix(float)}${fold === 'true' ? '_fold' : ''}`,
    read: { part: 'f32' },
    write: { out: halfOut ? 'f16' : 'f32' },
    params: { C: 'u32', chunks: 'u32', scale: 'f32', out_shift: 'u32', accumulate: 'u32' },
    body: columnSums('chunks', 'p.C', '0u', 'p.chunks', ['part[i * p.C + c]'], `let acc = s0;
    let at = c + p.out_shift;
${fold === 'true' ? folded('sum', true, result) : `    out[at] = ${result};`}`),
  });
});

/** Sums over rows that go by columns on this adapter: GPUs, a [rows, columns] slab (columns next to each other in memory) of enough rows and few enough columns for both steps' grids. */
const MIN_COLUMN_ROWS = 64;
const byColumns = (kind: ReduceKind, plan: ReducePlan) =>
  kind === 'sum' && profile().splitSums && plan.keepStrides.length === 1 && plan.keepStrides[0] === 1 && plan.redStrides.length === 1 &&
  plan.r >= MIN_COLUMN_ROWS && plan.nOut <= MAX_GROUPS * Math.min(COLUMN_LAYOUTS.rows.cols, COLUMN_LAYOUTS.chunks.cols);

/** WGSL storing this slab's result at `at` folded into what earlier slabs stored there (when p.accumulate is 1). */
function folded(kind: ReduceKind, half: boolean, result: string): string {
  if (kind === 'sum') return `    out[at] = ${result} + select(0.0, out[at], p.accumulate == 1u);`;
  if (kind === 'max' || kind === 'min') {
    const stored = half ? 'bitcast<u32>(f32(out[at]))' : 'out[at]';
    const before = `ordered_key(${kind === 'min' ? `${stored} ^ ${SIGN}` : stored})`;
    return `    if (p.accumulate == 1u) { acc = max(acc, ${before}); }
    out[at] = ${result};`;
  }
  return `    if (p.accumulate == 0u || acc > best[at]) {
      best[at] = acc;
      out[at] = i32(select(arg, 0u, arg == ${NO_ARG}) + p.offset);
    }`;
}

const kernels = variants((key: `${ReduceKind}:${FloatType}:${boolean}`) => {
  const [kind, float, fold] = key.split(':') as [ReduceKind, FloatType, string];
  return rowKernel((lanes) => reduceKernel(kind, float, lanes, fold === 'true'));
});

export interface ReducePlan {
  nOut: number;
  r: number;
  keepShape: number[];
  keepStrides: number[];
  redShape: number[];
  redStrides: number[];
}

/**
 * Splits an input shape into kept and reduced dims (with the input's strides for each). Dims of
 * one side that step through memory as one dim would ([B, T] of a [B, T, C] tensor's column sums)
 * are merged into it: the kernel's index arithmetic is a u32 division and remainder per dim.
 */
export function planReduce(shape: readonly number[], strides: readonly number[], axes: readonly number[]): ReducePlan {
  const plan: ReducePlan = { nOut: 1, r: 1, keepShape: [], keepStrides: [], redShape: [], redStrides: [] };
  const push = (dims: number[], dimStrides: number[], d: number, stride: number) => {
    if (d === 1) return;
    const last = dims.length - 1;
    if (last >= 0 && dimStrides[last] === d * stride) {
      dims[last]! *= d;
      dimStrides[last] = stride;
    } else {
      dims.push(d);
      dimStrides.push(stride);
    }
  };
  shape.forEach((d, i) => {
    if (axes.includes(i)) {
      push(plan.redShape, plan.redStrides, d, strides[i]!);
      plan.r *= d;
    } else {
      push(plan.keepShape, plan.keepStrides, d, strides[i]!);
      plan.nOut *= d;
    }
  });
  return plan;
}

/**
 * A contiguous range of the input, elements [start, start + size of plan's shape), reduced on its
 * own into outputs [outStart, outStart + plan.nOut): `accumulate` when earlier slabs wrote them
 * too, `offset` its first element's index into the reduced dims (argmax's indices are global).
 */
export interface ReduceSlab {
  start: number;
  plan: ReducePlan;
  outStart: number;
  accumulate: boolean;
  offset: number;
}

/**
 * Reduces x (elements of `float`) into out (the same, or i32 for argmax and argmin) a slab at a time. Where
 * slabs share outputs, sums are written to an f32 `out` and argmax and argmin need `best` (a u32 per output).
 */
export function launchReduce(kind: ReduceKind, x: GPUBuffer, out: GPUBuffer, slabs: readonly ReduceSlab[], scale = 1, float: FloatType = 'f32', best?: GPUBuffer): void {
  const fold = slabs.some((s) => s.accumulate);
  const outBytes = isArgKind(kind) || (fold && kind === 'sum') ? 4 : floatBytes(float);
  for (const { start, plan, outStart, accumulate, offset } of slabs) {
    const input = shiftedWindow(x, start, plan.nOut * plan.r, floatBytes(float));
    const output = shiftedWindow(out, outStart, plan.nOut, outBytes);
    if (byColumns(kind, plan)) {
      launchColumnSums(input, output, plan, { scale, float, fold, accumulate });
      continue;
    }
    const { kernel, lanes } = kernels(`${kind}:${float}:${fold}`)(plan.nOut);
    const partial = fold && isArgKind(kind) ? [shiftedWindow(best!, outStart, plan.nOut).binding] : []; // i32 and u32: out's shift
    kernel.launch(
      [input.binding, output.binding, ...partial],
      {
        n_out: plan.nOut, r: plan.r, keep_rank: plan.keepShape.length, red_rank: plan.redShape.length, scale,
        keep_shape: plan.keepShape, keep_strides: plan.keepStrides, red_shape: plan.redShape, red_strides: plan.redStrides,
        shift: input.shift, out_shift: output.shift, accumulate: +accumulate, offset,
      },
      rowGrid(plan.nOut, lanes),
    );
  }
}

type Window = ReturnType<typeof shiftedWindow>;

/** A slab's sums over rows by columns (byColumns): chunks of rows into f32 partial sums, then the chunks into out. */
function launchColumnSums(input: Window, output: Window, plan: ReducePlan, o: { scale: number; float: FloatType; fold: boolean; accumulate: boolean }): void {
  const C = plan.nOut;
  const { chunks, chunk } = columnPlan(plan.r);
  const dev = device();
  const part = dev.alloc(4 * chunks * C, 'column sums partials');
  columnPartialK(o.float).launch([input.binding, part], { C, rows: plan.r, chunk, row_stride: plan.redStrides[0]!, shift: input.shift }, columnGrid('rows', C, chunks));
  columnTotalK(`${o.float}:${o.fold}`).launch([part, output.binding], { C, chunks, scale: o.scale, out_shift: output.shift, accumulate: +o.accumulate }, columnGrid('chunks', C));
  dev.release(part); // scratch: later dispatches that reuse it run after these
}
