// Whether ops record the graph. `noGrad(fn)` turns recording off for fn (sync or async); an async
// fn's tasks only, not another task running meanwhile (src/tensor/async-context.ts). `enableGrad`
// turns it back on (a checkpoint's recompute, inside a backward sweep, which runs without it).
import { AsyncContext } from '../tensor/async-context.js';

const gradEnabled = new AsyncContext(true);

export function isGradEnabled(): boolean {
  return gradEnabled.get();
}

export function noGrad<R>(fn: () => R): R {
  if (typeof fn !== 'function') throw new TypeError(`noGrad: argument 'fn' must be a function, got ${fn === null ? 'null' : typeof fn}`);
  return gradEnabled.run(false, fn);
}

/** Runs fn with recording on, inside a noGrad or a backward sweep (PyTorch's torch.enable_grad). */
export function enableGrad<R>(fn: () => R): R {
  return gradEnabled.run(true, fn);
}

/** While unrecordedProbe runs: whether an op left out a node that it would have recorded with grad on. */
let probe: { unrecorded: boolean } | null = null;

/** Called by an op that does not record only because recording is off. */
export function noteUnrecorded(): void {
  if (probe) probe.unrecorded = true;
}

/**
 * Runs the synchronous `fn` without recording and says whether it would have recorded anything:
 * whether some op in it took a tensor that requires grad (a parameter it closes over, say).
 */
export function unrecordedProbe<R>(fn: () => R): { result: R; wouldRecord: boolean } {
  const outer = probe;
  const mine = (probe = { unrecorded: false });
  try {
    return { result: noGrad(fn), wouldRecord: mine.unrecorded };
  } finally {
    probe = outer;
  }
}

/** Captures a context where it is now; the function it returns runs a callback back inside it. */
export type ContextCapture = () => <R>(fn: () => R) => R;

const carried: ContextCapture[] = [];

/**
 * Has every checkpoint's recompute run inside the context `capture` captures at its forward
 * (autocast's dtype, registered by nn/autocast.ts: autograd knows nothing of nn), as PyTorch's
 * checkpoint re-enters the forward's autocast state; the backward runs outside it.
 */
export function carryIntoRecompute(capture: ContextCapture): void {
  carried.push(capture);
}

/** The carried contexts as they are now: the function returned runs a callback back inside all of them. */
export function captureCarried(): <R>(fn: () => R) => R {
  const reenter = carried.map((capture) => capture());
  return (fn) => reenter.reduce((inner, enter) => () => enter(inner), fn)();
}
