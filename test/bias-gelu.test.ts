// biasGelu(x, b) = gelu(x + b) beyond the op table's drawn calls (test/ops.test.ts): more elements
// than a grid axis holds, agreement with the unfused gelu(x + b), many rows for the bias gradient,
// memory and errors. Tolerances, |got - want| <= atol + rtol |want|:
//   forward                 atol 1e-5, rtol 2e-5  (as the gelu op: A&S 7.1.26 erf is good to 1.5e-7)
//   gradients (x and bias)  atol 1e-3, rtol 1e-2  against float64 central differences
import { beforeAll, describe, expect, it } from 'vitest';
import { biasGelu, gelu, scope, tensor, type Tensor } from '../src/index.js';
import { checkGrad } from './gradcheck.js';
import { expectBuffersReturned, expectClose, seededValues, setupDevice, toTensor } from './helpers.js';
import { biasGeluRef, ref } from '../src/check/reference/index.js';

beforeAll(setupDevice);

describe('biasGelu forward', () => {
  it('more elements than one grid axis holds ([70000, 3]); the method form agrees', () =>
    scope(async () => {
      const x = ref([70_000, 3], seededValues(210_000, 3, -6, 6).map(Math.fround));
      const b = ref([3], [0.5, -1, 2]);
      const y = toTensor(x).biasGelu(toTensor(b));
      await expectClose(y, biasGeluRef(x, b), 1e-5, 2e-5, 'biasGelu [70000, 3]');
    }));

  it('agrees with the unfused gelu(x.add(b)) (the same erf)', () =>
    scope(async () => {
      const x = toTensor(ref([5, 33], seededValues(165, 4, -5, 5)));
      const b = toTensor(ref([33], seededValues(33, 5, -2, 2)));
      const fused = await biasGelu(x, b).toArray();
      const plain = await gelu(x.add(b)).toArray();
      for (let i = 0; i < fused.length; i++) expect(Math.abs(fused[i]! - plain[i]!)).toBeLessThan(1e-6);
    }));
});

describe('biasGelu backward', () => {
  it('many rows (db sums 4096 of them)', () =>
    checkGrad({
      name: 'biasGelu [64, 64, 5]',
      inputs: [ref([64, 64, 5], seededValues(64 * 64 * 5, 21, -3, 3)), ref([5], seededValues(5, 22))],
      differentiable: [false, true], // finite differences of all 20480 x would take minutes
      engine: ([x, b]) => biasGelu(x!, b!),
      reference: ([x, b]) => biasGeluRef(x!, b!),
      atol: 2e-3,
    }));

  it('returns every buffer after forward and backward', () =>
    expectBuffersReturned(async () => {
      const x = toTensor(ref([4, 6], seededValues(24, 1)));
      const b = toTensor(ref([6], seededValues(6, 2)));
      for (const t of [x, b]) t.requiresGrad = true;
      x.biasGelu(b).sum().backward();
      await b.grad!.toArray();
    }));
});

describe('biasGelu errors name the op and the shapes', () => {
  it('rejects bad dtypes and shapes', () =>
    scope(() => {
      const x = tensor(new Float32Array(6), [2, 3]);
      const run = (a: Tensor, b: Tensor) => () => biasGelu(a, b);
      expect(run(x, tensor(new Float32Array(2), [2]))).toThrow(/biasGelu: bias for x float32\[2, 3\] must have shape \[3\], got float32\[2\]/);
      expect(run(x, tensor(new Float32Array(3), [1, 3]))).toThrow(/biasGelu: .* must have shape \[3\], got float32\[1, 3\]/);
      expect(run(tensor(new Float32Array(1), []), tensor(new Float32Array(1), [1]))).toThrow(/^biasGelu: input \[\.\.\., C\] must have rank >= 1, got float32\[\]$/);
      expect(run(tensor(new Int32Array(6), [2, 3]), tensor(new Float32Array(3), [3]))).toThrow(/^biasGelu: argument 'input' must be a float32 or float16 tensor, got int32\[2, 3\]$/);
      const gone = tensor(new Float32Array(3), [3]);
      gone.dispose();
      expect(run(x, gone)).toThrow(/biasGelu: tensor float32\[3\] was used after dispose\(\)/);
    }));
});
