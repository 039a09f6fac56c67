// Eval mode held by tasks in progress (generations, evaluations), counted per module: with two
// interleaved, the first to end must not put the module back into training under the other, nor
// the last leave it in eval when it was training. A train() or eval() the caller makes meanwhile
// is the mode the last to end leaves.

/** A Module as seen from here (module.ts imports this file: a type import would make a cycle). */
interface Module {
  training: boolean;
  modules(): Iterable<{ training: boolean }>;
  train(on: boolean): unknown;
}

const holders = new WeakMap<Module, { count: number; restore: boolean }>();

/** Puts `m` in eval mode until the matching leaveEval. */
export function enterEval(m: Module): void {
  const open = holders.get(m);
  const training = m.training;
  // not m.eval(): that is a mode a caller chose (modeChosen), which the last leaveEval keeps
  for (const child of m.modules()) child.training = false;
  if (open) open.count++;
  else holders.set(m, { count: 1, restore: training });
}

/** Module.train(on) of `m`: if a task holds it in eval, the mode the last one to end restores. */
export function modeChosen(m: Module, on: boolean): void {
  const open = holders.get(m);
  if (open) open.restore = on;
}

/** Ends an enterEval; the last one restores the mode `m` had before the first, or was given since. */
export function leaveEval(m: Module): void {
  const open = holders.get(m)!;
  if (--open.count) return;
  holders.delete(m);
  m.train(open.restore);
}
