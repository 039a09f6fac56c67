// A checkpoint of another format (a Hugging Face directory, nanoGPT's ckpt.pt) served as the bytes
// of our checkpoint file, for `gpt serve --checkpoint` (Node only): laid out from its headers at the
// start, then each tensor read from its files, kept open, and converted when a range asks for it.
// The server holds a tensor, not the model: it held the whole checkpoint encoded, 1.05 GB of RSS for
// a GPT-2 124M (gpt2-xl: 6 GB), as long as it ran.
import type { FileHandle } from 'node:fs/promises';
import type { PendingSafetensorsLayout } from '../io/safetensors.js';
import { writtenVersion } from './regular-files.js';

/** One part of the file: its size, and its bytes, made only when asked for. */
export interface CheckpointPart {
  size: number;
  bytes(): Uint8Array | Promise<Uint8Array>;
}

export interface ConvertedCheckpointFile {
  size: number;
  /** The file in parts, in order: the head, then each tensor, made when asked for (a range request makes only those it overlaps). */
  parts: CheckpointPart[];
  /** Throws where a file read changed since it was checked (saved again in place): its bytes are no longer those checked. */
  unchanged(): Promise<void>;
  close(): Promise<void>;
}

/** The files `files` (open, at `path`) as they are now: the check throws once one was written since. */
export async function unchangedSinceNow(files: { handle: FileHandle; path: string }[]): Promise<() => Promise<void>> {
  const versions = await Promise.all(files.map(({ handle }) => writtenVersion(handle)));
  return async () => {
    for (const [i, { handle, path }] of files.entries()) {
      if ((await writtenVersion(handle)) !== versions[i]) throw new Error(`${path} changed since gpt serve checked it (saved again?): restart gpt serve to serve it`);
    }
  };
}

/** `layout`'s file in parts, its tensors made in turn (madeInTurn), its files `unchanged` and closed by `close`. */
export function convertedCheckpointFile({ head, tensors, size }: PendingSafetensorsLayout, unchanged: () => Promise<void>, close: () => Promise<void>): ConvertedCheckpointFile {
  return { size, parts: [{ size: head.length, bytes: () => head }, ...madeInTurn(tensors)], unchanged, close };
}

/**
 * The tensors' parts, made one at a time and the last one kept: requests asking for one tensor
 * together or in turn (ranges a chunked download asks, several pages) share its bytes, and requests
 * for others wait their turn. Made for each request, 40 concurrent ranges of the token embedding
 * of a 124M held 2.5 GB.
 */
function madeInTurn(tensors: PendingSafetensorsLayout['tensors']): CheckpointPart[] {
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
