// A Hugging Face GPT-2 model's weights files read a tensor at a time: what hfCheckpoint checks that
// their headers alone show (names, shapes, shards, tokenizer), before any tensor is read, then each
// weight read as ours when its turn comes. For readers that hold one tensor, never the model:
// uploadHF (to the GPU) and gpt serve (as our checkpoint file's bytes, hfCheckpointLayout).
import { CHECKPOINT_FORMAT, CHECKPOINT_KEY, checkpointMetadata, configWeightsProblem, type CheckpointMeta } from '../checkpoint.js';
import type { GPTConfig } from '../model.js';
import { layoutPendingSafetensors, type PendingSafetensorsLayout, type SafetensorsEntry, type SafetensorsTensor } from '../../io/safetensors.js';
import type { SafetensorsReader } from '../../io/safetensors-source.js';
import { HF_FILES, hfTokenizerAndModel, type HFTokenizerFiles, type HFWeightsReader } from './index.js';
import { shardIndexProblem } from './shards.js';
import { EMBEDDING, gpt2ShapeProblem, HEAD, headIsEmbedding, hfWeightShape, isMaskBuffer, unprefixed, weightsFromHF } from './weights.js';

/** One tensor a GPT-2 weights file saves (causal-mask buffers aside), with the file it is in. */
export interface SavedHFTensor {
  file: string;
  reader: SafetensorsReader;
  entry: SafetensorsEntry;
}

/** What the headers of a GPT-2 model's weights files give: our checkpoint's metadata, and the tensors saved, in file order (the tied head too). */
export interface HFHeaders {
  meta: CheckpointMeta;
  saved: SavedHFTensor[];
  /** Our weights' names and shapes (the head left out). */
  weights: Map<string, { shape: number[] }>;
  /** Whether the tied head is saved in place of the token embedding (headIsEmbedding): read as it. */
  headAsEmbedding: boolean;
}

/**
 * The headers of GPT-2 weights files (model.safetensors, or every shard in the index's order, with
 * the index's weight_map), checked as hfCheckpoint checks them; null where a check fails (the
 * caller reads the files hfCheckpoint's way for its one-line error).
 */
export function hfHeaders(config: GPTConfig, shards: HFWeightsReader[], tokenizerFiles: HFTokenizerFiles, source: string, weightMap: ReadonlyMap<string, string> | null): HFHeaders | null {
  if (shards.some((s) => s.reader.metadata[CHECKPOINT_KEY] !== undefined)) return null;
  const saved = savedTensors(shards);
  const headAsEmbedding = headIsEmbedding(saved.map(({ entry }) => entry.name));
  // as ours: a Conv1D weight transposed
  const weights = new Map(saved.map(({ entry }) => [unprefixed(entry.name), { shape: hfWeightShape(unprefixed(entry.name), entry.shape) }]));
  if (weights.size !== saved.length) return null; // a name saved twice: with the prefix and without, or in two shards
  if (headAsEmbedding) weights.set(EMBEDDING, weights.get(HEAD)!);
  if (weightMap && shardIndexProblem(weightMap, shards)) return null;
  weights.delete(HEAD);
  if (configWeightsProblem(config, weights, (k) => k, HF_FILES.weights) || gpt2ShapeProblem(config, weights)) return null;
  const { tokenizer, model } = hfTokenizerAndModel(shards.map(({ file, reader }) => ({ file, metadata: reader.metadata })), tokenizerFiles, source, config);
  weights.set(EMBEDDING, { shape: [model.vocabSize, config.nEmbd] }); // a padded vocabulary's cut, as read
  return { meta: { format: CHECKPOINT_FORMAT, model, tokenizer: tokenizer.toJSON() }, saved, weights, headAsEmbedding };
}

/** hfHeaders, or null where it throws as well (the tokenizer's error: hfCheckpoint gives it after the weights'). */
export function checkedHFHeaders(...args: Parameters<typeof hfHeaders>): HFHeaders | null {
  try {
    return hfHeaders(...args);
  } catch {
    return null;
  }
}

/** The tensors GPT-2 weights files save, causal-mask buffers aside, in file order. */
export const savedTensors = (shards: HFWeightsReader[]): SavedHFTensor[] =>
  shards.flatMap(({ file, reader }) => reader.entries.filter((e) => !isMaskBuffer(e.name)).map((entry) => ({ file, reader, entry })));

/**
 * One saved tensor read now, and as our weight (weightsFromHF of it alone: its name, dtype and
 * values checked, a Conv1D weight transposed, the token embedding cut to `vocabRows`), or none for
 * the tied head.
 */
export async function readHFTensor({ file, reader, entry }: SavedHFTensor, source: string, headAsEmbedding: boolean, vocabRows?: number): Promise<{ stored: SafetensorsTensor; ours?: [string, { shape: number[]; data: Float32Array }] }> {
  const stored = await reader.readTensor(entry);
  const [ours] = weightsFromHF([{ file, tensors: { [entry.name]: stored }, metadata: reader.metadata }], (f) => `${source}/${f}`, headAsEmbedding, vocabRows);
  return ours ? { stored, ours } : { stored };
}

/**
 * The checkpoint file hfCheckpoint's checkpoint of these headers encodes to (checkpointSafetensors'
 * bytes), laid out from the headers: each weight is read and converted when its bytes are asked
 * for, so a server sending it holds one tensor, not the model (gpt2-xl's 6 GB in float32).
 */
export function hfCheckpointLayout({ meta, saved, weights, headAsEmbedding }: HFHeaders, source: string): PendingSafetensorsLayout {
  const ours = (t: SavedHFTensor) => (headAsEmbedding && unprefixed(t.entry.name) === HEAD ? EMBEDDING : unprefixed(t.entry.name));
  const tensors = saved.filter((t) => ours(t) !== HEAD).map((t) => {
    const name = ours(t);
    return { name, dtype: 'F32' as const, shape: weights.get(name)!.shape, read: async () => (await readHFTensor(t, source, headAsEmbedding, meta.model.vocabSize)).ours![1].data };
  });
  return layoutPendingSafetensors(tensors, checkpointMetadata(meta));
}
