// The token histories of a batch's rows on the GPU, [R, T] int32, for banRepeatedNgrams (Hugging
// Face's no_repeat_ngram_size, over input_ids: the prompt, all of it, then the tokens generated): each
// row's tokens right-aligned, -1 before them where its prompt is shorter than the longest. Tokens are
// appended a column at a time (each row of a batch generates one a step), from ids on the GPU or
// the host, and the rows follow the batch (rows dropped as sequences stop, beams reordered), as the
// KV cache's rows do; nothing is read back.
import { profile } from '../kernels/profile.js';
import { banRepeatedNgrams, concat, reshape, slice, tensor, type Tensor } from '../ops/index.js';
import { keep } from '../tensor/scope.js';

/**
 * Throws an error naming `op` unless the histories of `rows` sequences, the longest prompt
 * `promptLength` tokens, fit one binding until their last token is drawn (maxNewTokens - 1 appended):
 * the ban binds them whole, and would fail only partway through the generation.
 */
export function checkHistoryFits(op: string, rows: number, promptLength: number, maxNewTokens: number): void {
  const T = promptLength + Math.max(0, maxNewTokens - 1);
  const [bytes, limit] = [4 * rows * T, profile().bindingLimit];
  if (bytes <= limit) return;
  const [whose, prompt, fewer] = rows === 1 ? ["1 sequence's", "its prompt's", ''] : [`${rows} sequences'`, "the longest prompt's", 'fewer sequences, '];
  throw new RangeError(
    `${op}: noRepeatNgramSize keeps ${whose} tokens on the GPU, ${rows} × ${T} int32 (${prompt} ${promptLength}, then up to ${maxNewTokens - 1} generated), ${bytes} bytes, but they must fit one binding: at most ${limit} bytes on this adapter; give ${fewer}a shorter prompt or fewer new tokens`,
  );
}

export class TokenHistory {
  /** [R, T] int32: the rows' tokens, right-aligned after -1s. */
  private ids: Tensor;

  constructor(prompts: readonly ArrayLike<number>[]) {
    const T = Math.max(...prompts.map((p) => p.length));
    const data = new Int32Array(prompts.length * T).fill(-1);
    prompts.forEach((p, i) => data.set(Array.from(p), i * T + T - p.length));
    this.ids = keep(tensor(data, [prompts.length, T]));
  }

  /** Adds `next` [R] int32 (or a number a row) after each row's tokens. */
  append(next: Tensor | readonly number[]): void {
    const R = this.ids.shape[0]!;
    const column = Array.isArray(next) ? tensor(Int32Array.from(next), [R, 1]) : reshape(next as Tensor, [R, 1]);
    this.swap(concat([this.ids, column], 1));
  }

  /** Keeps rows `at` (indices of the rows now, in their new order; one may come more than once, as a beam continued twice). */
  keepRows(at: readonly number[]): void {
    if (at.length === this.ids.shape[0] && at.every((r, k) => r === k)) return;
    this.swap(concat(at.map((r) => slice(this.ids, 0, r, r + 1)), 0));
  }

  /** `logits` [R, V] with -Inf at the ids that would repeat an n-gram of their row (banRepeatedNgrams). */
  ban(logits: Tensor, n: number): Tensor {
    return banRepeatedNgrams(logits, this.ids, n);
  }

  dispose(): void {
    this.ids.dispose();
  }

  private swap(next: Tensor): void {
    const kept = keep(next);
    this.ids.dispose();
    this.ids = kept;
  }
}
