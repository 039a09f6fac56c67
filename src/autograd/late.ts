// Leaf gradients a backward rule hands over late, so that many are applied together: castCached's
// float16 gradients of float32 weights are cast back and summed in a few grouped launches instead
// of a cast and an add each. A backward sweep applies the waiting ones once `batch` of them wait,
// before a leaf with one waiting receives another gradient, and when it ends: each leaf's gradient
// is then the same sum, added in the same order, as if each had been given at once.
import { untrack } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';

/** A gradient for a leaf, not applied yet. */
export interface LateGradient {
  leaf: Tensor;
  grad: Tensor;
}

/**
 * Applies `late` (in the order handed over; a leaf may come more than once) as backward would:
 * leaf.grad = leaf.grad ? leaf.grad + g : g, with g converted to the leaf's dtype, the result
 * untracked (owned by the leaf). Disposes the gradients.
 */
export type ApplyLate = (late: LateGradient[]) => void;

interface Sweep {
  waiting: Map<ApplyLate, LateGradient[]>;
  leaves: Set<Tensor>;
}

let sweep: Sweep | null = null;

/** The backward sweep running now (null outside one), as a token: what a rule keeps for one sweep is not carried into the next. */
export const currentSweep = (): object | null => sweep;

/** Hands `grad` (owned from now on) for `leaf` to `apply`, with others, by the end of the current backward sweep. */
export function giveLeafGradLater(leaf: Tensor, grad: Tensor, apply: ApplyLate, batch: number): void {
  if (!sweep) throw new Error(`giveLeafGradLater: called outside a backward pass (for ${leaf.describe()})`);
  untrack(grad);
  const waiting = sweep.waiting.get(apply) ?? [];
  sweep.waiting.set(apply, waiting);
  waiting.push({ leaf, grad });
  sweep.leaves.add(leaf);
  if (waiting.length >= batch) applyLate();
}

/** Before `leaf` receives a gradient: what waits for it (and the rest with it) is applied first. */
export function beforeLeafGrad(leaf: Tensor): void {
  if (sweep?.leaves.has(leaf)) applyLate();
}

function applyLate(): void {
  const s = sweep!;
  s.leaves.clear();
  for (const [apply, late] of s.waiting) {
    s.waiting.delete(apply);
    for (const l of late) if (l.leaf.isDisposed) l.grad.dispose();
    const live = late.filter((l) => !l.leaf.isDisposed);
    try {
      if (live.length) apply(live);
    } catch (e) {
      for (const l of live) l.grad.dispose(); // no longer waiting: lateSweep would not free them
      throw e;
    }
  }
}

/** Runs a backward sweep `fn`, then applies the late gradients; on a throw, drops them. */
export function lateSweep(fn: () => void): void {
  const outer = sweep;
  const mine: Sweep = (sweep = { waiting: new Map(), leaves: new Set() });
  try {
    fn();
    applyLate();
  } finally {
    for (const late of mine.waiting.values()) for (const l of late) l.grad.dispose();
    sweep = outer;
  }
}
