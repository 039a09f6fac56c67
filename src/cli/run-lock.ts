// A training run holds its --out-dir's lock from start to end (src/node/dir-lock.ts), so two runs
// never write one checkpoint. The lock goes however the run ends: return, error, Ctrl-C / SIGTERM /
// a closed terminal's SIGHUP (released, then the signal is raised again so the process still ends
// as killed by it), stdout's reader going away (answered as SIGPIPE: reader-gone.ts ends the
// process), or exit. Killed by a signal, the work may say first what it leaves behind, and the
// temporary files of its writes under way go (ending-signals.ts).
import { lockDirectory } from '../node/dir-lock.js';
import { makeDirectories, removeEmptyCreated } from '../node/regular-files.js';
import { onEndingSignal } from './ending-signals.js';

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
    await tidy();
    throw e;
  }
  const stopHearingSignals = onEndingSignal((signal) => {
    try {
      onSignal(signal);
    } finally {
      release();
    }
  });
  const release = () => {
    lock.release();
    stopHearingSignals();
    process.off('exit', release);
  };
  process.once('exit', release);
  try {
    return await work();
  } finally {
    release();
    await tidy();
  }
}
