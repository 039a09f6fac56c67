// linear(x, weight, bias) = x · weightᵀ + bias beyond the op table's drawn calls (test/ops.test.ts):
// empty dims (K = 0, N = 0, no rows) and rank-1 x with their gradients, gradients for only some
// inputs, x a reshape of another tensor, a binding limit the fused bias does not fit, the skinny
// kernels' autotuning with a bias (it runs later, on scratch), and the errors. Against float64
// (linearRef, central differences): |got - want| <= atol + rtol |want|, atol 1e-3, rtol 1e-2 for
// gradients; forward 1e-5 sqrt(K) + 1e-4 |want| (float32 dot products).
import { beforeAll, describe, expect, it } from 'vitest';
import { device, Embedding, Generator, LayerNorm, Linear, linear, scope, tensor } from '../src/index.js';
import { autotuneSettled, setAutotune } from '../src/kernels/autotune.js';
import { profile, setProfile } from '../src/kernels/profile.js';
import { checkGrad } from './gradcheck.js';
import { autotuneCacheDir, expectClose, seededValues, setupDevice, toTensor } from './helpers.js';
import { linearRef, numel, ref, type Ref } from '../src/check/reference/index.js';

beforeAll(setupDevice);

const values = (shape: number[], seed: number): Ref => ref(shape, seededValues(numel(shape), seed).map(Math.fround));
const tol = (K: number) => [1e-5 * Math.sqrt(Math.max(K, 1)), 1e-4] as const;

describe('linear gradients', () => {
  it.each([
    { what: 'K = 0 (every output is the bias)', x: [3, 0], N: 4 },
    { what: 'N = 0 (no outputs)', x: [3, 2], N: 0 },
    { what: 'no rows', x: [0, 2], N: 3 },
    { what: 'rank-1 x', x: [5], N: 3 },
    { what: 'rank-3 x, 6 rows (skinny: the bias added as the product stores)', x: [2, 3, 8], N: 5 },
    { what: 'rank-3 x, 40 rows (tiles, then add)', x: [4, 10, 6], N: 7 },
  ])('$what: x $x, N $N', ({ x, N }) =>
    checkGrad({
      name: `linear ${x} N ${N}`,
      inputs: [values(x, 1), values([N, x.at(-1)!], 2), values([N], 3)],
      engine: ([x, w, b]) => linear(x!, w!, b!),
      reference: ([x, w, b]) => linearRef(x!, w!, b!),
    }));

  it.each([
    [true, false, false],
    [false, true, false],
    [false, false, true],
    [true, false, true],
  ])('gradients for some inputs only (x, weight, bias: %s %s %s), skinny and tiled rows', async (...differentiable) => {
    for (const x of [[2, 12], [33, 12]]) {
      await checkGrad({
        name: `linear ${x} N 5, differentiable ${differentiable}`,
        inputs: [values(x, 4), values([5, 12], 5), values([5], 6)],
        differentiable,
        engine: ([x, w, b]) => linear(x!, w!, b!),
        reference: ([x, w, b]) => linearRef(x!, w!, b!),
      });
    }
  });
});

describe('linear without a bias (torch.nn.functional.linear(x, w))', () => {
  it.each([[[5]], [[2, 3, 8]], [[33, 12]]])('x %j: the product alone, and its gradients; null as undefined', async (x) => {
    const K = x.at(-1)!;
    for (const bias of [undefined, null]) {
      await checkGrad({
        name: `linear ${x} N 4, bias ${bias}`,
        inputs: [values(x, 21), values([4, K], 22)],
        engine: ([x, w]) => linear(x!, w!, bias),
        reference: ([x, w]) => linearRef(x!, w!, null),
      });
    }
    await scope(async () => expect(() => linear(toTensor(values(x, 1)), toTensor(values([4, K + 1], 2)))).toThrow(/^linear: weight float32\[4, \d+\] must be \[N, K\] for input/));
  });
});

describe('linear forward', () => {
  it('x a reshape of another tensor: the result, and the gradient reaches the tensor reshaped', () =>
    scope(async () => {
      const [base, w, b] = [values([6, 8], 7), values([5, 8], 8), values([5], 9)];
      const x0 = toTensor(base).requiresGrad_();
      const y = linear(x0.reshape([2, 3, 8]), toTensor(w), toTensor(b));
      await expectClose(y, linearRef(ref([2, 3, 8], base.data), w, b), ...tol(8), 'linear of a reshape');
      y.sum().backward();
      // d sum(y) / dx[r, k] = sum_n w[n, k], for every row
      const colSums = Array.from({ length: 8 }, (_, k) => [0, 1, 2, 3, 4].reduce((s, n) => s + w.data[n * 8 + k]!, 0));
      await expectClose(x0.grad!, ref([6, 8], Array.from({ length: 48 }, (_, i) => colSums[i % 8]!)), 1e-5, 1e-4, 'grad of the reshaped tensor');
    }));

  it('a binding limit the operands do not fit (4096 bytes): products in blocks, then the bias; skinny and tiled rows', async () => {
    setProfile({ bindingLimit: 4096 });
    try {
      for (const M of [2, 40]) {
        await scope(async () => {
          const [x, w, b] = [values([M, 64], 10 + M), values([40, 64], 11), values([40], 12)];
          expect(40 * 64 * 4, 'the weight exceeds a binding').toBeGreaterThan(profile().bindingLimit);
          await expectClose(linear(toTensor(x), toTensor(w), toTensor(b)), linearRef(x, w, b), ...tol(64), `linear [${M}, 64] past the binding`);
        });
      }
    } finally {
      setProfile(null);
    }
  });
});

describe('linear with autotuning (skinny kernels "auto")', () => {
  const cacheDir = autotuneCacheDir('linear-autotune-');

  it('the measurement, queued by a call whose bias is freed and destroyed before it runs, binds scratch: no GPU error, the same results after', async () => {
    process.env.GPT_CACHE_DIR = cacheDir; // winners go to a scratch cache, not the user's
    setAutotune(true);
    setProfile({ matmul: { skinny: 'auto' } });
    const [x, w, b] = [values([3, 68], 13), values([37, 68], 14), values([37], 15)];
    const want = linearRef(x, w, b);
    const [xt, wt] = [toTensor(x), toTensor(w)];
    try {
      await scope(async () => {
        await linear(xt, wt, toTensor(b)).toArray(); // loads the tuned winners: later calls queue measurements
        await autotuneSettled();
        const bias = toTensor(b);
        await expectClose(linear(xt, wt, bias), want, ...tol(68), 'linear, untuned (the measurement queued)');
        bias.dispose();
      });
      device().emptyCache(); // destroys the freed bias's buffer
      await autotuneSettled();
      await scope(async () => {
        await expectClose(linear(xt, wt, toTensor(b)), want, ...tol(68), 'linear, tuned');
      });
    } finally {
      xt.dispose();
      wt.dispose();
    }
  });
});

describe('linear errors', () => {
  it.each([
    { what: 'K differs', x: [2, 3], w: [4, 2], b: [4], message: /^linear: weight float32\[4, 2\] must be \[N, K\] for input float32\[2, 3\] \(K = 3\)$/ },
    { what: 'weight rank 1', x: [2], w: [2], b: [2], message: /^linear: weight float32\[2\] must be \[N, K\] for input float32\[2\] \(K = 2\)$/ },
    { what: 'weight rank 3', x: [2], w: [1, 2, 2], b: [2], message: /^linear: weight float32\[1, 2, 2\] must be \[N, K\]/ },
    { what: 'bias not [N]', x: [2], w: [3, 2], b: [2], message: /^linear: bias .*\[3\].*float32\[2\]/ },
    { what: 'scalar x', x: [], w: [3, 1], b: [3], message: /^linear: input \[\.\.\., K\] must have rank >= 1, got float32\[\]$/ },
  ])('$what: one line naming linear, what was given and what is allowed', ({ x, w, b, message }) =>
    scope(() => {
      const t = (s: number[]) => tensor(new Float32Array(numel(s)), s);
      expect(() => linear(t(x), t(w), t(b))).toThrow(message);
    }));

  it('the Linear and Embedding layers: sizes and options named in one line', () => {
    // new Linear(2, 3) without options read 'int8' of undefined; Linear(-1, 3) failed as 'randn: ...'
    const rng = new Generator(0);
    expect(() => new Linear(2, 3, undefined as never)).toThrow(/^Linear: argument 'opts' must be \{ rng: Generator, std\? \} \(or \{ int8: true \}\), got undefined$/);
    expect(() => new Linear(2, 3, { std: 0.1 } as never)).toThrow(/^Linear: argument 'opts' must be .*, got an object \(Object\)$/);
    expect(() => new Linear(-1, 3, { rng })).toThrow(/^Linear: argument 'inFeatures' must be an integer >= 0, got number -1$/);
    expect(() => new Linear(2, 2.5, { rng })).toThrow(/^Linear: argument 'outFeatures' must be an integer >= 0, got number 2.5$/);
    expect(() => new Embedding(5, '3' as never, { rng })).toThrow(/^Embedding: argument 'dim' must be an integer >= 0, got string '3'$/);
    // std failed as 'randn: ...'; LayerNorm(-1) as 'full: ...', and eps -1 was taken until the first forward
    expect(() => new Linear(2, 3, { rng, std: -1 })).toThrow(/^Linear: argument 'std' must be a finite number >= 0, got number -1$/);
    expect(() => new Embedding(5, 3, { rng, std: '1' as never })).toThrow(/^Embedding: argument 'std' must be a finite number >= 0, got string '1'$/);
    expect(() => new LayerNorm(-1)).toThrow(/^LayerNorm: argument 'dim' must be an integer >= 0, got number -1$/);
    expect(() => new LayerNorm(4, { eps: -1 })).toThrow(/^LayerNorm: argument 'eps' must be a finite number >= 0, got number -1$/);
    expect(() => new LayerNorm(4, { eps: 1e39 })).toThrow(/^LayerNorm: argument 'eps' must be within float32's range \(\|x\| < 3\.4e38: a kernel takes it as float32\), got number 1e\+39$/); // a kernel's float32 uniform
    // train('no') set training to the truthy string: dropout stayed on
    const ln = new LayerNorm(4);
    expect(() => ln.train('no' as never)).toThrow(/^Module\.train: argument 'on' must be a boolean, got string 'no'$/);
    ln.dispose();
  });

  it('a float16 bias for float32 x and weight', () =>
    scope(() => {
      expect(() => linear(tensor([1, 2], [1, 2]), tensor([1, 2], [1, 2]), tensor([1], [1], 'float16'))).toThrow(/^linear: .*float16/);
    }));
});
