// The adapter: finding it, what kernels know of it (DeviceInfo), and the features and limits a
// device is requested with on it. device.ts opens the process's device from these; `gpt doctor`
// describes an adapter with them without opening the engine's device.
import { envSetting, getPlatform, type Platform } from './platform.js';

export interface DeviceInfo {
  platform: 'node' | 'browser';
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  backend: string;
  isFallbackAdapter: boolean;
  features: string[];
  /** The WGSL language extensions shaders may use here (the platform's wgslLanguageFeatures). */
  wgslFeatures: string[];
  limits: Record<string, number>;
  /** The adapter's subgroup sizes [min, max], where it tells. */
  subgroupSizes: [number, number] | null;
  /** The matrix shapes and types of chromium-experimental-subgroup-matrix (tensor cores); empty without it. */
  subgroupMatrixConfigs: SubgroupMatrixConfig[];
}

/** One product a subgroup computes in one step: M x K (componentType) · K x N, accumulated as resultComponentType. */
export interface SubgroupMatrixConfig {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

/** The limits kernels size themselves by: requested at the adapter's values (unless GPT_LIMITS=default), read back from the device. */
const REPORTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxTextureDimension2D',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxStorageTexturesPerShaderStage',
  'maxSampledTexturesPerShaderStage',
  'maxUniformBufferBindingSize',
  'minStorageBufferOffsetAlignment',
  'minUniformBufferOffsetAlignment',
] as const;

/** The limits a device is opened with (DeviceOptions.limits). */
const LIMIT_CHOICES = ['adapter', 'default'] as const;
export type LimitChoice = (typeof LIMIT_CHOICES)[number];

export interface DeviceOptions {
  /**
   * 'adapter' (the default): request every limit the kernels size themselves by at the adapter's own
   * value. 'default': request none, so the device has WebGPU's default limits (16 KiB of workgroup
   * memory, 256 invocations, 8 storage buffers per stage, 256-byte offset alignment, 128 MiB
   * bindings, 256 MiB buffers), what a browser may grant on a weak laptop or phone: to run and test
   * the engine as it runs there. Unset, it is GPT_LIMITS's value (adapter or default).
   */
  limits?: LimitChoice;
}

/** The limit choice of `options`, else of GPT_LIMITS, else 'adapter'; a value not in LIMIT_CHOICES is an error naming where it came from. */
export function limitChoice(options: DeviceOptions = {}): LimitChoice {
  const [name, value] = options.limits !== undefined ? ['initDevice limits', options.limits as string] : ['GPT_LIMITS', envSetting('GPT_LIMITS') || 'adapter'];
  if (!(LIMIT_CHOICES as readonly string[]).includes(value)) throw new Error(`${name}=${value}: expected one of ${LIMIT_CHOICES.join(', ')}`);
  return value as LimitChoice;
}

/** The platform's high-performance adapter, or why there is none. */
export async function describeAdapter(): Promise<{ adapter: GPUAdapter | null; reason?: string }> {
  let gpu: GPU;
  try {
    gpu = (await getPlatform()).gpu;
  } catch (e) {
    return { adapter: null, reason: (e as Error).message };
  }
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter) return { adapter };
  const backend = envSetting('GPT_DAWN_BACKEND'); // a real backend this platform's Dawn lacks (metal on Linux) gets here
  return { adapter: null, reason: backend ? `GPT_DAWN_BACKEND=${backend}: Dawn has no adapter on that backend here; unset it for this platform's default` : 'requestAdapter() returned null' };
}

/** What kernels know of the adapter, with the limits of `granted` (the device's: what was granted, not what the adapter could). */
export function adapterInfo(adapter: GPUAdapter, platform: Platform, granted: GPUSupportedLimits): DeviceInfo {
  const i = adapter.info;
  const limits: Record<string, number> = {};
  for (const k of REPORTED_LIMITS) limits[k] = granted[k];
  return {
    platform: platform.name,
    vendor: i.vendor,
    architecture: i.architecture,
    device: i.device,
    description: i.description,
    backend: (i as { backendType?: string }).backendType ?? platform.backend,
    isFallbackAdapter: (i as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
    features: [...adapter.features].sort(),
    wgslFeatures: [...(platform.gpu.wgslLanguageFeatures ?? [])].sort(),
    limits,
    subgroupSizes: i.subgroupMinSize && i.subgroupMaxSize ? [i.subgroupMinSize, i.subgroupMaxSize] : null,
    subgroupMatrixConfigs: [...((i as { subgroupMatrixConfigs?: Iterable<SubgroupMatrixConfig> }).subgroupMatrixConfigs ?? [])].map(
      ({ componentType, resultComponentType, M, N, K }) => ({ componentType, resultComponentType, M, N, K }),
    ),
  };
}

/** The most memory an adapter's buffers can take in all, and what that figure is (a phrase after it: "23.5 GiB, the host's memory"). */
export interface MemoryBound {
  bytes: number;
  what: string;
}

/** More than any GPU has (the largest held 288 GB in 2026): a GPU adapter's bound, since WebGPU tells no adapter's memory. */
const GPU_MEMORY_BOUND = 2 ** 40;
/**
 * A CPU adapter's bound where the host's memory is unknown (a browser without navigator.deviceMemory):
 * the most that figure could say as first specified. A GPU's bound there let SwiftShader take a
 * 75 GiB model, the host's memory filling (18.6 GB) and the page deaf to Cancel.
 */
const CPU_MEMORY_BOUND = 8 * 2 ** 30;

/**
 * What an adapter can hold at most: a CPU (fallback) adapter's buffers live in the host's memory,
 * where the platform tells its size (`hostMemory`: a browser's navigator.deviceMemory is rounded
 * down), else CPU_MEMORY_BOUND; a GPU's less than GPU_MEMORY_BOUND. A model whose weights alone are
 * larger cannot be made there.
 */
export function memoryBound(info: Pick<DeviceInfo, 'isFallbackAdapter' | 'platform'>, hostMemory: number | null): MemoryBound {
  if (!info.isFallbackAdapter) return { bytes: GPU_MEMORY_BOUND, what: "a bound past any GPU's memory (WebGPU does not tell this adapter's)" };
  if (hostMemory === null) return { bytes: CPU_MEMORY_BOUND, what: "a CPU adapter's bound where the browser does not tell the host's memory (navigator.deviceMemory)" };
  const told = info.platform === 'browser' ? ' as this browser tells it (navigator.deviceMemory)' : '';
  return { bytes: hostMemory, what: `the host's memory${told}, where this CPU adapter keeps its buffers` };
}

/** The adapter name of Dawn's null backend (`backend=null`), which executes nothing. */
export const NULL_BACKEND_DEVICE = 'null-backend';

const WANTED_FEATURES = ['shader-f16', 'timestamp-query', 'subgroups', 'chromium-experimental-subgroup-matrix'] as const;

/** The features to request: the wanted ones the adapter has, and subgroup-size-control where the subgroup-matrix matmul may need to pin its subgroup size. */
function requiredFeatures(adapter: GPUAdapter): GPUFeatureName[] {
  const wanted: string[] = [...WANTED_FEATURES];
  if (adapter.features.has('chromium-experimental-subgroup-matrix')) wanted.push('subgroup-size-control');
  return wanted.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
}

/** Opens a GPUDevice on `adapter` with the wanted features and the `choice` of limits. */
export function requestDevice(adapter: GPUAdapter, choice: LimitChoice): Promise<GPUDevice> {
  const requiredLimits: Record<string, number> = {};
  if (choice === 'adapter') for (const k of REPORTED_LIMITS) requiredLimits[k] = adapter.limits[k];
  return adapter.requestDevice({ requiredLimits, requiredFeatures: requiredFeatures(adapter), label: 'webgpu-gpt' });
}
