// WGSL shared by the attention kernels (attention.ts: workgroup-memory tiles, for GPUs;
// attention-subgroup.ts: subgroup broadcasts, for CPU drivers): uniforms, the block a workgroup
// handles, and head-row loads and stores, specialised by the head size HS. Loads widen f16 rows
// (float16 tensors) to f32, so scores, the running max and sum and every accumulator are f32;
// stores round to the row's storage type.
// Dropout on the attention weights (training): the weight of key j for query i of head row
// bh = b * n_head + h is kept, scaled by 1 / (1 - p), iff the word j % 4 of
// philox((j / 4, i, bh, 0), seed) passes dropout's test ((w >> 8) >= ceil(p 2^24), as
// src/kernels/wgsl/dropout.ts); a pure function of (bh, i, j, seed), so the three kernels
// regenerate the same mask, and one Philox draw decides four keys.
import { each, floatSuffix, LINEAR, narrow, vec4Of, type FloatType, type StorageType } from '../kernel.js';
import { PHILOX } from './random.js';

/** Head rows of up to this many vec4s (head size 64) are worked on in straight-line code, longer ones in a loop. */
const UNROLLED_V4 = 16;

/** Whether eachVec4 writes head rows of this size as straight-line code (else a loop). */
const straightLine = (hs: number) => Math.ceil(hs / 4) <= UNROLLED_V4;

/**
 * `each(f)`: the statements f(d) for every vec4 d of a head row (d a WGSL u32 expression). Up to
 * UNROLLED_V4 vec4s as straight-line code: constant indices keep a lane's rows in registers
 * (indexed by a loop variable they live in memory on CPU drivers; measured on lavapipe: the
 * kernels ~2x faster unrolled). Longer rows take a loop: compiling straight-line code takes
 * longer than its length grows (lavapipe, cold, forward and backward: head size 64 in 26 s, 128
 * in 98 s, 256 in 6 min, 512 past 10 min; looped, 256 in 7 s, 512 in 10 s, while Mesa still
 * unrolls loops of up to ~32 vec4s itself: 128 takes as long either way).
 */
export function eachVec4(hs: number): (f: (d: string) => string) => string {
  if (straightLine(hs)) return (f) => each(Math.ceil(hs / 4), (d) => f(`${d}u`));
  return (f) => {
    const body = f('d');
    const indent = /^ */.exec(body)![0];
    return `${indent}for (var d = 0u; d < V4; d++) {\n${body.replace(/^/gm, '  ')}\n${indent}}`;
  };
}

/**
 * Whether a subgroup kernel (lavapipe) binds head rows of this size as arrays of vec4s (the head
 * size a multiple of 4: every row starts on a vec4): one load or store a vec4 rather than four.
 * There a load or store whose address differs by lane is a loop over the lanes, and LLVM's compile
 * time follows their count (cold, head size 64: forward 4.7 -> 2.9 s, backward 22.8 -> 15.2 s;
 * 128: forward 8.2 -> 6.2 s). The backward's looped rows (head size > 64) keep scalars: with the
 * shorter loop bodies Mesa unrolls them itself, and compiles longer (head size 96: 15 -> 26 s).
 */
export const wholeVec4 = (hs: number, kernel: 'forward' | 'backward') => hs % 4 === 0 && (kernel === 'forward' || straightLine(hs));

/** The storage type of a head-row buffer: vec4s where wholeVec4, else the scalar type. */
export const rowType = (float: FloatType, whole: boolean): StorageType => (whole ? vec4Of(float) : float);

// Which (b, h, block of `lanes` rows) a workgroup is, and vec4 loads of head rows (`whole`: the
// buffers are arrays of vec4s, see wholeVec4).
export function prelude(hs: number, buffers: string[], lanes: number, whole = false): string {
  const v4 = Math.ceil(hs / 4);
  // buf[base + 4d .. base + 4d + 3] as a vec4, zero past HS (WGSL cannot pass storage pointers)
  const loaders = buffers.map((buf) =>
    whole
      ? `fn load_${buf}(base: u32, d: u32) -> vec4f { return vec4f(${buf}[base / 4u + d]); }`
      : `fn load_${buf}(base: u32, d: u32) -> vec4f {
  var r = vec4f(0.0);
  for (var c = 0u; c < 4u; c++) {
    if (4u * d + c < HS) { r[c] = f32(${buf}[base + 4u * d + c]); }
  }
  return r;
}`);
  return /* wgsl */ `
${LINEAR}
const HS = ${hs}u;
const V4 = ${v4}u;
${loaders.join('\n')}

struct Block { b: u32, h: u32, row0: u32 }
fn block_of(wid: vec3u, nwg: vec3u, rows: u32) -> Block {
  let t = linear(wid, nwg, 1u);
  let blocks = (rows + ${lanes - 1}u) / ${lanes}u;
  let bh = t / blocks;
  return Block(bh / p.n_head, bh % p.n_head, (t % blocks) * ${lanes}u);
}
`;
}

// buf[base + 4d .. base + 4d + 3] = v, clipped to the head size (`whole`: buf holds vec4s, see wholeVec4)
export function storeRow(buf: string, hs: number, float: FloatType, whole = false): string {
  if (whole) return `fn store_${buf}(base: u32, d: u32, v: vec4f) { ${buf}[base / 4u + d] = ${float === 'f16' ? 'vec4h(v)' : 'v'}; }`;
  return /* wgsl */ `
fn store_${buf}(base: u32, d: u32, v: vec4f) {
  for (var c = 0u; c < 4u; c++) {
    if (4u * d + c < ${hs}u) { ${buf}[base + 4u * d + c] = ${narrow(float, 'v[c]')}; }
  }
}`;
}

/** The forward's inputs: packed queries, keys and values; the padded one also each row's first real slot. */
export const forwardReads = (padded: boolean, float: FloatType, whole = false): Record<string, StorageType> => {
  const row = rowType(float, whole);
  return padded ? { qkv: row, kv: row, starts: 'i32' } : { qkv: row, kv: row };
};

/**
 * WGSL first_key(b, slot): the first key a query at `slot` of row b sees (it sees keys
 * first_key ..= slot). 0 without padding; with it, starts[b], the row's first real slot, except
 * for a padding query (slot < starts[b]), which sees only itself: its output is never used, but
 * stays finite so that no NaN reaches the real rows through later layers (p = 0 times a NaN value
 * would still be NaN).
 */
export function keyRange(padded: boolean): string {
  return padded
    ? `fn first_key(b: u32, slot: u32) -> u32 { return min(u32(max(starts[b], 0)), slot); }`
    : `fn first_key(b: u32, slot: u32) -> u32 { return 0u; }`;
}

/**
 * WGSL for kernels that drop attention weights (empty otherwise): dropout_words(bh, i, j4), the
 * words deciding keys 4 j4 .. 4 j4 + 3 of query i; keep(w), a weight's factor (1 / (1 - p) or
 * 0); kept_bits(words), the four decisions as bits 0-3.
 */
export function dropoutHelpers(dropping: boolean): string {
  if (!dropping) return '';
  return /* wgsl */ `
${PHILOX}
fn dropout_words(bh: u32, i: u32, j4: u32) -> vec4u { return philox(vec4u(j4, i, bh, 0u), vec2u(p.seed_lo, p.seed_hi)); }
fn keep(w: u32) -> f32 { return select(0.0, p.keep_scale, (w >> 8u) >= p.threshold); }
fn kept_bits(w: vec4u) -> u32 {
  return select(0u, 1u, (w.x >> 8u) >= p.threshold) | select(0u, 2u, (w.y >> 8u) >= p.threshold)
       | select(0u, 4u, (w.z >> 8u) >= p.threshold) | select(0u, 8u, (w.w >> 8u) >= p.threshold);
}`;
}

/**
 * WGSL for the score of a key a query does not see, and where a running max starts: far below any
 * real score yet finite (WGSL may assume no infinities), so exp(NO_SCORE - m) is 0 once m is real.
 */
export const NO_SCORE = '-1e30';

/** The suffix of an attention kernel's name for its storage type and dropout. */
export const suffix = (float: FloatType, dropping: boolean) => `${floatSuffix(float)}${dropping ? '_dropout' : ''}`;

/**
 * The kernels' uniforms: kv_rows is the slots a row of kv holds (Tk, or more in a KV cache with room
 * to grow); the last four matter only to kernels that drop weights (threshold = ceil(p 2^24),
 * keep_scale = 1 / (1 - p)).
 */
export const PARAMS = {
  B: 'u32', n_head: 'u32', C: 'u32', Tq: 'u32', Tk: 'u32', kv_rows: 'u32', scale: 'f32', groups: 'u32',
  threshold: 'u32', keep_scale: 'f32', seed_lo: 'u32', seed_hi: 'u32',
} as const;
