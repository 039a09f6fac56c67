// A model's state dict as a .safetensors file (Node only), written atomically; the bytes are made
// and read by src/io/state-dict.ts, which the browser uses as well.
import { writeFileAtomic } from '../io/atomic-file.js';
import { readRegularFile } from '../io/regular-files.js';
import { stateDictFromSafetensors, stateDictToSafetensors, type StateDictSource } from '../io/state-dict.js';

/** Writes the parameters (a module or its stateDict()) to `path` as safetensors, atomically. */
export async function saveStateDict(path: string, state: StateDictSource, metadata?: Record<string, string>): Promise<void> {
  await writeFileAtomic(path, await stateDictToSafetensors(state, metadata));
}

/** Reads a safetensors file into tensors by name, for `module.loadStateDict(...)`. */
export async function loadStateDict(path: string): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  return stateDictFromSafetensors(new Uint8Array(await readRegularFile(path))).state;
}
