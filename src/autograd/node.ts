// A recorded op application. Nodes are reference-counted by the tensors that carry them and by the
// nodes that consume them, so a graph that is never backpropagated is freed (saved tensors
// included) as soon as its last tensor is disposed, e.g. when its scope ends.
import type { GradFn, Tensor } from '../tensor/tensor.js';

export interface SavedStore {
  release(): void;
}

export interface NodeInput {
  /** The input tensor (a leaf receives its gradient in `.grad`). */
  tensor: Tensor;
  /** The node that produced it, if any. */
  node: Node | null;
  needsGrad: boolean;
}

export class Node implements GradFn {
  readonly inputs: NodeInput[];
  private refs = 1;
  /** Saved tensors were released: by backward, or because nothing holds the node any more. */
  consumed = false;

  constructor(
    readonly opName: string,
    readonly backwardRule: (grad: Tensor) => (Tensor | null)[],
    private readonly saved: SavedStore,
    inputs: Tensor[],
  ) {
    this.inputs = inputs.map((tensor) => {
      const node = tensor.gradFn instanceof Node ? tensor.gradFn : null;
      if (node) node.refs++;
      return { tensor, node, needsGrad: tensor.requiresGrad };
    });
  }

  /** Lets go of one reference; the last one frees this node and, in turn, what only it held. */
  drop(): void {
    const pending: Node[] = [this]; // a loop, not recursion: graphs can be 100k nodes deep
    while (pending.length) {
      const node = pending.pop()!;
      if (--node.refs > 0) continue;
      node.releaseSaved();
      for (const i of node.inputs) if (i.node) pending.push(i.node);
      node.inputs.length = 0;
    }
  }

  releaseSaved(): void {
    this.saved.release();
    this.consumed = true;
  }
}
