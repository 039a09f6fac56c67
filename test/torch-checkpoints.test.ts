// Checkpoints torch.save wrote, loaded as checkpoints: a Hugging Face GPT-2 directory with
// pytorch_model.bin (or its shards) in place of model.safetensors. The oracle is PyTorch:
// test/fixtures/torch/make_fixtures.py wrote the files and torch's float64 logits for them
// (logits.json); our model's logits must agree within 1e-4.
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { modelFromCheckpoint } from '../src/gpt/checkpoint.js';
import type { GPT } from '../src/gpt/model.js';
import { toHuggingFaceJSON } from '../src/gpt/tokenizer/index.js';
import { noGrad, scope, tensor } from '../src/index.js';
import { loadCheckpoint, loadCheckpointModel } from '../src/node/checkpoint-dir.js';
import { gpt, tempDir } from './cli-helpers.js';
import { setupDevice } from './helpers.js';
import { miniGpt2Tokenizer } from './hf-reference.js';

beforeAll(setupDevice);

const FIXTURES = join(import.meta.dirname, 'fixtures/torch');
const torchLogits: Record<string, { ids: number[][]; logits: number[][][] }> = JSON.parse(readFileSync(join(FIXTURES, 'logits.json'), 'utf8'));
const dir = tempDir('torch-ckpt');

/** Largest |ours - torch's float64 logits| for the fixture `which`'s ids, dropout off. */
async function worstError(model: GPT, which: string): Promise<number> {
  const { ids, logits } = torchLogits[which]!;
  model.eval();
  const ours = await noGrad(() => scope(async () => (await model.forward(tensor(Int32Array.from(ids.flat()), [ids.length, ids[0]!.length])).logits.toArray()) as Float32Array));
  const want = logits.flat(2);
  expect(ours.length).toBe(want.length);
  return Math.max(...want.map((w, i) => Math.abs(ours[i]! - w)));
}

/** A copy of the fixture directory `name` with the mini GPT-2 tokenizer's tokenizer.json (260 tokens, as its config says). */
function hfDir(name: string): string {
  const path = join(dir, name);
  rmSync(path, { recursive: true, force: true });
  cpSync(join(FIXTURES, name), path, { recursive: true });
  writeFileSync(join(path, 'tokenizer.json'), JSON.stringify(toHuggingFaceJSON(miniGpt2Tokenizer())));
  return path;
}

describe('a Hugging Face GPT-2 directory with pytorch_model.bin', () => {
  it.each(['hf', 'hf-sharded'])("%s loads (to the host, and uploaded as read) with torch's logits within 1e-4, the mask buffers ignored", async (name) => {
    const path = hfDir(name);
    const ckpt = await loadCheckpoint(path);
    expect(ckpt.meta.model).toMatchObject({ vocabSize: 260, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 8, bias: true, activation: 'gelu_tanh' });
    const { model } = modelFromCheckpoint(ckpt, { dropout: 0 });
    expect(await worstError(model, 'hf')).toBeLessThan(1e-4);
    model.dispose();
    const uploaded = await loadCheckpointModel(path, { dropout: 0 });
    expect(await worstError(uploaded.model, 'hf')).toBeLessThan(1e-4);
    uploaded.model.dispose();
  });

  it('prefers model.safetensors, and names the torch files where there are no weights', async () => {
    const path = hfDir('hf');
    rmSync(join(path, 'pytorch_model.bin'));
    await expect(loadCheckpoint(path)).rejects.toThrow(/: no model\.safetensors \(nor model\.safetensors\.index\.json, pytorch_model\.bin, pytorch_model\.bin\.index\.json\): a GPT-2 model directory holds/);
    // a damaged pytorch_model.bin: its error names the file and what is wrong
    writeFileSync(join(path, 'pytorch_model.bin'), Uint8Array.of(0x80, 2, 0x7d, 0x2e));
    const { code, err } = await gpt('sample', '--init-from', path, '--max-new-tokens', '2');
    expect([code, err.trim()]).toEqual([1, `gpt sample: ${path}/pytorch_model.bin: a torch.save file of PyTorch before 1.6 (a bare pickle), which is not read: re-save it with torch >= 1.6, torch.save(torch.load(PATH), PATH)`]);
  });

  it('`gpt sample` and `gpt info` take the directory', async () => {
    const path = hfDir('hf');
    const sampled = await gpt('sample', '--init-from', path, '--max-new-tokens', '4', '--seed', '1', '--start', 'the');
    expect([sampled.code, sampled.err]).toEqual([0, expect.stringMatching(/^--- 4 tokens in /)]);
    const info = await gpt('info', path);
    expect([info.code, info.err]).toEqual([0, '']);
    expect(info.out).toMatch(/causal-mask buffers: F32, 4 tensors[^]*on disk {6}26,961 bytes \(pytorch_model\.bin\)/);
  });
});
