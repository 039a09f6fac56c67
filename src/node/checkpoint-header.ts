// A checkpoint's description without its tensors (Node only): the metadata and the header's tensor
// names, dtypes and shapes, read from any checkpoint loadCheckpoint reads (a run directory, a bare
// .safetensors file, a Hugging Face GPT-2 directory). Only a safetensors file's first bytes are
// read, so that describing a 1.5 GB checkpoint is instant; a run directory's CRC-32 pass over its
// weights is made only when asked for (`verify`), and its pruning masks' values counted then.
import { basename, join } from 'node:path';
import { CHECKPOINT_FORMAT, decodeCheckpointMeta, isMoment, type CheckpointMeta, type PrunedWeights } from '../gpt/checkpoint.js';
import { hfTokenizerAndModel, hfVocabNote, openHFWeights } from '../gpt/hf/index.js';
import { EMBEDDING, HEAD, headIsEmbedding, isMaskBuffer, unprefixed } from '../gpt/hf/weights.js';
import { openSafetensors } from '../io/safetensors-source.js';
import type { SafetensorsEntry } from '../io/safetensors.js';
import { isMaskName, maskedCount } from '../nn/prune.js';
import { withCheckpointFiles, withWeightsOpen, type CheckpointManifest } from './checkpoint-files.js';
import { byCheckpointKind } from './checkpoint-kind.js';
import { openHFDirectory } from './hf-weights-files.js';
import { nanoGptTokenizer, openNanoGptFile } from './nanogpt-file.js';
import { nanoGptMeta, nanoGptShape, type NanoGptFile } from '../gpt/nanogpt.js';
import { pathExists, type PositionalFile } from './regular-files.js';
import { handleSource } from './safetensors-file.js';

export type CheckpointLayout = 'run directory' | 'safetensors file' | 'Hugging Face directory' | 'nanoGPT checkpoint';

/** One weights file: its name (in the checkpoint's directory) and size. */
export interface WeightsFileInfo {
  file: string;
  bytes: number;
}

/** What a checkpoint holds, known without reading a tensor. */
export interface CheckpointHeader {
  layout: CheckpointLayout;
  /** The metadata (a Hugging Face model's: its config and tokenizer, no training state). */
  meta: CheckpointMeta;
  /** Every tensor the header lists, by the name it is saved under. */
  tensors: SafetensorsEntry[];
  weightsFiles: WeightsFileInfo[];
  /** A run directory's manifest, and whether its CRC-32 was checked against the weights (verify). */
  manifest?: { weightsCrc32: string; verified: boolean; stalePresent: string[] };
  /** The pruning masks' count (0 of 0 without masks), where the weights were read (verify): their values, small beside the weights. */
  maskCounts?: PrunedWeights;
  /** What loading changes of the model in the file, as `gpt sample` warns it: a padded vocabulary cut (nanoGptMeta's note, hfVocabNote). */
  loadNote?: string;
  /** A nanoGPT checkpoint's iter_num and its config's batch, max_iters and dtype: what our metadata's trainer.step and train hold. */
  nanoGptRun?: Pick<NanoGptFile, 'iterNum' | 'batch' | 'maxIters' | 'dtype'>;
}

/** What each tensor of a checkpoint is, by its saved name (a Hugging Face model's with or without its `transformer.` prefix), as `gpt info` names it. */
export const ROLES = {
  parameters: 'parameters',
  int8Scales: 'quantization scales',
  pruningMasks: 'pruning masks',
  adamwMoments: 'AdamW moments',
  causalMaskBuffers: 'causal-mask buffers',
  tiedHeadCopy: 'LM head (tied copy)',
} as const;
export type TensorRole = keyof typeof ROLES;

/** Whether `header` holds a Hugging Face model's tied head alone (safetensors' save_model keeps lm_head.weight, drops wte.weight): the token embedding's parameter. */
const headSavedAlone = ({ tensors, layout }: Pick<CheckpointHeader, 'tensors' | 'layout'>) => layout === 'Hugging Face directory' && headIsEmbedding(tensors.map((t) => t.name));

/** The role of each of `header`'s tensors, in order. */
export function tensorRoles(header: Pick<CheckpointHeader, 'tensors' | 'layout'>): TensorRole[] {
  const headAlone = headSavedAlone(header);
  return header.tensors.map((t) => roleOf(t.name, header.layout, headAlone));
}

function roleOf(name: string, layout: CheckpointLayout, headAlone: boolean): TensorRole {
  if (isMoment(name)) return 'adamwMoments';
  if (isMaskName(name)) return 'pruningMasks';
  if (name.endsWith('.weight_scale')) return 'int8Scales';
  // PyTorch's layouts: GPT-2's (and nanoGPT's) causal-mask buffers and tied head saved beside the weights
  const torchLayout = layout === 'Hugging Face directory' || layout === 'nanoGPT checkpoint';
  if (torchLayout && isMaskBuffer(name)) return 'causalMaskBuffers';
  if (torchLayout && unprefixed(name) === HEAD && !headAlone) return 'tiedHeadCopy';
  return 'parameters';
}

/** A header's parameters by our names (configWeightsProblem's to compare with its config): no moments, masks, int8 scales, causal-mask buffers or tied head copy. */
export function headerParameters(header: Pick<CheckpointHeader, 'tensors' | 'layout'>): Map<string, SafetensorsEntry> {
  const headAlone = headSavedAlone(header);
  const ours = (saved: string) => (headAlone && unprefixed(saved) === HEAD ? EMBEDDING : unprefixed(saved));
  return new Map(header.tensors.filter((t) => roleOf(t.name, header.layout, headAlone) === 'parameters').map((t) => [ours(t.name), t]));
}

/** The header of the checkpoint at `path`; `verify` checks a run directory's weights against its recorded CRC-32 (reading them all). */
export async function readCheckpointHeader(path: string, { verify = false } = {}): Promise<CheckpointHeader> {
  const read = async (handle: PositionalFile, manifest: CheckpointManifest): Promise<CheckpointHeader> => ({
    layout: 'run directory',
    ...(await ourHeader(handle, path, manifest.weights, verify)),
    manifest: { weightsCrc32: manifest.weightsCrc32, verified: verify, stalePresent: await present(path, manifest.stale ?? []) },
  });
  return byCheckpointKind(path, {
    file: async (handle) => ({ layout: 'safetensors file', ...(await ourHeader(handle, path, basename(path))) }),
    torch: (handle) => nanoGptHeader(handle, path),
    hf: () => hfHeader(path),
    run: () => (verify ? withCheckpointFiles(path, read) : withWeightsOpen(path, read)),
  });
}

/** The metadata (every field checked, as loading checks it) and tensor list of one of our checkpoint files, open as `handle`, and if asked its masks' count. */
async function ourHeader(handle: PositionalFile, source: string, file: string, countMasks = false): Promise<Pick<CheckpointHeader, 'meta' | 'tensors' | 'weightsFiles' | 'maskCounts'>> {
  const bytes = await handleSource(handle);
  const reader = await openSafetensors(bytes).catch((e: Error) => {
    throw new Error(`${source}: not a readable safetensors file (${e.message})`);
  });
  const meta = decodeCheckpointMeta(reader.metadata, source);
  const maskCounts = countMasks ? maskedCount(new Map(Object.entries(await reader.readTensors(isMaskName)))) : undefined;
  return { meta, tensors: [...reader.entries], weightsFiles: [{ file, bytes: bytes.size }], ...(maskCounts && { maskCounts }) };
}

/** A Hugging Face GPT-2 directory's config, tokenizer and weights headers (model.safetensors, or every shard its index names, checked against it). */
async function hfHeader(dir: string): Promise<CheckpointHeader> {
  const { model, files, close } = await openHFDirectory(dir);
  try {
    const shards = await openHFWeights(files, dir);
    const entries = shards.flatMap(({ reader }) => reader.entries);
    const embedding = (name: string) => [EMBEDDING, HEAD].includes(unprefixed(name));
    // as loading makes it: a padded vocabulary cut; a larger tokenizer, or an embedding of other rows than config.json's, refused
    const metadata = shards.map(({ file, reader }) => ({ file, metadata: reader.metadata }));
    const { tokenizer, model: loaded } = hfTokenizerAndModel(metadata, files, dir, model, entries.find((e) => embedding(e.name))?.shape[0]);
    const note = hfVocabNote(model, loaded);
    return {
      layout: 'Hugging Face directory',
      meta: { format: CHECKPOINT_FORMAT, model: loaded, tokenizer: tokenizer.toJSON() },
      tensors: note ? entries.map((e) => (embedding(e.name) ? withShape(e, [loaded.vocabSize, ...e.shape.slice(1)]) : e)) : entries,
      weightsFiles: files.weights.map(({ file, source }) => ({ file, bytes: source.size })),
      ...(note && { loadNote: note }),
    };
  } finally {
    await close();
  }
}

/** nanoGPT's ckpt.pt's model_args, tokenizer (meta.pkl's or GPT-2's), best val loss and state dict's tensors, named as ours (its pickle read, no tensor but the loss). */
async function nanoGptHeader(handle: PositionalFile, path: string): Promise<CheckpointHeader> {
  const file = await openNanoGptFile(handle, path);
  const tokenizer = await nanoGptTokenizer(file, path);
  const { meta, note } = nanoGptMeta(file, tokenizer, path); // as loading makes it: a padded vocabulary cut
  const tensors = file.weights.entries.map((e) => withShape(e, nanoGptShape(e.name, e.shape, meta.model.vocabSize)));
  const weightsFiles = [{ file: basename(path), bytes: (await handle.stat()).size }];
  return { layout: 'nanoGPT checkpoint', meta, tensors, weightsFiles, ...(note && { loadNote: note }), nanoGptRun: { iterNum: file.iterNum, batch: file.batch, maxIters: file.maxIters, dtype: file.dtype } };
}

/** Those of `names` that are files in `dir`. */
async function present(dir: string, names: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const name of names) if (await pathExists(join(dir, name))) found.push(name);
  return found;
}

const numel = (shape: readonly number[]) => shape.reduce((n, d) => n * d, 1);

/** A tensor's entry as loading cuts it to `shape` (a padded vocabulary's embedding: its first rows), its bytes those rows'. */
const withShape = (e: SafetensorsEntry, shape: number[]): SafetensorsEntry => ({ ...e, shape, end: e.begin + ((e.end - e.begin) / Math.max(1, numel(e.shape))) * numel(shape) });
