// Causal attention kernels for CPU adapters whose subgroups are 8 lanes (llvmpipe/lavapipe: one
// SIMD instruction's lanes), same contract as attention.ts. A workgroup is one subgroup of SG
// rows (queries, or keys for dk/dv); the other side comes SG rows at a time: each lane loads one
// row straight from the storage buffer and the subgroup shares them by subgroupBroadcast, so
// there is no workgroup memory and no barrier (on llvmpipe a barrier switches coroutines, and a
// workgroup-memory read is a gather per lane). The forward takes one softmax rescale per SG keys.
// Measured on lavapipe (npm run bench, B12 NH4 T64 HS32): forward 4.6 -> 2.0 ms, forward +
// backward 20.9 -> 12.0 ms against the workgroup-memory kernels.
// Head rows go between storage and the arrays the arithmetic uses in loops that Mesa does not
// unroll (loadRows, storeRows): on lavapipe a load or store whose address differs by lane is a loop
// over the lanes, and unrolled, the rows' loads and stores made LLVM compile 4-6x as long (cold,
// CPU seconds, head size 64: forward 5.3 -> 0.8, dq 13.0 -> 2.0, dk and dv 12.1 -> 2.9; 32: 1.6 ->
// 0.5, 3.9 -> 1.0, 4.0 -> 1.1). The arithmetic still indexes its arrays by constants only (registers;
// a loop index would keep them in memory, and compile longer): the loops fill or empty staging
// arrays of their own, copied with constant indices. Warm, a step's forward and backward took as
// long or less (CPU time, B12 NH4 T64: head size 32 11.4 -> 9.9 ms, 64 22.5 -> 17.9 ms).
// The backward's kernels take the SG shared rows in a loop, subgroupShuffle with the loop's index,
// not SG straight-line copies of their body (subgroupBroadcast needs constant lanes): cold, head
// size 64, dq 1.7 -> 0.8 s, dk and dv 3.4 -> 0.9 s; warm dq 6.3 -> 5.1 ms, dk and dv 7.2 -> 5.5 ms
// (CPU time, as above). The forward keeps its straight-line rows: one softmax rescale per SG keys.
import { each, Kernel, type FloatType } from '../kernel.js';
import { dropoutHelpers, eachVec4, forwardReads, keyRange, NO_SCORE, PARAMS, prelude, rowType, storeRow, suffix, wholeVec4 } from './attention-prelude.js';

/** Lanes per subgroup, and rows per workgroup. */
export const SG = 8;

/**
 * WGSL: `body` (statements in d) for every vec4 d of a head row, in a loop to v4, V4 read from the
 * uniforms (subgroupMain): Mesa unrolls a loop whose trip count it can bound (up to ~32), undoing
 * the point of the loop.
 */
const rowLoop = (body: string, indent: string) => `${indent}for (var d = 0u; d < v4; d++) {\n${body.replace(/^/gm, `${indent}  `)}\n${indent}}`;

/** WGSL: the staging arrays `${name}_io` of loadRows and storeRows. */
const staging = (names: string[]) => names.map((n) => `  var ${n}_io: array<vec4f, V4>;`).join('\n');

/** WGSL: name[d] = load(d) for each (name, load) and vec4 d, loaded in a rowLoop (with `also`, in terms of name_io[d]) into name_io, then copied. */
function loadRows(each: (f: (d: string) => string) => string, indent: string, loads: [string, (d: string) => string][], also = ''): string {
  const load = rowLoop([...loads.map(([n, from]) => `${n}_io[d] = ${from('d')};`), ...(also ? [also] : [])].join('\n'), indent);
  return `${load}\n${each((k) => loads.map(([n]) => `${indent}${n}[${k}] = ${n}_io[${k}];`).join('\n'))}`;
}

/** WGSL: store(d, value(d)) for each (name, value, store) and vec4 d: value(k) copied into name_io with constant k, then stored in a rowLoop. */
function storeRows(each: (f: (d: string) => string) => string, indent: string, stores: [string, (k: string) => string, (d: string, v: string) => string][]): string {
  const copy = each((k) => stores.map(([n, value]) => `${indent}${n}_io[${k}] = ${value(k)};`).join('\n'));
  return `${copy}\n${rowLoop(stores.map(([n, , store]) => store('d', `${n}_io[d]`)).join('\n'), indent)}`;
}

/** f(r) for each row r of a group of SG, as straight-line code (subgroupBroadcast needs constant lanes). */
const rows = (f: (r: number) => string, sep = '\n') => each(SG, f, sep);

/** WGSL (dropping only): w0, w1, the dropout words of keys j0 .. j0 + 7 for this lane's query i (keyFactors). */
const keyWords = (dropping: boolean, indent: string) =>
  dropping ? `${indent}let w0 = dropout_words(bh, i, j0 / 4u);\n${indent}let w1 = dropout_words(bh, i, j0 / 4u + 1u);` : '';

/**
 * WGSL (dropping only): z0 .. z7, the dropout factors of keys j0 .. j0 + 7 for this lane's query
 * i (j0 a multiple of 8: no padding when dropping), from two draws.
 */
const keyFactors = (dropping: boolean, indent: string) =>
  dropping ? `${keyWords(dropping, indent)}\n${rows((r) => `${indent}let z${r} = keep(w${r >> 2}[${r & 3}]);`)}` : '';

/** `main` of a one-subgroup workgroup: `blk` (b, h, row0), its head row `bh`, `lane`, then `body`. */
function subgroupMain(body: string): string {
  return /* wgsl */ `
@compute @workgroup_size(${SG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(subgroup_invocation_id) lane: u32) {
  if (linear(wid, nwg, 1u) >= p.groups) { return; }
  let blk = block_of(wid, nwg, p.Tq);
  let bh = blk.b * p.n_head + blk.h;
  let v4 = (p.C / p.n_head + 3u) / 4u; // V4, unknown to Mesa: see rowLoop
${body}
}`;
}

/**
 * y and lse (attention.ts's contract, padded or not); a lane per query. A key a lane does not see
 * scores NO_SCORE (-1e30); should all SG keys of the first group a lane reads be such (padding before
 * its row's first real slot), their weights exp(NO_SCORE - m) are 1 while m is still NO_SCORE, but the
 * first real key's rescale exp(NO_SCORE - s) = 0 then wipes them out (the values read are finite).
 */
export function forwardSgKernel(hs: number, padded: boolean, float: FloatType, dropping = false): Kernel {
  const each = eachVec4(hs);
  const whole = wholeVec4(hs, 'forward');
  return new Kernel({
    name: `attention_forward${padded ? '_padded' : ''}_subgroup${suffix(float, dropping)}`,
    enable: ['subgroups'],
    read: forwardReads(padded, float, whole),
    write: { y: rowType(float, whole), lse: 'f32' },
    params: PARAMS,
    body: /* wgsl */ `
${prelude(hs, ['qkv', 'kv'], SG, whole)}
${storeRow('y', hs, float, whole)}
${keyRange(padded)}
${dropoutHelpers(dropping)}
${subgroupMain(`
  let i = blk.row0 + lane;
  let past = p.Tk - p.Tq; // query i sits at position past + i and sees keys lo ..= past + i
  let lo = first_key(blk.b, past + i);
  var q: array<vec4f, V4>;
  var acc: array<vec4f, V4>;
${staging(['q', 'kl', 'vl', 'y'])}
  let qbase = (blk.b * p.Tq + min(i, p.Tq - 1u)) * 3u * p.C + blk.h * HS;
${loadRows(each, '  ', [['q', (d) => `load_qkv(qbase, ${d}) * p.scale`]])}
  var m = ${NO_SCORE}; // running max of the scores
  var l = 0.0;   // running sum of exp(score - m)
  var kl: array<vec4f, V4>; // this lane's key and value
  var vl: array<vec4f, V4>;
  let k_end = past + min(blk.row0 + ${SG}u, p.Tq); // keys any lane sees
  for (var j0 = first_key(blk.b, past + blk.row0); j0 < k_end; j0 += ${SG}u) {
    let kbase = (blk.b * p.kv_rows + min(j0 + lane, p.Tk - 1u)) * 3u * p.C + p.C + blk.h * HS;
${loadRows(each, '    ', [['kl', (d) => `load_kv(kbase, ${d})`], ['vl', (d) => `load_kv(kbase + p.C, ${d})`]])}
${rows((r) => `    var s${r} = 0.0;`)}
${each((d) => rows((r) => `    s${r} += dot(q[${d}], subgroupBroadcast(kl[${d}], ${r}u));`))}
${rows((r) => `    s${r} = select(${NO_SCORE}, s${r}, j0 + ${r}u <= past + i${padded ? ` && j0 + ${r}u >= lo` : ''});`)}
    let m_new = ${Array.from({ length: SG }, (_, r) => `s${r}`).reduce((acc, x) => `max(${acc}, ${x})`, 'm')};
    let correction = exp(m - m_new);
    m = m_new;
${rows((r) => `    let p${r} = exp(s${r} - m);`)}
    l = l * correction + ${rows((r) => `p${r}`, ' + ')};
${keyFactors(dropping, '    ')}
${each((d) => `    acc[${d}] = acc[${d}] * correction + ${rows((r) => `p${r}${dropping ? ` * z${r}` : ''} * subgroupBroadcast(vl[${d}], ${r}u)`, ' + ')};`)}
  }
  if (i < p.Tq) {
    let base = (blk.b * p.Tq + i) * p.C + blk.h * HS;
${storeRows(each, '    ', [['y', (k) => `acc[${k}] / l`, (d, v) => `store_y(base, ${d}, ${v});`]])}
    lse[(blk.b * p.n_head + blk.h) * p.Tq + i] = m + log(l);
  }`)}`,
  });
}

// dq_i = scale * sum_j p_ij (dy_i . v_j - D_i) k_j, with D_i = dy_i . y_i; a lane per query.
export function backwardQuerySgKernel(hs: number, float: FloatType, dropping = false): Kernel {
  const each = eachVec4(hs);
  const whole = wholeVec4(hs, 'backward');
  const row = rowType(float, whole);
  return new Kernel({
    name: `attention_backward_dq_subgroup${suffix(float, dropping)}`,
    enable: ['subgroups'],
    read: { qkv: row, y: row, dy: row, lse: 'f32' },
    write: { dqkv: row, dsum: 'f32' },
    params: PARAMS,
    body: /* wgsl */ `
${prelude(hs, ['qkv', 'y', 'dy'], SG, whole)}
${storeRow('dqkv', hs, float, whole)}
${dropoutHelpers(dropping)}
${subgroupMain(`
  let i = blk.row0 + lane;
  let row = min(i, p.Tq - 1u);
  var q: array<vec4f, V4>;
  var g: array<vec4f, V4>;
  var dq: array<vec4f, V4>;
  var d_i = 0.0;
${staging(['q', 'g', 'kl', 'vl', 'dq'])}
  let base = (blk.b * p.Tq + row) * 3u * p.C + blk.h * HS;
  let ybase = (blk.b * p.Tq + row) * p.C + blk.h * HS;
${loadRows(each, '  ', [['q', (d) => `load_qkv(base, ${d}) * p.scale`], ['g', (d) => `load_dy(ybase, ${d})`]], 'd_i += dot(g_io[d], load_y(ybase, d));')}
  let lse_i = lse[(blk.b * p.n_head + blk.h) * p.Tq + row];
  if (i < p.Tq) { dsum[(blk.b * p.n_head + blk.h) * p.Tq + i] = d_i; }
  var kl: array<vec4f, V4>; // this lane's key and value
  var vl: array<vec4f, V4>;
  let k_end = min(blk.row0 + ${SG}u, p.Tq);
  for (var j0 = 0u; j0 < k_end; j0 += ${SG}u) {
    let kbase = (blk.b * p.Tq + min(j0 + lane, p.Tq - 1u)) * 3u * p.C + p.C + blk.h * HS;
${loadRows(each, '    ', [['kl', (d) => `load_qkv(kbase, ${d})`], ['vl', (d) => `load_qkv(kbase + p.C, ${d})`]])}
${keyWords(dropping, '    ')}
    for (var r = 0u; r < min(${SG}u, k_end - j0); r++) { // key j0 + r
      var s = 0.0;
      var dp = 0.0;
${each((d) => `      s += dot(q[${d}], subgroupShuffle(kl[${d}], r));\n      dp += dot(g[${d}], subgroupShuffle(vl[${d}], r));`)}${dropping ? `
      let z = keep(select(w0, w1, r >= 4u)[r & 3u]);` : ''}
      let ds = select(0.0, exp(s - lse_i) * (${dropping ? 'z * ' : ''}dp - d_i), j0 + r <= i);
${each((d) => `      dq[${d}] += ds * subgroupShuffle(kl[${d}], r);`)}
    }
  }
  if (i < p.Tq) {
${storeRows(each, '    ', [['dq', (k) => `dq[${k}] * p.scale`, (d, v) => `store_dqkv(base, ${d}, ${v});`]])}
  }`)}`,
  });
}

// dv_j = sum_i p_ij dy_i;  dk_j = scale * sum_i p_ij (dy_i . v_j - D_i) q_i   (queries i >= j); a lane per key.
export function backwardKeySgKernel(hs: number, float: FloatType, dropping = false): Kernel {
  const each = eachVec4(hs);
  const whole = wholeVec4(hs, 'backward');
  const row = rowType(float, whole);
  return new Kernel({
    name: `attention_backward_dkv_subgroup${suffix(float, dropping)}`,
    enable: ['subgroups'],
    read: { qkv: row, dy: row, lse: 'f32', dsum: 'f32' },
    write: { dqkv: row },
    params: PARAMS,
    body: /* wgsl */ `
${prelude(hs, ['qkv', 'dy'], SG, whole)}
${storeRow('dqkv', hs, float, whole)}
${dropoutHelpers(dropping)}
${subgroupMain(`
  let j = blk.row0 + lane;
  var k: array<vec4f, V4>;
  var v: array<vec4f, V4>;
  var dk: array<vec4f, V4>;
  var dv: array<vec4f, V4>;
${staging(['k', 'v', 'ql', 'gl', 'dk', 'dv'])}
  let base = (blk.b * p.Tq + min(j, p.Tq - 1u)) * 3u * p.C + p.C + blk.h * HS;
${loadRows(each, '  ', [['k', (d) => `load_qkv(base, ${d}) * p.scale`], ['v', (d) => `load_qkv(base + p.C, ${d})`]])}
  let lse_base = (blk.b * p.n_head + blk.h) * p.Tq;
  var ql: array<vec4f, V4>; // this lane's query and its upstream gradient
  var gl: array<vec4f, V4>;
  for (var i0 = blk.row0; i0 < p.Tq; i0 += ${SG}u) { // queries i >= j start at this block
    let il = min(i0 + lane, p.Tq - 1u);
    let qbase = (blk.b * p.Tq + il) * 3u * p.C + blk.h * HS;
    let gbase = (blk.b * p.Tq + il) * p.C + blk.h * HS;
${loadRows(each, '    ', [['ql', (d) => `load_qkv(qbase, ${d})`], ['gl', (d) => `load_dy(gbase, ${d})`]])}
    let lse_l = lse[lse_base + il];
    let dsum_l = dsum[lse_base + il];${dropping ? `
    // bit c: whether key row0 + c is kept for this lane's query i0 + lane (row0 a multiple of 8)
    let kept = kept_bits(dropout_words(bh, i0 + lane, blk.row0 / 4u)) | (kept_bits(dropout_words(bh, i0 + lane, blk.row0 / 4u + 1u)) << 4u);` : ''}
    for (var r = 0u; r < min(${SG}u, p.Tq - i0); r++) { // query i0 + r
      var s = 0.0;
      var dp = 0.0;
${each((d) => `      s += dot(k[${d}], subgroupShuffle(ql[${d}], r));\n      dp += dot(v[${d}], subgroupShuffle(gl[${d}], r));`)}
      let pij = select(0.0, exp(s - subgroupShuffle(lse_l, r)), i0 + r >= j);${dropping ? `
      let z = select(0.0, p.keep_scale, ((subgroupShuffle(kept, r) >> lane) & 1u) != 0u);` : ''}
      let ds = pij * (${dropping ? 'z * ' : ''}dp - subgroupShuffle(dsum_l, r));
${each((d) => `      dv[${d}] += ${dropping ? 'z * ' : ''}pij * subgroupShuffle(gl[${d}], r);
      dk[${d}] += ds * subgroupShuffle(ql[${d}], r);`)}
    }
  }
  if (j < p.Tq) {
${storeRows(each, '    ', [['dk', (k) => `dk[${k}] * p.scale`, (d, v) => `store_dqkv(base, ${d}, ${v});`], ['dv', (k) => `dv[${k}]`, (d, v) => `store_dqkv(base + p.C, ${d}, ${v});`]])}
  }`)}`,
  });
}
