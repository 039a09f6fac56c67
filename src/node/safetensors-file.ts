// A safetensors file read from disk a tensor at a time (Node only). Reading the whole file into one
// buffer stops at Node's limits (2 GiB for a read, 4 GiB for a Buffer): gpt2-large's 3.2 GB
// model.safetensors, gpt2-xl's 6.4 GB. Read this way it needs no more memory than the tensors kept,
// and tensors that are not wanted (GPT-2's causal-mask buffers) are not read at all.
import { openRegularFile, readFully, type PositionalFile } from '../io/regular-files.js';
import { decodeSafetensorsTensor, emptySafetensorsTensor, parseSafetensorsHeader, safetensorsHeaderLength, type Safetensors, type SafetensorsEntry, type SafetensorsTensor } from '../io/safetensors.js';

/**
 * Bytes read per call: a single read may not pass 2 GiB, and smaller reads into fresh memory are
 * faster (a 2.4 GB file read in 256 MiB reads took 2.2-2.8 s, in 16 MiB ones 1.3 s).
 */
const CHUNK = 2 ** 24;

/** The tensors of the safetensors file at `path` that `wanted` accepts (all by default), and its metadata. */
export async function readSafetensorsFile(path: string, wanted?: (name: string) => boolean): Promise<Safetensors> {
  const handle = await openRegularFile(path);
  try {
    const file = await safetensorsReader(handle);
    return { tensors: await file.readTensors(wanted), metadata: file.metadata };
  } finally {
    await handle.close();
  }
}

/** An open safetensors file, its header read: its metadata can be looked at before any tensor is read. */
export interface SafetensorsReader {
  metadata: Record<string, string>;
  /** The tensors that `wanted` accepts (all by default), read by position (the handle's own position is left alone). */
  readTensors(wanted?: (name: string) => boolean): Promise<Safetensors['tensors']>;
}

/** Reads and checks the header of the safetensors file open as `handle`. */
export async function safetensorsReader(handle: PositionalFile): Promise<SafetensorsReader> {
  const { size } = await handle.stat();
  const headerLength = safetensorsHeaderLength(await readAt(handle, 0, Math.min(8, size)), size);
  const dataStart = 8 + headerLength;
  const { metadata, layout } = parseSafetensorsHeader(await readAt(handle, 8, headerLength), size - dataStart);
  const readTensors = async (wanted: (name: string) => boolean = () => true) => {
    const tensors: Safetensors['tensors'] = {};
    for (const entry of layout) {
      if (!wanted(entry.name)) continue;
      const value = await readTensor(handle, entry, dataStart + entry.begin);
      // defineProperty: a tensor named "__proto__" stays a tensor
      Object.defineProperty(tensors, entry.name, { value, enumerable: true, writable: true, configurable: true });
    }
    return tensors;
  };
  return { metadata, readTensors };
}

/** One tensor from its bytes at `position`, read straight into its array where it is held as stored (F32: no second copy). */
async function readTensor(handle: PositionalFile, entry: SafetensorsEntry, position: number): Promise<SafetensorsTensor> {
  const inPlace = emptySafetensorsTensor(entry);
  if (!inPlace) return decodeSafetensorsTensor(entry, await readAt(handle, position, entry.end - entry.begin));
  await readInto(handle, position, inPlace.bytes);
  return inPlace.tensor;
}

/** `length` bytes of the file from `position`. */
const readAt = (handle: PositionalFile, position: number, length: number) => readInto(handle, position, new Uint8Array(length));

/** Fills `out` with the file's bytes from `position`, in CHUNK-sized reads. */
const readInto = (handle: PositionalFile, position: number, out: Uint8Array) => readFully(handle, position, out, 'safetensors', CHUNK);
