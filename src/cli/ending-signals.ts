// A command that writes files, ended by a signal (Ctrl-C, SIGTERM, a closed terminal's SIGHUP):
// its writes under way (their temporary files, as large as a model's weights) go with it, before
// what the command itself answers (run-lock.ts: what the run leaves, then its lock); then the signal
// is raised again, so that the process still ends as killed by it.
import { removeUnfinishedWrites } from '../node/atomic-file.js';

/** The signals that end a process by default without Node's 'exit' event. */
const ENDING_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Runs `work`; a signal ending the process meanwhile first deletes the writes under way, then runs `answer`. */
export async function answeringSignals<T>(work: () => Promise<T>, answer: (signal: NodeJS.Signals) => void = () => {}): Promise<T> {
  const stop = () => {
    for (const signal of ENDING_SIGNALS) process.off(signal, ended);
  };
  const ended = (signal: NodeJS.Signals) => {
    stop();
    try {
      removeUnfinishedWrites(); // first: what `answer` tidies (a directory) may hold them until then
    } finally {
      try {
        answer(signal);
      } finally {
        process.kill(process.pid, signal);
      }
    }
  };
  for (const signal of ENDING_SIGNALS) process.once(signal, ended);
  try {
    return await work();
  } finally {
    stop();
  }
}
