// `gpt serve` without --api never opens the GPU: it sends files and converts checkpoints on the
// CPU, so a device loss cannot reach it (the page's own device is the page's: browser.test.ts loses
// it). Checked on the running process, serving each kind of checkpoint: Dawn's native module is not
// in its memory map after the checkpoint is sent (a command that opens the adapter loads it).
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeCheckpointFiles } from '../src/node/checkpoint-files.js';
import { spawnGpt, tempDir, tinyCheckpoint } from './cli-helpers.js';
import { randomGPT2, writeGPT2Dir } from './hf-reference.js';

const TORCH_FIXTURES = join(import.meta.dirname, 'fixtures/torch');
const dir = tempDir('cli-serve-gpu');
const root = join(dir, 'web');
mkdirSync(root);
writeFileSync(join(root, 'index.html'), '<!doctype html><title>t</title>');

describe('gpt serve and the GPU', () => {
  it.skipIf(process.platform !== 'linux')("serving a checkpoint directory, a .safetensors file, a Hugging Face directory or nanoGPT's ckpt.pt loads no WebGPU (Dawn) module", async () => {
    const run = join(dir, 'run');
    await writeCheckpointFiles(run, tinyCheckpoint());
    const file = join(dir, 'model.safetensors');
    writeFileSync(file, tinyCheckpoint());
    const hf = join(dir, 'hf');
    writeGPT2Dir(hf, randomGPT2(), { prefix: false, head: false });
    const nano = join(dir, 'nano');
    mkdirSync(nano);
    copyFileSync(join(TORCH_FIXTURES, 'nanogpt-ckpt.pt'), join(nano, 'ckpt.pt'));
    copyFileSync(join(TORCH_FIXTURES, 'nanogpt-meta.pkl'), join(nano, 'meta.pkl'));
    for (const checkpoint of [run, file, hf, join(nano, 'ckpt.pt')]) {
      const server = await spawnGpt(['serve', '--root', root, '--port', '0', '--quiet', '--checkpoint', checkpoint], 60_000);
      try {
        const url = (await server.printed(/open \S+/)).match(/open (\S+)/)![1]!;
        expect((await fetch(`${url}checkpoint.safetensors`)).status, checkpoint).toBe(200);
        const maps = readFileSync(`/proc/${server.child.pid}/maps`, 'utf8');
        expect(maps.includes('dawn'), `${checkpoint}: the server mapped Dawn`).toBe(false);
        expect(maps, 'the map is read').toMatch(/node/);
      } finally {
        server.child.kill('SIGINT');
        await server.done;
      }
    }
  });
});
