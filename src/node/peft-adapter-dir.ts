// A peft LoRA adapter directory on disk (adapter_config.json + adapter_model.safetensors, as
// PeftModel.save_pretrained writes it; src/gpt/hf/peft.ts), read and written.
import { join } from 'node:path';
import { decodePeftAdapter, encodePeftAdapter, PEFT_FILES, type PeftAdapter } from '../gpt/hf/peft.js';
import type { GPT } from '../gpt/model.js';
import { replaceFileSet } from './atomic-file.js';
import { makeDirectories, pathExists, readRegularFile, removeEmptyCreated, SIDE_FILE_BYTES, unreadableReason } from './regular-files.js';

/**
 * Writes the LoRA adapters of `model` into `dir` as peft's adapter directory, naming `base` (at
 * `revision`) as its base model. The weights first, adapter_config.json last: a process killed
 * meanwhile leaves the old pair, or weights without a config, which peft and readPeftAdapter
 * refuse; never new weights read with an old config. Refused, it leaves the directory as it was,
 * and none it created.
 */
export async function savePeftAdapter(dir: string, model: GPT, base: string | null = null, revision: string | null = null): Promise<void> {
  const files = await encodePeftAdapter(model, base, revision, 'savePeftAdapter');
  const created = await makeDirectories(dir);
  try {
    await replaceFileSet(dir, { name: PEFT_FILES.weights, data: files.weights }, [{ name: PEFT_FILES.config, data: files.config }]);
  } catch (e) {
    removeEmptyCreated(created);
    throw e;
  }
}

/**
 * The peft LoRA adapter in the directory `dir` (decodePeftAdapter's checks): its weights from
 * adapter_model.safetensors, else older peft's adapter_model.bin, as peft prefers them. One line
 * naming the file that is missing or unreadable.
 */
export async function readPeftAdapter(dir: string): Promise<PeftAdapter> {
  const read = (file: string, maxBytes = Infinity) =>
    readRegularFile(join(dir, file), maxBytes).catch((e: unknown) => Promise.reject(new Error(`${dir}/${file}: cannot be read as a peft adapter's file (${unreadableReason(e)})`)));
  const config = (await read(PEFT_FILES.config, SIDE_FILE_BYTES)).toString('utf8');
  const weightsFile = !(await pathExists(join(dir, PEFT_FILES.weights))) && (await pathExists(join(dir, PEFT_FILES.torchWeights))) ? PEFT_FILES.torchWeights : PEFT_FILES.weights;
  const weights = async () => {
    const bytes = await read(weightsFile);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
  return decodePeftAdapter({ config, weights, weightsFile }, dir); // the config checked before the weights are read
}
