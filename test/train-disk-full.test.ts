// A disk that fills while `gpt train` runs, as the file system answers it (ENOSPC, after writing
// part of what was asked): a log line cut short, a checkpoint's weights half written. The run ends
// in one line naming the file and what the --out-dir keeps; the checkpoint before it loads whole,
// no temporary file is left, and a resume (space freed) drops the cut line and goes on.
// In-process, the failures injected at node:fs/promises as the tests of the lock do.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, expect, it, vi } from 'vitest';
import { loadCheckpoint } from '../src/node/checkpoint-dir.js';
import { MANIFEST_FILE } from '../src/node/checkpoint-files.js';
import { corpusText, gpt, tempDir, TINY } from './cli-helpers.js';
import { setupDevice } from './helpers.js';

/** What fills next: the first log append or weights file after a checkpoint of step `afterStep` is there. */
const full = { log: false, weights: false, afterStep: 5, out: '' };

const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28 });
/** The step of the checkpoint in the run's directory (null: none yet). */
const savedStep = () => (existsSync(join(full.out, MANIFEST_FILE)) ? (JSON.parse(readFileSync(join(full.out, MANIFEST_FILE), 'utf8')).meta.step as number) : null);
const filling = (which: 'log' | 'weights') => full[which] && (savedStep() ?? -1) >= full.afterStep;

vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  // half of the line lands, then the disk is full
  const appendFile = async (path: Parameters<typeof fs.appendFile>[0], data: string, ...rest: unknown[]) => {
    if (!filling('log')) return fs.appendFile(path, data, ...(rest as []));
    await fs.appendFile(path, data.slice(0, data.length >> 1));
    throw enospc();
  };
  // a file written in pieces (a checkpoint's weights): its first piece lands, then the disk is full
  const writeFile = async (file: Parameters<typeof fs.writeFile>[0], data: Parameters<typeof fs.writeFile>[1], ...rest: unknown[]) => {
    if (typeof data === 'string' || data instanceof Uint8Array || !filling('weights')) return fs.writeFile(file, data, ...(rest as []));
    for await (const piece of data as AsyncIterable<Uint8Array>) {
      await (file as FileHandle).write(piece);
      throw enospc();
    }
  };
  return { ...fs, appendFile, writeFile };
});

const dir = tempDir('train-disk-full');
const corpus = join(dir, 'corpus.txt');
const train = (out: string, ...args: string[]) => gpt('train', '--data', corpus, ...TINY, '--out-dir', out, ...args);

beforeAll(async () => {
  await setupDevice();
  writeFileSync(corpus, corpusText(8000));
});

for (const which of ['log', 'weights'] as const) {
  it(`a disk that fills writing the ${which === 'log' ? 'log' : "next checkpoint's weights"} ends the run in one line; the checkpoint of step 5 stays whole, and a resume goes on`, async () => {
    full.out = join(dir, which);
    full[which] = true;
    let r;
    try {
      r = await train(full.out, '--max-iters', '20', '--eval-interval', '5', '--always-save');
    } finally {
      full[which] = false;
    }
    const file = which === 'log' ? `cannot append to ${join(full.out, 'log.jsonl')}` : `cannot write ${full.out}/model-[0-9a-z-]+\\.safetensors`;
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`^gpt train: ${file}: ENOSPC \\(no space left on device\\); ${full.out} keeps the checkpoint of step 5 \\(val \\d\\.\\d{4}\\): continue it with gpt train --init-from resume --out-dir ${full.out}$`));
    expect((await loadCheckpoint(full.out)).meta.trainer?.step).toBe(5);
    expect(readdirSync(full.out).filter((f) => f.startsWith('.')), 'temporary files left').toEqual([]);
    if (which === 'log') expect(readFileSync(join(full.out, 'log.jsonl'), 'utf8')).not.toMatch(/\n$/); // the line cut short
    const resumed = await gpt('train', '--init-from', 'resume', '--out-dir', full.out, '--max-iters', '20');
    expect(resumed.code, resumed.err).toBe(0);
    const lines = readFileSync(join(full.out, 'log.jsonl'), 'utf8').trim().split('\n');
    expect(() => lines.map((l) => JSON.parse(l)), 'every line of the log a record').not.toThrow();
    expect((await loadCheckpoint(full.out)).meta.trainer?.step).toBe(20);
  });
}
