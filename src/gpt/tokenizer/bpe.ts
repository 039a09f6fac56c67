// Byte-level BPE in the spirit of GPT-2: text is UTF-8 encoded, the 256 byte values are the base
// vocabulary, and learned merges of adjacent tokens (never across a splitChunks boundary) add the
// rest. Any well-formed string round-trips exactly. A lone surrogate cannot be UTF-8 encoded:
// TextEncoder turns it into U+FFFD, so that is what decode returns for it.
import type { BpeTokenizerJSON, Tokenizer } from './tokenizer.js';
import { BYTE_TOKENS, PAIR_BASE, mergePair, pairKey } from './pairs.js';
import { splitChunks } from './split.js';
import { learnMerges, type MergeProgress } from './train-bpe.js';

/** Options of BpeTokenizer.train(). */
export interface BpeTrainOptions {
  onProgress?: MergeProgress;
}

const CACHE_LIMIT = 100_000; // encoded chunks remembered; natural text repeats its words a lot
const utf8 = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF, which the default decoder would silently drop.
const fromUtf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** Byte-level BPE (GPT-2 style): 256 byte tokens plus learned merges; every text encodes. */
export class BpeTokenizer implements Tokenizer {
  readonly kind = 'bpe';
  private readonly merges: readonly [number, number][];
  private readonly ranks = new Map<number, number>(); // pair -> merge index; lower merges first
  private readonly bytes: Uint8Array[] = []; // bytes[id]: the UTF-8 bytes token id stands for
  private readonly cache = new Map<string, readonly number[]>();

  constructor(merges: readonly [number, number][]) {
    for (let id = 0; id < BYTE_TOKENS; id++) this.bytes.push(Uint8Array.of(id));
    merges.forEach((pair, i) => {
      const limit = BYTE_TOKENS + i;
      const ok = Array.isArray(pair) && pair.length === 2 && pair.every((id) => Number.isInteger(id) && id >= 0 && id < limit);
      if (!ok) throw new Error(`BpeTokenizer: merge ${i} must be a pair of token ids below ${limit}, got ${JSON.stringify(pair)}`);
      const [a, b] = pair;
      const key = pairKey(a, b);
      if (this.ranks.has(key)) throw new Error(`BpeTokenizer: merge ${i} repeats the pair [${a}, ${b}]`);
      this.ranks.set(key, i);
      const joined = new Uint8Array(this.bytes[a]!.length + this.bytes[b]!.length);
      joined.set(this.bytes[a]!);
      joined.set(this.bytes[b]!, this.bytes[a]!.length);
      this.bytes.push(joined);
    });
    this.merges = merges.map(([a, b]) => [a, b]);
  }

  // Learns merges until the vocabulary has vocabSize tokens, or fewer if the text runs out of pairs.
  static train(text: string, vocabSize: number, opts: BpeTrainOptions = {}): BpeTokenizer {
    if (!Number.isInteger(vocabSize) || vocabSize < BYTE_TOKENS || vocabSize > PAIR_BASE) {
      throw new Error(`BpeTokenizer.train: vocabSize must be an integer in [${BYTE_TOKENS}, ${PAIR_BASE}], got ${vocabSize}`);
    }
    const freqs = new Map<string, number>();
    for (const chunk of splitChunks(text)) freqs.set(chunk, (freqs.get(chunk) ?? 0) + 1);
    const chunks = [...freqs].map(([chunk, freq]): [Uint8Array, number] => [utf8.encode(chunk), freq]);
    return new BpeTokenizer(learnMerges(chunks, vocabSize - BYTE_TOKENS, opts.onProgress));
  }

  static fromJSON(json: BpeTokenizerJSON): BpeTokenizer {
    if (!Array.isArray(json.merges)) throw new Error('BpeTokenizer.fromJSON: "merges" must be an array of [a, b] pairs');
    return new BpeTokenizer(json.merges);
  }

  get vocabSize(): number {
    return BYTE_TOKENS + this.merges.length;
  }

  encode(text: string): number[] {
    const out: number[] = [];
    for (const chunk of splitChunks(text)) for (const id of this.encodeChunk(chunk)) out.push(id);
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    const parts: Uint8Array[] = [];
    let length = 0;
    for (let i = 0; i < ids.length; i++) {
      const bytes = this.bytes[ids[i]!];
      if (bytes === undefined) throw new Error(`BpeTokenizer: token id ${ids[i]} is outside the vocabulary of ${this.vocabSize}`);
      parts.push(bytes);
      length += bytes.length;
    }
    const all = new Uint8Array(length);
    let at = 0;
    for (const bytes of parts) {
      all.set(bytes, at);
      at += bytes.length;
    }
    // A slice of a token stream may cut a character in half; such bytes decode to U+FFFD.
    return fromUtf8.decode(all);
  }

  toJSON(): BpeTokenizerJSON {
    return { kind: 'bpe', merges: this.merges.map(([a, b]) => [a, b]) };
  }

  // Applies the earliest-learned merge present, all its occurrences at once, until none applies;
  // this replays training's order, so the training text encodes to the tokens training saw.
  private encodeChunk(chunk: string): readonly number[] {
    const cached = this.cache.get(chunk);
    if (cached !== undefined) return cached;
    let ids = Array.from(utf8.encode(chunk));
    for (;;) {
      let bestRank = Infinity;
      for (let i = 0; i + 1 < ids.length; i++) {
        const rank = this.ranks.get(pairKey(ids[i]!, ids[i + 1]!));
        if (rank !== undefined && rank < bestRank) bestRank = rank;
      }
      if (bestRank === Infinity) break;
      const [a, b] = this.merges[bestRank]!;
      ids = mergePair(ids, a, b, BYTE_TOKENS + bestRank);
    }
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(chunk, ids);
    return ids;
  }
}
