// `gpt prepare` ended by a signal (Ctrl-C) while it writes the tokens, as a real process: the data
// directory keeps what it held before, and no temporary token file (as large as the corpus's ids)
// is left in it.
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { loadDataset } from '../src/cli/data.js';
import { corpusText, gpt, spawnGpt, tempDir } from './cli-helpers.js';

const dir = tempDir('prepare-interrupted');
afterAll(() => rmSync(dir, { recursive: true, force: true })); // a corpus of 30 MB

it('Ctrl-C while the tokens are written leaves no temporary file in <out-dir>/data, and the data prepared before as it was', async () => {
  const [out, small, large] = [join(dir, 'out'), join(dir, 'small.txt'), join(dir, 'large.txt')];
  const data = join(out, 'data');
  writeFileSync(small, corpusText(5_000));
  writeFileSync(large, corpusText(100_000).repeat(300));
  const before = await gpt('prepare', '--data', small, '--out-dir', out);
  expect(before.code, before.err).toBe(0);
  const run = await spawnGpt(['prepare', '--data', large, '--out-dir', out]);
  let ended = false;
  void run.done.then(() => (ended = true));
  const writing = () => existsSync(data) && readdirSync(data).some((f) => f.startsWith('.train.bin.tmp-'));
  while (!ended && !writing()) await sleep(5);
  run.child.kill('SIGINT');
  const r = await run.done;
  expect(r.signal, `the run ended before it was interrupted: ${r.out}${r.err}`).toBe('SIGINT');
  expect(readdirSync(data).sort()).toEqual(['meta.json', 'meta.pkl', 'train.bin', 'val.bin']); // meta.pkl: nanoGPT's, for the char tokenizer
  const ds = await loadDataset(data);
  expect(ds.train.length + ds.val.length).toBe(5_000);
  await ds.close();
}, 120_000);
