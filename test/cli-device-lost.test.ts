// `gpt train` when the GPU device is lost mid-run (a driver reset, a TDR; here device.destroy()):
// one line saying so, which steps went with the GPU's memory and which checkpoint is kept, and no
// checkpoint written from the lost device. Its own file: the device is one per process.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it, vi } from 'vitest';
import { RunWhereabouts } from '../src/cli/interrupted.js';
import { device } from '../src/device/device.js';
import { MANIFEST_FILE } from '../src/node/checkpoint-files.js';
import { readCheckpointHead } from '../src/node/checkpoint-head.js';
import { corpusText, expectOneLine, gpt, tempDir, TINY } from './cli-helpers.js';
import { readCheckpointFiles, setupDevice } from './helpers.js';

const dir = tempDir('cli-device-lost');
const corpus = join(dir, 'corpus.txt');

beforeAll(async () => {
  await setupDevice();
  writeFileSync(corpus, corpusText(8000));
});

it('a device lost during a save: exit 4 with one line naming the checkpoint kept and the steps lost; the save does not commit', async () => {
  const out = join(dir, 'run');
  const savingAt = RunWhereabouts.prototype.savingAt;
  // the second save (step 10) meets the loss: its weights would be read from a lost device
  const spy = vi.spyOn(RunWhereabouts.prototype, 'savingAt').mockImplementation(function (this: RunWhereabouts, step: number) {
    savingAt.call(this, step);
    if (step === 10) device().gpu.destroy();
  });
  const r = await gpt('train', '--data', corpus, ...TINY, '--max-iters', '15', '--eval-interval', '5', '--always-save', '--out-dir', out);
  spy.mockRestore();
  const resume = `continue it with gpt train --init-from resume --out-dir ${out}`;
  expectOneLine(r, 4, new RegExp(`^gpt train: the GPU device was lost \\(destroyed, device was destroyed\\) at step 10: what the GPU held is gone, and with it the steps after step 5; ${out} keeps the checkpoint of step 5 \\(val \\d+\\.\\d{4}\\): ${resume}$`));
  const { manifest } = await readCheckpointFiles(out);
  expect((await readCheckpointHead(out)).meta.trainer?.step).toBe(5);
  expect(readdirSync(out).sort()).toEqual([MANIFEST_FILE, 'log.jsonl', manifest.weights].sort()); // the failed save's weights removed, the lock released
  expect(readFileSync(join(out, 'log.jsonl'), 'utf8')).toContain('"step":5');
});
