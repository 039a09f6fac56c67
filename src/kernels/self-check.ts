// Trust but verify: at device start (matmul.ts registers this with onDeviceOpen) each fast path the
// adapter's profile uses is run on two small products and compared with the float32 kernel; one
// that disagrees, or fails to compile or run, is turned off in the profile for the rest of the
// process with a one-line warning (its kernels run as a device trial, device.ts: a compile or
// validation error is named there, not printed by Dawn nor thrown at the next read). Fast paths:
// the subgroup-matrix (tensor-core) matmul, then, where float16 products would take it, the
// register-tiled buffer kernel in f16. The operands are small integers, so every product and sum is
// exact in f16 and f32 alike: a fast path must match the f32 kernel bit for bit, with no tolerance
// to argue about. Mesa's CPU drivers use neither path (their matmul reads textures), so start-up
// there does no work. The products cross a 128-wide tile's edge in M and N, end K mid-step, and
// cover both transposes and both load widths; two more are batched as attention's products are
// ([B, NH] batches of q · kᵀ and att · v), one operand broadcast along a batch dim (its batch stride 0,
// as in a broadcast product's backward), so a path that misplaces a batch (C's offset, an operand's
// batch stride) fails. Two split K in two, as GPUs run products with few tiles and a long K (weight
// gradients): each split's f32 partials (the tensor-core kernel's `out` 'f32' variant), then their
// sum. Every float16 product's C is float16: launchMatmul stores C in its operands' type and
// linearCrossEntropy widens its float16 operands to float32 first, so no fast path makes float32 C
// from float16 operands but split-K's partials; the int8 path's float32 C is checked below. Four
// small products per float16 path in all, two for int8.
// The int8 tensor-core path (int8 weights' prompt processing: activations quantized per row, then
// i8 x i8 -> i32 fragments) runs the same shapes as x · Qᵀ through the real dispatch (launch with
// an int8 plan), against the host's integer product: x holds integers in [-127, 127] with 127 in
// every row, so quantizing x keeps its integers (its scale is 1 within float32 rounding), and the
// weights' scales are powers of two; every sum is below 2^20 in magnitude, so a tolerance of
// 2^-20 relative admits the scale's rounding and nothing else (a sum off by one fails).
import type { Resource } from '../device/bind-groups.js';
import { device, DeviceLostError } from '../device/device.js';
import { merge, profile, profileOverrides, recordVerdict, setProfile, verdictsOf, type FastPath, type ProfileOverrides } from './profile.js';
import type { MatmulPlan } from './wgsl/matmul-tiled.js';

type Launch = (a: Resource, b: Resource, c: Resource, plan: MatmulPlan) => void;

export interface SelfCheckOptions {
  /** Changes a fast path's result (f16 bits, or the int8 path's f32) before it is compared (tests: a broken path). */
  tamper?: (path: FastPath, result: Uint16Array | Float32Array) => void;
  /** Where the one-line warnings go (console.warn). */
  warn?: (line: string) => void;
  /** Checks these paths whatever the profile uses (tests: the int8 path's logic where the adapter lacks it). */
  paths?: FastPath[];
}

interface Product {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  /** The tile size of the buffer kernels (fixed: no autotuning at start-up). */
  tiles: 'large' | 'small';
  /** K splits (1 when absent): f32 partials summed in order, the path of weight gradients on GPUs. */
  splits?: number;
  /** A's and B's batch dims (NumPy-broadcast, the same rank; a 1 is broadcast); none: one matrix each. */
  batch?: { a: number[]; b: number[] };
}

// The first loads 8 elements at a time nowhere (N % 8 = 4), the second everywhere; the batched
// ones (not for int8 weights, which are never batched) 8 at a time nowhere (K = 22), everywhere.
// The second and the last split K in two (the int8 path never splits): partials of both halves,
// the second ending mid-step, and batched partials placed by batch and split.
const PRODUCTS: Product[] = [
  { M: 136, N: 132, K: 40, transA: false, transB: false, tiles: 'small' },
  { M: 72, N: 144, K: 48, transA: true, transB: true, tiles: 'small', splits: 2 },
  { M: 40, N: 36, K: 22, transA: false, transB: true, tiles: 'small', batch: { a: [2, 3], b: [1, 3] } },
  { M: 48, N: 40, K: 64, transA: true, transB: false, tiles: 'small', batch: { a: [1, 3], b: [2, 3] }, splits: 2 },
];

/** C's batch shape and each operand's batch strides along it (0 where broadcast), in elements. */
function batching(p: Product): { batchShape: number[]; aStrides: number[]; bStrides: number[] } {
  const { a = [], b = [] } = p.batch ?? {};
  const batchShape = a.map((n, d) => Math.max(n, b[d]!));
  const strides = (dims: number[], matrix: number) => dims.map((n, d) => (n === 1 ? 0 : dims.slice(d + 1).reduce((x, y) => x * y, matrix)));
  return { batchShape, aStrides: strides(a, p.M * p.K), bStrides: strides(b, p.K * p.N) };
}

const count = (dims: number[]) => dims.reduce((x, y) => x * y, 1);
/** Operands are integers in [-RANGE, RANGE]: sums stay below 2048 in magnitude, exact in f16. */
const RANGE = 3;
const INT8_RANGE = 127;

const FLOAT32_KERNEL = 'the float32 kernel';
const DESCRIBE: Record<FastPath, { what: string; against: string; instead: string }> = {
  'subgroup-matrix': { what: 'subgroup-matrix (tensor-core) matmul', against: FLOAT32_KERNEL, instead: 'float16 products take the float32 products\' kernels' },
  'f16-buffer': { what: 'float16 register-tiled matmul', against: FLOAT32_KERNEL, instead: 'float16 tensors are unavailable' },
  'int8-subgroup-matrix': { what: 'int8 subgroup-matrix (tensor-core) matmul', against: 'the host\'s integer product', instead: 'int8 weights take the float32-activation kernels' },
};

/** What forces each path onto a product. */
const FORCE: Record<FastPath, ProfileOverrides> = {
  'subgroup-matrix': {},
  'f16-buffer': { matmul: { subgroupMatrix: null } },
  'int8-subgroup-matrix': {},
};

/** The fast paths the profile uses now, in the order to check them. */
function inUse(): FastPath[] {
  const p = profile();
  const half: FastPath[] = p.matmul.subgroupMatrix ? ['subgroup-matrix'] : p.f16 && p.matmul.tiled === 'buffer' ? ['f16-buffer'] : [];
  return p.matmul.int8SubgroupMatrix ? [...half, 'int8-subgroup-matrix'] : half;
}

/** binary16 bits of an integer of magnitude below 2048 (all of them are exact). */
function halfBits(v: number): number {
  if (v === 0) return 0;
  const m = Math.abs(v);
  const e = Math.floor(Math.log2(m));
  return (v < 0 ? 0x8000 : 0) | ((e + 15) << 10) | (((m - 2 ** e) * 2 ** (10 - e)) & 0x3ff);
}

/** Deterministic integers in [-range, range] (mulberry32). */
function integers(n: number, seed: number, range = RANGE): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t ^= t + Math.imul(t ^ (t >>> 7), 61 | t);
    return (((t ^ (t >>> 14)) >>> 0) % (2 * range + 1)) - range;
  });
}

/** Runs one product in f16 under `force` and in f32 under the profile as it is; the first mismatch, or null. */
async function compare(launch: Launch, product: Product, force: ProfileOverrides, seed: number, tamper: (r: Uint16Array) => void): Promise<string | null> {
  const { M, N, K, transA, transB, tiles, splits = 1 } = product;
  const dev = device();
  const plan = { M, N, K, transA, transB, ...batching(product) };
  const C = count(plan.batchShape) * M * N;
  const a = integers(count(product.batch?.a ?? []) * M * K, seed);
  const b = integers(count(product.batch?.b ?? []) * K * N, seed + 1);
  const half = (values: number[]) => {
    const data = new Uint16Array(values.length + (values.length % 2));
    values.forEach((v, i) => (data[i] = halfBits(v)));
    return data;
  };
  const buffers = [upload(half(a)), upload(half(b)), scratch(2 * C), upload(new Float32Array(a)), upload(new Float32Array(b)), scratch(4 * C)];
  const [a16, b16, c16, a32, b32, c32] = buffers;
  const saved = profileOverrides();
  try {
    // fixed tiles and splits: no autotuning at start-up; the float32 kernel in one split (not the split sum it checks)
    const failure = await dev.trial(() => {
      setProfile(merge(merge(saved, { matmul: { tiles, splits } }), force));
      launch(a16, b16, c16, { ...plan, float: 'f16' });
      setProfile(merge(saved, { matmul: { tiles, splits: 1 } }));
      launch(a32, b32, c32, plan);
      setProfile(saved);
    });
    if (failure) throw failure;
    const got = new Uint16Array(await dev.read(c16, 2 * C));
    const want = new Float32Array(await dev.read(c32, 4 * C));
    tamper(got);
    // the f32 result is an exact integer, which the f16 one must encode (zero of either sign)
    const wrong = (w: number, i: number) => !(Number.isInteger(w) && (got[i] === halfBits(w) || (w === 0 && got[i] === 0x8000)));
    const bad = want.findIndex(wrong);
    if (bad < 0) return null;
    const batches = product.batch ? `[${product.batch.a.join(', ')}] · [${product.batch.b.join(', ')}] batches of ` : '';
    const where = `${batches}${M}x${K}${transA ? 'ᵀ' : ''} · ${K}x${N}${transB ? 'ᵀ' : ''}`;
    return `${want.filter(wrong).length} of ${C} elements of ${where} differ, the first at [${unravel(bad, [...plan.batchShape, M, N]).join(', ')}] (f16 bits 0x${got[bad]!.toString(16)}, float32 kernel ${want[bad]})`;
  } finally {
    setProfile(saved);
    buffers.forEach((x) => dev.release(x));
  }
}

/** The index of flat element `i` of a row-major array of `shape`. */
function unravel(i: number, shape: number[]): number[] {
  const index = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    index[d] = i % shape[d]!;
    i = Math.floor(i / shape[d]!);
  }
  return index;
}

/** A scratch buffer of at least `bytes` (whole words). */
const scratch = (bytes: number) => device().alloc(Math.max(4, Math.ceil(bytes / 4) * 4), 'self-check');

/** A scratch buffer holding `data` (padded to whole words). */
function upload(data: Uint16Array | Float32Array | Int8Array): GPUBuffer {
  const buffer = scratch(data.byteLength);
  const words = new Uint8Array(Math.ceil(data.byteLength / 4) * 4);
  words.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  device().write(buffer, words);
  return buffer;
}

/** Runs x · (wScale ⊙ Q)ᵀ through the int8 path under `force`, against the host's integer product (see the header); the first mismatch, or null. */
async function compareInt8(launch: Launch, product: Product, force: ProfileOverrides, seed: number, tamper: (r: Float32Array) => void): Promise<string | null> {
  const { M, N, K } = product;
  const x = integers(M * K, seed, INT8_RANGE);
  const q = integers(N * K, seed + 1, INT8_RANGE);
  for (let m = 0; m < M; m++) x[m * K + (m % K)] = m % 2 ? -INT8_RANGE : INT8_RANGE;
  const wScale = Array.from({ length: N }, (_, n) => 2 ** -(n % 3));
  const want = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let sum = 0;
      for (let k = 0; k < K; k++) sum += x[m * K + k]! * q[n * K + k]!;
      want[m * N + n] = sum * wScale[n]!;
    }
  }
  const buffers = [upload(new Float32Array(x)), upload(new Int8Array(q)), upload(new Float32Array(wScale)), scratch(4 * M * N)];
  const [xb, qb, sb, cb] = buffers;
  const saved = profileOverrides();
  try {
    const failure = await device().trial(() => {
      setProfile(merge(saved, force));
      launch(xb, qb, cb, { M, N, K, transA: false, transB: true, batchShape: [], aStrides: [], bStrides: [], scale: sb });
      setProfile(saved);
    });
    if (failure) throw failure;
    const got = new Float32Array(await device().read(cb, 4 * M * N));
    tamper(got);
    const wrong = (w: number, i: number) => !(Math.abs(got[i]! - w) <= 2 ** -20 * Math.abs(w));
    const bad = want.findIndex(wrong);
    if (bad < 0) return null;
    const count = want.filter(wrong).length;
    return `${count} of ${M * N} elements of ${M}x${K} · (${N}x${K})ᵀ int8 differ, the first at [${Math.floor(bad / N)}, ${bad % N}] (int8 path ${got[bad]}, host ${want[bad]})`;
  } finally {
    setProfile(saved);
    buffers.forEach((b) => device().release(b));
  }
}

/**
 * Checks every fast path the profile uses and has not judged yet; a wrong one is turned off
 * (profile.ts recordVerdict) with a one-line warning. Throws only a lost device's error: a path that throws is wrong.
 */
export async function checkFastPaths(launch: Launch, opts: SelfCheckOptions = {}): Promise<void> {
  if (!device().executes) return; // nothing runs, so nothing can be compared
  const warn = opts.warn ?? ((line: string) => console.warn(line));
  const next = () => (opts.paths ?? inUse()).find((path) => !verdictsOf(device().info).has(path));
  for (let path = next(); path; path = next()) {
    let failure: string | null = null;
    const tamper = (r: Uint16Array | Float32Array) => opts.tamper?.(path!, r);
    try {
      for (const [i, product] of PRODUCTS.entries()) {
        const seed = 7919 * (i + 1);
        if (path !== 'int8-subgroup-matrix') failure ??= await compare(launch, product, FORCE[path], seed, tamper);
        else if (!product.batch) failure ??= await compareInt8(launch, product, FORCE[path], seed, tamper);
      }
    } catch (e) {
      if (e instanceof DeviceLostError) throw e; // no fault of the path's: initDevice fails with it, no path turned off
      failure = `it failed: ${(e as Error).message.split('\n')[0]}`;
    }
    recordVerdict(device().info, path, failure ? 'off' : 'verified');
    const { what, against, instead } = DESCRIBE[path];
    if (failure) warn(`webgpu-gpt: the ${what} disagrees with ${against} on this adapter (${failure}); turned off: ${instead}`);
  }
}

/** One line for `gpt doctor --check`: what the device-start self-check found. */
export function describeVerdicts(): string {
  const verdicts = [...verdictsOf(device().info)];
  if (!verdicts.length) return 'Device-start self-check: no fast path in use on this adapter (nothing to verify).';
  return `Device-start self-check against the float32 kernel (int8: the host's integer product): ${verdicts.map(([path, v]) => `${DESCRIBE[path].what} ${v === 'verified' ? 'verified' : 'WRONG, turned off'}`).join('; ')}.`;
}
