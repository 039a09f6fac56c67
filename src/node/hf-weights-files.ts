// A Hugging Face directory's weights files held open (their headers read) while a load or a server
// reads them. Apart from checkpoint-dir.ts, whose declarations are public: a FileHandle in them
// would make a consumer's type check need Node's types.
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { HFWeightsReader } from '../gpt/hf/headers.js';
import { openHFWeightsFile } from '../gpt/hf/index.js';
import { openRegularFile } from './regular-files.js';
import { handleSource } from './safetensors-file.js';

/** The weights files `files` of the Hugging Face directory `dir` (hfDirectoryFiles'), opened and their headers read, until close(). */
export async function openHFWeights(dir: string, files: string[]): Promise<{ shards: HFWeightsReader[]; handles: FileHandle[]; close(): Promise<void> }> {
  const handles: FileHandle[] = [];
  const close = async () => {
    for (const handle of handles) await handle.close();
  };
  try {
    const shards: HFWeightsReader[] = [];
    for (const file of files) {
      const handle = await openRegularFile(join(dir, file));
      handles.push(handle);
      shards.push({ file, reader: await openHFWeightsFile(await handleSource(handle), file) });
    }
    return { shards, handles, close };
  } catch (e) {
    await close();
    throw e;
  }
}
