// Whether a model fits the adapter, checked once the device is open and before anything is
// allocated, so that an oversized --n-embd or --batch-size is an error naming the sizes and the
// limit rather than a createBuffer failure deep inside the first step (src/gpt/memory-plan.ts).
import { checkPlanFits, describePlan, memoryPlan, type PlanOptions } from '../gpt/memory-plan.js';
import type { GPTConfig } from '../gpt/model.js';

/** Throws if a buffer of the model's plan is over the adapter's limits; returns the plan as a log line. */
export function checkModelFits(m: GPTConfig, batchSize: number, opts: Omit<PlanOptions, 'bindingLimit'> & { limits: Record<string, number> }): string {
  const { limits, ...rest } = opts;
  const bindingLimit = Math.min(limits.maxStorageBufferBindingSize ?? Infinity, limits.maxBufferSize ?? Infinity);
  const plan = memoryPlan(m, batchSize, { ...rest, bindingLimit });
  checkPlanFits(plan, opts.limits);
  return describePlan(plan);
}
