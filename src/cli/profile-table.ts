// `gpt train --profile`'s table: GPU time per kernel of one step.
import type { KernelTime } from '../device/profiler.js';

/** One row per kernel under a header; the name column as wide as the longest name, so the numbers line up. */
export function profileTable(kernels: KernelTime[]): string {
  const total = kernels.reduce((a, k) => a + k.ms, 0);
  const width = Math.max('kernel'.length, ...kernels.map((k) => k.name.length));
  const rows = kernels.map((k) => `  ${k.name.padEnd(width)} ${String(k.calls).padStart(6)} ${k.ms.toFixed(2).padStart(10)} ${((100 * k.ms) / total).toFixed(1).padStart(6)}%`);
  return [`GPU time per kernel, one training step (${total.toFixed(1)} ms total):`, `  ${'kernel'.padEnd(width)} ${'calls'.padStart(6)} ${'ms'.padStart(10)} ${'share'.padStart(7)}`, ...rows].join('\n');
}
