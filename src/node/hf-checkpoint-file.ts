// A Hugging Face GPT-2 directory as our checkpoint file, for `gpt serve --checkpoint DIR` (Node
// only): checked at the start a tensor at a time, then served as converted-checkpoint-file.ts serves
// a checkpoint of another format, its weights files (model.safetensors, pytorch_model.bin, shards) open.
import { join } from 'node:path';
import { checkedHFHeaders, hfCheckpointLayout, readHFTensor, type HFHeaders, type SavedHFTensor } from '../gpt/hf/headers.js';
import { EMBEDDING, HEAD, unprefixed } from '../gpt/hf/weights.js';
import { openHFWeights } from '../gpt/hf/index.js';
import { readCheckpointAt } from './checkpoint-dir.js';
import { openHFDirectory } from './hf-weights-files.js';
import { convertedCheckpointFile, unchangedSinceNow, type ConvertedCheckpointFile } from './converted-checkpoint-file.js';

/**
 * The Hugging Face directory `dir` as the bytes of our checkpoint file (checkpointBytes of
 * loadCheckpoint's checkpoint), its weights files open until close(). One loadCheckpoint refuses
 * fails with loadCheckpoint's error.
 */
export async function openHFCheckpointFile(dir: string): Promise<ConvertedCheckpointFile> {
  const opened = await openHFDirectory(dir);
  try {
    // before the check: a write during it is caught
    const unchanged = await unchangedSinceNow(opened.handles.map((handle, i) => ({ handle, path: join(dir, opened.files.weights[i]!.file) })));
    // the index checked against the shards' headers as they are read
    const headers = checkedHFHeaders(opened.model, await openHFWeights(opened.files, dir), opened.files, dir, null);
    const accepted = headers && (await tensorsAccepted(headers, dir).catch(() => false));
    if (!accepted) {
      await readCheckpointAt(dir); // for its one-line error
      throw new Error(`${dir}: its weights files changed while they were checked: run gpt serve again`);
    }
    await unchanged();
    return convertedCheckpointFile(hfCheckpointLayout(headers, dir), unchanged, opened.close);
  } catch (e) {
    await opened.close();
    throw e;
  }
}

/**
 * Whether every tensor passes hfCheckpoint's checks, each read and dropped in turn (a refused one
 * throws), the tied head compared with the token embedding (both read again).
 */
async function tensorsAccepted(headers: HFHeaders, dir: string): Promise<boolean> {
  const read = (tensor: SavedHFTensor) => readHFTensor(tensor, dir, headers.headAsEmbedding);
  for (const tensor of headers.saved) await read(tensor);
  if (headers.headAsEmbedding) return true; // the head is the embedding's one copy
  const named = (name: string) => headers.saved.find((t) => unprefixed(t.entry.name) === name);
  const head = named(HEAD);
  if (!head) return true;
  const [{ stored }, { stored: wte }] = [await read(head), await read(named(EMBEDDING)!)];
  return stored.shape.join() === wte.shape.join() && stored.data.every((x, i) => x === wte.data[i]);
}
