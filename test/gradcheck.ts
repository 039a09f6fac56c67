// Gradient checks of compositions written in a test (a whole block, an op with a fixed odd shape):
// the engine's gradients of L = sum(w * f(x)) against central finite differences of a float64
// reference, every element, through src/check's runner (which the op table's cases use too).
import { checkSample } from '../src/check/index.js';
import type { Ref } from '../src/check/reference/index.js';
import type { Tensor } from '../src/index.js';

export interface GradCase {
  name: string;
  inputs: Ref[];
  /** Which inputs get a gradient (default: all). */
  differentiable?: boolean[];
  engine: (xs: Tensor[]) => Tensor;
  reference: (xs: Ref[]) => Ref;
  atol?: number;
  rtol?: number;
  /** Shared by the checks of one fixed case under several kernel variants: its finite differences are taken once (src/check/gradients.ts). */
  numeric?: Map<string, number>;
}

/**
 * Throws, naming the worst element, unless the result and every gradient are within atol (1e-4) +
 * rtol (1e-3) |want| (1e-3 + 1e-2 let a gradient 0.5% off through; 1e-5 + 1e-4 fails the float32
 * forward of LayerNorm rows of two nearly equal values).
 */
export async function checkGrad(c: GradCase): Promise<void> {
  const tol = { atol: c.atol ?? 1e-4, rtol: c.rtol ?? 1e-3 };
  const needsGrad = c.inputs.map((_, k) => c.differentiable?.[k] ?? true);
  const result = await checkSample(
    { inputs: c.inputs.map((ref, k) => ({ ref, dtype: 'float32', grad: needsGrad[k]! })), reference: c.reference, tol, gradTol: tol },
    (ts) => c.engine(ts),
    { needsGrad, elements: (n) => [...Array(n).keys()], numeric: c.numeric, describe: (ts) => `${c.name} (${ts.map((t) => t.describe()).join(', ')})` },
  );
  if (result.failure) throw new Error(`${result.what}: ${result.failure}`);
}
