// A checkpoint file made a model with each weight uploaded to the GPU as it is read (the page's
// Open): the host holds one weight at a time, not every weight until the last is read (readCheckpoint
// then modelFromCheckpoint hold about the file's size). The model is new and the caller's until it
// is returned: on any problem it is freed, and nothing it would replace has been touched.
import { configWeightsProblem, decodeCheckpointMeta, firstRows, checkpointTensor, isMoment, modelFromCheckpoint, momentsProblem, nonFiniteProblem, readCheckpoint, type Checkpoint, type CheckpointWeight } from './checkpoint.js';
import type { Tensor } from '../ops/index.js';
import { openSafetensors, type ByteSource } from '../io/safetensors-source.js';
import { checkStateEntry, loadValues } from '../nn/module.js';
import { isMaskName, loadMasks } from '../nn/prune.js';
import { GPT } from './model.js';
import { tokenizerFromJSON, type Tokenizer } from './tokenizer/index.js';

/** A loaded model, its tokenizer, and its checkpoint's metadata and optimizer moments (its weights are on the GPU, not here). */
export interface UploadedCheckpoint {
  ckpt: Checkpoint;
  model: GPT;
  tokenizer: Tokenizer;
}

/**
 * modelFromCheckpoint(await readCheckpoint(file, source)), each weight uploaded as it is read. A file
 * either refuses is read again their way, for their one-line error (and, should it have changed in
 * between into one they accept, their model): a damaged file costs a second read, never a
 * different message. The moments (for resuming) stay on the host, as readCheckpoint's.
 */
export const readCheckpointModel = (file: ByteSource, source: string): Promise<UploadedCheckpoint> => uploadedOr(uploadCheckpoint(file, source), () => readCheckpoint(file, source));

/** The model `upload` made, else (it refused the file: null or an error) modelFromCheckpoint of what `read` reads, or `read`'s error. */
export async function uploadedOr(upload: Promise<UploadedCheckpoint | null>, read: () => Promise<Checkpoint>): Promise<UploadedCheckpoint> {
  const uploaded = await upload.catch(() => null);
  if (uploaded) return uploaded;
  const ckpt = await read();
  return { ckpt, ...modelFromCheckpoint(ckpt) };
}

/** Uploads the weight `name` into its parameter among `params` (position embeddings cut to `blockSize` rows, as modelFromCheckpoint does), checked as loadStateDict checks it. */
export function uploadWeight(params: Map<string, Tensor>, name: string, t: CheckpointWeight, blockSize: number): void {
  const p = params.get(name)!;
  const values = name.startsWith('wpe.') ? firstRows(t, blockSize) : t;
  checkStateEntry(name, values, p);
  loadValues(values, p);
}

/** Frees a model refused before it was returned. */
export function dispose(model: GPT): null {
  model.dispose();
  return null;
}

/** The model of a checkpoint every check passes, or null where the header already shows one fails; throws at a tensor refused. */
async function uploadCheckpoint(file: ByteSource, source: string): Promise<UploadedCheckpoint | null> {
  const reader = await openSafetensors(file);
  const meta = decodeCheckpointMeta(reader.metadata, source);
  // what decodeCheckpoint and loadStateDict check of the shapes and names, from the header: before a model is made
  const shapes = (moments: boolean) => new Map(reader.entries.filter((e) => isMoment(e.name) === moments).map((e) => [e.name, e.shape]));
  const weights = new Map([...shapes(false)].map(([name, shape]) => [name, { shape }]));
  // (whether they fail is all that matters here: a refused file is read again for its message)
  if (configWeightsProblem(meta.model, weights, (k) => k, 'the file') ?? momentsProblem(weights, shapes(true))) return null;
  const model = new GPT(meta.model);
  try {
    const params = model.stateDict();
    const loaded = [...weights.keys()].filter((name) => !isMaskName(name));
    if (loaded.length !== params.size || loaded.some((name) => !params.has(name))) return dispose(model);
    const moments = { m: new Map<string, Float32Array>(), v: new Map<string, Float32Array>() };
    for (const entry of reader.entries) {
      const { name } = entry;
      const stored = await reader.readTensor(entry);
      if (nonFiniteProblem([[name, stored]])) return dispose(model);
      const t = checkpointTensor(name, stored, meta, source);
      if (isMoment(name)) moments[name[6] as 'm' | 'v'].set(name.slice(8), t.data as Float32Array);
      else if (isMaskName(name)) loadMasks(model, new Map([[name, t]]));
      else uploadWeight(params, name, t, meta.model.blockSize);
    }
    const ckpt: Checkpoint = { meta, weights: new Map(), ...(moments.m.size && { optimizer: moments }), source };
    return { ckpt, model, tokenizer: tokenizerFromJSON(meta.tokenizer) };
  } catch (e) {
    model.dispose();
    throw e;
  }
}
