// The kernel profile on made-up GPU adapters of each vendor's shape (none of which the tests run
// on): whatever it picks must fit the adapter, since a GPU's first run is also the first time
// these choices meet one. Subgroup sizes come as a range [min, max]: a layout written for a
// number of lanes needs that number fixed by the adapter or pinned with subgroup-size-control.
// The fixed-size GPU kernels must fit WebGPU's default limits (a browser tab's: 256 invocations,
// 16 KiB of workgroup memory), which every adapter grants.
import { describe, expect, it } from 'vitest';
import type { DeviceInfo, SubgroupMatrixConfig } from '../src/device/adapter.js';
import { detectProfile, SGM_SUBGROUPS, sgmWorkgroupBytes, TILES, type SgmElement } from '../src/kernels/profile.js';

const config = (componentType: string, resultComponentType: string, M: number, N: number, K: number): SubgroupMatrixConfig => ({ componentType, resultComponentType, M, N, K });
const TENSOR_CORES = [config('f16', 'f32', 16, 16, 16), config('f16', 'f32', 16, 8, 16), config('i8', 'i32', 16, 16, 32)];
const BROWSER_DEFAULTS = { maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256, maxStorageBufferBindingSize: 2 ** 27, maxBufferSize: 2 ** 28, minStorageBufferOffsetAlignment: 256 };
const FEATURES = ['chromium-experimental-subgroup-matrix', 'shader-f16', 'subgroups', 'timestamp-query'];

function gpu(name: string, subgroupSizes: [number, number], over: { features?: string[]; limits?: Record<string, number>; configs?: SubgroupMatrixConfig[] } = {}): [string, DeviceInfo] {
  const limits = { maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 1024, maxComputeWorkgroupSizeX: 1024, maxStorageBufferBindingSize: 2 ** 31, maxBufferSize: 2 ** 34, minStorageBufferOffsetAlignment: 32, ...over.limits };
  const info: DeviceInfo = {
    platform: 'node', vendor: name.split(' ')[0]!.toLowerCase(), architecture: '', device: '', description: name, backend: 'vulkan', isFallbackAdapter: false,
    features: over.features ?? FEATURES, wgslFeatures: ['readonly_and_readwrite_storage_textures'], limits, subgroupSizes, subgroupMatrixConfigs: over.configs ?? TENSOR_CORES,
  };
  return [name, info];
}

const ADAPTERS = [
  gpu('NVIDIA H100', [32, 32], { limits: { maxComputeWorkgroupStorageSize: 49152 } }),
  gpu('NVIDIA H100 in a browser tab', [32, 32], { limits: BROWSER_DEFAULTS }),
  gpu('AMD RDNA3, subgroup-size-control', [32, 64], { features: [...FEATURES, 'subgroup-size-control'] }),
  gpu('AMD RDNA3', [32, 64]),
  gpu('AMD GCN', [64, 64]),
  gpu('AMD GCN in a browser tab', [64, 64], { limits: BROWSER_DEFAULTS }),
  gpu('Intel Arc, subgroup-size-control', [8, 32], { features: [...FEATURES, 'subgroup-size-control'], configs: [config('f16', 'f32', 8, 16, 16), config('i8', 'i32', 8, 16, 32)] }),
  gpu('Intel Xe, 16 lanes at most', [8, 16], { features: [...FEATURES, 'subgroup-size-control'], limits: BROWSER_DEFAULTS }),
  gpu('Apple M2 (Metal)', [32, 32], { configs: [config('f16', 'f32', 8, 8, 8)] }),
  gpu('a GPU without tensor cores', [32, 32], { features: ['shader-f16', 'subgroups'], configs: [] }),
];

describe('the profile on GPU adapters', () => {
  it.each(ADAPTERS)('%s: GPU kernels, and tensor cores only where their workgroup fits and their subgroup size is known', (_, info) => {
    const p = detectProfile(info);
    const [min, max] = info.subgroupSizes!;
    const room = Math.min(info.limits.maxComputeInvocationsPerWorkgroup!, info.limits.maxComputeWorkgroupSizeX!);
    expect(p.matmul.tiled).toBe('buffer');
    expect(p.subgroupSharing).toBe(false); // the sharing kernels are for 8-lane CPU subgroups
    expect([p.rowLanes, p.rowVec4, p.splitSums]).toEqual([64, false, true]); // 64 lanes a row read scalars, coalesced
    // sampleLogits: a warp or more a row, greedy as a draw (no lane-a-row layout: a GPU has rows' worth of lanes)
    expect([p.drawLanes, p.greedyLanes]).toEqual([[{ upTo: 2048, lanes: 32 }, { lanes: 256 }], [{ upTo: 2048, lanes: 32 }, { lanes: 256 }]]);
    expect(p.bindingLimit).toBeLessThanOrEqual(Math.min(info.limits.maxStorageBufferBindingSize!, info.limits.maxBufferSize!));
    expect(p.offsetAlignment).toBe(info.limits.minStorageBufferOffsetAlignment);
    for (const [element, t] of [['f16', p.matmul.subgroupMatrix], ['i8', p.matmul.int8SubgroupMatrix]] as const) {
      if (!t) continue;
      expect(SGM_SUBGROUPS * t.lanes, `${element} workgroup invocations`).toBeLessThanOrEqual(room);
      expect(sgmWorkgroupBytes(t, element as SgmElement), `${element} workgroup memory`).toBeLessThanOrEqual(info.limits.maxComputeWorkgroupStorageSize!);
      expect(t.lanes).toBeGreaterThanOrEqual(min);
      expect(t.lanes).toBeLessThanOrEqual(max);
      // a range needs the size pinned, which needs the feature; a fixed size is the adapter's
      expect(t.pinned).toBe(min !== max);
      if (t.pinned) expect(info.features).toContain('subgroup-size-control');
      else expect(t.lanes).toBe(max);
      expect(info.subgroupMatrixConfigs).toContainEqual(expect.objectContaining({ componentType: element, M: t.M, N: t.N, K: t.K }));
      expect(t.bk % t.K).toBe(0);
    }
    expect(p.trainingDtype).toBe(p.matmul.subgroupMatrix ? 'float16' : 'float32');
  });

  it('which of them get tensor cores', () => {
    const lanes = Object.fromEntries(ADAPTERS.map(([name, info]) => [name, detectProfile(info).matmul.subgroupMatrix?.lanes ?? null]));
    expect(lanes).toEqual({
      'NVIDIA H100': 32,
      'NVIDIA H100 in a browser tab': 32,
      'AMD RDNA3, subgroup-size-control': 32,
      'AMD RDNA3': null, // 32 or 64 lanes, and nothing to pin them
      'AMD GCN': 64,
      'AMD GCN in a browser tab': null, // 8 subgroups of 64 lanes: 512 invocations, past 256
      'Intel Arc, subgroup-size-control': 32,
      'Intel Xe, 16 lanes at most': 16,
      'Apple M2 (Metal)': 32,
      'a GPU without tensor cores': null,
    });
  });

  it("the register-tiled kernel's tiles fit WebGPU's default limits", () => {
    for (const { bm, bn, bk, tm, tn } of Object.values(TILES)) {
      expect((bm / tm) * (bn / tn)).toBeLessThanOrEqual(BROWSER_DEFAULTS.maxComputeInvocationsPerWorkgroup);
      expect(4 * bk * (bm + bn)).toBeLessThanOrEqual(BROWSER_DEFAULTS.maxComputeWorkgroupStorageSize);
    }
  });
});

describe('what the autotuner measures, by adapter', () => {
  // headless Chromium's CPU adapter as the browser test meets it: a fallback adapter, not Mesa's
  const swiftShader: DeviceInfo = { ...gpu('SwiftShader Device (Subzero)', [4, 4])[1], vendor: 'google', isFallbackAdapter: true, features: ['timestamp-query'], subgroupMatrixConfigs: [] };

  it.each(ADAPTERS)("%s: both tile sizes, and attention's dk and dv together or split", (_, info) => {
    expect(detectProfile(info).matmul.tileCandidates).toEqual(['large', 'small']);
    expect(detectProfile(info).attentionKeys).toBe('auto');
  });

  it("a CPU adapter: the 64x64 tiles alone (128x128 ones took seconds to compile on SwiftShader), and dk and dv together, unmeasured", () => {
    const p = detectProfile(swiftShader);
    expect([p.matmul.tiled, p.matmul.tiles, p.matmul.splits, p.matmul.tileCandidates, p.attentionKeys]).toEqual(['buffer', 'auto', 'auto', ['small'], 'together']);
  });
});
