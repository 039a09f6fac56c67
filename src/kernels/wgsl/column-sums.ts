// Column sums of a rows x columns layout, shared by LayerNorm's dw and db (layernorm.ts) and the
// reductions' sums over rows (reduce.ts: bias gradients). A workgroup covers `cols` consecutive
// columns x `split` lanes a column (grid: columns / cols x chunks of rows); the lanes of a column
// take every split-th row of their chunk and add their partial sums in a fixed tree, so the result
// is deterministic (no atomics). Lanes next to each other read columns next to each other: a
// GPU's loads of a row coalesce, where a workgroup per column would stride through memory.
//   CPU adapters: a lane per column ('lane') and a few chunks of 64 rows or more.
//   GPUs (profile().splitSums): ~sqrt(rows) chunks of ~sqrt(rows) rows, 64 columns x 4 lanes a
//   workgroup ('rows': row reads of 64 consecutive floats); then 16 columns x 16 lanes sum the
//   chunks ('chunks'). 16k rows of 384: 768 workgroups, 32 rows a lane, then 8 chunks a lane,
//   where a lane per column walks 1024 rows on 96 workgroups of 64 lanes (16 chunks), most of a
//   GPU idle. On lavapipe (2 shared cores, fastest of 7 runs) the split is ~2x slower (LayerNorm's
//   dw, db of 4096 x 384: 8-11 ms against 5-5.5; 16384 x 384: 41-57 against 18-24), so CPU
//   adapters keep a lane per column.
import { profile } from '../profile.js';

export const COLUMN_LAYOUTS = {
  lane: { cols: 64, split: 1 },
  rows: { cols: 64, split: 4 },
  chunks: { cols: 16, split: 16 },
};
export type ColumnLayout = keyof typeof COLUMN_LAYOUTS;

const CPU_CHUNK_ROWS = 64;
const CPU_MAX_CHUNKS = 16;

/** How this adapter sums `rows` rows: the layouts of the two steps (rows into chunks, chunks into one) and the chunks. */
export function columnPlan(rows: number): { rowsLayout: ColumnLayout; chunksLayout: ColumnLayout; chunks: number; chunk: number } {
  const split = profile().splitSums;
  const chunks = Math.max(1, split ? Math.ceil(Math.sqrt(rows)) : Math.min(CPU_MAX_CHUNKS, Math.ceil(rows / CPU_CHUNK_ROWS)));
  return { rowsLayout: split ? 'rows' : 'lane', chunksLayout: split ? 'chunks' : 'lane', chunks, chunk: Math.ceil(rows / chunks) };
}

/** The grid of a column-sum kernel of `layout` over `columns` columns and `chunks` chunks. */
export const columnGrid = (layout: ColumnLayout, columns: number, chunks = 1): [number, number, number] => [
  Math.ceil(columns / COLUMN_LAYOUTS[layout].cols), chunks, 1,
];

/**
 * `main` of a column-sum kernel of `layout`: for column `c` (live: c < `columns`), sums each of
 * `terms` (WGSL of row `i` and column `c`) over rows `from` .. `to` - 1 into s0, s1, ..., then
 * runs `store` (with `c`) on the first lane of the column. The sums start at `zero`: a vec4f's
 * (a column of 4 floats, bound as vec4s) in the 'lane' layout only, whose lanes need no tree.
 */
export function columnSums(layout: ColumnLayout, columns: string, from: string, to: string, terms: readonly string[], store: string, zero = '0.0'): string {
  const { cols, split } = COLUMN_LAYOUTS[layout];
  if (split > 1 && zero !== '0.0') throw new Error(`columnSums: the '${layout}' layout's tree sums f32, not ${zero}`);
  const sums = terms.map((_, t) => `s${t}`);
  const tree = split === 1 ? '' : /* wgsl */ `
  let k = lid.y * ${cols}u + lid.x;
${sums.map((s, t) => `  red${t}[k] = ${s};`).join('\n')}
  workgroupBarrier();
  for (var s = ${split / 2}u; s > 0u; s >>= 1u) {
    if (lid.y < s) {
${sums.map((_, t) => `      red${t}[k] += red${t}[k + s * ${cols}u];`).join('\n')}
    }
    workgroupBarrier();
  }
${sums.map((s, t) => `  ${s} = red${t}[k];`).join('\n')}`;
  return /* wgsl */ `
${split === 1 ? '' : sums.map((_, t) => `var<workgroup> red${t}: array<f32, ${cols * split}>;`).join('\n')}
@compute @workgroup_size(${cols}, ${split})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let c = wid.x * ${cols}u + lid.x;
  let live = c < ${columns};
${sums.map((s) => `  var ${s} = ${zero};`).join('\n')}
  if (live) {
    for (var i = ${from} + lid.y; i < ${to}; i += ${split}u) {
${terms.map((term, t) => `      s${t} += ${term};`).join('\n')}
    }
  }${tree}
  if (live && lid.y == 0u) {
    ${store}
  }
}`;
}
