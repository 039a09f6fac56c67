// An NVIDIA H200 as Dawn describes it (issue #14: its subgroup-matrix configurations, subgroups of
// 32), for the profile's choices on a GPU: test/subgroup-matrix.test.ts, test/simulate-adapter.ts.
import type { DeviceInfo, SubgroupMatrixConfig } from '../src/device/adapter.js';

/** A subgroup-matrix configuration: M x K · K x N fragments of componentType, summed in resultComponentType. */
export const config = (componentType: string, resultComponentType: string, M: number, N: number, K: number): SubgroupMatrixConfig => ({ componentType, resultComponentType, M, N, K });

/** What Dawn reported on an NVIDIA H200 (issue #14): 10 configurations, subgroups of 32. */
export const H200_CONFIGS: SubgroupMatrixConfig[] = [
  ...(['f16', 'f32'] as const).flatMap((r) => [config('f16', r, 16, 16, 16), config('f16', r, 16, 8, 16), config('f16', r, 16, 8, 8)]),
  config('u8', 'u32', 16, 16, 32), config('u8', 'u32', 16, 8, 32), config('i8', 'i32', 16, 16, 32), config('i8', 'i32', 16, 8, 32),
];

/** The H200, with `over` and `limits` changed. */
export function h200(over: Partial<DeviceInfo> = {}, limits: Record<string, number> = {}): DeviceInfo {
  return {
    platform: 'node', vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H200', backend: 'vulkan', isFallbackAdapter: false,
    features: ['chromium-experimental-subgroup-matrix', 'shader-f16', 'subgroups', 'timestamp-query'],
    wgslFeatures: ['readonly_and_readwrite_storage_textures'],
    limits: { maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 1024, maxComputeWorkgroupSizeX: 1024, maxStorageBufferBindingSize: 2 ** 31, maxBufferSize: 2 ** 32, minStorageBufferOffsetAlignment: 256, ...limits },
    subgroupSizes: [32, 32],
    subgroupMatrixConfigs: H200_CONFIGS,
    ...over,
  };
}
