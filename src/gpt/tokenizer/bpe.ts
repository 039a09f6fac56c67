// Our own byte-level BPE, trained on the user's text: the byte tokens are ids 0..255 in byte order,
// learned merges add the rest, and text is cut by splitChunks' pattern (a refinement of GPT-2's).
import { checkOptionKeys, describeValue } from '../../tensor/check.js';
import { ByteLevelBpe } from './byte-level-bpe.js';
import { checkText, type BpeTokenizerJSON } from './tokenizer.js';
import { BYTE_TOKENS, PAIR_BASE } from './pairs.js';
import { eachChunk } from './split.js';
import { learnMerges, type MergeProgress } from './train-bpe.js';

/** Options of BpeTokenizer.train(). */
export interface BpeTrainOptions {
  onProgress?: MergeProgress;
}

const utf8 = new TextEncoder();

function checkTrainArgs(op: string, vocabSize: number, opts: BpeTrainOptions): void {
  if (!Number.isInteger(vocabSize) || vocabSize < BYTE_TOKENS || vocabSize > PAIR_BASE) {
    throw new Error(`${op}: vocabSize must be an integer in [${BYTE_TOKENS}, ${PAIR_BASE}], got ${vocabSize}`);
  }
  checkOptionKeys(op, opts, ['onProgress']);
}

/**
 * The pre-tokenization chunks of `text`, each with how often it occurs, added to `into`. A text's
 * pieces counted in order into one Map (or counted apart and added in order) give the counts of the
 * whole text, in the order BpeTokenizer.trainOnCounts() needs to learn what train() learns.
 */
export function countChunks(text: string, into = new Map<string, number>()): Map<string, number> {
  if (!(into instanceof Map)) throw new TypeError(`countChunks: argument 'into' must be a Map of chunk -> count, got ${describeValue(into)}`);
  for (const chunk of eachChunk(checkText('countChunks', text))) into.set(chunk, (into.get(chunk) ?? 0) + 1);
  return into;
}

/** Byte-level BPE (GPT-2 style): 256 byte tokens plus learned merges; every text encodes. */
export class BpeTokenizer extends ByteLevelBpe {
  readonly kind = 'bpe';
  /** Token b is byte b. */
  static readonly BYTE_ORDER: readonly number[] = Array.from({ length: BYTE_TOKENS }, (_, b) => b);

  constructor(merges: readonly (readonly [number, number])[]) {
    super('BpeTokenizer', BpeTokenizer.BYTE_ORDER, merges, []);
  }

  // Learns merges until the vocabulary has vocabSize tokens, or fewer if the text runs out of pairs.
  static train(text: string, vocabSize: number, opts: BpeTrainOptions = {}): BpeTokenizer {
    checkTrainArgs('BpeTokenizer.train', vocabSize, opts);
    return BpeTokenizer.fromCounts(countChunks(checkText('BpeTokenizer.train', text)), vocabSize, opts);
  }

  /** train() on a text given in pieces (a corpus larger than one string holds), each cut where pre-tokenization splits anyway. */
  static async trainOnPieces(pieces: AsyncIterable<string> | Iterable<string>, vocabSize: number, opts: BpeTrainOptions = {}): Promise<BpeTokenizer> {
    checkTrainArgs('BpeTokenizer.trainOnPieces', vocabSize, opts);
    const freqs = new Map<string, number>();
    for await (const piece of pieces) countChunks(checkText('BpeTokenizer.trainOnPieces', piece), freqs);
    return BpeTokenizer.fromCounts(freqs, vocabSize, opts);
  }

  /** train() from a text's chunk counts (countChunks'), e.g. counted on several threads: the same merges as train() on the text. */
  static trainOnCounts(counts: Map<string, number>, vocabSize: number, opts: BpeTrainOptions = {}): BpeTokenizer {
    checkTrainArgs('BpeTokenizer.trainOnCounts', vocabSize, opts);
    if (!(counts instanceof Map)) throw new TypeError(`BpeTokenizer.trainOnCounts: argument 'counts' must be a Map of chunk -> count (countChunks'), got ${describeValue(counts)}`);
    for (const [chunk, n] of counts as Map<unknown, unknown>) {
      if (typeof chunk !== 'string' || !Number.isSafeInteger(n) || (n as number) < 1) {
        throw new TypeError(`BpeTokenizer.trainOnCounts: argument 'counts' must map each chunk (a string) to how often it occurs (an integer >= 1), got ${describeValue(chunk)} -> ${describeValue(n)}`);
      }
    }
    return BpeTokenizer.fromCounts(counts, vocabSize, opts);
  }

  private static fromCounts(freqs: Map<string, number>, vocabSize: number, opts: BpeTrainOptions): BpeTokenizer {
    const chunks = [...freqs].map(([chunk, freq]): [Uint8Array, number] => [utf8.encode(chunk), freq]);
    return new BpeTokenizer(learnMerges(chunks, vocabSize - BYTE_TOKENS, opts.onProgress));
  }

  static fromJSON(json: BpeTokenizerJSON): BpeTokenizer {
    if (!Array.isArray(json.merges)) throw new Error('BpeTokenizer.fromJSON: "merges" must be an array of [a, b] pairs');
    return new BpeTokenizer(json.merges);
  }

  toJSON(): BpeTokenizerJSON {
    return { kind: 'bpe', merges: this.merges.map(([a, b]) => [a, b]) };
  }

  protected chunks(text: string): Iterable<string> {
    return eachChunk(text);
  }
}
