// --data-dir names prepared data (a directory); a text file there was read as if given to --data,
// so a slip between the two flags trained or evaluated without a word. It is refused in one line,
// before anything is read or written.
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { corpusText, expectOneLine, gpt, tempDir, TINY } from './cli-helpers.js';

describe('--data-dir given a file', () => {
  const dir = tempDir('cli-data-dir');
  const text = join(dir, 'corpus.txt');
  writeFileSync(text, corpusText(2_000));
  const refusal = /^gpt (train|eval|distill): flag --data-dir takes a directory of prepared data \(`gpt prepare`'s, or nanoGPT's\), got the file .*corpus\.txt: give a text file as --data$/;

  for (const command of ['train', 'distill', 'eval']) {
    it(`${command}: is refused in one line naming the flag, and nothing is written`, async () => {
      const extra = { train: [...TINY, '--max-iters', '1'], distill: [...TINY, '--max-iters', '1', '--teacher', join(dir, 'no-teacher')], eval: ['--eval-iters', '1'] }[command]!;
      expectOneLine(await gpt(command, '--data-dir', text, '--out-dir', join(dir, `${command}-out`), ...extra), 2, refusal);
      expect(readdirSync(dir)).toEqual(['corpus.txt']);
    });
  }
});

describe('--data-dir missing one of its token files', () => {
  const dir = tempDir('cli-data-dir-split');
  for (const missing of ['train.bin', 'val.bin']) {
    it(`without ${missing}: one line naming the directory and the file, not a bare ENOENT`, async () => {
      const out = join(dir, missing);
      writeFileSync(join(dir, 'corpus.txt'), corpusText(2_000));
      expect((await gpt('prepare', '--data', join(dir, 'corpus.txt'), '--out-dir', out)).code).toBe(0);
      rmSync(join(out, 'data', missing));
      const r = await gpt('train', '--data-dir', join(out, 'data'), '--out-dir', out, ...TINY, '--max-iters', '1');
      expectOneLine(r, 1, new RegExp(`^gpt train: cannot read prepared data in \\S+/data \\(${missing.replace('.', '\\.')}: it does not exist\\); run \`gpt prepare\` again$`));
    });
  }
});
