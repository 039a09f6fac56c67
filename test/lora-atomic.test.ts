// GPT.addLoRA is all or nothing: refused partway (a layer already adapted by hand, an allocation
// that fails), it leaves the model as it found it: the same parameters, each as trainable as it
// was, the same config, the same generator state, the same weights and no GPU memory more. It had left adapters on the
// layers before the failing one and every other parameter frozen, with config.lora unset, so that
// mergeLoRA refused the adapters it could not see.
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { device, GPT } from '../src/index.js';
import { setupDevice } from './helpers.js';

beforeAll(setupDevice);
afterEach(() => vi.restoreAllMocks());

const config = { vocabSize: 11, blockSize: 4, nLayer: 2, nHead: 2, nEmbd: 8, dropout: 0, bias: true };
const lora = { rank: 2, alpha: 4, dropout: 0, targets: ['c_attn' as const, 'c_fc' as const] };

/** What addLoRA must leave as it was: parameter names with their requiresGrad, the config, the weights, the live bytes. */
async function snapshot(model: GPT) {
  const params = await Promise.all([...model.namedParameters()].map(async ([name, p]) => [name, p.requiresGrad, Array.from(await p.toArray())] as const));
  return { params, config: model.config, rng: model.rng.getState(), live: device().memory().liveBytes };
}

describe('GPT.addLoRA refused partway', () => {
  it('a layer adapted by hand: refused naming it, before any other layer is adapted or frozen', async () => {
    const model = new GPT(config, { seed: 3 });
    model.h.items[1]!.mlp.c_fc.addLoRA({ rank: 1, rng: model.rng });
    const before = await snapshot(model);
    expect(() => model.addLoRA(lora)).toThrow(/^GPT\.addLoRA: h\.1\.mlp\.c_fc has a LoRA adapter the model's config does not record/);
    expect(await snapshot(model)).toEqual(before);
    model.dispose();
  });

  it('an allocation failing, whichever: the model is left as it was', async () => {
    const real = device().alloc.bind(device());
    for (let n = 1; ; n++) {
      const model = new GPT(config, { seed: 3 });
      model.wpe.requiresGrad_(false); // frozen before: stays frozen; the rest stays trainable
      const before = await snapshot(model);
      let calls = 0;
      const spy = vi.spyOn(device(), 'alloc').mockImplementation((bytes, label) => {
        if (++calls === n) throw new Error('injected allocation failure');
        return real(bytes, label);
      });
      let failed = false;
      try {
        model.addLoRA(lora);
      } catch (e) {
        expect((e as Error).message).toBe('injected allocation failure');
        failed = true;
      } finally {
        spy.mockRestore();
      }
      if (failed) expect(await snapshot(model), `allocation ${n} failing`).toEqual(before);
      model.dispose();
      if (!failed) return expect(n).toBeGreaterThan(8); // A and B of 4 layers
    }
  });
});
