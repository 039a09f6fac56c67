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
import { fileLines, LineTooLongError } from '../node/file-lines.js';
import { openRegularFile, unlessMissing } from '../node/regular-files.js';
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
  return rewriteRecords(path, (r) => (r.run === run && typeof r.step === 'number' && r.step > step ? null : r));
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
export async function keepOnlyRun(path: string, run: string, unnamed?: UnnamedCheckpoint): Promise<void> {
  const history = unnamed ? await historyOf(path, unnamed) : new Set<number>();
  return rewriteRecords(path, (r, k) => (history.has(k) ? { type: r.type, run, ...r } : r.run === run ? r : null));
}

type LogRecord = Record<string, unknown>;

/**
 * The records of an unnamed checkpoint's history (by their number among the log's records), where
 * the old versions appended every run's to one log: read back from its save's evaluation (the last
 * of its step and val loss; without one the log is another run's, and none is), the records of no
 * run each at a step no later than the earliest read since, of a type and step not read yet. A
 * record past that was later taken again (the crashed stretch before a resume; an earlier run in
 * the directory), as was one read already.
 */
async function historyOf(path: string, checkpoint: UnnamedCheckpoint): Promise<Set<number>> {
  // the unnamed records' numbers, types and steps, read forward and walked back (a log's worth of them, not its text)
  const [numbers, types, steps] = [[] as number[], [] as string[], [] as number[]];
  let saved = -1;
  for await (const { record: r, k } of logRecords(path)) {
    if (r.run !== undefined || typeof r.step !== 'number') continue;
    if (r.type === 'eval' && r.step === checkpoint.step && checkpoint.val !== undefined && r.val === checkpoint.val) saved = numbers.length;
    numbers.push(k);
    types.push(String(r.type));
    steps.push(r.step);
  }
  const history = new Set<number>();
  const read = new Set<string>();
  let earliest = checkpoint.step;
  for (let i = saved; i >= 0; i--) {
    const key = `${types[i]} ${steps[i]}`;
    if (steps[i]! > earliest || read.has(key)) continue;
    read.add(key);
    history.add(numbers[i]!);
    earliest = steps[i]!;
  }
  return history;
}

/** A line of the log, and the record it holds (null: none) with its number `k` among the log's records. */
interface LogLine {
  line: string;
  last: boolean;
  record: LogRecord | null;
  k: number;
}

/** The lines of the log at `path` (none if it is missing), a line at a time. */
async function* logLines(path: string): AsyncGenerator<LogLine> {
  const handle = await unlessMissing(openRegularFile(path));
  if (!handle) return;
  try {
    let k = 0;
    for await (const { line, last } of fileLines(handle, path)) {
      const record = last ? null : recordOf(line); // after the last newline: empty, or a line whose writing a crash cut short
      yield { line, last, record, k: record ? k++ : k };
    }
  } catch (e) {
    if (!(e instanceof LineTooLongError)) throw e;
    throw new Error(`${e.message}; a run's log.jsonl holds one JSON record a line: move this one aside to resume without its history`);
  } finally {
    await handle.close();
  }
}

async function* logRecords(path: string): AsyncGenerator<{ record: LogRecord; k: number }> {
  for await (const { record, k } of logLines(path)) if (record) yield { record, k };
}

/**
 * Rewrites the log at `path` with the records `edit` returns for its records (null: dropped; `k`
 * numbers them from 0), read a line at a time, twice: to find whether anything changes, then to
 * write. Other lines, and records returned as they were, are kept as written; a last line without
 * a newline is dropped.
 */
async function rewriteRecords(path: string, edit: (record: LogRecord, k: number) => LogRecord | null): Promise<void> {
  const rewritten = (l: LogLine): string | null => {
    if (l.last) return null;
    if (!l.record) return l.line; // not a record: not ours to change
    const e = edit(l.record, l.k);
    return e === null ? null : e === l.record ? l.line : JSON.stringify(e);
  };
  let changed = false;
  for await (const l of logLines(path)) changed ||= l.last ? l.line !== '' : rewritten(l) !== l.line;
  if (!changed) return;
  async function* pieces(): AsyncGenerator<Uint8Array> {
    let piece = '';
    for await (const l of logLines(path)) {
      const line = rewritten(l);
      if (line !== null) piece += line + '\n';
      if (piece.length < 2 ** 20) continue;
      yield Buffer.from(piece);
      piece = '';
    }
    yield Buffer.from(piece);
  }
  await writeFileAtomic(path, pieces());
}

function recordOf(line: string): LogRecord | null {
  try {
    const record: unknown = JSON.parse(line);
    return isRecord(record) ? record : null;
  } catch {
    return null;
  }
}
