// Generation's penalties (src/ops/penalty.ts) over a batch, kept on the GPU: per sequence, how often
// each id occurs among its generated tokens, and whether its prompt holds the id, [R, V] float32
// each, a row per sequence of the step. The rows follow the batch as sequences stop (gathered, as
// the KV cache's rows are kept). A step recorded on the previous step's draws still on the GPU
// counts them there first, so no logits and no counts are read back; a step on ids from the host
// first counts the generated tokens the counts lack (the last one, after a step not recorded
// ahead). A step recorded and then dropped (stale weights: redone) never counted its own draws.
//
// The prompt counts for the repetition penalty whole, also where it is longer than the window
// (blockSize): Hugging Face's generate counts all of input_ids, vLLM all prompt tokens; and every
// generated token counts, also after the window slid past it.
import { countTokens, embedding, penalizeLogits, reshape, tensor, type PenaltyOptions, type Tensor } from '../ops/index.js';
import { keep } from '../tensor/scope.js';

/** A sequence as generation holds it: its tokens (its prompt's, then those it generated) and how many it generated. */
interface Sequence {
  readonly tokens: readonly number[];
  readonly made: number;
}

export class GenerationPenalties {
  /** [R, V]: how often each id occurs among the generated tokens of the sequences `rows`. */
  private counts: Tensor;
  /** [R, V]: 1 where the id occurs in their prompt. */
  private prompt: Tensor;
  private rows: number[];
  /** By sequence: how many of its generated tokens `counts` holds. */
  private readonly counted: number[];

  constructor(
    prompts: readonly ArrayLike<number>[],
    private readonly V: number,
    private readonly opts: PenaltyOptions,
  ) {
    const N = prompts.length;
    const seen = new Float32Array(N * V);
    prompts.forEach((p, i) => Array.prototype.forEach.call(p, (id: number) => (seen[i * V + id] = 1)));
    this.prompt = keep(tensor(seen, [N, V]));
    this.counts = keep(tensor(new Float32Array(N * V), [N, V]));
    this.rows = prompts.map((_, i) => i);
    this.counted = prompts.map(() => 0);
  }

  /**
   * logits [R, 1, V] of a step of the sequences `rows` (of `seqs`), penalized for their tokens:
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
      countTokens(this.counts, tensor(Int32Array.from(ids), [R]));
    }
    if (drawn) {
      countTokens(this.counts, reshape(drawn, [R]));
      for (const r of rows) this.counted[r]!++;
    }
    return reshape(penalizeLogits(reshape(logits, [R, this.V]), this.counts, this.prompt, this.opts), [R, 1, this.V]);
  }

  /** Keeps the rows of the sequences `rows` (those still in the batch, in its order). */
  private follow(rows: readonly number[]): void {
    if (rows.length === this.rows.length && rows.every((r, k) => r === this.rows[k])) return;
    const at = tensor(Int32Array.from(rows, (r) => this.rows.indexOf(r)), [rows.length]);
    const [counts, prompt] = [this.counts, this.prompt].map((t) => keep(embedding(t, at)));
    this.dispose();
    [this.counts, this.prompt, this.rows] = [counts!, prompt!, [...rows]];
  }

  dispose(): void {
    this.counts.dispose();
    this.prompt.dispose();
  }
}
