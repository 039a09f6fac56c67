// A command ended by a signal (Ctrl-C's SIGINT, kill's SIGTERM) while it writes a model, as a real
// process: it ends as killed by that signal, the file it was replacing is as it was, and no
// temporary file (`.NAME.tmp-*`, as large as the model) is left beside it. gpt prepare's own test
// is cli-prepare-interrupted.test.ts.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GPT } from '../src/gpt/model.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { saveCheckpoint } from '../src/node/checkpoint-dir.js';
import { tempTarget } from '../src/node/atomic-file.js';
import { LOCK_FILE } from '../src/node/dir-lock.js';
import { gpt, spawnGpt, tempDir } from './cli-helpers.js';
import { setupDevice } from './helpers.js';

const dir = tempDir('write-interrupted');
afterAll(() => rmSync(dir, { recursive: true, force: true })); // models of 50 MB
const checkpoint = join(dir, 'run');

beforeAll(async () => {
  await setupDevice();
  // 12.6M parameters, 50 MB of float32: a write that takes long enough to be caught midway
  const model = new GPT({ vocabSize: 4, blockSize: 64, nLayer: 4, nHead: 8, nEmbd: 512, dropout: 0, bias: false });
  try {
    await saveCheckpoint(checkpoint, model, CharTokenizer.train('abcd'));
  } finally {
    model.dispose();
  }
}, 120_000);

/** The temporary files in `at` (none when it is not there). */
const temps = (at: string) => (existsSync(at) ? readdirSync(at).filter((f) => tempTarget(f) !== null) : []);

/** Whether a model's file is being written in `at`: a temporary file there other than the directory lock's (written and linked in as the lock is taken). */
const writing = (at: string) => temps(at).some((f) => tempTarget(f) !== LOCK_FILE);

/** Each file of `at` and the SHA-256 of its bytes (a deep comparison of 50 MB buffers takes minutes). */
const filesOf = (at: string) => new Map(readdirSync(at).map((f) => [f, createHash('sha256').update(readFileSync(join(at, f))).digest('hex')]));

/**
 * Runs `gpt args` a first time to its end, then again, signalled with `signal` once a temporary
 * file shows in `at`: it ends killed by that signal, with `at`'s files those of the first run, and no temporary file.
 */
async function interruptedMidWrite(args: string[], at: string, signal: NodeJS.Signals): Promise<void> {
  const first = await gpt(...args);
  expect(first.code, first.err).toBe(0);
  const before = filesOf(at);
  const run = await spawnGpt([...args, '--overwrite'], 120_000);
  let ended = false;
  void run.done.then(() => (ended = true));
  while (!ended && !writing(at)) await sleep(2);
  run.child.kill(signal);
  const r = await run.done;
  expect(r.signal, `the run ended before it was interrupted: ${r.out}${r.err}`).toBe(signal);
  expect(temps(at)).toEqual([]);
  expect(filesOf(at)).toEqual(before);
}

describe('interrupted mid-write', () => {
  it("gpt export --to DIR/ckpt.pt: nanoGPT's checkpoint there before is whole, no .ckpt.pt.tmp-* is left", async () => {
    const to = join(dir, 'nanogpt');
    await interruptedMidWrite(['export', '--out-dir', checkpoint, '--to', join(to, 'ckpt.pt')], to, 'SIGINT');
  }, 180_000);

  it('gpt export --to DIR (Hugging Face): the model there before is whole, no .model.safetensors.tmp-* is left', async () => {
    const to = join(dir, 'hf');
    await interruptedMidWrite(['export', '--out-dir', checkpoint, '--to', to], to, 'SIGTERM');
  }, 180_000);

  it('gpt quantize --out-dir DIR: the checkpoint there before is whole, no temporary weights file is left', async () => {
    const to = join(dir, 'int8');
    await interruptedMidWrite(['quantize', '--init-from', checkpoint, '--out-dir', to], to, 'SIGINT');
  }, 180_000);
});
