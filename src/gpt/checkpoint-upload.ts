// A checkpoint file made a model with each tensor uploaded to the GPU as it is read (the page's
// Open, Node's loads): the host holds one tensor at a time, not every tensor until the last is read
// (readCheckpoint then modelFromCheckpoint hold about the file's size, 2/3 of it AdamW's moments in
// a resumable checkpoint). The model and moments are new and the caller's once returned: on any
// problem before that they are freed, and nothing they would replace has been touched.
import { configWeightsProblem, firstRows, isMoment, modelFor, modelFromCheckpoint, momentsProblem, openCheckpoint, readCheckpoint, type Checkpoint, type CheckpointMeta, type CheckpointWeight, type ModelOptions } from './checkpoint.js';
import { device } from '../device/device.js';
import { tensor, type Tensor } from '../ops/index.js';
import { keep } from '../tensor/scope.js';
import type { ByteSource } from '../io/safetensors-source.js';
import { checkStateEntry, loadValues } from '../nn/module.js';
import { applyMasks, dropMasks, isMaskName, loadMasks } from '../nn/prune.js';
import { deviceRoom, GPT, modelSizeProblem } from './model.js';
import { tokenizerFromJSON, type Tokenizer } from './tokenizer/index.js';

/** A loaded model, its tokenizer, its checkpoint's metadata, and its AdamW moments (all on the GPU, not here). */
export interface UploadedCheckpoint {
  /** The metadata, and of the tensors only the pruning masks (gpt eval counts them; the model has its own copies). */
  ckpt: Checkpoint;
  model: GPT;
  tokenizer: Tokenizer;
  /**
   * The moments (for resuming), uploaded as they were read: the holder's to free (disposeUploaded)
   * unless an optimizer adopts them (AdamW's constructor, given checkpointMoments' list, frees each
   * once copied); restoreOptimizer copies them and leaves them.
   */
  moments?: MomentTensors;
}

/** A checkpoint's AdamW moments on the GPU, by parameter name. */
export interface MomentTensors {
  m: Map<string, Tensor>;
  v: Map<string, Tensor>;
}

/** Frees a loaded checkpoint's moments (none: nothing to do). */
export function disposeMoments(moments: MomentTensors | undefined): void {
  for (const t of [...(moments?.m.values() ?? []), ...(moments?.v.values() ?? [])]) t.dispose();
}

/** Frees everything a load made: for a loaded checkpoint refused after all (its file's checksum disagrees). */
export function disposeUploaded({ model, moments }: Pick<UploadedCheckpoint, 'model' | 'moments'>): void {
  model.dispose();
  disposeMoments(moments);
}

/**
 * How a checkpoint's model is made (modelFromCheckpoint's options), whether its moments are wanted
 * (for resuming: by default) or only read and checked (inference), and who is shown each weight
 * (masks too, not moments) as loadCheckpoint's `weights` would hold it, as it streams by (a weight
 * may be shown again where a refused load is read again: by name, the last one counts). `masks`
 * false (inference, a teacher: no optimizer step, which is all they are kept for) zeroes the weights
 * a pruned model's masks prune without keeping the masks on the GPU: never all of them beside the
 * weights, which they would double.
 */
export interface LoadOptions extends ModelOptions {
  moments?: boolean;
  masks?: boolean;
  onWeight?: (name: string, weight: CheckpointWeight) => void;
}

/**
 * modelFromCheckpoint(await readCheckpoint(file, source), opts), each tensor uploaded as it is read,
 * the moments too (unless `moments` is false). A file readCheckpoint refuses gives its error from
 * that one read (each tensor checked as it does, one at a time); one only loading refuses (names,
 * values loadStateDict or loadMasks check) is read again their way, for their one-line error (and,
 * should it have changed in between into one they accept, their model): never a different message.
 */
export const readCheckpointModel = async (file: ByteSource, source: string, opts: LoadOptions = {}): Promise<UploadedCheckpoint> =>
  (await uploadCheckpoint(file, source, opts)) ?? uploadedCheckpoint(await readCheckpoint(file, source), opts);

/** A checkpoint read to the host, put on the GPU as readCheckpointModel leaves it: its model made, its moments uploaded (and no longer held here). */
export function uploadedCheckpoint({ optimizer, ...ckpt }: Checkpoint, { moments: wanted = true, masks: keepMasks = true, onWeight, ...opts }: LoadOptions = {}): UploadedCheckpoint {
  const made = modelFromCheckpoint(ckpt, opts);
  if (!keepMasks) dropMasks(made.model); // read to the host whole: on this rare path (a load refused, read again) they were on the GPU
  for (const [name, w] of ckpt.weights) onWeight?.(name, w);
  const moments = optimizer && wanted && { m: uploadedMap(optimizer.m), v: uploadedMap(optimizer.v) };
  const masks = new Map([...ckpt.weights].filter(([name]) => isMaskName(name)));
  return { ckpt: { ...ckpt, weights: masks }, ...made, ...(moments && { moments }) };
}

const uploadedMap = (host: Map<string, Float32Array>) => new Map([...host].map(([name, data]) => [name, keep(tensor(data, [data.length]))]));

/** Weight `t` zeroed where `mask` (its mask, read before it; none: as it is) is 0, as its layer's mask would zero it once uploaded. */
function maskedBy(t: CheckpointWeight, mask: CheckpointWeight | undefined): CheckpointWeight {
  return mask ? { ...t, data: Float32Array.from(t.data, (x, i) => (mask.data[i] === 0 ? 0 : x)) } : t;
}

/** Uploads the weight `name` into its parameter among `params` (position embeddings cut to `blockSize` rows, as modelFromCheckpoint does), checked as loadStateDict checks it. */
export function uploadWeight(params: Map<string, Tensor>, name: string, t: CheckpointWeight, blockSize: number): void {
  const p = params.get(name)!;
  const values = name.startsWith('wpe.') ? firstRows(t, blockSize) : t;
  checkStateEntry(name, values, p);
  loadValues(values, p);
}

/**
 * The model of a checkpoint every check passes; readCheckpoint's error where it refuses the file,
 * every tensor checked as it checks them (after a refusal the rest only checked, for its verdict,
 * whose precedence looks at every tensor); null where only loading would refuse it, for the caller
 * to read again for that error. Each tensor's upload is submitted before the next is read: the
 * staging copies Dawn makes of them are freed as the load goes (else they held the whole file).
 */
async function uploadCheckpoint(file: ByteSource, source: string, { moments: wanted = true, masks: keepMasks = true, onWeight, ...opts }: LoadOptions): Promise<UploadedCheckpoint | null> {
  const { entries, read, decoder } = await openCheckpoint(file, source, false);
  const { meta } = decoder;
  // what decodeCheckpoint and loadStateDict check of the shapes and names, from the header: before a model is made
  const shapes = (moments: boolean) => new Map(entries.filter((e) => isMoment(e.name) === moments).map((e) => [e.name, e.shape]));
  const weights = new Map([...shapes(false)].map(([name, shape]) => [name, { shape }]));
  const loaded = [...weights.keys()].filter((name) => !isMaskName(name));
  const fits = !(configWeightsProblem(meta.model, weights, (k) => k, 'the file') ?? momentsProblem(weights, shapes(true)));
  if (fits) refuseModelPastAdapter(meta, opts, source);
  let model: GPT | null = fits ? modelOrNull(meta, opts) : null;
  const params = model?.stateDict();
  const moments: MomentTensors = { m: new Map(), v: new Map() };
  const masks: Checkpoint['weights'] = new Map();
  const refuse = () => {
    if (model) disposeUploaded({ model, moments });
    model = null;
  };
  if (!params || loaded.length !== params.size || loaded.some((name) => !params.has(name))) refuse();
  try {
    for (const entry of entries) {
      const { name } = entry;
      const t = decoder.add(name, await read(entry));
      if (!t) refuse();
      if (!model || !t) continue; // read on for readCheckpoint's verdict
      try {
        if (isMoment(name)) {
          if (wanted) moments[name[6] as 'm' | 'v'].set(name.slice(8), keep(tensor(t.data, [t.data.length])));
        } else {
          onWeight?.(name, t);
          if (isMaskName(name)) {
            (keepMasks ? loadMasks : applyMasks)(model, new Map([[name, t]]));
            masks.set(name, t);
          } else uploadWeight(params!, name, maskedBy(t, masks.get(`${name}_mask`)), model.config.blockSize);
        }
      } catch {
        refuse(); // a check of loading's: its error comes from reading the file again its way
      }
      device().flush();
    }
    decoder.finish();
  } catch (e) {
    refuse();
    throw e;
  }
  return model && { ckpt: { meta, weights: masks, source }, model, tokenizer: tokenizerFromJSON(meta.tokenizer), ...(moments.m.size && { moments }) };
}

/**
 * Throws where no adapter room holds the model of `meta` (made with `opts`): said from the header,
 * before a weight is read. A load read on for the file's own verdict read every weight to end in
 * this refusal (a 75 GB file for minutes, and then again; a hub model's gigabytes over the network).
 */
export function refuseModelPastAdapter(meta: CheckpointMeta, opts: ModelOptions, source: string): void {
  const { blockSize } = meta.model;
  const cut = Number.isInteger(opts.blockSize) && opts.blockSize! >= 1 ? Math.min(opts.blockSize!, blockSize) : blockSize; // modelFor's, where it takes it
  const size = modelSizeProblem({ ...meta.model, blockSize: cut }, deviceRoom());
  if (size) throw new RangeError(`${source}: ${size}`);
}

/** A new model for the checkpoint, or null where modelFor refuses `opts` (modelFromCheckpoint gives that error, once readCheckpoint has had its say). */
function modelOrNull(meta: Checkpoint['meta'], opts: ModelOptions): GPT | null {
  try {
    return modelFor(meta, opts);
  } catch {
    return null;
  }
}
