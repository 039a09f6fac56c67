// A command that writes files, ended by a signal (Ctrl-C, SIGTERM, a closed terminal's SIGHUP):
// its writes under way (their temporary files, as large as a model's weights) go with it, before
// what the command itself answers (run-lock.ts: what the run leaves, then its lock); then the signal
// is raised again, so that the process still ends as killed by it.
//
// Why one listener per signal, added by the first call and kept for the life of the process: Node
// catches a signal at once but hands it to listeners on a later turn of the event loop, and removing
// the last listener meanwhile drops it unseen. Each call once removed its own as its work ended, so
// a signal landing then was lost: gpt serve, its model loaded, went on serving; a loop of exports
// went on exporting. Now a signal heard with no work under way gets what it would have had with no
// listener of ours: another listener's answer (gpt serve's stop), else the default action.
import { removeUnfinishedWrites } from '../node/atomic-file.js';

/** The signals that end a process by default without Node's 'exit' event. */
const ENDING_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

type Answer = (signal: NodeJS.Signals) => void;
/** The answers of the answeringSignals calls under way, outermost first; an entry of its own per call, even where two share one function. */
const underWay = new Set<{ answer: Answer }>();

/** Runs `work`; a signal ending the process meanwhile first deletes the writes under way, then runs `answer`. */
export async function answeringSignals<T>(work: () => Promise<T>, answer: Answer = () => {}): Promise<T> {
  for (const signal of ENDING_SIGNALS) if (!process.listeners(signal).includes(ended)) process.on(signal, ended);
  const entry = { answer };
  underWay.add(entry);
  try {
    return await work();
  } finally {
    underWay.delete(entry);
  }
}

function ended(signal: NodeJS.Signals): void {
  const answers = [...underWay].reverse().map((entry) => entry.answer); // the innermost first, as their finally blocks would run
  underWay.clear();
  if (answers.length === 0 && process.listenerCount(signal) > 1) return; // the command's own listener answers it
  try {
    removeUnfinishedWrites(); // first: what an answer tidies (a directory) may hold them until then
  } finally {
    answerThenEnd(answers, signal);
  }
}

/** Runs each of `answers`, even after one that throws, then raises `signal` again with its default action. */
function answerThenEnd([answer, ...rest]: Answer[], signal: NodeJS.Signals): void {
  if (!answer) {
    process.off(signal, ended);
    process.kill(process.pid, signal);
    return;
  }
  try {
    answer(signal);
  } finally {
    answerThenEnd(rest, signal);
  }
}
