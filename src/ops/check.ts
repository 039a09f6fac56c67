// Input checks shared by ops, each error naming the op, what it got and what it expected.
import { formatShape } from '../tensor/shape.js';
import type { DType, Tensor } from '../tensor/tensor.js';

export function assertDtype(op: string, dtype: DType, ...ts: Tensor[]): void {
  for (const t of ts) {
    t.storage(op); // use-after-dispose is reported before anything else
    if (t.dtype !== dtype) throw new Error(`${op}: expected ${dtype} tensors, got ${ts.map((x) => x.describe()).join(' and ')}`);
  }
}

export function assertRank(op: string, t: Tensor, min: number, what = 'input'): void {
  if (t.rank < min) throw new Error(`${op}: ${what} must have rank >= ${min}, got ${t.describe()}`);
}

export function assertShape(op: string, t: Tensor, expected: readonly number[], what: string): void {
  if (t.shape.length !== expected.length || t.shape.some((d, i) => d !== expected[i])) {
    throw new Error(`${op}: ${what} must have shape ${formatShape(expected)}, got ${t.describe()}`);
  }
}
