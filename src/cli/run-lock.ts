// A training run holds its --out-dir's lock from start to end (src/node/dir-lock.ts), so two runs
// never write one checkpoint. The lock goes however the run ends: return, error, Ctrl-C / SIGTERM /
// a closed terminal's SIGHUP (released, then the signal is raised again so the process still ends
// as killed by it: ending-signals.ts), stdout's reader going away (answered as SIGPIPE:
// reader-gone.ts ends the process), or exit. Killed by a signal, the work may say first what it
// leaves behind; a save under way goes with the process (its half-written temporary files), and so
// do the directories the run made, where they hold nothing else.
import { removeUnfinishedWrites } from '../node/atomic-file.js';
import { lockDirectory } from '../node/dir-lock.js';
import { makeDirectories, removeEmptyCreated } from '../node/regular-files.js';
import { answeringSignals } from './ending-signals.js';
import { whenReaderLeaves } from './reader-gone.js';

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
      removeUnfinishedWrites(); // before the lock goes: no other run may write there yet
      release();
    }
  };
  const release = () => {
    lock.release();
    stopHearingReader();
    process.off('exit', release);
  };
  const stopHearingReader = whenReaderLeaves(() => answer('SIGPIPE'));
  process.once('exit', release);
  try {
    return await answeringSignals(work, (signal) => {
      answer(signal);
      tidy();
    });
  } finally {
    release();
    tidy();
  }
}
