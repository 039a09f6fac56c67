// Freezing parameters, as PyTorch's requires_grad: a frozen parameter gets no gradient (none is
// computed: the ops' backward skips inputs that need none), an optimizer and clipping are given only
// the trainable ones, and a Trainer over a partly frozen model leaves the frozen weights bit-identical.
// The gradient norm a step reports is checked against a float64 norm of gradients taken by hand.
import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW, Generator, Linear, Module, scope, tensor } from '../src/index.js';
import { drawBatch } from '../src/gpt/batches.js';
import { GPT } from '../src/gpt/model.js';
import { TRAIN_DEFAULTS, Trainer } from '../src/gpt/trainer.js';
import { disposeTrainers, seededValues, setupDevice } from './helpers.js';

beforeAll(setupDevice);

const rng = new Generator(3);

class TwoLayers extends Module {
  readonly a = this.module('a', new Linear(3, 4, { rng, std: 0.5 }));
  readonly b = this.module('b', new Linear(4, 2, { rng, std: 0.5 }));
}

describe('freezing parameters', () => {
  it('requiresGrad_(false) on a module: its parameters get no gradient and trainableParameters() leaves them out', async () => {
    const net = new TwoLayers();
    net.a.requiresGrad_(false);
    expect([...net.namedTrainableParameters()].map(([n]) => n)).toEqual(['b.weight', 'b.bias']);
    await scope(async () => {
      const x = tensor(Float32Array.from(seededValues(6, 1)), [2, 3]);
      net.b.forward(net.a.forward(x).gelu()).sum().backward();
      expect([net.a.weight.grad, net.a.bias!.grad]).toEqual([null, null]);
      expect(net.b.weight.grad?.shape).toEqual([2, 4]);
    });
    net.zeroGrad();
    net.requiresGrad_(); // back on
    expect(net.trainableParameters()).toHaveLength(4);
    expect(() => net.requiresGrad_('no' as never)).toThrow(/Module.requiresGrad_: argument 'on' must be/);
    net.dispose();
  });

  it('an int8 layer stays untrained under requiresGrad_(true): its weight and scales are constants', () => {
    const q = new Linear(4, 2, { rng, int8: true });
    q.requiresGrad_(true);
    expect(q.trainableParameters().map((p) => p.describe())).toEqual(['float32[2]']); // the bias alone
    q.dispose();
  });

  it('a Trainer over a partly frozen GPT steps only the trainable parameters; the frozen stay bit-identical and the reported norm is theirs', async () => {
    const cfg = { ...TRAIN_DEFAULTS, nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 8, batchSize: 2, maxIters: 4, warmupIters: 0, dtype: 'float32' as const, gradClip: 0.01 };
    const vocabSize = 11;
    const ids = Int32Array.from(seededValues(400, 5, 0, vocabSize), Math.floor);
    const data = { train: ids, val: ids.slice(0, 100), vocabSize };
    const model = new GPT({ vocabSize, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 16, dropout: 0, bias: false }, { seed: 1 });
    model.requiresGrad_(false);
    model.h.items[1]!.mlp.requiresGrad_(true);
    const trainable = model.trainableParameters();
    const frozen = model.parameters().filter((p) => !trainable.includes(p));
    const before = await Promise.all(frozen.map((p) => p.toArray()));

    // the first step's gradients by hand, on the batch the trainer draws first (its data generator: seed, stream 1)
    const { x, y } = drawBatch(data.train, 2, 8, new Generator(cfg.seed, 1));
    let want = 0;
    await scope(async () => {
      model.forward(tensor(x, [2, 8]), { targets: tensor(y, [2, 8]) }).loss.backward();
      expect(frozen.every((p) => p.grad === null)).toBe(true);
      for (const p of trainable) for (const g of await p.grad!.toArray()) want += g * g;
    });
    model.zeroGrad();

    const trainer = new Trainer(cfg, data, model);
    expect(trainer.optimizer.params).toEqual(trainable);
    const { gradNorm } = await trainer.trainStep();
    expect(gradNorm).toBeCloseTo(Math.sqrt(want), 5);
    await trainer.trainStep();
    const after = await Promise.all(frozen.map((p) => p.toArray()));
    after.forEach((a, i) => expect(Buffer.from((a as Float32Array).buffer).equals(Buffer.from((before[i] as Float32Array).buffer))).toBe(true));
    model.requiresGrad_(false);
    expect(() => new Trainer(cfg, data, model)).toThrow(/Trainer: every parameter of the model is frozen/);
    disposeTrainers(trainer);
  });

  it('a Trainer refuses a LoRA model whose adapters were frozen too (it failed at the first step, in backward); one it adapts itself trains, though frozen before', () => {
    const cfg = { ...TRAIN_DEFAULTS, nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 8, batchSize: 2, dtype: 'float32' as const, loraRank: 2 };
    const vocabSize = 11;
    const ids = Int32Array.from(seededValues(200, 5, 0, vocabSize), Math.floor);
    const data = { train: ids, val: ids, vocabSize };
    const plain = { vocabSize, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 16, dropout: 0, bias: false };
    const adapted = new GPT({ ...plain, lora: { rank: 2, alpha: 8, dropout: 0, targets: ['c_attn'] } }).requiresGrad_(false);
    expect(() => new Trainer(cfg, data, adapted)).toThrow(/^Trainer: every parameter of the model is frozen/);
    adapted.dispose();
    const trainer = new Trainer(cfg, data, new GPT(plain).requiresGrad_(false));
    expect(trainer.optimizer.params.map((p) => p.shape)).toEqual([[2, 16], [48, 2]]); // c_attn's A and B
    disposeTrainers(trainer);
  });

  // an optimizer holds the tensors it was given: one made before addLoRA holds the weights addLoRA
  // froze, not the adapters, and its steps moved nothing without a word
  it('AdamW.step refuses an optimizer whose parameters are all frozen (made before GPT.addLoRA), moving nothing; one partly frozen steps the rest', async () => {
    const model = new GPT({ vocabSize: 11, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 16, dropout: 0, bias: true }, { seed: 2 });
    const before = new AdamW(model.trainableParameters(), { lr: 0.1 });
    model.addLoRA({ rank: 2 });
    const idx = tensor(Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), [1, 8]);
    await scope(async () => model.forward(idx, { targets: idx }).loss.backward());
    const wte = await model.wte.weight.toArray();
    expect(() => before.step()).toThrow(/^AdamW\.step: all \d+ of its parameters are frozen \(requiresGrad false\) and hold no gradient: a step would move none of them; an AdamW made before addLoRA holds the weights it froze, not its adapters: make the optimizer after it, over model\.trainableParameters\(\)$/);
    expect(before.stepCount).toBe(0);
    expect(await model.wte.weight.toArray()).toEqual(wte);
    // as torch: the frozen parameters among trainable ones are skipped
    const after = new AdamW([model.wte.weight, ...model.trainableParameters()], { lr: 0.1 });
    const A = await model.h.items[0]!.attn.c_attn.lora!.A.toArray();
    after.step();
    expect(await model.wte.weight.toArray()).toEqual(wte);
    expect(await model.h.items[0]!.attn.c_attn.lora!.A.toArray()).not.toEqual(A);
    for (const opt of [before, after]) opt.dispose();
    idx.dispose();
    model.dispose();
  });
});
