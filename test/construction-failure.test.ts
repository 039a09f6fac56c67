// A constructor that throws frees everything it made. Each case fails the device's n-th buffer
// allocation, for every n until construction succeeds, and checks the device's live bytes are back
// where they started: a module or trainer made partway (an embedding past the adapter's largest
// buffer, the memory running out) left its earlier tensors live with nothing to free them.
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Block, CausalSelfAttention, device, Embedding, Generator, GPT, LayerNorm, Linear, MLP } from '../src/index.js';
import { TRAIN_DEFAULTS, Trainer } from '../src/gpt/trainer.js';
import { profile } from '../src/kernels/profile.js';
import { setupDevice } from './helpers.js';

beforeAll(setupDevice);
afterEach(() => vi.restoreAllMocks());

const INJECTED = 'injected allocation failure';

/**
 * Makes `make()` with the n-th allocation failing, n = 1, 2, ... until it succeeds; after each
 * failure the live bytes must be what they were before. Returns how many allocations it took.
 */
function failEachAllocation(make: () => { dispose(): void }): number {
  for (let n = 1; ; n++) {
    const before = device().memory().liveBytes;
    const real = device().alloc.bind(device());
    let calls = 0;
    const spy = vi.spyOn(device(), 'alloc').mockImplementation((bytes, label) => {
      if (++calls === n) throw new Error(INJECTED);
      return real(bytes, label);
    });
    let made: { dispose(): void } | undefined;
    try {
      made = make();
    } catch (e) {
      expect((e as Error).message).toBe(INJECTED);
    } finally {
      spy.mockRestore();
    }
    if (made) {
      made.dispose();
      return n - 1;
    }
    expect({ failedAt: n, live: device().memory().liveBytes }).toEqual({ failedAt: n, live: before });
  }
}

const cfg = { nEmbd: 8, nHead: 2, nLayer: 2, dropout: 0, bias: true };

describe('a constructor that throws frees what it made', () => {
  it.each([
    ['Linear', () => new Linear(3, 4, { rng: new Generator(1) })],
    ['Linear int8', () => new Linear(3, 4, { rng: new Generator(1), int8: true })],
    ['Embedding int8', () => new Embedding(5, 4, { int8: true } as never)],
    ['LayerNorm', () => new LayerNorm(4)],
    ['CausalSelfAttention', () => new CausalSelfAttention(cfg, new Generator(1))],
    ['MLP', () => new MLP(cfg, new Generator(1))],
    ['Block', () => new Block(cfg, new Generator(1))],
    ['GPT', () => new GPT({ vocabSize: 11, blockSize: 4, nLayer: 2, nHead: 2, nEmbd: 8, dropout: 0, bias: true })],
    ['GPT with LoRA adapters', () => new GPT({ vocabSize: 11, blockSize: 4, nLayer: 2, nHead: 2, nEmbd: 8, dropout: 0, bias: true, lora: { rank: 2, alpha: 4, dropout: 0.1, targets: ['c_attn', 'c_fc'] } })],
    ['GPT with shared blocks', () => new GPT({ vocabSize: 11, blockSize: 4, nLayer: 4, nHead: 2, nEmbd: 8, dropout: 0, bias: false, shareLayers: 2 })],
  ])('%s, whichever allocation fails', (_, make) => {
    expect(failEachAllocation(make)).toBeGreaterThan(1);
  });

  it('GPT whose embedding is past the largest buffer (no spy)', () => {
    const before = device().memory().liveBytes;
    // c_attn's weight [3C, C] is past maxBufferSize; wte and wpe, made before it, fit
    const C = 64 * Math.ceil(Math.sqrt((device().info.limits.maxBufferSize ?? 2 ** 32) / 12) / 64);
    expect(() => new GPT({ vocabSize: 3, blockSize: 2, nLayer: 1, nHead: 1, nEmbd: C, dropout: 0, bias: true })).toThrow(/maxBufferSize/);
    expect(device().memory().liveBytes).toBe(before);
  });

  // float16 (where the adapter has it) adds the GradScaler's tensors before the model's
  it.for(['float32', 'float16'] as const)('Trainer in %s, whichever allocation fails (its model made inside it, and given)', (dtype, ctx) => {
    if (dtype === 'float16' && !profile().f16) ctx.skip();
    const ids = Int32Array.from({ length: 200 }, (_, i) => (i * 7) % 11);
    const data = { train: ids, val: ids, vocabSize: 11 };
    const tcfg = { ...TRAIN_DEFAULTS, nLayer: 1, nHead: 2, nEmbd: 8, blockSize: 4, batchSize: 2, dtype };
    const trainer = (t: Trainer) => ({ dispose: () => (t.dispose(), t.model.dispose()) });
    expect(failEachAllocation(() => trainer(new Trainer(tcfg, data)))).toBeGreaterThan(1);
    const model = new GPT({ vocabSize: 11, blockSize: 4, nLayer: 1, nHead: 2, nEmbd: 8, dropout: 0, bias: false });
    expect(failEachAllocation(() => new Trainer(tcfg, data, model))).toBeGreaterThan(1);
    model.dispose();
  });
});
