// The only place that knows whether we run in Node (Dawn via the `webgpu` package) or a browser
// (navigator.gpu). The Node import is dynamic with a computed specifier, so a browser bundle never
// pulls it in.

export interface Platform {
  name: 'node' | 'browser';
  gpu: GPU;
  /** The native API underneath, where the platform tells (Dawn's adapter info does not). */
  backend: string;
}

const DAWN_BACKENDS: Record<string, string> = { linux: 'vulkan', darwin: 'metal', win32: 'd3d12' };

let cached: Promise<Platform> | undefined;

export function getPlatform(): Promise<Platform> {
  cached ??= loadPlatform();
  return cached;
}

async function loadPlatform(): Promise<Platform> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return { name: 'browser', gpu: nav.gpu, backend: 'browser' };
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
  process.env.LP_NUM_THREADS ??= '8';
  const specifier = 'webgpu';
  const dawn = (await import(/* @vite-ignore */ specifier)) as {
    create: (flags: string[]) => GPU;
    globals: Record<string, unknown>;
  };
  // Dawn's GPUBufferUsage, GPUMapMode, ... are needed as globals, like in a browser.
  for (const [k, v] of Object.entries(dawn.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  // Dawn rounds GPU timestamps to ~65 us unless told not to (a browser's guard against timing
  // attacks): the profiler and the autotuner time kernels shorter than that on GPUs.
  const gpu = dawn.create(['disable-dawn-features=timestamp_quantization']);
  return { name: 'node', gpu, backend: `dawn/${DAWN_BACKENDS[process.platform] ?? process.platform}` };
}

/** A setting from the process environment (Node); undefined in browsers. */
export function envSetting(name: string): string | undefined {
  return typeof process !== 'undefined' ? process.env?.[name] : undefined;
}

// Small persistent files for the engine's own caches (autotuning results): in Node under the user's
// cache directory ($XDG_CACHE_HOME or ~/.cache, then webgpu-gpt/; GPT_CACHE_DIR overrides), in
// browsers in localStorage. A cache is optional: failures read as "nothing cached" and are not saved.
const CACHE_PREFIX = 'webgpu-gpt:';

async function nodeCacheDir(): Promise<{ fs: typeof import('node:fs/promises'); dir: string } | null> {
  if (typeof process === 'undefined' || !process.versions?.node) return null;
  const [fsName, pathName, osName] = ['node:fs/promises', 'node:path', 'node:os']; // computed: no browser bundle follows them
  const fs = (await import(/* @vite-ignore */ fsName)) as typeof import('node:fs/promises');
  const path = (await import(/* @vite-ignore */ pathName)) as typeof import('node:path');
  const os = (await import(/* @vite-ignore */ osName)) as typeof import('node:os');
  const base = envSetting('XDG_CACHE_HOME') || path.join(os.homedir(), '.cache');
  return { fs, dir: envSetting('GPT_CACHE_DIR') || path.join(base, 'webgpu-gpt') };
}

export async function readCache(name: string): Promise<string | null> {
  try {
    const node = await nodeCacheDir();
    if (!node) return globalThis.localStorage?.getItem(CACHE_PREFIX + name) ?? null;
    return await node.fs.readFile(`${node.dir}/${name}`, 'utf8');
  } catch {
    return null;
  }
}

export async function writeCache(name: string, text: string): Promise<void> {
  try {
    const node = await nodeCacheDir();
    if (!node) return globalThis.localStorage?.setItem(CACHE_PREFIX + name, text);
    await node.fs.mkdir(node.dir, { recursive: true });
    const temp = `${node.dir}/.${name}.${process.pid}.tmp`;
    await node.fs.writeFile(temp, text);
    await node.fs.rename(temp, `${node.dir}/${name}`); // readers see the old file or the new one
  } catch {
    // not cached this time
  }
}
