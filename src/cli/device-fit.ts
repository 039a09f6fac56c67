// Whether a model fits the adapter, checked once the device is open and before anything is
// allocated, so that an oversized --n-embd or --batch-size is an error naming the sizes and the
// limit rather than a createBuffer failure deep inside the first step (src/gpt/memory-plan.ts),
// and an --n-layer of 1e9 one naming its weights' bytes at once (modelSizeProblem), not a plan
// listing its layers for minutes.
// WebGPU tells no total memory: a run past it fails allocating (the pool's out-of-memory error),
// which then says whether --recompute's plan would fit under what the run held by then.
import { formatBytes } from '../gpt/buffer-fit.js';
import { checkPlanFits, describePlan, memoryPlan, type MemoryPlan, type PlanOptions } from '../gpt/memory-plan.js';
import { modelSizeProblem, type AdapterRoom, type GPTConfig } from '../gpt/model.js';
import { UsageError } from './flags.js';

export type FitOptions = Omit<PlanOptions, 'bindingLimit' | 'bufferLimit'> & AdapterRoom;

/** Throws where no model of `m`'s sizes fits the adapter, whatever it runs (modelSizeProblem: at once, whatever its layers). */
function checkModelSize(m: GPTConfig, room: AdapterRoom): void {
  const problem = modelSizeProblem(m, room);
  if (problem) throw new Error(problem);
}

function planFor(m: GPTConfig, batchSize: number, opts: Omit<FitOptions, 'memoryBound'>): MemoryPlan {
  const { limits, ...rest } = opts;
  const bufferLimit = limits.maxBufferSize ?? Infinity;
  return memoryPlan(m, batchSize, { ...rest, bindingLimit: Math.min(limits.maxStorageBufferBindingSize ?? Infinity, bufferLimit), bufferLimit });
}

/** Throws if a buffer of the model's plan is over the adapter's limits; returns the plan as a log line. */
export function checkModelFits(m: GPTConfig, batchSize: number, opts: FitOptions): string {
  checkModelSize(m, opts);
  const plan = planFor(m, batchSize, opts);
  checkPlanFits(plan, opts.limits);
  return describePlan(plan);
}

/**
 * What a generation of `newTokens` after `promptTokens` reaches: `positions`, its windows, and a KV
 * cache that grows to at most twice its context (src/nn/transformer.ts), within the block; a short
 * one fits larger batches than the whole block would. `forwardPositions`: the most one forward runs
 * (the prefill, or a re-encode of the context), within the block.
 */
export const generationExtent = (blockSize: number, promptTokens: number, newTokens: number): { positions: number; forwardPositions: number } => ({
  positions: Math.min(blockSize, 2 * (promptTokens + newTokens)),
  forwardPositions: Math.min(blockSize, promptTokens + newTokens),
});

/**
 * Throws unless `batch` sequences of `positions` fit the adapter for inference in `dtype` (float32
 * when absent), a generation's KV caches too where `kvCache` (its forwards of `forwardPositions`, its `sampling`'s tensors); a refusal that a batch of one would
 * not get names `flag`, which set the batch.
 */
export function checkInferenceFits(m: GPTConfig, batch: number, positions: number, flag: string, room: AdapterRoom, opts: Pick<PlanOptions, 'kvCache' | 'dtype' | 'forwardPositions' | 'sampling'> = {}): void {
  checkModelSize(m, room); // the whole model (its position embedding at the block), whatever the batch
  const refusal = (b: number): Error | null => {
    try {
      checkModelFits({ ...m, blockSize: positions }, b, { training: false, ...room, ...opts });
      return null;
    } catch (e) {
      return e as Error;
    }
  };
  const refused = refusal(batch);
  if (refused && batch > 1 && !refusal(1)) throw new UsageError(`flag ${flag} ${batch}: ${refused.message}; a smaller ${flag} fits`);
  if (refused) throw refused;
}

/**
 * `e`, a training run's error; where it ran out of GPU memory, with the run's memory plan total
 * (WebGPU tells no total memory, so no check before the run could refuse it), and, without
 * recompute, where the plan with recompute totals less than `heldBytes` (what the run held when an
 * allocation failed, that allocation included), a hint naming --recompute.
 */
export function withMemoryHint(e: unknown, m: GPTConfig, batchSize: number, opts: Omit<FitOptions, 'memoryBound'>, heldBytes: number): unknown {
  if (!(e instanceof Error) || !/out of GPU memory/.test(e.message)) return e;
  const now = planFor(m, batchSize, opts);
  e.message += `; the run's memory plan totals about ${formatBytes(now.bytes.total)}, more than this GPU has free (WebGPU does not tell how much it has): a smaller --batch-size (a larger --grad-accum keeps the tokens per step), --block-size or model needs less`;
  if (opts.recompute) return e;
  const recomputing = planFor(m, batchSize, { ...opts, recompute: true });
  if (recomputing.bytes.total >= Math.min(heldBytes, now.bytes.total)) return e; // a model too small for recompute to save anything too
  const activations = `activations ${formatBytes(recomputing.bytes.activations)} instead of ${formatBytes(now.bytes.activations)}`;
  e.message += `; --recompute would keep its memory plan to about ${formatBytes(recomputing.bytes.total)} (${activations}), under the ${formatBytes(heldBytes)} the run held when it failed`;
  return e;
}
