// A model's state dict as a .safetensors file (Node only), written atomically; the tensors are made
// and checked by src/io/state-dict.ts, which the browser uses as well. Written and read a tensor at
// a time: a large model's file is past Node's 2 GiB read and 4 GiB Buffer.
import { writeFileAtomic } from './atomic-file.js';
import { layoutSafetensors, safetensorsPieces } from '../io/safetensors.js';
import { stateDictOf, stateDictTensors, type StateDictSource, type StateDictTensor } from '../io/state-dict.js';
import { readSafetensorsFile } from './safetensors-file.js';

/** Writes the parameters (a module or its stateDict()) to `path` as safetensors, atomically. */
export async function saveStateDict(path: string, state: StateDictSource, metadata?: Record<string, string>): Promise<void> {
  await writeFileAtomic(path, safetensorsPieces(layoutSafetensors(await stateDictTensors(state), metadata)));
}

/** Reads a safetensors file into tensors by name, for `module.loadStateDict(...)`. */
export async function loadStateDict(path: string): Promise<Map<string, StateDictTensor>> {
  return stateDictOf(await readSafetensorsFile(path)).state;
}
