// Activation checkpointing (PyTorch's torch.utils.checkpoint, llm.c's recompute): checkpoint(fn,
// inputs) runs fn without recording, so none of its intermediate tensors outlive it; only its
// inputs (saved) and its result are kept. Its backward runs fn again, recording, from the saved
// inputs and backpropagates through that: the same ops on the same values, so the gradients are
// bit-identical to those of fn recorded directly (the kernels are deterministic: no float atomics),
// at the cost of a second forward. The host generators fn draws from (dropout's seeds) are set back
// to where they stood for the recompute, so it draws the same masks, then put back (PyTorch's
// preserve_rng_state, unless told not to); the contexts registered with carryIntoRecompute
// (autocast's dtype) are re-entered as the forward saw them. fn must not depend on other state that changes before the backward.
import { checkOptionKeys, describeValue } from '../tensor/check.js';
import { Generator, watchingDraws } from '../tensor/generator.js';
import { scope } from '../tensor/scope.js';
import { formatShape, sameShape } from '../tensor/shape.js';
import { nextTensorId, Tensor } from '../tensor/tensor.js';
import { backpropagate } from './backward.js';
import { captureCarried, enableGrad, isGradEnabled, unrecordedProbe } from './mode.js';
import { Node } from './node.js';
import { OpContext } from './op.js';

export interface CheckpointOptions {
  /**
   * Set the generators fn draws from back to the forward's states for the recompute, so it draws
   * what the forward drew (default true, as PyTorch's preserve_rng_state); false draws anew.
   */
  preserveRngState?: boolean;
}

/**
 * fn(...inputs), keeping only `inputs` and the result for the backward, which re-runs fn. Tensors
 * fn closes over (parameters, or recorded tensors) receive their gradients in the backward as usual. Without grad
 * recording (noGrad), or when nothing in fn needs a gradient, it is fn(...inputs) itself.
 */
export function checkpoint<T extends Tensor>(fn: (...inputs: T[]) => T, inputs: readonly T[], opts: CheckpointOptions = {}): T {
  if (typeof fn !== 'function') throw new TypeError(`checkpoint: argument 'fn' must be a function returning a Tensor, got ${describeValue(fn)}`);
  if (!Array.isArray(inputs)) throw new TypeError(`checkpoint: argument 'inputs' must be an array of Tensors, got ${describeValue(inputs)}`);
  inputs.forEach((t, i) => {
    if (!(t instanceof Tensor)) throw new TypeError(`checkpoint: inputs[${i}] must be a Tensor, got ${describeValue(t)}`);
    t.storage('checkpoint');
  });
  checkOptionKeys('checkpoint', opts, ['preserveRngState']);
  const { preserveRngState = true } = opts;
  if (typeof preserveRngState !== 'boolean') throw new TypeError(`checkpoint: option 'preserveRngState' must be a boolean, got ${describeValue(preserveRngState)}`);
  if (!isGradEnabled()) return checkedResult(fn(...inputs));
  const inForwardContext = captureCarried(); // the recompute runs in the backward's, else
  // fn's intermediates are freed as it returns: nothing recorded holds them
  const firstMade = nextTensorId();
  const { result: probed, drawn } = watchingDraws(() => unrecordedProbe(() => scope(() => checkedResult(fn(...inputs)))));
  const { result, wouldRecord, recorded, taken } = probed;
  const replayed = preserveRngState ? drawn : new Map<Generator, string>();
  if (!wouldRecord) return result;
  // what fn closes over must hold the forward's values at the recompute (its inputs are saved, checked by ctx)
  const closedData = taken.filter((t) => t.id < firstMade && !inputs.includes(t as T)).map((t) => ({ t, storage: t.storage(), version: t.storage().version }));
  // recorded tensors fn closes over (not its inputs) are inputs of the node too: the recompute's sweep
  // stops at their nodes and hands their gradients to the outer sweep, which runs each node once
  const closedOver = recorded.filter((t) => !inputs.includes(t as T));
  const stops = new Set(closedOver.map((t) => t.gradFn as Node));
  // result is made by fn's ops: an input or a parameter fn returns would not require grad through it
  const made = { shape: result.shape, dtype: result.dtype };
  const ctx = new OpContext(true, inputs.map((t) => t.requiresGrad), inputs.map((t) => t.shape), made);
  ctx.save(...inputs);
  const recompute = (g: Tensor) => {
    ctx.checkUnchanged('checkpoint');
    for (const { t, storage, version } of closedData) {
      if (!t.isDisposed && (t.storage() !== storage || storage.version !== version)) {
        throw new Error(`checkpoint: a ${t.describe()} tensor fn closes over was modified in place or reassigned since the forward (e.g. by an optimizer step); run backward() before updating, or checkpoint again`);
      }
    }
    const detached = ctx.saved.map((t, i) => Object.assign(t.alias(t.shape), { requiresGrad: inputs[i]!.requiresGrad }) as T);
    const again = replaying(replayed, () => scope(() => inForwardContext(() => enableGrad(() => checkedResult(fn(...detached))))));
    // the seed is the forward's result's gradient: another shape would be taken as this one's
    if (again.dtype !== made.dtype || !sameShape(again.shape, made.shape)) {
      throw new Error(`checkpoint: fn run again in the backward returned ${again.describe()} where its forward returned ${made.dtype}${formatShape(made.shape)}; fn must compute the same from its inputs both times (did state it reads change in between?)`);
    }
    if (!again.requiresGrad) return [...detached, ...closedOver].map(() => null);
    const stopped = backpropagate(again, g.alias(g.shape), stops);
    return [...detached.map(takeGrad), ...closedOver.map((t) => stopped.get(t.gradFn as Node) ?? null)];
  };
  result.requiresGrad = true;
  result.gradFn = new Node('checkpoint', recompute, ctx, [...inputs, ...closedOver]);
  return result;
}

function checkedResult<T extends Tensor>(t: T): T {
  if (!(t instanceof Tensor)) throw new TypeError(`checkpoint: fn must return a Tensor, got ${describeValue(t)}`);
  return t;
}

/** Runs `fn` with each generator of `states` at its state there, then puts them back where they were. */
function replaying<R>(states: ReadonlyMap<Generator, string>, fn: () => R): R {
  const now = [...states.keys()].map((g) => [g, g.getState()] as const);
  for (const [g, state] of states) g.setState(state);
  try {
    return fn();
  } finally {
    for (const [g, state] of now) g.setState(state);
  }
}

/** A stand-in leaf's gradient, as a tensor of the running scope (the leaf owned it), or null. */
function takeGrad(leaf: Tensor): Tensor | null {
  const g = leaf.grad;
  leaf.grad = null;
  if (!g) return null;
  const handle = g.alias(g.shape);
  g.dispose();
  return handle;
}
