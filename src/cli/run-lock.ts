// A training run holds its --out-dir's lock from start to end (src/node/dir-lock.ts), so two runs
// never write one checkpoint. The lock goes however the run ends: return, error, Ctrl-C / SIGTERM /
// a closed terminal's SIGHUP (released, then the signal is raised again so the process still ends
// as killed by it), stdout's reader going away (answered as SIGPIPE: reader-gone.ts ends the
// process), or exit. Killed by a signal, the work may say first what it leaves behind; a checkpoint
// save under way goes with the process (its half-written temporary files, as large as the model),
// and so do the directories the run made, where they hold nothing else.
import { removeKilledTemporaries } from '../node/checkpoint-files.js';
import { lockDirectory } from '../node/dir-lock.js';
import { makeDirectories, removeEmptyCreated } from '../node/regular-files.js';
import { whenReaderLeaves } from './reader-gone.js';

/** The signals that end a run by default without Node's 'exit' event. */
const ENDING_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Holds `dir`'s lock while `work` runs; `onSignal` says what a run ended by a signal leaves (it runs before the lock goes). */
export async function withDirectoryLock<T>(dir: string, work: () => Promise<T>, onSignal: (signal: NodeJS.Signals) => void = () => {}): Promise<T> {
  const created = await makeDirectories(dir);
  // a run that fails before writing anything leaves no empty directory behind, nor the parents it made
  const tidy = () => removeEmptyCreated(created);
  let lock;
  try {
    lock = await lockDirectory(dir, (owner) =>
      console.error(`note: ${dir} was locked by pid ${owner.pid} (since ${owner.started}), which is no longer running; taking the lock over`),
    );
  } catch (e) {
    tidy();
    throw e;
  }
  const answer = (signal: NodeJS.Signals) => {
    try {
      onSignal(signal);
    } finally {
      removeKilledTemporaries(dir); // a save under way, ending with the process: the lock still held, they are ours
      release();
    }
  };
  const ended = (signal: NodeJS.Signals) => {
    answer(signal);
    tidy();
    process.kill(process.pid, signal);
  };
  const release = () => {
    lock.release();
    for (const signal of ENDING_SIGNALS) process.off(signal, ended);
    stopHearingReader();
    process.off('exit', release);
  };
  for (const signal of ENDING_SIGNALS) process.once(signal, ended);
  const stopHearingReader = whenReaderLeaves(() => answer('SIGPIPE'));
  process.once('exit', release);
  try {
    return await work();
  } finally {
    release();
    tidy();
  }
}
