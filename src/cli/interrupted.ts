// What `gpt train` and `gpt distill` say when a signal (Ctrl-C, kill, a closed terminal) or an error
// (divergence, a full disk) ends them: the step reached, and the checkpoint the --out-dir keeps with
// the command that continues it. A signal ends the process at once (a save under way is atomic: the
// directory keeps one checkpoint or the other); an error thrown by a save means it did not commit.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DeviceLostError } from '../device/device.js';
import { MANIFEST_FILE } from '../node/checkpoint-files.js';
import { shellWord } from './next-steps.js';

export class RunWhereabouts {
  /** The step the run has reached; null until training starts. */
  step: () => number | null = () => null;
  /** The checkpoint in --out-dir, in words; null when there is none. */
  private kept: string | null = null;
  /** The step of that checkpoint, where it is this run's (resumed or saved). */
  private keptStep: number | null = null;
  /** The step whose save is under way. */
  private saving: number | null = null;

  constructor(
    private readonly command: 'train' | 'distill',
    private readonly outDir: string,
  ) {}

  /** The directory holds a checkpoint this run has not written (resumed, at `step`; or to be replaced by --overwrite). */
  found(what: string, step: number | null = null): void {
    this.kept = what;
    this.keptStep = step;
  }

  savingAt(step: number): void {
    this.saving = step;
  }

  saved(step: number, val: number): void {
    this.kept = `the checkpoint of step ${step} (val ${val.toFixed(4)})`;
    this.keptStep = step;
    this.saving = null;
  }

  /** One line for stderr: where the run was when `signal` ended it, and what is left to resume. */
  interrupted(signal: NodeJS.Signals): string {
    return `gpt ${this.command}: ${signal} ${this.at()}; ${this.left()}`;
  }

  /** `error`, which ended the run, saying also what is left to resume (its message grows; its class, which sets the exit code, stays). */
  failed(error: unknown): unknown {
    if (!(error instanceof Error)) return error;
    this.saving = null; // a save that threw did not commit
    // a lost device took the weights with it: what the run did since its checkpoint is gone (and no save could read them)
    if (error instanceof DeviceLostError) error.message = `${error.summary} ${this.at()}: what the GPU held is gone, and with it ${this.keptStep === null ? 'every step of this run' : `the steps after step ${this.keptStep}`}`;
    error.message += `; ${this.left()}`;
    return error;
  }

  private at(): string {
    const step = this.step();
    return step === null ? 'before training started' : `at step ${step}`;
  }

  private left(): string {
    // the directory deleted or moved under the run took its checkpoint along
    if (this.kept && !existsSync(join(this.outDir, MANIFEST_FILE))) return `${this.outDir} no longer holds its checkpoint (deleted or moved meanwhile)`;
    const resume = `continue it with gpt ${this.command} --init-from resume --out-dir ${shellWord(this.outDir)}`;
    const saving = this.saving === null ? '' : `the checkpoint of step ${this.saving} if its save, under way, was done, else `;
    return this.kept || saving ? `${this.outDir} keeps ${saving}${this.kept ?? 'no checkpoint'}: ${resume}` : 'nothing was saved';
  }
}
