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
import { isRecord } from '../io/value-ranges.js';

/**
 * Drops run `run`'s records past `step` from the log at `path`, a last line cut short by the crash,
 * and the temporary copies of the log that runs killed while rewriting it left (the caller holds the
 * directory's lock: they are no live writer's). With `unnamed`, the records that name no run are
 * `run`'s and take its id: a checkpoint from before run ids (2026-12-04) names none, and its log's
 * records, which name none either, are the history of the run that resumes it.
 */
export async function rewindRunLog(path: string, run: string, step: number, unnamed = false): Promise<void> {
  const [dir, name] = [dirname(path), basename(path)];
  const killed = (await readdir(dir)).filter((f) => tempTarget(f) === name);
  await Promise.all(killed.map((f) => rm(join(dir, f), { force: true })));
  return rewriteRecords(path, (record) => {
    const adopted = unnamed && record.run === undefined ? { type: record.type, run, ...record } : record;
    return adopted.run === run && typeof adopted.step === 'number' && adopted.step > step ? null : adopted;
  });
}

/** Drops every record of a run other than `run` from the log at `path` (the checkpoint is now `run`'s). */
export function keepOnlyRun(path: string, run: string): Promise<void> {
  return rewriteRecords(path, (record) => (record.run === run ? record : null));
}

type LogRecord = Record<string, unknown>;

/** Rewrites the log at `path` with each record `edit` returns (null: dropped); other lines, and records returned as they were, are kept as written. */
async function rewriteRecords(path: string, edit: (record: LogRecord) => LogRecord | null): Promise<void> {
  const text = (await unlessMissing(readRegularFile(path)))?.toString('utf8');
  if (text === undefined) return;
  const lines = text.split('\n');
  lines.pop(); // after the last newline: empty, or a line whose writing a crash cut short
  const kept = lines.flatMap((line) => {
    const record = recordOf(line);
    if (!record) return [line]; // not a record: not ours to change
    const edited = edit(record);
    return edited === null ? [] : [edited === record ? line : JSON.stringify(edited)];
  });
  const rewritten = kept.map((line) => line + '\n').join('');
  if (rewritten !== text) await writeFileAtomic(path, rewritten);
}

function recordOf(line: string): LogRecord | null {
  try {
    const record: unknown = JSON.parse(line);
    return isRecord(record) ? record : null;
  } catch {
    return null;
  }
}
