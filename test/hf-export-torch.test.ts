// The path a user takes with a Hugging Face GPT-2 directory, through the CLI: fine-tune it
// (`gpt train --init-from DIR`), resume that run, `gpt export` it, train on and export again over
// the first export (--overwrite). Each export must compute the run's model as GPT-2 does, read the
// way transformers reads it: its model.safetensors parsed by hand here (not by our reader) into the
// float64 GPT-2 forward of hf-reference.ts, and, where /usr/bin/python3 has torch, into a PyTorch
// GPT-2 forward that parses the file on its own (test/fixtures/torch/check_hf_export.py).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { modelFromCheckpoint } from '../src/gpt/checkpoint.js';
import { noGrad, scope, tensor } from '../src/index.js';
import { loadCheckpoint } from '../src/node/checkpoint-dir.js';
import { corpusText, gpt, tempDir } from './cli-helpers.js';
import { setupDevice } from './helpers.js';
import { gpt2Logits, miniGpt2Tokenizer, randomGPT2, writeGPT2Dir, type GPT2Params } from './hf-reference.js';

beforeAll(setupDevice);

const PYTHON = '/usr/bin/python3';
const hasTorch = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

/** A model.safetensors's F32 tensors by GPT-2 name (the `transformer.` prefix dropped), read by hand: 8-byte little-endian header length, the JSON header, the data. */
function readSafetensorsByHand(path: string): GPT2Params {
  const bytes = readFileSync(path);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const params: GPT2Params = new Map();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets: [start, end] } = entry;
    expect(dtype, name).toBe('F32');
    const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 8 + n + start, bytes.byteOffset + 8 + n + end));
    params.set(name.replace(/^transformer\./, ''), { shape, data });
  }
  return params;
}

/** The logits [T, V] of the run in `dir` (its model as loaded here, dropout off) for one sequence. */
async function runLogits(dir: string, ids: number[]): Promise<Float32Array> {
  const { model } = modelFromCheckpoint(await loadCheckpoint(dir));
  try {
    model.eval();
    return await noGrad(() => scope(async () => (await model.forward(tensor(Int32Array.from(ids), [1, ids.length])).logits.toArray()) as Float32Array));
  } finally {
    model.dispose();
  }
}

const worst = (got: Float32Array, want: ArrayLike<number>) => Math.max(...Array.from(got, (x, i) => Math.abs(x - want[i]!)));

/** Expects the export in `exported` to compute `want` (the run's logits for `ids`), read by hand into the float64 GPT-2 forward, and into PyTorch's where it is installed. */
function expectComputes(exported: string, ids: number[], want: Float32Array): void {
  const config = JSON.parse(readFileSync(join(exported, 'config.json'), 'utf8')) as { n_head: number; activation_function: 'gelu_new' | 'gelu' };
  const reference = gpt2Logits(readSafetensorsByHand(join(exported, 'model.safetensors')), ids, config.activation_function, config.n_head).flatMap((row) => [...row]);
  expect(worst(want, reference), `${exported}: float64 GPT-2 forward`).toBeLessThan(1e-4);
  if (!hasTorch) return;
  const [idsFile, out] = [join(exported, '..', 'ids.json'), join(exported, '..', 'torch.json')];
  writeFileSync(idsFile, JSON.stringify(ids));
  execFileSync(PYTHON, [join(import.meta.dirname, 'fixtures/torch/check_hf_export.py'), exported, idsFile, out], { stdio: 'pipe' });
  const torch = JSON.parse(readFileSync(out, 'utf8')) as { logits: number[] };
  expect(worst(want, torch.logits), `${exported}: PyTorch's GPT-2 forward`).toBeLessThan(1e-4);
}

it('a fine-tune of a Hugging Face directory, resumed, exports as GPT-2 computes it; trained on and exported again over it, the new export computes the new model', async () => {
  const dir = tempDir('hf-export-torch');
  const [base, ft, exported, corpus] = ['base', 'ft', 'exported', 'corpus.txt'].map((name) => join(dir, name)) as [string, string, string, string];
  const params = randomGPT2(11);
  writeGPT2Dir(base, params, { prefix: true, head: false });
  writeFileSync(corpus, corpusText(4000));
  const ids = miniGpt2Tokenizer().encode(' the model reads the text and the').slice(0, 12);
  const train = ['--data', corpus, '--eval-iters', '1', '--eval-interval', '2', '--batch-size', '2', '--learning-rate', '1e-2', '--out-dir', ft];
  for (const args of [['--init-from', base, '--max-iters', '2', ...train], ['--init-from', 'resume', '--out-dir', ft, '--max-iters', '4']]) {
    const trained = await gpt('train', ...args);
    expect(trained.code, trained.err).toBe(0);
  }
  const first = await runLogits(ft, ids);
  // the fine-tune moved the model: an export of the base model would fail below
  expect(worst(first, gpt2Logits(params, ids).flatMap((row) => [...row]))).toBeGreaterThan(1e-2);
  const ex = await gpt('export', '--out-dir', ft, '--to', exported);
  expect(ex.code, ex.err).toBe(0);
  expectComputes(exported, ids, first);

  const more = await gpt('train', '--init-from', 'resume', '--out-dir', ft, '--max-iters', '6');
  expect(more.code, more.err).toBe(0);
  const second = await runLogits(ft, ids);
  expect(worst(second, first)).toBeGreaterThan(1e-3);
  const again = await gpt('export', '--out-dir', ft, '--to', exported, '--overwrite');
  expect(again.code, again.err).toBe(0);
  expectComputes(exported, ids, second);
});
