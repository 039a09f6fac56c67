// Reverse-mode sweep: order the recorded nodes reachable from the root topologically, run each
// backward rule once with the summed gradient of its output, and hand leaf gradients to `.grad`
// (accumulating across calls until zeroed; a rule may hand a leaf's gradient over late, late.ts).
// Saved tensors are released as each node finishes, so the graph cannot be backpropagated twice.
import { floatKernels, launchBroadcast } from '../kernels/wgsl/elementwise.js';
import { onesLike } from '../tensor/create.js';
import { scope, untrack } from '../tensor/scope.js';
import { formatShape, sameShape, stridesOf } from '../tensor/shape.js';
import { describeValue } from '../tensor/check.js';
import { floatType, Tensor } from '../tensor/tensor.js';
import { beforeLeafGrad, lateSweep } from './late.js';
import { noGrad } from './mode.js';
import { Node } from './node.js';

// the add op's own kernels (one pipeline for both)
const addK = floatKernels('add', 'x + y');

/** a + b, a new tensor, for tensors of the same shape and dtype. */
function added(a: Tensor, b: Tensor): Tensor {
  const out = Tensor.empty(a.shape, a.dtype, 'grad');
  const strides = stridesOf(a.shape);
  launchBroadcast(addK(floatType(a.dtype)), [{ buffer: a.buffer(), strides }, { buffer: b.buffer(), strides }], out.buffer(), a.shape, a.size);
  return out;
}

/** a + b for tensors of the same shape and dtype (consumes both). */
function accumulate(a: Tensor, b: Tensor): Tensor {
  const out = added(a, b);
  a.dispose();
  b.dispose();
  return out;
}

/** The nodes reachable from `root`, consumers before producers; not past those in `stops`. */
function topoOrder(root: Node, stops: ReadonlySet<Node>): Node[] {
  const order: Node[] = [];
  const seen = new Set<Node>();
  const stack: [Node, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [node, i] = top;
    if (i < node.inputs.length) {
      top[1]++;
      const child = node.inputs[i]!.node;
      if (child && !seen.has(child) && !stops.has(child)) {
        seen.add(child);
        stack.push([child, 0]);
      }
    } else {
      order.push(node);
      stack.pop();
    }
  }
  return order.reverse();
}

/**
 * The gradient `leaf` holds, for `op` (backward adding to it, an optimizer reading it): null where it
 * has none or the caller disposed it (grad.dispose() without `= null`, or one set inside a scope that
 * ended), a cleared one as zeroGrad() leaves it; one set by hand in another shape or dtype is refused
 * (backward would sum into it in its own shape).
 */
export function heldGrad(op: string, leaf: Tensor): Tensor | null {
  const grad = leaf.grad?.isDisposed ? null : leaf.grad;
  if (grad && (grad.dtype !== leaf.dtype || !sameShape(grad.shape, leaf.shape))) {
    throw new Error(`${op}: the .grad of ${leaf.describe()} is ${grad.describe()}; set it to a tensor of its shape and dtype, or null`);
  }
  return grad;
}

function giveLeafGrad(leaf: Tensor, g: Tensor): void {
  if (leaf.isDisposed) return g.dispose();
  beforeLeafGrad(leaf);
  untrack(g); // owned by the leaf, not by the scope that ran backward
  let prev: Tensor | null;
  try {
    prev = heldGrad('backward', leaf);
  } catch (e) {
    g.dispose();
    throw e;
  }
  if (prev) {
    // summed into the same tensor, as PyTorch's +=: a handle taken on leaf.grad sees the sum (a view
    // of it, another tensor on its old storage, keeps the old values)
    const sum = added(prev, g);
    prev.assign(sum);
    sum.dispose();
    g.dispose();
  } else leaf.grad = g;
  untrack(leaf.grad!);
}

/**
 * A backward rule's result: a gradient (or null) per tensor input. A user-defined op's rule that
 * returned fewer, or something else, silently left its inputs without gradients.
 */
function checkGrads(node: Node, grads: unknown): (Tensor | null | undefined)[] {
  const expected = `a Tensor or null for each of its ${node.inputs.length} tensor input${node.inputs.length === 1 ? '' : 's'}`;
  if (!Array.isArray(grads) || grads.length !== node.inputs.length) {
    throw new Error(`backward of '${node.opName}': the backward rule must return an array of ${expected}, got ${describeValue(grads)}`);
  }
  grads.forEach((gi, i) => {
    if (gi !== null && gi !== undefined && !(gi instanceof Tensor)) throw new Error(`backward of '${node.opName}': gradient ${i} must be ${expected}, got ${describeValue(gi)}`);
  });
  return grads;
}

/**
 * Gives each input of `node` its gradient: to the node that made it (among `grads`, or `stopped` for
 * a node the sweep stops at), or to a leaf's .grad; frees the rest (all not handed over, on a throw).
 */
function handOver(node: Node, inputGrads: (Tensor | null | undefined)[], grads: Map<Node, Tensor>, stops: ReadonlySet<Node>, stopped: Map<Node, Tensor>): void {
  try {
    node.inputs.forEach((input, i) => {
      const gi = inputGrads[i];
      if (!gi || !input.needsGrad) return;
      if (!sameShape(gi.shape, input.tensor.shape)) {
        throw new Error(
          `backward of '${node.opName}': gradient ${formatShape(gi.shape)} for input ${i} does not match its shape ${formatShape(input.tensor.shape)}`,
        );
      }
      if (gi.dtype !== input.tensor.dtype) {
        throw new Error(`backward of '${node.opName}': gradient ${gi.describe()} for input ${i} does not match its dtype (${input.tensor.describe()})`);
      }
      inputGrads[i] = null;
      if (input.node) {
        const into = stops.has(input.node) ? stopped : grads;
        const prev = into.get(input.node);
        into.set(input.node, prev ? accumulate(prev, gi) : gi);
      } else giveLeafGrad(input.tensor, gi);
    });
  } finally {
    for (const gi of inputGrads) gi?.dispose();
  }
}

export function backward(root: Tensor, grad?: Tensor): void {
  if (grad !== undefined && !(grad instanceof Tensor)) {
    throw new TypeError(`backward: argument 'grad' must be a Tensor shaped like ${root.describe()} (or omitted for a scalar), got ${describeValue(grad)}`);
  }
  // a disposed root dropped its graph: refused, where it returned without a word
  root.storage('backward');
  grad?.storage('backward');
  if (!root.requiresGrad) {
    throw new Error(`backward: tensor ${root.describe()} does not require grad (no input had requiresGrad set)`);
  }
  if (!grad && root.size !== 1) {
    throw new Error(
      `backward: tensor ${root.describe()} is not a scalar; pass a gradient of the same shape, e.g. t.backward(grad)`,
    );
  }
  if (grad && !sameShape(grad.shape, root.shape)) {
    throw new RangeError(`backward: gradient shape ${formatShape(grad.shape)} does not match tensor shape ${formatShape(root.shape)}`);
  }
  if (grad && grad.dtype !== root.dtype) throw new TypeError(`backward: argument 'grad' must be a ${root.dtype} tensor like ${root.describe()}, got ${grad.describe()}`);
  noGrad(() => lateSweep(() => void backpropagate(root, grad ? grad.alias(grad.shape) : onesLike(root))));
}

/**
 * The sweep from `root`, whose gradient is `seed` (owned from now on): inside a backward sweep, with
 * recording off (backward above; a checkpoint's recompute, checkpoint.ts). It does not go past the
 * nodes in `stops` (an outer sweep's, which a recompute's graph reaches through a tensor fn closes
 * over): their gradients are returned, the caller's.
 */
export function backpropagate(root: Tensor, seed: Tensor, stops: ReadonlySet<Node> = new Set()): Map<Node, Tensor> {
  const stopped = new Map<Node, Tensor>();
  const rootNode = root.gradFn instanceof Node ? root.gradFn : null;
  if (!rootNode) {
    giveLeafGrad(root, seed);
    return stopped;
  }
  // gradients waiting for their node; on a throw (a rule that fails or breaks its contract) they
  // are freed here: outside a scope nothing else holds them
  const grads = new Map<Node, Tensor>([[rootNode, seed]]);
  try {
    for (const node of topoOrder(rootNode, stops)) {
      const g = grads.get(node);
      if (!g) continue;
      if (node.consumed) {
        throw new Error(
          `backward: the graph through '${node.opName}' was already freed by an earlier backward() or by disposing its tensors ` +
            '(there is no retain_graph: backpropagate the sum of the losses once, or run the forward again)',
        );
      }
      // each gradient gets a handle of its own: a rule may return `g` itself, a tensor it did not make
      // or one tensor for two inputs, which disposing `g` or accumulating would free under another
      // holder; what the rule made and did not return is freed here
      const inputGrads = scope(() => checkGrads(node, node.backwardRule(g)).map((gi) => gi && gi.alias(gi.shape)));
      grads.delete(node);
      g.dispose();
      node.releaseSaved();
      handOver(node, inputGrads, grads, stops, stopped);
    }
  } catch (e) {
    for (const t of [...grads.values(), ...stopped.values()]) t.dispose();
    throw e;
  }
  return stopped;
}
