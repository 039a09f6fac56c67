// Corpus -> tokens -> train/val split (first 90% / last 10%, as nanoGPT), stored under
// <out-dir>/data as int32 little-endian train.bin / val.bin plus meta.json with the tokenizer.
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic-file.js';
import { makeDirectories, readRegularFile } from '../io/regular-files.js';
import type { Range } from '../io/value-ranges.js';
import { BpeTokenizer, CharTokenizer, tokenizerFromJSON, type Tokenizer } from '../gpt/tokenizer/index.js';
import { BYTE_TOKENS, PAIR_BASE } from '../gpt/tokenizer/pairs.js';
import { UsageError } from './flags.js';

export const TOKENIZERS = ['char', 'bpe'] as const;
/** --vocab-size: the byte tokens, then BPE merges up to the largest id a pair key can hold. */
export const BPE_VOCAB_SIZE: Range = { int: true, min: BYTE_TOKENS, max: PAIR_BASE };

/** --vocab-size means nothing to the char tokenizer: refused rather than ignored. */
export function checkVocabSizeApplies(given: boolean, tokenizer: string): void {
  if (given && tokenizer !== 'bpe') throw new UsageError('flag --vocab-size applies only to --tokenizer bpe');
}

export interface Dataset {
  tokenizer: Tokenizer;
  train: Int32Array;
  val: Int32Array;
}

export function buildDataset(text: string, opts: { source: string; tokenizer: string; vocabSize: number; existing?: Tokenizer }): Dataset {
  if (!text) throw new Error(`${opts.source} is empty: there is no text to train on`);
  let tokenizer = opts.existing;
  if (!tokenizer) {
    if (opts.tokenizer === 'char') tokenizer = CharTokenizer.train(text);
    else if (opts.tokenizer === 'bpe') tokenizer = BpeTokenizer.train(text, opts.vocabSize);
    else throw new Error(`unknown tokenizer '${opts.tokenizer}' (expected char or bpe)`);
  }
  const ids = Int32Array.from(tokenizer.encode(text));
  const n = Math.floor(ids.length * 0.9);
  if (n === 0) throw new Error(`${opts.source} is too short: ${ids.length} token(s) cannot be split into train and val`);
  return { tokenizer, train: ids.slice(0, n), val: ids.slice(n) };
}

export async function saveDataset(dir: string, ds: Dataset): Promise<void> {
  await makeDirectories(dir);
  const bytes = (a: Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  await writeFileAtomic(join(dir, 'train.bin'), bytes(ds.train));
  await writeFileAtomic(join(dir, 'val.bin'), bytes(ds.val));
  const meta = { tokenizer: ds.tokenizer.toJSON(), vocabSize: ds.tokenizer.vocabSize, train: ds.train.length, val: ds.val.length };
  await writeFileAtomic(join(dir, 'meta.json'), JSON.stringify(meta) + '\n');
}

export async function loadDataset(dir: string): Promise<Dataset> {
  let meta: { tokenizer: unknown; train: number; val: number };
  try {
    meta = JSON.parse((await readRegularFile(join(dir, 'meta.json'))).toString('utf8'));
  } catch (e) {
    throw new Error(`cannot read prepared data in ${dir} (${(e as Error).message}); run \`gpt prepare\` first`);
  }
  const ints = async (name: string, count: number) => {
    const buf = await readRegularFile(join(dir, name));
    if (buf.length !== count * 4) throw new Error(`${join(dir, name)} has ${buf.length} bytes, meta.json expects ${count * 4}`);
    return new Int32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
  };
  return { tokenizer: tokenizerFromJSON(meta.tokenizer), train: await ints('train.bin', meta.train), val: await ints('val.bin', meta.val) };
}
