// `gpt sample | head`: the reader of stdout may go away before the command is done. The launcher
// (launch.ts) hears of it (the next write fails with EPIPE: Node ignores SIGPIPE) and ends the run
// here. A command that answers it (one holding a run lock: run-lock.ts) is ended as SIGPIPE would
// end it, with the shell's status for that signal, having said what it leaves; any other ends
// quietly with status 0 (its output was wanted only up to where the reader stopped). A stdout that
// fails otherwise (`gpt sample > out.txt` on a full disk: ENOSPC) ends the run with one line saying
// so and status 1, not a stack trace.
import { systemErrorText } from '../node/atomic-file.js';

/** 128 + SIGPIPE's 13: what a shell reports for a process SIGPIPE ended. */
const READER_GONE_STATUS = 141;

const answers = new Set<() => void>();

/** Has `answer` run (before the process ends) if the reader leaves; returns what stops that. */
export function whenReaderLeaves(answer: () => void): () => void {
  answers.add(answer);
  return () => void answers.delete(answer);
}

/** The reader of stdout has gone: ends the process. */
export function readerLeft(): never {
  if (answers.size === 0) process.exit(0);
  try {
    for (const answer of [...answers]) answer();
  } finally {
    process.exit(READER_GONE_STATUS);
  }
}

/** stdout cannot be written for another reason than its reader leaving: one line naming `command`, then exit status 1 (a run lock is released on exit). */
export function outputFailed(command: string, e: unknown): never {
  console.error(`gpt ${command}: cannot write to stdout: ${systemErrorText(e)}`);
  process.exit(1);
}
