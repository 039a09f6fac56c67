// A safetensors file read a tensor at a time from anything that reads bytes at an offset: a
// browser File (a slice per read), a Node file handle, bytes already in memory. The whole file is
// never one buffer: a model with its optimizer state is past what a tab (2 GiB for one ArrayBuffer
// in some browsers) or Node (2 GiB a read) holds at once. Only the tensors kept take memory, and
// tensors that are not wanted (GPT-2's causal-mask buffers) are not read at all.
import { adoptSafetensorsTensor, parseSafetensorsHeader, safetensorsHeaderLength, type Safetensors, type SafetensorsEntry, type SafetensorsTensor } from './safetensors.js';

/** A file's bytes, read a range at a time: what a browser File (its slices) and a Node file handle both give. */
export interface ByteSource {
  readonly size: number;
  /** `length` bytes from `offset`; a buffer of their own where possible (they then become the tensor's memory, uncopied). */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** Bytes already in memory as a ByteSource (a fetched checkpoint, a test's bytes): each tensor is copied out of them. */
export const bytesSource = (bytes: Uint8Array): ByteSource => ({ size: bytes.length, read: async (offset, length) => bytes.subarray(offset, offset + length) });

/**
 * `sources` (a model's weights files: one, or its shards) whose reads are counted: after each,
 * `onRead(done, total)` with the bytes read of them all so far and all their sizes (a load's progress).
 */
export function countingReads(sources: ByteSource[], onRead: (done: number, total: number) => void): ByteSource[] {
  const total = sources.reduce((n, s) => n + s.size, 0);
  let done = 0;
  return sources.map((source) => ({
    size: source.size,
    read: async (offset, length) => {
      const bytes = await source.read(offset, length);
      done += bytes.length;
      onRead(done, total);
      return bytes;
    },
  }));
}

/** A safetensors file, its header read and checked: its metadata can be looked at before any tensor is read. */
export interface SafetensorsReader {
  metadata: Record<string, string>;
  /** What the header says of each tensor (name, dtype, shape, place), in file order: known before any is read. */
  entries: readonly SafetensorsEntry[];
  /** One of `entries`' tensors, read now. */
  readTensor(entry: SafetensorsEntry): Promise<SafetensorsTensor>;
  /** The tensors that `wanted` accepts (all by default), in file order, one read each. */
  readTensors(wanted?: (name: string) => boolean): Promise<Safetensors['tensors']>;
}

/** Reads and checks the header of the safetensors file `source` reads (a damaged one is an error naming what is wrong). */
export async function openSafetensors(source: ByteSource): Promise<SafetensorsReader> {
  const { size } = source;
  const headerLength = safetensorsHeaderLength(await readExactly(source, 0, Math.min(8, size)), size);
  const dataStart = 8 + headerLength;
  const { metadata, layout } = parseSafetensorsHeader(await readExactly(source, 8, headerLength), size - dataStart);
  const readTensor = async (entry: SafetensorsEntry) => adoptSafetensorsTensor(entry, await readExactly(source, dataStart + entry.begin, entry.end - entry.begin));
  const readTensors = async (wanted: (name: string) => boolean = () => true) => {
    const tensors: Safetensors['tensors'] = {};
    for (const entry of layout) {
      if (!wanted(entry.name)) continue;
      const value = await readTensor(entry);
      // defineProperty: a tensor named "__proto__" stays a tensor
      Object.defineProperty(tensors, entry.name, { value, enumerable: true, writable: true, configurable: true });
    }
    return tensors;
  };
  return { metadata, entries: layout, readTensor, readTensors };
}

/** `length` bytes from `offset`; fewer (a file that shrank since it was sized) is an error. */
async function readExactly(source: ByteSource, offset: number, length: number): Promise<Uint8Array> {
  const bytes = await source.read(offset, length);
  if (bytes.length !== length) throw new Error(`safetensors: read ${bytes.length} of ${length} bytes at offset ${offset} (the file changed while it was read?)`);
  return bytes;
}
