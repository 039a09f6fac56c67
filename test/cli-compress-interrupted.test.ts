// `gpt quantize` and `gpt prune` ended by a signal (Ctrl-C) while they write the new checkpoint, as
// real processes: the half-written weights (under their temporary name, as large as the model) go
// with the process, and so do the --out-dir and the parents it made, which hold nothing else.
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
  const tokenizer = new CharTokenizer(Array.from({ length: 64 }, (_, i) => String.fromCharCode(48 + i)));
  await saveCheckpoint(source, model, tokenizer);
  model.dispose();
});

it.each([
  ['quantize', '--bits', '8'],
  ['prune', '--sparsity', '0.5'],
])('gpt %s: Ctrl-C while the weights are written leaves neither them nor the --out-dir it made', async (command, ...flags) => {
  const out = join(dir, `made-${command}`, 'out');
  const run = await spawnGpt([command, ...flags, '--init-from', source, '--out-dir', out]);
  let ended = false;
  void run.done.then(() => (ended = true));
  const writing = () => existsSync(out) && readdirSync(out).some((f) => /^\.model-.*\.tmp-/.test(f));
  while (!ended && !writing()) await sleep(2);
  run.child.kill('SIGINT');
  const r = await run.done;
  expect(r.signal, `the run ended before it was interrupted: ${r.out}${r.err}`).toBe('SIGINT');
  expect(existsSync(join(dir, `made-${command}`)) && readdirSync(out)).toBe(false);
}, 120_000);
