// Gradient properties: the engine's analytic gradients against central finite differences of the
// float64 reference forward (float64 differences are exact enough to be the yardstick; float32
// ones are not). The scalar under test is L = sum(w * f(x)) with fixed pseudo-random weights w,
// so every output element's gradient path is exercised.
import { expect } from 'vitest';
import { scope, tensor, type Tensor } from '../src/index.js';
import { expectClose, seededValues } from './helpers.js';
import { numel, type Ref } from './reference.js';

export interface GradCase {
  name: string;
  inputs: Ref[];
  /** Which inputs get a gradient (default: all). */
  differentiable?: boolean[];
  engine: (xs: Tensor[]) => Tensor;
  reference: (xs: Ref[]) => Ref;
  atol?: number;
  rtol?: number;
  /** Finite-difference step (float64). */
  h?: number;
}

export function numericGrads(c: GradCase, w: Float64Array): Ref[] {
  const h = c.h ?? 1e-5;
  const loss = (xs: Ref[]) => {
    const y = c.reference(xs);
    let s = 0;
    for (let i = 0; i < y.data.length; i++) s += w[i]! * y.data[i]!;
    return s;
  };
  return c.inputs.map((x, k) => {
    const g = new Float64Array(x.data.length);
    if (c.differentiable && !c.differentiable[k]) return { shape: x.shape, data: g };
    for (let i = 0; i < x.data.length; i++) {
      const plus = c.inputs.map((r) => ({ shape: r.shape, data: Float64Array.from(r.data) }));
      const minus = c.inputs.map((r) => ({ shape: r.shape, data: Float64Array.from(r.data) }));
      plus[k]!.data[i]! += h;
      minus[k]!.data[i]! -= h;
      g[i] = (loss(plus) - loss(minus)) / (2 * h);
    }
    return { shape: x.shape, data: g };
  });
}

export async function checkGrad(c: GradCase): Promise<void> {
  const outShape = c.reference(c.inputs).shape;
  const w = seededValues(numel(outShape), 1234 + numel(outShape), -1, 1);
  const want = numericGrads(c, w);
  await scope(async () => {
    const xs = c.inputs.map((r, k) => {
      const t = tensor(Float32Array.from(r.data), r.shape);
      t.requiresGrad = !c.differentiable || c.differentiable[k]!;
      return t;
    });
    const y = c.engine(xs);
    expect([...y.shape], `${c.name}: output shape`).toEqual(outShape);
    const weights = tensor(Float32Array.from(w), outShape);
    y.mul(weights).sum().backward();
    for (let k = 0; k < xs.length; k++) {
      if (c.differentiable && !c.differentiable[k]) continue;
      const g = xs[k]!.grad;
      if (!g) throw new Error(`${c.name}: input ${k} got no gradient`);
      await expectClose(g, want[k]!, c.atol ?? 1e-3, c.rtol ?? 1e-2, `${c.name}: d/dinput${k}`);
    }
    for (const x of xs) x.dispose();
  });
}
