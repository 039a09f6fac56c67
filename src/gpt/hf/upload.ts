// A Hugging Face GPT-2 model's files made a model with each weight converted (dtype, Conv1D layout)
// and uploaded to the GPU as it is read, from model.safetensors (or pytorch_model.bin) or its shards
// in order (the page's Open of a model directory or of a hub model, Node's loads of one): readHF then
// modelFromCheckpoint held every weight on the host until the last was read (gpt2-xl's 6 GB in float32).
import { modelFor } from '../checkpoint.js';
import { refuseModelPastAdapter, uploadedCheckpoint, uploadWeight, type LoadOptions, type UploadedCheckpoint } from '../checkpoint-upload.js';
import { device } from '../../device/device.js';
import type { GPT, GPTConfig } from '../model.js';
import { tokenizerFromJSON } from '../tokenizer/index.js';
import { hfCheckpointMeta, hfModelConfig, openHFWeights, readHF, refuseOurs, unreadableWeights, type HFModelSources, type HFTokenizerFiles, type HFWeightsReader } from './index.js';
import { checkedHFHeaders, savedTensors, type HFHeaders } from './headers.js';
import { EMBEDDING, HEAD, headIsEmbedding, HFWeightsDecoder, unprefixed } from './weights.js';

/**
 * modelFromCheckpoint(await readHF(files, source), opts), each weight uploaded as it is read (the LM
 * head, tied, is compared with the token embedding on the GPU). Files readHF refuses give its error
 * from that one read; only files loading alone refuses are read again, for its one-line error.
 */
export async function readHFModel(files: HFModelSources, source: string, opts: LoadOptions = {}): Promise<UploadedCheckpoint> {
  const config = hfModelConfig(files.config, source);
  const shards = await openHFWeights(files, source);
  // the index was checked against the shards' headers as they were opened
  const headers = checkedHFHeaders(config, shards, files, source, null);
  if (headers) refuseModelPastAdapter(headers.meta, opts, source);
  return (await uploadHF(config, shards, files, source, headers, opts)) ?? uploadedCheckpoint(await readHF(files, source), opts);
}

/**
 * The model of GPT-2 weights files (model.safetensors, or every shard in the index's order, with
 * the index's weight_map) every check of hfCheckpoint and loadStateDict passes, each weight uploaded
 * as read: a tensor at a time on the host (and a head saved beside the token embedding, compared
 * with it at the end). Files hfCheckpoint refuses give its error, each tensor checked as
 * weightsFromHF checks it as it streams by, and the rest then read unchecked (readHF reads all
 * before it checks: a failed read comes first); null where only loading refuses them, or the
 * headers do where hfCheckpoint does not (a shard index's weight_map): the caller reads them again
 * for that error. `headers`: checkedHFHeaders of these files, made by the caller (null: no model is
 * made, the tensors are read for their error). The caller closes the files.
 */
async function uploadHF(config: GPTConfig, shards: HFWeightsReader[], tokenizerFiles: HFTokenizerFiles, source: string, headers: HFHeaders | null, { moments: _, onWeight, ...opts }: LoadOptions): Promise<UploadedCheckpoint | null> {
  const saved = savedTensors(shards);
  const names = saved.map(({ entry }) => unprefixed(entry.name));
  const headAsEmbedding = headIsEmbedding(names);
  const headBeside = names.includes(HEAD) && !headAsEmbedding;
  let model = headers && modelOrNull(headers, opts); // before any tensor is read
  const params = model?.stateDict();
  const refuse = () => {
    model?.dispose();
    model = null;
  };
  // the embedding is kept on the host only for a head beside it with no model to compare it in
  const decoder = new HFWeightsDecoder((file) => `${source}/${file}`, headAsEmbedding, (name) => headBeside && name === EMBEDDING && !model, headers?.meta.model.vocabSize);
  let refusal: unknown = null; // weightsFromHF's, at the first tensor it refuses
  try {
    for (const { file, reader, entry } of saved) {
      const stored = await reader.readTensor(entry).catch((e: unknown) => Promise.reject(unreadableWeights(source, e, file)));
      if (refusal) continue;
      let ours;
      try {
        ours = decoder.add(file, entry.name, stored);
      } catch (e) {
        refusal = e;
        refuse();
        continue;
      }
      if (!ours || !model) continue;
      try {
        uploadWeight(params!, ...ours, model.config.blockSize);
        onWeight?.(...ours);
      } catch {
        refuse(); // a check of loading's: its error comes from reading the files again its way
      }
      device().flush(); // its staging copy freed before the next is read
    }
    const files = shards.map(({ file, reader }) => ({ file, metadata: reader.metadata }));
    refuseOurs(files, source);
    if (refusal) throw refusal;
    const wte = headBeside && model ? params!.get(EMBEDDING)! : null;
    decoder.finish(wte ? { shape: [...wte.shape], data: (await wte.toArray()) as Float32Array } : undefined);
    const meta = hfCheckpointMeta(config, decoder.shapes, files, tokenizerFiles, source, (name) => saved.find((t) => unprefixed(t.entry.name) === name)!.file);
    return model && { ckpt: { meta, weights: new Map(), source }, model, tokenizer: tokenizerFromJSON(meta.tokenizer) };
  } catch (e) {
    refuse();
    throw e;
  }
}

/** A new model of files whose headers passed hfHeaders' checks, their names its parameters'; else null (modelFor's refusal of opts comes after the weights', hfCheckpoint's order, or from loading). */
function modelOrNull(headers: HFHeaders, opts: LoadOptions): GPT | null {
  let model: GPT;
  try {
    model = modelFor(headers.meta, opts);
  } catch {
    return null;
  }
  const params = model.stateDict();
  if (headers.weights.size === params.size && [...headers.weights.keys()].every((name) => params.has(name))) return model;
  model.dispose();
  return null;
}
