// A run's log.jsonl, kept in step with the checkpoint beside it. A run that crashed after its last
// save logged steps that the resumed run does again; kept, they would appear twice and the loss
// curve would run back on itself. What `gpt train --init-from resume` keeps of the log: this run's
// records up to the checkpoint's step, and until its first save those of other runs (beside its
// checkpoint, runs that never saved: an --overwrite run that failed). A new run (--overwrite, or a
// directory whose earlier run never saved) appends to the log until its first save replaces the
// checkpoint, and only then drops the other runs' records: a run that fails before saving leaves
// the checkpoint that is there with its history.
import { readdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { tempTarget, writeFileAtomic } from '../node/atomic-file.js';
import { readRegularFile, unlessMissing } from '../node/regular-files.js';

/**
 * Drops run `run`'s records past `step` from the log at `path`, a last line cut short by the crash,
 * and the temporary copies of the log that runs killed while rewriting it left (the caller holds the
 * directory's lock: they are no live writer's).
 */
export async function rewindRunLog(path: string, run: string, step: number): Promise<void> {
  const [dir, name] = [dirname(path), basename(path)];
  const killed = (await readdir(dir)).filter((f) => tempTarget(f) === name);
  await Promise.all(killed.map((f) => rm(join(dir, f), { force: true })));
  return dropRecords(path, (record) => record.run === run && typeof record.step === 'number' && record.step > step);
}

/** Drops every record of a run other than `run` from the log at `path` (the checkpoint is now `run`'s). */
export function keepOnlyRun(path: string, run: string): Promise<void> {
  return dropRecords(path, (record) => record.run !== run);
}

async function dropRecords(path: string, drop: (record: { run?: unknown; step?: unknown }) => boolean): Promise<void> {
  const text = (await unlessMissing(readRegularFile(path)))?.toString('utf8');
  if (text === undefined) return;
  const lines = text.split('\n');
  lines.pop(); // after the last newline: empty, or a line whose writing a crash cut short
  const kept = lines.filter((line) => !dropsLine(line, drop));
  const rewritten = kept.map((line) => line + '\n').join('');
  if (rewritten !== text) await writeFileAtomic(path, rewritten);
}

function dropsLine(line: string, drop: (record: { run?: unknown; step?: unknown }) => boolean): boolean {
  try {
    return drop(JSON.parse(line) as { run?: unknown; step?: unknown });
  } catch {
    return false; // not a record: not ours to drop
  }
}
