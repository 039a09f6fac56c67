// Mixed precision: a GPT under autocast('float16') computes in float16 from its float32 parameters
// and must give the float32 model's loss and gradients up to float16's rounding, with every
// gradient float32 (the casts are differentiable) and the parameters left float32; outside
// autocast (or under 'float32') nothing changes, bit for bit; and a training loop under autocast
// keeps live GPU memory flat.
//
// The tolerance, from float16's unit roundoff u = 2^-11 (4.9e-4): each value the float16 model
// keeps (a Linear's or LayerNorm's output, attention's, GELU's, a residual sum, each backward
// rule's gradient) is rounded once, accumulated in float32. A parameter's gradient reaches it
// through some 20-40 such roundings per layer, forward and back, of random sign, so its error is
// about sqrt(40 nLayer) u ~ 4e-3 of its norm at most (measured: 0.8-1.4e-3, 2-3u); we allow
// 1e-2 = 20u of the gradient's norm (and of the loss), which a wrong rule (a missing cast's
// gradient, a gradient in the wrong dtype or place, a 1% scale anywhere) exceeds.
import fc from 'fast-check';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GPT, type GPTConfig } from '../src/gpt/model.js';
import { quantizeModel } from '../src/gpt/quantize.js';
import { profile, setProfile } from '../src/kernels/profile.js';
import { autocast, device, noGrad, scope, tensor, type Tensor } from '../src/index.js';
import { fcParams, setupDevice } from './helpers.js';

beforeAll(setupDevice);
afterEach(() => setProfile(null));

const [B, T] = [2, 8];
const TOL = 1e-2;

const configOf = (bias: boolean, dropout: number, V = 20): GPTConfig => ({ vocabSize: V, blockSize: T, nLayer: 2, nHead: 4, nEmbd: 32, dropout, bias });

/** A batch of ids and targets (some ignored) drawn from `seed`. */
function batch(seed: number, V: number): { idx: Tensor; targets: Tensor } {
  const ids = Int32Array.from({ length: B * T }, (_, i) => (seed * 7919 + i * 31 + ((i * i) % 7)) % V);
  const targets = ids.map((t, i) => (i % 5 === seed % 5 ? -1 : (t * 3 + 1) % V));
  return { idx: tensor(ids, [B, T]), targets: tensor(targets, [B, T]) };
}

interface Run {
  loss: number;
  grads: Map<string, { dtype: string; data: ArrayLike<number> }>;
  paramDtypes: string[];
}

/** Loss and every parameter's gradient of a fresh GPT (seed `seed`) on the batch, the forward and backward run by `around`. */
async function run(cfg: GPTConfig, seed: number, around: (fn: () => Tensor) => Tensor): Promise<Run> {
  const model = new GPT(cfg, { seed });
  try {
    return await scope(async () => {
      const { idx, targets } = batch(seed, cfg.vocabSize);
      const loss = around(() => {
        const l = model.forward(idx, { targets }).loss;
        l.backward();
        return l;
      });
      expect(loss.dtype).toBe('float32');
      const grads = new Map<string, { dtype: string; data: ArrayLike<number> }>();
      for (const [name, p] of model.namedParameters()) grads.set(name, { dtype: p.grad!.dtype, data: await p.grad!.toArray() });
      return { loss: (await loss.toArray())[0]!, grads, paramDtypes: model.parameters().map((p) => p.dtype) };
    });
  } finally {
    model.dispose();
  }
}

const f32 = (fn: () => Tensor) => fn();
const f16 = (fn: () => Tensor) => autocast('float16', fn);

/** ||a - b|| / ||b||. */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let [d, n] = [0, 0];
  for (let i = 0; i < b.length; i++) [d, n] = [d + (a[i]! - b[i]!) ** 2, n + b[i]! ** 2];
  return Math.sqrt(d / Math.max(n, 1e-30));
}

describe('autocast float16', () => {
  // the chunked case: float16 logits [16, 65] (2080 B) over a 2 KiB binding limit (lower limits
  // block every small matmul too, and take a minute on lavapipe); one drawn model each, the
  // logits case also a fixed one with biases and dropout
  it.each([
    { path: 'logits and crossEntropy', bindingLimit: null, V: 20, runs: 2, examples: [[true, 0.1, 17]] as [boolean, number, number][] },
    { path: 'chunked linearCrossEntropy', bindingLimit: 2048, V: 65, runs: 1, examples: [] },
  ])('a GPT gives the float32 loss and gradients within 1e-2 of their norms ($path); gradients float32, parameters float32', async ({ bindingLimit, V, runs, examples }) => {
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.constantFrom(0, 0.1), fc.integer({ min: 1, max: 1000 }), async (bias, dropout, seed) => {
        setProfile(bindingLimit === null ? null : { bindingLimit });
        if (bindingLimit !== null) expect(2 * B * T * V, 'float16 logits exceed the binding: the chunked path runs').toBeGreaterThan(profile().bindingLimit);
        const cfg = configOf(bias, dropout, V); // dropout: the same seeds draw the same masks in both dtypes
        const want = await run(cfg, seed, f32);
        const got = await run(cfg, seed, f16);
        expect(got.paramDtypes.every((d) => d === 'float32'), 'parameters stay float32').toBe(true);
        expect(Math.abs(got.loss - want.loss), `loss ${got.loss} vs ${want.loss}`).toBeLessThanOrEqual(TOL * Math.abs(want.loss));
        const worst: [string, number][] = [];
        for (const [name, g] of want.grads) {
          const h = got.grads.get(name)!;
          expect(h.dtype, `${name}.grad dtype`).toBe('float32');
          const err = relativeError(h.data, g.data);
          worst.push([name, err]);
          expect(err, `${name}.grad relative error`).toBeLessThanOrEqual(TOL);
        }
        worst.sort((a, b) => b[1] - a[1]);
        console.log(`bias ${bias} dropout ${dropout} seed ${seed}: loss ${want.loss.toFixed(5)} vs ${got.loss.toFixed(5)}; worst grads ${worst.slice(0, 3).map(([n, e]) => `${n} ${e.toExponential(1)}`).join(', ')}`);
      }),
      { ...fcParams(runs), examples },
    );
  });

  it("outside autocast, or under 'float32', the model's loss and gradients are bit for bit what they were", async () => {
    const cfg = configOf(true, 0);
    const before = await run(cfg, 5, f32);
    await run(cfg, 5, f16); // an autocast run between leaves nothing switched on
    const after = await run(cfg, 5, f32);
    const explicit = await run(cfg, 5, (fn) => autocast('float32', fn));
    for (const r of [after, explicit]) {
      expect(r.loss).toBe(before.loss);
      for (const [name, g] of before.grads) expect(r.grads.get(name)!.data, name).toEqual(g.data);
    }
  });

  it('an int8 GPT runs under autocast: its int8 layers compute in float32 between casts, the logits are float16', async () => {
    const float = new GPT(configOf(true, 0), { seed: 8 });
    const model = await quantizeModel(float);
    float.dispose();
    model.eval();
    await noGrad(() =>
      scope(async () => {
        const { idx } = batch(8, 20);
        const want = model.forward(idx).logits;
        const got = autocast('float16', () => model.forward(idx).logits);
        expect(got.dtype).toBe('float16');
        expect(relativeError(await got.toArray(), await want.toArray())).toBeLessThanOrEqual(TOL);
      }),
    );
    model.dispose();
  });

  it('a training loop under autocast keeps live GPU bytes flat', async () => {
    const model = new GPT(configOf(true, 0.1), { seed: 3 });
    const { idx, targets } = batch(3, 20);
    const live: number[] = [];
    for (let i = 0; i < 5; i++) {
      model.zeroGrad();
      await scope(async () => {
        const loss = autocast('float16', () => {
          const l = model.forward(idx, { targets }).loss;
          l.backward();
          return l;
        });
        expect(Number.isFinite((await loss.toArray())[0]!)).toBe(true);
      });
      live.push(device().memory().liveBytes);
    }
    expect(new Set(live.slice(1)), `live bytes per iteration ${live.join(', ')}`).toEqual(new Set([live[1]]));
    for (const t of [idx, targets]) t.dispose();
    model.dispose();
  });
});
