// Autoregressive generation, streamed as an async iterator of token ids. With the KV cache, each
// new token runs the model on one position only. Learned absolute positions mean a full window
// cannot be shifted, so once the context reaches blockSize the window slides like nanoGPT's
// (the last blockSize tokens, re-encoded from scratch each step).
import { noGrad } from '../autograd/mode.js';
import { cachedLength, disposeCache, type KVCache } from '../nn/transformer.js';
import { checkSamplingOptions, sampleLogits, tensor, type SamplingOptions } from '../ops/index.js';
import { Generator } from '../tensor/generator.js';
import { scope } from '../tensor/scope.js';
import type { GPT } from './model.js';

/** How many tokens to generate and how: sampling settings, seed, KV cache. */
export interface GenerateOptions extends SamplingOptions {
  maxNewTokens: number;
  seed?: number;
  /** Reuse keys/values of earlier positions (default true). */
  kvCache?: boolean;
}

/** Streams `maxNewTokens` token ids continuing `prompt` (at least one id); the model is put in eval mode meanwhile. */
export async function* generate(model: GPT, prompt: readonly number[], opts: GenerateOptions): AsyncGenerator<number> {
  checkGenerateArgs(model, prompt, opts);
  const rng = new Generator(opts.seed ?? 0);
  const { blockSize } = model.config;
  const useCache = opts.kvCache ?? true;
  const wasTraining = model.training;
  model.eval();
  const tokens = [...prompt];
  let caches: KVCache[] | null = null;
  const dropCaches = () => {
    for (const c of caches ?? []) disposeCache(c);
    caches = null;
  };
  try {
    for (let i = 0; i < opts.maxNewTokens; i++) {
      const cached = cachedLength(caches?.[0]);
      // incremental step only while the cache holds exactly the context so far and has room
      const incremental = useCache && caches !== null && cached === tokens.length - 1 && tokens.length <= blockSize;
      if (!incremental) {
        dropCaches();
        if (useCache && tokens.length <= blockSize) caches = model.h.items.map(() => ({ qkv: null }));
      }
      const input = incremental ? tokens.slice(-1) : tokens.slice(-blockSize);
      const u = rng.nextFloat(); // the host's seeded stream decides; the GPU draws with it
      const next = await noGrad(() =>
        scope(async () => {
          const idx = tensor(new Int32Array(input), [1, input.length]);
          const logits = model.forward(idx, { caches: caches ?? undefined, lastOnly: true }).logits; // [1, 1, V]
          const token = sampleLogits(logits, tensor([[u]]), opts); // [1, 1], read back alone
          return (await token.toArray())[0]!;
        }),
      );
      tokens.push(next);
      yield next;
    }
  } finally {
    dropCaches();
    model.train(wasTraining);
  }
}

/** One-line errors for a bad prompt or options, before any work is queued. */
function checkGenerateArgs(model: GPT, prompt: readonly number[], opts: GenerateOptions | undefined): void {
  if (!Array.isArray(prompt) || !prompt.length) throw new TypeError('generate: the prompt must be a non-empty array of token ids');
  const { vocabSize } = model.config;
  const bad = prompt.findIndex((id) => !(Number.isInteger(id) && id >= 0 && id < vocabSize));
  if (bad >= 0) throw new RangeError(`generate: prompt[${bad}] = ${String(prompt[bad])} is not a token id in [0, ${vocabSize})`);
  if (typeof opts !== 'object' || opts === null) throw new TypeError('generate: options { maxNewTokens, temperature?, topK?, topP?, seed? } are required');
  const { maxNewTokens, seed } = opts;
  if (!(Number.isInteger(maxNewTokens) && maxNewTokens >= 0)) throw new RangeError(`generate: maxNewTokens must be an integer >= 0, got ${String(maxNewTokens)}`);
  if (seed !== undefined && !Number.isSafeInteger(seed)) throw new RangeError(`generate: seed must be an integer, got ${String(seed)}`);
  checkSamplingOptions('generate', opts);
}
