// `gpt prepare`: tokenize a corpus once into <out-dir>/data (train.bin, val.bin, meta.json). A file
// is read in pieces, in one pass to learn a char or bpe vocabulary and one to tokenize, so a corpus
// may be larger than memory; the tokenizing pass, and a BPE vocabulary's counting, run on worker
// threads (tokenizer-pool.ts), and progress shows on long work.
import { join, resolve } from 'node:path';
import { BpeTokenizer, codePoints, countSpelledSpecial, describeLeftOut, describeSpelledSpecial, END_OF_TEXT, Gpt2Tokenizer, type KnownTokens } from '../gpt/tokenizer/index.js';
import { BUILTIN_CORPUS, isWithin, openCorpus, PIECE_BYTES, type Corpus, type CorpusPiece } from './corpus.js';
import { BPE_VOCAB_SIZE, checkTokenizerFlagsApply, newTokenizer, TOKENIZER_DEFAULTS, TOKENIZER_DOCS, TOKENIZER_FILE_SHOWN, TOKENIZERS, VAL_FRACTION, writeDataset, emptyCorpus, removeDatasetTemps } from './data.js';
import { flagHelp, noPositional, parseFlags, type FlagSpec } from './flags.js';
import { TEXT_SOURCE } from './path-flags.js';
import { formatSeconds, mergeProgress, Progress } from './progress.js';
import { BYTE_TOKENS } from '../gpt/tokenizer/pairs.js';
import { withDirectoryLock } from './run-lock.js';
import { autoWorkers, chunkCounterPool, MAX_WORKERS, tokenizerPool, type TextPool } from './tokenizer-pool.js';

const PREPARE_DEFAULTS = { data: BUILTIN_CORPUS, outDir: 'out', valFraction: VAL_FRACTION, workers: 0, ...TOKENIZER_DEFAULTS };
const PREPARE_FLAGS: FlagSpec<typeof PREPARE_DEFAULTS> = {
  defaults: PREPARE_DEFAULTS,
  paths: { data: TEXT_SOURCE, outDir: 'new directory', tokenizerFile: TEXT_SOURCE },
  ranges: { vocabSize: BPE_VOCAB_SIZE, valFraction: { above: 0, below: 1 }, workers: { int: true, min: 0, max: MAX_WORKERS } },
  choices: { tokenizer: TOKENIZERS },
  docs: {
    data: 'text file, directory of text files (documents: with --tokenizer gpt2 each is followed by <|endoftext|>), or URL to tokenize',
    outDir: 'the tokens go to <out-dir>/data',
    workers: `threads that tokenize: 0 for one per CPU core (at most ${MAX_WORKERS}), 1 for this thread only`,
    valFraction: "the fraction of the tokens, the last ones, held out for validation (nanoGPT's Shakespeare: 0.1; its OpenWebText: 0.0005)",
    ...TOKENIZER_DOCS,
  },
  defaultsShown: TOKENIZER_FILE_SHOWN,
};

export const PREPARE_HELP = `usage: gpt prepare [flags]
Tokenizes a UTF-8 text (a file, a directory of files, or a URL) and splits it into train and val
(the last --val-fraction of the tokens).
The text may be larger than memory: files are read in pieces, and training reads the tokens from
disk as it draws them.
${flagHelp(PREPARE_FLAGS)}`;

export async function prepare(args: string[]): Promise<number> {
  const { values: f, positional, given } = parseFlags(args, PREPARE_FLAGS);
  noPositional(positional);
  checkTokenizerFlagsApply(given, f.tokenizer);
  // `--data .` writes to ./out: an earlier run's tokens (valid UTF-8 where the ids are small), logs and checkpoints there are no documents
  const corpus = await openCorpus(f.data, PIECE_BYTES, f.outDir);
  if (corpus.bytes === 0) throw emptyCorpus(f.data);
  // no more threads than the fewest pieces the corpus is read in: each starts its own copy of the tokenizer (GPT-2's: 0.1 s, 80 MB)
  const threads = Math.min(f.workers || autoWorkers(), Math.max(corpus.documents, Math.ceil(corpus.bytes / PIECE_BYTES)));
  const t0 = performance.now();
  const dir = join(f.outDir, 'data');
  const seen = { chars: 0, pieces: 0, rough: 0, special: new Map<string, number>() };
  // under the directory's lock: a run there reads this data (and a resumed one reads it again); taken
  // before the first pass, so that a held lock is told at once, not after minutes of learning
  const { tokenizer, counts, endOfText, threadsUsed } = await withDirectoryLock(f.outDir, async () => {
    // a pass that only char and bpe take (bpe's counting on the threads): gpt2's vocabulary is read, not learnt
    const tokenizer =
      f.tokenizer === 'bpe'
        ? await learnBpe(corpus, threads, f.vocabSize, f.data)
        : await newTokenizer(texts(passOver(corpus, 'learning the vocabulary'), f.data), { tokenizer: f.tokenizer, vocabSize: f.vocabSize, tokenizerFile: f.tokenizerFile });
    // nanoGPT's openwebtext/prepare.py: each document followed by <|endoftext|>
    const endOfText = corpus.separateDocuments && tokenizer instanceof Gpt2Tokenizer ? (tokenizer.specialId(END_OF_TEXT) ?? null) : null;
    const pool = tokenizerPool(tokenizer, threads);
    const counts = await writeDataset(dir, tokenizer, f.data, async (append) => {
      await inOrder(passOver(corpus, 'tokenizing'), pool, async (tokens, piece) => {
        await append(allKnown(tokens, f.data));
        if (piece.documentEnd && endOfText !== null) await append(Int32Array.of(endOfText));
        [seen.chars, seen.pieces, seen.rough] = [seen.chars + codePoints(piece.text), seen.pieces + 1, seen.rough + Number(piece.rough)];
        countSpelledSpecial(tokenizer, piece.text, seen.special); // one cut in two by a rough piece's end goes uncounted
      });
      // gpt2's vocabulary is read, not learnt from the text: this is its first look at it (files of a BOM alone would give only <|endoftext|>s)
      if (!seen.chars) throw emptyCorpus(f.data);
    }, f.valFraction).finally(() => pool.close());
    return { tokenizer, counts, endOfText, threadsUsed: pool.threads };
  }, () => removeDatasetTemps(dir)); // Ctrl-C ends the process at once: the ids written so far (gigabytes) go with it
  if (corpus.separateDocuments) {
    const joined = endOfText !== null ? 'each followed by <|endoftext|>' : `joined as they are (the ${f.tokenizer} tokenizer has no end-of-text token)`;
    const less = isWithin(resolve(f.outDir), resolve(f.data)) ? `, less those under --out-dir ${f.outDir}` : '';
    console.log(`${corpus.documents.toLocaleString('en-US')} documents (the files of ${f.data}${less}), ${joined}`);
  }
  const spelled = describeSpelledSpecial(seen.special);
  if (spelled) console.log(`note: ${f.data} ${spelled}`);
  if (seen.rough && f.tokenizer !== 'char') {
    console.log(
      `note: ${seen.rough} of the ${seen.pieces} pieces of ${f.data} were cut mid-line (no line break that is safe to cut at ` +
        `in ${PIECE_BYTES / 2 ** 20} MiB); tokens at those ${seen.rough} places may differ from tokenizing the text whole`,
    );
  }
  console.log(
    `${f.data}: ${seen.chars.toLocaleString('en-US')} characters -> ${(counts.train + counts.val).toLocaleString('en-US')} tokens ` +
      `(${f.tokenizer}, vocab ${tokenizer.vocabSize}) in ${((performance.now() - t0) / 1000).toFixed(1)} s${threadsUsed > 1 ? `, tokenized on ${threadsUsed} threads` : ''}`,
  );
  console.log(`train ${counts.train.toLocaleString('en-US')} / val ${counts.val.toLocaleString('en-US')} tokens written to ${dir}`);
  return 0;
}

/** `pool`'s result for each piece (a piece in flight per thread, and one more read ahead), handed to `use` in the corpus's order. */
async function inOrder<R>(pieces: AsyncIterable<CorpusPiece>, pool: TextPool<R>, use: (result: R, piece: CorpusPiece) => Promise<void>): Promise<void> {
  const inFlight: { piece: CorpusPiece; result: Promise<R> }[] = [];
  const useOldest = async () => {
    const { piece, result } = inFlight.shift()!;
    await use(await result, piece);
  };
  for await (const piece of pieces) {
    const result = pool.run(piece.text);
    result.catch(() => undefined); // awaited in turn; not an unhandled rejection meanwhile
    inFlight.push({ piece, result });
    if (inFlight.length > pool.threads) await useOldest();
  }
  while (inFlight.length) await useOldest();
}

/** A BPE vocabulary learnt from the corpus, its chunks counted on `threads` threads and added in the corpus's order (so the merges are one thread's). */
async function learnBpe(corpus: Corpus, threads: number, vocabSize: number, source: string): Promise<BpeTokenizer> {
  const counts = new Map<string, number>();
  const pool = chunkCounterPool(threads);
  try {
    await inOrder(passOver(corpus, 'learning the vocabulary'), pool, async (pieceCounts) => {
      for (const [chunk, n] of pieceCounts) counts.set(chunk, (counts.get(chunk) ?? 0) + n);
    });
  } finally {
    await pool.close();
  }
  if (!counts.size) throw emptyCorpus(source);
  const shown = mergeProgress(vocabSize - BYTE_TOKENS);
  try {
    return BpeTokenizer.trainOnCounts(counts, vocabSize, { onProgress: shown.onProgress });
  } finally {
    shown.done();
  }
}

/** The ids of a piece, all of it: the vocabulary was learnt from this very text, so a character it lacks means the file changed meanwhile. */
function allKnown(known: KnownTokens, source: string): Int32Array {
  if (known.dropped) throw new Error(`${source} changed while it was being prepared: ${describeLeftOut(known)}`);
  return known.ids;
}

/** The pieces' texts; a file of a byte-order mark alone is as empty as one of no bytes. */
async function* texts(pieces: AsyncIterable<CorpusPiece>, source: string): AsyncGenerator<string> {
  let chars = 0;
  for await (const piece of pieces) {
    chars += piece.text.length;
    yield piece.text;
  }
  if (!chars) throw emptyCorpus(source);
}

// Plain output (a log, a pipe) gets a progress line this often.
const PLAIN_EVERY_MS = 15_000;

/** The corpus's pieces, with progress shown from the second piece on (a bar on a terminal, a line now and then otherwise). */
async function* passOver(corpus: Corpus, what: string): AsyncGenerator<CorpusPiece> {
  const total = Math.max(1, Math.round(corpus.bytes / 2 ** 20));
  const progress = new Progress(total);
  const t0 = performance.now();
  let [drawn, shown, pieces] = [t0, t0, 0];
  try {
    for await (const piece of corpus.pieces()) {
      yield piece;
      // from the second piece on, and at most every 200 ms: a directory may hold many small files
      if (++pieces < 2 || piece.end === corpus.bytes || performance.now() - drawn < 200) continue;
      drawn = performance.now();
      const mib = Math.round(piece.end / 2 ** 20);
      const rate = piece.end / 2 ** 20 / ((performance.now() - t0) / 1000);
      progress.update(mib, `MiB ${what}, ${rate.toFixed(1)} MiB/s`);
      if (!process.stdout.isTTY && performance.now() - shown > PLAIN_EVERY_MS) {
        shown = performance.now();
        progress.log(`${what}: ${mib} of ${total} MiB, ${rate.toFixed(1)} MiB/s, ${formatSeconds((corpus.bytes - piece.end) / 2 ** 20 / rate)} left`);
      }
    }
  } finally {
    progress.done(); // also when a piece fails: the error then starts a line of its own, not the bar's
  }
}
