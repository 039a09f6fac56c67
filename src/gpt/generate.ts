// Autoregressive generation, streamed as an async iterator: one prompt (`generate`, token ids) or a
// batch of prompts of different lengths (`generateBatch`, one array per step). A batch runs one
// forward per step for all its unfinished sequences: the prompts, left-padded to the longest, in
// one forward (prefill), then one token per sequence per step. With the KV cache each step runs
// the model on the new positions only; the cache holds a row per sequence, its padding never
// attended to (GPT.forward's `starts`), and a sequence that stops leaves the batch (its row is
// dropped, and padding that no row needs any more with it); after the first token, each step is
// recorded before the previous one's tokens are read back, on its draws still on the GPU (a
// sequence that stopped in between leaves it). Learned absolute positions mean a full
// window cannot be shifted, so once a sequence's context reaches blockSize the window slides like
// nanoGPT's: the last blockSize tokens, re-encoded from scratch each step (the whole batch's, then).
// Weights changed while a generation is paused (a load, an optimizer step, LoRA adapters added or
// merged), or the compute dtype (its next step taken in another autocast region), make the cache's
// keys and values stale: the windows are re-encoded, a step recorded ahead on the old ones redone
// with its uniform numbers, so the tokens are those of generation without the cache. Penalties,
// where asked, go on the last position's logits from token counts kept on the GPU (penalties.ts),
// after a logit bias, where asked (logit-bias.ts: vLLM's order); then n-gram bans, from the tokens
// kept on the GPU (token-history.ts), before temperature and the filters (Hugging Face's order).
// generateBatch's `logprobs` has each step also take, from its raw logits (before bias and penalties), the
// drawn tokens' log-probabilities and the top N's, read back with the ids (never the logits).
import { noGrad } from '../autograd/mode.js';
import { computeDtype } from '../nn/autocast.js';
import { enterEval, leaveEval } from '../nn/eval-mode.js';
import { disposeCache, keepCacheRows, type KVCache } from '../nn/transformer.js';
import { device } from '../device/device.js';
import { add, arange, cast, checkPenaltyOptions, checkSamplingOptions, eq, hasPenalties, logSoftmax, sampleLogits, SAMPLING_KEYS, sum, tensor, topk, where, type SamplingOptions, type Tensor } from '../ops/index.js';
import { checkOptionKeys, describeValue } from '../tensor/check.js';
import { Generator } from '../tensor/generator.js';
import { keep, scope } from '../tensor/scope.js';
import { hasLogitBias, logitBiasProblem, logitBiasRow, type LogitBias } from './logit-bias.js';
import { GPT } from './model.js';
import { checkNoRepeatNgramSize, GenerationPenalties, type TokenRules } from './penalties.js';
import { checkHistoryFits } from './token-history.js';

/** The largest float32 below 1. */
const BELOW_ONE = 1 - 2 ** -24;

/**
 * The next uniform number of `rng` as the GPU draws with it: in float32, where u within 2^-25 of 1
 * would round to 1 (BELOW_ONE), past every candidate's share (the draw would take the least likely).
 */
/** Logits as generation draws and scores from them: float32 (under autocast('float16') they are float16; HF's generate casts them too). */
export const float32Logits = (logits: Tensor): Tensor => (logits.dtype === 'float32' ? logits : cast(logits, 'float32'));

export const uniformBelowOne = (rng: Generator): number => Math.min(rng.nextFloat(), BELOW_ONE);

/** The options every generation takes: the tokens, sampling, logit bias, penalties and n-gram bans, seed, KV cache, stop token. */
export const GENERATE_KEYS = ['maxNewTokens', ...SAMPLING_KEYS, 'logitBias', 'repetitionPenalty', 'presencePenalty', 'frequencyPenalty', 'noRepeatNgramSize', 'seed', 'kvCache', 'stopToken'];

/**
 * How many tokens to generate and how: sampling settings, a logit bias, penalties and n-gram bans (on
 * the model's logits, in that order, before temperature, top-k, top-p and min-p, as vLLM and Hugging
 * Face apply them; greedy decoding sees them too; see PenaltyOptions and src/gpt/penalties.ts for
 * which tokens count), seed, KV cache, stop token.
 */
export interface GenerateOptions extends SamplingOptions, TokenRules {
  /** Token id -> bias in [-100, 100] added to its logit (OpenAI's logit_bias; at most 300 entries; src/gpt/logit-bias.ts). */
  logitBias?: LogitBias;
  /** Tokens to generate at most (per sequence). */
  maxNewTokens: number;
  seed?: number;
  /** Reuse keys/values of earlier positions (default true). */
  kvCache?: boolean;
  /** A token id that ends a sequence: it is yielded, then that sequence stops. */
  stopToken?: number;
}

/** Told each token sequence `sequence` draws, in order: true ends that sequence after it, as stopToken does (a stop string the caller found in its text). */
export type StopAfter = (sequence: number, id: number) => boolean;

/** A drawn token's log-probability and the `topN` likeliest tokens' (ids and logprobs, likeliest first, ties: the lower id first) at its position. */
export interface DrawnLogprobs {
  logprob: number;
  topIds: Int32Array;
  topLogprobs: Float32Array;
}

/**
 * Asks each step for its drawn tokens' logprobs, from the step's logits they were drawn at: log_softmax
 * of the model's raw logits in float32 (before penalties, temperature, top-k or top-p: vLLM's default, and
 * scoreSequences'), the top `topN` (0 to V) with them. Computed on the GPU and read back with the ids
 * (1 + 2 topN numbers a row); `take` is told each token, in order, before stopAfter.
 */
export interface LogprobsRequest {
  topN: number;
  take: (sequence: number, id: number, logprobs: DrawnLogprobs) => void;
}

/** generateBatch's options: GenerateOptions, with a seed per sequence. */
export interface BatchGenerateOptions extends Omit<GenerateOptions, 'seed'> {
  /** Sequence i draws from its own generator, seeded seed + i (default 0), or seed[i] when an array. */
  seed?: number | readonly number[];
  stopAfter?: StopAfter;
  logprobs?: LogprobsRequest;
}

/** Streams up to `maxNewTokens` token ids continuing `prompt` (at least one id: an array, or a typed array as encodePrompt gives); the model is put in eval mode meanwhile. */
export async function* generate(model: GPT, prompt: ArrayLike<number>, opts: GenerateOptions): AsyncGenerator<number> {
  checkArgs(model, [prompt], opts, 'generate');
  for await (const [id] of decode(model, [prompt], opts, 'generate')) yield id!;
}

/**
 * Streams a batch: each step yields, for every prompt in order, the token its sequence drew, or
 * null where the sequence had already stopped (maxNewTokens reached, or stopToken drawn); it ends
 * when all have stopped. Sequence i draws with its own seeded generator, so its tokens do not
 * depend on the other prompts: they are those of `generate` on prompt i alone with seed + i, up to
 * float rounding of the logits (a batch's matmuls may sum in another order).
 */
export async function* generateBatch(
  model: GPT,
  prompts: readonly ArrayLike<number>[],
  opts: BatchGenerateOptions,
): AsyncGenerator<(number | null)[]> {
  if (!Array.isArray(prompts) || !prompts.length) throw new TypeError('generateBatch: prompts must be a non-empty array of prompts (arrays of token ids)');
  checkArgs(model, prompts, opts, 'generateBatch');
  yield* decode(model, prompts, opts, 'generateBatch');
}

/** A sequence of the batch: its tokens so far (prompt first), how many it made, its generator. */
interface Sequence {
  tokens: number[];
  made: number;
  done: boolean;
  rng: Generator;
}

async function* decode(model: GPT, prompts: readonly ArrayLike<number>[], opts: BatchGenerateOptions, op: string): AsyncGenerator<(number | null)[]> {
  const { blockSize } = model.config;
  const single = op === 'generate';
  const { maxNewTokens, stopToken, stopAfter, temperature, topK, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty, noRepeatNgramSize, logprobs, logitBias } = opts;
  const sampling = { temperature, topK, topP, minP };
  const bias = hasLogitBias(logitBias) ? keep(scope(() => logitBiasRow(logitBias, model.config.vocabSize))) : null; // [1, V], uploaded once
  const rules: TokenRules = { repetitionPenalty, presencePenalty, frequencyPenalty, noRepeatNgramSize };
  const penalties = hasPenalties(opts) || noRepeatNgramSize ? new GenerationPenalties(prompts, model.config.vocabSize, rules) : null;
  const columns = logprobs ? keep(scope(() => arange(model.config.vocabSize).reshape([1, -1]))) : null; // with logprobs: the column ids 0..V-1, uploaded once
  const seed = opts.seed ?? 0;
  const rngOf = (i: number) => (typeof seed === 'number' ? new Generator(seed, i) : new Generator(seed[i]!));
  // a context is the last blockSize tokens: a longer prompt's earlier tokens are never read (64 samples
  // of a 5M-token prompt held 2.5 GB of them)
  const seqs: Sequence[] = prompts.map((p, i) => ({ tokens: Array.prototype.slice.call(p, -blockSize) as number[], made: 0, done: maxNewTokens === 0, rng: rngOf(i) }));
  const useCache = opts.kvCache ?? true;
  let cachedFrom: unknown[] = []; // what the cache's keys and values were computed from
  enterEval(model);
  // the cache's rows: which sequence each is, and the slot its tokens start at (left padding before)
  let caches: KVCache[] | null = null;
  let rows: number[] = [];
  let starts: number[] = [];
  const dropCaches = () => {
    for (const c of caches ?? []) disposeCache(c);
    caches = null;
  };
  /** Records one step of `rows` on `input` (their token ids, or the last step's draws on the GPU) and starts reading its draws back; `us`: its uniform numbers, if drawn already. */
  const record = (input: number[][] | Tensor, us = rows.map((r) => uniformBelowOne(seqs[r]!.rng))): Step => {
    // eval mode was set at the start: training mode now means model.train() while paused (dropout would change the tokens)
    if (model.training) throw new Error(`${op}: the model was put in training mode (model.train()) while this generation was paused; it decodes in eval mode: switch after the generation ends, or return() it first`);
    const padded = starts.some((s) => s > 0);
    // each sequence's seeded stream decides (us, uniformBelowOne's)
    let scored: Tensor[] = [];
    const ids = keep(
      noGrad(() =>
        scope(() => {
          const idx = Array.isArray(input) ? tensor(Int32Array.from(input.flat()), [input.length, input[0]!.length]) : input;
          const logits = model.forward(idx, { caches: caches ?? undefined, lastOnly: true, starts: padded ? starts : undefined }).logits; // [R, 1, V]
          const raw = float32Logits(logits);
          const biased = bias ? add(raw, bias) : raw; // [R, 1, V]
          const drawFrom = penalties ? penalties.penalize(biased, rows, seqs, Array.isArray(input) ? undefined : input) : biased; // [R, 1, V]
          const drawnIds = sampleLogits(drawFrom, tensor(us, [us.length, 1]), sampling); // [R, 1]: one id a row is read back, not the logits
          if (logprobs) scored = drawnLogprobs(raw, drawnIds, columns!, logprobs.topN).map(keep); // the raw logits': before bias and penalties
          return drawnIds;
        }),
      ),
    );
    const drawn = ids.toArray();
    const scores = logprobs ? readLogprobs(scored, logprobs.topN) : null;
    device().flush(); // submitted now: its read resolves when this step is done, not a step recorded after it
    return { rows: [...rows], at: rows.map((_, k) => k), ids, drawn, scores, prefill: false, us };
  };
  let current: Step | null = null;
  try {
    while (seqs.some((s) => !s.done)) {
      let redo: Map<number, number> | undefined; // a sequence's uniform number for a step recorded on stale keys and values
      if (caches && !sameSources(cachedFrom, sourcesOf(model, op))) {
        dropCaches();
        if (current) {
          const stale: Step = current;
          redo = new Map(stale.rows.map((r, k) => [r, stale.us[stale.at[k]!]!]));
          current = abandon(stale);
        }
      }
      if (!current) {
        let input: number[][];
        const cached = caches !== null;
        if (caches) {
          input = rows.map((r) => seqs[r]!.tokens.slice(-1)); // the cache holds every token but the last
        } else {
          // (re-)encode every unfinished sequence's window, left-padded to the longest
          rows = seqs.flatMap((s, i) => (s.done ? [] : [i]));
          const windows = rows.map((r) => seqs[r]!.tokens.slice(-blockSize));
          const width = Math.max(...windows.map((w) => w.length));
          starts = windows.map((w) => width - w.length);
          input = windows.map((w) => [...new Array<number>(width - w.length).fill(0), ...w]);
          if (useCache && rows.every((r) => seqs[r]!.tokens.length <= blockSize)) {
            caches = model.h.items.map(() => ({ qkv: null, capacity: blockSize }));
            cachedFrom = sourcesOf(model, op);
          }
        }
        current = { ...record(input, redo && rows.map((r) => redo.get(r)!)), prefill: !cached };
      }
      // The next step is recorded before this one's draws come back (the GPU runs it while they do
      // and while the host takes them) where its input is exactly those draws: the same rows, none
      // of them at maxNewTokens now, and the cache going on. A row that draws stopToken leaves it.
      // Not after a prefill: the first token comes as soon as it can (on a CPU adapter, recording
      // a step ahead takes the cores the prefill runs on).
      const ahead: Step | null =
        caches && !current.prefill && current.ids.shape[0] === rows.length && rows.every((r) => seqs[r]!.made + 1 < maxNewTokens && seqs[r]!.tokens.length < blockSize)
          ? record(current.ids)
          : null;
      let drawn: ArrayLike<number>;
      let scores: ((k: number) => DrawnLogprobs) | null;
      try {
        drawn = await current.drawn;
        scores = await current.scores;
      } catch (e) {
        if (ahead) abandon(ahead); // recorded, not yet current: finally would miss it (its readback rejects too, unheard)
        throw e;
      }
      const undrawn = current.at.findIndex((k) => drawn[k]! < 0); // sampleLogits' -1: logits with no distribution
      if (undrawn >= 0) {
        // the step ahead ran on the -1 (its embedding clamps it and raises a fault): its readback
        // takes the fault before this generation ends, where it would fail the next read
        if (ahead) {
          await ahead.drawn.catch(() => undefined);
          abandon(ahead);
        }
        const r = current.rows[undrawn]!;
        throw new LogitsNotFiniteError(op, single ? null : r, seqs[r]!.made + 1, prompts[r]!.length + seqs[r]!.made, noRepeatNgramSize);
      }
      current.ids.dispose();
      const step: (number | null)[] = seqs.map(() => null);
      const taken = current;
      current = ahead; // before stopAfter is told: one that throws leaves the step ahead to finally, which frees it
      taken.rows.forEach((r, k) => {
        const s = seqs[r]!;
        const next = drawn[taken.at[k]!]!;
        s.tokens.push(next);
        s.made++;
        if (scores) logprobs!.take(r, next, scores(taken.at[k]!));
        const stopped = stopAfter?.(r, next) === true; // told every token, the last one too
        s.done = stopped || s.made === maxNewTokens || next === stopToken;
        step[r] = next;
      });
      // a cache goes on only while every row's context, with the token just drawn, fits the window
      if (caches && rows.some((r) => seqs[r]!.tokens.length > blockSize)) dropCaches();
      if (caches && rows.some((r) => seqs[r]!.done)) {
        const kept = rows.flatMap((r, k) => (seqs[r]!.done ? [] : [k]));
        if (!kept.length) dropCaches();
        else {
          const from = Math.min(...kept.map((k) => starts[k]!)); // padding every remaining row has
          for (const c of caches!) keepCacheRows(c, kept, from);
          [rows, starts] = [kept.map((k) => rows[k]!), kept.map((k) => starts[k]! - from)];
        }
        // the step ahead ran every row: keep the draws of those left (its ids no longer fit them as an input)
        if (ahead) [ahead.rows, ahead.at] = [kept.map((k) => ahead.rows[k]!), kept.map((k) => ahead.at[k]!)];
      }
      if (current && !current.rows.length) current = abandon(current);
      yield step;
    }
  } finally {
    if (current) abandon(current);
    columns?.dispose();
    bias?.dispose();
    dropCaches();
    penalties?.dispose();
    leaveEval(model);
  }
}

/** A decoding step on the GPU: the sequences it draws for (`at[k]`: row k's place in its draws), its drawn ids, their readback, its kind. */
interface Step {
  rows: number[];
  at: number[];
  ids: Tensor;
  drawn: Promise<ArrayLike<number>>;
  /** With logprobs asked for: row k's (by its place in the draws). */
  scores: Promise<(k: number) => DrawnLogprobs> | null;
  /** Whether it (re-)encoded whole windows (a prefill), rather than one position a row from the cache. */
  prefill: boolean;
  /** The uniform number of each of its draws. */
  us: number[];
}

/**
 * What keys and values computed now come from: the compute dtype, and each of the model's tensors
 * now (LoRA adapters added or merged change which), its storage and its count of in-place writes
 * (a load swaps the one, an optimizer step bumps the other).
 */
export const sourcesOf = (model: GPT, op: string): unknown[] => {
  const tensors = [...model.parameters(), ...[...model.namedBuffers()].map(([, b]) => b)]; // buffers: int8 scales, pruning masks
  return [computeDtype(), ...tensors.flatMap((w) => [w.storage(op), w.storage(op).version])];
};
export const sameSources = (a: readonly unknown[], b: readonly unknown[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** For float32 logits [R, 1, V], the ids drawn from them [R, 1] and the column ids 0..V-1 [1, V]: each drawn id's log_softmax [R, 1], and the top `topN`'s [R, topN] with their ids. */
function drawnLogprobs(logits: Tensor, ids: Tensor, columns: Tensor, topN: number): Tensor[] {
  const lp = logSoftmax(logits.reshape([ids.shape[0]!, -1]), -1); // [R, V]
  // the drawn id's column, picked by a mask (the ids are on the GPU): every other term is an exact 0
  const picked = sum(where(eq(columns, ids), lp, 0), -1, true); // [R, 1]
  return [picked, ...(topN ? topk(lp, topN) : [])];
}

/** Reads back drawnLogprobs' tensors (freed once read): row k's scores by k. */
async function readLogprobs([picked, values, indices]: Tensor[], topN: number): Promise<(k: number) => DrawnLogprobs> {
  try {
    const [lp, topLp = new Float32Array(0), topIds = new Int32Array(0)] = await Promise.all([picked!.toArray('float32'), values?.toArray('float32'), indices?.toArray('int32')]);
    return (k) => ({ logprob: lp[k]!, topIds: topIds.slice(k * topN, (k + 1) * topN), topLogprobs: topLp.slice(k * topN, (k + 1) * topN) });
  } finally {
    for (const t of [picked, values, indices]) t?.dispose();
  }
}

/** Frees a step whose draws nobody will take (its readback may still be running). */
function abandon(step: Step): null {
  step.drawn.catch(() => undefined);
  step.scores?.catch(() => undefined);
  step.ids.dispose();
  return null;
}

/** Generation reached logits with no distribution to draw from: a NaN or +Inf, or every one -Inf. */
export class LogitsNotFiniteError extends Error {
  /** The compute dtype it ran in. */
  readonly dtype = computeDtype();

  constructor(
    readonly op: string,
    /** The sequence's index in the batch; null for generate's one. */
    readonly sequence: number | null,
    /** Which of its generated tokens (from 1) was to be drawn, and its position in the sequence (from 0, the prompt's first token). */
    readonly token: number,
    readonly position: number,
    /** The noRepeatNgramSize it generated with (0 or absent: none), whose bans may have left no token. */
    readonly ngramSize = 0,
  ) {
    super();
    this.name = 'LogitsNotFiniteError';
    this.message = `${op}: ${this.describe(sequence === null ? null : `sequence ${sequence}`)}`;
  }

  /** The message without the op, the sequence named as `sequence` says (null: none). */
  describe(sequence: string | null): string {
    const banned = this.ngramSize ? `noRepeatNgramSize ${this.ngramSize} banned every token left (-Inf), or ` : '';
    return `the model's logits are not finite at ${sequence === null ? '' : `${sequence}, `}generated token ${this.token} (position ${this.position}): a NaN or +Inf, or every one -Inf, so there is no distribution to draw from (${banned}${notFiniteCause(this.dtype, 'generate')}); no token was drawn there`;
  }
}

/** Why a forward run in `dtype` gives logits that are not finite; under float16, to `redo` ('generate', 'score') in float32. */
export const notFiniteCause = (dtype: string, redo: string): string =>
  `its weights hold NaN or overflow ${dtype} in the forward${dtype === 'float16' ? `; float16 overflows past 65504: ${redo} in float32` : ''}`;

/** One-line errors for bad prompts or options, before any work is queued; `op` names the caller. */
export function checkArgs(model: GPT, prompts: readonly ArrayLike<number>[], opts: BatchGenerateOptions | undefined, op: string): void {
  if (!(model instanceof GPT)) throw new TypeError(`${op}: argument 'model' must be a GPT, got ${describeValue(model)}`);
  const { vocabSize } = model.config;
  const single = op !== 'generateBatch';
  // by index, not forEach: a hole in the array is refused as the undefined it reads as, not skipped
  for (let i = 0; i < prompts.length; i++) {
    const prompt = prompts[i]!;
    const name = single ? 'prompt' : `prompts[${i}]`;
    if (!(Array.isArray(prompt) || isTypedArray(prompt)) || !prompt.length) throw new TypeError(`${op}: ${single ? 'the prompt' : name} must be a non-empty array (or typed array) of token ids, got ${describeValue(prompt)}`);
    const bad = Array.prototype.findIndex.call(prompt, (id: unknown) => !isToken(id, vocabSize));
    if (bad >= 0) throw new RangeError(`${op}: ${name}[${bad}] = ${describeValue(prompt[bad])} is not a token id in [0, ${vocabSize})`);
  }
  if (typeof opts !== 'object' || opts === null) throw new TypeError(`${op}: options { maxNewTokens, temperature?, topK?, topP?, minP?, seed?, stopToken? } are required`);
  checkOptionKeys(op, opts, [...GENERATE_KEYS, ...(single ? [] : ['stopAfter', 'logprobs'])]);
  const { maxNewTokens, seed, stopToken, stopAfter, kvCache, logprobs } = opts;
  if (!(Number.isInteger(maxNewTokens) && maxNewTokens >= 0)) throw new RangeError(`${op}: maxNewTokens must be an integer >= 0, got ${describeValue(maxNewTokens)}`);
  if (kvCache !== undefined && typeof kvCache !== 'boolean') throw new TypeError(`${op}: kvCache must be true or false, got ${describeValue(kvCache)}`); // 'false' would turn it on
  const seeds = Array.isArray(seed) ? seed : [seed ?? 0];
  if (Array.isArray(seed) && seed.length !== prompts.length) throw new RangeError(`${op}: seed must be one number, or one per prompt (${prompts.length}), got ${seed.length}`);
  const badSeed = seeds.findIndex((s) => !Number.isSafeInteger(s)); // by index: an undefined seed (or a hole) is bad too, where find() returned it as 'none'
  if (badSeed >= 0) throw new RangeError(`${op}: seed must be an integer, got ${describeValue(seeds[badSeed])}`);
  if (stopAfter !== undefined && typeof stopAfter !== 'function') throw new TypeError(`${op}: stopAfter must be a function (sequence, id) => boolean, got ${describeValue(stopAfter)}`);
  if (logprobs !== undefined && !(Number.isInteger(logprobs?.topN) && logprobs.topN >= 0 && logprobs.topN <= vocabSize && typeof logprobs.take === 'function')) {
    throw new TypeError(`${op}: logprobs must be { topN: an integer in [0, ${vocabSize}], take: (sequence, id, logprobs) => void }, got { topN: ${describeValue(logprobs?.topN)}, take: ${typeof logprobs?.take} }`);
  }
  if (stopToken !== undefined && !isToken(stopToken, vocabSize)) throw new RangeError(`${op}: stopToken must be a token id in [0, ${vocabSize}), got ${describeValue(stopToken)}`);
  checkSamplingOptions(op, opts);
  const biasProblem = opts.logitBias === undefined ? null : logitBiasProblem(opts.logitBias, vocabSize, 'logitBias');
  if (biasProblem) throw new RangeError(`${op}: ${biasProblem}`);
  checkPenaltyOptions(op, opts);
  checkNoRepeatNgramSize(op, opts.noRepeatNgramSize);
  if (opts.noRepeatNgramSize && maxNewTokens > 0) checkHistoryFits(op, prompts.length, Math.max(...prompts.map((p) => p.length)), maxNewTokens);
}

const isTypedArray = (x: unknown): x is ArrayLike<number> => ArrayBuffer.isView(x) && !(x instanceof DataView);
/** Whether `id` is a token id of a vocabulary of `vocabSize`. */
export const isToken = (id: unknown, vocabSize: number): id is number => Number.isInteger(id) && (id as number) >= 0 && (id as number) < vocabSize;
