// A model opened for inference by `gpt sample`, `gpt eval`, `gpt serve --api` and `gpt bench-generate`:
// the device opened, --dtype resolved there ('auto' asks the adapter), the batch checked against the
// adapter in that dtype before anything is uploaded, and for a generation in float16 the weights'
// float16 copies, cast once rather than at every token.
import { initDevice } from '../device/device.js';
import type { Checkpoint } from '../gpt/checkpoint.js';
import type { SamplingPlan } from '../gpt/memory-plan.js';
import { deviceRoom, type GPT, type GPTConfig } from '../gpt/model.js';
import type { TrainDtype } from '../gpt/trainer.js';
import { CastCache, type ComputeDtype } from '../nn/autocast.js';
import type { CheckpointHead } from '../node/checkpoint-head.js';
import { loadMerged, type AdapterToMerge } from './adapter-flag.js';
import { checkInferenceFits } from './device-fit.js';
import { dtypeFlag } from './train-flags.js';

/**
 * The batch an inference command runs: `batch` sequences of `positions` (the block when absent), in
 * forwards of `forwardPositions` (generationExtent's), with a generation's KV caches where `kvCache`
 * and its `sampling`'s tensors (penalties, logit bias, beam search's); `flag` set the batch.
 */
export interface InferenceBatch {
  dtype: TrainDtype;
  batch: number;
  flag: string;
  positions?: number;
  forwardPositions?: number;
  kvCache?: boolean;
  sampling?: SamplingPlan;
}

/** Opens the device and returns --dtype resolved on it, once `config` at `run`'s batch fits the adapter in that dtype. */
export async function checkOnDevice(config: GPTConfig, run: InferenceBatch): Promise<ComputeDtype> {
  await initDevice();
  const dtype = dtypeFlag(run.dtype);
  checkInferenceFits(config, run.batch, run.positions ?? config.blockSize, run.flag, deviceRoom(), { kvCache: run.kvCache, forwardPositions: run.forwardPositions, sampling: run.sampling, dtype });
  return dtype;
}

/**
 * The checkpoint's model on the device (each tensor uploaded as it is read; its moments read for
 * the checksum, not kept; a pruned model's weights zeroed where its masks are, the masks not kept), a peft adapter
 * (--adapter) merged into it, and the dtype it computes in,
 * if `run` fits the adapter (checkOnDevice).
 */
export async function openModel(head: CheckpointHead, run: InferenceBatch, adapter?: AdapterToMerge): Promise<{ model: GPT; ckpt: Checkpoint; dtype: ComputeDtype }> {
  const dtype = await checkOnDevice(head.meta.model, run);
  const { model, ckpt } = await loadMerged(head, { dropout: 0, moments: false, masks: false }, adapter); // a run training there may save meanwhile: its latest weights
  return { model, ckpt, dtype };
}

/** The float16 copies of the weights of `models` (a generation's: speculative decoding's draft runs too) a generation in `dtype` multiplies by (cast once, not at every token); none in float32. */
export const weightCasts = (models: readonly GPT[], dtype: ComputeDtype): CastCache | undefined =>
  dtype === 'float16' ? new CastCache(models.flatMap((m) => [...m.parameters()])) : undefined;

/** A model opened for generation: openModel's, with its weightCasts; dispose frees both. */
export interface GeneratingModel {
  model: GPT;
  dtype: ComputeDtype;
  casts: CastCache | undefined;
  dispose(): void;
}

/**
 * The checkpoint's model opened for generating `run` (openModel), its weights cast for it where it
 * computes in float16, and those of `draft` (speculative decoding's, run in the same dtype; the caller's to dispose).
 */
export async function openGenerator(head: CheckpointHead, run: InferenceBatch, adapter?: AdapterToMerge, draft?: GPT): Promise<GeneratingModel> {
  const { model, dtype } = await openModel(head, run, adapter);
  let casts: CastCache | undefined;
  try {
    casts = weightCasts(draft ? [model, draft] : [model], dtype);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return {
    model,
    dtype,
    casts,
    dispose() {
      casts?.dispose();
      model.dispose();
    },
  };
}
