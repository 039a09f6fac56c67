// A LoRA adapter a GPT's config does not record (made by a layer's own Linear.addLoRA, or one the
// config records taken off by Linear.removeLoRA) is refused, naming the layer, by what writes or
// rebuilds the model from its config: encodeCheckpoint wrote a checkpoint that loadStateDict then
// refused ('unexpected h.0.attn.c_attn.lora.A'), encodeHF wrote a GPT-2 without the adapter's
// update (another model, without a word), quantizeModel failed in loadStateDict.
import { beforeAll, describe, expect, it } from 'vitest';
import { GPT, TRAIN_DEFAULTS, Trainer } from '../src/index.js';
import { encodeCheckpoint } from '../src/gpt/checkpoint.js';
import { encodeHF } from '../src/gpt/hf/index.js';
import { quantizeModel } from '../src/gpt/quantize.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { setupDevice } from './helpers.js';

beforeAll(setupDevice);

const tokenizer = new CharTokenizer([...'abcdefghijk']);
const config = { vocabSize: 11, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 16, dropout: 0, bias: true };
const lora = { rank: 2, alpha: 4, dropout: 0, targets: ['c_attn' as const] };

/** A plain GPT with an adapter on h.1.mlp.c_fc by hand; or one adapted by GPT.addLoRA that lost h.1.attn.c_attn's. */
function handAdapted(): GPT {
  const model = new GPT(config);
  model.h.items[1]!.mlp.c_fc.addLoRA({ rank: 2, rng: model.rng });
  return model;
}
function removedOne(): GPT {
  const model = new GPT({ ...config, lora });
  model.h.items[1]!.attn.c_attn.removeLoRA();
  return model;
}

describe('LoRA adapters the config does not record', () => {
  it.for([
    { what: 'added by Linear.addLoRA', make: handAdapted, problem: /h\.1\.mlp\.c_fc has a LoRA adapter the model's config does not record/ },
    { what: 'removed by Linear.removeLoRA', make: removedOne, problem: /h\.1\.attn\.c_attn lost the LoRA adapter the model's config records/ },
  ])('$what: a checkpoint, a GPT-2 export, quantization and a Trainer refuse them, naming the layer', async ({ make, problem }) => {
    const model = make();
    await expect(encodeCheckpoint(model, tokenizer)).rejects.toThrow(new RegExp(`^checkpoint not saved: ${problem.source}`));
    await expect(encodeHF(model)).rejects.toThrow(new RegExp(`^encodeHF: ${problem.source}`));
    await expect(quantizeModel(model)).rejects.toThrow(new RegExp(`^quantizeModel: ${problem.source}`));
    const data = Int32Array.from({ length: 200 }, (_, i) => i % 11);
    const cfg = { ...TRAIN_DEFAULTS, nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 8, batchSize: 2, bias: true, dtype: 'float32' as const, ...(model.config.lora && { loraRank: 2, loraAlpha: 4 }) };
    expect(() => new Trainer(cfg, { train: data, val: data, vocabSize: 11 }, model)).toThrow(new RegExp(`^Trainer: ${problem.source}`));
    model.dispose();
  });

  it('GPT.mergeLoRA refuses a model that lost one before merging any; GPT.addLoRA one adapted by hand before adapting any', () => {
    const removed = removedOne();
    expect(() => removed.mergeLoRA()).toThrow(/^GPT\.mergeLoRA: h\.1\.attn\.c_attn lost the LoRA adapter/);
    expect(removed.h.items[0]!.attn.c_attn.lora).not.toBeNull(); // not merged
    removed.dispose();
    const hand = handAdapted();
    expect(() => hand.addLoRA(lora)).toThrow(/^GPT\.addLoRA: h\.1\.mlp\.c_fc has a LoRA adapter the model's config does not record/);
    expect(hand.h.items[0]!.attn.c_attn.lora).toBeNull();
    hand.dispose();
  });
});
