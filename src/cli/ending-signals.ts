// The signals that end a command by default (Ctrl-C's SIGINT, kill's SIGTERM, a closed terminal's
// SIGHUP) still end it at once, but not before it has said what it leaves and tidied up
// (synchronously): the temporary files of its atomic writes under way go, so a command stopped
// mid-write leaves the file it was replacing as it was and no `.NAME.tmp-*` beside it. The signal
// is then raised again, so the process ends as killed by it (a shell's 130 for Ctrl-C).
import { removeTempFilesInFlight } from '../node/atomic-file.js';
import { whenReaderLeaves } from './reader-gone.js';

/** The signals that end a process by default without Node's 'exit' event. */
const ENDING_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Until the returned function is called, a signal that ends the process, or stdout's reader going
 * away (answered as SIGPIPE: reader-gone.ts ends the process), first removes the temporary files of
 * the writes under way, then runs `answer`.
 */
export function onEndingSignal(answer: (signal: NodeJS.Signals) => void = () => {}): () => void {
  const tidy = (signal: NodeJS.Signals) => {
    stop();
    removeTempFilesInFlight();
    answer(signal);
  };
  const ended = (signal: NodeJS.Signals) => {
    try {
      tidy(signal);
    } finally {
      process.kill(process.pid, signal);
    }
  };
  const stopHearingReader = whenReaderLeaves(() => tidy('SIGPIPE'));
  const stop = () => {
    for (const signal of ENDING_SIGNALS) process.off(signal, ended);
    stopHearingReader();
  };
  for (const signal of ENDING_SIGNALS) process.once(signal, ended);
  return stop;
}

/** `work`, run so that a signal that ends the process meanwhile leaves no temporary file of its writes behind. */
export async function removingTempFilesOnSignal<T>(work: () => Promise<T>): Promise<T> {
  const stop = onEndingSignal();
  try {
    return await work();
  } finally {
    stop();
  }
}
