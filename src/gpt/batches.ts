// Where a trainer's (and an evaluation's) batches come from: token sources (an Int32Array, or a
// file of tokens read on demand), the random blocks drawn from them, and the check that a split
// is long enough to draw from.
import type { Generator } from '../tensor/generator.js';

/**
 * Token ids a trainer draws its batches from: an Int32Array, or anything that reads ids [begin, end)
 * as one, such as a file of tokens read on demand (webgpu-gpt/node's TokenFile).
 */
export interface TokenSource {
  readonly length: number;
  subarray(begin: number, end: number): Int32Array;
}

/** The splits a trainer draws from. */
export interface TokenSplits {
  train: TokenSource;
  val: TokenSource;
}

/**
 * B random blocks of T+1 tokens of `data`: inputs x and next-token targets y, both int32 [B, T].
 * Every block may be drawn, the last one too, as nanoGPT's get_batch draws torch.randint(len(data) - block_size).
 */
export function drawBatch(data: TokenSource, B: number, T: number, rng: Generator): { x: Int32Array; y: Int32Array } {
  const x = new Int32Array(B * T);
  const y = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const start = rng.nextInt(data.length - T);
    const block = data.subarray(start, start + T + 1); // one read of a file's tokens, not two
    // a TokenSource that reads short would leave zeros in the batch (a long one overruns into the next row)
    if (block.length !== T + 1) throw new Error(`drawBatch: data.subarray(${start}, ${start + T + 1}) returned ${block.length} ids, expected ${T + 1}`);
    x.set(block.subarray(0, T), b * T);
    y.set(block.subarray(1), b * T);
  }
  return { x, y };
}

/** Whether `v` reads as token ids: an Int32Array, or a TokenSource that is not another typed array (a Float32Array would be read as other tokens). */
export const isTokenSource = (v: unknown): v is TokenSource =>
  v instanceof Int32Array || (!ArrayBuffer.isView(v) && typeof v === 'object' && v !== null && Number.isInteger((v as TokenSource).length) && typeof (v as TokenSource).subarray === 'function');

/**
 * Throws unless each split holds at least T + 1 tokens (a batch needs T + 1 consecutive ones);
 * `blockSize` names the setting as the caller knows it (the CLI's --block-size).
 */
export function checkSplits(data: TokenSplits, T: number, blockSize = 'blockSize'): void {
  for (const [name, split] of Object.entries({ train: data.train, val: data.val })) {
    if (split.length < T + 1) {
      throw new Error(`the ${name} split has ${split.length} tokens, too few for sequences of ${blockSize} ${T} and their next-token targets: it needs at least ${T + 1}`);
    }
  }
}
