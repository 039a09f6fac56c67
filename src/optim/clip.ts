// Global-norm gradient clipping without a GPU round trip: the norm and the factor
// min(1, maxNorm / (norm + 1e-6)) stay on the GPU as 0-d tensors; the optimizer multiplies every
// gradient by the factor inside its fused step.
import { noGrad } from '../autograd/mode.js';
import { add, div, maximum, mul, sqrt } from '../ops/elementwise.js';
import { sum } from '../ops/reduce.js';
import { full } from '../tensor/create.js';
import { scope } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';

export function clipGradNorm(params: Tensor[], maxNorm: number): { norm: Tensor; scale: Tensor } {
  return noGrad(() =>
    scope(() => {
      let total = full([], 0);
      for (const p of params) if (p.grad) total = add(total, sum(mul(p.grad, p.grad)));
      const norm = sqrt(total);
      // scale = maxNorm / max(norm + 1e-6, maxNorm)  ==  min(1, maxNorm / (norm + 1e-6))
      const scale = div(full([], maxNorm), maximum(add(norm, 1e-6), maxNorm));
      return { norm, scale };
    }),
  );
}
