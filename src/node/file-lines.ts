// A text file read a line at a time (Node only), holding a piece and a line, never the file: a
// run's log.jsonl grows past what one string may hold (Node's ~512 MB), at a line a logged step.
// Split on newline bytes (never part of a UTF-8 character), each line decoded once whole, so that
// a line's end is its byte offset in the file: a rewrite keeps the bytes before a line as they are.
import type { FileHandle } from 'node:fs/promises';

/** The longest line read, in bytes: a record takes a few hundred, and a file without newlines (zeros) is not read whole to say so. */
export const MAX_LINE = 2 ** 20;

/** A line longer than the reader takes (no newline in its first `maxLine` bytes): the file is not one of lines. */
export class LineTooLongError extends Error {}

/** A line of a file: its text (without the newline), its number from 0, and `last` for the text after the last newline (empty, or a line cut short). */
export interface FileLine {
  line: string;
  i: number;
  last: boolean;
  /** The byte offset in the file past the line's newline (the last line: the file's end). */
  end: number;
}

const NEWLINE = 0x0a;

/**
 * The lines of the open file `handle` (which the caller closes) from byte `start` (0, or a line's
 * end), ending with its `last`; `source` names it in errors, `i` counts from the first line read.
 */
export async function* fileLines(handle: FileHandle, source: string, maxLine = MAX_LINE, start = 0): AsyncGenerator<FileLine> {
  let pending = Buffer.alloc(0); // the bytes of a line not yet ended
  let [i, end] = [0, start];
  for await (const piece of handle.createReadStream({ highWaterMark: 2 ** 20, autoClose: false, start })) {
    const bytes = pending.length ? Buffer.concat([pending, piece as Buffer]) : (piece as Buffer);
    let from = 0;
    for (let nl = bytes.indexOf(NEWLINE); nl !== -1; nl = bytes.indexOf(NEWLINE, from)) {
      if (nl - from > maxLine) throw tooLong(source, i, maxLine);
      end += nl + 1 - from;
      yield { line: bytes.toString('utf8', from, nl), i: i++, last: false, end };
      from = nl + 1;
    }
    pending = Buffer.from(bytes.subarray(from)); // a copy: the stream's piece is not ours to keep
    if (pending.length > maxLine) throw tooLong(source, i, maxLine);
  }
  yield { line: pending.toString('utf8'), i, last: true, end: end + pending.length };
}

const tooLong = (source: string, i: number, maxLine: number) => new LineTooLongError(`${source}:${i + 1}: no newline in its first ${maxLine} bytes, far past a record's`);
