// Whether a model fits the adapter, checked once the device is open and before anything is
// allocated, so that an oversized --n-embd or --batch-size is an error naming the sizes and the
// limit rather than a createBuffer failure deep inside the first step (src/gpt/memory-plan.ts).
import { checkPlanFits, describePlan, memoryPlan, type PlanOptions } from '../gpt/memory-plan.js';
import type { GPTConfig } from '../gpt/model.js';
import { UsageError } from './flags.js';

/** Throws if a buffer of the model's plan is over the adapter's limits; returns the plan as a log line. */
export function checkModelFits(m: GPTConfig, batchSize: number, opts: Omit<PlanOptions, 'bindingLimit'> & { limits: Record<string, number> }): string {
  const { limits, ...rest } = opts;
  const bindingLimit = Math.min(limits.maxStorageBufferBindingSize ?? Infinity, limits.maxBufferSize ?? Infinity);
  const plan = memoryPlan(m, batchSize, { ...rest, bindingLimit });
  checkPlanFits(plan, opts.limits);
  return describePlan(plan);
}

/**
 * The positions a generation of `newTokens` after `promptTokens` reaches: its windows, and a KV
 * cache that grows to at most twice its context (src/nn/transformer.ts), within the block; a short
 * one fits larger batches than the whole block would.
 */
export const generationPositions = (blockSize: number, promptTokens: number, newTokens: number): number => Math.min(blockSize, 2 * (promptTokens + newTokens));

/** Throws unless `batch` sequences of `positions` fit the adapter for inference; a refusal that a batch of one would not get names `flag`, which set the batch. */
export function checkInferenceFits(m: GPTConfig, batch: number, positions: number, flag: string, limits: Record<string, number>): void {
  const refusal = (b: number): Error | null => {
    try {
      checkModelFits({ ...m, blockSize: positions }, b, { training: false, limits });
      return null;
    } catch (e) {
      return e as Error;
    }
  };
  const refused = refusal(batch);
  if (refused && batch > 1 && !refusal(1)) throw new UsageError(`flag ${flag} ${batch}: ${refused.message}; a smaller ${flag} fits`);
  if (refused) throw refused;
}
