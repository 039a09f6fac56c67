// The variant profile: which kernel family and layout each op uses on this adapter, decided once
// per device in this one place. Kernels ask `profile()`; tests, benchmarks and `gpt doctor --check`
// override it through `setProfile` and run every variant the adapter can (`profileVariants`).
//
// What is decided, and why (each measured where it runs; the figures are in the kernels' headers):
//   matmul.tiled      Mesa's CPU drivers (llvmpipe/lavapipe) turn every storage-buffer load into a
//                     bounds-checked scalar load, so operands go through rgba32float textures there
//                     ('texture'); GPUs run the register-tiled buffer kernel ('buffer').
//   matmul.skinnyRows products with at most this many rows per batch (decoding one token at a time)
//                     take a lane per output element.
//   matmul.tiles,     the buffer family's tile size and K splits per product (matmulTiling): large
//   matmul.splits     128x128 tiles when there are enough of them to fill a GPU, else 64x64 tiles,
//                     and split-K when even those leave it idle ('auto'; tests and benchmarks force).
//   subgroupSharing   on CPU adapters whose subgroups are exactly 8 lanes (one 256-bit SIMD
//                     instruction on llvmpipe), the texture matmul and attention share loads with
//                     subgroupBroadcast; GPUs keep the kernels tuned for them.
//   rowLanes          row kernels (softmax, LayerNorm, cross-entropy, reductions) give a row 64 lanes
//                     and a tree reduction on GPUs; CPU adapters give a row one lane, without
//                     barriers, once there are at least 256 rows to keep their threads busy.
//   splitSums         long sums over rows (LayerNorm's dw and db over B*T rows, the embedding
//                     backward's per-id sums and its id ranks) on GPUs: split into blocks summed by
//                     many workgroups in parallel, then a short sum of the blocks in a fixed order
//                     (deterministic, no float atomics); CPU adapters keep a lane per column and a
//                     few chunks, which their few threads run faster (measured on lavapipe: see
//                     layernorm.ts, gather.ts).
//   f16               float16 tensors, on adapters with shader-f16 (requested at device creation):
//                     ops on them run kernels specialised for f16 storage; without the feature any
//                     float16 use is an error naming the op (tests turn it off to see that error).
//   bindingLimit      the largest range one binding may cover (the adapter's storage-binding and
//                     buffer limits): larger tensors are bound a window at a time (kernel.ts
//                     pieces). Tests lower it to run the windowed paths on small tensors.
import { device, type DeviceInfo } from '../device/device.js';

export interface TileConfig {
  /** C tile of a workgroup: BM rows x BN columns; K step BK. */
  bm: number;
  bn: number;
  bk: number;
  /** C block of a lane: TM rows x TN columns (multiples of 4). */
  tm: number;
  tn: number;
}

/** 128x128 tiles, 8x8 a lane, 256 lanes, K step 8: the standalone kernel that reached 33 TFLOP/s at 4096^3 on an H200. */
export const LARGE_TILES: TileConfig = { bm: 128, bn: 128, bk: 8, tm: 8, tn: 8 };
/** 64x64 tiles, 4x4 a lane, 256 lanes: more workgroups for the GPT's smaller products. */
export const SMALL_TILES: TileConfig = { bm: 64, bn: 64, bk: 16, tm: 4, tn: 4 };

export const TILES = { large: LARGE_TILES, small: SMALL_TILES };
export type TileName = keyof typeof TILES;

export interface KernelProfile {
  matmul: { tiled: 'texture' | 'buffer'; skinnyRows: number; tiles: 'auto' | TileName; splits: 'auto' | number };
  subgroupSharing: boolean;
  rowLanes: 'by-rows' | 1 | 64;
  splitSums: boolean;
  f16: boolean;
  bindingLimit: number;
}

/** Overrides of some decisions; nested objects are merged. */
export type ProfileOverrides = Partial<Omit<KernelProfile, 'matmul'>> & { matmul?: Partial<KernelProfile['matmul']> };

/** Subgroup size the sharing kernels are written for. */
export const SHARING_LANES = 8;

const isMesaCpuDriver = (info: DeviceInfo) => /llvmpipe|lavapipe/i.test(info.description);

/** Whether the adapter has subgroups of exactly SHARING_LANES lanes (what subgroupSharing needs). */
export function canShareSubgroups(info: DeviceInfo): boolean {
  const [min, max] = info.subgroupSizes ?? [0, 0];
  return info.features.includes('subgroups') && min === SHARING_LANES && max === SHARING_LANES;
}

/** The profile this adapter gets when nothing is overridden. */
export function detectProfile(info: DeviceInfo): KernelProfile {
  const cpu = info.isFallbackAdapter;
  return {
    matmul: { tiled: isMesaCpuDriver(info) ? 'texture' : 'buffer', skinnyRows: 4, tiles: 'auto', splits: 'auto' },
    subgroupSharing: cpu && canShareSubgroups(info),
    rowLanes: cpu ? 'by-rows' : 64,
    splitSums: !cpu,
    f16: info.features.includes('shader-f16'),
    bindingLimit: Math.min(info.limits.maxStorageBufferBindingSize ?? 2 ** 27, info.limits.maxBufferSize ?? 2 ** 28),
  };
}

let overrides: ProfileOverrides = {};
let cached: { info: DeviceInfo; overrides: ProfileOverrides; profile: KernelProfile } | null = null;

/** The profile kernels follow now: the adapter's, with any overrides applied. */
export function profile(): KernelProfile {
  const info = device().info;
  if (cached?.info !== info || cached.overrides !== overrides) cached = { info, overrides, profile: resolve(info, overrides) };
  return cached.profile;
}

function resolve(info: DeviceInfo, o: ProfileOverrides): KernelProfile {
  const base = detectProfile(info);
  const p = { ...base, ...o, matmul: { ...base.matmul, ...o.matmul } };
  p.subgroupSharing &&= canShareSubgroups(info); // never forced onto subgroups of another size
  p.f16 &&= info.features.includes('shader-f16'); // never forced onto an adapter without it
  return p;
}

/** Overrides decisions until the next call; null goes back to the adapter's profile. */
export function setProfile(next: ProfileOverrides | null): void {
  overrides = next ?? {};
}

/** Throws an error naming `op` unless float16 kernels can run here. */
export function requireF16(op: string): void {
  if (!profile().f16) {
    const why = device().info.features.includes('shader-f16') ? 'float16 is turned off in the kernel profile' : `the adapter (${device().info.description || device().info.vendor || 'unnamed'}) has no shader-f16 feature`;
    throw new TypeError(`${op}: float16 tensors need WebGPU's shader-f16 feature, and ${why}; use float32`);
  }
}

export interface ProfileVariant {
  name: string;
  overrides: ProfileOverrides;
}

/**
 * Every variant this adapter can run, each family at least once: the adapter's own profile, the
 * GPU paths, and where the adapter has 8-lane subgroups the CPU paths without sharing and with one
 * lane per row whatever the row count; and the adapter's profile with a tiny binding limit.
 */
export function profileVariants(): ProfileVariant[] {
  const info = device().info;
  const candidates: ProfileVariant[] = [
    { name: 'adapter', overrides: {} },
    { name: 'gpu', overrides: { matmul: { tiled: 'buffer' }, subgroupSharing: false, rowLanes: 64, splitSums: true } },
    { name: 'cpu', overrides: { matmul: { tiled: 'texture' }, subgroupSharing: false, rowLanes: 1, splitSums: false } },
    { name: 'cpu-sharing', overrides: { matmul: { tiled: 'texture' }, subgroupSharing: true, rowLanes: 1, splitSums: false } },
    // tensors past a 4 KiB binding: every windowed path (elementwise pieces, embedding and AdamW
    // windows, the chunked LM head) on the small tensors of a check
    { name: 'small-bindings', overrides: { bindingLimit: 4096 } },
  ];
  const seen = new Set<string>();
  return candidates.filter((v) => {
    const key = JSON.stringify(resolve(info, v.overrides));
    return !seen.has(key) && seen.add(key);
  });
}

/** Workgroups that keep a large GPU busy (an H200 has 132 multiprocessors): what tiles and splits aim for. */
const BUSY_WORKGROUPS = 512;
/** K per split at least: below it the partial sums cost more than the parallelism brings. */
const MIN_SPLIT_K = 256;
const MAX_SPLITS = 16;

export interface MatmulTiling {
  tiles: TileName;
  splits: number;
}

/** The default tile size and K splits of the buffer matmul family for `batch` products of M x K · K x N. */
export function matmulTiling(M: number, N: number, K: number, batch: number): MatmulTiling {
  const { tiles, splits } = profile().matmul;
  const count = (t: TileName) => Math.ceil(M / TILES[t].bm) * Math.ceil(N / TILES[t].bn) * batch;
  const chosen = tiles !== 'auto' ? tiles : count('large') >= BUSY_WORKGROUPS / 4 ? 'large' : 'small';
  if (splits !== 'auto') return { tiles: chosen, splits };
  const wanted = Math.round(BUSY_WORKGROUPS / count(chosen));
  return { tiles: chosen, splits: Math.max(1, Math.min(MAX_SPLITS, wanted, maxSplits(K))) };
}

/** The splits worth trying for a depth K: each split gets MIN_SPLIT_K at least. */
export const maxSplits = (K: number) => Math.max(1, Math.min(MAX_SPLITS, Math.floor(K / MIN_SPLIT_K)));

/** Every tiling worth measuring for a product of depth K (autotuning candidates). */
export function matmulTilings(K: number): MatmulTiling[] {
  const splits = [1, 2, 4, 8, 16].filter((s) => s <= maxSplits(K));
  return (Object.keys(TILES) as TileName[]).flatMap((tiles) => splits.map((s) => ({ tiles, splits: s })));
}

/** Whether the tiling of buffer matmuls is the profile's to choose (then autotuning may refine it). */
export const matmulTilingIsAuto = () => profile().matmul.tiles === 'auto' && profile().matmul.splits === 'auto';
