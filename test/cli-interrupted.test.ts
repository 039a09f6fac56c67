// What gpt train says it leaves when a signal or an error ends it (the runs themselves: the signal
// test in cli-processes.test.ts, divergence in cli-checkpoints.test.ts): here the checkpoint that
// went away with its directory, and a save that threw, which did not commit.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { RunWhereabouts } from '../src/cli/interrupted.js';
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
