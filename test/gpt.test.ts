import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeCheckpoint, encodeCheckpoint, modelFromCheckpoint, restoreOptimizer } from '../src/gpt/checkpoint.js';
import { generate } from '../src/gpt/generate.js';
import { GPT } from '../src/gpt/model.js';
import { AdamW } from '../src/optim/adamw.js';
import { disposeCache, keepCacheRows, type KVCache } from '../src/nn/transformer.js';
import { TRAIN_DEFAULTS, Trainer, type TrainConfig } from '../src/gpt/trainer.js';
import { device, noGrad, scope, tensor } from '../src/index.js';
import { disposeTrainers, keptLosses, setupDevice } from './helpers.js';
import { setProfile } from '../src/kernels/profile.js';
import { parseSafetensors, serializeSafetensors } from '../src/io/safetensors.js';
import { charData } from './corpus.js';

beforeAll(setupDevice);

const { tokenizer, data } = await charData(40_000);

const tiny: TrainConfig = {
  ...TRAIN_DEFAULTS,
  nLayer: 2, nHead: 2, nEmbd: 32, blockSize: 32, batchSize: 8,
  maxIters: 300, learningRate: 3e-3, minLr: 3e-4, warmupIters: 20, lrDecayIters: 300,
  evalInterval: 1000, evalIters: 5, logInterval: 50,
};

/** Entropy (nats/char) of the corpus's character frequencies: what a model that ignores context can reach. */
function unigramEntropy(tokens: Int32Array, vocab: number): number {
  const counts = new Float64Array(vocab);
  for (const t of tokens) counts[t]!++;
  let h = 0;
  for (const c of counts) if (c) h -= (c / tokens.length) * Math.log(c / tokens.length);
  return h;
}


describe('GPT', () => {
  afterEach(() => setProfile(null));
  it('counts parameters like nanoGPT and names them like GPT-2', () => {
    const model = new GPT({ vocabSize: 65, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128, dropout: 0, bias: false });
    const names = [...model.namedParameters()].map(([n]) => n);
    expect(names).toContain('h.0.attn.c_attn.weight');
    expect(names).toContain('h.3.mlp.c_proj.weight');
    expect(names).not.toContain('lm_head.weight'); // tied to wte.weight
    // 12 * nLayer * C^2 (attention + MLP) + V*C (wte) + LayerNorm gains (2 per block + final)
    expect(model.numParams()).toBe(12 * 4 * 128 * 128 + 65 * 128 + (2 * 4 + 1) * 128);
    model.dispose();
  });

  it("takes nanoGPT's GPTConfig defaults for dropout and bias left out: 0.0 and True (biases in every Linear and LayerNorm)", () => {
    const model = new GPT({ vocabSize: 65, blockSize: 64, nLayer: 2, nHead: 4, nEmbd: 128 });
    expect([model.config.dropout, model.config.bias]).toEqual([0, true]);
    const names = [...model.namedParameters()].map(([n]) => n);
    expect(names).toEqual(expect.arrayContaining(['h.0.attn.c_attn.bias', 'h.1.mlp.c_proj.bias', 'h.0.ln_1.bias', 'ln_f.bias']));
    // nanoGPT's count with bias: the 12 C^2 + 13 C of each block (Linear and LayerNorm biases), wte, ln_f's 2 C
    expect(model.numParams()).toBe(2 * (12 * 128 * 128 + 13 * 128) + 65 * 128 + 2 * 128);
    model.dispose();
  });

  it("initialises as nanoGPT's _init_weights: normal(0, 0.02), c_proj weights 0.02 / sqrt(2 nLayer), biases 0, LayerNorm gains 1", async () => {
    const L = 6;
    const model = new GPT({ vocabSize: 300, blockSize: 64, nLayer: L, nHead: 4, nEmbd: 128, dropout: 0, bias: true });
    for (const [name, p] of model.namedParameters()) {
      const x = Float64Array.from((await p.toArray()) as Float32Array);
      if (/bias$/.test(name) || /ln_\w+\.weight$/.test(name)) {
        expect(x.every((v) => v === (/weight$/.test(name) ? 1 : 0)), name).toBe(true);
        continue;
      }
      const std = /c_proj\.weight$/.test(name) ? 0.02 / Math.sqrt(2 * L) : 0.02;
      const mean = x.reduce((s, v) => s + v, 0) / x.length;
      const sampleStd = Math.sqrt(x.reduce((s, v) => s + (v - mean) ** 2, 0) / x.length);
      // a sample of >= 8192 draws: the mean within 5 standard errors, the std within 5% (its error is 1/sqrt(2n) < 0.8%)
      expect(Math.abs(mean), `${name} mean`).toBeLessThan((5 * std) / Math.sqrt(x.length));
      expect(Math.abs(sampleStd / std - 1), `${name} std ${sampleStd}, want ${std}`).toBeLessThan(0.05);
    }
    model.dispose();
  });

  it(`trains below the corpus's unigram entropy, with flat live GPU bytes`, async () => {
    const trainer = new Trainer(tiny, data);
    const live: number[] = [];
    let last = 0;
    for (let i = 0; i < tiny.maxIters; i++) {
      const { loss } = await trainer.trainStep(i % 50 === 49);
      if (i % 50 === 49) last = loss;
      live.push(device().memory().liveBytes);
    }
    const { val } = await trainer.evaluate();
    const h = unigramEntropy(data.train, data.vocabSize);
    console.log(`unigram entropy ${h.toFixed(3)} nats, final train loss ${last.toFixed(3)}, val ${val.toFixed(3)}`);
    expect(last).toBeLessThan(h - 0.4);
    expect(val).toBeLessThan(h - 0.2);
    expect(new Set(live.slice(2)).size, 'live bytes after warm-up').toBe(1);
    disposeTrainers(trainer);
  });

  it('a run resumed from a checkpoint continues with exactly the same losses', async () => {
    const cfg = { ...tiny, dropout: 0.1 }; // dropout: the RNG state must be restored too
    const straight = new Trainer(cfg, data);
    const reference = await keptLosses(straight, 12);

    const first = new Trainer(cfg, data);
    await keptLosses(first, 6);
    const bytes = await encodeCheckpoint(first.model, tokenizer, { optimizer: first.optimizer, train: cfg, trainer: await first.state() });
    disposeTrainers(first);

    const ckpt = decodeCheckpoint(bytes);
    const { model } = modelFromCheckpoint(ckpt);
    const resumed = new Trainer(ckpt.meta.train!, data, model);
    restoreOptimizer(ckpt, model, resumed.optimizer);
    resumed.restore(ckpt.meta.trainer!);
    const after = await keptLosses(resumed, 6);
    expect(after).toEqual(reference.slice(6));
    disposeTrainers(straight, resumed);
  });

  // torch.save({ model, optimizer }) in a hand-written loop: the checkpoint held the moments but not
  // AdamW's step count, so restoreOptimizer restarted the bias correction at step 1 (step 4's loss
  // 2.1226 where the run gave 2.1615)
  it('a hand-written loop resumed with restoreOptimizer continues with exactly the same losses', async () => {
    const config = { vocabSize: tokenizer.vocabSize, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 16, dropout: 0, bias: true };
    const losses = async (model: GPT, optimizer: AdamW, from: number, to: number) => {
      const out: number[] = [];
      for (let i = from; i < to; i++) {
        out.push(await scope(async () => {
          const at = i * 16;
          const { loss } = model.forward(tensor(data.train.slice(at, at + 16), [1, 16]), { targets: tensor(data.train.slice(at + 1, at + 17), [1, 16]) });
          loss.backward();
          optimizer.step();
          optimizer.zeroGrad();
          return loss.item();
        }));
      }
      return out;
    };
    const straight = new GPT(config, { seed: 1 });
    const straightOptimizer = new AdamW(straight.parameters(), { lr: 1e-2 });
    const reference = await losses(straight, straightOptimizer, 0, 6);
    const first = new GPT(config, { seed: 1 });
    const firstOptimizer = new AdamW(first.parameters(), { lr: 1e-2 });
    await losses(first, firstOptimizer, 0, 3);
    const ckpt = decodeCheckpoint(await encodeCheckpoint(first, tokenizer, { optimizer: firstOptimizer }));
    const { model } = modelFromCheckpoint(ckpt);
    const optimizer = new AdamW(model.parameters(), { lr: 1e-2 });
    restoreOptimizer(ckpt, model, optimizer);
    expect(await losses(model, optimizer, 3, 6)).toEqual(reference.slice(3));
    for (const m of [straight, first, model]) m.dispose();
    for (const o of [straightOptimizer, firstOptimizer, optimizer]) o.dispose();
  });

  it.each([
    ['one shard of moments', null],
    ['moments in shards of 16 KiB', 16384],
  ])('continueFrom moves a run to other data: the same losses as resuming its checkpoint there (%s)', async (_, bufferLimit) => {
    setProfile(bufferLimit ? { bufferLimit } : null);
    const cfg = { ...tiny, dropout: 0.1 };
    const other = { train: data.train.slice().reverse(), val: data.val, vocabSize: data.vocabSize };
    const first = new Trainer(cfg, data);
    await keptLosses(first, 4);
    // the other route: a checkpoint of the run, resumed on the other data
    const ckpt = decodeCheckpoint(await encodeCheckpoint(first.model, tokenizer, { optimizer: first.optimizer, train: cfg, trainer: await first.state() }));
    const { model } = modelFromCheckpoint(ckpt);
    const resumed = new Trainer(cfg, other, model);
    restoreOptimizer(ckpt, model, resumed.optimizer);
    resumed.restore(ckpt.meta.trainer!);
    const moved = new Trainer(cfg, other, first.model);
    moved.continueFrom(first);
    first.dispose();
    expect(moved.optimizer.shards.length > 1, 'sharded').toBe(bufferLimit !== null);
    expect(await keptLosses(moved, 4)).toEqual(await keptLosses(resumed, 4));
    disposeTrainers(moved, resumed);
  });

  it('greedy generation gives the same tokens with and without the KV cache, past the window', async () => {
    const model = new GPT({ vocabSize: data.vocabSize, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 32, dropout: 0, bias: true }, { seed: 7 });
    const prompt = [...data.train.slice(0, 5)];
    const run = async (kvCache: boolean) => {
      const out: number[] = [];
      for await (const t of generate(model, prompt, { maxNewTokens: 30, temperature: 0, kvCache })) out.push(t);
      return out;
    };
    const cached = await run(true);
    const uncached = await run(false);
    expect(cached).toHaveLength(30);
    expect(cached).toEqual(uncached);
    model.dispose();
  });

  it('idx and targets of the wrong kind or shape are refused in one line naming GPT.forward', () =>
    scope(() => {
      const model = new GPT({ vocabSize: 11, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8, dropout: 0, bias: true }, { seed: 3 });
      const idx = tensor(new Int32Array([1, 2]), [1, 2]);
      // targets [1, 3] for idx [1, 2] failed as 'reshape: cannot reshape int32[1, 3] (3 elements) to [2]'
      expect(() => model.forward(idx, { targets: tensor(new Int32Array([1, 2, 3]), [1, 3]) }))
        .toThrow(/^GPT.forward: targets must be int32 shaped like idx \[1, 2\], got int32\[1, 3\]$/);
      expect(() => model.forward(idx, { targets: tensor([[1, 2]]) })).toThrow(/^GPT.forward: targets must be int32 shaped like idx \[1, 2\], got float32\[1, 2\]$/);
      expect(() => model.forward(idx, { targets: [[1, 2]] as never })).toThrow(/^GPT.forward: argument 'targets' must be a Tensor, got array \[\[1, 2\]\]$/);
      expect(() => model.forward(null as never)).toThrow(/^GPT.forward: argument 'idx' must be a Tensor, got null$/);
      // nanoGPT's model(idx, targets) said "unknown option 'dtype'"
      expect(() => model.forward(idx, idx as never)).toThrow(/^GPT.forward: the second argument is an options object, got the tensor .*: pass the targets as forward\(idx, \{ targets \}\)$/);
      expect(() => model.forward(tensor([[1, 2]]))).toThrow(/^GPT.forward: idx must be int32 \[B, T\], got float32\[1, 2\]$/);
      model.dispose();
    }));

  it('the KV-cache path computes the same logits as a full forward', () =>
    scope(async () => {
      const model = new GPT({ vocabSize: 11, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8, dropout: 0, bias: true }, { seed: 3 });
      const seq = [1, 5, 2, 9, 3];
      const full = (await model.forward(tensor(new Int32Array(seq), [1, 5])).logits.toArray()) as Float32Array;
      const caches: KVCache[] = model.h.items.map(() => ({ qkv: null }));
      noGrad(() => model.forward(tensor(new Int32Array(seq.slice(0, 4)), [1, 4]), { caches }));
      const step = (await noGrad(() => model.forward(tensor(new Int32Array(seq.slice(4)), [1, 1]), { caches })).logits.toArray()) as Float32Array;
      const lastRow = full.slice(4 * 11);
      step.forEach((v, i) => expect(v).toBeCloseTo(lastRow[i]!, 4));
      caches.forEach(disposeCache);
      model.dispose();
    }));

  it('a cache that keeps some rows keeps its room to grow, and the next step equals a full forward', () =>
    scope(async () => {
      const model = new GPT({ vocabSize: 11, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 8, dropout: 0, bias: true }, { seed: 4 });
      const seqs = [[1, 5, 2, 9, 3, 4], [7, 7, 1, 0, 2, 8], [3, 10, 6, 6, 1, 5]];
      const ids = (cols: [number, number], rows = [0, 1, 2]) => tensor(new Int32Array(rows.flatMap((r) => seqs[r]!.slice(...cols))), [rows.length, cols[1] - cols[0]]);
      const caches: KVCache[] = model.h.items.map(() => ({ qkv: null, capacity: 16 }));
      noGrad(() => model.forward(ids([0, 4]), { caches }));
      noGrad(() => model.forward(ids([4, 5]), { caches })); // 5 positions: moved to 10 slots
      const slots = caches[0]!.qkv!.shape[1]!;
      expect(slots).toBeGreaterThan(5);
      caches.forEach((c) => keepCacheRows(c, [2, 0], 0));
      expect([caches[0]!.qkv!.shape[0], caches[0]!.qkv!.shape[1], caches[0]!.length]).toEqual([2, slots, 5]);
      const step = (await noGrad(() => model.forward(ids([5, 6], [2, 0]), { caches })).logits.toArray()) as Float32Array;
      expect(caches[0]!.qkv!.shape[1], 'no move: the step wrote into the room kept').toBe(slots);
      const full = (await model.forward(ids([0, 6], [2, 0])).logits.toArray()) as Float32Array;
      [0, 1].forEach((b) => step.slice(b * 11, (b + 1) * 11).forEach((v, i) => expect(v).toBeCloseTo(full[(b * 6 + 5) * 11 + i]!, 4)));
      caches.forEach(disposeCache);
      model.dispose();
    }));

  it('corrupt or mismatched checkpoints fail with a clear message', async () => {
    const model = new GPT({ vocabSize: tokenizer.vocabSize, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8, dropout: 0, bias: false });
    const bytes = await encodeCheckpoint(model, tokenizer);
    expect(() => decodeCheckpoint(bytes.slice(0, bytes.length - 10), 'ckpt')).toThrow(/ckpt: not a readable safetensors file/);
    const ckpt = decodeCheckpoint(bytes);
    ckpt.meta.model = { ...ckpt.meta.model, nEmbd: 16 };
    expect(() => modelFromCheckpoint(ckpt)).toThrow(/loadStateDict: 'wte.weight' has shape \[\d+, 8\], the model expects float32\[\d+, 16\]/);
    model.dispose();
  });

  // torch.save(model.state_dict())'s habit, saveCheckpoint(dir, model), said "Cannot read properties
  // of undefined (reading 'toJSON')"; another optimizer or module, "... (reading 'map')" or "model.checkAdapters is not a function"
  it('a checkpoint without a tokenizer, of a module that is not a GPT, or with an optimizer that is not an AdamW is refused naming the argument', async () => {
    const model = new GPT({ vocabSize: tokenizer.vocabSize, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8, dropout: 0, bias: false });
    const weightsAlone = '; for the weights alone: stateDictToSafetensors, or saveStateDict in Node';
    await expect(encodeCheckpoint(model, undefined as never)).rejects.toThrow(new RegExp(`^encodeCheckpoint: argument 'tokenizer' must be a tokenizer \\(the checkpoint holds it for sampling\\), got undefined${weightsAlone}$`));
    await expect(encodeCheckpoint(model.h.items[0] as never, tokenizer)).rejects.toThrow(new RegExp(`^encodeCheckpoint: argument 'model' must be a GPT, got an object \\(Block\\)${weightsAlone}$`));
    await expect(encodeCheckpoint(model, tokenizer, { optimizer: model as never })).rejects.toThrow(/^encodeCheckpoint: option 'optimizer' must be an AdamW, got an object \(GPT\)$/);
    model.dispose();
  });

  it('metadata that disagrees with the weights is refused before a model of its size is built', async () => {
    const model = new GPT({ vocabSize: tokenizer.vocabSize, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8, dropout: 0, bias: false });
    const { tensors, metadata } = parseSafetensors(await encodeCheckpoint(model, tokenizer));
    model.dispose();
    /** The checkpoint with `changes` written over its metadata's model config, as a hand edit would. */
    const edited = (changes: Record<string, number>) => {
      const meta = JSON.parse(metadata.webgpu_gpt!) as { model: Record<string, number> };
      Object.assign(meta.model, changes);
      return serializeSafetensors(tensors, { webgpu_gpt: JSON.stringify(meta) });
    };
    // a billion layers would be allocated (for minutes, or until memory runs out) before loading found them missing
    expect(() => decodeCheckpoint(edited({ nLayer: 1e9 }), 'ckpt')).toThrow(/^ckpt: metadata field model\.nLayer 1000000000 .* 1 block/);
    expect(() => decodeCheckpoint(edited({ nEmbd: 4096, nHead: 2 }), 'ckpt')).toThrow(/^ckpt: .*wte\.weight.*\[\d+, 8\].*metadata field model\.nEmbd 4096/);
    // a tensor missing is found when the model loads, which names the checkpoint too
    const lessLnF = { ...tensors };
    delete lessLnF['ln_f.weight'];
    const missing = decodeCheckpoint(serializeSafetensors(lessLnF, metadata), 'ckpt');
    expect(() => modelFromCheckpoint(missing)).toThrow(/^ckpt: loadStateDict: missing ln_f\.weight$/);
    expect(() => decodeCheckpoint(edited({ blockSize: 1e6 }), 'ckpt')).toThrow(/^ckpt: .*wpe\.weight.*\[8, 8\].*metadata field model\.blockSize 1000000/);
  });
});
