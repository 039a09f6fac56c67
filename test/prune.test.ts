// Pruning against independent float64 references: the masks of global magnitude pruning (ties
// included), masked gradients and weights that stay exactly zero through AdamW steps (even with
// moments that would move them), structured pruning (the shrunk model computes what the original
// does with the removed heads' outputs or neurons' activations zeroed, and removes the units of
// smallest norm), checkpoints that keep masks and per-block shapes, and the errors at the edges.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkpointBytes, decodeCheckpoint, encodeCheckpoint, modelFromCheckpoint } from '../src/gpt/checkpoint.js';
import { encodeHF } from '../src/gpt/hf/index.js';
import { parseSafetensors, serializeSafetensors } from '../src/io/safetensors.js';
import { GPT, type GPTConfig } from '../src/gpt/model.js';
import { pruneStructured, type Structure } from '../src/gpt/prune.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { TRAIN_DEFAULTS, Trainer } from '../src/gpt/trainer.js';
import { Linear, ModuleList } from '../src/nn/index.js';
import { linearLayers, loadMasks, magnitudeMasks, maskGradients, pruneGlobal } from '../src/nn/prune.js';
import { disposeCache, type KVCache } from '../src/nn/transformer.js';
import { device, noGrad, scope, tensor, Tensor } from '../src/index.js';
import { Generator } from '../src/tensor/generator.js';
import { openModel } from '../src/cli/inference-model.js';
import { memoryPlan } from '../src/gpt/memory-plan.js';
import { profile } from '../src/kernels/profile.js';
import { saveCheckpoint } from '../src/node/checkpoint-dir.js';
import { readCheckpointHead } from '../src/node/checkpoint-head.js';
import { tempDir } from './cli-helpers.js';
import { charData } from './corpus.js';
import { expectClose, fcParams, setupDevice } from './helpers.js';
import { gptLogitsRef, magnitudeMasksRef, pythonRound } from './prune-reference.js';

beforeAll(setupDevice);

const read = async (t: { toArray(): Promise<ArrayLike<number>> }) => Array.from(await t.toArray());

/** Sets every parameter of `model` to draws from `values` (a few distinct magnitudes make ties). */
function fill(model: GPT | ModuleList<Linear>, values: (n: number) => Float32Array): void {
  model.loadStateDict(new Map([...model.namedParameters()].map(([n, p]) => [n, { shape: [...p.shape], data: values(p.size) }])));
}

/** Normal draws of std `std` (LayerNorm gains around 1): weights large enough that every part of the forward matters. */
function normals(seed: number, std: number, mean = 0) {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  return (n: number) => Float32Array.from({ length: n }, () => mean + std * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

describe('global magnitude pruning', () => {
  it('masks equal a float64 sort of every Linear weight (ties: earlier weights first), and zero the weights', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 })), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 0, max: 99 }).map((p) => p / 100),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.boolean(),
        async (dims, sparsity, seed, ties) => {
          const model = new ModuleList(dims.map(([o, i]) => new Linear(i, o, { rng: new Generator(seed), bias: true })));
          const draw = normals(seed, 1);
          // with ties: a few magnitudes of both signs (and -0), so the cut falls among equal |w|
          fill(model, (n) => (ties ? draw(n).map((x) => [0, -0, 0.5, -0.5, 1, -1.5][Math.floor(Math.abs(x) * 3) % 6]!) : draw(n)));
          const weights = await Promise.all(model.items.map((l) => read(l.weight)));
          const biases = await Promise.all(model.items.map((l) => read(l.bias!)));
          const want = magnitudeMasksRef(weights, sparsity);
          const report = await pruneGlobal(model, sparsity);
          expect(report.pruned).toBe(want.flat().filter((m) => m === 0).length);
          for (const [k, l] of model.items.entries()) {
            expect(await read(l.weightMask!)).toEqual(want[k]);
            expect(await read(l.weight)).toEqual(weights[k]!.map((w, i) => (want[k]![i] ? w : 0)));
            expect(await read(l.bias!), 'biases are not pruned').toEqual(biases[k]);
          }
          model.dispose();
        },
      ),
      fcParams(20),
    );
  });

  it('prunes the weights PyTorch 1.13 global_unstructured (L1Unstructured) does, a half weight rounded to even as it rounds', async () => {
    // weights sin(1.7 i + 0.3) over the layers in order; masks from torch.nn.utils.prune.global_unstructured(
    // [(l, 'weight') ...], pruning_method=L1Unstructured, amount=0.5): 13 x 0.5 = 6.5 prunes 6, 5 x 0.5 prunes 2, 49 x 0.5 prunes 24
    const cases: [[number, number][], number[][]][] = [
      [[[3, 3], [2, 2]], [[0, 1, 0, 1, 1, 0, 1, 0, 1], [0, 1, 0, 1]]],
      [[[1, 5]], [[0, 1, 0, 1, 1]]],
      [[[5, 7], [2, 7]], [[0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], [0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0]]],
    ];
    for (const [dims, torchMasks] of cases) {
      const model = new ModuleList(dims.map(([o, i]) => new Linear(i, o, { rng: new Generator(1), bias: false })));
      let k = 0;
      model.loadStateDict(new Map([...model.namedParameters()].map(([n, p]) => [n, { shape: [...p.shape], data: Float32Array.from({ length: p.size }, () => Math.sin(1.7 * k++ + 0.3)) }])));
      const report = await pruneGlobal(model, 0.5);
      expect(report.pruned, `${k} weights`).toBe(torchMasks.flat().filter((m) => m === 0).length);
      expect(await Promise.all(model.items.map((l) => read(l.weightMask!)))).toEqual(torchMasks);
      expect(magnitudeMasks(await Promise.all(model.items.map(async (l) => Float32Array.from(await read(l.weight)))), 0.5).masks.map((m) => [...m])).toEqual(torchMasks);
      model.dispose();
    }
  });

  it('refuses a sparsity outside [0, 1) naming it', async () => {
    const model = new ModuleList([new Linear(2, 2, { rng: new Generator(1) })]);
    for (const s of [1, -0.1, NaN]) await expect(pruneGlobal(model, s)).rejects.toThrow(`pruneGlobal: sparsity must be in [0, 1), got ${s}`);
    model.dispose();
  });

  // a NaN's bits ranked above every |w|, so it was kept as the largest weight (an Inf too), silently
  it('refuses NaN and infinite weights naming the layer, before setting any mask', async () => {
    for (const [bad, sparsity] of [[NaN, 0.5], [-Infinity, 0.5], [Infinity, 0]] as const) {
      const model = new ModuleList([new Linear(2, 2, { rng: new Generator(1), bias: false }), new Linear(2, 2, { rng: new Generator(2), bias: false })]);
      model.loadStateDict(new Map([['0.weight', { shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) }], ['1.weight', { shape: [2, 2], data: Float32Array.of(5, 6, bad, 8) }]]));
      await expect(pruneGlobal(model, sparsity)).rejects.toThrow(new RegExp(`^pruneGlobal: '1\\.weight' holds ${bad} at index 2; only finite weights can be pruned by magnitude$`));
      expect(model.items.map((l) => l.weightMask), `${bad}: no mask set`).toEqual([null, null]);
      model.dispose();
    }
    expect(() => magnitudeMasks([Float32Array.of(1, NaN)], 0.5)).toThrow(/^magnitudeMasks: weights\[0\] holds NaN at index 1; only finite/);
  });

  it('prunes a pruned model again only further: its pruned weights stay masked, a lower sparsity is refused', async () => {
    const model = new ModuleList([new Linear(8, 6, { rng: new Generator(3) }), new Linear(6, 4, { rng: new Generator(4) })]);
    const total = 8 * 6 + 6 * 4;
    const masks = async () => Promise.all(linearLayers(model).map(([, l]) => read(l.weightMask!)));
    await pruneGlobal(model, 0.5);
    const first = await masks();
    await expect(pruneGlobal(model, 0.3)).rejects.toThrow(
      `pruneGlobal: sparsity 0.3 would prune ${pythonRound(0.3 * total)} of ${total} Linear weights, fewer than the ${total / 2} already pruned (their masks would be lost): give a sparsity of at least 0.5`,
    );
    expect(await masks(), 'a refusal changes nothing').toEqual(first);
    await pruneGlobal(model, 0.75);
    const second = (await masks()).flat();
    expect(second.filter((m) => m === 0).length).toBe(pythonRound(0.75 * total));
    first.flat().forEach((m, i) => m === 0 && expect(second[i], `weight ${i}, pruned before`).toBe(0));
    model.dispose();
  });

  // a pruned weight is zero, and so may be a live one (a float16 checkpoint's underflow, masks from
  // elsewhere): among equal |w| earlier weights went first, so a live zero before a pruned one
  // took its place and the pruned one was unmasked, free to grow back when fine-tuned
  it('prunes the weights pruned before first, even where live weights of |w| 0 come before them', async () => {
    const layer = fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.boolean());
    await fc.assert(
      fc.asyncProperty(fc.array(layer, { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 0, max: 100 }), async (dims, seed, more) => {
        const model = new ModuleList(dims.map(([o, i]) => new Linear(i, o, { rng: new Generator(seed), bias: false })));
        try {
          const draw = normals(seed, 1);
          fill(model, (n) => draw(n).map((x) => [0, -0, 0.5, 1, -1, 2][Math.floor(Math.abs(x) * 4) % 6]!));
          const before = model.items.map((l, k) => (dims[k]![2] ? draw(l.weight.size).map((x) => (x > 0.3 ? 1 : 0)) : null));
          model.items.forEach((l, k) => before[k] && l.setWeightMask(tensor(before[k]!, l.weight.shape)));
          const weights = await Promise.all(model.items.map((l) => read(l.weight)));
          const total = weights.reduce((n, w) => n + w.length, 0);
          const pruned = before.reduce((n, m) => n + (m?.filter((x) => x === 0).length ?? 0), 0);
          const sparsity = Math.min(0.99, (pruned + Math.floor(((total - pruned) * more) / 200)) / total);
          if (pythonRound(sparsity * total) < pruned) return; // refused (the test above)
          const want = magnitudeMasksRef(weights, sparsity, before.map((m, k) => m ?? weights[k]!.map(() => 1)));
          await pruneGlobal(model, sparsity);
          for (const [k, l] of model.items.entries()) expect(await read(l.weightMask!), `layer ${k}`).toEqual(want[k]);
        } finally {
          model.dispose();
        }
      }),
      fcParams(25),
    );
  });

  // each mask was set as it was checked: a bad later one left the earlier ones set and their weights
  // zeroed for good; one for an int8 layer was made, refused by the layer, and left live
  it('loadMasks refuses a set of masks before setting any, allocating nothing', async () => {
    const model = new ModuleList([new Linear(2, 3, { rng: new Generator(0) }), new Linear(3, 2, { rng: new Generator(1) })]);
    const weights = await Promise.all(model.items.map((l) => read(l.weight)));
    const zeros = { shape: [3, 2], data: new Float32Array(6) };
    expect(() => loadMasks(model, new Map([['0.weight_mask', zeros], ['1.weight_mask', { shape: [2, 3], data: new Float32Array(6).fill(2) }]]))).toThrow(
      /^loadMasks: '1\.weight_mask' holds 2 at index 0; a mask holds only 0 and 1$/,
    );
    expect(model.items.map((l) => l.weightMask)).toEqual([null, null]);
    expect(await Promise.all(model.items.map((l) => read(l.weight)))).toEqual(weights);
    const int8 = new ModuleList([new Linear(2, 3, { rng: new Generator(0), int8: true })]);
    const live = device().memory().liveBytes;
    expect(() => loadMasks(int8, new Map([['0.weight_mask', zeros]]))).toThrow(/^loadMasks: Linear '0' holds int8 weights, which cannot be pruned; prune the float32 model, then quantize it$/);
    expect(device().memory().liveBytes).toBe(live);
    await expect(pruneGlobal(int8, 0.5)).rejects.toThrow(/^pruneGlobal: Linear '0' holds int8 weights, which cannot be pruned; prune the float32 model, then quantize it$/);
    model.dispose();
    int8.dispose();
  });

  // loaded weights were taken whole: the mask stayed, the pruned weights were no longer zero, and
  // the forward used them (PyTorch's pruned forward multiplies by the mask); setting a layer's own
  // mask again freed it
  it('keeps pruned weights zero through loadStateDict and setWeightMask of its own mask', async () => {
    const model = new ModuleList([new Linear(8, 6, { rng: new Generator(3) }), new Linear(6, 4, { rng: new Generator(4) })]);
    await pruneGlobal(model, 0.5);
    const masks = await Promise.all(model.items.map((l) => read(l.weightMask!)));
    const draw = normals(7, 1);
    const dense = [...model.namedParameters()].map(([n, p]) => [n, { shape: [...p.shape], data: draw(p.size) }] as const);
    model.loadStateDict(new Map(dense));
    const x = normals(8, 1)(8);
    // float64: the loaded weights times the masks, biases as loaded
    const [w0, b0, w1, b1] = dense.map(([, d]) => Array.from(d.data));
    const masked = (w: number[], k: number) => w.map((v, i) => (masks[k]![i] ? v : 0));
    const layer = (w: number[], b: number[], v: number[]) => b.map((bj, j) => bj + v.reduce((s, vi, i) => s + w[j * v.length + i]! * vi, 0));
    const want = layer(masked(w1!, 1), b1!, layer(masked(w0!, 0), b0!, Array.from(x)));
    await scope(async () => {
      const y = noGrad(() => model.items[1]!.forward(model.items[0]!.forward(tensor(x, [1, 8]))));
      await expectClose(y, { shape: [1, 4], data: Float64Array.from(want) }, 1e-5, 1e-5);
    });
    for (const [k, l] of model.items.entries()) {
      expect(await read(l.weight)).toEqual(masked(Array.from(dense[2 * k]![1].data), k));
      l.setWeightMask(l.weightMask);
      expect(await read(l.weightMask!)).toEqual(masks[k]);
    }
    model.dispose();
  });

  it('reads the Linear weights back a layer at a time, never all of them at once (gpt2-xl has 5 GB)', async () => {
    const model = new ModuleList(Array.from({ length: 6 }, (_, i) => new Linear(64, 64, { rng: new Generator(10 + i) })));
    const read = Tensor.prototype.toArray;
    const held: WeakRef<object>[] = [];
    let mostHeld = 0;
    // patched by hand: a spy would keep every value it returned (its mock.results)
    Tensor.prototype.toArray = async function (this: Tensor) {
      const values = await read.call(this);
      held.push(new WeakRef(values));
      // counted once read (reads made together, as Promise.all makes them, are then all alive)
      await new Promise((r) => setTimeout(r, 0)); // a WeakRef's target is kept until the task that made it ends
      (globalThis as { gc?: () => void }).gc!();
      mostHeld = Math.max(mostHeld, held.filter((r) => r.deref()).length);
      return values;
    } as typeof read;
    try {
      expect((await pruneGlobal(model, 0.5)).pruned).toBe(6 * 64 * 32);
    } finally {
      Tensor.prototype.toArray = read;
    }
    expect(mostHeld).toBeLessThanOrEqual(2);
    expect(held.length, 'each layer read three times: two counting passes and the masks').toBe(18);
    model.dispose();
  });
});

const { data } = await charData(20_000);
const cfg = { ...TRAIN_DEFAULTS, nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 16, batchSize: 4, learningRate: 1e-2, warmupIters: 0, evalIters: 2 };

describe('training a pruned model', () => {
  it('masks the gradients and keeps pruned weights exactly zero through AdamW steps, even with moments that would move them', async () => {
    const trainer = new Trainer(cfg, data);
    const model = trainer.model;
    await pruneGlobal(model, 0.6);
    const layers = linearLayers(model).map(([, l]) => l);
    const masks = await Promise.all(layers.map((l) => read(l.weightMask!)));

    // one backward: masked gradients are the unmasked ones times the mask
    await scope(async () => {
      const { x, y } = trainer.batch('train');
      model.forward(tensor(x, [4, 16]), { targets: tensor(y, [4, 16]) }).loss!.backward();
      const before = await Promise.all(layers.map((l) => read(l.weight.grad!)));
      const flatMask = masks.flat();
      expect(before.flat().filter((g, i) => g !== 0 && flatMask[i] === 0).length, 'pruned weights do get raw gradients').toBeGreaterThan(0);
      maskGradients(model);
      for (const [k, l] of layers.entries()) expect(await read(l.weight.grad!)).toEqual(before[k]!.map((g, i) => (masks[k]![i] ? g : 0)));
      model.zeroGrad();
    });

    // steps from fresh moments: the trainer masks the gradients, so the pruned weights' moments stay exactly zero
    const opt = trainer.optimizer;
    for (let i = 0; i < 2; i++) await trainer.trainStep();
    const { m: m0, v: v0 } = await opt.readMoments();
    for (const [k, l] of layers.entries()) {
      const at = opt.params.indexOf(l.weight);
      expect([...m0[at]!, ...v0[at]!].filter((x, i) => masks[k]![i % l.weight.size] === 0 && x !== 0), `moments of pruned weights of layer ${k}`).toEqual([]);
    }
    // moments as if the pruned weights had been trained: AdamW alone would move them
    const moments = opt.params.map((p) => Float32Array.from({ length: p.size }, (_, i) => 0.01 * Math.sin(i + 1)));
    opt.loadMoments(moments, moments.map((m) => m.map((x) => x * x)));
    const start = await Promise.all(layers.map((l) => read(l.weight)));
    for (let i = 0; i < 4; i++) await trainer.trainStep();
    for (const [k, l] of layers.entries()) {
      const w = await read(l.weight);
      expect(w.filter((x, i) => masks[k]![i] === 0 && x !== 0), `pruned weights of layer ${k} stay zero`).toEqual([]);
      expect(w.some((x, i) => masks[k]![i] === 1 && x !== start[k]![i]), `live weights of layer ${k} train`).toBe(true);
    }
    trainer.dispose();
    model.dispose();
  });
});

/** A GPT whose blocks already differ (3 and 4 heads of 4 wide, MLPs of 40 and 64), with biases, random weights. */
const ragged: GPTConfig = { vocabSize: 11, blockSize: 8, nLayer: 2, nHead: 4, nEmbd: 16, dropout: 0, bias: true, nHeads: [3, 4], mlpWidths: [40, 64] };

async function raggedModel(seed: number): Promise<GPT> {
  const model = new GPT(ragged, { seed });
  const [weights, gains] = [normals(seed, 0.4), normals(seed + 1, 0.2, 1)];
  model.loadStateDict(new Map([...model.namedParameters()].map(([n, p]) => [n, { shape: [...p.shape], data: /ln_\w+\.weight/.test(n) ? gains(p.size) : weights(p.size) }])));
  return model;
}

const hostWeights = async (model: GPT) => new Map(await Promise.all([...model.namedParameters()].map(async ([n, p]) => [n, { shape: [...p.shape], data: await read(p) }] as const)));

/** Each block's units (heads or neurons) of smallest L2 norm over the producer's rows and the consumer's columns, in float64. */
function smallestUnits(w: Awaited<ReturnType<typeof hostWeights>>, structure: Structure, sparsity: number): number[][] {
  return [0, 1].map((l) => {
    const [prod, cons] = structure === 'heads' ? [`h.${l}.attn.c_attn`, `h.${l}.attn.c_proj`] : [`h.${l}.mlp.c_fc`, `h.${l}.mlp.c_proj`];
    const n = structure === 'heads' ? ragged.nHeads![l]! : ragged.mlpWidths![l]!;
    const width = structure === 'heads' ? 4 : 1;
    const P = w.get(`${prod}.weight`)!;
    const Q = w.get(`${cons}.weight`)!;
    const inner = n * width;
    const norms = Array.from({ length: n }, (_, u) => {
      let s = 0;
      P.data.forEach((x, i) => {
        const row = Math.floor(i / 16);
        if (Math.floor((row % inner) / width) === u) s += x * x;
      });
      Q.data.forEach((x, i) => {
        if (Math.floor((i % inner) / width) === u) s += x * x;
      });
      return { u, s };
    });
    norms.sort((a, b) => a.s - b.s || a.u - b.u);
    return norms.slice(0, Math.min(n - 1, pythonRound(sparsity * n))).map((x) => x.u).sort((a, b) => a - b);
  });
}

describe('structured pruning', () => {
  it('the shrunk model computes the original with the removed heads / neurons zeroed, and removes those of smallest norm', async () => {
    const tokens = [3, 1, 4, 1, 5, 9, 2, 6];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom<Structure>('heads', 'neurons'), fc.constantFrom(0.25, 0.5, 0.625, 0.75, 0.9), fc.integer({ min: 1, max: 1000 }), async (structure, sparsity, seed) => {
        const model = await raggedModel(seed);
        const w = await hostWeights(model);
        const { model: small, removed } = await pruneStructured(model, { structure, sparsity });
        expect(removed).toEqual(smallestUnits(w, structure, sparsity));
        const key = structure === 'heads' ? 'nHeads' : 'mlpWidths';
        expect(small.config[key]).toEqual(ragged[key]!.map((n, l) => n - removed[l]!.length));
        expect(small.numParams()).toBeLessThan(model.numParams());
        const want = gptLogitsRef(ragged, w, tokens, structure === 'heads' ? { heads: removed } : { neurons: removed });
        await noGrad(() =>
          scope(async () => {
            const { logits } = small.eval().forward(tensor(Int32Array.from(tokens), [1, 8]));
            await expectClose(logits, { shape: [1, 8, 11], data: want.data }, 1e-4, 1e-4, `${structure} ${sparsity}`);
            // decoding token by token with KV caches (each block's own width) gives the same last logits
            const caches: KVCache[] = [{ qkv: null }, { qkv: null }];
            let last = logits;
            for (const t of tokens) last = small.forward(tensor(Int32Array.of(t), [1, 1]), { caches }).logits; // [1, 1, V]
            caches.forEach(disposeCache);
            await expectClose(last, { shape: [1, 1, 11], data: want.data.slice(7 * 11) }, 1e-4, 1e-4, `${structure} ${sparsity} cached`);
          }),
        );
        small.dispose();
        model.dispose();
      }),
      // 0.625 of block 1's 4 heads is 2.5: Python's round (torch.nn.utils.prune's) removes 2
      { ...fcParams(6), examples: [['heads', 0.625, 7]] },
    );
  });

  it('refuses a model with unstructured masks, and HF export of per-block shapes, in one line', async () => {
    const model = await raggedModel(3);
    await expect(encodeHF(model)).rejects.toThrow(/^Hugging Face's GPT-2 layout cannot hold this structurally pruned model \(heads per block \[3,4\], MLP widths \[40,64\]\)/);
    await pruneGlobal(model, 0.5);
    await expect(pruneStructured(model, { structure: 'heads', sparsity: 0.5 })).rejects.toThrow('pruneStructured: the model has unstructured pruning masks');
    await expect(pruneStructured(model, { structure: 'rows' as Structure, sparsity: 0.5 })).rejects.toThrow("pruneStructured: structure must be one of heads, neurons, got \"rows\"");
    model.dispose();
  });

  // a NaN score compared as equal to every other (sort's comparator), so which units went was arbitrary
  it('refuses NaN and infinite weights among those it ranks, naming the tensor', async () => {
    for (const [structure, name, bad] of [['heads', 'h.1.attn.c_proj.weight', NaN], ['neurons', 'h.0.mlp.c_fc.weight', -Infinity]] as const) {
      const model = await raggedModel(4);
      const w = await hostWeights(model);
      w.get(name)!.data[5] = bad;
      model.loadStateDict(new Map([...w].map(([n, t]) => [n, { shape: [...t.shape], data: Float32Array.from(t.data) }])));
      await expect(pruneStructured(model, { structure, sparsity: 0.5 })).rejects.toThrow(new RegExp(`^pruneStructured: '${name.replaceAll('.', '\\.')}' holds ${bad} at index 5; only finite weights can be ranked by norm$`));
      model.dispose();
    }
  });
});

describe('checkpoints of pruned models', () => {
  const tok = CharTokenizer.train('abcdefghij ');

  it('store each mask a byte per weight (BOOL), and still read float32 masks as checkpoints held them before', async () => {
    const model = await raggedModel(5);
    await pruneGlobal(model, 0.4);
    const bytes = await encodeCheckpoint(model, tok);
    const stored = parseSafetensors(bytes).tensors;
    const masks = Object.entries(stored).filter(([name]) => name.endsWith('.weight_mask'));
    expect(masks.length).toBe(linearLayers(model).length);
    for (const [name, m] of masks) {
      expect(m.dtype, name).toBe('BOOL');
      const layer = new Map(linearLayers(model)).get(name.slice(0, -'.weight_mask'.length))!;
      expect([...m.data], name).toEqual([...(await read(layer.weightMask!))]);
    }
    // the same checkpoint with float32 masks, as written before: the same model back
    const asFloat = Object.fromEntries(Object.entries(stored).map(([name, t]) => [name, t.dtype === 'BOOL' ? { ...t, dtype: 'F32' as const, data: Float32Array.from(t.data) } : t]));
    const older = serializeSafetensors(asFloat, parseSafetensors(bytes).metadata);
    const dataBytes = (file: Uint8Array) => file.length - 8 - new DataView(file.buffer, file.byteOffset).getUint32(0, true); // less the header
    expect(dataBytes(bytes)).toBe(dataBytes(older) - 3 * masks.reduce((n, [, m]) => n + m.data.length, 0));
    const [a, b] = [decodeCheckpoint(bytes), decodeCheckpoint(older)];
    expect([...a.weights.keys()]).toEqual([...b.weights.keys()]);
    for (const [name, w] of a.weights) expect(w.data, name).toEqual(b.weights.get(name)!.data);
    model.dispose();
  });

  it('keep masks and per-block shapes: the loaded model has the same masks, weights and logits', async () => {
    const model = await raggedModel(5);
    await pruneGlobal(model, 0.4);
    const loaded = modelFromCheckpoint(decodeCheckpoint(await encodeCheckpoint(model, tok))).model;
    expect(loaded.config).toEqual(model.config);
    const named = (m: GPT) => new Map(linearLayers(m));
    for (const [path, layer] of named(model)) {
      const other = named(loaded).get(path)!;
      expect(await read(other.weightMask!), path).toEqual(await read(layer.weightMask!));
      expect(await read(other.weight), path).toEqual(await read(layer.weight));
    }
    const x = tensor(Int32Array.from([1, 2, 3, 4]), [1, 4]);
    const [a, b] = await noGrad(() => Promise.all([model, loaded].map((m) => scope(() => read(m.eval().forward(x).logits!)))));
    expect(b).toEqual(a);
    x.dispose();
    model.dispose();
    loaded.dispose();
  });

  it('opened for inference (gpt sample, eval, serve --api) hold the pruned weights, zero, and no masks: the GPU bytes the plan counts', async () => {
    const model = await raggedModel(5);
    await pruneGlobal(model, 0.4);
    const dir = tempDir('prune-inference');
    await saveCheckpoint(dir, model, tok);
    const x = tensor(Int32Array.from([1, 2, 3, 4]), [1, 4]);
    const logits = (m: GPT) => noGrad(() => scope(() => read(m.eval().forward(x).logits!)));
    await device().sync();
    const before = device().memory().liveBytes;
    const { model: opened } = await openModel(await readCheckpointHead(dir), { dtype: 'float32', batch: 1, flag: '--batch-size' });
    await device().sync();
    // the device's own count: weights alone, not a float32 mask beside each Linear weight (twice their bytes)
    expect(device().memory().liveBytes - before).toBe(memoryPlan(ragged, 1, { training: false, bindingLimit: profile().bindingLimit }).bytes.weights);
    expect(opened.prunedMask()).toBeUndefined();
    const named = (m: GPT) => new Map(linearLayers(m));
    for (const [path, layer] of named(model)) expect(await read(named(opened).get(path)!.weight), path).toEqual(await read(layer.weight));
    expect(await logits(opened)).toEqual(await logits(model));
    for (const m of [x, model, opened]) m.dispose();
  });

  it('refuse bad per-block shapes and masks with one line naming them', async () => {
    const model = await raggedModel(6);
    await pruneGlobal(model, 0.5);
    const bytes = await encodeCheckpoint(model, tok);
    const ckpt = decodeCheckpoint(bytes);
    const bad = (meta: object) => ({ ...ckpt, meta: { ...ckpt.meta, model: { ...ckpt.meta.model, ...meta } } });
    expect(() => decodeCheckpoint(checkpointBytes(bad({ nHeads: [3] })))).toThrow('checkpoint: metadata field model.nHeads must be an array of nLayer (2) positive integers, got [3]');
    expect(() => decodeCheckpoint(checkpointBytes(bad({ mlpWidths: [40, 0] })))).toThrow('checkpoint: metadata field model.mlpWidths[1] must be a positive integer, got 0');
    const halfMask = new Map(ckpt.weights);
    const name = 'h.0.mlp.c_fc.weight_mask';
    halfMask.set(name, { ...halfMask.get(name)!, data: halfMask.get(name)!.data.map(() => 0.5) });
    expect(() => modelFromCheckpoint({ ...ckpt, weights: halfMask })).toThrow(`loadMasks: '${name}' holds 0.5 at index 0; a mask holds only 0 and 1`);
    const stray = new Map(ckpt.weights).set('wte.weight_mask', { shape: [11, 16], data: new Float32Array(176) });
    expect(() => modelFromCheckpoint({ ...ckpt, weights: stray })).toThrow("loadMasks: 'wte.weight_mask' is not the weight mask of a Linear layer of the model");
    model.dispose();
  });
});
