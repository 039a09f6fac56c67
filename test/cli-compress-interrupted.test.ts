// `gpt quantize`, `gpt prune` and `gpt export` ended by a signal (Ctrl-C) while they write the new
// model, as real processes: the half-written weights (under their temporary name, as large as the
// model) go with the process, and so do the directory the command made (quantize and prune's
// --out-dir, export's --to or the directory of its --to DIR/ckpt.pt) and the parents it made,
// which hold nothing else.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GPT } from '../src/gpt/model.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { saveCheckpoint } from '../src/node/checkpoint-dir.js';
import { spawnGpt, tempDir } from './cli-helpers.js';
import { setupDevice } from './helpers.js';

const dir = tempDir('compress-interrupted');
const source = join(dir, 'float32');
afterAll(() => rmSync(dir, { recursive: true, force: true })); // 30 MB of weights

beforeAll(async () => {
  await setupDevice();
  // large enough that its weights take a while to write (7.4M parameters)
  const model = new GPT({ vocabSize: 64, blockSize: 16, nLayer: 8, nHead: 4, nEmbd: 256, dropout: 0, bias: true }, { seed: 1 });
  await saveCheckpoint(source, model, new CharTokenizer(Array.from({ length: 64 }, (_, i) => String.fromCharCode(48 + i))));
  model.dispose();
});

it.each([
  ['quantize', '--bits 8 --out-dir', ''],
  ['prune', '--sparsity 0.5 --out-dir', ''],
  ['export', '--to', ''],
  ['export', '--to', 'ckpt.pt'], // nanoGPT's checkpoint, in the directory export makes
])('gpt %s %s DIR/%s: Ctrl-C while the weights are written leaves no part of them', async (command, flags, file) => {
  const made = join(dir, `made-${command}-${file || 'dir'}`);
  const out = join(made, 'out');
  const run = await spawnGpt([command, '--init-from', source, ...flags.split(' '), join(out, file)]);
  let ended = false;
  void run.done.then(() => (ended = true));
  const writing = () => existsSync(out) && readdirSync(out).some((f) => /^\.(model[-.]|ckpt\.pt\.).*tmp-/.test(f));
  while (!ended && !writing()) await sleep(2);
  run.child.kill('SIGINT');
  const r = await run.done;
  expect(r.signal, `the run ended before it was interrupted: ${r.out}${r.err}`).toBe('SIGINT');
  expect(existsSync(made)).toBe(false);
}, 120_000);
