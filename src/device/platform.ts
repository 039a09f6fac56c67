// The only place that knows whether we run in Node (Dawn via the `webgpu` package) or a browser
// (navigator.gpu). The Node import is dynamic with a computed specifier, so a browser bundle never
// pulls it in.

export interface Platform {
  name: 'node' | 'browser';
  gpu: GPU;
  /** The native API underneath, where the platform tells (Dawn's adapter info does not). */
  backend: string;
  /** Bytes of the host's memory (a container's limit where it is lower), where the platform tells (Node; a browser's navigator.deviceMemory), else null. */
  hostMemory: number | null;
}

/** The host's memory a browser tells (navigator.deviceMemory: GiB, rounded down to a power of 2, capped), in bytes; null where it tells none. */
export function browserHostMemory(nav: { deviceMemory?: unknown }): number | null {
  const gib = nav.deviceMemory;
  return typeof gib === 'number' && gib > 0 && Number.isFinite(gib) ? gib * 2 ** 30 : null;
}

/** The names Dawn's `backend=` instance flag accepts. */
const DAWN_BACKEND_NAMES = ['vulkan', 'metal', 'd3d12', 'd3d11', 'opengl', 'opengles', 'null'];
const DAWN_BACKENDS: Record<string, string> = { linux: 'vulkan', darwin: 'metal', win32: 'd3d12' };

let cached: Promise<Platform> | undefined;

export function getPlatform(): Promise<Platform> {
  cached ??= loadPlatform();
  return cached;
}

async function loadPlatform(): Promise<Platform> {
  const nav = (globalThis as { navigator?: { gpu?: GPU; deviceMemory?: unknown } }).navigator;
  if (nav?.gpu) return { name: 'browser', gpu: nav.gpu, backend: 'browser', hostMemory: browserHostMemory(nav) };
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  if (!isNode) {
    throw new Error(
      'WebGPU is not available in this browser (navigator.gpu is undefined). Use a recent Chrome/Edge, ' +
        'or start Chromium with --enable-unsafe-webgpu.',
    );
  }
  // Mesa's CPU drivers (lavapipe/llvmpipe) run big dispatches 40-50% faster with more threads than
  // cores (measured on 2 cores); the variable is read when Dawn loads the driver, and is ignored by
  // every other driver. A value set by the user wins.
  process.env.LP_NUM_THREADS ||= '8'; // empty too: Mesa reads an empty value as its own default
  const specifier = 'webgpu';
  const dawn = (await import(/* @vite-ignore */ specifier)) as {
    create: (flags: string[]) => GPU;
    globals: Record<string, unknown>;
  };
  const osModule = 'node:os';
  const { totalmem } = (await import(/* @vite-ignore */ osModule)) as { totalmem: () => number };
  // a cgroup's limit where one is set (none: 0, or 2^64 on some hosts)
  const hostMemory = Math.min(totalmem(), process.constrainedMemory() || Infinity);
  // Dawn's GPUBufferUsage, GPUMapMode, ... are needed as globals, like in a browser.
  for (const [k, v] of Object.entries(dawn.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  const gpu = dawn.create(dawnToggles(envSetting));
  const native = envSetting('GPT_DAWN_BACKEND') || DAWN_BACKENDS[process.platform] || process.platform;
  return { name: 'node', gpu, backend: `dawn/${native}`, hostMemory };
}

/**
 * The instance flags Node's Dawn is created with, from the environment settings `env` reads:
 *   - always `disable-dawn-features=timestamp_quantization`: Dawn rounds GPU timestamps to ~65 us
 *     unless told not to (a browser's guard against timing attacks); the profiler and the
 *     autotuner time kernels shorter than that on GPUs.
 *   - by default `allow_unsafe_apis,vulkan_enable_f16_on_nvidia`: on NVIDIA's Vulkan driver Dawn
 *     exposes shader-f16 only with the second, and chromium-experimental-subgroup-matrix (tensor
 *     cores: the subgroup-matrix matmul) only with the first (measured on an H200, 2026-12-04).
 *     GPT_DAWN_SAFE=1 leaves both out: the adapter then offers what a browser would by default.
 *   - GPT_ROBUSTNESS=0 (opt-in) adds `disable_robustness,disable_workgroup_init`: Dawn then stops
 *     clamping every storage-buffer index and zeroing workgroup memory (18% of the matmul's time
 *     on the H200). Our kernels guard their own accesses, but a bug in one would then read or
 *     write out of bounds instead of being clamped: for trusted runs on a known-good build.
 * Anything but unset, 0 or 1 in either setting is an error naming it.
 */
export function dawnToggles(env: (name: string) => string | undefined): string[] {
  const flag = (name: string, fallback: boolean) => envFlag(name, fallback, env);
  const safe = flag('GPT_DAWN_SAFE', false);
  const robust = flag('GPT_ROBUSTNESS', true);
  if (safe && !robust) throw new Error('GPT_ROBUSTNESS=0 needs Dawn\'s unsafe APIs, which GPT_DAWN_SAFE=1 turns off: set one of them');
  const backend = env('GPT_DAWN_BACKEND') || undefined;
  if (backend !== undefined && !DAWN_BACKEND_NAMES.includes(backend)) {
    throw new Error(`GPT_DAWN_BACKEND=${backend}: expected one of ${DAWN_BACKEND_NAMES.join(', ')}`);
  }
  const enabled = [...(safe ? [] : ['allow_unsafe_apis', 'vulkan_enable_f16_on_nvidia']), ...(robust ? [] : ['disable_robustness', 'disable_workgroup_init'])];
  return [
    ...(backend ? [`backend=${backend}`] : []),
    ...(enabled.length ? [`enable-dawn-features=${enabled.join(',')}`] : []),
    'disable-dawn-features=timestamp_quantization',
  ];
}

/** A 0/1 setting (GPT_AUTOTUNE, ...): unset or empty is `fallback`; anything else ('false', 'yes') is an error naming it, not a guess. */
export function envFlag(name: string, fallback: boolean, env: (name: string) => string | undefined = envSetting): boolean {
  const v = env(name);
  if (v === undefined || v === '') return fallback;
  if (v !== '0' && v !== '1') throw new Error(`${name}=${v}: expected 0 or 1`);
  return v === '1';
}

/** A setting from the process environment (Node); undefined in browsers. */
export function envSetting(name: string): string | undefined {
  return typeof process !== 'undefined' ? process.env?.[name] : undefined;
}
