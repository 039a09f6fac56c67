// A training run's log.jsonl (Node only): one JSON object a line, each stamped with the run's id
// and the wall-clock time, appended as the run goes (a crash loses at most the line being written).
// `gpt plot` reads it back (src/plot/run-log.ts).
import { appendFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { StepLog } from '../gpt/trainer.js';
import { systemErrorText, writeFileAtomic } from './atomic-file.js';
import { pathExists } from './regular-files.js';

/** Logged every logInterval steps: that step's training loss, learning rate, gradient norm and speed. */
export type TrainRecord = { type: 'train' } & Omit<StepLog, 'train' | 'val'>;
/** Written at every evaluation: mean train and val loss over evalIters batches. */
export type EvalRecord = { type: 'eval'; step: number; train: number; val: number };
/**
 * Written when `gpt train --init-from resume` continues the run from its checkpoint at `step`: the
 * time from the run's last record before it to this one (the run was stopped) is no training time.
 */
export type ResumeRecord = { type: 'resume'; step: number };
/** A line of log.jsonl. */
export type LogRecord = (TrainRecord | EvalRecord | ResumeRecord) & { run: string; time: string };

/** Appends a run's records to its log.jsonl; pass `step` and `eval` as the Trainer's onLog and onEval hooks. */
export class RunLog {
  private constructor(
    readonly path: string,
    readonly run: string,
  ) {}

  /** A log for run `run` at `path`: emptied first for a new run, appended to when `append` (a resumed run). */
  static async open(path: string, run: string, opts: { append?: boolean } = {}): Promise<RunLog> {
    if (!opts.append) await writeFileAtomic(path, '');
    return new RunLog(path, run);
  }

  /** Records a logged training step. */
  step({ train: _train, val: _val, ...step }: StepLog): Promise<void> {
    return this.write({ type: 'train', ...step });
  }

  /** Records an evaluation (its train and val loss). */
  eval(l: StepLog): Promise<void> {
    return this.write({ type: 'eval', step: l.step, train: l.train!, val: l.val! });
  }

  /** Records that the run continues from its checkpoint at `step` (`gpt plot` leaves out the time it was stopped). */
  resumed(step: number): Promise<void> {
    return this.write({ type: 'resume', step });
  }

  private async write({ type, ...values }: TrainRecord | EvalRecord | ResumeRecord): Promise<void> {
    // the type first, then the run and the time, as a reader scans the lines
    const line = { type, run: this.run, time: new Date().toISOString(), ...values } as LogRecord;
    try {
      await appendFile(this.path, JSON.stringify(line) + '\n');
    } catch (e) {
      // Node's message does not say which write; a directory deleted or moved under the run is said as such
      const gone = await pathExists(dirname(this.path)).then((there) => !there, () => false);
      throw new Error(`cannot append to ${this.path}: ${gone ? `its directory ${dirname(this.path)} is gone (deleted or moved while the run was writing to it)` : systemErrorText(e)}`, { cause: e });
    }
  }
}
