// Speculative decoding (Leviathan et al. 2023; Chen et al. 2023): a small draft model proposes k
// tokens, one at a time from its own KV cache; the target model reads them all in one forward,
// and the rule of speculative-rule.ts keeps a prefix of them and draws one more token, so each
// round emits 1 to k + 1 tokens, distributed exactly as the target's own sampling (temperature,
// top-k, top-p as sampleLogits). At temperature 0 the tokens are the target's greedy ones. A
// rejected draft's keys and values are dropped by setting each cache's length back.
// Each round reads back the draft's k rows of logits and the target's k + 1 (float32, V each):
// the rule runs in float64 on the host. Learned absolute positions: once the context with k
// drafts would pass either model's block size, k shrinks, and once no draft fits, the rest is
// plain `generate` of the target (its window sliding as generate's does).
import { noGrad } from '../autograd/mode.js';
import { enterEval, leaveEval } from '../nn/eval-mode.js';
import { cachedLength, disposeCache, type KVCache } from '../nn/transformer.js';
import { cast, slice, tensor } from '../ops/index.js';
import { checkOptionKeys, describeValue } from '../tensor/check.js';
import { Generator } from '../tensor/generator.js';
import { keep, scope } from '../tensor/scope.js';
import { checkArgs, generate, LogitsNotFiniteError, type GenerateOptions } from './generate.js';
import { GPT } from './model.js';
import { drawFrom, samplingProbabilities, speculativeRound } from './speculative-rule.js';

/** generate's options, with how many tokens the draft proposes a round and a report of each round. */
export interface SpeculativeOptions extends GenerateOptions {
  /** Draft tokens a round, k (default 4). */
  draftTokens?: number;
  /** Told after each round how many tokens the draft proposed and how many of them the target kept. */
  onRound?: (drafted: number, accepted: number) => void;
}

const OP = 'generateSpeculative';

/**
 * Streams up to `maxNewTokens` token ids continuing `prompt`, drawn from `target` with `draft`
 * proposing (see the header); both must share a vocabulary, and are put in eval mode meanwhile.
 * Seeded: the same seed gives the same tokens.
 */
export async function* generateSpeculative(target: GPT, draft: GPT, prompt: ArrayLike<number>, opts: SpeculativeOptions): AsyncGenerator<number> {
  checkSpeculativeArgs(target, draft, prompt, opts);
  const { draftTokens = 4, onRound, maxNewTokens, stopToken, temperature, topK, topP } = opts;
  const sampling = { temperature, topK, topP };
  const bt = target.config.blockSize;
  const bd = draft.config.blockSize;
  const rng = new Generator(opts.seed ?? 0);
  const tokens = Array.prototype.slice.call(prompt, -bt) as number[]; // what plain generate reads of it
  const useCache = opts.kvCache ?? true;
  const cachesOf = (m: GPT): KVCache[] | null => (useCache ? m.h.items.map(() => ({ qkv: null, capacity: m.config.blockSize })) : null);
  enterEval(target);
  enterEval(draft);
  const [tc, dc] = [cachesOf(target), cachesOf(draft)];
  let made = 0;
  try {
    while (made < maxNewTokens) {
      for (const m of [target, draft]) {
        if (m.training) throw new Error(`${OP}: the ${m === target ? 'target' : 'draft'} model was put in training mode (model.train()) while this generation was paused; it decodes in eval mode: switch after the generation ends, or return() it first`);
      }
      const n = tokens.length;
      // the target reads n + k positions, the draft n + k - 1
      const room = Math.min(bt - n, bd - n + 1);
      if (room < 1) {
        const rest = { maxNewTokens: maxNewTokens - made, temperature, topK, topP, stopToken, kvCache: useCache, seed: rng.nextSeed() };
        yield* generate(target, tokens, rest);
        return;
      }
      const k = Math.min(draftTokens, room, maxNewTokens - made - 1); // a round emits up to k + 1
      const drafted: number[] = [];
      const q: Float64Array[] = [];
      for (let i = 0; i < k; i++) {
        const row = samplingProbabilities(await lastLogits(draft, dc, [...tokens, ...drafted], 1), sampling);
        if (!row) throw new LogitsNotFiniteError(`${OP} (the draft model)`, null, made + i + 1, n + i);
        q.push(row);
        drafted.push(drawFrom(row, rng.nextFloat()));
      }
      const accept = drafted.map(() => rng.nextFloat());
      const u = rng.nextFloat();
      const logits = await lastLogits(target, tc, [...tokens, ...drafted], k + 1);
      const V = target.config.vocabSize;
      const p = Array.from({ length: k + 1 }, (_, i) => {
        const row = samplingProbabilities(logits.subarray(i * V, (i + 1) * V), sampling);
        if (!row) throw new LogitsNotFiniteError(OP, null, made + i + 1, n + i);
        return row;
      });
      const { accepted, next } = speculativeRound(p, q, drafted, accept, u);
      const emitted = [...drafted.slice(0, accepted), next];
      tokens.push(...emitted);
      // the caches keep every token but the last: a rejected draft's positions are dropped
      for (const c of [...(tc ?? []), ...(dc ?? [])]) c.length = Math.min(cachedLength(c), tokens.length - 1);
      onRound?.(k, accepted);
      for (const id of emitted) {
        made++;
        yield id;
        if (id === stopToken) return;
      }
    }
  } finally {
    for (const c of [...(tc ?? []), ...(dc ?? [])]) disposeCache(c);
    leaveEval(draft);
    leaveEval(target);
  }
}

/** The float32 logits of the last `count` positions of `tokens` ([count * V]); the caches (if any) take the positions they lack. */
async function lastLogits(model: GPT, caches: KVCache[] | null, tokens: readonly number[], count: number): Promise<Float32Array> {
  const fed = tokens.slice(caches ? cachedLength(caches[0]) : 0);
  const rows = keep(
    noGrad(() =>
      scope(() => {
        const idx = tensor(Int32Array.from(fed), [1, fed.length]);
        const logits = model.forward(idx, { caches: caches ?? undefined, lastOnly: count === 1 }).logits; // [1, T or 1, V]
        const last = count === 1 ? logits : slice(logits, 1, fed.length - count, fed.length); // [1, count, V]
        return last.dtype === 'float32' ? last : cast(last, 'float32'); // under autocast('float16'), drawn from in float32 as generate does
      }),
    ),
  );
  try {
    return await rows.toArray('float32');
  } finally {
    rows.dispose();
  }
}

/** One-line errors for bad models, prompt or options, before any work is queued. */
function checkSpeculativeArgs(target: GPT, draft: GPT, prompt: ArrayLike<number>, opts: SpeculativeOptions): void {
  if (typeof opts === 'object' && opts !== null) checkOptionKeys(OP, opts, ['maxNewTokens', 'temperature', 'topK', 'topP', 'seed', 'kvCache', 'stopToken', 'draftTokens', 'onRound']);
  const { draftTokens, onRound, ...rest } = opts ?? {};
  checkArgs(target, [prompt], opts ? (rest as GenerateOptions) : opts, OP);
  if (!(draft instanceof GPT)) throw new TypeError(`${OP}: argument 'draft' must be a GPT, got ${describeValue(draft)}`);
  const [vt, vd] = [target.config.vocabSize, draft.config.vocabSize];
  if (vt !== vd) throw new RangeError(`${OP}: the draft model's vocabulary (${vd} tokens) must be the target's (${vt} tokens)`);
  if (draftTokens !== undefined && !(Number.isInteger(draftTokens) && draftTokens >= 1)) throw new RangeError(`${OP}: draftTokens must be an integer >= 1, got ${describeValue(draftTokens)}`);
  if (onRound !== undefined && typeof onRound !== 'function') throw new TypeError(`${OP}: onRound must be a function (drafted, accepted) => void, got ${describeValue(onRound)}`);
}
