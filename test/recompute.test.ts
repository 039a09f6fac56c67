// Activation checkpointing: checkpoint() against finite differences of a float64 reference, and a
// GPT's gradients, losses and memory with recompute against the same model recorded whole. The
// gradients are compared for exact equality: the recompute runs the same kernels on the same
// values (and dropout the same masks, its generator replayed), and the kernels are deterministic
// (no float atomics), so any difference is a bug, not rounding.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkpoint, device, dropout, type CheckpointOptions, isGradEnabled, layerNorm, matmul, noGrad, scope, sliceAssign, tensor, type Tensor } from '../src/index.js';
import { Generator } from '../src/tensor/generator.js';
import { Dropout } from '../src/nn/dropout.js';
import { dropoutMaskRef, gelu, layerNormRef, matmulRef, ref, type Ref } from '../src/check/reference/index.js';
import { GPT, type GPTConfig } from '../src/gpt/model.js';
import { memoryPlan } from '../src/gpt/memory-plan.js';
import { TRAIN_DEFAULTS, Trainer, type TrainConfig } from '../src/gpt/trainer.js';
import { autocast, CastCache, castForCompute } from '../src/nn/autocast.js';
import { cast } from '../src/ops/index.js';
import { profile } from '../src/kernels/profile.js';
import { withMemoryHint } from '../src/cli/device-fit.js';
import { checkGrad } from './gradcheck.js';
import { disposeTrainers, expectClose, fcParams, setupDevice, trainLosses, valuesArb } from './helpers.js';

beforeAll(setupDevice);

const P = 0.3; // dropout in the checkpointed function
const SEED = 5; // its generator's seed

/** A pre-LN residual branch with dropout: x + dropout(gelu(ln(x) w)), dropout's seed drawn from `gen`. */
function branch(x: Tensor, g: Tensor, b: Tensor, w: Tensor, gen: Generator): Tensor {
  return x.add(dropout(matmul(layerNorm(x, g, b), w).gelu(), P, gen.nextSeed()));
}

function branchRef(x: Ref, g: Ref, b: Ref, w: Ref): Ref {
  const h = matmulRef(layerNormRef(x, g, b), w);
  const keep = dropoutMaskRef(h.data.length, P, new Generator(SEED).nextSeed());
  return { shape: [...x.shape], data: x.data.map((v, i) => v + (keep[i] ? gelu(h.data[i]!) / (1 - P) : 0)) };
}

describe('checkpoint(fn, inputs)', () => {
  it('gradients of x and of the weights fn closes over match finite differences (dropout replayed; nested checkpoints too)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 2, max: 6 }), fc.boolean()).chain(([N, C, nested]) =>
          fc.tuple(fc.constant([N, C] as const), fc.constant(nested), valuesArb(N * C), valuesArb(C), valuesArb(C), valuesArb(C * C, -1, 1)),
        ),
        async ([[N, C], nested, x, g, b, w]) => {
          await checkGrad({
            name: `checkpoint${nested ? ' (nested)' : ''}`,
            inputs: [ref([N, C], x), ref([C], g), ref([C], b), ref([C, C], w)],
            engine: ([x, g, b, w]) => {
              const gen = new Generator(SEED);
              const run = (x: Tensor) => branch(x, g!, b!, w!, gen);
              // nested: an inner checkpoint recorded by the outer one's recompute
              return checkpoint((x) => (nested ? checkpoint(run, [x]).mul(1) : run(x)), [x!]);
            },
            reference: ([x, g, b, w]) => branchRef(x!, g!, b!, w!),
            atol: 2e-3,
          });
        },
      ),
      fcParams(6),
    );
  });

  /** w's gradient through a checkpointed branch whose dropout seed comes from `seed()`, called once per run of fn. */
  const branchGrad = (seed: (gen: Generator) => number, opts: CheckpointOptions = {}) =>
    scope(async () => {
      const w = tensor(Float32Array.from({ length: 16 }, (_, i) => Math.sin(i)), [4, 4]).requiresGrad_();
      const [g, b] = [tensor([1, 1, 1, 1]), tensor([0, 0, 0, 0])];
      const x = tensor(Float32Array.from({ length: 12 }, (_, i) => Math.cos(i)), [3, 4]);
      const gen = new Generator(SEED);
      const fn = (x: Tensor) => x.add(dropout(matmul(layerNorm(x, g, b), w).gelu(), P, seed(gen)));
      checkpoint(fn, [x], opts).sum().backward();
      return w.grad!.toArray();
    });

  it('a recompute that draws another mask (a seed from no Generator) gives another gradient: the comparisons here can fail', async () => {
    let calls = 0;
    expect(await branchGrad(() => SEED + calls++)).not.toEqual(await branchGrad((gen) => gen.nextSeed()));
  });

  // a Generator fn drew from but the call did not name (a Dropout module's: PyTorch's checkpoint
  // replays its RNG by default) drew the next seed in the recompute: another mask, and gradients
  // that were silently not those of the forward
  it('replays every Generator fn draws from, as PyTorch (preserve_rng_state); preserveRngState: false draws anew', async () => {
    const seeds = new Generator(SEED);
    const [first, second] = [seeds.nextSeed(), seeds.nextSeed()];
    expect(await branchGrad((gen) => gen.nextSeed())).toEqual(await branchGrad(() => first));
    let calls = 0; // the forward draws the first seed, the recompute the second
    expect(await branchGrad((gen) => gen.nextSeed(), { preserveRngState: false })).toEqual(await branchGrad(() => [first, second][calls++]!));
    await scope(async () => {
      const x = tensor(Float32Array.from({ length: 64 }, (_, i) => 1 + i)).requiresGrad_();
      const drop = new Dropout(0.5, new Generator(3));
      const y = checkpoint((t) => drop.forward(t), [x]);
      const [kept, xs] = [await y.toArray(), await x.toArray()];
      y.sum().backward(); // d/dx sum(dropout(x)) = the forward's mask / (1 - p) = y / x
      await expectClose(x.grad!, ref([64], Array.from(kept, (v, i) => v / xs[i]!)), 0, 0, 'dropout in checkpoint');
    });
  });

  it('gives the weights fn closes over their gradients when no input requires grad', async () => {
    await scope(async () => {
      const w = tensor([2, 3], [2]).requiresGrad_();
      const y = checkpoint((x) => x.mul(w).sum(), [tensor([5, 7], [2])]);
      expect(y.requiresGrad).toBe(true);
      y.backward();
      expect(await w.grad!.toArray()).toEqual(Float32Array.from([5, 7]));
    });
  });

  it('is fn itself under noGrad, and when nothing needs a gradient', async () => {
    await scope(async () => {
      const x = tensor([1, 2], [2]).requiresGrad_();
      const y = noGrad(() => checkpoint((x) => x.mul(2), [x]));
      expect([y.requiresGrad, y.gradFn]).toEqual([false, null]);
      const z = checkpoint((x) => x.mul(2), [tensor([1, 2], [2])]);
      expect([z.requiresGrad, z.gradFn]).toEqual([false, null]);
      expect(isGradEnabled()).toBe(true);
    });
  });

  it("recomputes in the forward's autocast, not the backward's: the same gradients as fn recorded whole", async (ctx) => {
    if (!profile().f16) ctx.skip();
    // float16 matmul and square, cast back: the output's dtype would not show a recompute in float32
    const [x, w] = [tensor([1.0001, 2.0009, 3.0001, 4.0003], [2, 2]), tensor([0.5001, -1.0003, 2.0007, 0.2501], [2, 2])];
    const fn = (x: Tensor) => {
      const h = matmul(castForCompute(x), castForCompute(w));
      return cast(h.mul(h), 'float32');
    };
    const grads = async (recompute: boolean) => {
      x.requiresGrad = w.requiresGrad = true;
      scope(() => autocast('float16', () => (recompute ? checkpoint(fn, [x]) : fn(x))).sum().backward());
      const out = [await x.grad!.toArray(), await w.grad!.toArray()];
      for (const t of [x, w]) t.grad!.dispose(), (t.grad = null);
      return out;
    };
    try {
      expect(await grads(true)).toEqual(await grads(false));
    } finally {
      x.dispose();
      w.dispose();
    }
  });

  it('leaves a tensor fn returns but did not make (a parameter it closes over) a leaf, its gradient its own', async () => {
    const [x, w] = [tensor([1, 2], [2]), tensor([3, 4], [2])];
    x.requiresGrad = w.requiresGrad = true;
    try {
      scope(() => {
        const y = checkpoint((x) => (x.mul(w), w), [x]);
        expect(w.gradFn).toBeNull();
        y.mul(tensor([5, 6], [2])).sum().backward(); // d/dw sum(w * [5, 6]) = [5, 6]
      });
      expect(await w.grad!.toArray()).toEqual(new Float32Array([5, 6]));
      expect(x.grad).toBeNull();
    } finally {
      x.dispose();
      w.dispose();
    }
  });

  it('gives its result a gradient where fn recorded would: not for a result of a noGrad inside fn, or of no tensor needing one', () => {
    const [x, w, c] = [tensor([1, 2], [2]), tensor([3, 4], [2]), tensor([5, 6], [2])];
    x.requiresGrad = w.requiresGrad = true;
    try {
      scope(() => {
        const fns = [(x: Tensor) => noGrad(() => x.mul(w)), (x: Tensor) => (x.mul(w), c.add(1))];
        for (const fn of fns) {
          const [whole, recomputed] = [fn(x), checkpoint(fn, [x])];
          expect(whole.requiresGrad).toBe(false);
          expect([recomputed.requiresGrad, recomputed.gradFn]).toEqual([false, null]); // nothing saved for a backward
          expect(() => recomputed.sum().backward()).toThrow(/^backward: tensor float32\[\] does not require grad/);
        }
        expect(checkpoint((x) => noGrad(() => x.mul(2)).add(x.mul(w)), [x]).requiresGrad).toBe(true);
      });
    } finally {
      for (const t of [x, w, c]) t.dispose();
    }
  });

  it('takes a recorded tensor fn closes over as an input: its graph is swept once, with the gradients from inside fn and outside', async () => {
    const [xs, ys] = [[1, 2], [3, 4]];
    const [x, y] = [tensor(xs, [2]), tensor(ys, [2])];
    x.requiresGrad = y.requiresGrad = true;
    try {
      // h = 2x² (recorded, outside fn); loss = sum(y² h + 3h): the recompute's sweep reached h's
      // graph and ran it, then the outer sweep met it freed ('already freed by an earlier backward()')
      scope(() => {
        const h = x.mul(2).mul(x);
        checkpoint((y) => y.mul(h).mul(y), [y]).add(h.mul(3)).sum().backward();
      });
      expect(await x.grad!.toArray()).toEqual(Float32Array.from(xs, (xi, i) => (ys[i]! ** 2 + 3) * 4 * xi));
      expect(await y.grad!.toArray()).toEqual(Float32Array.from(ys, (yi, i) => 2 * yi * 2 * xs[i]! ** 2));
    } finally {
      x.dispose();
      y.dispose();
    }
  });

  it('refuses a recompute that returns another shape than its forward did, in one line, leaving nothing on the GPU', async () => {
    const [x, w] = [tensor([1, 2, 3, 4], [2, 2]), tensor([0.5, -1, 2, 0.25], [2, 2])];
    x.requiresGrad = w.requiresGrad = true;
    let rows = 2; // state fn reads, changed before the backward: its gradient [2, 2] was taken as one of [4, 1]
    try {
      await device().sync();
      const before = device().memory().liveBytes;
      expect(() =>
        scope(() => {
          const y = checkpoint((x) => matmul(x, w).reshape([rows, -1]), [x]);
          rows = 4;
          y.mul(tensor([1, 2, 3, 4], [2, 2])).sum().backward();
        }),
      ).toThrow(/^checkpoint: fn run again in the backward returned float32\[4, 1\] where its forward returned float32\[2, 2\]; fn must compute the same from its inputs both times/);
      expect([x.grad, w.grad]).toEqual([null, null]);
      expect(device().memory().liveBytes).toBe(before);
    } finally {
      x.dispose();
      w.dispose();
    }
  });

  // the recompute read w's new values without a word (fn recorded whole refuses: mul saved w); a
  // gradient of another function than the forward's
  it('refuses a recompute after a tensor fn closes over was modified in place or reassigned since the forward', () =>
    scope(() => {
      const x = tensor([1, 2]).requiresGrad_();
      for (const change of [(w: Tensor) => sliceAssign(w, tensor([9]), 0, 0), (w: Tensor) => w.assign(tensor([7, 7]))]) {
        const w = tensor([3, 4]);
        const y = checkpoint((a) => a.mul(w), [x]);
        noGrad(() => change(w));
        expect(() => y.sum().backward()).toThrow(
          /^checkpoint: a float32\[2\] tensor fn closes over was modified in place or reassigned since the forward \(e\.g\. by an optimizer step\); run backward\(\) before updating, or checkpoint again$/,
        );
      }
      expect(x.grad).toBeNull();
    }));

  it('refuses what it cannot run in one line naming the argument', () => {
    scope(() => {
      const x = tensor([1], [1]);
      expect(() => checkpoint(null as never, [x])).toThrow(/^checkpoint: argument 'fn' must be a function returning a Tensor, got null$/);
      expect(() => checkpoint((x) => x, x as never)).toThrow(/^checkpoint: argument 'inputs' must be an array of Tensors, got /);
      expect(() => checkpoint((x) => x, [x, 3] as never)).toThrow(/^checkpoint: inputs\[1\] must be a Tensor, got number 3$/);
      expect(() => checkpoint((x) => x, [x], { preserveRngState: 1 } as never)).toThrow(/^checkpoint: option 'preserveRngState' must be a boolean, got number 1$/);
      expect(() => checkpoint((x) => x, [x], { generators: [] } as never)).toThrow(/^checkpoint: unknown option 'generators'/);
      expect(() => checkpoint((x) => x, [x], { rng: 1 } as never)).toThrow(/^checkpoint: unknown option 'rng'/);
      expect(() => checkpoint((() => 5) as never, [x])).toThrow(/^checkpoint: fn must return a Tensor, got number 5$/);
    });
  });
});

const CFG: GPTConfig = { vocabSize: 13, blockSize: 8, nLayer: 3, nHead: 2, nEmbd: 16, dropout: 0.2, bias: true };
const ids = (seed: number) => Int32Array.from({ length: 16 }, (_, i) => (i * 5 + seed) % 13);

/** Every parameter's gradient of one forward and backward of a fresh GPT (same seed each time). */
async function gptGrads(cfg: GPTConfig, recompute: boolean, dtype: 'float32' | 'float16'): Promise<Map<string, Float32Array>> {
  const model = new GPT(cfg, { seed: 7 });
  const casts = dtype === 'float16' ? new CastCache(model.parameters()) : undefined; // castCached: late leaf gradients
  try {
    scope(() => {
      const targets = tensor(ids(1), [2, 8]);
      autocast(dtype, () => model.forward(tensor(ids(0), [2, 8]), { targets, recompute }).loss, casts).backward();
    });
    const grads = new Map<string, Float32Array>();
    for (const [name, p] of model.namedParameters()) grads.set(name, (await p.grad!.toArray()) as Float32Array);
    return grads;
  } finally {
    casts?.dispose();
    model.dispose();
  }
}

describe('GPT with recompute', () => {
  const cases = [
    { dtype: 'float32', cfg: CFG },
    { dtype: 'float32', cfg: { ...CFG, nLayer: 4, shareLayers: 2 } },
    { dtype: 'float16', cfg: CFG },
  ] as const;
  it.for(cases)('has the same gradients as without, bit for bit ($dtype, shareLayers $cfg.shareLayers, dropout 0.2)', async ({ dtype, cfg }, ctx) => {
    if (dtype === 'float16' && !profile().f16) ctx.skip();
    const [whole, recomputed] = [await gptGrads(cfg, false, dtype), await gptGrads(cfg, true, dtype)];
    expect([...recomputed.keys()]).toEqual([...whole.keys()]);
    for (const [name, g] of whole) expect(recomputed.get(name), name).toEqual(g);
  });

  it('refuses caches or starts: a block run again would append to its cache twice', () => {
    const model = new GPT(CFG);
    try {
      scope(() => {
        expect(() => model.forward(tensor(ids(0), [2, 8]), { recompute: true, starts: [0, 1] })).toThrow(/^GPT.forward: recompute is for training: it takes no caches or starts$/);
        expect(() => model.forward(tensor(ids(0), [2, 8]), { recompute: 1 } as never)).toThrow(/^GPT.forward: argument 'recompute' must be/);
      });
    } finally {
      model.dispose();
    }
  });
});

describe('training with recompute', () => {
  const V = 13;
  const tokens = Int32Array.from({ length: 3000 }, (_, i) => (i * 7 + (i % 5)) % V);
  const data = { train: tokens.slice(0, 2700), val: tokens.slice(2700), vocabSize: V };
  const cfg: TrainConfig = { ...TRAIN_DEFAULTS, nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 16, batchSize: 4, gradAccum: 2, dropout: 0.1, dtype: 'float32' };

  it('takes the same steps: equal losses and weights after 4 steps, dropout on', async () => {
    const [whole, recomputed] = [new Trainer(cfg, data), new Trainer({ ...cfg, recompute: true }, data)];
    try {
      expect(await trainLosses(recomputed, 4)).toEqual(await trainLosses(whole, 4));
      expect(await recomputed.model.h.items[1]!.mlp.c_fc.weight.toArray()).toEqual(await whole.model.h.items[1]!.mlp.c_fc.weight.toArray());
    } finally {
      disposeTrainers(whole, recomputed);
    }
  });

  /** The most bytes live during a step's forward and backward, less those live before it (the weights). */
  async function stepPeak(model: GPT, recompute: boolean, B: number): Promise<number> {
    const T = model.config.blockSize;
    const x = Int32Array.from({ length: B * T }, (_, i) => (i * 7) % V);
    await device().sync();
    const before = device().memory().liveBytes;
    device().resetPeakMemory();
    scope(() => model.forward(tensor(x, [B, T]), { targets: tensor(x, [B, T]), recompute }).loss.backward());
    const peak = device().memory().peakBytes - before;
    model.zeroGrad();
    return peak;
  }

  it('holds fewer bytes at its peak where activations dominate, at most the memory plan and within 1.25x of it', async () => {
    const shape: GPTConfig = { vocabSize: V, blockSize: 64, nLayer: 6, nHead: 2, nEmbd: 32, dropout: 0.1, bias: false };
    const B = 8;
    const model = new GPT(shape);
    try {
      const measured = { whole: await stepPeak(model, false, B), recompute: await stepPeak(model, true, B) };
      expect(measured.recompute).toBeLessThan(measured.whole / 2);
      for (const recompute of [false, true]) {
        // what a step allocates after the weights: the gradients, and the activations and logits or
        // what the end of the backward holds instead
        const { activations, logits, gradients, backwardEnd } = memoryPlan(shape, B, { training: true, bindingLimit: profile().bindingLimit, recompute }).bytes;
        const planned = gradients + Math.max(activations + logits, backwardEnd);
        const what = `recompute ${recompute}: measured ${measured[recompute ? 'recompute' : 'whole']} B, planned ${planned} B`;
        expect(measured[recompute ? 'recompute' : 'whole'], what).toBeLessThanOrEqual(planned);
        expect(planned / measured[recompute ? 'recompute' : 'whole'], what).toBeLessThan(1.25);
      }
    } finally {
      model.dispose();
    }
  });
});

describe('the out-of-memory hint', () => {
  const shape: GPTConfig = { vocabSize: 65, blockSize: 256, nLayer: 6, nHead: 6, nEmbd: 384, dropout: 0, bias: false };
  const opts = { training: true, limits: {}, dtype: 'float32' as const };
  const oom = () => new Error("out of GPU memory allocating 50331648 bytes for 'matmul': Out of memory");
  const plan = (recompute: boolean) => memoryPlan(shape, 8, { ...opts, bindingLimit: Infinity, recompute }).bytes.total;

  it('names --recompute where its plan is under what the run held', () => {
    const e = withMemoryHint(oom(), shape, 8, opts, plan(false)) as Error;
    expect(e.message).toMatch(/; --recompute would keep its memory plan to about [\d.]+ MiB \(activations [\d.]+ MiB instead of [\d.]+ MiB\), under the [\d.]+ MiB the run held when it failed$/);
  });

  it("names the plan's total, and only that where recompute would not fit either or the run recomputes; another error stays as it was", () => {
    for (const [recompute, held] of [[false, plan(true)], [true, plan(false)]] as const) {
      const total = `${(plan(recompute) / 2 ** 20).toPrecision(3)} MiB`;
      expect((withMemoryHint(oom(), shape, 8, { ...opts, recompute }, held) as Error).message).toBe(
        `${oom().message}; the run's memory plan totals about ${total}, more than this GPU has free (WebGPU does not tell how much it has): a smaller --batch-size (a larger --grad-accum keeps the tokens per step), --block-size or model needs less`,
      );
    }
    expect((withMemoryHint(new Error('WebGPU error: lost'), shape, 8, opts, plan(false)) as Error).message).toBe('WebGPU error: lost');
  });
});
