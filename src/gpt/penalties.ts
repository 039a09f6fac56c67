// Generation's penalties (src/ops/penalty.ts) and n-gram bans (src/ops/ngram.ts) over a batch, kept on
// the GPU: per sequence, how often each id occurs among its generated tokens, and whether its prompt
// holds the id, [R, V] float32 each, a row per sequence of the step; for the bans, its tokens
// (token-history.ts). The rows follow the batch as sequences stop (gathered, as the KV cache's rows
// are kept). A step recorded on the previous step's draws still on the GPU counts them there first,
// so no logits and no counts are read back; a step on ids from the host first counts the generated
// tokens the counts lack (the last one, after a step not recorded ahead). A step recorded and then
// dropped (stale weights: redone) never counted its own draws.
//
// The prompt counts for the repetition penalty and the n-grams whole, also where it is longer than the
// window (blockSize): Hugging Face's generate counts all of input_ids, vLLM all prompt tokens; and every
// generated token counts, also after the window slid past it. The n-gram bans come after the
// penalties, as Hugging Face's NoRepeatNGramLogitsProcessor after its RepetitionPenaltyLogitsProcessor
// (a banned logit is -Inf whichever comes first).
import { countTokens, embedding, hasPenalties, penalizeLogits, reshape, tensor, type PenaltyOptions, type Tensor } from '../ops/index.js';
import { describeValue } from '../tensor/check.js';
import { keep } from '../tensor/scope.js';
import { TokenHistory } from './token-history.js';

/** The penalties, and n-gram bans. */
export interface TokenRules extends PenaltyOptions {
  /**
   * No n-gram of this many tokens twice in a sequence, its prompt included (Hugging Face's
   * no_repeat_ngram_size): a token that would complete one already there is never drawn. 0 = off.
   */
  noRepeatNgramSize?: number;
}

/** Throws an error naming `op` unless noRepeatNgramSize is left out or an integer >= 0. */
export function checkNoRepeatNgramSize(op: string, n: unknown): void {
  if (n !== undefined && !(Number.isInteger(n) && (n as number) >= 0)) throw new RangeError(`${op}: noRepeatNgramSize must be an integer >= 0 (the n-gram size; 0 = off), got ${describeValue(n)}`);
}

/** A sequence as generation holds it: its tokens (its prompt's, then those it generated) and how many it generated. */
interface Sequence {
  readonly tokens: readonly number[];
  readonly made: number;
}

export class GenerationPenalties {
  /** [R, V]: how often each id occurs among the generated tokens of the sequences `rows` (with penalties). */
  private counts: Tensor | null = null;
  /** [R, V]: 1 where the id occurs in their prompt (with penalties). */
  private prompt: Tensor | null = null;
  /** Their tokens (with noRepeatNgramSize). */
  private readonly history: TokenHistory | null;
  private rows: number[];
  /** By sequence: how many of its generated tokens `counts` holds. */
  private readonly counted: number[];

  constructor(
    prompts: readonly ArrayLike<number>[],
    private readonly V: number,
    private readonly opts: TokenRules,
  ) {
    const N = prompts.length;
    if (hasPenalties(opts)) {
      const seen = new Float32Array(N * V);
      prompts.forEach((p, i) => Array.prototype.forEach.call(p, (id: number) => (seen[i * V + id] = 1)));
      this.prompt = keep(tensor(seen, [N, V]));
      this.counts = keep(tensor(new Float32Array(N * V), [N, V]));
    }
    this.history = opts.noRepeatNgramSize ? new TokenHistory(prompts) : null;
    this.rows = prompts.map((_, i) => i);
    this.counted = prompts.map(() => 0);
  }

  /**
   * logits [R, 1, V] of a step of the sequences `rows` (of `seqs`), penalized for their tokens, then n-grams banned:
   * those the host has, and `drawn` [R, 1], the previous step's draws on the GPU when the step is
   * recorded on them (each the token its row generates next).
   */
  penalize(logits: Tensor, rows: readonly number[], seqs: readonly Sequence[], drawn?: Tensor): Tensor {
    const R = rows.length;
    this.follow(rows);
    for (;;) {
      const ids = rows.map((r) => {
        const { tokens, made } = seqs[r]!;
        return this.counted[r]! < made ? tokens[tokens.length - made + this.counted[r]!++]! : -1; // -1 counts nothing
      });
      if (ids.every((id) => id < 0)) break;
      this.count(tensor(Int32Array.from(ids), [R])); // every row of a batch has made as many tokens: none is -1 here
    }
    if (drawn) {
      this.count(reshape(drawn, [R]));
      for (const r of rows) this.counted[r]!++;
    }
    const { repetitionPenalty, presencePenalty, frequencyPenalty, noRepeatNgramSize } = this.opts;
    const flat = reshape(logits, [R, this.V]);
    const penalized = this.counts ? penalizeLogits(flat, this.counts, this.prompt!, { repetitionPenalty, presencePenalty, frequencyPenalty }) : flat;
    return reshape(this.history ? this.history.ban(penalized, noRepeatNgramSize!) : penalized, [R, 1, this.V]);
  }

  /** Counts `ids` [R] int32, a token a row, generated next. */
  private count(ids: Tensor): void {
    if (this.counts) countTokens(this.counts, ids);
    this.history?.append(ids);
  }

  /** Keeps the rows of the sequences `rows` (those still in the batch, in its order). */
  private follow(rows: readonly number[]): void {
    if (rows.length === this.rows.length && rows.every((r, k) => r === this.rows[k])) return;
    const kept = rows.map((r) => this.rows.indexOf(r));
    this.history?.keepRows(kept);
    if (this.counts) {
      const at = tensor(Int32Array.from(kept), [rows.length]);
      const [counts, prompt] = [this.counts, this.prompt!].map((t) => keep(embedding(t, at)));
      this.counts.dispose();
      this.prompt!.dispose();
      [this.counts, this.prompt] = [counts!, prompt!];
    }
    this.rows = [...rows];
  }

  dispose(): void {
    this.counts?.dispose();
    this.prompt?.dispose();
    this.history?.dispose();
  }
}
