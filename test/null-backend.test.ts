// Dawn's null backend (GPT_DAWN_BACKEND=null): every command is validated and recorded, none runs.
// The host side of any workload must run there as on a GPU (`npm run bench:host` times it), so
// reads give zeros instead of stale memory or fault bits, and nothing that needs results (the
// device-start self-check, the autotuner) acts on them.
import { beforeAll, describe, expect, it } from 'vitest';
import { describeVerdicts } from '../src/kernels/self-check.js';
import { setAutotune, tuned } from '../src/kernels/autotune.js';
import { encodeCheckpoint } from '../src/gpt/checkpoint.js';
import { encodeHF } from '../src/gpt/hf/index.js';
import { GPT } from '../src/gpt/model.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { TRAIN_DEFAULTS, Trainer } from '../src/gpt/trainer.js';
import { device, initDevice, scope, tensor } from '../src/index.js';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { corpusText, gpt, tempDir, TINY } from './cli-helpers.js';

beforeAll(async () => {
  process.env.GPT_DAWN_BACKEND = 'null'; // read when this file's process opens its device
  await initDevice();
});

describe("Dawn's null backend", () => {
  it('is the device: it says it executes nothing, and the self-check judged nothing', () => {
    expect(device().info.device).toBe('null-backend');
    expect(device().info.backend).toBe('dawn/null');
    expect(device().executes).toBe(false);
    expect(describeVerdicts()).toMatch(/nothing to verify/);
  });

  it('reads return zeros, not what the staging buffer held (stale memory, or fault bits no kernel raised)', async () => {
    const x = tensor(Float32Array.from({ length: 300 }, (_, i) => i + 1), [300]);
    for (let i = 0; i < 3; i++) expect(Array.from(await scope(() => x.mul(3).toArray()))).toEqual(new Array(300).fill(0));
    x.dispose();
  });

  it('counts as a GPU for submits: after the GPU ran dry the first comes after 32 dispatches, each next after twice as many', async () => {
    const x = tensor(new Float32Array(64), [64]);
    await device().sync();
    const { dispatches, submits } = device().stats;
    scope(() => {
      for (let i = 0; i < 100; i++) x.gelu();
    });
    expect(device().stats.dispatches - dispatches).toBe(100);
    expect(device().stats.submits - submits).toBe(2); // after 32, then 64 more; 4 wait for the next
    await device().sync(); // the GPU runs dry: back to 32
    scope(() => {
      for (let i = 0; i < 40; i++) x.gelu();
    });
    expect(device().stats.submits - submits).toBe(4);
    x.dispose();
  });

  it('profiling is refused with one line: no kernel runs to write its timestamps', () => {
    expect(() => device().startProfiling()).toThrow(/^profiling needs an adapter that runs commands; Dawn's null backend \(GPT_DAWN_BACKEND=null\) runs none$/);
  });

  it('no checkpoint is written: its weights would read back as zeros, over a real checkpoint', async () => {
    const model = new GPT({ vocabSize: 11, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8, dropout: 0, bias: true });
    const tokenizer = new CharTokenizer([...'abcdefghijk']);
    const refusal = /^checkpoint not saved: Dawn's null backend \(GPT_DAWN_BACKEND=null\) runs nothing, so the weights read back as zeros$/;
    await expect(encodeCheckpoint(model, tokenizer)).rejects.toThrow(refusal);
    await expect(encodeHF(model, tokenizer)).rejects.toThrow(refusal);
    model.dispose();
  });

  it('gpt train refuses before it makes a directory, a log or a step: no save could follow', async () => {
    const dir = tempDir('null-train');
    const corpus = join(dir, 'corpus.txt');
    writeFileSync(corpus, corpusText(3000));
    const out = join(dir, 'run');
    const r = await gpt('train', '--data', corpus, ...TINY, '--max-iters', '4', '--out-dir', out);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^gpt train: Dawn's null backend \(GPT_DAWN_BACKEND=null\) runs nothing: a run there could save no checkpoint/);
    expect(existsSync(out)).toBe(false);
  });

  it('the autotuner keeps the defaults: timings of work that never ran mean nothing', () => {
    setAutotune(true); // the tests run with GPT_AUTOTUNE=0
    const t = { key: 'null-backend test', fallback: 'a', candidates: ['a', 'b'], prepare: () => ({ run: () => {}, dispose: () => {} }) };
    expect(tuned(t)).toBe('a');
    expect(tuned(t)).toBe('a');
    setAutotune(false);
  });

  it('a GPT trains and generates through every host path without a GPU error', async () => {
    const cfg = { ...TRAIN_DEFAULTS, nLayer: 2, nHead: 2, nEmbd: 32, blockSize: 16, batchSize: 2, warmupIters: 0, dropout: 0.1 };
    const ids = Int32Array.from({ length: 400 }, (_, i) => i % 11);
    for (const dtype of ['float32', 'float16'] as const) {
      const trainer = new Trainer({ ...cfg, dtype }, { train: ids.slice(0, 300), val: ids.slice(300), vocabSize: 11 });
      for (let i = 0; i < 2; i++) expect((await trainer.trainStep(true)).loss).toBe(0);
      trainer.dispose();
      trainer.model.dispose();
    }
    const model = new GPT({ vocabSize: 11, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 32, dropout: 0, bias: true });
    model.eval();
    const { generate } = await import('../src/gpt/generate.js');
    const out: number[] = [];
    for await (const t of generate(model, [1, 2], { maxNewTokens: 4, temperature: 1, seed: 1, kvCache: true })) out.push(t);
    expect(out).toHaveLength(4);
    model.dispose();
    await device().sync();
  });
});
