// --adapter DIR of `gpt sample`, `gpt eval`, `gpt train --init-from PATH`, `gpt serve --api`,
// `gpt bench-generate`, `gpt export` and `gpt quantize`: a peft LoRA adapter directory (src/gpt/hf/peft.ts; a hub id is fetched into
// the hub's cache first, hub-flags.ts, and names its snapshot directory here), read and checked against
// the checkpoint's header before the device opens, then merged into the model as it loads
// (W += (alpha/r)·B·A), as the adapters of our own LoRA runs are.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { attachPeftAdapter, PEFT_FILES, peftAdapterProblem, type PeftAdapter } from '../gpt/hf/peft.js';
import type { GPT } from '../gpt/model.js';
import { isMaskName } from '../nn/prune.js';
import type { LoadOptions, UploadedCheckpoint } from '../gpt/checkpoint-upload.js';
import { loadHeadModel, type CheckpointHead } from '../node/checkpoint-head.js';
import { readPeftAdapter } from '../node/peft-adapter-dir.js';
import { checkpointFileIn } from './path-flags.js';
import { UsageError } from './usage-error.js';

export const ADAPTER_DOC = "a peft LoRA adapter directory (adapter_config.json + adapter_model.safetensors or older peft's adapter_model.bin: PeftModel.save_pretrained's), or the Hugging Face hub id of one (user/my-lora@revision) to download into the hub's cache, merged into the model as it loads";

/** An adapter to merge, and the directory it came from (for errors). */
export interface AdapterToMerge {
  dir: string;
  adapter: PeftAdapter;
}

/** The adapter in `dir` ('' : none), once it fits the model of `head` (whose own LoRA adapters are merged before it): refused before the device opens. */
export async function readAdapterFlag(dir: string, head: CheckpointHead): Promise<AdapterToMerge | undefined> {
  if (!dir) return undefined;
  const model = existsSync(join(dir, PEFT_FILES.config)) ? null : checkpointFileIn(dir);
  if (model) throw new UsageError(`flag --adapter takes a peft adapter directory (${PEFT_FILES.config}), and ${dir} is a checkpoint (${model}): give it as --init-from, or write a LoRA run's adapters with gpt export --adapters --to DIR`);
  const adapter = await readPeftAdapter(dir);
  const { lora: _, ...base } = head.meta.model;
  const problem = peftAdapterProblem(base, adapter, dir, head.tensors.find(({ name }) => isMaskName(name))?.name);
  if (problem) throw new Error(problem);
  return { dir, adapter };
}

/** Merges `toMerge` (if any) into `model`'s weights: the model stays a plain GPT. */
export function mergeAdapter(model: GPT, toMerge: AdapterToMerge | undefined): void {
  if (!toMerge) return;
  attachPeftAdapter(model, toMerge.adapter, toMerge.dir);
  model.mergeLoRA();
}

/**
 * The model of the checkpoint `head` describes, loaded for use rather than to resume (loadHeadModel's
 * latest save, its own LoRA adapters merged), `toMerge` (if any) merged after them; freed where that fails.
 */
export async function loadMerged(head: CheckpointHead, opts: LoadOptions & { moments: false }, toMerge: AdapterToMerge | undefined): Promise<UploadedCheckpoint> {
  const loaded = await loadHeadModel(head, opts, true);
  try {
    mergeAdapter(loaded.model, toMerge); // a pruned model's refused from its header (readAdapterFlag)
  } catch (e) {
    loaded.model.dispose();
    throw e;
  }
  return loaded;
}
