// Scoring token sequences: the log-probability of each token given the tokens before it, and the
// topN likeliest tokens at each position (`gpt serve --api`'s logprobs). A logprob is log_softmax
// of the model's raw logits in float32 (before temperature, top-k or top-p: vLLM's default); under
// autocast('float16') the logits are float16, cast to float32 first, as sampling casts them. All
// on the GPU, a chunk of positions at a time: only a number per position and topN per position are
// read back, never a [T, V] logits tensor (1024 positions of GPT-2 are 200 MB of them).
// A token is conditioned on at most the blockSize tokens before it, as generation sees it: learned
// absolute positions mean a window cannot shift, so a sequence's first blockSize + 1 tokens are
// scored by one forward from position 0 and each later token j by a window of tokens j - blockSize
// to j - 1 of its own (its last position), as generate re-encodes its sliding window. Windows are
// made as they are batched (a long sequence's are a forward each: never all held at once), those
// of one forward right-padded to the longest: attention is causal, so the padding after a position
// never reaches it. Logits that are not finite (NaN, +Inf) have no log_softmax: an error, not NaN.
import { noGrad } from '../autograd/mode.js';
import { profile } from '../kernels/profile.js';
import { enterEval, leaveEval } from '../nn/eval-mode.js';
import { computeDtype } from '../nn/autocast.js';
import { embedding, logSoftmax, tensor, topk, type Tensor } from '../ops/index.js';
import { describeValue } from '../tensor/check.js';
import { keep, scope } from '../tensor/scope.js';
import { float32Logits, isToken, notFiniteCause } from './generate.js';
import type { GPT } from './model.js';

/** The most tokens one forward takes by default (a window of blockSize at least): bounds the activations. */
const TOKENS_PER_FORWARD = 4096;
/** The most bytes of float32 logits scored at once (a chunk of positions; one binding at most): their logprobs are one more tensor this size. */
const LOGITS_BYTES = 2 ** 28;

/** A sequence's scores; position i is token i + 1's (the first token has none). */
export interface SequenceScores {
  /** [L - 1]: log p(token i + 1 | the blockSize tokens before it at most). */
  logprobs: Float32Array;
  /** [L - 1, topN]: the topN likeliest tokens at position i, likeliest first (ties: the lower id first). */
  topIds: Int32Array;
  /** [L - 1, topN]: their logprobs. */
  topLogprobs: Float32Array;
}

/** A window of sequence `seq`: its tokens `input` from token `start` on (at positions 0, 1, ...), scored at positions `from` onwards against `targets`. */
interface Window {
  seq: number;
  start: number;
  input: number[];
  from: number;
  targets: number[];
}

export interface ScoreOptions {
  /** The most tokens (windows x the longest's length) one forward takes, a window at least, where fewer than TOKENS_PER_FORWARD (or blockSize, where more). */
  tokensPerForward?: number;
  /** Asked before each forward: true stops the scoring, which then resolves to null (a server's client gone). */
  cancelled?: () => boolean;
}

/** Logits that are not finite (a NaN or +Inf, or every one -Inf) where a token is scored: it has no log-probability. */
export class ScoresNotFiniteError extends Error {
  /** The compute dtype it ran in. */
  readonly dtype = computeDtype();

  constructor(
    /** The sequence's index in scoreSequences' list, and the token (from 0) whose logprob it is. */
    readonly sequence: number,
    readonly token: number,
  ) {
    super();
    this.name = 'ScoresNotFiniteError';
    this.message = `scoreSequences: ${this.describe(`sequences[${sequence}]`)}`;
  }

  /** The message without the op, the sequence named `sequence`. */
  describe(sequence: string): string {
    return `the model's logits are not finite before ${sequence}'s token ${this.token} (from 0): a NaN or +Inf, or every one -Inf, so it has no log-probability (${notFiniteCause(this.dtype, 'score')})`;
  }
}

/**
 * The scores of each of `sequences` (token ids, at least one each) with the top `topN` (0 to V) at
 * each position; the model is put in eval mode meanwhile. Null when `cancelled` stopped it; a
 * ScoresNotFiniteError where the logits are not finite.
 */
export function scoreSequences(model: GPT, sequences: readonly ArrayLike<number>[], topN: number, opts?: Omit<ScoreOptions, 'cancelled'>): Promise<SequenceScores[]>;
export function scoreSequences(model: GPT, sequences: readonly ArrayLike<number>[], topN: number, opts: ScoreOptions): Promise<SequenceScores[] | null>;
export async function scoreSequences(model: GPT, sequences: readonly ArrayLike<number>[], topN: number, opts: ScoreOptions = {}): Promise<SequenceScores[] | null> {
  const { blockSize, vocabSize: V } = model.config;
  if (!Number.isInteger(topN) || topN < 0 || topN > V) throw new RangeError(`scoreSequences: topN must be an integer in [0, ${V}], got ${topN}`);
  const { tokensPerForward = Infinity, cancelled = () => false } = opts;
  if (!(tokensPerForward >= 1)) throw new RangeError(`scoreSequences: tokensPerForward must be a number >= 1, got ${tokensPerForward}`);
  const bad = sequences.findIndex((s) => !s.length);
  if (bad >= 0) throw new RangeError(`scoreSequences: sequences[${bad}] is empty: a sequence holds one token at least`);
  for (const [k, s] of sequences.entries()) {
    const notToken = Array.prototype.findIndex.call(s, (id: unknown) => !isToken(id, V));
    if (notToken >= 0) throw new RangeError(`scoreSequences: sequences[${k}][${notToken}] = ${describeValue(s[notToken])} is not a token id in [0, ${V})`);
  }
  const out = sequences.map((s) => ({ logprobs: new Float32Array(s.length - 1), topIds: new Int32Array((s.length - 1) * topN), topLogprobs: new Float32Array((s.length - 1) * topN) }));
  const windows = (function* () {
    for (const [seq, s] of sequences.entries()) yield* windowsOf(Array.from(s), seq, blockSize);
  })();
  enterEval(model);
  try {
    for (const group of groups(windows, Math.min(tokensPerForward, Math.max(blockSize, TOKENS_PER_FORWARD)))) {
      if (cancelled()) return null;
      const scored = await scoreGroup(model, group, topN);
      let row = 0;
      for (const w of group) {
        const [at, first] = [w.targets.length, w.start + w.from];
        const o = out[w.seq]!;
        o.logprobs.set(scored.logprobs.subarray(row, row + at), first);
        o.topIds.set(scored.topIds.subarray(row * topN, (row + at) * topN), first * topN);
        o.topLogprobs.set(scored.topLogprobs.subarray(row * topN, (row + at) * topN), first * topN);
        // a NaN logit (or +Inf, or all -Inf) makes its row's log_softmax NaN, the target's included
        const nan = scored.logprobs.subarray(row, row + at).findIndex(Number.isNaN);
        if (nan >= 0) throw new ScoresNotFiniteError(w.seq, first + nan + 1);
        row += at;
      }
    }
  } finally {
    leaveEval(model);
  }
  return out;
}

/** A sequence's windows: its first blockSize tokens in one forward, then each later token by the blockSize tokens before it. */
function* windowsOf(tokens: number[], seq: number, blockSize: number): Generator<Window> {
  const first = Math.min(tokens.length - 1, blockSize);
  if (first >= 1) yield { seq, start: 0, input: tokens.slice(0, first), from: 0, targets: tokens.slice(1, first + 1) };
  for (let j = blockSize + 1; j < tokens.length; j++) yield { seq, start: j - blockSize, input: tokens.slice(j - blockSize, j), from: blockSize - 1, targets: [tokens[j]!] };
}

/** Windows in order, grouped so that each group, padded to its longest, holds at most `tokens` tokens (one window at least). */
function* groups(windows: Iterable<Window>, tokens: number): Generator<Window[]> {
  let group: Window[] = [];
  let width = 0;
  for (const w of windows) {
    const wider = Math.max(width, w.input.length);
    if (group.length && wider * (group.length + 1) > tokens) {
      yield group;
      [group, width] = [[w], w.input.length];
    } else {
      group.push(w);
      width = wider;
    }
  }
  if (group.length) yield group;
}

/** One forward over `group`'s windows (right-padded), then its scored positions, in order, a chunk at a time. */
async function scoreGroup(model: GPT, group: Window[], topN: number): Promise<SequenceScores> {
  const width = Math.max(...group.map((w) => w.input.length));
  const rows = group.flatMap((w, b) => Array.from({ length: w.input.length - w.from }, (_, t) => b * width + w.from + t));
  const targets = group.flatMap((w) => w.targets);
  const { nEmbd: C, vocabSize: V } = model.config;
  const hidden = keep(
    noGrad(() =>
      scope(() => {
        const idx = tensor(Int32Array.from(group.flatMap((w) => [...w.input, ...new Array<number>(width - w.input.length).fill(0)])), [group.length, width]);
        return embedding(model.hidden(idx).reshape([group.length * width, C]), tensor(Int32Array.from(rows), [rows.length])); // [R, C]: the scored positions' rows
      }),
    ),
  );
  const out = { logprobs: new Float32Array(rows.length), topIds: new Int32Array(rows.length * topN), topLogprobs: new Float32Array(rows.length * topN) };
  try {
    const chunk = Math.max(1, Math.floor(Math.min(LOGITS_BYTES, profile().bindingLimit) / (4 * V)));
    for (let r0 = 0; r0 < rows.length; r0 += chunk) {
      const r1 = Math.min(rows.length, r0 + chunk);
      const [lp, vals, ids] = noGrad(() => scope(() => scoreRows(model, hidden.slice(0, r0, r1), targets.slice(r0, r1), topN)));
      try {
        out.logprobs.set(await lp.toArray('float32'), r0);
        if (vals && ids) {
          out.topLogprobs.set(await vals.toArray('float32'), r0 * topN);
          out.topIds.set(await ids.toArray('int32'), r0 * topN);
        }
      } finally {
        for (const t of [lp, vals, ids]) t?.dispose();
      }
    }
  } finally {
    hidden.dispose();
  }
  return out;
}

/** For hidden rows x [R, C]: the targets' logprobs [R, 1], and the top `topN` logprobs [R, topN] with their ids (none for topN 0). */
function scoreRows(model: GPT, x: Tensor, targets: number[], topN: number): [Tensor, Tensor?, Tensor?] {
  const V = model.config.vocabSize;
  const R = targets.length;
  const logits = model.logitsOf(x); // [R, V]
  const lp = logSoftmax(float32Logits(logits), -1); // [R, V]
  // the target's logprob: row r's element targets[r], gathered from lp as a table of [R * V] rows of one
  const picked = embedding(lp.reshape([R * V, 1]), tensor(Int32Array.from(targets, (t, r) => r * V + t), [R])); // [R, 1]
  if (topN === 0) return [picked];
  return [picked, ...topk(lp, topN)]; // [R, topN] each: likeliest first, the lower id of a tie first
}
