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
 * directory's lock: they are no live writer's).
 */
export async function rewindRunLog(path: string, run: string, step: number): Promise<void> {
  const [dir, name] = [dirname(path), basename(path)];
  const killed = (await readdir(dir)).filter((f) => tempTarget(f) === name);
  await Promise.all(killed.map((f) => rm(join(dir, f), { force: true })));
  return rewriteRecords(path, (records) => records.map((r) => (r.run === run && typeof r.step === 'number' && r.step > step ? null : r)));
}

/** A checkpoint from before run ids (2026-12-04): it names no run, nor do its log's records. */
export interface UnnamedCheckpoint {
  step: number;
  /** Its val loss (the old versions wrote it as bestVal), which its save's evaluation logged just before it. */
  val: number | undefined;
}

/**
 * Drops every record of a run other than `run` from the log at `path` (the checkpoint is now `run`'s).
 * `run` resumed `unnamed`: the records that were its history take `run`'s id, and no other record is
 * kept. Until this first save they stay as written: a resume that never saved leaves them as it found them.
 */
export function keepOnlyRun(path: string, run: string, unnamed?: UnnamedCheckpoint): Promise<void> {
  return rewriteRecords(path, (records) => {
    const history = unnamed ? historyOf(records, unnamed) : new Set<LogRecord>();
    return records.map((r) => (history.has(r) ? { type: r.type, run, ...r } : r.run === run ? r : null));
  });
}

type LogRecord = Record<string, unknown>;

/**
 * The records of an unnamed checkpoint's history, where the old versions appended every run's to
 * one log: read back from its save's evaluation (the last of its step and val loss; without one the
 * log is another run's, and none is), the records of no run each at a step no later than the
 * earliest read since, of a type and step not read yet. A record past that was later taken again
 * (the crashed stretch before a resume; an earlier run in the directory), as was one read already.
 */
function historyOf(records: LogRecord[], checkpoint: UnnamedCheckpoint): Set<LogRecord> {
  const unnamed = records.filter((r): r is LogRecord & { step: number } => r.run === undefined && typeof r.step === 'number');
  const saved = (r: LogRecord) => r.type === 'eval' && r.step === checkpoint.step && checkpoint.val !== undefined && r.val === checkpoint.val;
  const history = new Set<LogRecord>();
  const read = new Set<string>();
  let earliest = checkpoint.step;
  let i = unnamed.length - 1;
  while (i >= 0 && !saved(unnamed[i]!)) i--;
  for (; i >= 0; i--) {
    const r = unnamed[i]!;
    const key = `${String(r.type)} ${r.step}`;
    if (r.step > earliest || read.has(key)) continue;
    read.add(key);
    history.add(r);
    earliest = r.step;
  }
  return history;
}

/** Rewrites the log at `path` with the records `edit` returns for its records (null: dropped); other lines, and records returned as they were, are kept as written. */
async function rewriteRecords(path: string, edit: (records: LogRecord[]) => (LogRecord | null)[]): Promise<void> {
  const text = (await unlessMissing(readRegularFile(path)))?.toString('utf8');
  if (text === undefined) return;
  const lines = text.split('\n');
  lines.pop(); // after the last newline: empty, or a line whose writing a crash cut short
  const parsed = lines.map(recordOf);
  const records = parsed.filter((r): r is LogRecord => r !== null);
  const edited = edit(records); // in the records' order
  let next = 0;
  const kept = lines.flatMap((line, i) => {
    const record = parsed[i];
    if (!record) return [line]; // not a record: not ours to change
    const e = edited[next++];
    return e === null ? [] : [e === record ? line : JSON.stringify(e)];
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
