// What `gpt train --init-from resume` keeps of a run's log.jsonl (src/cli/resume-log.ts), on logs
// written by hand: the lines expected are spelled out, not computed.
import { appendFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { keepOnlyRun, rewindRunLog } from '../src/cli/resume-log.js';
import { tempDir } from './cli-helpers.js';

const logOf = (lines: string[], cut = '') => lines.map((l) => l + '\n').join('') + cut;

function written(lines: string[], cut = ''): string {
  const path = join(tempDir('resume-log'), 'log.jsonl');
  writeFileSync(path, logOf(lines, cut));
  return path;
}

const lines = (path: string) => readFileSync(path, 'utf8').split('\n').slice(0, -1);

describe('rewinding a log to its checkpoint', () => {
  it("drops the run's records past the step and a last line cut short; keeps other runs' records and lines that are no records, as written", async () => {
    const path = written([
      '{"type":"train","run":"A","step":1,"loss":3}',
      '{"type": "eval", "run": "A", "step": 2, "train": 2, "val": 2.5}',
      'not json',
      '{"type":"train","run":"B","step":3,"loss":1}',
      '{"type":"train","run":"A","step":3,"loss":1}',
      '[1,2]',
      '{"type":"resume","run":"A","step":9}',
    ], '{"type":"train","ru');
    await rewindRunLog(path, 'A', 2);
    expect(lines(path)).toEqual([
      '{"type":"train","run":"A","step":1,"loss":3}',
      '{"type": "eval", "run": "A", "step": 2, "train": 2, "val": 2.5}',
      'not json',
      '{"type":"train","run":"B","step":3,"loss":1}',
      '[1,2]',
    ]);
  });

  it('leaves a log with nothing to drop untouched (not rewritten), and no log is none', async () => {
    const path = written(['{"type":"train","run":"A","step":1,"loss":3}', '']);
    const before = statSync(path).ino;
    await rewindRunLog(path, 'A', 1);
    expect([statSync(path).ino, readFileSync(path, 'utf8')]).toEqual([before, '{"type":"train","run":"A","step":1,"loss":3}\n\n']);
    await expect(rewindRunLog(join(tempDir('resume-log'), 'log.jsonl'), 'A', 1)).resolves.toBeNull();
  });

  it('keeps CRLF lines and a multi-byte character across the reader\'s 1 MiB pieces as written; an empty log is left as it is', async () => {
    const first = '{"type":"train","run":"A","step":1,"loss":3}\r\n';
    const note = `{"type":"note","text":"${'x'.repeat(2 ** 20 - 1 - first.length - 23)}é€😀"}`; // é's two bytes either side of the first piece's end
    const log = [first, `${note}\r\n`, '{"type":"train","run":"A","step":2,"loss":3}\r\n', 'ünïcode, no record\r\n'];
    expect(Buffer.from(log.join('')).subarray(2 ** 20 - 1, 2 ** 20 + 1).toString()).toBe('é');
    const path = written([]);
    writeFileSync(path, log.join(''));
    await rewindRunLog(path, 'A', 1);
    expect(readFileSync(path, 'utf8')).toBe([log[0], log[1], log[3]].join(''));
    writeFileSync(path, '');
    await rewindRunLog(path, 'A', 1);
    expect(readFileSync(path, 'utf8')).toBe('');
  });

  it('refuses a line past the longest a record may be in one line naming its number, the log kept, not read whole', async () => {
    const log = logOf(['{"type":"train","run":"A","step":1,"loss":3}', '{"type":"train","run":"A","step":2,"loss":3}', 'x'.repeat(2 ** 21)]);
    const path = written([]);
    writeFileSync(path, log);
    await expect(rewindRunLog(path, 'A', 1)).rejects.toThrow(new RegExp(`^${path}:3: no newline in its first 1048576 bytes, far past a record's; .*$`));
    expect(readFileSync(path, 'utf8')).toBe(log);
  });
});

describe("keeping a checkpoint's run alone in its log", () => {
  it("drops every other run's records, keeps the run's and lines that are no records", async () => {
    const path = written(['{"type":"train","run":"old","step":1,"loss":3}', 'note', '{"type":"train","run":"A","step":1,"loss":2}', '{"type":"resume","run":"old","step":1}'], '{"ty');
    await keepOnlyRun(path, 'A');
    expect(lines(path)).toEqual(['note', '{"type":"train","run":"A","step":1,"loss":2}']);
  });

  it("adopts an unnamed checkpoint's history: back from its save's evaluation, each step once, not a crashed stretch's, an earlier run's or a later one's", async () => {
    const path = written([
      '{"type":"train","step":7,"loss":9}', // an earlier run, further along than the checkpoint
      '{"type":"eval","step":0,"train":5,"val":5}',
      '{"type":"train","step":1,"loss":5}',
      '{"type":"train","step":2,"loss":4.5}', // the crashed stretch, done again after the resume
      '{"type":"train","step":3,"loss":4.4}',
      '{"step":2,"type":"train","loss":4}',
      '{"type":"eval","step":2,"train":4,"val":4}', // the checkpoint's save
      '{"type":"train","step":3,"loss":3}', // past it
      '{"type":"train","run":"C","step":1,"loss":1}',
      '{"type":"train","run":"B","step":3,"loss":3.5}',
    ]);
    await keepOnlyRun(path, 'B', { step: 2, val: 4 });
    expect(lines(path)).toEqual([
      '{"type":"eval","run":"B","step":0,"train":5,"val":5}',
      '{"type":"train","run":"B","step":1,"loss":5}',
      '{"type":"train","run":"B","step":2,"loss":4}',
      '{"type":"eval","run":"B","step":2,"train":4,"val":4}',
      '{"type":"train","run":"B","step":3,"loss":3.5}',
    ]);
  });

  it('keeps none of an unnamed log without the evaluation of the checkpoint (another run\'s log)', async () => {
    const path = written(['{"type":"eval","step":2,"train":4,"val":4.1}', '{"type":"train","run":"B","step":3,"loss":3.5}']);
    await keepOnlyRun(path, 'B', { step: 2, val: 4 });
    expect(lines(path)).toEqual(['{"type":"train","run":"B","step":3,"loss":3.5}']);
  });
});

describe('a resume reads its log once', () => {
  it("rewinding parses each line once, and the first save parses only from the other runs' first record on", async () => {
    const own = (step: number) => `{"type":"train","run":"A","step":${step},"loss":3}`;
    const history = Array.from({ length: 3000 }, (_, k) => own(1 + (k % 20)));
    const crashed = [own(21), own(22)]; // past the checkpoint of step 20
    const other = ['{"type":"train","run":"B","step":1,"loss":4}', '{"type":"train","run":"B","step":2,"loss":4}']; // an --overwrite run that failed
    const path = written([...history, ...crashed, ...other], '{"type":"tr');
    const parse = vi.spyOn(JSON, 'parse');
    try {
      const from = await rewindRunLog(path, 'A', 20);
      expect(parse.mock.calls.length, 'lines parsed rewinding').toBe(history.length + crashed.length + other.length);
      expect(lines(path)).toEqual([...history, ...other]);
      appendFileSync(path, own(30) + '\n'); // the resumed run's own record, before its first save
      parse.mockClear();
      await keepOnlyRun(path, 'A', undefined, from);
      expect(parse.mock.calls.length, 'lines parsed at the first save').toBe(other.length + 1);
      expect(lines(path)).toEqual([...history, own(30)]);
    } finally {
      parse.mockRestore();
    }
  });

  it('a log with no other run, nothing to rewind, is parsed once at the start and not read at the first save', async () => {
    const path = written(['{"type":"eval","run":"A","step":0,"train":3,"val":3}', '{"type":"train","run":"A","step":1,"loss":3}']);
    const parse = vi.spyOn(JSON, 'parse');
    try {
      const from = await rewindRunLog(path, 'A', 1);
      expect([from, parse.mock.calls.length]).toEqual([null, 2]);
      await keepOnlyRun(path, 'A', undefined, from);
      expect(parse.mock.calls.length).toBe(2);
    } finally {
      parse.mockRestore();
    }
  });
});
