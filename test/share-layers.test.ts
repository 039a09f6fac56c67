// ALBERT-style parameter sharing (GPTConfig.shareLayers = K): groups of K consecutive blocks run one
// block's weights. Checked against independent references: a model without sharing whose layers
// hold copies of the shared weights computes the same loss, and the gradient of a shared weight is
// the sum of its copies' gradients there; the safetensors header, read here by hand, lists each
// shared tensor (and pruning mask) once and the checkpoint loads back to the same model; GPT-2 export writes every
// layer (a plain GPT-2 that computes the same function); configs that cannot be grouped are refused.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeCheckpoint, encodeCheckpoint, modelFromCheckpoint } from '../src/gpt/checkpoint.js';
import { generate } from '../src/gpt/generate.js';
import { decodeHF, encodeHF } from '../src/gpt/hf/index.js';
import { GPT, type GPTConfig } from '../src/gpt/model.js';
import type { Linear } from '../src/nn/layers.js';
import { pruneGlobal } from '../src/nn/prune.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { TRAIN_DEFAULTS, Trainer } from '../src/gpt/trainer.js';
import { parseSafetensors, serializeSafetensors } from '../src/io/safetensors.js';
import { scope, tensor, type Tensor } from '../src/index.js';
import { AdamW } from '../src/optim/adamw.js';
import { disposeTrainers, expectClose, fcParams, seededValues, setupDevice } from './helpers.js';

beforeAll(setupDevice);

const tokenizer = CharTokenizer.train('abcdefghijklmnopqrstuvwxyz ,.\n');
const V = tokenizer.vocabSize;

const configArb = fc.record({
  K: fc.constantFrom(1, 2, 3),
  groups: fc.constantFrom(1, 2),
  nEmbd: fc.constantFrom(8, 16),
  bias: fc.boolean(),
  seed: fc.integer({ min: 0, max: 1000 }),
});

const configOf = ({ K, groups, nEmbd, bias }: { K: number; groups: number; nEmbd: number; bias: boolean }): GPTConfig => ({
  vocabSize: V, blockSize: 8, nLayer: K * groups, nHead: 2, nEmbd, dropout: 0, bias, shareLayers: K,
});

/** The name layer i's copy of a weight has in a model without sharing -> the shared name it copies (h.{floor(i/K) K}). */
const sharedName = (name: string, K: number) => name.replace(/^h\.(\d+)\./, (_, i: string) => `h.${Math.floor(Number(i) / K) * K}.`);

async function hostWeights(model: GPT): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, p] of model.stateDict()) out.set(name, { shape: [...p.shape], data: Float32Array.from(await p.toArray()) });
  return out;
}

/** The same weights without sharing: every layer a copy of its group's block. */
async function unsharedCopy(shared: GPT, K: number): Promise<GPT> {
  const { shareLayers: _, ...plain } = shared.config;
  const copy = new GPT(plain);
  const weights = await hostWeights(shared);
  copy.loadStateDict(new Map([...copy.stateDict().keys()].map((name) => [name, weights.get(sharedName(name, K))!])));
  return copy;
}

/** A batch of 2 sequences of 8 ids, and next ids as targets, from a seed. */
function batch(seed: number): { idx: Tensor; targets: Tensor } {
  const ids = Int32Array.from(seededValues(18, seed, 0, V), Math.floor);
  const x = new Int32Array(16);
  const y = new Int32Array(16);
  for (let b = 0; b < 2; b++) for (let t = 0; t < 8; t++) [x[b * 8 + t], y[b * 8 + t]] = [ids[b * 9 + t]!, ids[b * 9 + t + 1]!];
  return { idx: tensor(x, [2, 8]), targets: tensor(y, [2, 8]) };
}

describe('shareLayers', () => {
  it('the loss equals an unshared model with copies of the weights; a shared gradient is the sum of its copies', async () => {
    await fc.assert(
      fc.asyncProperty(configArb, (c) =>
        scope(async () => {
          const shared = new GPT(configOf(c), { seed: c.seed });
          const plain = await unsharedCopy(shared, c.K);
          const { idx, targets } = batch(c.seed);
          const a = shared.forward(idx, { targets }).loss;
          const b = plain.forward(idx, { targets }).loss;
          await expectClose(a, { shape: [], data: Float64Array.of(await b.item()) }, 1e-6, 1e-5, 'loss');
          a.backward();
          b.backward();
          const copies = new Map<string, Float64Array>();
          for (const [name, p] of plain.stateDict()) {
            const g = await p.grad!.toArray();
            const sum = copies.get(sharedName(name, c.K)) ?? new Float64Array(g.length);
            g.forEach((v, i) => (sum[i] += v));
            copies.set(sharedName(name, c.K), sum);
          }
          expect([...shared.stateDict().keys()].sort()).toEqual([...copies.keys()].sort());
          for (const [name, p] of shared.stateDict()) await expectClose(p.grad!, { shape: [...p.shape], data: copies.get(name)! }, 1e-5, 1e-4, `${JSON.stringify(c)} grad ${name}`);
          shared.dispose();
          plain.dispose();
        }),
      ),
      fcParams(6),
    );
  });

  it('lists each shared tensor once, under the first layer of its group; counts it once', () =>
    scope(() => {
      const shared = new GPT(configOf({ K: 2, groups: 2, nEmbd: 16, bias: true }));
      const { shareLayers: _, ...plainConfig } = shared.config;
      const plain = new GPT(plainConfig);
      const names = [...shared.stateDict().keys()];
      expect(names.filter((n) => /^h\.[13]\./.test(n))).toEqual([]);
      expect(new Set(names.map((n) => n.split('.').slice(0, 2).join('.')))).toEqual(new Set(['wte.weight', 'wpe.weight', 'h.0', 'h.2', 'ln_f.weight', 'ln_f.bias']));
      const block = [...plain.stateDict()].filter(([n]) => n.startsWith('h.0.')).reduce((s, [, p]) => s + p.size, 0);
      expect(shared.parameterCount()).toBe(plain.parameterCount() - 2 * block);
      expect(new Set(shared.parameters()).size).toBe(shared.parameters().length);
      shared.dispose();
      plain.dispose();
    }));

  it('a checkpoint stores each shared tensor (and its AdamW moments) once, and loads back to the same model', () =>
    scope(async () => {
      const model = new GPT(configOf({ K: 3, groups: 2, nEmbd: 8, bias: false }), { seed: 3 });
      const optimizer = new AdamW(model.parameters());
      const bytes = await encodeCheckpoint(model, tokenizer, { optimizer });
      // the header by hand: u64 little-endian length, then JSON { name: { dtype, shape, data_offsets } }
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const n = Number(view.getBigUint64(0, true));
      const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, { shape: number[]; data_offsets: [number, number] }>;
      const { __metadata__: meta, ...tensors } = header as Record<string, never>;
      expect(JSON.parse((meta as Record<string, string>).webgpu_gpt!).model.shareLayers).toBe(3);
      const weights = Object.keys(tensors).filter((k) => !k.startsWith('optim.'));
      expect(weights.sort()).toEqual([...model.stateDict().keys()].sort());
      expect(Object.keys(tensors).filter((k) => /^(optim\.[mv]\.)?h\.[1245]\./.test(k))).toEqual([]);
      expect(Object.keys(tensors).length).toBe(3 * weights.length); // weights, m, v
      // each stored once: the data regions tile the buffer without overlap, and it is exactly their size
      const spans = Object.values(tensors as Record<string, { shape: number[]; data_offsets: [number, number] }>).map((t) => t.data_offsets).sort((a, b) => a[0] - b[0]);
      spans.forEach(([start], i) => expect(start).toBe(i ? spans[i - 1]![1] : 0));
      const floats = Object.values(tensors as Record<string, { shape: number[] }>).reduce((s, t) => s + t.shape.reduce((a, d) => a * d, 1), 0);
      expect(bytes.length - 8 - n).toBe(4 * floats);
      const loaded = modelFromCheckpoint(decodeCheckpoint(bytes)).model;
      expect(loaded.config.shareLayers).toBe(3);
      const { idx } = batch(5);
      const want = await model.forward(idx).logits.toArray();
      await expectClose(loaded.forward(idx).logits, { shape: [2, 8, V], data: Float64Array.from(want) }, 0, 0, 'logits after loading');
      optimizer.dispose();
      model.dispose();
      loaded.dispose();
    }));

  it('a pruned shared model stores each mask once, under its group\'s first layer, and loads back with them', () =>
    scope(async () => {
      const model = new GPT(configOf({ K: 2, groups: 2, nEmbd: 8, bias: true }), { seed: 6 });
      await pruneGlobal(model, 0.5);
      const bytes = await encodeCheckpoint(model, tokenizer);
      const masks = [...decodeCheckpoint(bytes).weights.keys()].filter((k) => k.endsWith('.weight_mask'));
      const linears = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'];
      expect(masks.sort()).toEqual([0, 2].flatMap((i) => linears.map((l) => `h.${i}.${l}.weight_mask`)).sort());
      const loaded = modelFromCheckpoint(decodeCheckpoint(bytes)).model;
      // every layer's mask, shared ones under each of their paths
      const mask = (m: GPT, path: string) => (new Map(m.namedModules()).get(path) as Linear).weightMask!.toArray();
      for (const path of [0, 1, 2, 3].flatMap((i) => linears.map((l) => `h.${i}.${l}`))) {
        expect(Array.from(await mask(loaded, path)), path).toEqual(Array.from(await mask(model, path)));
      }
      const { idx } = batch(7);
      const want = await model.forward(idx).logits.toArray();
      await expectClose(loaded.forward(idx).logits, { shape: [2, 8, V], data: Float64Array.from(want) }, 0, 0, 'logits after loading');
      model.dispose();
      loaded.dispose();
    }));

  it('generation with a KV cache per layer (not per shared block) gives what generation without one gives', async () => {
    const model = new GPT(configOf({ K: 2, groups: 2, nEmbd: 16, bias: false }), { seed: 4 });
    const run = async (kvCache: boolean) => {
      const out: number[] = [];
      for await (const id of generate(model, [1, 2, 3], { maxNewTokens: 5, temperature: 0, kvCache })) out.push(id);
      return out;
    };
    expect(await run(true)).toEqual(await run(false));
    model.dispose();
  });

  it('GPT-2 export writes every layer: a plain GPT-2 computing the same function', () =>
    scope(async () => {
      const model = new GPT(configOf({ K: 2, groups: 2, nEmbd: 16, bias: false }), { seed: 9 });
      const files = await encodeHF(model, tokenizer);
      const names = Object.keys(parseSafetensors(files.weights).tensors);
      for (const layer of [0, 1, 2, 3]) expect(names).toContain(`transformer.h.${layer}.attn.c_attn.weight`);
      const ckpt = decodeHF(files);
      expect(ckpt.meta.model.nLayer).toBe(4);
      expect(ckpt.meta.model.shareLayers).toBeUndefined();
      const plain = modelFromCheckpoint(ckpt).model;
      const { idx } = batch(2);
      const want = await model.forward(idx).logits.toArray();
      await expectClose(plain.forward(idx).logits, { shape: [2, 8, V], data: Float64Array.from(want) }, 1e-6, 1e-5, 'exported logits');
      model.dispose();
      plain.dispose();
    }));

  it('refuses groups that do not divide the layers, in a config and in checkpoint metadata; the trainer counts what it trains', async () => {
    const base = configOf({ K: 1, groups: 4, nEmbd: 8, bias: false });
    expect(() => new GPT({ ...base, nLayer: 3, shareLayers: 2 })).toThrow(/^GPT config: shareLayers \(2\) must divide nLayer \(3\)/);
    for (const k of [0, 1.5, -2]) expect(() => new GPT({ ...base, shareLayers: k })).toThrow(/^GPT config: shareLayers must be a positive integer/);
    const model = new GPT({ ...base, shareLayers: 2 });
    const parsed = parseSafetensors(await encodeCheckpoint(model, tokenizer));
    const meta = JSON.parse(parsed.metadata.webgpu_gpt!);
    meta.model.shareLayers = 3;
    const edited = serializeSafetensors(parsed.tensors, { webgpu_gpt: JSON.stringify(meta) });
    expect(() => decodeCheckpoint(edited)).toThrow(/^checkpoint: metadata field model\.shareLayers \(3\) must divide metadata field model\.nLayer \(4\)/);
    model.dispose();
    const text = 'to be or not to be, that is the question. '.repeat(40);
    const ids = Int32Array.from(tokenizer.encode(text));
    const trainer = new Trainer({ ...TRAIN_DEFAULTS, nLayer: 4, shareLayers: 2, nHead: 2, nEmbd: 8, blockSize: 8, bias: true, batchSize: 2, maxIters: 2 }, { train: ids, val: ids, vocabSize: V });
    expect(trainer.model.config.shareLayers).toBe(2);
    expect(trainer.memoryPlan().parameters).toBe(trainer.model.parameterCount()); // the plan counts biases: exact with bias
    await trainer.trainStep();
    disposeTrainers(trainer);
  });
});
