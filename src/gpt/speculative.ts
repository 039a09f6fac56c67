// Speculative decoding (Leviathan et al. 2023; Chen et al. 2023): a small draft model proposes k
// tokens, one at a time from its own KV cache; the target model reads them all in one forward,
// and the rule (speculativeSample, on the GPU) keeps a prefix of them and draws one more token, so
// each round emits 1 to k + 1 tokens, distributed as the target's own sampling (temperature,
// top-k, top-p, min-p as sampleLogits; a logit bias is refused). At temperature 0 the tokens are
// the target's greedy ones. A rejected draft's keys and values are dropped by setting each cache's
// length back.
// A round is recorded whole and read back once: the draft draws on the GPU (sampleLogits, each
// draw the input of its next forward), then the target runs, then the rule on both models' rows
// of logits: the round reads back the k draws and [accepted, token], k + 2 int32s. Learned absolute
// positions: once the context with k drafts would pass either model's block size, k shrinks, and
// once no draft fits, the rest is plain `generate` of the target (its window sliding as generate's).
// k is also kept to what the rule binds whole, a round's 2k + 1 rows of logits in one binding.
// Weights changed while a generation is paused, or the compute dtype, empty both caches: the next
// round re-encodes the context, as generate does.
import { noGrad } from '../autograd/mode.js';
import { device } from '../device/device.js';
import { profile } from '../kernels/profile.js';
import { enterEval, leaveEval } from '../nn/eval-mode.js';
import { cachedLength, disposeCache, type KVCache } from '../nn/transformer.js';
import { clamp, concat, hasPenalties, sampleLogits, slice, speculativeSample, tensor, type SamplingOptions, type Tensor } from '../ops/index.js';
import { checkOptionKeys, describeValue } from '../tensor/check.js';
import { Generator } from '../tensor/generator.js';
import { keep, scope } from '../tensor/scope.js';
import { checkArgs, float32Logits, generate, GENERATE_KEYS, LogitsNotFiniteError, sameSources, sourcesOf, uniformBelowOne, type GenerateOptions } from './generate.js';
import { hasLogitBias } from './logit-bias.js';
import { GPT } from './model.js';

/** generate's options, with how many tokens the draft proposes a round and a report of each round. */
export interface SpeculativeOptions extends GenerateOptions {
  /** Draft tokens a round, k (default 4). */
  draftTokens?: number;
  /** Told after each round how many tokens the draft proposed and how many of them the target kept. */
  onRound?: (drafted: number, accepted: number) => void;
}

const OP = 'generateSpeculative';
const DRAFT = `${OP} (the draft model)`;

/**
 * Streams up to `maxNewTokens` token ids continuing `prompt`, drawn from `target` with `draft`
 * proposing (see the header); both must share a vocabulary, and are put in eval mode meanwhile.
 * Seeded: the same seed gives the same tokens.
 */
export async function* generateSpeculative(target: GPT, draft: GPT, prompt: ArrayLike<number>, opts: SpeculativeOptions): AsyncGenerator<number> {
  checkSpeculativeArgs(target, draft, prompt, opts);
  const { draftTokens = 4, onRound, maxNewTokens, stopToken, temperature, topK, topP, minP } = opts;
  const sampling = { temperature, topK, topP, minP };
  const bt = target.config.blockSize;
  const bd = draft.config.blockSize;
  const rng = new Generator(opts.seed ?? 0);
  const tokens = Array.prototype.slice.call(prompt, -bt) as number[]; // what plain generate reads of it
  const useCache = opts.kvCache ?? true;
  const cachesOf = (m: GPT): KVCache[] | null => (useCache ? m.h.items.map(() => ({ qkv: null, capacity: m.config.blockSize })) : null);
  enterEval(target);
  enterEval(draft);
  const [tc, dc] = [cachesOf(target), cachesOf(draft)];
  const sources = () => [...sourcesOf(target, OP), ...sourcesOf(draft, OP)];
  let cachedFrom = sources(); // what the caches' keys and values come from
  let made = 0;
  const bound = Math.floor((Math.floor(profile().bindingLimit / (4 * target.config.vocabSize)) - 1) / 2); // the most drafts whose round fits one binding
  try {
    while (made < maxNewTokens) {
      for (const m of [target, draft]) {
        if (m.training) throw new Error(`${OP}: the ${m === target ? 'target' : 'draft'} model was put in training mode (model.train()) while this generation was paused; it decodes in eval mode: switch after the generation ends, or return() it first`);
      }
      // weights changed while paused (a load, an optimizer step, LoRA) or the compute dtype: the caches are stale, refilled from the tokens
      const now = sources();
      if (useCache && !sameSources(cachedFrom, now)) for (const c of [...tc!, ...dc!]) disposeCache(c);
      cachedFrom = now;
      const n = tokens.length;
      // the target reads n + k positions, the draft n + k - 1
      const room = Math.min(bt - n, bd - n + 1, bound);
      if (room < 1) {
        const rest = { maxNewTokens: maxNewTokens - made, temperature, topK, topP, minP, stopToken, kvCache: useCache, seed: rng.nextSeed() };
        yield* generate(target, tokens, rest);
        return;
      }
      const k = Math.min(draftTokens, room, maxNewTokens - made - 1); // a round emits up to k + 1
      const drafts = Array.from({ length: k }, () => uniformBelowOne(rng));
      const accept = Array.from({ length: k }, () => uniformBelowOne(rng));
      const u = uniformBelowOne(rng);
      const { drafted, accepted, next } = await readRound(target, draft, tc, dc, tokens, drafts, [...accept, u], sampling);
      const notFinite = (model: string, i: number) => new LogitsNotFiniteError(model, null, made + i + 1, n + i);
      if (drafted.includes(-1)) throw notFinite(DRAFT, drafted.indexOf(-1)); // sampleLogits' -1: logits with no distribution
      if (next === -1) throw accepted <= k ? notFinite(OP, accepted) : notFinite(DRAFT, accepted - k - 1); // speculativeSample's [row, -1]
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

/** What a round reads back: the draft's k draws, and the rule's [accepted, next] (speculativeSample). */
interface Round {
  drafted: number[];
  accepted: number;
  next: number;
}

/**
 * Runs a round's forwards and the rule, and reads back its outcome once: the draft draws k tokens
 * on the GPU with the uniform numbers `drafts`, each draw the input of its next forward, then the
 * target reads the context and the k drafts in one forward, then speculativeSample takes both
 * models' rows with the uniform numbers `rule` (k + 1). The caches (if any) take the positions they lack.
 */
async function readRound(target: GPT, draft: GPT, tc: KVCache[] | null, dc: KVCache[] | null, tokens: readonly number[], drafts: readonly number[], rule: readonly number[], sampling: SamplingOptions): Promise<Round> {
  const k = drafts.length;
  const read = noGrad(() =>
    scope(() => {
      const draws: Tensor[] = [];
      const fed: Tensor[] = []; // the draws the forwards read: a -1 (no distribution) as 0, not an id out of range (a fault that fails every read)
      const draftRows: Tensor[] = [];
      for (let i = 0; i < k; i++) {
        const logits = float32Logits(draft.forward(unseen(dc, tokens, fed), { caches: dc ?? undefined, lastOnly: true }).logits); // [1, 1, V]
        draws.push(sampleLogits(logits, tensor([drafts[i]!], [1, 1]), sampling)); // [1, 1]
        fed.push(clamp(draws[i]!, 0));
        draftRows.push(logits);
      }
      const idx = unseen(tc, tokens, fed); // [1, T]
      const T = idx.shape[1]!;
      const V = target.config.vocabSize;
      const targetRows = slice(float32Logits(target.forward(idx, { caches: tc ?? undefined }).logits), 1, T - k - 1, T); // [1, k + 1, V]
      const drafted = k ? concat(draws, 1).reshape([k]) : tensor(new Int32Array(0), [0], 'int32');
      const rows = concat([targetRows, ...draftRows], 1).reshape([2 * k + 1, V]);
      const outcome = speculativeSample(rows, drafted, tensor(rule, [k + 1]), sampling); // [2]
      return keep(concat([drafted, outcome], 0)); // [k + 2]: one readback
    }),
  );
  try {
    device().flush();
    const ids = Array.from(await read.toArray());
    return { drafted: ids.slice(0, k), accepted: ids[k]!, next: ids[k + 1]! };
  } finally {
    read.dispose();
  }
}

/** The positions of `tokens` then the draws `ids` (int32 [1, 1] each) that the caches do not hold (all of them without caches): int32 [1, T]. */
function unseen(caches: KVCache[] | null, tokens: readonly number[], ids: readonly Tensor[]): Tensor {
  const past = caches ? cachedLength(caches[0]) : 0;
  const host = tokens.slice(past);
  const pieces = [...(host.length ? [tensor(Int32Array.from(host), [1, host.length])] : []), ...ids.slice(Math.max(0, past - tokens.length))];
  return pieces.length === 1 ? pieces[0]! : concat(pieces, 1);
}

/** One-line errors for bad models, prompt or options, before any work is queued. */
function checkSpeculativeArgs(target: GPT, draft: GPT, prompt: ArrayLike<number>, opts: SpeculativeOptions): void {
  if (typeof opts === 'object' && opts !== null) checkOptionKeys(OP, opts, [...GENERATE_KEYS, 'draftTokens', 'onRound']);
  const { draftTokens, onRound, ...rest } = opts ?? {};
  checkArgs(target, [prompt], opts ? (rest as GenerateOptions) : opts, OP);
  // the rule would need them on both models' rows, with the drafts counted: not written
  if (hasPenalties(opts)) throw new RangeError(`${OP}: penalties (repetitionPenalty, presencePenalty, frequencyPenalty) are not applied in speculative decoding; give them at their off values (1, 0, 0), or use generate without a draft`);
  if (opts.noRepeatNgramSize) throw new RangeError(`${OP}: noRepeatNgramSize is not applied in speculative decoding; give 0 (off), or use generate without a draft`);
  if (hasLogitBias(opts.logitBias)) throw new RangeError(`${OP}: logitBias is not applied in speculative decoding; leave it out (or {}), or use generate without a draft`);
  if (!(draft instanceof GPT)) throw new TypeError(`${OP}: argument 'draft' must be a GPT, got ${describeValue(draft)}`);
  const [vt, vd] = [target.config.vocabSize, draft.config.vocabSize];
  if (vt !== vd) throw new RangeError(`${OP}: the draft model's vocabulary (${vd} tokens) must be the target's (${vt} tokens)`);
  if (draftTokens !== undefined && !(Number.isInteger(draftTokens) && draftTokens >= 1)) throw new RangeError(`${OP}: draftTokens must be an integer >= 1, got ${describeValue(draftTokens)}`);
  if (onRound !== undefined && typeof onRound !== 'function') throw new TypeError(`${OP}: onRound must be a function (drafted, accepted) => void, got ${describeValue(onRound)}`);
}
