// The subgroup-matrix (tensor-core) matmul without a GPU: the profile's choice of configuration,
// subgroup size and K step for made-up adapters (an H200 as issue #14 lists it, and variations),
// for float16 products and for int8 weights' prompt processing (i8 -> i32), and its WGSL compiled
// and validated by Dawn's null backend, which has the feature but runs nothing. Its numbers (the
// int8 kernel's too) cannot be checked here: the device-start self-check (self-check.test.ts)
// checks them wherever the feature exists, and `gpt doctor --check` runs every op on it there.
import { afterAll, describe, expect, it } from 'vitest';
import type { SubgroupMatrixConfig } from '../src/device/adapter.js';
import { detectProfile, detectSubgroupMatrix, sgmWorkgroupBytes, type SubgroupMatrixTiling } from '../src/kernels/profile.js';
import { subgroupMatrixKernel, type SubgroupMatrixVariant } from '../src/kernels/wgsl/matmul-subgroup-matrix.js';
import type { Kernel } from '../src/kernels/kernel.js';
import { config, H200_CONFIGS, h200 } from './h200.js';

describe('the profile picks tensor cores', () => {
  it("an H200: 16x16x16 f16 -> f32 fragments, its fixed 32-lane subgroups, K step 32", () => {
    expect(detectSubgroupMatrix(h200())).toEqual({ M: 16, N: 16, K: 16, lanes: 32, pinned: false, bk: 32 });
    expect(detectProfile(h200()).matmul.subgroupMatrix).toEqual(detectSubgroupMatrix(h200()));
    expect(detectProfile(h200()).trainingDtype, 'gpt train --dtype auto').toBe('float16');
  });

  it('the largest f16 -> f32 fragments there are, never f16 -> f16 or integer ones', () => {
    const only = (...keep: SubgroupMatrixConfig[]) => detectSubgroupMatrix(h200({ subgroupMatrixConfigs: keep }));
    expect(only(config('f16', 'f32', 16, 8, 8), config('f16', 'f32', 16, 8, 16))).toMatchObject({ M: 16, N: 8, K: 16 });
    expect(only(config('f16', 'f32', 8, 8, 8))).toMatchObject({ M: 8, N: 8, K: 8, bk: 32 }); // Apple's simdgroup shape
    expect(only(...H200_CONFIGS.filter((c) => c.resultComponentType !== 'f32'))).toBeNull();
    expect(only(config('f16', 'f32', 16, 16, 64))).toBeNull(); // K beyond the K step
  });

  it('none without the feature, shader-f16 or a known subgroup size', () => {
    const without = (f: string) => h200({ features: h200().features.filter((x) => x !== f) });
    expect(detectProfile(without('chromium-experimental-subgroup-matrix')).trainingDtype, 'no tensor cores: float32 is the default').toBe('float32');
    expect(detectSubgroupMatrix(without('chromium-experimental-subgroup-matrix'))).toBeNull();
    expect(detectSubgroupMatrix(without('shader-f16'))).toBeNull();
    expect(detectSubgroupMatrix(h200({ subgroupSizes: null }))).toBeNull();
    // subgroups of 32 to 64 lanes: only subgroup-size-control can pin the layout's 32
    expect(detectSubgroupMatrix(h200({ subgroupSizes: [32, 64] }))).toBeNull();
    const pinned = h200({ subgroupSizes: [32, 64], features: [...h200().features, 'subgroup-size-control'] });
    expect(detectSubgroupMatrix(pinned)).toMatchObject({ lanes: 32, pinned: true });
  });

  it('a K step of 16 where workgroup memory is short, none where even that does not fit; none past the invocation limit', () => {
    expect(detectSubgroupMatrix(h200({}, { maxComputeWorkgroupStorageSize: 16384 }))).toMatchObject({ M: 16, N: 16, bk: 16 });
    expect(detectSubgroupMatrix(h200({}, { maxComputeWorkgroupStorageSize: 8192 }))).toBeNull();
    expect(detectSubgroupMatrix(h200({ subgroupSizes: [64, 64] }, { maxComputeInvocationsPerWorkgroup: 256 }))).toBeNull();
  });

  it('a CPU driver without the feature keeps its texture matmul for float16', () => {
    const lavapipe = h200({ description: 'llvmpipe (LLVM 19.1.7, 256 bits)', isFallbackAdapter: true, features: ['shader-f16', 'subgroups'], subgroupMatrixConfigs: [], subgroupSizes: [8, 8] });
    expect(detectProfile(lavapipe).matmul).toMatchObject({ tiled: 'texture', subgroupMatrix: null });
    expect(detectProfile(lavapipe).trainingDtype, 'gpt train --dtype auto').toBe('float32');
  });
});

describe('the profile picks int8 tensor cores for int8 weights', () => {
  it('an H200: 16x16x32 i8 -> i32 fragments, its 32-lane subgroups, K step 64 (the bytes of f16\'s 32)', () => {
    const int8 = { M: 16, N: 16, K: 32, lanes: 32, pinned: false, bk: 64 };
    expect(detectSubgroupMatrix(h200(), 'i8')).toEqual(int8);
    expect(detectProfile(h200()).matmul.int8SubgroupMatrix).toEqual(int8);
    expect(sgmWorkgroupBytes(int8, 'i8')).toBe(sgmWorkgroupBytes(detectSubgroupMatrix(h200())!));
  });

  it('only i8 -> i32 configurations, the largest there is; none without them', () => {
    const only = (...keep: SubgroupMatrixConfig[]) => detectSubgroupMatrix(h200({ subgroupMatrixConfigs: keep }), 'i8');
    expect(only(config('i8', 'i32', 16, 8, 32))).toMatchObject({ M: 16, N: 8, K: 32, bk: 64 });
    expect(only(...H200_CONFIGS.filter((c) => c.componentType !== 'i8'))).toBeNull(); // f16 and u8 ones
    expect(only(config('i8', 'i32', 16, 16, 128))).toBeNull(); // K beyond the K step
    const noInt8 = h200({ subgroupMatrixConfigs: H200_CONFIGS.filter((c) => c.componentType !== 'i8') });
    expect(detectProfile(noInt8).matmul).toMatchObject({ int8SubgroupMatrix: null, subgroupMatrix: { M: 16, N: 16, K: 16 } });
  });

  it('needs the feature and subgroups but not shader-f16; K step 32 where workgroup memory is 16 KiB, smaller fragments in 12 KiB, none in 8', () => {
    const without = (f: string) => h200({ features: h200().features.filter((x) => x !== f) });
    expect(detectSubgroupMatrix(without('shader-f16'), 'i8')).toMatchObject({ M: 16, N: 16, K: 32 });
    expect(detectProfile(without('shader-f16')).matmul).toMatchObject({ subgroupMatrix: null, int8SubgroupMatrix: { M: 16 } });
    expect(detectSubgroupMatrix(without('chromium-experimental-subgroup-matrix'), 'i8')).toBeNull();
    expect(detectSubgroupMatrix(without('subgroups'), 'i8')).toBeNull();
    expect(detectSubgroupMatrix(h200({}, { maxComputeWorkgroupStorageSize: 16384 }), 'i8')).toMatchObject({ bk: 32 });
    expect(detectSubgroupMatrix(h200({}, { maxComputeWorkgroupStorageSize: 12288 }), 'i8')).toMatchObject({ M: 16, N: 8, bk: 32 }); // smaller fragments fit
    expect(detectSubgroupMatrix(h200({}, { maxComputeWorkgroupStorageSize: 8192 }), 'i8')).toBeNull();
    const lavapipe = h200({ description: 'llvmpipe (LLVM 19.1.7, 256 bits)', isFallbackAdapter: true, features: ['shader-f16', 'subgroups'], subgroupMatrixConfigs: [], subgroupSizes: [8, 8] });
    expect(detectProfile(lavapipe).matmul.int8SubgroupMatrix).toBeNull();
  });
});

// ---- Dawn's null backend -------------------------------------------------------------------

interface NullBackend {
  instance: GPU;
  device: GPUDevice;
  limit: number;
}

async function openNullDevice(): Promise<NullBackend | string> {
  try {
    const { create, globals } = (await import('webgpu')) as { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
    for (const [k, v] of Object.entries(globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    // the instance is kept with the device: collecting it would destroy Dawn under the device
    const instance = create(['backend=null', 'enable-dawn-features=allow_unsafe_apis']);
    const adapter = await instance.requestAdapter();
    const features = ['chromium-experimental-subgroup-matrix', 'shader-f16', 'subgroups', 'subgroup-size-control'] as GPUFeatureName[];
    if (!adapter) return 'the null backend gave no adapter';
    const missing = features.filter((f) => !adapter.features.has(f));
    if (missing.length) return `the null backend lacks ${missing.join(', ')}`;
    const limit = adapter.limits.maxComputeWorkgroupStorageSize;
    return { instance, device: await adapter.requestDevice({ requiredFeatures: features, requiredLimits: { maxComputeWorkgroupStorageSize: limit } }), limit };
  } catch (e) {
    return `Dawn's null backend is unavailable: ${(e as Error).message}`;
  }
}

const nullBackend = await openNullDevice();
if (typeof nullBackend === 'string') console.warn(`subgroup-matrix WGSL not validated: ${nullBackend}`);

/** The compiler's errors and warnings for `k`, then (when asked) pipeline creation's validation error. */
async function validate(device: GPUDevice, k: Kernel, pipeline: boolean): Promise<string[]> {
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ label: k.name, code: k.wgsl });
  const messages = (await module.getCompilationInfo()).messages.filter((m) => m.type !== 'info').map((m) => `${k.name}:${m.lineNum}:${m.linePos} ${m.type}: ${m.message}`);
  if (pipeline) {
    const layout = device.createPipelineLayout({ bindGroupLayouts: [device.createBindGroupLayout({ entries: k.layoutEntries })] });
    device.createComputePipeline({ layout, compute: { module, entryPoint: 'main' } });
  }
  const error = await device.popErrorScope();
  return error ? [...messages, `${k.name}: ${error.message.split('\n')[0]}`] : messages;
}

const f16ToF32 = H200_CONFIGS.filter((c) => c.componentType === 'f16' && c.resultComponentType === 'f32');
const layouts = [false, true].flatMap((transA) => [false, true].flatMap((transB) => [false, true].map((wide) => ({ transA, transB, wide }))));

describe.skipIf(typeof nullBackend === 'string')("the kernel's WGSL on Dawn's null backend", () => {
  const { device, limit } = nullBackend as NullBackend;
  afterAll(() => device.destroy());

  it.each(f16ToF32)('compiles and validates for the H200 configuration $M x $N x $K, both transposes, both load widths, f16 and f32 C', async ({ M, N, K }) => {
    const failures: string[] = [];
    for (const layout of layouts) {
      for (const out of ['f16', 'f32'] as const) {
        // as the H200 runs it (K step 32, its fixed 32-lane subgroups): the null backend's subgroups
        // vary up to 128 lanes and its workgroup memory is 16 KiB, so only the compiler judges it
        const h200: SubgroupMatrixTiling = { M, N, K, lanes: 32, pinned: false, bk: 32 };
        failures.push(...(await validate(device, subgroupMatrixKernel({ ...h200, element: 'f16', ...layout, out }), false)));
        // pinned to 32 lanes with the K step that fits here: the whole pipeline validates
        const here: SubgroupMatrixVariant = { M, N, K, lanes: 32, pinned: true, bk: 16, element: 'f16', ...layout, out };
        expect(sgmWorkgroupBytes(here)).toBeLessThanOrEqual(limit);
        failures.push(...(await validate(device, subgroupMatrixKernel(here), true)));
      }
    }
    expect(failures).toEqual([]);
  });

  const i8ToI32 = H200_CONFIGS.filter((c) => c.componentType === 'i8');
  it.each(i8ToI32)('the int8 kernel compiles and validates for the H200 configuration $M x $N x $K, x · Qᵀ, both load widths', async ({ M, N, K }) => {
    const failures: string[] = [];
    for (const wide of [false, true]) {
      const layout = { element: 'i8' as const, transA: false, transB: true, wide, out: 'f32' as const };
      failures.push(...(await validate(device, subgroupMatrixKernel({ M, N, K, lanes: 32, pinned: false, bk: 64, ...layout }), false)));
      const here: SubgroupMatrixVariant = { M, N, K, lanes: 32, pinned: true, bk: 32, ...layout };
      expect(sgmWorkgroupBytes(here, 'i8')).toBeLessThanOrEqual(limit);
      failures.push(...(await validate(device, subgroupMatrixKernel(here), true)));
    }
    expect(failures).toEqual([]);
  });

  it('the int8 kernel takes only the layout x · Qᵀ into f32, and its validation can fail too (an f16 fragment on u32 tiles)', async () => {
    const base: SubgroupMatrixVariant = { M: 16, N: 16, K: 32, lanes: 32, pinned: true, bk: 32, element: 'i8', transA: false, transB: true, wide: true, out: 'f32' };
    expect(() => subgroupMatrixKernel({ ...base, transB: false })).toThrow(/int8 operands are multiplied as A \[M, K\] · Qᵀ into f32 only/);
    expect(() => subgroupMatrixKernel({ ...base, out: 'f16' })).toThrow(/f32 only/);
    const k = subgroupMatrixKernel(base);
    const broken = { ...k, name: k.name, layoutEntries: k.layoutEntries, wgsl: k.wgsl.replaceAll('subgroup_matrix_left<i8', 'subgroup_matrix_left<f16') } as Kernel;
    expect(broken.wgsl).not.toBe(k.wgsl);
    expect(await validate(device, broken, true)).not.toEqual([]);
  });

  it('and the validation can fail: fragment offsets from the invocation index break subgroup uniformity', async () => {
    const k = subgroupMatrixKernel({ M: 16, N: 16, K: 16, lanes: 32, pinned: true, bk: 16, element: 'f16', transA: false, transB: false, wide: true, out: 'f16' });
    const broken = { ...k, name: k.name, layoutEntries: k.layoutEntries, wgsl: k.wgsl.replace('let sm = (sg /', 'let sm = (lane /') } as Kernel;
    expect(broken.wgsl).not.toBe(k.wgsl);
    expect((await validate(device, broken, true)).join('\n')).toMatch(/uniform/);
  });
});
