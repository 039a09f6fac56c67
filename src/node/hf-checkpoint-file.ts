// A Hugging Face GPT-2 directory as our checkpoint file, for `gpt serve --checkpoint DIR` (Node
// only): checked at the start a tensor at a time, then each range asked for read from the weights
// files, kept open, and converted then. The server holds a tensor, not the model: it held the whole
// checkpoint encoded, 1.05 GB of RSS for a GPT-2 124M (gpt2-xl: 6 GB), as long as it ran.
import { join } from 'node:path';
import { hfCheckpointLayout, hfHeaders, readHFTensor, type HFHeaders, type SavedHFTensor } from '../gpt/hf/headers.js';
import { EMBEDDING, HEAD, unprefixed } from '../gpt/hf/weights.js';
import { hfDirectoryFiles, hfTokenizerTexts, loadCheckpoint } from './checkpoint-dir.js';
import { openHFWeights } from './hf-weights-files.js';
import { writtenVersion } from './regular-files.js';
import type { PendingSafetensorsLayout } from '../io/safetensors.js';

export interface HFCheckpointFile {
  size: number;
  /** The file in parts, in order: the head, then each tensor, made when asked for (a range request makes only those it overlaps). */
  parts: { size: number; bytes(): Uint8Array | Promise<Uint8Array> }[];
  /** Throws where a weights file changed since it was checked (saved again in place): its bytes are no longer those checked. */
  unchanged(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The Hugging Face directory `dir` as the bytes of our checkpoint file (checkpointBytes of
 * loadCheckpoint's checkpoint), its weights files open until close(). One loadCheckpoint refuses
 * fails with loadCheckpoint's error.
 */
export async function openHFCheckpointFile(dir: string): Promise<HFCheckpointFile> {
  const { model, weights, weightMap } = await hfDirectoryFiles(dir);
  const opened = await openHFWeights(dir, weights);
  try {
    const versions = await Promise.all(opened.handles.map(writtenVersion)); // before the check: a write during it is caught
    const unchanged = async () => {
      for (const [i, handle] of opened.handles.entries()) {
        if ((await writtenVersion(handle)) !== versions[i]) {
          throw new Error(`${join(dir, weights[i]!)} changed since gpt serve checked it (saved again?): restart gpt serve to serve it`);
        }
      }
    };
    const headers = hfHeaders(model, opened.shards, await hfTokenizerTexts(dir), dir, weightMap);
    const accepted = headers && (await tensorsAccepted(headers, dir).catch(() => false));
    if (!accepted) {
      await loadCheckpoint(dir); // for its one-line error
      throw new Error(`${dir}: its weights files changed while they were checked: run gpt serve again`);
    }
    await unchanged();
    const { head, tensors, size } = hfCheckpointLayout(headers, dir);
    return { size, parts: [{ size: head.length, bytes: () => head }, ...madeInTurn(tensors)], unchanged, close: opened.close };
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

/**
 * The tensors' parts, made one at a time and the last one kept: requests asking for one tensor
 * together or in turn (ranges a chunked download asks, several pages) share its bytes, and requests
 * for others wait their turn. Made for each request, 40 concurrent ranges of the token embedding
 * of a 124M held 2.5 GB.
 */
function madeInTurn(tensors: PendingSafetensorsLayout['tensors']): HFCheckpointFile['parts'] {
  let turn: Promise<unknown> = Promise.resolve();
  let last: { index: number; bytes: Promise<Uint8Array> } | null = null;
  return tensors.map((t, index) => ({
    size: t.end - t.begin,
    bytes() {
      if (last?.index === index) return last.bytes;
      const made = turn.then(() => t.bytes());
      turn = made.catch(() => undefined);
      const mine = { index, bytes: made };
      made.catch(() => {
        if (last === mine) last = null; // a failed read is tried again by the next request
      });
      last = mine;
      return made;
    },
  }));
}
