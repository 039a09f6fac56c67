// Shared WGSL for row-wise kernels (softmax, layernorm, cross-entropy, distill-loss, int8's row
// quantizer; reduce takes the layouts, sample the chunks). A workgroup of 64 lanes covers its rows
// one of two ways, chosen per adapter:
//   GPUs: 64 lanes per row, striding over the row's elements, combined by tree reductions in
//     workgroup memory (every lane must reach them: they contain barriers);
//   CPU adapters (lavapipe, SwiftShader), when there are enough rows to keep the threads busy: a
//     lane per row, 64 rows per workgroup, no barriers at all. Measured on lavapipe (2 cores),
//     LayerNorm over 768 x 128: forward 5.5 -> 0.9 ms, backward dx 8.6 -> 1.6 ms. With few rows
//     (a full sum is one row) a lane per row would leave the machine idle, so they keep 64 lanes.
//     There a lane reads rows of whole vec4s a vec4 at a time where the kernel asks (rowKernel's
//     `len`) and the profile says (rowVec4): lavapipe loops over the lanes for each load whose
//     address differs by lane, so a vec4 takes a quarter of the loops. LayerNorm over 768 x 128
//     (lavapipe, 2 busy cores, GPU time, medians of 15 interleaved pairs): forward 1.3x, dx 1.5x.
// Kernels write loops as `for (var j = lane; j < n; j += ROW_LANES)` and reduce with wg_sum /
// wg_max (rowMaxFinite, blockedSum, blockedSums), which do the right thing in both layouts. Tensors
// larger than a binding go a chunk of rows at a time (launchRowChunks), each buffer bound as a
// window from an aligned offset.
import { floatBytes, gridRows, rowChunks, shiftedWindow, variants, type FloatType, type Kernel } from '../kernel.js';
import { profile } from '../profile.js';

const WG = 64;

/** Lanes per row for `rows` rows, as the profile says: 'by-rows' gives 1 from 256 rows on, else 64. */
function rowLanes(rows: number): 1 | 64 {
  const lanes = profile().rowLanes;
  return lanes === 'by-rows' ? (rows >= 256 ? 1 : 64) : lanes;
}

function reductions(lanes: number): string {
  if (lanes === 1) {
    return /* wgsl */ `fn wg_sum(v: f32, lane: u32) -> f32 { return v; }
fn wg_max(v: f32, lane: u32) -> f32 { return v; }`;
  }
  const tree = (name: string, combine: string) => /* wgsl */ `fn ${name}(v: f32, lane: u32) -> f32 {
  red[lane] = v;
  workgroupBarrier();
  for (var s = ${lanes / 2}u; s > 0u; s >>= 1u) {
    if (lane < s) { red[lane] = ${combine}; }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();
  return total;
}`;
  return `var<workgroup> red: array<f32, ${lanes}>;
${tree('wg_sum', 'red[lane] + red[lane + s]')}
${tree('wg_max', 'max(red[lane], red[lane + s])')}`;
}

/**
 * A row kernel's reductions and `main`, for rows of `len` elements with `lanes` lanes each. The
 * body runs with `row`, `live` (row < p.rows), `base` (its first element), `n` (its length; 0 past
 * the last row, so spare lanes loop zero times but still reach the barriers) and `lane`. `shift`,
 * if given, is added to `base`: the elements before the first row in a window bound by
 * shiftedWindow (kernel.ts), for kernels that run over rows a chunk at a time (rowChunks).
 */
export function rowMain(lanes: number, len: string, body: string, shift = ''): string {
  return /* wgsl */ `
const ROW_LANES = ${lanes}u;
${reductions(lanes)}
@compute @workgroup_size(${lanes}, ${WG / lanes})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let lane = lid.x;
  let row = (wid.x + wid.y * nwg.x) * ${WG / lanes}u + lid.y;
  let live = row < p.rows;
  let base = select(0u, row * ${len}, live)${shift && ` + ${shift}`};
  let n = select(0u, ${len}, live);
${body}
}`;
}

/** WGSL for the lowest finite f32 (about -F32_MAX): where a row max starts, never -Infinity (WGSL may assume finite math). */
export const LOWEST_F32 = '-3.402823e38';

/**
 * WGSL for row kernels meeting NaN and Inf in their input by the bits (WGSL may assume finite
 * floats, issue #13: a max, an exp or a compare of a NaN or Inf may give anything, and NVIDIA's
 * compiler does exploit it), for `float` outputs:
 *   not_finite(v), nan_or_pos_inf(v), neg_inf(v): the classes, on the bits (-Inf: a masked term);
 *   finite_or(v, w):  v where finite, else w;
 *   weight(v, m):     exp(v - m) for a finite v, an exact 0 otherwise (-Inf: masked; a NaN or +Inf
 *                     makes the row `bad`, rowMaxFinite, its outputs NaN whatever the sums);
 *   nan_from(v):      a NaN made of v's bits (a run-time value: a NaN constant does not compile);
 *   nan_out(v):       the same NaN as an output element.
 */
export function rowNonFiniteWgsl(float: FloatType): string {
  return /* wgsl */ `fn not_finite(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) >= 0x7f800000u; }
fn nan_or_pos_inf(v: f32) -> bool { let b = bitcast<u32>(v); return (b & 0x7fffffffu) > 0x7f800000u || b == 0x7f800000u; }
fn neg_inf(v: f32) -> bool { return bitcast<u32>(v) == 0xff800000u; }
fn finite_or(v: f32, w: f32) -> f32 { return select(v, w, not_finite(v)); }
fn weight(v: f32, m: f32) -> f32 { return select(exp(finite_or(v, m) - m), 0.0, not_finite(v)); }
fn nan_from(v: f32) -> f32 { return bitcast<f32>(bitcast<u32>(v) | 0x7fc00000u); }
${float === 'f16'
    ? 'fn nan_out(v: f32) -> f16 { return bitcast<vec2<f16>>(bitcast<u32>(v) | 0x7e00u).x; }'
    : 'fn nan_out(v: f32) -> f32 { return nan_from(v); }'}`;
}

/**
 * WGSL declaring `m`, the row's max of its finite terms `term` (of the element index `j`;
 * LOWEST_F32 if none), and `bad`, true where a term is NaN or +Inf (`badIf`: another of
 * rowNonFiniteWgsl's tests): no float max or compare sees a non-finite value, and a kernel writes
 * NaN by its bits for a bad row.
 */
export function rowMaxFinite(m: string, bad: string, term: string, badIf: 'nan_or_pos_inf' | 'not_finite' = 'nan_or_pos_inf'): string {
  return /* wgsl */ `var ${m} = ${LOWEST_F32};
  var ${bad}_lane = 0.0;
  for (var j = lane; j < n; j += ROW_LANES) {
    let v = ${term};
    ${m} = max(${m}, finite_or(v, ${LOWEST_F32}));
    ${bad}_lane = max(${bad}_lane, select(0.0, 1.0, ${badIf}(v)));
  }
  ${m} = wg_max(${m}, lane);
  let ${bad} = wg_max(${bad}_lane, lane) > 0.0;`;
}

/** Terms of a lane's sum added apart before they join its running total (blockedSum), and blocks of them per superblock. */
const SUM_BLOCK = 64;

/**
 * WGSL adding `term` (of the element index `j`) for j = from, from + step, ... below `to` into the
 * f32 `acc`, in blocks of SUM_BLOCK terms summed apart, SUM_BLOCK blocks to a superblock summed
 * apart: rounding then grows with 2 SUM_BLOCK + terms / SUM_BLOCK² additions, not with the terms
 * (a lane per row sums a row of 50,257 or 100,000 logits alone: one float32 chain put 3e-5 into
 * their log-sum-exp; 64 lanes summing 2^24 values of one sign in blocks alone were 3.9e-5 off).
 */
export function blockedSum(acc: string, term: string, from = 'lane', to = 'n', step = 'ROW_LANES'): string {
  return blockedSums([[acc, term]], '', from, to, step);
}

/** blockedSum of several sums in one pass over the row, `prelude` (WGSL statements) computing what their terms share at each j. */
export function blockedSums(sums: readonly (readonly [acc: string, term: string])[], prelude = '', from = 'lane', to = 'n', step = 'ROW_LANES'): string {
  const each = (f: (i: number) => string) => sums.map((_, i) => f(i)).join(' ');
  const block = (i: number) => `block${i || ''}`;
  const superblock = (i: number) => `superblock${i || ''}`;
  return /* wgsl */ `for (var j00 = ${from}; j00 < ${to}; j00 += ${step} * ${SUM_BLOCK * SUM_BLOCK}u) {
    ${each((i) => `var ${superblock(i)} = 0.0;`)}
    for (var j0 = j00; j0 < min(${to}, j00 + ${step} * ${SUM_BLOCK * SUM_BLOCK}u); j0 += ${step} * ${SUM_BLOCK}u) {
      ${each((i) => `var ${block(i)} = 0.0;`)}
      for (var j = j0; j < min(${to}, j0 + ${step} * ${SUM_BLOCK}u); j += ${step}) { ${prelude}${sums.map(([, term], i) => `${block(i)} += ${term};`).join(' ')} }
      ${each((i) => `${superblock(i)} += ${block(i)};`)}
    }
    ${sums.map(([acc], i) => `${acc} += ${superblock(i)};`).join(' ')}
  }`;
}

/** The grid for `rows` rows at `lanes` lanes per row. */
export function rowGrid(rows: number, lanes: number): [number, number, number] {
  return gridRows(Math.ceil(rows / (WG / lanes)));
}

/** Elements a lane loads at once: 4 (a vec4) or 1. */
export type RowWidth = 1 | 4;

/** 4 where a lane has its elements to itself (`ownLane`: no tree shares them), they come in whole vec4s of `len`, and the profile reads vec4s there (rowVec4); else 1. */
export const rowWidth = (ownLane: boolean, len: number): RowWidth => (ownLane && len > 0 && len % 4 === 0 && profile().rowVec4 ? 4 : 1);

/**
 * A row kernel for `rows` rows, in the layout rowLanes picks (each built once): `make(lanes,
 * width)` gives it. Given the rows' length `len`, a lane that has a row to itself reads it a vec4
 * at a time (width 4) where the profile says (rowVec4) and the rows are whole vec4s; else width 1.
 */
export function rowKernel(make: (lanes: 1 | 64, width: RowWidth) => Kernel): (rows: number, len?: number) => { kernel: Kernel; lanes: number } {
  const built = variants((key: `${1 | 64}x${RowWidth}`) => {
    const [lanes, width] = key.split('x').map(Number) as [1 | 64, RowWidth];
    return make(lanes, width);
  });
  return (rows, len = 0) => {
    const lanes = rowLanes(rows);
    return { kernel: built(`${lanes}x${rowWidth(lanes === 1, len)}`), lanes };
  };
}

/** How a buffer of a row kernel is laid out: [rows, width] like the input, an element a row, `statsWidth` elements a row, or bound whole. */
type RowLayout = 'rows' | 'row' | 'stats' | 'whole';

/** The chunks of rows launchRowChunks takes; an error naming `op` and `what` (the input) where a row does not fit a binding. */
export function rowChunksOf(op: string, what: string, rows: number, width: number, float: FloatType = 'f32', statsWidth = 0): { row0: number; rows: number }[] {
  return rowChunks(rows, Math.max(width * floatBytes(float), 4 * statsWidth, 4), op, what);
}

/**
 * Launches a row kernel over `params.rows` rows of `width` elements of `float`, its buffers in
 * binding order with their layouts (per-row ones 4 bytes an element), a chunk of rows at a time
 * where they exceed a binding; params get the elements before each chunk's first element in its
 * windows: `shift` ('rows'), `row_shift` ('row') and `stats_shift` ('stats').
 */
export function launchRowChunks(
  op: string,
  kernel: (rows: number) => { kernel: Kernel; lanes: number },
  buffers: readonly (readonly [GPUBuffer, RowLayout])[],
  width: number,
  params: { rows: number } & Record<string, number>,
  float: FloatType = 'f32',
  statsWidth = 0,
): void {
  const range = { rows: [width, floatBytes(float), 'shift'], row: [1, 4, 'row_shift'], stats: [statsWidth, 4, 'stats_shift'] } as const;
  for (const c of rowChunksOf(op, `[${params.rows}, ${width}]`, params.rows, width, float, statsWidth)) {
    const { kernel: k, lanes } = kernel(c.rows);
    const shifts: Record<string, number> = { shift: 0, row_shift: 0, stats_shift: 0 };
    const bound = buffers.map(([buf, layout]) => {
      if (layout === 'whole') return buf;
      const [per, bytes, name] = range[layout];
      const w = shiftedWindow(buf, c.row0 * per, c.rows * per, bytes);
      shifts[name] = w.shift;
      return w.binding;
    });
    k.launch(bound, { ...params, rows: c.rows, ...shifts }, rowGrid(c.rows, lanes));
  }
}
