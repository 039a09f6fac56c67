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
import { autocast, CastCache, device, noGrad, scope, tensor, zeros, type Tensor } from '../src/index.js';
import { maskInPlace } from '../src/ops/index.js';
import { castForCompute } from '../src/nn/autocast.js';
import { castGroupSize } from '../src/kernels/wgsl/cast-group.js';
import { f16BitsToF32, f32ToF16Bits } from '../src/tensor/half.js';
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

  it('an async fn computes in float16 until its promise settles, as noGrad keeps its mode; a non-function is refused in one line', async () => {
    const model = new GPT(configOf(false, 0), { seed: 3 });
    await scope(async () => {
      const { idx } = batch(3, 20);
      const settled = autocast('float16', async () => {
        await new Promise((r) => setTimeout(r, 1));
        return model.forward(idx).logits;
      });
      expect((await settled).dtype).toBe('float16');
      expect(model.forward(idx).logits.dtype).toBe('float32'); // and float32 again after it
      const failed = autocast('float16', async () => {
        await new Promise((r) => setTimeout(r, 1));
        throw new Error('inside');
      });
      await expect(failed).rejects.toThrow('inside');
      expect(model.forward(idx).logits.dtype).toBe('float32');
    });
    expect(() => autocast('float16', null as never)).toThrow(/^autocast: argument 'fn' must be a function, got null$/);
    // a cache that is not one failed at the first layer as 'casts?.copyOf is not a function', after fn's work before it
    let ran = false;
    expect(() => autocast('float16', () => void (ran = true), {} as never)).toThrow(/^autocast: argument 'casts' must be a CastCache or undefined, got an object \(Object\)$/);
    expect(ran).toBe(false);
    model.dispose();
  });

  it("without shader-f16, autocast('float16') is refused under its own name before fn runs; 'float32' runs", () => {
    setProfile({ f16: false });
    let ran = false;
    const fn = () => void (ran = true);
    expect(() => autocast('float16', fn)).toThrow(/^autocast: float16 tensors need WebGPU's shader-f16 feature, and .*; use float32$/);
    expect(ran).toBe(false); // it ran up to a layer's cast, refused as 'cast', after the work before it
    autocast('float32', fn);
    expect(ran).toBe(true);
  });

  it('an async autocast computes in float16 in its own task only: a task interleaved with it stays float32', async () => {
    const model = new GPT(configOf(false, 0), { seed: 3 });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    await scope(async () => {
      const { idx } = batch(3, 20);
      const [inside, outside] = await Promise.all([
        autocast('float16', async () => {
          await sleep(20);
          return model.forward(idx).logits; // after the other task ran meanwhile
        }),
        (async () => {
          await sleep(5); // while the autocast above waits
          return model.forward(idx).logits;
        })(),
      ]);
      expect(inside.dtype).toBe('float16');
      expect(outside.dtype).toBe('float32');
    });
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

/** A float32 value rounded to float16 on the host (round to nearest even): the reference for a cast. */
const half = (x: number) => f16BitsToF32(f32ToF16Bits(x));
/** Float32 values of `n` elements across magnitudes (so that sums in another order round otherwise). */
const spread = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 97 + i * 13.7) * 10 ** ((seed + i * 7) % 7 - 3));

describe('a CastCache (a training step\'s float16 weights, cast once)', () => {
  it('holds the host rounding of each tensor, cast in as few dispatches as the bindings allow (4 KiB bindings too); a copy is handed out until its tensor changes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 2500 }), { minLength: 1, maxLength: 12 }), fc.boolean(), fc.integer({ min: 0, max: 1000 }), async (sizes, small, seed) => {
        setProfile(small ? { bindingLimit: 4096 } : null);
        await scope(async () => {
          const ts = sizes.map((n, k) => tensor(spread(n, seed + k), [n]));
          const before = device().stats.dispatches;
          const cache = new CastCache(ts);
          // each tensor a member, or a member per piece where it exceeds a binding
          const members = sizes.reduce((m, n) => m + (small ? Math.ceil((4 * n) / 4096) : 1), 0);
          expect(device().stats.dispatches - before, `${members} members`).toBe(Math.ceil(members / castGroupSize()));
          try {
            const handed = ts.map((t) => autocast('float16', () => castForCompute(t), cache));
            expect(device().stats.dispatches - before, 'no cast per use').toBe(Math.ceil(members / castGroupSize()));
            for (const [k, h] of handed.entries()) expect(Array.from(await h.toArray()), `tensor ${k}`).toEqual(Array.from(spread(sizes[k]!, seed + k), half));
            // an in-place update (an optimizer step, a pruning mask) or assign: the copy is stale, cast afresh
            maskInPlace([ts[0]!], [zeros(ts[0]!.shape)]);
            ts.at(-1)!.assign(ts.at(-1)!.mul(-2));
            for (const t of [ts[0]!, ts.at(-1)!]) expect(Array.from(await autocast('float16', () => castForCompute(t), cache).toArray())).toEqual(Array.from(await t.toArray(), half));
            expect(cache.copyOf(ts[0]!)).toBeNull();
          } finally {
            cache.dispose();
          }
        });
      }),
      fcParams(6),
    );
  });

  it('gradients through its copies are those of a cast at each use, bit for bit: any order of uses, direct uses beside them, accumulated over backward calls', async () => {
    // uses of a few float32 leaves, each through a float16 cast or directly, weighted by values of
    // many magnitudes and summed: each leaf's gradient is a sum whose rounding depends on its order
    const use = fc.record({ leaf: fc.nat(3), cast: fc.boolean(), seed: fc.nat(1000) });
    await fc.assert(
      fc.asyncProperty(fc.array(use, { minLength: 1, maxLength: 24 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 40 }), async (uses, calls, n) => {
        const grads = async (cached: boolean) =>
          scope(async () => {
            const leaves = [0, 1, 2, 3].map((k) => tensor(spread(n, 5 + k), [n]).requiresGrad_());
            const cache = cached ? new CastCache(leaves) : undefined;
            let held: Tensor | null = null; // a view of leaf 0's gradient, held across the calls: it must not change
            let heldValues: number[] = [];
            for (let c = 0; c < calls; c++) {
              autocast('float16', () => {
                const terms = uses.map(({ leaf, cast, seed }) => {
                  const w = tensor(spread(n, seed + c), [n]);
                  return cast ? castForCompute(leaves[leaf]!).mul(w.astype('float16')).astype('float32').sum() : leaves[leaf]!.mul(w).sum();
                });
                terms.reduce((a, b) => a.add(b)).backward();
              }, cache);
              if (!held && leaves[0]!.grad) [held, heldValues] = [leaves[0]!.grad.view([n]), Array.from(await leaves[0]!.grad.toArray())];
            }
            cache?.dispose();
            if (held) expect(Array.from(await held.toArray()), 'a view of an earlier gradient').toEqual(heldValues);
            return Promise.all(leaves.map(async (l) => (l.grad ? Array.from(await l.grad.toArray()) : null)));
          });
        const [want, got] = [await grads(false), await grads(true)];
        got.forEach((g, k) => expect(g, `leaf ${k}`).toEqual(want[k]));
      }),
      fcParams(15),
    );
  });

  // its gradients reached the leaf by another path than backward's: a .grad disposed by hand (a
  // cleared one to backward) failed as 'use: tensor float32[3] was used after dispose()', and one of
  // another shape was refused as castInto's targets, the late gradients left allocated
  it("reach a leaf's .grad as backward's own do: a disposed one is cleared, one of another shape refused in backward's words", () =>
    scope(async () => {
      const leaf = tensor([1, 2, 3]).requiresGrad_();
      const cache = new CastCache([leaf]);
      const backward = () => autocast('float16', () => castForCompute(leaf).mul(2).astype('float32').sum().backward(), cache);
      backward();
      leaf.grad!.dispose(); // without `= null`
      backward();
      expect(Array.from(await leaf.grad!.toArray())).toEqual([2, 2, 2]);
      leaf.grad!.dispose();
      leaf.grad = tensor([1, 2]);
      const before = device().memory().liveBytes;
      expect(() => scope(backward)).toThrow(/^backward: the \.grad of float32\[3\] is float32\[2\]; set it to a tensor of its shape and dtype, or null$/);
      expect(device().memory().liveBytes).toBe(before);
      cache.dispose();
    }));

  // the float16 copies were allocated (and kept) before the cast refused: a disposed tensor among
  // them, or float16 turned off (evaluateModel's dtype float16 there) left them live for good
  it('that cannot be made leaves live bytes as they were', () => {
    const [a, b] = [zeros([5]), zeros([7])];
    b.dispose();
    const before = device().memory();
    expect(() => new CastCache([a, b])).toThrow(/^castInto: tensor float32\[7\] was used after dispose\(\)$/);
    setProfile({ f16: false });
    expect(() => new CastCache([a])).toThrow(/^castInto: float16 tensors need WebGPU's shader-f16 feature/);
    expect(device().memory().liveBytes).toBe(before.liveBytes);
    expect(device().memory().liveBuffers).toBe(before.liveBuffers);
    a.dispose();
  });
});
