// Eval mode held by tasks in progress (generations, evaluations), counted per module: with two
// interleaved, the first to end must not put the module back into training under the other, nor
// the last leave it in eval when it was training.
import type { Module } from './module.js';

const holders = new WeakMap<Module, { count: number; wasTraining: boolean }>();

/** Puts `m` in eval mode until the matching leaveEval. */
export function enterEval(m: Module): void {
  const open = holders.get(m);
  if (open) open.count++;
  else holders.set(m, { count: 1, wasTraining: m.training });
  m.eval();
}

/** Ends an enterEval; the last one restores the mode `m` had before the first. */
export function leaveEval(m: Module): void {
  const open = holders.get(m)!;
  if (--open.count) return;
  holders.delete(m);
  m.train(m.training || open.wasTraining); // a train() made meanwhile stands
}
