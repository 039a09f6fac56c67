// Whether ops record the graph. `noGrad(fn)` turns recording off for fn (sync or async); an async
// fn's tasks only, not another task running meanwhile (src/tensor/async-context.ts). `enableGrad`
// turns it back on (a checkpoint's recompute, inside a backward sweep, which runs without it).
import { AsyncContext } from '../tensor/async-context.js';
import type { Tensor } from '../tensor/tensor.js';

// 'probing': off as under noGrad, for unrecordedProbe, which tells its fn's ops from those of a noGrad inside it
const gradEnabled = new AsyncContext<boolean | 'probing'>(true);

export function isGradEnabled(): boolean {
  return gradEnabled.get() === true;
}

/** Runs `fn` with recording `on`; `op` names the caller in the error for an fn that is not a function. */
function withGrad<R>(op: string, on: boolean, fn: () => R): R {
  if (typeof fn !== 'function') throw new TypeError(`${op}: argument 'fn' must be a function, got ${fn === null ? 'null' : typeof fn}`);
  return gradEnabled.run(on, fn);
}

export function noGrad<R>(fn: () => R): R {
  return withGrad('noGrad', false, fn);
}

/** Runs fn with recording on, inside a noGrad or a backward sweep (PyTorch's torch.enable_grad). */
export function enableGrad<R>(fn: () => R): R {
  return withGrad('enableGrad', true, fn);
}

/**
 * While unrecordedProbe runs: the tensors its ops made that would require grad were recording on,
 * the recorded tensors they took (made outside the probe, with a node of their own), and every
 * tensor they took.
 */
let probe: { made: WeakSet<Tensor>; recorded: Set<Tensor>; taken: Set<Tensor> } | null = null;

/** Called by a differentiable op that did not record `out` from `inputs`: recording is off. */
export function noteUnrecorded(inputs: readonly Tensor[], out: Tensor): void {
  if (!probe || gradEnabled.get() !== 'probing') return; // a noGrad inside the probe: fn recorded would not record it either
  let wanted = false;
  for (const t of inputs) {
    probe.taken.add(t);
    if (t.gradFn) probe.recorded.add(t);
    wanted ||= t.requiresGrad || probe.made.has(t);
  }
  if (wanted) probe.made.add(out);
}

/**
 * Runs the synchronous `fn` without recording and says whether its result would require grad with
 * recording on (as fn recorded would give it: made by ops from a tensor that requires grad, a
 * parameter it closes over say, outside any noGrad in fn), which recorded tensors its ops took,
 * and which tensors they took (those of differentiable ops outside a noGrad in fn).
 */
export function unrecordedProbe<R extends Tensor>(fn: () => R): { result: R; wouldRecord: boolean; recorded: Tensor[]; taken: Tensor[] } {
  const outer = probe;
  const mine = (probe = { made: new WeakSet<Tensor>(), recorded: new Set<Tensor>(), taken: new Set<Tensor>() });
  try {
    const result = gradEnabled.run('probing', fn);
    return { result, wouldRecord: mine.made.has(result), recorded: [...mine.recorded], taken: [...mine.taken] };
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
