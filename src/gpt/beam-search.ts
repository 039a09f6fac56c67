// Beam search, as Hugging Face's generate(num_beams=N) without sampling: transformers'
// GenerationMixin._beam_search after its vectorized rewrite (PR #35802, v4.50), which we follow in
// these points (its names in parentheses):
// - each step scores every beam's continuations as its running score plus log_softmax of its
//   logits, float32, and keeps the top 2N over N·V (beams_to_keep, one EOS id); the first step sees
//   the prompt's one beam only (its running_beam_scores start 0, -1e9, ...: the others cannot win);
// - a candidate whose token is the EOS, or any candidate at max_length, finishes, but only if it is
//   among the top N (top_num_beam_mask); its score is sum_logprobs / generated ** lengthPenalty,
//   `generated` the new tokens counting the last one (cur_len + 1 - decoder_prompt_len); the N best
//   finished are kept (_update_finished_beams); the running beams are the N best of the rest;
// - after a step (_check_early_stop_heuristic, _beam_search_has_unfinished_sequences) it stops once
//   N are finished and either earlyStopping is true, or the best running beam's score over
//   L ** lengthPenalty is no better than the worst finished one, L = maxNewTokens for 'never' with
//   a positive lengthPenalty, else the tokens generated so far (false's heuristic); and at maxNewTokens.
// The result is the numReturnSequences best finished, best first, with their scores
// (sequences_scores). On the GPU: the beams are rows of the KV cache, each step reads back 2N
// (score, index) pairs, never the logits, and the cache rows are gathered by the beams kept.
// noRepeatNgramSize bans, as HF's logits processor there, on each beam's log_softmax before its
// running score is added, from the beams' tokens (the prompt's, all of it, then theirs) kept on the
// GPU and gathered by the beams kept, as the cache's rows (token-history.ts). Past
// the block size the windows slide as in `generate`: each beam's last blockSize tokens re-encoded,
// as they are where the weights or the compute dtype changed while a step was read back.
import { noGrad } from '../autograd/mode.js';
import { enterEval, leaveEval } from '../nn/eval-mode.js';
import { disposeCache, keepCacheRows, type KVCache } from '../nn/transformer.js';
import { logSoftmax, tensor, topk, type Tensor } from '../ops/index.js';
import { checkOptionKeys, describeValue } from '../tensor/check.js';
import { keep, scope } from '../tensor/scope.js';
import { checkArgs, float32Logits, isToken, LogitsNotFiniteError, sameSources, sourcesOf } from './generate.js';
import type { GPT } from './model.js';
import { checkNoRepeatNgramSize } from './penalties.js';
import { checkHistoryFits, TokenHistory } from './token-history.js';

/** How beam search runs: Hugging Face's generate() options of the same names (num_beams, length_penalty, early_stopping, num_return_sequences, eos_token_id). */
export interface BeamSearchOptions {
  /**
   * Beams kept at each step (1 or more; 2·numBeams at most the vocabulary). 1 is greedy decoding,
   * but for earlyStopping 'never' with a positive lengthPenalty, which may go on past an EOS (Hugging
   * Face's num_beams=1 runs its greedy search instead).
   */
  numBeams: number;
  /** Tokens to generate at most (1 or more). */
  maxNewTokens: number;
  /** A finished sequence's score is its summed logprobs over (its new tokens) ** lengthPenalty (default 1; > 0 favours longer ones). */
  lengthPenalty?: number;
  /** When to stop (default false): true as soon as numBeams are finished; false when the heuristic says no running beam can do better; 'never' when none can (for lengthPenalty > 0, judged at maxNewTokens). */
  earlyStopping?: boolean | 'never';
  /** How many of the best finished sequences to return (1 to numBeams; default 1). */
  numReturnSequences?: number;
  /** A token id that finishes a beam (it is the last of its tokens). */
  eosTokenId?: number;
  /** No n-gram of this many tokens twice in a beam, the prompt included (Hugging Face's no_repeat_ngram_size; 0 = off). */
  noRepeatNgramSize?: number;
}

/** The most beams a vocabulary of `vocabSize` allows: the first step's 2·numBeams candidates come from the prompt's one beam. */
export const maxBeams = (vocabSize: number): number => Math.floor(vocabSize / 2);

/** A finished beam: its new tokens (the prompt not included; the EOS included where it ended on one) and its length-penalized score. */
export interface BeamHypothesis {
  tokens: number[];
  score: number;
}

/** A running beam: its new tokens and their summed logprobs. */
interface Beam {
  tokens: number[];
  sum: number;
}

/** The numReturnSequences best sequences that beam search finds continuing `prompt`, best first (see the header); the model is put in eval mode meanwhile. */
export async function generateBeams(model: GPT, prompt: ArrayLike<number>, opts: BeamSearchOptions): Promise<BeamHypothesis[]> {
  const op = 'generateBeams';
  checkBeamArgs(model, prompt, opts);
  const { numBeams: N, maxNewTokens, lengthPenalty = 1, earlyStopping = false, numReturnSequences = 1, eosTokenId, noRepeatNgramSize = 0 } = opts;
  const { blockSize, vocabSize: V } = model.config;
  // a context is the last blockSize tokens: a longer prompt's earlier ones are never read
  const promptTail = Array.prototype.slice.call(prompt, -blockSize) as number[];
  const contextOf = (b: Beam) => [...promptTail, ...b.tokens].slice(-blockSize);
  let beams: Beam[] = [{ tokens: [], sum: 0 }]; // the first step runs the prompt's one row
  const finished: BeamHypothesis[] = []; // the N best so far, best first
  let caches: KVCache[] | null = null;
  let cachedFrom: unknown[] = []; // what the cache's keys and values were computed from
  const dropCaches = () => {
    for (const c of caches ?? []) disposeCache(c);
    caches = null;
  };
  const bans = noRepeatNgramSize ? { history: new TokenHistory([prompt]), n: noRepeatNgramSize } : null;
  enterEval(model);
  try {
    for (let generated = 1; ; generated++) {
      // while a step was read back: model.train() would change the tokens (dropout); weights changed (a load,
      // an optimizer step, LoRA adapters) or another compute dtype make the cache stale: the windows are re-encoded
      if (model.training) throw new Error(`${op}: the model was put in training mode (model.train()) during this generation; it decodes in eval mode: switch after it ends`);
      if (caches && !sameSources(cachedFrom, sourcesOf(model, op))) dropCaches();
      const fits = promptTail.length + generated <= blockSize; // the context with this step's token
      let input: number[][];
      if (caches) input = beams.map((b) => b.tokens.slice(-1)); // the cache holds every token but the last
      else {
        input = beams.map(contextOf); // of one length: each beam has made as many tokens
        if (fits) [caches, cachedFrom] = [model.h.items.map(() => ({ qkv: null, capacity: blockSize })), sourcesOf(model, op)];
      }
      const { scores, ids } = await topContinuations(model, input, beams, caches, 2 * N, bans);
      // NaN: the model's logits; the best -Inf: noRepeatNgramSize banned every continuation of every beam (as generate's draw, no token is left)
      if (scores.some(Number.isNaN) || scores[0] === -Infinity) throw new LogitsNotFiniteError(op, null, generated, prompt.length + generated - 1, noRepeatNgramSize);
      const last = generated === maxNewTokens; // every candidate finishes (max_length)
      const running: Beam[] = [];
      const rows: number[] = []; // the beam each running one continues: the cache rows to keep
      for (let k = 0; k < 2 * N; k++) {
        const [from, token, sum] = [Math.floor(ids[k]! / V), ids[k]! % V, scores[k]!];
        const tokens = [...beams[from]!.tokens, token];
        if (last || token === eosTokenId) {
          if (k < N) addFinished(finished, N, { tokens, score: sum / generated ** lengthPenalty });
        } else if (running.length < N) {
          running.push({ tokens, sum });
          rows.push(from);
        }
      }
      if (last || (finished.length === N && earlyStopping === true)) break;
      const bestLength = earlyStopping === 'never' && lengthPenalty > 0 ? maxNewTokens : generated;
      if (finished.length === N && running[0]!.sum / bestLength ** lengthPenalty <= finished.at(-1)!.score) break;
      beams = running;
      // the cache's rows follow the beams kept (the first step's one row becomes N); it goes on while the windows fit
      if (caches && !fits) dropCaches();
      if (caches && !rows.every((r, j) => r === j)) for (const c of caches) keepCacheRows(c, rows, 0);
      if (bans) {
        scope(() => {
          bans.history.keepRows(rows);
          bans.history.append(running.map((b) => b.tokens.at(-1)!));
        });
      }
    }
  } finally {
    bans?.history.dispose();
    dropCaches();
    leaveEval(model);
  }
  return finished.slice(0, numReturnSequences);
}

/** Adds `hypothesis` to `finished` (best first) if it is among the `n` best; the worst goes where there are more. */
function addFinished(finished: BeamHypothesis[], n: number, hypothesis: BeamHypothesis): void {
  const at = finished.findIndex((h) => hypothesis.score > h.score);
  if (at < 0) finished.push(hypothesis);
  else finished.splice(at, 0, hypothesis);
  if (finished.length > n) finished.pop();
}

/**
 * One step on the GPU: the model's logits for `input` (a row per beam), their log_softmax in
 * float32 (with `bans`: n-grams of the beams' tokens banned) plus each beam's summed logprobs, and
 * the top `k` of all rows together: their scores and their indices into [beams, V], read back (2k numbers).
 */
async function topContinuations(
  model: GPT, input: number[][], beams: Beam[], caches: KVCache[] | null, k: number, bans: { history: TokenHistory; n: number } | null,
): Promise<{ scores: Float32Array; ids: Int32Array }> {
  const [values, indices] = noGrad(() =>
    scope(() => {
      const idx = tensor(Int32Array.from(input.flat()), [input.length, input[0]!.length]);
      const logits = model.forward(idx, { caches: caches ?? undefined, lastOnly: true }).logits; // [R, 1, V]
      const raw = float32Logits(logits);
      const logprobs = logSoftmax(raw.reshape([input.length, -1]), -1); // [R, V]
      const lp = (bans ? bans.history.ban(logprobs, bans.n) : logprobs).add(tensor(Float32Array.from(beams, (b) => b.sum), [input.length, 1])); // [R, V]
      return topk(lp.reshape([1, -1]), k).map(keep) as [Tensor, Tensor]; // [1, k] each
    }),
  );
  try {
    const [scores, ids] = await Promise.all([values.toArray('float32'), indices.toArray('int32')]);
    return { scores: scores as Float32Array, ids: ids as Int32Array };
  } finally {
    values.dispose();
    indices.dispose();
  }
}

/** One-line errors for bad arguments, before any work is queued. */
function checkBeamArgs(model: GPT, prompt: ArrayLike<number>, opts: BeamSearchOptions): void {
  const op = 'generateBeams';
  checkArgs(model, [prompt], { maxNewTokens: 1 }, op); // the model and the prompt
  checkOptionKeys(op, opts, ['numBeams', 'maxNewTokens', 'lengthPenalty', 'earlyStopping', 'numReturnSequences', 'eosTokenId', 'noRepeatNgramSize']);
  const { numBeams, maxNewTokens, lengthPenalty, earlyStopping, numReturnSequences, eosTokenId } = opts;
  const V = model.config.vocabSize;
  const half = maxBeams(V);
  if (!(Number.isInteger(numBeams) && numBeams >= 1 && numBeams <= half)) throw new RangeError(`${op}: numBeams must be an integer in [1, ${half}] (2·numBeams candidates from one beam of vocabulary ${V}), got ${describeValue(numBeams)}`);
  if (!(Number.isInteger(maxNewTokens) && maxNewTokens >= 1)) throw new RangeError(`${op}: maxNewTokens must be an integer >= 1, got ${describeValue(maxNewTokens)}`);
  if (lengthPenalty !== undefined && !(typeof lengthPenalty === 'number' && Number.isFinite(lengthPenalty))) throw new RangeError(`${op}: lengthPenalty must be a finite number, got ${describeValue(lengthPenalty)}`);
  if (earlyStopping !== undefined && earlyStopping !== true && earlyStopping !== false && earlyStopping !== 'never') throw new RangeError(`${op}: earlyStopping must be true, false or 'never', got ${describeValue(earlyStopping)}`);
  if (numReturnSequences !== undefined && !(Number.isInteger(numReturnSequences) && numReturnSequences >= 1 && numReturnSequences <= numBeams)) {
    throw new RangeError(`${op}: numReturnSequences must be an integer in [1, numBeams ${numBeams}], got ${describeValue(numReturnSequences)}`);
  }
  checkNoRepeatNgramSize(op, opts.noRepeatNgramSize);
  if (opts.noRepeatNgramSize) checkHistoryFits(op, numBeams, prompt.length, maxNewTokens); // the beams' histories, at their longest
  if (eosTokenId !== undefined && !isToken(eosTokenId, V)) throw new RangeError(`${op}: eosTokenId must be a token id in [0, ${V}), got ${describeValue(eosTokenId)}`);
}
