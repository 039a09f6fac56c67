// Trust but verify: at device start (matmul.ts registers this with onDeviceOpen) each fast path
// the adapter's profile uses is run on two small products and compared with the float32 kernel;
// one that disagrees, or fails to compile or run, is turned off in the profile for the rest of the
// process with a one-line warning. Fast paths: the subgroup-matrix (tensor-core) matmul, then,
// where float16 products would take it, the register-tiled buffer kernel in f16. The operands are
// small integers, so every product and sum is exact in f16 and f32 alike: a fast path must match
// the f32 kernel bit for bit, with no tolerance to argue about. Mesa's CPU drivers use neither
// path (their matmul reads textures), so start-up there does no work. The products cross a
// 128-wide tile's edge in M and N, end K mid-step, and cover both transposes and both load widths.
import type { Resource } from '../device/bind-groups.js';
import { device } from '../device/device.js';
import { floatBytes, type FloatType } from './kernel.js';
import { merge, profile, profileOverrides, recordVerdict, setProfile, verdictsOf, type FastPath, type ProfileOverrides } from './profile.js';
import type { MatmulPlan } from './wgsl/matmul-tiled.js';

type Launch = (a: Resource, b: Resource, c: Resource, plan: MatmulPlan) => void;

export interface SelfCheckOptions {
  /** Changes a fast path's f16 result bits before they are compared (tests: a broken path). */
  tamper?: (path: FastPath, result: Uint16Array) => void;
  /** Where the one-line warnings go (console.warn). */
  warn?: (line: string) => void;
}

interface Product {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  /** The tile size of the buffer kernels (fixed: no autotuning at start-up). */
  tiles: 'large' | 'small';
}

// The first loads 8 elements at a time nowhere (N % 8 = 4), the second everywhere.
const PRODUCTS: Product[] = [
  { M: 136, N: 132, K: 40, transA: false, transB: false, tiles: 'small' },
  { M: 72, N: 144, K: 48, transA: true, transB: true, tiles: 'small' },
];
/** Operands are integers in [-RANGE, RANGE]: sums stay below 2048 in magnitude, exact in f16. */
const RANGE = 3;

const DESCRIBE: Record<FastPath, { what: string; instead: string }> = {
  'subgroup-matrix': { what: 'subgroup-matrix (tensor-core) matmul', instead: 'float16 products take the float32 products\' kernels' },
  'f16-buffer': { what: 'float16 register-tiled matmul', instead: 'float16 tensors are unavailable' },
};

/** What forces each path onto a product. */
const FORCE: Record<FastPath, ProfileOverrides> = {
  'subgroup-matrix': {},
  'f16-buffer': { matmul: { subgroupMatrix: null } },
};

/** The fast paths the profile uses now and the self-check has not judged yet, in the order to check them. */
function unjudged(): FastPath[] {
  const p = profile();
  const judged = verdictsOf(device().info);
  const inUse: FastPath[] = p.matmul.subgroupMatrix ? ['subgroup-matrix'] : p.f16 && p.matmul.tiled === 'buffer' ? ['f16-buffer'] : [];
  return inUse.filter((path) => !judged.has(path));
}

/** binary16 bits of an integer of magnitude below 2048 (all of them are exact). */
function halfBits(v: number): number {
  if (v === 0) return 0;
  const m = Math.abs(v);
  const e = Math.floor(Math.log2(m));
  return (v < 0 ? 0x8000 : 0) | ((e + 15) << 10) | (((m - 2 ** e) * 2 ** (10 - e)) & 0x3ff);
}

/** Deterministic integers in [-RANGE, RANGE] (mulberry32). */
function integers(n: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t ^= t + Math.imul(t ^ (t >>> 7), 61 | t);
    return (((t ^ (t >>> 14)) >>> 0) % (2 * RANGE + 1)) - RANGE;
  });
}

/** Runs one product in f16 under `force` and in f32 under the profile as it is; the first mismatch, or null. */
async function compare(launch: Launch, product: Product, force: ProfileOverrides, seed: number, tamper: (r: Uint16Array) => void): Promise<string | null> {
  const { M, N, K, transA, transB, tiles } = product;
  const dev = device();
  const plan = { M, N, K, transA, transB, batchShape: [], aStrides: [], bStrides: [] };
  const a = integers(M * K, seed);
  const b = integers(K * N, seed + 1);
  const upload = (values: number[], float: FloatType) => {
    const buffer = dev.alloc(Math.ceil((values.length * floatBytes(float)) / 4) * 4, 'self-check');
    const data = float === 'f16' ? new Uint16Array(values.length + (values.length % 2)) : new Float32Array(values);
    if (float === 'f16') values.forEach((v, i) => (data[i] = halfBits(v)));
    dev.write(buffer, data);
    return buffer;
  };
  const buffers = [upload(a, 'f16'), upload(b, 'f16'), dev.alloc(Math.ceil(M * N / 2) * 4, 'self-check'), upload(a, 'f32'), upload(b, 'f32'), dev.alloc(4 * M * N, 'self-check')];
  const [a16, b16, c16, a32, b32, c32] = buffers as [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer];
  const saved = profileOverrides();
  try {
    const fixed = merge(saved, { matmul: { tiles, splits: 1 } }); // no autotuning at start-up
    setProfile(merge(fixed, force));
    launch(a16, b16, c16, { ...plan, float: 'f16' });
    setProfile(fixed);
    launch(a32, b32, c32, plan);
    setProfile(saved);
    const got = new Uint16Array(await dev.read(c16, 2 * M * N));
    const want = new Float32Array(await dev.read(c32, 4 * M * N));
    tamper(got);
    // the f32 result is an exact integer, which the f16 one must encode (zero of either sign)
    const wrong = (w: number, i: number) => !(Number.isInteger(w) && (got[i] === halfBits(w) || (w === 0 && got[i] === 0x8000)));
    const bad = want.findIndex(wrong);
    if (bad < 0) return null;
    const count = want.filter(wrong).length;
    const where = `${M}x${K}${transA ? 'ᵀ' : ''} · ${K}x${N}${transB ? 'ᵀ' : ''}`;
    return `${count} of ${M * N} elements of ${where} differ, the first at [${Math.floor(bad / N)}, ${bad % N}] (f16 bits 0x${got[bad]!.toString(16)}, float32 kernel ${want[bad]})`;
  } finally {
    setProfile(saved);
    buffers.forEach((x) => dev.release(x));
  }
}

/**
 * Checks every fast path the profile uses and has not judged yet; a wrong one is turned off
 * (profile.ts recordVerdict) with a one-line warning. Never throws: a path that throws is wrong.
 */
export async function checkFastPaths(launch: Launch, opts: SelfCheckOptions = {}): Promise<void> {
  const warn = opts.warn ?? ((line: string) => console.warn(line));
  for (let path = unjudged()[0]; path; path = unjudged()[0]) {
    let failure: string | null = null;
    try {
      for (const [i, product] of PRODUCTS.entries()) {
        failure ??= await compare(launch, product, FORCE[path], 7919 * (i + 1), (r) => opts.tamper?.(path!, r));
      }
    } catch (e) {
      failure = `it failed: ${(e as Error).message.split('\n')[0]}`;
    }
    recordVerdict(device().info, path, failure ? 'off' : 'verified');
    if (failure) warn(`webgpu-gpt: the ${DESCRIBE[path].what} disagrees with the float32 kernel on this adapter (${failure}); turned off: ${DESCRIBE[path].instead}`);
  }
}

/** One line for `gpt doctor --check`: what the device-start self-check found. */
export function describeVerdicts(): string {
  const verdicts = [...verdictsOf(device().info)];
  if (!verdicts.length) return 'Device-start self-check: no fast path in use on this adapter (nothing to verify).';
  return `Device-start self-check against the float32 kernel: ${verdicts.map(([path, v]) => `${DESCRIBE[path].what} ${v === 'verified' ? 'verified' : 'WRONG, turned off'}`).join('; ')}.`;
}
