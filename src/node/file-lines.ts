// A text file read a line at a time (Node only), holding a piece and a line, never the file: a
// run's log.jsonl grows past what one string may hold (Node's ~512 MB), at a line a logged step.
import type { FileHandle } from 'node:fs/promises';

/** The longest line read: a record takes a few hundred characters, and a file without newlines (zeros) is not read whole to say so. */
export const MAX_LINE = 2 ** 20;

/** A line longer than the reader takes (no newline in its first `maxLine` characters): the file is not one of lines. */
export class LineTooLongError extends Error {}

/** A line of a file: its text (without the newline), its number from 0, and `last` for the text after the last newline (empty, or a line cut short). */
export interface FileLine {
  line: string;
  i: number;
  last: boolean;
}

/** The lines of the open file `handle` (which the caller closes), ending with its `last`; `source` names it in errors. */
export async function* fileLines(handle: FileHandle, source: string, maxLine = MAX_LINE): AsyncGenerator<FileLine> {
  const decoder = new TextDecoder();
  let [pending, i] = ['', 0];
  for await (const piece of handle.createReadStream({ highWaterMark: 2 ** 20, autoClose: false, start: 0 })) {
    const lines = (pending + decoder.decode(piece as Buffer, { stream: true })).split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      if (line.length > maxLine) throw tooLong(source, i, maxLine);
      yield { line, i: i++, last: false };
    }
    if (pending.length > maxLine) throw tooLong(source, i, maxLine);
  }
  yield { line: pending + decoder.decode(), i, last: true };
}

const tooLong = (source: string, i: number, maxLine: number) => new LineTooLongError(`${source}:${i + 1}: no newline in its first ${maxLine} characters, far past a record's`);
