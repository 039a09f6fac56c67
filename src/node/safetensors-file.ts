// Safetensors files on disk read a tensor at a time (Node only): an open file handle as the
// ByteSource src/io/safetensors-source.ts reads (the browser gives it a File the same way). Reading
// the whole file into one buffer stops at Node's limits (2 GiB for a read, 4 GiB for a Buffer):
// gpt2-large's 3.2 GB model.safetensors, gpt2-xl's 6.4 GB.
import { openRegularFile, readFully, type PositionalFile } from './regular-files.js';
import type { Safetensors } from '../io/safetensors.js';
import { openSafetensors, type ByteSource } from '../io/safetensors-source.js';

/**
 * Bytes read per call: a single read may not pass 2 GiB, and smaller reads into fresh memory are
 * faster (a 2.4 GB file read in 256 MiB reads took 2.2-2.8 s, in 16 MiB ones 1.3 s).
 */
const CHUNK = 2 ** 24;

/** The tensors of the safetensors file at `path`, and its metadata. */
export async function readSafetensorsFile(path: string): Promise<Safetensors> {
  const handle = await openRegularFile(path);
  try {
    const file = await openSafetensors(await handleSource(handle));
    return { tensors: await file.readTensors(), metadata: file.metadata };
  } finally {
    await handle.close();
  }
}

/** An open file (or one that checksums what is read) as a ByteSource, sized now; each read a fresh buffer filled by position (the handle's own position is left alone). */
export async function handleSource(handle: PositionalFile): Promise<ByteSource> {
  const { size } = await handle.stat();
  return { size, read: (offset, length) => readFully(handle, offset, new Uint8Array(length), 'safetensors', CHUNK) };
}
