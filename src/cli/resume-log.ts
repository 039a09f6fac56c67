// A run's log.jsonl, kept in step with the checkpoint beside it. A run that crashed after its last
// save logged steps that the resumed run does again; kept, they would appear twice and the loss
// curve would run back on itself. What `gpt train --init-from resume` keeps of the log: this run's
// records up to the checkpoint's step, and until its first save those of other runs (beside its
// checkpoint, runs that never saved: an --overwrite run that failed). A new run (--overwrite, or a
// directory whose earlier run never saved) appends to the log until its first save replaces the
// checkpoint, and only then drops the other runs' records: a run that fails before saving leaves
// the checkpoint that is there with its history. The log may be long (a record a step, 100 MB and
// more): a resume parses each of its lines once, when it rewinds it, and its first save only the
// lines from the other runs' first record on (none: the log is not read again).
import { readdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { tempTarget, writeFileAtomic } from '../node/atomic-file.js';
import { fileLines, LineTooLongError } from '../node/file-lines.js';
import { openRegularFile, unlessMissing } from '../node/regular-files.js';
import { isRecord } from '../io/value-ranges.js';

/**
 * Drops run `run`'s records past `step` from the log at `path`, a last line cut short by the crash,
 * and the temporary copies of the log that runs killed while rewriting it left (the caller holds the
 * directory's lock: they are no live writer's). Returns where the first record of another run (or
 * of none) now starts, the byte keepOnlyRun reads from (null: there is none), while only `run`
 * appends to the log.
 */
export async function rewindRunLog(path: string, run: string, step: number): Promise<number | null> {
  const [dir, name] = [dirname(path), basename(path)];
  const killed = (await readdir(dir)).filter((f) => tempTarget(f) === name);
  await Promise.all(killed.map((f) => rm(join(dir, f), { force: true })));
  const rewound = (r: LogRecord) => (r.run === run && typeof r.step === 'number' && r.step > step ? null : r);
  return rewriteRecords(path, rewound, { mark: (r) => r.run !== run });
}

/** A checkpoint from before run ids (2026-12-04): it names no run, nor do its log's records. */
export interface UnnamedCheckpoint {
  step: number;
  /** Its val loss (the old versions wrote it as bestVal), which its save's evaluation logged just before it. */
  val: number | undefined;
}

/**
 * Drops every record of a run other than `run` from the log at `path` (the checkpoint is now `run`'s),
 * those from byte `others` on (rewindRunLog's: before it there are none; null: none at all).
 * `run` resumed `unnamed`: the records that were its history take `run`'s id, and no other record is
 * kept (the whole log read: its history is read back from its end). Until this first save they stay
 * as written: a resume that never saved leaves them as it found them.
 */
export async function keepOnlyRun(path: string, run: string, unnamed?: UnnamedCheckpoint, others: number | null = 0): Promise<void> {
  if (unnamed) {
    const history = await historyOf(path, unnamed);
    await rewriteRecords(path, (r, k) => (history.has(k) ? { type: r.type, run, ...r } : r.run === run ? r : null));
  } else if (others !== null) await rewriteRecords(path, (r) => (r.run === run ? r : null), { from: others });
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
  /** The byte offset past its newline. */
  end: number;
}

/** The lines of the log at `path` from byte `from` (a line's start; none if the log is missing), a line at a time. */
async function* logLines(path: string, from = 0): AsyncGenerator<LogLine> {
  const handle = await unlessMissing(openRegularFile(path));
  if (!handle) return;
  try {
    let k = 0;
    for await (const { line, last, end } of fileLines(handle, path, undefined, from)) {
      const record = last ? null : recordOf(line); // after the last newline: empty, or a line whose writing a crash cut short
      yield { line, last, record, k: record ? k++ : k, end };
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
 * Rewrites the log at `path` from byte `from` on with the records `edit` returns for its records
 * (null: dropped; `k` numbers them from 0 at `from`), read once, a line at a time: the lines before
 * the first that changes are kept as they are on disk (writeFileAtomic's `keep`), and a log where
 * none changes is not written. Other lines, and records returned as they were, are kept as written;
 * a last line without a newline is dropped. Returns the byte offset in the rewritten log of the
 * first record kept that `mark` accepts (null: none).
 */
async function rewriteRecords(path: string, edit: (record: LogRecord, k: number) => LogRecord | null, { from = 0, mark = () => false }: { from?: number; mark?: (record: LogRecord) => boolean } = {}): Promise<number | null> {
  const rewritten = (l: LogLine): { line: string | null; record: LogRecord | null } => {
    if (l.last) return { line: null, record: null };
    if (!l.record) return { line: l.line, record: null }; // not a record: not ours to change
    const e = edit(l.record, l.k);
    return { line: e === null ? null : e === l.record ? l.line : JSON.stringify(e), record: e };
  };
  const lines = logLines(path, from);
  try {
    // the lines that stay as they are, up to the first that changes (`start`: where it starts)
    let [start, marked] = [from, null as number | null];
    let next = await lines.next();
    for (; !next.done; next = await lines.next()) {
      const l = next.value;
      const { line, record } = rewritten(l);
      if (l.last ? l.line !== '' : line !== l.line) break;
      if (marked === null && record && mark(record)) marked = start;
      start = l.end;
    }
    if (next.done) return marked;
    const changed = next.value;
    let written = start; // the rewritten log's bytes so far
    async function* pieces(): AsyncGenerator<Uint8Array> {
      let piece = '';
      for (let l: IteratorResult<LogLine> = { value: changed, done: false }; !l.done; l = await lines.next()) {
        const { line, record } = rewritten(l.value);
        if (line === null) continue;
        if (marked === null && record && mark(record)) marked = written + Buffer.byteLength(piece);
        piece += line + '\n';
        if (piece.length < 2 ** 20) continue;
        written += Buffer.byteLength(piece);
        yield Buffer.from(piece);
        piece = '';
      }
      yield Buffer.from(piece);
    }
    await writeFileAtomic(path, pieces(), start);
    return marked;
  } finally {
    await lines.return(undefined); // the log closed, however the rewrite ended
  }
}

function recordOf(line: string): LogRecord | null {
  try {
    const record: unknown = JSON.parse(line);
    return isRecord(record) ? record : null;
  } catch {
    return null;
  }
}
