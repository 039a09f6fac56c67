// A resumed run's log.jsonl, put back to where its checkpoint is. A run that crashed after its
// last save logged steps that the resumed run does again; kept, they would appear twice and the
// loss curve would run back on itself. What `gpt train --init-from resume` keeps of the log: every
// other run's records, and this run's up to the checkpoint's step.
import { writeFileAtomic } from '../io/atomic-file.js';
import { readRegularFile, unlessMissing } from '../io/regular-files.js';

/** Drops run `run`'s records past `step` from the log at `path`, and a last line cut short by the crash. */
export async function rewindRunLog(path: string, run: string, step: number): Promise<void> {
  const text = (await unlessMissing(readRegularFile(path)))?.toString('utf8');
  if (text === undefined) return;
  const lines = text.split('\n');
  lines.pop(); // after the last newline: empty, or a line whose writing the crash cut short
  const kept = lines.filter((line) => !isPast(line, run, step));
  const rewound = kept.map((line) => line + '\n').join('');
  if (rewound !== text) await writeFileAtomic(path, rewound);
}

function isPast(line: string, run: string, step: number): boolean {
  try {
    const record = JSON.parse(line) as { run?: unknown; step?: unknown };
    return record.run === run && typeof record.step === 'number' && record.step > step;
  } catch {
    return false; // not a record: not ours to drop
  }
}
