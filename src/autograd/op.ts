// Applying an op: run its forward and, when an input requires grad, record a node that holds what
// the backward rule saved. An op is defined once (src/ops/*) with its shape checks, forward and
// backward together; this module only wires it into the tape.
import { Tensor } from '../tensor/tensor.js';
import { untrack } from '../tensor/scope.js';
import { isGradEnabled, noGrad } from './mode.js';
import { Node } from './node.js';
import './methods.js'; // backward(), detach(), requiresGrad_() come with the first op

export class OpContext {
  readonly saved: Tensor[] = [];
  private readonly versions: number[] = [];
  constructor(
    /** Whether a node is being recorded (if not, save() keeps nothing). */
    readonly recording: boolean,
    /** Per tensor input: does it need a gradient? */
    readonly needsGrad: readonly boolean[],
    /** Per tensor input: its shape (gradients must come back in it). */
    readonly inputShapes: readonly (readonly number[])[],
  ) {}

  /** Keeps tensors for the backward rule; the node owns them until backward or release. */
  save(...ts: Tensor[]): void {
    if (!this.recording) return;
    for (const t of ts) {
      const handle = t.view(t.shape);
      untrack(handle);
      this.saved.push(handle);
      this.versions.push(handle.storage().version);
    }
  }

  /** Throws if a saved tensor was modified in place since it was saved (its gradient would be wrong). */
  checkUnchanged(op: string): void {
    this.saved.forEach((t, i) => {
      if (t.storage().version !== this.versions[i]) {
        throw new Error(
          `backward of '${op}': a ${t.describe()} tensor saved for the gradient was modified in place afterwards ` +
            `(e.g. by an optimizer step); run backward() before updating, or recompute the forward`,
        );
      }
    });
  }

  release(): void {
    for (const t of this.saved.splice(0)) t.dispose();
  }
}

export interface OpDef<A extends unknown[]> {
  name: string;
  forward(ctx: OpContext, ...args: A): Tensor;
  /**
   * Gradients for the tensor arguments, in order (null where none is needed). Receives the forward's
   * arguments again for their shapes and attributes; their data may be gone, use `ctx.saved` for it.
   */
  backward?(ctx: OpContext, grad: Tensor, args: NoInfer<A>): (Tensor | null)[];
}

/** Wraps an op definition into the function users call. */
export function defineOp<A extends unknown[]>(def: OpDef<A>): (...args: A) => Tensor {
  return (...args: A) => {
    const inputs = args.filter((a): a is Tensor => a instanceof Tensor);
    const needsGrad = inputs.map((t) => t.requiresGrad);
    const recording = !!def.backward && isGradEnabled() && needsGrad.some(Boolean);
    const ctx = new OpContext(recording, needsGrad, inputs.map((t) => t.shape));
    const out = noGrad(() => def.forward(ctx, ...args));
    if (recording) {
      out.requiresGrad = true;
      out.gradFn = new Node(def.name, (g) => (ctx.checkUnchanged(def.name), def.backward!(ctx, g, args)), ctx, inputs);
    }
    return out;
  };
}
