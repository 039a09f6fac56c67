// In-place updates (an optimizer step, a divergence watch) are entries of the op table too: a
// name, the dtypes their tensor arguments take and one launch, but no result tensor and no
// gradient. What they write is bumped as modified, so autograd refuses a backward through an old
// value of it (src/autograd/op.ts, OpContext.checkUnchanged).
import { checkDtypes, type ArgSlot, type NOT_DIFFERENTIABLE } from '../autograd/op.js';
import type { Tensor } from '../tensor/tensor.js';

export interface UpdateSpec<A extends unknown[]> {
  name: string;
  dtypes: Record<string, ArgSlot>;
  /** Records the launches; returns the tensors it wrote. */
  run(...args: A): Tensor[];
  /** Checks the arguments beyond their dtypes (shapes, sizes, ranges); a one-line error naming the op. */
  check?: (args: NoInfer<A>) => void;
  backward: typeof NOT_DIFFERENTIABLE;
}

export interface Update<A extends unknown[]> {
  (...args: A): void;
  readonly spec: UpdateSpec<A>;
}

export function defineUpdate<A extends unknown[]>(spec: UpdateSpec<A>): Update<A> {
  const update = (...args: A): void => {
    checkDtypes(spec.name, spec.dtypes, args);
    spec.check?.(args);
    for (const t of spec.run(...args)) t.storage(spec.name).version++;
  };
  return Object.assign(update, { spec });
}
