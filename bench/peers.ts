// Opens the four libraries on the same Dawn adapter in this process: our engine first (it creates
// Dawn's GPU object, sets LP_NUM_THREADS and the GPU* globals), then `navigator.gpu` is pointed at
// that same GPU object, and TF.js (webgpu backend), jax-js (webgpu device) and webgpu-torch
// (initWebGPUAsync, which reads navigator.gpu and the GPUBufferUsage globals) are loaded. Each
// library requests its own GPUDevice from the same adapter. The peers are imported dynamically:
// TF.js's webgpu backend registers itself at import time only if navigator.gpu already exists.
//
// webgpu-torch ships CommonJS only (no "main" or "exports", index.js by default), loaded with
// require from the repository root: NODE_PATH then also finds a copy installed elsewhere.
//
// TF.js: Node's entry of tfjs-core (a CommonJS bundle) carries no gradient definitions, and the
// module that registers them exists only in the ESM build, whose extensionless imports Node cannot
// load. So tfjs-core's ESM build, its gradients and the webgpu backend are bundled together by
// esbuild (a devDependency) into one module under node_modules/.cache, one copy of tfjs-core.
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { initDevice, type Device } from '../src/device/device.js';
import { getPlatform } from '../src/device/platform.js';
import { na, type Cell } from './harness.js';

export type TF = typeof import('@tensorflow/tfjs-core');
export type Jax = typeof import('@jax-js/jax');
export type Torch = typeof import('webgpu-torch');

export interface Libs {
  ours: Device;
  /** null (with the reason in `errors.tfjs`) when TF.js could not start on WebGPU. */
  tf: TF | null;
  jax: Jax | null;
  /** webgpu-torch (praeclarum's), on its WebGPU device. */
  torch: Torch | null;
  errors: { tfjs?: string; jax?: string; webgpuTorch?: string };
  versions: { tfjs?: string; jax?: string; webgpuTorch?: string };
}

/** Waits for every piece of GPU work TF.js has recorded or submitted so far. */
export async function tfSync(tf: TF): Promise<void> {
  const backend = tf.backend() as unknown as {
    ensureCommandEncoderReady(): void;
    endComputePassEncoder(): void;
    submitQueue(): void;
    device: GPUDevice;
  };
  backend.ensureCommandEncoderReady(); // submitQueue() needs an encoder with no open pass
  backend.endComputePassEncoder();
  backend.submitQueue();
  await backend.device.queue.onSubmittedWorkDone();
}

export async function openLibs(opts: { peers?: boolean } = {}): Promise<Libs> {
  const ours = await initDevice();
  const libs: Libs = { ours, tf: null, jax: null, torch: null, errors: {}, versions: {} };
  if (opts.peers === false) return libs;
  await shareGpuAsNavigator();
  try {
    const tf = await loadTfjs();
    if (!(await tf.setBackend('webgpu'))) throw new Error("tf.setBackend('webgpu') returned false");
    await tf.ready();
    if (tf.getBackend() !== 'webgpu') throw new Error(`TF.js runs on '${tf.getBackend()}', not webgpu`);
    libs.tf = tf;
    libs.versions.tfjs = tf.version_core;
  } catch (e) {
    libs.errors.tfjs = `TF.js webgpu backend failed to start: ${(e as Error).message}`;
  }
  try {
    const jax = await import('@jax-js/jax');
    const devices = await jax.init('webgpu');
    if (!devices.includes('webgpu')) throw new Error('jax.init() found no webgpu device');
    jax.defaultDevice('webgpu');
    libs.jax = jax;
    libs.versions.jax = await packageVersion('@jax-js/jax');
  } catch (e) {
    libs.errors.jax = `jax-js webgpu device failed to start: ${(e as Error).message}`;
  }
  try {
    ({ torch: libs.torch, version: libs.versions.webgpuTorch } = await openTorch());
  } catch (e) {
    libs.errors.webgpuTorch = `webgpu-torch did not start: ${(e as Error).message.split('\n')[0]}`;
  }
  return libs;
}

/** Points `navigator.gpu` (made in Node if missing) at the GPU object our engine's device came from. */
export async function shareGpuAsNavigator(): Promise<void> {
  const { gpu } = await getPlatform();
  const g = globalThis as unknown as { navigator?: object };
  if (g.navigator) {
    Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  } else {
    // Node 20 has no navigator; jax-js also reads userAgent and hardwareConcurrency from it
    Object.defineProperty(globalThis, 'navigator', {
      value: { gpu, userAgent: `Node.js/${process.versions.node}`, hardwareConcurrency: 2 },
      configurable: true,
      writable: true,
    });
  }
}

/** webgpu-torch on navigator.gpu's first adapter (shareGpuAsNavigator first). */
export async function openTorch(): Promise<{ torch: Torch; version: string }> {
  const require = createRequire(resolve('package.json'));
  const torch = require('webgpu-torch') as Torch;
  // false when navigator.gpu is missing; otherwise its first WebGPU device becomes the default
  if (!(await torch.initWebGPUAsync())) throw new Error('initWebGPUAsync() found no WebGPU');
  return { torch, version: (require('webgpu-torch/package.json') as { version: string }).version };
}

/** webgpu-torch's cell of a benchmark it cannot run: why (its missing ops), or why it did not start. */
export const torchCannot = (libs: Libs, why: string): Cell => na(libs.torch ? why : libs.errors.webgpuTorch!);

/** The GPUDevice webgpu-torch runs a tensor's kernels on (its DeviceWebGPU holds it). */
export function torchGPUDevice(t: import('webgpu-torch').Tensor): GPUDevice {
  const device = (t.device as unknown as { gpuDevice?: GPUDevice }).gpuDevice;
  if (!device) throw new Error(`webgpu-torch tensor on its '${t.device.type}' device, not WebGPU`);
  return device;
}

async function loadTfjs(): Promise<TF> {
  const { build } = await import('esbuild');
  const dir = resolve('node_modules/.cache/run-ts');
  mkdirSync(dir, { recursive: true });
  const outfile = resolve(dir, 'tfjs-webgpu.mjs');
  await build({
    stdin: {
      contents: [
        "export * from '@tensorflow/tfjs-core';",
        "import '@tensorflow/tfjs-core/dist/register_all_gradients';",
        "import '@tensorflow/tfjs-backend-webgpu';",
      ].join('\n'),
      resolveDir: process.cwd(),
      loader: 'js',
    },
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    mainFields: ['module', 'main'], // the ESM builds
    // bundled CommonJS dependencies (node-fetch) require Node built-ins
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    logLevel: 'error',
  });
  return (await import(pathToFileURL(outfile).href)) as TF;
}

async function packageVersion(name: string): Promise<string | undefined> {
  try {
    const { readFileSync } = await import('node:fs');
    return (JSON.parse(readFileSync(`node_modules/${name}/package.json`, 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}
