// A Hugging Face GPT-2 model's files made a model with each weight converted (dtype, Conv1D layout)
// and uploaded to the GPU as it is read, from model.safetensors or its shards in order (the page's
// Open of a model directory, Node's loads of one): readHF then modelFromCheckpoint held every
// weight on the host until the last was read (gpt2-xl's 6 GB in float32).
import { modelFor } from '../checkpoint.js';
import { dispose, uploadedOr, uploadWeight, type LoadOptions, type UploadedCheckpoint } from '../checkpoint-upload.js';
import { device } from '../../device/device.js';
import type { GPTConfig } from '../model.js';
import { tokenizerFromJSON } from '../tokenizer/index.js';
import type { SafetensorsTensor } from '../../io/safetensors.js';
import { openSafetensors } from '../../io/safetensors-source.js';
import { HF_FILES, hfModelConfig, readHF, type HFModelSources, type HFTokenizerFiles } from './index.js';
import { hfHeaders, readHFTensor, type HFWeightsReader } from './headers.js';
import { EMBEDDING } from './weights.js';

/**
 * modelFromCheckpoint(await readHF(files, source), opts), each weight uploaded as it is read (the LM
 * head, tied, is compared with the token embedding on the GPU). Files either refuses are read again
 * their way, for their one-line error (uploadedOr).
 */
export const readHFModel = (files: HFModelSources, source: string, opts: LoadOptions = {}): Promise<UploadedCheckpoint> =>
  uploadedOr(uploadHFFiles(files, source, opts), () => readHF(files, source), opts);

const uploadHFFiles = async (files: HFModelSources, source: string, opts: LoadOptions) =>
  uploadHF(hfModelConfig(files.config, source), [{ file: HF_FILES.weights, reader: await openSafetensors(files.weights) }], files, source, null, opts);

/**
 * The model of GPT-2 weights files (model.safetensors, or every shard in the index's order, with
 * the index's weight_map) every check of hfCheckpoint and loadStateDict passes, each weight uploaded
 * as read (a tensor at a time on the host, the tied head's too, compared at the end); null where a
 * check fails, from the headers or at a tensor; throws where one throws. The caller reads refused
 * files again their way for the error (uploadedOr), and closes the files.
 */
export async function uploadHF(config: GPTConfig, shards: HFWeightsReader[], tokenizerFiles: HFTokenizerFiles, source: string, weightMap: ReadonlyMap<string, string> | null, { moments: _, onWeight, ...opts }: LoadOptions): Promise<UploadedCheckpoint | null> {
  const headers = hfHeaders(config, shards, tokenizerFiles, source, weightMap); // before a model is made
  if (!headers) return null;
  const { meta, saved, weights, headAsEmbedding } = headers;
  const model = modelFor(meta, opts);
  try {
    const params = model.stateDict();
    if (weights.size !== params.size || [...weights.keys()].some((name) => !params.has(name))) return dispose(model);
    let head: SafetensorsTensor | null = null;
    for (const tensor of saved) {
      const { stored, ours } = await readHFTensor(tensor, source, headAsEmbedding);
      if (ours) {
        uploadWeight(params, ...ours, model.config.blockSize);
        onWeight?.(...ours);
      } else head = stored;
      device().flush(); // its staging copy freed before the next is read
    }
    const wte = params.get(EMBEDDING)!;
    if (head && !(head.shape.join() === wte.shape.join() && sameValues(head.data as Float32Array, (await wte.toArray()) as Float32Array))) return dispose(model);
    return { ckpt: { meta, weights: new Map(), source }, model, tokenizer: tokenizerFromJSON(meta.tokenizer) };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

// (the head's dtype was checked float by weightsFromHF)
const sameValues = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((x, i) => x === b[i]);
