// What a result file says about where it came from: the engine's commit and the adapter's name.
import { execFileSync } from 'node:child_process';
import type { DeviceInfo } from '../src/device/adapter.js';

/**
 * The engine's commit: git's, else BENCH_ENGINE_COMMIT (bench/gpu-session.sh sets it from the
 * gpu-kit's unpacked tree, which has no .git, nor the GPU machine git).
 */
export function engineCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return process.env.BENCH_ENGINE_COMMIT || undefined;
  }
}

/** The GPU and its driver: Dawn's `device` is the GPU's name, its `description` the driver's (on Vulkan, 'NVIDIA: 580.95.05'). */
export const adapterName = (info: Pick<DeviceInfo, 'device' | 'description'>) => [info.device, info.description].filter(Boolean).join(' / ') || 'unknown adapter';
