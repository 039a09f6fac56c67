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
//   subgroupSharing   on CPU adapters whose subgroups are exactly 8 lanes (one 256-bit SIMD
//                     instruction on llvmpipe), the texture matmul and attention share loads with
//                     subgroupBroadcast; GPUs keep the kernels tuned for them.
//   rowLanes          row kernels (softmax, LayerNorm, cross-entropy, reductions) give a row 64 lanes
//                     and a tree reduction on GPUs; CPU adapters give a row one lane, without
//                     barriers, once there are at least 256 rows to keep their threads busy.
import { device, type DeviceInfo } from '../device/device.js';

export interface KernelProfile {
  matmul: { tiled: 'texture' | 'buffer'; skinnyRows: number };
  subgroupSharing: boolean;
  rowLanes: 'by-rows' | 1 | 64;
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
    matmul: { tiled: isMesaCpuDriver(info) ? 'texture' : 'buffer', skinnyRows: 4 },
    subgroupSharing: cpu && canShareSubgroups(info),
    rowLanes: cpu ? 'by-rows' : 64,
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
  return p;
}

/** Overrides decisions until the next call; null goes back to the adapter's profile. */
export function setProfile(next: ProfileOverrides | null): void {
  overrides = next ?? {};
}

export interface ProfileVariant {
  name: string;
  overrides: ProfileOverrides;
}

/**
 * Every variant this adapter can run, each family at least once: the adapter's own profile, the
 * GPU paths, and where the adapter has 8-lane subgroups the CPU paths without sharing and with one
 * lane per row whatever the row count.
 */
export function profileVariants(): ProfileVariant[] {
  const info = device().info;
  const candidates: ProfileVariant[] = [
    { name: 'adapter', overrides: {} },
    { name: 'gpu', overrides: { matmul: { tiled: 'buffer' }, subgroupSharing: false, rowLanes: 64 } },
    { name: 'cpu', overrides: { matmul: { tiled: 'texture' }, subgroupSharing: false, rowLanes: 1 } },
    { name: 'cpu-sharing', overrides: { matmul: { tiled: 'texture' }, subgroupSharing: true, rowLanes: 1 } },
  ];
  const seen = new Set<string>();
  return candidates.filter((v) => {
    const key = JSON.stringify(resolve(info, v.overrides));
    return !seen.has(key) && seen.add(key);
  });
}
