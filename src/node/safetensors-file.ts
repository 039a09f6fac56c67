// A safetensors file read from disk a tensor at a time (Node only). Reading the whole file into one
// buffer stops at Node's limits (2 GiB for a read, 4 GiB for a Buffer): gpt2-large's 3.2 GB
// model.safetensors, gpt2-xl's 6.4 GB. Read this way it needs no more memory than the tensors kept,
// and tensors that are not wanted (GPT-2's causal-mask buffers) are not read at all.
import type { FileHandle } from 'node:fs/promises';
import { openRegularFile } from '../io/regular-files.js';
import { decodeSafetensorsTensor, parseSafetensorsHeader, safetensorsHeaderLength, type Safetensors } from '../io/safetensors.js';

/** Bytes read per call: a single read may not pass 2 GiB. */
const CHUNK = 2 ** 30;

/** The tensors of the safetensors file at `path` that `wanted` accepts (all by default), and its metadata. */
export async function readSafetensorsFile(path: string, wanted: (name: string) => boolean = () => true): Promise<Safetensors> {
  const handle = await openRegularFile(path);
  try {
    return await readSafetensors(handle, wanted);
  } finally {
    await handle.close();
  }
}

/** readSafetensorsFile of a file already open (read by position: the handle's own position is left alone). */
export async function readSafetensors(handle: FileHandle, wanted: (name: string) => boolean = () => true): Promise<Safetensors> {
  const { size } = await handle.stat();
  const headerLength = safetensorsHeaderLength(await readAt(handle, 0, Math.min(8, size)), size);
  const dataStart = 8 + headerLength;
  const { metadata, layout } = parseSafetensorsHeader(await readAt(handle, 8, headerLength), size - dataStart);
  const tensors: Safetensors['tensors'] = {};
  for (const entry of layout) {
    if (!wanted(entry.name)) continue;
    const bytes = await readAt(handle, dataStart + entry.begin, entry.end - entry.begin);
    // defineProperty: a tensor named "__proto__" stays a tensor
    Object.defineProperty(tensors, entry.name, { value: decodeSafetensorsTensor(entry, bytes), enumerable: true, writable: true, configurable: true });
  }
  return { tensors, metadata };
}

/** `length` bytes of the file from `position` (the file was sized first: a short read means it shrank meanwhile). */
async function readAt(handle: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  for (let done = 0; done < length; ) {
    const { bytesRead } = await handle.read(out, done, Math.min(CHUNK, length - done), position + done);
    if (bytesRead === 0) throw new Error(`safetensors: the file ended ${length - done} bytes early (changed while it was read?)`);
    done += bytesRead;
  }
  return out;
}
