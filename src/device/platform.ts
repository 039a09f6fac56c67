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
  return { name: 'node', gpu: dawn.create([]), backend: `dawn/${DAWN_BACKENDS[process.platform] ?? process.platform}` };
}
