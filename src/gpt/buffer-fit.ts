// Whether a model's buffers can be on an adapter: each within its largest buffer (maxBufferSize),
// or its largest binding where a kernel binds it whole, and within the elements kernels can index
// (u32). Shared by the model's size check (src/gpt/model.ts: its weights, before anything is made)
// and the memory plan (src/gpt/memory-plan.ts: what a run holds).

/** A buffer a model needs: what it is (named with the sizes it comes from), its bytes and elements, and whether kernels bind it whole or a window at a time. */
export interface PlannedBuffer {
  name: string;
  bytes: number;
  elements: number;
  bound: 'whole' | 'windowed';
}

/** The most elements one tensor may have: kernels count and index them in u32. */
const MAX_ELEMENTS = 2 ** 32 - 1;

/** Why the first of `buffers` that cannot be on an adapter with `limits` cannot (named with both sizes), or null. */
export function bufferFitProblem(buffers: readonly PlannedBuffer[], limits: Record<string, number>): string | null {
  const maxBuffer = limits.maxBufferSize ?? Infinity;
  const maxBinding = Math.min(limits.maxStorageBufferBindingSize ?? Infinity, maxBuffer);
  for (const b of buffers) {
    const [limitName, limit] = b.bound === 'whole' && maxBinding < maxBuffer ? ['maxStorageBufferBindingSize', maxBinding] : ['maxBufferSize', maxBuffer];
    if (b.bytes > limit) return `the model does not fit this adapter: ${b.name} takes ${formatBytes(b.bytes)}, over its ${limitName} of ${formatBytes(limit)}`;
    if (b.elements > MAX_ELEMENTS) return `the model does not fit this adapter: ${b.name} holds ${formatCount(b.elements)} values, past the ${formatCount(MAX_ELEMENTS)} its kernels index (u32)`;
  }
  return null;
}

/** `n` as read at a glance: in full (1,234,567) where exact, else to 3 significant digits (past 2^53 a double's last digits are not the count's). */
export const formatCount = (n: number) => (Number.isSafeInteger(n) ? n.toLocaleString('en-US') : n.toPrecision(3));

/** `n` bytes in MiB, GiB or TiB, 3 significant digits. */
export function formatBytes(n: number): string {
  const [unit, size] = n >= 2 ** 40 ? ['TiB', 2 ** 40] : n >= 2 ** 30 ? ['GiB', 2 ** 30] : ['MiB', 2 ** 20];
  return `${(n / size).toPrecision(3)} ${unit}`;
}
