// `gpt serve --api` when the GPU device is lost (a driver reset; here device.destroy()): every
// generation would fail from then on, so the server ends with one line saying so, rather than
// answering 500 to every request. Its own file: the device is one per process.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { device } from '../src/device/device.js';
import { GPT } from '../src/gpt/model.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { saveCheckpoint } from '../src/node/checkpoint-dir.js';
import { expectOneLine, gpt, tempDir } from './cli-helpers.js';
import { setupDevice } from './helpers.js';

const dir = tempDir('serve-api-lost');
const ckpt = join(dir, 'ckpt');
const root = join(dir, 'web');

beforeAll(async () => {
  await setupDevice();
  mkdirSync(root);
  writeFileSync(join(root, 'index.html'), '<!doctype html>');
  const tokenizer = CharTokenizer.train('to be, or not to be');
  const model = new GPT({ vocabSize: tokenizer.vocabSize, blockSize: 8, nLayer: 1, nHead: 1, nEmbd: 8, dropout: 0, bias: true }, { seed: 1 });
  await saveCheckpoint(ckpt, model, tokenizer);
  model.dispose();
});

/** A port free a moment ago (the in-process command's output is read only once it returns). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((ok) => probe.listen(0, '127.0.0.1', ok));
  const { port } = probe.address() as AddressInfo;
  await new Promise((ok) => probe.close(ok));
  return port;
}

it('a device lost while serving ends gpt serve with one line saying so (exit 4, nothing left listening)', async () => {
  const port = await freePort();
  const running = gpt('serve', '--api', '--checkpoint', ckpt, '--root', root, '--port', String(port), '--quiet');
  const url = `http://127.0.0.1:${port}/v1/completions`;
  const post = () => fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ prompt: 'to', max_tokens: 3 }) });
  let answered: Response | null = null; // refused until it listens, 503 while it loads
  for (const t0 = Date.now(); answered?.status !== 200 && Date.now() - t0 < 60_000; await new Promise((r) => setTimeout(r, 100))) answered = await post().catch(() => null);
  expect(answered?.status).toBe(200);
  device().gpu.destroy();
  const r = await running;
  expectOneLine(r, 4, /^gpt serve: the GPU device was lost \(destroyed, .*\): what it held is gone; start again \(restart the program, or reload the page\): what was saved is kept$/);
  await expect(post()).rejects.toThrow(/fetch failed/);
});
