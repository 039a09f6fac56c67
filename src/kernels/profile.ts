// The variant profile: which kernel family and layout each op uses on this adapter, decided once
// per device in this one place. Kernels ask `profile()`; tests, benchmarks and `gpt doctor --check`
// override it through `setProfile` and run every variant the adapter can (`profileVariants`).
//
// What is decided, and why (each measured where it runs; the figures are in the kernels' headers):
//   matmul.tiled      Mesa's CPU drivers (llvmpipe/lavapipe) turn every storage-buffer load into a
//                     bounds-checked scalar load, so operands go through rgba32float textures there
//                     ('texture'); GPUs run the register-tiled buffer kernel ('buffer').
//   matmul.textureReads how the texture path reads its operand textures: 'storage' (read-only
//                     storage textures) where WGSL has readonly_and_readwrite_storage_textures, else
//                     'sampled'. On lavapipe each textureLoad is a call to a texel-fetch function: a
//                     sampled texture's resolves a mip level and its size per lane (~130
//                     instructions), a storage texture's has no mip levels (~50): per CPU-second
//                     the GPT's products 1.10-1.32x, its step 1.12-1.22x (docs/kernels.md).
//   matmul.skinnyRows products with at most this many rows per batch (decoding a token for each of a
//                     few sequences) take a skinny kernel (matmul-skinny.ts), not a tile of 64 rows or
//                     more: 4 on GPUs; 8 on CPU adapters, where 'columns' beats the texture tiles up
//                     to ~16 rows (lavapipe, GPT-2's [8 x 768]·[2304 x 768]^T: 4.25 vs 7.93 ms).
//                     Layouts only 'element' takes go skinny up to 4 rows at most (ELEMENT_ROWS).
//   matmul.skinny     which one, where the layout lets it choose (A row-major, B a transposed weight):
//                     CPU adapters 'columns' (a lane per 4 columns, vec4 loads; lavapipe: 1.3-2x
//                     'element' at GPT-2's shapes, see matmul-skinny.ts); GPUs 'auto', measured per
//                     shape, 'workgroup' (coalesced loads, a tree sum) until measured.
//   matmul.tiles,     the buffer family's tile size and K splits per product (matmulTiling): large
//   matmul.splits     128x128 tiles when there are enough of them to fill a GPU, else 64x64 tiles,
//                     and split-K when even those leave it idle ('auto'; tests and benchmarks force);
//                     the tensor-core family's splits too (tensorCoreSplits: its tiles are 128x128).
//   matmul.tileCandidates  the tiles the autotuner measures against the default's: both on GPUs;
//                     64x64 alone on CPU adapters, where a 128x128 candidate's kernels took 2.1-4.2 s
//                     to compile (SwiftShader in headless Chromium, 2026-12-07) to save at most 9 ms of
//                     a product's 10-20 at the page's sizes, and a cached winner naming them is
//                     compiled again at every page load (autotune.ts). A default of 128x128 tiles
//                     (products large enough) is measured all the same.
//   subgroupSharing   on CPU adapters whose subgroups are exactly 8 lanes (one 256-bit SIMD
//                     instruction on llvmpipe), the texture matmul and attention share loads with
//                     subgroupBroadcast; GPUs keep the kernels tuned for them.
//   attentionKeys     how the workgroup-memory attention kernels (GPUs) compute dk and dv: in one
//                     kernel, a lane holding four head rows ('together'), or in two kernels holding
//                     two and three ('split': no register spills where a lane's registers run short,
//                     at the price of recomputing the weights); 'auto' measures both per shape
//                     (autotune.ts), 'together' until measured: on GPUs. CPU adapters keep them
//                     together: SwiftShader's 'split' took 99 ms of GPU time against 25 (GPT 8x2x64,
//                     head size 32) after 6.4 s compiling its two kernels; so do the subgroup kernels
//                     of Mesa's CPU drivers.
//   rowLanes          row kernels (softmax, LayerNorm, cross-entropy, reductions) give a row 64 lanes
//                     and a tree reduction on GPUs; CPU adapters give a row one lane, without
//                     barriers, once there are at least 256 rows to keep their threads busy.
//   rowVec4           where a lane has a row to itself (CPU adapters), it reads rows of whole vec4s
//                     a vec4 at a time, and LayerNorm's weight gradient sums 4 columns a lane: on
//                     lavapipe a load whose address differs by lane is a loop over the lanes, so a
//                     vec4 takes a quarter of the loops (LayerNorm 768 x 128: 1.3-1.8x, see
//                     layernorm.ts). GPUs keep their 64-lane rows of scalars (coalesced).
//   drawLanes,        lanes a row of sampleLogits gets (sample.ts), by the row's length: a draw
//   greedyLanes       (~120 passes, each ending in a tree sum) 32 up to 2048 logits, else 256, on
//                     every adapter (lavapipe: 256 lanes made a 96-wide draw take 4 ms). Greedy's
//                     one pass is its loads: on GPUs as the draw (a warp a short row; unmeasured);
//                     on CPU adapters one lane a row (64 rows a workgroup, no tree) up to 1024
//                     logits, else 32 lanes (lavapipe's 8-lane groups each sweep the whole row).
//                     lavapipe (kernel times): over 256 x 65 logits one lane a row took 0.26-0.32x
//                     32 lanes' time (64 x 65: 0.56-0.67x), about the argmax reduction's; one row
//                     of 1024 logits 1.03x, of 2048 or 4096 1.2x, of 50,257 8.6x. topk takes
//                     greedy's lanes: one pass over the row too (wgsl/topk.ts).
//   splitSums         long sums over rows (LayerNorm's dw and db over B*T rows, bias gradients,
//                     the embedding backward's per-id sums and its id ranks) on GPUs: split into
//                     blocks summed by many workgroups in parallel, then a short sum of the blocks
//                     in a fixed order (deterministic, no float atomics); CPU adapters keep a lane
//                     per column and a few chunks, which their few threads run faster (measured on
//                     lavapipe: see column-sums.ts, gather.ts).
//   f16               float16 tensors, on adapters with shader-f16 (requested at device creation):
//                     ops on them run kernels specialised for f16 storage; without the feature any
//                     float16 use is an error naming the op (tests turn it off to see that error).
//   matmul.subgroupMatrix  float16 products (but the skinny ones) on tensor cores, where the adapter
//                     has chromium-experimental-subgroup-matrix with an f16 -> f32 configuration
//                     (matmul-subgroup-matrix.ts; detectSubgroupMatrix picks the configuration,
//                     subgroup size and K step); else they take the float32 products' path
//                     (register-tiled buffers on GPUs, textures on Mesa's CPU drivers), f16 operands
//                     widened as they are staged; without shader-f16 there are none. Tests set
//                     `emulated` tilings (emulatedTensorCores): the same kernels with software
//                     fragments, on any adapter with float16.
//   matmul.int8SubgroupMatrix  int8-weight products with more rows than skinnyRows (prompt
//                     processing), where the adapter has chromium-experimental-subgroup-matrix with an
//                     i8 -> i32 configuration: the activations are quantized per row to int8 and
//                     multiplied with the int8 weights on tensor cores (matmul-subgroup-matrix.ts,
//                     picked as for f16; the quantization kernel is in int8.ts); else the float32-activation paths.
//   trainingDtype     what `gpt train --dtype auto` computes in: float16 where its products run on
//                     tensor cores (matmul.subgroupMatrix), else float32 (lavapipe emulates float16
//                     on the CPU: 1.2-1.5x slower than float32 there; float16's register-tiled GPU
//                     kernel is unmeasured).
//   bindingLimit      the largest range one binding may cover (the adapter's storage-binding and
//                     buffer limits): larger tensors are bound a window at a time (kernel.ts
//                     pieces). Tests lower it to run the windowed paths on small tensors.
//   bufferLimit       the largest buffer (maxBufferSize): AdamW keeps its moments in shards within
//                     it. Tests lower it to shard small models.
//   offsetAlignment   the bytes a binding's offset is a multiple of (minStorageBufferOffsetAlignment):
//                     windows start at such offsets. Tests raise it to GPUs' usual 256 where the
//                     adapter allows less (lavapipe: 16), so the windows GPUs bind run here too.
// Fast paths are trusted once verified: at device start self-check.ts compares each one the
// profile uses with the f32 kernel, and one that disagrees is turned off here (recordVerdict).
import type { DeviceInfo, SubgroupMatrixConfig } from '../device/adapter.js';
import { device } from '../device/device.js';

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
const LARGE_TILES: TileConfig = { bm: 128, bn: 128, bk: 8, tm: 8, tn: 8 };
/** 64x64 tiles, 4x4 a lane, 256 lanes: more workgroups for the GPT's smaller products. */
const SMALL_TILES: TileConfig = { bm: 64, bn: 64, bk: 16, tm: 4, tn: 4 };

export const TILES = { large: LARGE_TILES, small: SMALL_TILES };
export type TileName = keyof typeof TILES;

/** The tiles the autotuner measures (profile matmul.tileCandidates). */
const GPU_TILE_CANDIDATES: readonly TileName[] = ['large', 'small'];
const CPU_TILE_CANDIDATES: readonly TileName[] = ['small'];

/** The subgroup-matrix matmul's workgroup: a C tile of SGM_TILE x SGM_TILE, 8 subgroups of SGM_BLOCK_M x SGM_BLOCK_N each. */
export const SGM_TILE = 128;
export const SGM_SUBGROUPS = 8;
export const SGM_BLOCK_M = 64;
export const SGM_BLOCK_N = 32;

/** What a subgroup-matrix matmul multiplies: float16 (f16 -> f32 fragments) or int8 (i8 -> i32). */
export type SgmElement = 'f16' | 'i8';
const SGM_ELEMENTS: Record<SgmElement, { bytes: number; result: string; kSteps: number[] }> = {
  // K steps, largest first: 32 measured fastest on the H200 for f16 (issue #14); 16 where workgroup
  // memory is short. int8 takes the same bytes per step (64, else 32 i8; unmeasured).
  f16: { bytes: 2, result: 'f32', kSteps: [32, 16] },
  i8: { bytes: 1, result: 'i32', kSteps: [64, 32] },
};

/** How the subgroup-matrix matmul runs on this adapter. */
export interface SubgroupMatrixTiling {
  /** The fragment product M x K · K x N: one of the adapter's f16 -> f32 (i8 -> i32) configurations. */
  M: number;
  N: number;
  K: number;
  /** Lanes per subgroup the layout is written for; `pinned`: fixed with @subgroup_size (the adapter's size varies). */
  lanes: number;
  pinned: boolean;
  /** The workgroup tile's K step. */
  bk: number;
  /**
   * Fragments in software (matmul-subgroup-matrix.ts softwareFragments): the kernel's tiling on an
   * adapter without tensor cores, slowly; tests check its numbers this way (emulatedTensorCores).
   */
  emulated?: boolean;
}

/** Workgroup memory of the subgroup-matrix matmul: the A and B tiles, and a 4-byte-element fragment per subgroup for the epilogue. */
export const sgmWorkgroupBytes = (t: Pick<SubgroupMatrixTiling, 'M' | 'N' | 'bk'>, element: SgmElement = 'f16') =>
  2 * SGM_ELEMENTS[element].bytes * SGM_TILE * t.bk + 4 * SGM_SUBGROUPS * t.M * t.N;

/** The largest K step of `element` that fragments of M x N x K tile and whose workgroup fits `memory` bytes, or undefined. */
const fittingKStep = (element: SgmElement, { M, N, K }: Pick<SubgroupMatrixTiling, 'M' | 'N' | 'K'>, memory: number) =>
  SGM_ELEMENTS[element].kSteps.find((bk) => bk % K === 0 && sgmWorkgroupBytes({ M, N, bk }, element) <= memory);

/** The invocations (along x) and the bytes of workgroup memory a workgroup may have on this adapter. */
const workgroupRoom = ({ limits }: DeviceInfo) => ({
  invocations: Math.min(limits.maxComputeInvocationsPerWorkgroup ?? 256, limits.maxComputeWorkgroupSizeX ?? 256),
  memory: limits.maxComputeWorkgroupStorageSize ?? 16384,
});

/** Largest fragments first: fewer loads and multiply-accumulates per FLOP (16x16x16, then 16x8x16, 16x8x8, 8x8x8). */
const byFragmentSize = (x: SubgroupMatrixConfig, y: SubgroupMatrixConfig) => y.M * y.N * y.K - x.M * x.N * x.K || y.K - x.K;

/**
 * The subgroup-matrix matmul of `element` for this adapter, or null where it cannot run: it needs
 * the feature (with subgroups, and shader-f16 for f16), an f16 -> f32 (i8 -> i32) configuration
 * whose fragments tile a subgroup's block and the K step, a known subgroup size (fixed by the
 * adapter, or pinned with subgroup-size-control: 32 lanes where allowed), and room for its workgroup.
 */
export function detectSubgroupMatrix(info: DeviceInfo, element: SgmElement = 'f16'): SubgroupMatrixTiling | null {
  const has = (f: string) => info.features.includes(f);
  if (!has('chromium-experimental-subgroup-matrix') || (element === 'f16' && !has('shader-f16')) || !has('subgroups') || !info.subgroupSizes) return null;
  const [min, max] = info.subgroupSizes;
  const pinned = min !== max;
  if (pinned && !has('subgroup-size-control')) return null; // the layout needs to know its subgroup size
  const lanes = pinned ? Math.min(max, Math.max(min, 32)) : max;
  const { invocations, memory } = workgroupRoom(info);
  if (SGM_SUBGROUPS * lanes > invocations) return null;
  const configs = info.subgroupMatrixConfigs
    .filter((c) => c.componentType === element && c.resultComponentType === SGM_ELEMENTS[element].result && SGM_BLOCK_M % c.M === 0 && SGM_BLOCK_N % c.N === 0)
    .sort(byFragmentSize);
  for (const { M, N, K } of configs) {
    const bk = fittingKStep(element, { M, N, K }, memory);
    if (bk) return { M, N, K, lanes, pinned, bk };
  }
  return null;
}

/** The kernels of skinny products (profile matmul.skinny; matmul-skinny.ts). */
export const SKINNY_KERNELS = ['element', 'columns', 'workgroup'] as const;
export type SkinnyKernel = (typeof SKINNY_KERNELS)[number];

/** The ways GPUs' attention backward may compute dk and dv (profile attentionKeys). */
export const ATTENTION_KEYS = ['together', 'split'] as const;
export type AttentionKeys = (typeof ATTENTION_KEYS)[number];

/** How the texture matmul reads its operand textures (profile matmul.textureReads). */
export type TextureReads = 'storage' | 'sampled';

/**
 * Lanes a row gets by its length: the first step whose `upTo` (logits) the row's length is at
 * most, else the last (with no `upTo`: every longer row). Powers of two, 1 to 256.
 */
export type LanesByLength = readonly { upTo?: number; lanes: number }[];

/** The lanes of `steps` for a row of `length`. */
export const lanesByLength = (steps: LanesByLength, length: number): number => (steps.find((s) => s.upTo === undefined || length <= s.upTo) ?? steps.at(-1)!).lanes;

/** A draw's lanes (profile drawLanes) on every adapter; greedy's on GPUs. */
const DRAW_LANES: LanesByLength = [{ upTo: 2048, lanes: 32 }, { lanes: 256 }];
/** Greedy's lanes on CPU adapters: one lane a row for short rows. */
const CPU_GREEDY_LANES: LanesByLength = [{ upTo: 1024, lanes: 1 }, { lanes: 32 }];

export interface KernelProfile {
  matmul: {
    tiled: 'texture' | 'buffer';
    textureReads: TextureReads;
    skinnyRows: number;
    skinny: 'auto' | SkinnyKernel;
    tiles: 'auto' | TileName;
    splits: 'auto' | number;
    tileCandidates: readonly TileName[];
    subgroupMatrix: SubgroupMatrixTiling | null;
    int8SubgroupMatrix: SubgroupMatrixTiling | null;
  };
  subgroupSharing: boolean;
  attentionKeys: 'auto' | AttentionKeys;
  rowLanes: 'by-rows' | 1 | 64;
  rowVec4: boolean;
  drawLanes: LanesByLength;
  greedyLanes: LanesByLength;
  splitSums: boolean;
  f16: boolean;
  trainingDtype: 'float32' | 'float16';
  bindingLimit: number;
  bufferLimit: number;
  offsetAlignment: number;
}

/**
 * The deepest int8 tensor-core product: its i32 sums of K products of two int8 values in
 * [-127, 127] stay below 2^31 (past it they would wrap on every adapter, silently).
 */
export const INT8_TENSOR_CORE_MAX_K = Math.floor((2 ** 31 - 1) / 127 ** 2);

/**
 * The int8 tensor cores' tiling when an int8-weight product of M rows and depth K runs on them
 * (prompt processing: more rows than skinnyRows; rows of whole words, K a multiple of 4; K at most
 * INT8_TENSOR_CORE_MAX_K), else null.
 */
export function int8TensorCoresFor(M: number, K: number): SubgroupMatrixTiling | null {
  const { skinnyRows, int8SubgroupMatrix } = profile().matmul;
  return M > skinnyRows && K > 0 && K % 4 === 0 && K <= INT8_TENSOR_CORE_MAX_K ? int8SubgroupMatrix : null;
}

/** Overrides of some decisions; nested objects are merged. */
export type ProfileOverrides = Partial<Omit<KernelProfile, 'matmul'>> & { matmul?: Partial<KernelProfile['matmul']> };

/** Subgroup size the sharing kernels are written for. */
export const SHARING_LANES = 8;

const isMesaCpuDriver = (info: DeviceInfo) => /llvmpipe|lavapipe/i.test(info.description);

/** Whether shaders may read storage textures here (what textureReads 'storage' needs). */
const canReadStorageTextures = (info: DeviceInfo) => info.wgslFeatures.includes('readonly_and_readwrite_storage_textures');

/** Whether the adapter has subgroups of exactly SHARING_LANES lanes (what subgroupSharing needs). */
function canShareSubgroups(info: DeviceInfo): boolean {
  const [min, max] = info.subgroupSizes ?? [0, 0];
  return info.features.includes('subgroups') && min === SHARING_LANES && max === SHARING_LANES;
}

/** The profile this adapter gets when nothing is overridden. */
export function detectProfile(info: DeviceInfo): KernelProfile {
  const cpu = info.isFallbackAdapter;
  const p: KernelProfile = {
    matmul: { tiled: isMesaCpuDriver(info) ? 'texture' : 'buffer', textureReads: canReadStorageTextures(info) ? 'storage' : 'sampled', skinnyRows: cpu ? 8 : 4, skinny: cpu ? 'columns' : 'auto', tiles: 'auto', splits: 'auto',
      tileCandidates: cpu ? CPU_TILE_CANDIDATES : GPU_TILE_CANDIDATES,
      subgroupMatrix: detectSubgroupMatrix(info), int8SubgroupMatrix: detectSubgroupMatrix(info, 'i8'),
    },
    subgroupSharing: cpu && canShareSubgroups(info),
    attentionKeys: cpu ? 'together' : 'auto',
    rowLanes: cpu ? 'by-rows' : 64,
    rowVec4: cpu,
    drawLanes: DRAW_LANES,
    greedyLanes: cpu ? CPU_GREEDY_LANES : DRAW_LANES,
    splitSums: !cpu,
    f16: info.features.includes('shader-f16'),
    trainingDtype: 'float32',
    bindingLimit: Math.min(info.limits.maxStorageBufferBindingSize ?? 2 ** 27, info.limits.maxBufferSize ?? 2 ** 28),
    bufferLimit: info.limits.maxBufferSize ?? 2 ** 28,
    offsetAlignment: info.limits.minStorageBufferOffsetAlignment ?? 256,
  };
  return { ...p, trainingDtype: halfTrainingDtype(p) };
}

/** Train in float16 only where its products run on tensor cores. */
const halfTrainingDtype = (p: KernelProfile) => (p.f16 && p.matmul.subgroupMatrix ? 'float16' : 'float32');

/** The fast paths the device-start self-check verifies (self-check.ts); turning one off is a profile decision. */
export type FastPath = 'subgroup-matrix' | 'f16-buffer' | 'int8-subgroup-matrix';

/**
 * What turning a fast path off changes: tensor cores give way to the f32 products' path (int8
 * weights: the float32-activation kernels); without the f16 kernels there is no float16.
 */
const TURN_OFF: Record<FastPath, ProfileOverrides> = {
  'subgroup-matrix': { matmul: { subgroupMatrix: null } },
  'f16-buffer': { f16: false },
  'int8-subgroup-matrix': { matmul: { int8SubgroupMatrix: null } },
};

/** What the self-check found of a fast path on an adapter: right ('verified'), or wrong and turned off ('off'). */
export type Verdict = 'verified' | 'off';
const verdicts = new WeakMap<DeviceInfo, Map<FastPath, Verdict>>();

/** Records the self-check's verdict on `path` for this adapter, for the rest of the process. */
export function recordVerdict(info: DeviceInfo, path: FastPath, verdict: Verdict): void {
  verdicts.set(info, new Map([...verdictsOf(info), [path, verdict]]));
  cached = null;
}

/** The self-check's verdicts on this adapter so far. */
export const verdictsOf = (info: DeviceInfo): ReadonlyMap<FastPath, Verdict> => verdicts.get(info) ?? new Map();

/** Forgets every verdict, turning the fast paths back on (tests that turned one off). */
export function forgetVerdicts(info: DeviceInfo): void {
  verdicts.delete(info);
  cached = null;
}

let overrides: ProfileOverrides = {};
let simulated: DeviceInfo | null = null;
let cached: { info: DeviceInfo; overrides: ProfileOverrides; profile: KernelProfile } | null = null;

/** The profile kernels follow now: the adapter's, less the fast paths turned off, with any overrides applied. */
export function profile(): KernelProfile {
  const info = device().info;
  if (cached?.info !== info || cached.overrides !== overrides) cached = { info, overrides, profile: resolve(info, overrides) };
  return cached.profile;
}

/** `o` applied over `p` (nested objects merged). */
export const merge = <P extends ProfileOverrides>(p: P, o: ProfileOverrides): P => ({ ...p, ...o, matmul: { ...p.matmul, ...o.matmul } });

function resolve(info: DeviceInfo, o: ProfileOverrides): KernelProfile {
  const off = [...verdictsOf(info)].filter(([, v]) => v === 'off');
  const detected = simulated ? withinAdapter(detectProfile(simulated), info) : detectProfile(info);
  const base = off.reduce((p, [path]) => merge(p, TURN_OFF[path]), detected);
  const p = merge(base, o);
  p.subgroupSharing &&= canShareSubgroups(info); // never forced onto subgroups of another size
  p.f16 &&= info.features.includes('shader-f16'); // never forced onto an adapter without it
  if (!canReadStorageTextures(info)) p.matmul.textureReads = 'sampled'; // nor storage-texture reads onto a platform without them
  // nor tensor cores onto an adapter without them, or without float16
  // (software fragments excepted: they need float16 only)
  if (!p.f16 || !(detectSubgroupMatrix(info) || p.matmul.subgroupMatrix?.emulated)) p.matmul.subgroupMatrix = null;
  if (!(detectSubgroupMatrix(info, 'i8') || p.matmul.int8SubgroupMatrix?.emulated)) p.matmul.int8SubgroupMatrix = null;
  if (o.trainingDtype === undefined) p.trainingDtype = halfTrainingDtype(p); // follows the fast paths left on
  if (!p.f16) p.trainingDtype = 'float32';
  return p;
}

/**
 * Tests (test/simulate-adapter.ts): kernels choose as detectProfile does for the adapter `info`
 * describes (a GPU's families on lavapipe), setProfile's overrides over that, within what this
 * adapter can run (withinAdapter); null goes back to this adapter's own choices.
 */
export function simulateAdapter(info: DeviceInfo | null): void {
  simulated = info;
  cached = null;
}

/**
 * `p`, another adapter's profile, cut to what `info`'s runs: its binding and buffer limits where
 * smaller, offsets aligned for both, that adapter's tensor cores in software (its fragments, a K
 * step whose workgroup fits here).
 */
function withinAdapter(p: KernelProfile, info: DeviceInfo): KernelProfile {
  const own = detectProfile(info);
  const { subgroupMatrix: f16, int8SubgroupMatrix: i8 } = p.matmul;
  return {
    ...p,
    matmul: { ...p.matmul, subgroupMatrix: f16 && emulatedTiling(info, 'f16', f16), int8SubgroupMatrix: i8 && emulatedTiling(info, 'i8', i8) },
    bindingLimit: Math.min(p.bindingLimit, own.bindingLimit),
    bufferLimit: Math.min(p.bufferLimit, own.bufferLimit),
    offsetAlignment: Math.max(p.offsetAlignment, own.offsetAlignment), // both powers of two
  };
}

/** Overrides decisions until the next call; null goes back to the adapter's profile. */
export function setProfile(next: ProfileOverrides | null): void {
  overrides = next ?? {};
}

/** The overrides in force (to restore them after a temporary setProfile). */
export const profileOverrides = (): ProfileOverrides => overrides;

/** Why float16 kernels cannot run here, or null where they can. */
export function whyNoF16(): string | null {
  if (profile().f16) return null;
  return device().info.features.includes('shader-f16') ? 'float16 is turned off in the kernel profile' : `the adapter (${device().info.description || device().info.vendor || 'unnamed'}) has no shader-f16 feature`;
}

/** Throws an error naming `op` unless float16 kernels can run here. */
export function requireF16(op: string): void {
  const why = whyNoF16();
  if (why) throw new TypeError(`${op}: float16 tensors need WebGPU's shader-f16 feature, and ${why}; use float32`);
}

export interface ProfileVariant {
  name: string;
  overrides: ProfileOverrides;
}

/**
 * Every variant this adapter can run, each family at least once: the adapter's own profile, the
 * subgroup-matrix matmul where the adapter has one, the GPU paths without it, and where the
 * adapter has 8-lane subgroups the CPU paths without sharing and with one lane per row whatever
 * the row count (and the texture matmul on sampled textures); and the adapter's profile with a
 * tiny binding limit.
 */
export function profileVariants(): ProfileVariant[] {
  const info = device().info;
  const [tensorCores, int8TensorCores] = [detectSubgroupMatrix(info), detectSubgroupMatrix(info, 'i8')];
  const candidates: ProfileVariant[] = [
    { name: 'adapter', overrides: {} },
    // tensor cores where the adapter has them, even if the self-check turned them off (this column then shows why)
    ...(tensorCores || int8TensorCores
      ? [{ name: 'subgroup-matrix', overrides: { f16: true, matmul: { tiled: 'buffer' as const, subgroupMatrix: tensorCores, int8SubgroupMatrix: int8TensorCores } } }]
      : []),
    // the GPU paths, products on the 128x128 tiles with K in 3 splits that GPT-2's products take on
    // a GPU (a check's small products would get 64x64 tiles and no split: the adapter's own profile runs those)
    { name: 'gpu', overrides: { matmul: { tiled: 'buffer', skinny: 'workgroup', subgroupMatrix: null, int8SubgroupMatrix: null, tiles: 'large', splits: 3 }, subgroupSharing: false, attentionKeys: 'split', rowLanes: 64, rowVec4: false, greedyLanes: DRAW_LANES, splitSums: true } },
    { name: 'cpu', overrides: { matmul: { tiled: 'texture', textureReads: 'sampled', skinny: 'columns' }, subgroupSharing: false, rowLanes: 1, rowVec4: false, greedyLanes: CPU_GREEDY_LANES, splitSums: false } },
    { name: 'cpu-sharing', overrides: { matmul: { tiled: 'texture', skinny: 'element' }, subgroupSharing: true, rowLanes: 1, rowVec4: true, greedyLanes: CPU_GREEDY_LANES, splitSums: false } },
    // tensors past a 4 KiB binding: every windowed path (elementwise pieces, embedding and AdamW
    // windows, the chunked LM head) on the small tensors of a check
    { name: 'small-bindings', overrides: { bindingLimit: 4096, offsetAlignment: 256 } },
  ];
  const seen = new Set<string>();
  return candidates.filter((v) => {
    const key = JSON.stringify(resolve(info, v.overrides));
    return !seen.has(key) && seen.add(key);
  });
}

/** The H200's tensor-core fragments (issue #14), in software; the K step is chosen as on a real adapter. */
const EMULATED: Record<SgmElement, Omit<SubgroupMatrixTiling, 'bk'>> = {
  f16: { M: 16, N: 16, K: 16, lanes: 32, pinned: false, emulated: true },
  i8: { M: 16, N: 16, K: 32, lanes: 32, pinned: false, emulated: true },
};

/**
 * The fragments of `t` in software on the adapter `info` describes, with the largest K step whose
 * workgroup fits it (as detectSubgroupMatrix picks), or null where the workgroup does not fit.
 */
function emulatedTiling(info: DeviceInfo, element: SgmElement, { M, N, K, lanes }: Pick<SubgroupMatrixTiling, 'M' | 'N' | 'K' | 'lanes'>): SubgroupMatrixTiling | null {
  const { invocations, memory } = workgroupRoom(info);
  const bk = fittingKStep(element, { M, N, K }, memory);
  return bk && SGM_SUBGROUPS * lanes <= invocations ? { M, N, K, lanes, pinned: false, bk, emulated: true } : null;
}

/**
 * The profile variant that runs float16 and int8 products through the tensor-core kernels' tiling
 * with software fragments (tests: their numbers on any adapter), where the adapter has float16 and
 * room for those workgroups (the largest K step that fits, as detectSubgroupMatrix picks); else null.
 */
export function emulatedTensorCores(): ProfileVariant | null {
  const info = device().info;
  const [f16, i8] = [emulatedTiling(info, 'f16', EMULATED.f16), emulatedTiling(info, 'i8', EMULATED.i8)];
  if (!info.features.includes('shader-f16') || !f16 || !i8) return null;
  return { name: 'emulated tensor cores', overrides: { f16: true, matmul: { tiled: 'buffer', subgroupMatrix: f16, int8SubgroupMatrix: i8 } } };
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
  return { tiles: chosen, splits: splits !== 'auto' ? splits : splitsToFill(count(chosen), K) };
}

/** The default K splits of a tensor-core product (SGM_TILE-square tiles) for `batch` products of M x K · K x N. */
export function tensorCoreSplits(M: number, N: number, K: number, batch: number): number {
  const { splits } = profile().matmul;
  return splits !== 'auto' ? splits : splitsToFill(Math.ceil(M / SGM_TILE) * Math.ceil(N / SGM_TILE) * batch, K);
}

/** Splits of depth K that bring `workgroups` tiles near BUSY_WORKGROUPS, MIN_SPLIT_K a split at least. */
const splitsToFill = (workgroups: number, K: number) => Math.max(1, Math.min(MAX_SPLITS, Math.round(BUSY_WORKGROUPS / workgroups), maxSplits(K)));

/** The splits worth trying for a depth K: each split gets MIN_SPLIT_K at least. */
const maxSplits = (K: number) => Math.max(1, Math.min(MAX_SPLITS, Math.floor(K / MIN_SPLIT_K)));

/** The K splits worth measuring for a product of depth K (autotuning candidates; the tensor-core family's). */
export function splitCandidates(K: number): readonly number[] {
  const max = maxSplits(K);
  let list = splitsUpTo.get(max);
  if (!list) splitsUpTo.set(max, (list = [1, 2, 4, 8, 16].filter((s) => s <= max)));
  return list;
}
/** splitCandidates by their bound (asked for at every product: each list built once). */
const splitsUpTo = new Map<number, readonly number[]>();

/**
 * The tilings worth measuring for a product of depth K on this adapter (autotuning candidates): the
 * profile's tile candidates, those of the default's tiles first (their kernels are the likeliest
 * compiled already: the default's), each with every split worth trying, fewest first.
 */
export function matmulTilings(K: number, first: TileName = 'large'): readonly MatmulTiling[] {
  const max = maxSplits(K);
  const candidates = profile().matmul.tileCandidates;
  const key = `${max} ${first} ${candidates.join()}`;
  let list = tilingsBy.get(key);
  if (!list) {
    const tiles = [...candidates].sort((x, y) => +(y === first) - +(x === first));
    tilingsBy.set(key, (list = tiles.flatMap((t) => splitCandidates(K).map((s) => ({ tiles: t, splits: s })))));
  }
  return list;
}
/** matmulTilings by their bound on splits, first tiles and tile candidates (asked for at every product: each list built once). */
const tilingsBy = new Map<string, readonly MatmulTiling[]>();

/** Whether the tiling of buffer matmuls is the profile's to choose (then autotuning may refine it). */
export const matmulTilingIsAuto = () => profile().matmul.tiles === 'auto' && profile().matmul.splits === 'auto';
