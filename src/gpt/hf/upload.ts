// A Hugging Face GPT-2 model's files made a model with each weight uploaded to the GPU as it is
// read from model.safetensors (the page's Open of a model directory): readHF then
// modelFromCheckpoint held every weight on the host until the last was read (gpt2-large's 3 GB).
import { CHECKPOINT_FORMAT, CHECKPOINT_KEY, configWeightsProblem } from '../checkpoint.js';
import { dispose, uploadedOr, uploadWeight, type UploadedCheckpoint } from '../checkpoint-upload.js';
import { device } from '../../device/device.js';
import { GPT } from '../model.js';
import { tokenizerFromJSON } from '../tokenizer/index.js';
import type { SafetensorsTensor } from '../../io/safetensors.js';
import { openSafetensors } from '../../io/safetensors-source.js';
import { HF_FILES, hfModelConfig, hfTokenizer, readHF, type HFModelSources } from './index.js';
import { HEAD, isMaskBuffer, unprefixed, weightsFromHF } from './weights.js';

/**
 * modelFromCheckpoint(await readHF(files, source)), each weight uploaded as it is read (the LM head,
 * tied, is compared with the token embedding on the GPU). Files either refuses are read again their
 * way, for their one-line error (readCheckpointModel's way).
 */
export const readHFModel = (files: HFModelSources, source: string): Promise<UploadedCheckpoint> => uploadedOr(uploadHF(files, source), () => readHF(files, source));

/** The model of files every check passes, or null where a check fails before a tensor is read or at one; throws where one throws. */
async function uploadHF(files: HFModelSources, source: string): Promise<UploadedCheckpoint | null> {
  const config = hfModelConfig(files.config, source);
  const reader = await openSafetensors(files.weights);
  if (reader.metadata[CHECKPOINT_KEY] !== undefined) return null;
  const saved = reader.entries.filter((e) => !isMaskBuffer(e.name));
  // what hfCheckpoint and loadStateDict check of names and shapes, from the header: before a model is made
  const weights = new Map(saved.map((e) => [unprefixed(e.name), { shape: e.shape }]));
  if (weights.size !== saved.length) return null; // a name saved with the prefix and without
  weights.delete(HEAD);
  if (configWeightsProblem(config, weights, (k) => k, HF_FILES.weights)) return null;
  const tokenizer = hfTokenizer([{ file: HF_FILES.weights, metadata: reader.metadata }], files, source);
  if (tokenizer.vocabSize !== config.vocabSize) return null;
  const model = new GPT(config);
  try {
    const params = model.stateDict();
    if (weights.size !== params.size || [...weights.keys()].some((name) => !params.has(name))) return dispose(model);
    let head: SafetensorsTensor | null = null;
    for (const entry of saved) {
      // weightsFromHF of one tensor: its name, dtype and values checked, a Conv1D weight transposed
      const tensors = { [entry.name]: await reader.readTensor(entry) };
      const [ours] = weightsFromHF([{ file: HF_FILES.weights, tensors, metadata: reader.metadata }], (file) => `${source}/${file}`);
      if (ours) uploadWeight(params, ...ours, config.blockSize);
      else head = tensors[entry.name]!;
      device().flush(); // its staging copy freed before the next is read
    }
    const wte = params.get('wte.weight')!;
    if (head && !(head.shape.join() === wte.shape.join() && sameValues(head.data as Float32Array, (await wte.toArray()) as Float32Array))) return dispose(model);
    const meta = { format: CHECKPOINT_FORMAT, model: config, tokenizer: tokenizer.toJSON() } as const;
    return { ckpt: { meta, weights: new Map(), source }, model, tokenizer: tokenizerFromJSON(meta.tokenizer) };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

// (the head's dtype was checked float by weightsFromHF)
const sameValues = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((x, i) => x === b[i]);
