// fileLines (src/node/file-lines.ts): a file read a piece at a time gives the lines a whole-file
// split gives (the oracle: readFileSync + split('\n')), whatever falls on a piece's boundary.
import { writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileLines, LineTooLongError } from '../src/node/file-lines.js';
import { tempDir } from './cli-helpers.js';

const dir = tempDir('file-lines');
/** fileLines' pieces are 1 MiB: the bytes before a boundary. */
const PIECE = 2 ** 20;

async function linesOf(name: string, bytes: Uint8Array | string, maxLine?: number, start?: number) {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  const handle = await open(path);
  try {
    const out = [];
    for await (const l of fileLines(handle, path, maxLine, start)) out.push(l);
    return out;
  } finally {
    await handle.close();
  }
}

describe('fileLines', () => {
  it('an empty file is one empty last line', async () => {
    expect(await linesOf('empty', '')).toEqual([{ line: '', i: 0, last: true, end: 0 }]);
  });

  it('keeps a CRLF line\'s \\r (JSON.parse takes it as whitespace), and gives a last line without a newline as last', async () => {
    expect(await linesOf('crlf', '{"a":1}\r\n{"b":2}\r\n{"c":3}')).toEqual([
      { line: '{"a":1}\r', i: 0, last: false, end: 9 },
      { line: '{"b":2}\r', i: 1, last: false, end: 18 },
      { line: '{"c":3}', i: 2, last: true, end: 25 },
    ]);
  });

  it('a multi-byte character split across a piece boundary is read whole, at each of its bytes', async () => {
    for (const ch of ['é', '€', '😀']) {
      const bytes = Buffer.from(ch).length;
      for (let cut = 1; cut < bytes; cut++) {
        const head = 'x'.repeat(PIECE - cut - 1) + '\n'; // the character's first `cut` bytes end the first piece
        const text = `${head}${ch}${ch}\n${ch}`;
        expect(Buffer.from(text).subarray(0, PIECE).at(-1)! >= 0x80, `${ch} cut ${cut}`).toBe(true);
        const got = await linesOf(`split-${bytes}-${cut}`, text);
        expect(got.map((l) => l.line)).toEqual(text.split('\n'));
        expect(got.at(-1)!.last).toBe(true);
      }
    }
  });

  it('a newline on a piece boundary, and a line spanning pieces', async () => {
    const text = `${'a'.repeat(PIECE - 1)}\n${'b'.repeat(PIECE + 10)}\nc\n`;
    const got = await linesOf('boundary', text, 2 * PIECE);
    expect(got.map((l) => l.line)).toEqual(text.split('\n'));
    expect(got.map((l) => l.i)).toEqual([0, 1, 2, 3]);
  });

  it("each line's end is the byte offset past its newline, as a whole-file split counts it; a read from one starts with the next line", async () => {
    const text = 'ünï\n\n{"é":"😀"}\r\nplain\n€ cut';
    const bytes = Buffer.from(text);
    // the oracle: the offsets of the newline bytes, and the file's end for the last line
    const ends = [...bytes.entries()].filter(([, b]) => b === 0x0a).map(([k]) => k + 1).concat(bytes.length);
    const got = await linesOf('offsets', text);
    expect(got.map((l) => l.end)).toEqual(ends);
    expect(got.map((l) => l.line)).toEqual(text.split('\n'));
    const rest = await linesOf('offsets', text, undefined, ends[1]);
    expect(rest.map((l) => [l.line, l.end])).toEqual(text.split('\n').slice(2).map((line, k) => [line, ends[k + 2]]));
  });

  it('invalid UTF-8 takes its bytes in the offsets, not the replacement character\'s', async () => {
    const bytes = Buffer.concat([Buffer.from([0xff, 0xc3]), Buffer.from('\nok\n')]);
    expect((await linesOf('invalid', bytes)).map((l) => l.end)).toEqual([3, 6, 6]);
  });

  it('a line past maxLine is refused naming its number (1-based)', async () => {
    await expect(linesOf('long', `ok\n${'z'.repeat(50)}\n`, 10)).rejects.toThrow(LineTooLongError);
    await expect(linesOf('long2', `ok\n${'z'.repeat(50)}`, 10)).rejects.toThrow(/long2:2: no newline in its first 10 bytes/);
  });
});
