// A training run's log.jsonl read back as loss curves, for `gpt plot`. The lines are written by
// webgpu-gpt/node's RunLog (for `gpt train`, the parity benchmark, library code): JSON objects of
// type "train" (step, loss, ...) or "eval" (step, train, val), each naming its run (an id a resumed
// run keeps) and the wall-clock time, and "resume" where `gpt train --init-from resume` continued a
// run. Platform-free: the text comes from the caller.

/**
 * A loss at a step (for a training loss, the step its weights had reached: trainedStep's), and the
 * run's training time to it in seconds (null when the log has no times):
 * the time since its first record, less each time it was stopped (from its last record before a
 * "resume" record to that record: a crash, or a finished run continued later).
 */
export interface LossPoint {
  step: number;
  seconds: number | null;
  loss: number;
  /** Records of its curve whose loss was not finite came before it: its line breaks there. */
  afterGap?: true;
}

/**
 * The step whose weights a logged training loss was computed with: a record's `step` (the Trainer's
 * step) counts the update that loss drove, so step 1's loss is the initial weights', which the
 * evaluation at step 0 measured. Drawn there, as nanoGPT's 'iter N: loss' pairs with its 'step N'
 * evaluation, a curve's train and val points at a step are the same weights'.
 */
export const trainedStep = (loggedStep: number): number => loggedStep - 1;

/** One run's curves: the logged training loss, and the evaluated val and train losses. */
export interface RunCurves {
  run: string;
  train: LossPoint[];
  val: LossPoint[];
  /** The evaluations' train loss: against val at the same weights, where overfitting shows. */
  evalTrain: LossPoint[];
  /** Its train and eval records left out, their loss not a finite number (null: a diverged step's NaN, as JSON writes it). */
  unplotted: { train: number; eval: number };
}

/** A line of a log that is no record: the log is not one RunLog wrote (a line cut short is the last one only: the log is appended to a line at a time). */
export class RunLogError extends Error {}

/**
 * The runs of a log read a line at a time (in pieces, never whole), in order of their first record:
 * `line` takes line `i` (from 0), `last` where no newline ends it; `source` names the log in errors
 * and in the `note` told when a last line cut short is left out.
 */
export function runLogReader(source: string, note: (line: string) => void = () => {}) {
  // per run: when its current stretch began (its first record, or its last resume), and the training seconds before it
  // and which curves left out a record since their last point
  const runs = new Map<string, RunCurves & { start: number | null; before: number; last: number; gap: { train: boolean; val: boolean } }>();
  const line = (line: string, i: number, last: boolean): void => {
    if (!line.trim()) return;
    let r: unknown;
    try {
      r = JSON.parse(line);
    } catch {
      // after the last newline: a line being written, or cut short by a kill (a crashed run is plotted too)
      if (last) return note(`${source}:${i + 1}: left out a last line cut short (no newline ends it: its run was stopped, or is still writing it)`);
      throw new RunLogError(`${source}:${i + 1}: not a JSON line`);
    }
    if (!isRecord(r)) throw new RunLogError(`${source}:${i + 1}: not a JSON object (a record), got ${line.slice(0, 40)}`);
    if (r.type !== 'train' && r.type !== 'eval' && r.type !== 'resume') return;
    const id = typeof r.run === 'string' ? r.run : '';
    const time = typeof r.time === 'string' ? Date.parse(r.time) : NaN;
    let run = runs.get(id);
    if (!run) runs.set(id, (run = { run: id, train: [], val: [], evalTrain: [], unplotted: { train: 0, eval: 0 }, start: Number.isFinite(time) ? time : null, before: 0, last: 0, gap: { train: false, val: false } }));
    const seconds = Number.isFinite(time) && run.start !== null ? run.before + (time - run.start) / 1000 : null;
    if (r.type === 'resume') {
      // the stretch ended at its last record; the next one starts here
      if (Number.isFinite(time)) [run.before, run.start] = [run.last, time];
      return;
    }
    if (seconds !== null) run.last = seconds;
    const loss = r.type === 'train' ? r.loss : r.val;
    if (typeof r.step !== 'number') return;
    if (r.type === 'eval' && isFiniteNumber(r.train)) run.evalTrain.push({ step: r.step, seconds, loss: r.train });
    const curve = r.type === 'train' ? 'train' : 'val';
    if (isFiniteNumber(loss)) {
      run[curve].push({ step: curve === 'train' ? trainedStep(r.step) : r.step, seconds, loss, ...(run.gap[curve] && { afterGap: true as const }) });
      run.gap[curve] = false;
    } else {
      run.unplotted[r.type]++;
      run.gap[curve] = true;
    }
  };
  return { line, curves: (): RunCurves[] => [...runs.values()].map(({ run, train, val, evalTrain, unplotted }) => ({ run, train, val, evalTrain, unplotted })) };
}

const isFiniteNumber = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
