// Kernel lab: the engine's matmul (storage-buffer kernel, src/kernels/wgsl/matmul.ts) against
// texture-input variants, at 1024^3 and at the GPT training shapes (with the transpose flags the
// backward passes use). A texture variant first packs op(A) and op(B) into rgba32float textures
// with a small compute pass (textureStore; transposes, batch strides and zero padding resolved
// there), then the matmul reads them with textureLoad. Timings include the packing passes; the
// variants are interleaved in one process (A, B, A, B ...) and medians reported, because the
// machine may be busy. Each variant is checked against a float64 host product on sampled entries.
//   node scripts/run-ts.mjs bench/matmul-variants.ts [--rounds 5] [--only 1024] [--variants 'NAME|NAME'] [--engine-only]
import { device, initDevice } from '../src/device/device.js';
import { launchMatmul } from '../src/kernels/wgsl/matmul.js';
import { setProfile } from '../src/kernels/profile.js';
import { median, randomFloats } from './harness.js';

interface Shape { name: string; batch: number; M: number; K: number; N: number; transA: boolean; transB: boolean }

const SHAPES: Shape[] = [
  { name: '1024^3', batch: 1, M: 1024, K: 1024, N: 1024, transA: false, transB: false },
  { name: 'c_attn 768x128·128x384', batch: 1, M: 768, K: 128, N: 384, transA: false, transB: false },
  { name: 'c_proj 768x128·128x128', batch: 1, M: 768, K: 128, N: 128, transA: false, transB: false },
  { name: 'c_fc 768x128·128x512', batch: 1, M: 768, K: 128, N: 512, transA: false, transB: false },
  { name: 'mlp_proj 768x512·512x128', batch: 1, M: 768, K: 512, N: 128, transA: false, transB: false },
  { name: 'dX c_attn 768x384·(128x384)^T', batch: 1, M: 768, K: 384, N: 128, transA: false, transB: true },
  { name: 'dW c_attn (768x128)^T·768x384', batch: 1, M: 128, K: 768, N: 384, transA: true, transB: false },
  { name: 'dW mlp_proj (768x512)^T·768x128', batch: 1, M: 512, K: 768, N: 128, transA: true, transB: false },
  { name: 'attn q·kT 48x64x32·(64x32)^T', batch: 48, M: 64, K: 32, N: 64, transA: false, transB: true },
  { name: 'attn att·v 48x64x64·64x32', batch: 48, M: 64, K: 64, N: 32, transA: false, transB: false },
];

// ---- texture variants -------------------------------------------------------------------------

interface Variant { name: string; wx: number; wy: number; rm: number; rn: number; shared: boolean }
const VARIANTS: Variant[] = [
  { name: 'tex 8x8 lanes, 8x8 regs', wx: 8, wy: 8, rm: 8, rn: 8, shared: false },
  { name: 'tex 16x16 lanes, 4x4 regs', wx: 16, wy: 16, rm: 4, rn: 4, shared: false },
  { name: 'tex 8x16 lanes, 4x8 regs', wx: 8, wy: 16, rm: 4, rn: 8, shared: false },
  { name: 'tex+shared 8x8 lanes, 8x8 regs', wx: 8, wy: 8, rm: 8, rn: 8, shared: true },
  { name: 'tex 8x8 lanes, 4x8 regs', wx: 8, wy: 8, rm: 4, rn: 8, shared: false },
  { name: 'tex 8x8 lanes, 8x16 regs', wx: 8, wy: 8, rm: 8, rn: 16, shared: false },
];

// pack: texel (x, y) = op(X)[b][r, 4x .. 4x+3] with r = y % rows_p, b = y / rows_p, zero outside.
// op(X)[b][r, c] = x[base(b) + r * sr + c * sc]; base(b) = b * sb (batches here are plain).
const PACK = /* wgsl */ `
struct Params { rows: u32, cols: u32, rows_p: u32, sr: u32, sc: u32, sb: u32, width: u32, height: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var t: texture_storage_2d<rgba32float, write>;
@group(0) @binding(2) var<uniform> p: Params;
@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x >= p.width || gid.y >= p.height) { return; }
  let r = gid.y % p.rows_p;
  let base = (gid.y / p.rows_p) * p.sb + r * p.sr;
  var v = vec4f(0.0);
  if (r < p.rows) {
    for (var j = 0u; j < 4u; j++) {
      let c = gid.x * 4u + j;
      if (c < p.cols) { v[j] = x[base + c * p.sc]; }
    }
  }
  textureStore(t, vec2u(gid.xy), v);
}`;

function texMatmulWgsl(v: Variant): string {
  const { wx, wy, rm, rn } = v;
  const loop = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i)).join('\n');
  const TM = wy * rm;
  const TN = wx * rn;
  const RQ = rn / 4;
  const header = /* wgsl */ `
struct Params { M: u32, N: u32, kq: u32, mp: u32, kp: u32, tiles_n: u32, tiles_m: u32, tiles: u32 }
// ta texel (kq, b * mp + m) = op(A)[b][m, 4kq .. 4kq+3]; tb texel (nq, b * kp + k) = op(B)[b][k, 4nq .. 4nq+3]
@group(0) @binding(0) var ta: texture_2d<f32>;
@group(0) @binding(1) var tb: texture_2d<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
fn store(base: u32, row: u32, col: u32, v: vec4f) {
  if (row >= p.M) { return; }
  for (var j = 0u; j < 4u; j++) { if (col + j < p.N) { c[base + row * p.N + col + j] = v[j]; } }
}`;
  const prologue = /* wgsl */ `
  let t = wid.x + wid.y * nwg.x;
  if (t >= p.tiles) { return; }
  let n0 = (t % p.tiles_n) * ${TN}u;
  let m0 = ((t / p.tiles_n) % p.tiles_m) * ${TM}u;
  let batch = t / (p.tiles_n * p.tiles_m);
  let a_y = batch * p.mp + m0;
  let b_y = batch * p.kp;
  var acc: array<vec4f, ${rm * RQ}>;`;
  const fmas = loop(rm, (i) => loop(RQ, (q) =>
    `    acc[${i * RQ + q}] += a${i}.x * b0_${q} + a${i}.y * b1_${q} + a${i}.z * b2_${q} + a${i}.w * b3_${q};`));
  const epilogue = /* wgsl */ `
  let c_base = batch * p.M * p.N;
  let row = m0 + lid.y * ${rm}u;
  let col = n0 + lid.x * ${rn}u;
${loop(rm, (i) => loop(RQ, (q) => `  store(c_base, row + ${i}u, col + ${4 * q}u, acc[${i * RQ + q}]);`))}`;
  const sig = `@compute @workgroup_size(${wx}, ${wy})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) lane: u32) {`;
  if (!v.shared) {
    return `${header}
${sig}
${prologue}
  let ar = a_y + lid.y * ${rm}u;
  let bc = (n0 + lid.x * ${rn}u) / 4u;
  for (var kq = 0u; kq < p.kq; kq++) {
${loop(rm, (i) => `    let a${i} = textureLoad(ta, vec2u(kq, ar + ${i}u), 0);`)}
${loop(4, (k) => loop(RQ, (q) => `    let b${k}_${q} = textureLoad(tb, vec2u(bc + ${q}u, b_y + 4u * kq + ${k}u), 0);`))}
${fmas}
  }
${epilogue}
}`;
  }
  // shared: per step of TK = 16 k, the workgroup copies a TM x 16 A tile (TM*4 texels) and a
  // 16 x TN B tile (16*TN/4 texels) into workgroup memory, then each lane reads its rows/cols there.
  const TKQ = 4;
  const lanes = wx * wy;
  return `${header}
var<workgroup> As: array<vec4f, ${TM * TKQ}>; // [m][kq]
var<workgroup> Bs: array<vec4f, ${TKQ * 4 * (TN / 4)}>; // [k][nq]
${sig}
${prologue}
  for (var k0 = 0u; k0 < p.kq; k0 += ${TKQ}u) {
    for (var s = lane; s < ${TM * TKQ}u; s += ${lanes}u) {
      let kq = k0 + s % ${TKQ}u;
      As[s] = select(vec4f(0.0), textureLoad(ta, vec2u(min(kq, p.kq - 1u), a_y + s / ${TKQ}u), 0), kq < p.kq);
    }
    for (var s = lane; s < ${TKQ * 4 * (TN / 4)}u; s += ${lanes}u) {
      let k = 4u * k0 + s / ${TN / 4}u;
      Bs[s] = select(vec4f(0.0), textureLoad(tb, vec2u(n0 / 4u + s % ${TN / 4}u, b_y + min(k, p.kp - 1u)), 0), k < p.kp);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${TKQ}u; kk++) {
${loop(rm, (i) => `    let a${i} = As[(lid.y * ${rm}u + ${i}u) * ${TKQ}u + kk];`)}
${loop(4, (k) => loop(RQ, (q) => `    let b${k}_${q} = Bs[(kk * 4u + ${k}u) * ${TN / 4}u + lid.x * ${RQ}u + ${q}u];`))}
${fmas}
    }
    workgroupBarrier();
  }
${epilogue}
}`;
}

// ---- harness ------------------------------------------------------------------------------------

const args = process.argv.slice(2);
const flag = (name: string, dflt: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1]! : dflt; };
const ROUNDS = Number(flag('--rounds', '5'));
const ONLY = flag('--only', '');
const VARIANT_FILTER = flag('--variants', '');
const TARGET_MS = Number(flag('--target-ms', '250'));
const ENGINE_ONLY = args.includes('--engine-only'); // just the engine's two paths

await initDevice();
const dev = device();
const gpu = dev.gpu;
console.log(`adapter: ${dev.info.description} (${dev.info.backend}), LP_NUM_THREADS=${process.env.LP_NUM_THREADS}`);

function compile(label: string, code: string): GPUComputePipeline {
  const t0 = performance.now();
  const module = gpu.createShaderModule({ label, code });
  const pipe = gpu.createComputePipeline({ label, layout: 'auto', compute: { module, entryPoint: 'main' } });
  void module.getCompilationInfo().then((info) => {
    for (const m of info.messages) if (m.type === 'error') console.error(`${label}:${m.lineNum}:${m.linePos} ${m.message}`);
  });
  console.log(`  compiled ${label} (${(performance.now() - t0).toFixed(0)} ms to create)`);
  return pipe;
}

function uniform(words: number[]): GPUBuffer {
  const buf = gpu.createBuffer({ size: Math.ceil((words.length * 4) / 16) * 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  gpu.queue.writeBuffer(buf, 0, new Uint32Array(words));
  return buf;
}

function storage(data: Float32Array | number): GPUBuffer {
  const size = typeof data === 'number' ? data * 4 : data.byteLength;
  const buf = gpu.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
  if (typeof data !== 'number') gpu.queue.writeBuffer(buf, 0, data as Float32Array<ArrayBuffer>);
  return buf;
}

async function readBuffer(buf: GPUBuffer, floats: number): Promise<Float32Array> {
  dev.flush(); // the engine records into its own encoder
  const staging = gpu.createBuffer({ size: floats * 4, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
  const enc = gpu.createCommandEncoder();
  enc.copyBufferToBuffer(buf, 0, staging, 0, floats * 4);
  gpu.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(staging.getMappedRange().slice(0));
  staging.destroy();
  return out;
}

const packPipe = compile('pack', PACK);
const pipes = new Map<Variant, GPUComputePipeline>();
if (!ENGINE_ONLY) for (const v of VARIANTS) if (!VARIANT_FILTER || VARIANT_FILTER.split('|').some((f) => v.name === f)) pipes.set(v, compile(v.name, texMatmulWgsl(v)));

interface Runner { name: string; run(): void; packOnly?: () => void; matmulOnly?: () => void; out: GPUBuffer }

function makeRunners(s: Shape, a: GPUBuffer, b: GPUBuffer): Runner[] {
  const { batch, M, N, K, transA, transB } = s;
  const runners: Runner[] = [];
  const plan = { M, N, K, transA, transB, batchShape: batch > 1 ? [batch] : [], aStrides: batch > 1 ? [M * K] : [], bStrides: batch > 1 ? [K * N] : [] };
  const engine = (name: string, tiled: 'buffer' | 'texture'): Runner => {
    const out = storage(batch * M * N);
    return { name, out, run: () => { setProfile({ matmul: { tiled, skinnyRows: 0 } }); launchMatmul(a, b, out, plan); setProfile(null); } };
  };
  runners.push(engine('engine buffer path', 'buffer'));
  if (!ENGINE_ONLY) for (const [v, pipe] of pipes) runners.push(labVariant(s, a, b, v, pipe));
  runners.push(engine('engine texture path', 'texture'));
  return runners;
}

function labVariant(s: Shape, a: GPUBuffer, b: GPUBuffer, v: Variant, pipe: GPUComputePipeline): Runner {
  const { batch, M, N, K, transA, transB } = s;
  const TM = v.wy * v.rm;
  const TN = v.wx * v.rn;
  const tilesM = Math.ceil(M / TM);
  const tilesN = Math.ceil(N / TN);
  const mp = tilesM * TM;
  const kq = Math.ceil(K / 4);
  const kp = kq * 4;
  const tiles = tilesM * tilesN * batch;
  const texA = gpu.createTexture({ size: [kq, batch * mp], format: 'rgba32float', usage: GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.TEXTURE_BINDING });
  const texB = gpu.createTexture({ size: [tilesN * TN / 4, batch * kp], format: 'rgba32float', usage: GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.TEXTURE_BINDING });
  // op(A)[m, k] = a[m * a_sm + k * a_sk]; op(B)[k, n] = b[k * b_sk + n * b_sn]
  const [aSm, aSk] = transA ? [1, M] : [K, 1];
  const [bSk, bSn] = transB ? [1, K] : [N, 1];
  const packA = { width: kq, height: batch * mp, bind: gpu.createBindGroup({ layout: packPipe.getBindGroupLayout(0), entries: [
    { binding: 0, resource: { buffer: a } }, { binding: 1, resource: texA.createView() },
    { binding: 2, resource: { buffer: uniform([M, K, mp, aSm, aSk, M * K, kq, batch * mp]) } }] }) };
  const packB = { width: tilesN * TN / 4, height: batch * kp, bind: gpu.createBindGroup({ layout: packPipe.getBindGroupLayout(0), entries: [
    { binding: 0, resource: { buffer: b } }, { binding: 1, resource: texB.createView() },
    { binding: 2, resource: { buffer: uniform([K, N, kp, bSk, bSn, K * N, tilesN * TN / 4, batch * kp]) } }] }) };
  const c = storage(batch * M * N);
  const mmBind = gpu.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries: [
    { binding: 0, resource: texA.createView() }, { binding: 1, resource: texB.createView() }, { binding: 2, resource: { buffer: c } },
    { binding: 3, resource: { buffer: uniform([M, N, kq, mp, kp, tilesN, tilesM, tiles]) } }] });
  const gx = Math.min(tiles, 65535);
  const gy = Math.ceil(tiles / gx);
  const encodePack = (pass: GPUComputePassEncoder) => {
    pass.setPipeline(packPipe);
    for (const pk of [packA, packB]) {
      pass.setBindGroup(0, pk.bind);
      pass.dispatchWorkgroups(Math.ceil(pk.width / 8), Math.ceil(pk.height / 8));
    }
  };
  const encodeMm = (pass: GPUComputePassEncoder) => {
    pass.setPipeline(pipe);
    pass.setBindGroup(0, mmBind);
    pass.dispatchWorkgroups(gx, gy);
  };
  const submit = (f: (p: GPUComputePassEncoder) => void) => {
    dev.flush();
    const enc = gpu.createCommandEncoder();
    const pass = enc.beginComputePass();
    f(pass);
    pass.end();
    gpu.queue.submit([enc.finish()]);
  };
  return {
    name: v.name,
    out: c,
    run: () => submit((p) => { encodePack(p); encodeMm(p); }),
    packOnly: () => submit(encodePack),
    matmulOnly: () => submit(encodeMm),
  };
}

async function timeIt(f: () => void, iters: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) f();
  dev.flush();
  await gpu.queue.onSubmittedWorkDone();
  return (performance.now() - t0) / iters;
}

const results: string[] = [];
for (const s of SHAPES) {
  if (ONLY && !s.name.includes(ONLY)) continue;
  const { batch, M, N, K, transA, transB } = s;
  console.log(`\n== ${s.name}  (batch ${batch}, M ${M}, K ${K}, N ${N}${transA ? ', transA' : ''}${transB ? ', transB' : ''})`);
  const aHost = randomFloats(batch * M * K, 11 + M);
  const bHost = randomFloats(batch * K * N, 12 + N);
  const a = storage(aHost);
  const b = storage(bHost);
  const runners = makeRunners(s, a, b);
  // float64 reference on sampled entries
  const total = batch * M * N;
  const nSamples = Math.min(256, total);
  const idx = Array.from({ length: nSamples }, (_, i) => Math.floor((i * total) / nSamples));
  const opA = (bi: number, m: number, k: number) => aHost[bi * M * K + (transA ? k * M + m : m * K + k)]!;
  const opB = (bi: number, k: number, n: number) => bHost[bi * K * N + (transB ? n * K + k : k * N + n)]!;
  const ref = idx.map((o) => {
    const bi = Math.floor(o / (M * N));
    const i = Math.floor((o % (M * N)) / N);
    const j = o % N;
    let acc = 0;
    for (let k = 0; k < K; k++) acc += opA(bi, i, k) * opB(bi, k, j);
    return acc;
  });
  const tol = (r: number) => 4e-6 * K + 1e-4 * Math.abs(r);
  const flops = 2 * batch * M * N * K;
  const iters = new Map<Runner, number>();
  for (const r of runners) {
    r.run();
    const got = await readBuffer(r.out, total);
    const bad = idx.findIndex((o, i) => !(Math.abs(got[o]! - ref[i]!) <= tol(ref[i]!)));
    if (bad >= 0) console.log(`  !! ${r.name}: entry ${idx[bad]} = ${got[idx[bad]!]} vs ${ref[bad]}`);
    const once = await timeIt(r.run, 1);
    iters.set(r, Math.max(1, Math.min(200, Math.round(TARGET_MS / once))));
  }
  const samples = new Map<Runner, number[]>(runners.map((r) => [r, []]));
  const packMs: number[] = [];
  const mmMs = new Map<Runner, number[]>(runners.map((r) => [r, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const r of runners) {
      samples.get(r)!.push(await timeIt(r.run, iters.get(r)!));
      if (r.matmulOnly) mmMs.get(r)!.push(await timeIt(r.matmulOnly, iters.get(r)!));
      if (r.packOnly && r === runners.find((x) => x.packOnly)) packMs.push(await timeIt(r.packOnly, iters.get(r)!));
    }
  }
  const base = median(samples.get(runners[0]!)!);
  for (const r of runners) {
    const ms = median(samples.get(r)!);
    const mm = mmMs.get(r)!.length ? ` (matmul alone ${median(mmMs.get(r)!).toFixed(2)} ms, ${(flops / median(mmMs.get(r)!) / 1e6).toFixed(2)} GFLOP/s)` : '';
    const line = `  ${r.name.padEnd(34)} ${ms.toFixed(2).padStart(8)} ms  ${(flops / ms / 1e6).toFixed(2).padStart(6)} GFLOP/s  x${(base / ms).toFixed(2)}${mm}`;
    console.log(line);
    results.push(`${s.name} | ${line.trim()}`);
  }
  if (packMs.length) console.log(`  (packing both operands alone, first variant's layout: ${median(packMs).toFixed(2)} ms)`);
  a.destroy();
  b.destroy();
}
console.log('\n' + results.join('\n'));
