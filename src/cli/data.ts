// Corpus -> tokens -> train/val split (first 90% / last 10%, as nanoGPT), stored under
// <out-dir>/data as int32 little-endian train.bin / val.bin plus meta.json with the tokenizer.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic-file.js';
import { BpeTokenizer, CharTokenizer, tokenizerFromJSON, type Tokenizer } from '../gpt/tokenizer/index.js';

export interface Dataset {
  tokenizer: Tokenizer;
  train: Int32Array;
  val: Int32Array;
}

export function buildDataset(text: string, opts: { tokenizer: string; vocabSize: number; existing?: Tokenizer }): Dataset {
  let tokenizer = opts.existing;
  if (!tokenizer) {
    if (opts.tokenizer === 'char') tokenizer = CharTokenizer.train(text);
    else if (opts.tokenizer === 'bpe') tokenizer = BpeTokenizer.train(text, opts.vocabSize);
    else throw new Error(`unknown tokenizer '${opts.tokenizer}' (expected char or bpe)`);
  }
  const ids = Int32Array.from(tokenizer.encode(text));
  const n = Math.floor(ids.length * 0.9);
  return { tokenizer, train: ids.slice(0, n), val: ids.slice(n) };
}

export async function saveDataset(dir: string, ds: Dataset): Promise<void> {
  await mkdir(dir, { recursive: true });
  const bytes = (a: Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  await writeFileAtomic(join(dir, 'train.bin'), bytes(ds.train));
  await writeFileAtomic(join(dir, 'val.bin'), bytes(ds.val));
  const meta = { tokenizer: ds.tokenizer.toJSON(), vocabSize: ds.tokenizer.vocabSize, train: ds.train.length, val: ds.val.length };
  await writeFileAtomic(join(dir, 'meta.json'), JSON.stringify(meta) + '\n');
}

export async function loadDataset(dir: string): Promise<Dataset> {
  let meta: { tokenizer: unknown; train: number; val: number };
  try {
    meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8'));
  } catch (e) {
    throw new Error(`cannot read prepared data in ${dir} (${(e as Error).message}); run \`gpt prepare\` first`);
  }
  const ints = async (name: string, count: number) => {
    const buf = await readFile(join(dir, name));
    if (buf.length !== count * 4) throw new Error(`${join(dir, name)} has ${buf.length} bytes, meta.json expects ${count * 4}`);
    return new Int32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
  };
  return { tokenizer: tokenizerFromJSON(meta.tokenizer), train: await ints('train.bin', meta.train), val: await ints('val.bin', meta.val) };
}
