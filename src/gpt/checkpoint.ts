// A GPT checkpoint as one self-contained safetensors file: the weights under their GPT-2 names,
// optionally AdamW's moments under `optim.m.<name>` / `optim.v.<name>`, and in the metadata the
// model config, the tokenizer, and (for resuming) the training config and trainer state. Platform
// free: Node writes it atomically through src/io/checkpoint-files.ts, the browser as a download.
import { parseSafetensors, serializeSafetensors, type SafetensorsTensor } from '../io/safetensors.js';
import type { AdamW } from '../optim/adamw.js';
import type { Tensor } from '../tensor/tensor.js';
import { tokenizerFromJSON, type Tokenizer, type TokenizerJSON } from './tokenizer/index.js';
import { GPT, validateConfig, type GPTConfig } from './model.js';
import type { TrainConfig, TrainerState } from './trainer.js';

export const CHECKPOINT_FORMAT = 'webgpu-gpt-checkpoint/1';

export interface CheckpointMeta {
  format: typeof CHECKPOINT_FORMAT;
  model: GPTConfig;
  tokenizer: TokenizerJSON;
  train?: TrainConfig;
  trainer?: TrainerState;
  bestVal?: number;
}

export interface Checkpoint {
  meta: CheckpointMeta;
  weights: Map<string, { shape: number[]; data: Float32Array }>;
  /** AdamW moments by parameter name, when the checkpoint was saved for resuming. */
  optimizer?: { m: Map<string, Float32Array>; v: Map<string, Float32Array> };
}

async function read(t: Tensor): Promise<Float32Array> {
  return (await t.toArray()) as Float32Array;
}

export async function encodeCheckpoint(
  model: GPT,
  tokenizer: Tokenizer,
  extra: { optimizer?: AdamW; train?: TrainConfig; trainer?: TrainerState; bestVal?: number } = {},
): Promise<Uint8Array> {
  const tensors: Record<string, SafetensorsTensor> = {};
  const named = [...model.namedParameters()];
  for (const [name, p] of named) tensors[name] = { dtype: 'F32', shape: [...p.shape], data: await read(p) };
  if (extra.optimizer) {
    const index = new Map(extra.optimizer.params.map((p, i) => [p, i]));
    const { m, v } = await extra.optimizer.readMoments();
    for (const [name, p] of named) {
      const i = index.get(p);
      if (i === undefined) continue;
      tensors[`optim.m.${name}`] = { dtype: 'F32', shape: [...p.shape], data: m[i]! };
      tensors[`optim.v.${name}`] = { dtype: 'F32', shape: [...p.shape], data: v[i]! };
    }
  }
  const meta: CheckpointMeta = {
    format: CHECKPOINT_FORMAT,
    model: model.config,
    tokenizer: tokenizer.toJSON(),
    ...(extra.train && { train: extra.train }),
    ...(extra.trainer && { trainer: extra.trainer }),
    ...(extra.bestVal !== undefined && { bestVal: extra.bestVal }),
  };
  return serializeSafetensors(tensors, { webgpu_gpt: JSON.stringify(meta) });
}

export function decodeCheckpoint(bytes: Uint8Array, source = 'checkpoint'): Checkpoint {
  let parsed;
  try {
    parsed = parseSafetensors(bytes);
  } catch (e) {
    throw new Error(`${source}: not a readable safetensors file (${(e as Error).message})`);
  }
  const raw = parsed.metadata.webgpu_gpt;
  if (!raw) throw new Error(`${source}: safetensors file without webgpu-gpt metadata (config and tokenizer)`);
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(raw) as CheckpointMeta;
  } catch (e) {
    throw new Error(`${source}: corrupt metadata (${(e as Error).message})`);
  }
  if (meta.format !== CHECKPOINT_FORMAT) throw new Error(`${source}: unknown checkpoint format ${JSON.stringify(meta.format)}, expected ${CHECKPOINT_FORMAT}`);
  validateConfig(meta.model);
  const weights = new Map<string, { shape: number[]; data: Float32Array }>();
  const m = new Map<string, Float32Array>();
  const v = new Map<string, Float32Array>();
  for (const [name, t] of Object.entries(parsed.tensors)) {
    if (!(t.data instanceof Float32Array)) throw new Error(`${source}: tensor '${name}' has dtype ${t.dtype}, expected a float type`);
    if (name.startsWith('optim.m.')) m.set(name.slice(8), t.data);
    else if (name.startsWith('optim.v.')) v.set(name.slice(8), t.data);
    else weights.set(name, { shape: t.shape, data: t.data });
  }
  return { meta, weights, ...(m.size && { optimizer: { m, v } }) };
}

/** A model with the checkpoint's config and weights (shape-checked by loadStateDict). */
export function modelFromCheckpoint(ckpt: Checkpoint, opts: { dropout?: number } = {}): { model: GPT; tokenizer: Tokenizer } {
  const config = { ...ckpt.meta.model, ...(opts.dropout !== undefined && { dropout: opts.dropout }) };
  const model = new GPT(config);
  try {
    model.loadStateDict(ckpt.weights);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, tokenizer: tokenizerFromJSON(ckpt.meta.tokenizer) };
}

/** Puts saved AdamW moments back (for resuming). */
export function restoreOptimizer(ckpt: Checkpoint, model: GPT, optimizer: AdamW): void {
  if (!ckpt.optimizer) throw new Error('resume: the checkpoint has no optimizer state (it was saved for inference only)');
  const names = new Map([...model.namedParameters()].map(([name, p]) => [p, name]));
  const moments = optimizer.params.map((p) => {
    const name = names.get(p)!;
    const m = ckpt.optimizer!.m.get(name);
    const v = ckpt.optimizer!.v.get(name);
    if (!m || !v || m.length !== p.size || v.length !== p.size) throw new Error(`resume: optimizer state for '${name}' is missing or has the wrong size`);
    return { m, v };
  });
  optimizer.loadMoments(moments.map((x) => x.m), moments.map((x) => x.v));
}
