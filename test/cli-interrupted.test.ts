// What gpt train says it leaves when a signal or an error ends it (the runs themselves: the signal
// test in cli-processes.test.ts, divergence in cli-checkpoints.test.ts): here the checkpoint that
// went away with its directory, and a save that threw, which did not commit.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { RunWhereabouts } from '../src/cli/interrupted.js';
import { DeviceLostError } from '../src/device/device.js';
import { MANIFEST_FILE } from '../src/node/checkpoint-files.js';
import { tempDir } from './cli-helpers.js';

it('says the checkpoint it saved only while its directory still holds one; a save that threw is not counted', () => {
  const out = join(tempDir('whereabouts'), 'run dir');
  mkdirSync(out);
  const whereabouts = new RunWhereabouts('train', out);
  whereabouts.step = () => 12;
  expect(whereabouts.interrupted('SIGINT')).toBe('gpt train: SIGINT at step 12; nothing was saved');
  whereabouts.savingAt(10);
  writeFileSync(join(out, MANIFEST_FILE), '{}');
  whereabouts.saved(10, 2.5);
  whereabouts.savingAt(20);
  const resume = `continue it with gpt train --init-from resume --out-dir '${out}'`;
  expect(whereabouts.interrupted('SIGTERM')).toBe(`gpt train: SIGTERM at step 12; ${out} keeps the checkpoint of step 20 if its save, under way, was done, else the checkpoint of step 10 (val 2.5000): ${resume}`);
  expect((whereabouts.failed(new Error('cannot write x')) as Error).message).toBe(`cannot write x; ${out} keeps the checkpoint of step 10 (val 2.5000): ${resume}`);
  rmSync(out, { recursive: true });
  expect(whereabouts.interrupted('SIGHUP')).toBe(`gpt train: SIGHUP at step 12; ${out} no longer holds its checkpoint (deleted or moved meanwhile)`);
});

it('a lost device: the steps after the checkpoint (a resumed one, one replaced, or none) went with it', () => {
  const out = join(tempDir('whereabouts-lost'), 'run');
  mkdirSync(out);
  writeFileSync(join(out, MANIFEST_FILE), '{}');
  const lost = () => new DeviceLostError('unknown', 'VK_ERROR_DEVICE_LOST\n  - while polling', 'read');
  const resume = `continue it with gpt train --init-from resume --out-dir ${out}`;
  const resumed = new RunWhereabouts('train', out);
  resumed.found('the checkpoint of step 7', 7);
  resumed.step = () => 9;
  expect((resumed.failed(lost()) as Error).message).toBe(
    `the GPU device was lost (unknown, VK_ERROR_DEVICE_LOST - while polling) at step 9: what the GPU held is gone, and with it the steps after step 7; ${out} keeps the checkpoint of step 7: ${resume}`,
  );
  const replacing = new RunWhereabouts('train', out);
  replacing.found('the checkpoint it held before this run');
  expect((replacing.failed(lost()) as Error).message).toBe(
    `the GPU device was lost (unknown, VK_ERROR_DEVICE_LOST - while polling) before training started: what the GPU held is gone, and with it every step of this run; ${out} keeps the checkpoint it held before this run: ${resume}`,
  );
  const fresh = new RunWhereabouts('distill', join(out, 'none'));
  fresh.step = () => 3;
  expect((fresh.failed(lost()) as Error).message).toBe('the GPU device was lost (unknown, VK_ERROR_DEVICE_LOST - while polling) at step 3: what the GPU held is gone, and with it every step of this run; nothing was saved');
});
