// var and std beyond the op table's drawn calls (test/ops.test.ts, which draws corrections below the
// count N of reduced elements): values PyTorch 1.13 gives where N - correction <= 0 (+inf, NaN) and
// their gradients, std's zero gradient at a constant row, no elements, 0-d tensors, float16 inputs
// whose squares overflow float16, a large mean over a small spread against float64, and the errors.
import { beforeAll, describe, expect, it } from 'vitest';
import { ops, scope, std, tensor, zeros, type Tensor } from '../src/index.js';
import { seededValues, toHalf } from '../src/check/index.js';
import { setupDevice } from './helpers.js';

beforeAll(setupDevice);

const variance = ops.var;
const values = async (t: Tensor) => [...(await t.toArray())];

/** The result and the gradient of its sum, for x given as a plain array. */
async function withGrad(f: (x: Tensor) => Tensor, x: number[]): Promise<[number[], number[]]> {
  const t = tensor(x).requiresGrad_();
  const y = f(t);
  y.sum().backward();
  return [await values(y), await values(t.grad!)];
}

describe('var and std', () => {
  // torch.var / torch.std (dim 0) and .backward() in PyTorch 1.13
  it('divide by max(N - correction, 0): +inf or NaN where that is 0, with PyTorch\'s gradients', () =>
    scope(async () => {
      expect(await withGrad((x) => variance(x, 0), [2])).toEqual([[NaN], [NaN]]);
      expect(await withGrad((x) => std(x, 0), [2])).toEqual([[NaN], [NaN]]);
      expect(await withGrad((x) => variance(x, 0, { correction: 2 }), [1, 2])).toEqual([[Infinity], [-Infinity, Infinity]]);
      expect(await withGrad((x) => variance(x, 0, { correction: 2 }), [1, 1])).toEqual([[NaN], [NaN, NaN]]);
      expect(await withGrad((x) => std(x, 0, { correction: 2 }), [1, 2])).toEqual([[Infinity], [NaN, NaN]]);
      expect(await withGrad((x) => std(x, 0, { correction: 2 }), [1, 1])).toEqual([[NaN], [NaN, NaN]]);
    }));

  // IEEE's NaN / 0 and inf · NaN: the deviations of a NaN or inf input are NaN (inf - inf)
  it('over a divisor of 0, an input\'s NaN or inf gives NaN, and its gradient NaN where the deviation is', () =>
    scope(async () => {
      expect(await withGrad((x) => variance(x, 0), [NaN])).toEqual([[NaN], [NaN]]);
      expect(await withGrad((x) => variance(x, 0, { correction: 2 }), [Infinity, 1])).toEqual([[NaN], [NaN, -Infinity]]);
      expect(await values(std(tensor([NaN]), 0))).toEqual([NaN]);
    }));

  it('std of a constant row is 0 with a zero gradient (PyTorch\'s subgradient, not 0 / 0)', () =>
    scope(async () => {
      expect(await withGrad((x) => x.std(), [2, 2, 2])).toEqual([[0], [0, 0, 0]]);
      expect(await withGrad((x) => x.std(0, { correction: 0 }), [-1.5, -1.5])).toEqual([[0], [0, 0]]);
    }));

  it('over all axes by default, several, keepdim; correction 0 biased, negative allowed; 0-d as one element', () =>
    scope(async () => {
      const x = tensor([[0, 1, 2], [3, 4, 5]]);
      const all = variance(x, [0, 1], { keepdim: true });
      expect(all.shape).toEqual([1, 1]);
      expect(await values(all)).toEqual([3.5]);
      expect(await x.var(undefined, { correction: 0 }).item()).toBeCloseTo(35 / 12, 6);
      expect(await x.var(undefined, { correction: -1 }).item()).toBeCloseTo(2.5, 6);
      expect(await values(x.std(-1))).toEqual([1, 1]);
      expect(await tensor(2).var().item()).toBeNaN();
      expect(await tensor(2).var(0, { correction: 0 }).item()).toBe(0);
    }));

  it('of no elements are NaN (the mean\'s 0 / 0), gradient empty', () =>
    scope(async () => {
      expect(await withGrad((x) => variance(x), [])).toEqual([[NaN], []]);
      const y = std(zeros([3, 0]), 1);
      expect(y.shape).toEqual([3]);
      expect(await values(y)).toEqual([NaN, NaN, NaN]);
    }));

  it('of float16 inputs are computed in float32: squares past float16\'s range do not overflow', () =>
    scope(async () => {
      const x = tensor([300, -300, 0, 0, 0, 0, 0, 0, 0, 0], [10], 'float16');
      const v = x.var();
      expect(v.dtype).toBe('float16');
      expect(await v.item()).toBe(20000); // 180000 / 9, exact in float16
      expect(await x.std().item()).toBe(toHalf(Math.sqrt(20000)));
    }));

  // 3000 ± 0.01 (mean / std ~ 5e5): the f32 mean is off by δ >= ulp(3000) / 2 = 1.2e-4, which a
  // plain two-pass sum of squares turns into n δ² (relative error δ² / σ²: 1e-3 to 4e-3 measured on
  // lavapipe) and the gradient into δ / σ (2e-2 to 3.5e-2); the corrected two-pass (Chan, Golub,
  // LeVeque) takes them back out (8e-8 and 6e-8 measured). Bounds: relative 1e-5 for var and std,
  // 1e-5 of the largest element for the gradient.
  it('of a large mean over a small spread match float64 (the corrected two-pass sum)', () =>
    scope(async () => {
      const [rows, n] = [3, 1000];
      const x = Array.from(seededValues(rows * n, 7, -0.01, 0.01), (v) => Math.fround(3000 + v));
      const t = tensor(x, [rows, n]).requiresGrad_();
      const [v, s] = [variance(t, 1), std(t, 1)];
      v.sum().backward();
      const [gotVar, gotStd, gotGrad] = [await values(v), await values(s), await values(t.grad!)];
      for (let r = 0; r < rows; r++) {
        const row = x.slice(r * n, (r + 1) * n);
        const mean = row.reduce((a, b) => a + b, 0) / n;
        const want = row.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
        expect(Math.abs(gotVar[r]! - want) / want).toBeLessThan(1e-5);
        expect(Math.abs(gotStd[r]! - Math.sqrt(want)) / Math.sqrt(want)).toBeLessThan(1e-5);
        const grad = row.map((b) => (2 * (b - mean)) / (n - 1));
        const largest = Math.max(...grad.map(Math.abs));
        const worst = Math.max(...grad.map((g, i) => Math.abs(gotGrad[r * n + i]! - g)));
        expect(worst / largest).toBeLessThan(1e-5);
      }
    }));

  it('refuse bad options, axes and inputs with one line naming the op', () =>
    scope(() => {
      const x = tensor([1, 2, 3]);
      expect(() => variance(x, 0, { unbiased: false } as never)).toThrow(/^var: unknown option 'unbiased' \(the options are correction, keepdim\)$/);
      expect(() => std(x, 0, null as never)).toThrow(/^std: the options must be an object of correction, keepdim, got null$/);
      expect(() => variance(x, 0, { correction: NaN })).toThrow(/^var: argument 'correction' must be a finite number, got number NaN$/);
      expect(() => x.std(0, { correction: '1' as never })).toThrow(/^std: argument 'correction' must be a finite number, got string '1'$/);
      expect(() => x.var(0, { keepdim: 'yes' as never })).toThrow(/^var: argument 'keepdim' must be a boolean, got string 'yes'$/);
      expect(() => x.var(1)).toThrow(/^var: argument 'axes' must be an integer in \[-1, 0\] for float32\[3\], got number 1$/);
      expect(() => variance(tensor([1, 2], [2], 'int32'))).toThrow(/^var: argument 'input' must be a float32 or float16 tensor, got int32\[2\]$/);
      expect(() => std('x' as never)).toThrow(/^std: argument 'input' must be a Tensor, got string 'x'$/);
    }));
});
