// Opens the three libraries on the same Dawn adapter in this process: our engine first (it creates
// Dawn's GPU object, sets LP_NUM_THREADS and the GPU* globals), then `navigator.gpu` is pointed at
// that same GPU object, and TF.js (webgpu backend) and jax-js (webgpu device) are loaded. Each
// library requests its own GPUDevice from the same adapter. The peers are imported dynamically:
// TF.js's webgpu backend registers itself at import time only if navigator.gpu already exists.
//
// TF.js: Node's entry of tfjs-core (a CommonJS bundle) carries no gradient definitions, and the
// module that registers them exists only in the ESM build, whose extensionless imports Node cannot
// load. So tfjs-core's ESM build, its gradients and the webgpu backend are bundled together by
// esbuild (a devDependency) into one module under node_modules/.cache, one copy of tfjs-core.
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { initDevice, type Device } from '../src/device/device.js';
import { getPlatform } from '../src/device/platform.js';

export type TF = typeof import('@tensorflow/tfjs-core');
export type Jax = typeof import('@jax-js/jax');

export interface Libs {
  ours: Device;
  /** null (with the reason in `errors.tfjs`) when TF.js could not start on WebGPU. */
  tf: TF | null;
  jax: Jax | null;
  errors: { tfjs?: string; jax?: string };
  versions: { tfjs?: string; jax?: string };
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
  const libs: Libs = { ours, tf: null, jax: null, errors: {}, versions: {} };
  if (opts.peers === false) return libs;
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
  return libs;
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
