// `gpt export --to ckpt.pt`: ours as nanoGPT's checkpoint. Round trip, always: our own reader of
// nanoGPT's files (the one gpt train --init-from ckpt.pt --continue uses) reads back every weight,
// AdamW moment, step count and iter_num bit for bit. The oracle, where /usr/bin/python3 has torch
// (skipped elsewhere): test/fixtures/torch/check_nanogpt_export.py loads the file with torch.load,
// checks it names only globals of torch's weights-only allow-list, loads it into an independently
// written nanoGPT model (bench/torch-reference.py) with load_state_dict (strict) and its AdamW
// with load_state_dict, and takes one step: the logits match ours within 1e-5 and the stepped
// weights ours after the same step within 1e-5 of the largest of each tensor.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { nanoGptCheckpoint, openNanoGptSource } from '../src/gpt/nanogpt.js';
import { GPT } from '../src/gpt/model.js';
import { quantizeModel } from '../src/gpt/quantize.js';
import { pruneGlobal } from '../src/nn/prune.js';
import { BpeTokenizer, CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { TRAIN_DEFAULTS, Trainer } from '../src/gpt/trainer.js';
import { noGrad, scope, tensor } from '../src/index.js';
import { bytesSource } from '../src/io/safetensors-source.js';
import { parsePickle } from '../src/io/pickle.js';
import { saveCheckpoint } from '../src/node/checkpoint-dir.js';
import { corpusText, expectOneLine, gpt, tempDir } from './cli-helpers.js';
import { setupDevice } from './helpers.js';

beforeAll(setupDevice);

const PYTHON = '/usr/bin/python3';
const hasTorch = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
const CHARS = [..."\n !',.:;?abcdehilnot"];
const [B, T] = [2, 8];
/** A fixed batch of token ids, and its next-token targets. */
const batch = (seed: number) => Int32Array.from({ length: B * T }, (_, i) => (i * 7 + seed * 3) % CHARS.length);

/** A tiny run of ours (2 AdamW steps, biases on; `extra` settings, LoRA's), saved as gpt train saves it, and its trainer to go on from. */
async function savedRun(dir: string, extra: Partial<typeof TRAIN_DEFAULTS> = {}) {
  const cfg = { ...TRAIN_DEFAULTS, nLayer: 2, nHead: 2, nEmbd: 8, blockSize: 16, bias: true, dropout: 0, batchSize: B, learningRate: 1e-2, warmupIters: 0, beta2: 0.95, gradClip: 0, ...extra };
  const tokens = Int32Array.from({ length: 200 }, (_, i) => (i * 5 + (i >> 3)) % CHARS.length);
  const trainer = new Trainer(cfg, { train: tokens, val: tokens, vocabSize: CHARS.length });
  await trainer.trainStep();
  await trainer.trainStep();
  await saveCheckpoint(dir, trainer.model, new CharTokenizer(CHARS), { optimizer: trainer.optimizer, train: cfg, trainer: await trainer.state(), val: 2.5 });
  return trainer;
}

/** A trainer's optimizer and the model it made. */
const disposeRun = (trainer: Trainer) => {
  trainer.dispose();
  trainer.model.dispose();
};

/** `check` given a fresh directory holding savedRun's run as ours/, the run disposed after. */
async function withSavedRun(name: string, check: (run: string) => Promise<void>): Promise<void> {
  const run = tempDir(name);
  const trainer = await savedRun(join(run, 'ours'));
  try {
    await check(run);
  } finally {
    disposeRun(trainer);
  }
}

describe("gpt export --to ckpt.pt: nanoGPT's checkpoint", () => {
  it('reads back through our nanoGPT reader to the same weights, moments, step counts and iter_num, bit for bit; torch takes it as nanoGPT does', async () => {
    const run = tempDir('nanogpt-export');
    const trainer = await savedRun(join(run, 'ours'));
    try {
      const ckptPath = join(run, 'ckpt.pt');
      const r = await gpt('export', '--out-dir', join(run, 'ours'), '--to', ckptPath);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(/AdamW's moments at iteration 2/);

      // meta.pkl as nanoGPT's prepare.py writes it
      const meta = parsePickle(readFileSync(join(run, 'meta.pkl'))) as Map<string, unknown>;
      expect(meta.get('vocab_size')).toBe(CHARS.length);
      expect([...(meta.get('itos') as Map<number, string>).values()]).toEqual(CHARS);
      expect((meta.get('stoi') as Map<string, number>).get('o')).toBe(CHARS.indexOf('o'));

      const file = await openNanoGptSource(bytesSource(readFileSync(ckptPath)), ckptPath);
      expect(file.model).toMatchObject({ vocabSize: CHARS.length, nLayer: 2, nHead: 2, nEmbd: 8, blockSize: 16, bias: true });
      expect(file.val).toBe(2.5);
      const { ckpt } = nanoGptCheckpoint(file, await file.weights.readTensors(), new CharTokenizer(CHARS), ckptPath);
      const state = await file.readOptimizer(CHARS.length);
      const { m, v, steps } = await trainer.optimizer.readMoments();
      const names = new Map([...trainer.model.namedParameters()].map(([name, p]) => [p, name]));
      expect(state.iterNum).toBe(2);
      expect(state).toMatchObject({ betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1 });
      for (const [name, p] of trainer.model.namedParameters()) expect(ckpt.weights.get(name)!.data, name).toEqual(await p.toArray());
      trainer.optimizer.params.forEach((p, i) => {
        const name = names.get(p)!;
        expect(state.m.get(name), name).toEqual(m[i]);
        expect(state.v.get(name), name).toEqual(v[i]);
        expect(state.steps.get(name), name).toBe(steps[i]);
      });

      if (!hasTorch) return; // the oracle below needs PyTorch
      const x = batch(1);
      const y = batch(2);
      const lr = 3e-3;
      writeFileSync(join(run, 'batch.json'), JSON.stringify({ x: [...x], y: [...y], shape: [B, T], lr }));
      execFileSync(PYTHON, [join(import.meta.dirname, 'fixtures/torch/check_nanogpt_export.py'), ckptPath, join(run, 'batch.json'), join(run, 'torch.json')], { stdio: 'pipe' });
      const torch = JSON.parse(readFileSync(join(run, 'torch.json'), 'utf8'));
      expect(torch.disallowed).toEqual([]);
      expect(torch).toMatchObject({ bad_crc: null, unaligned: [] });
      expect(torch.keys).toEqual(['model', 'optimizer', 'model_args', 'iter_num', 'best_val_loss', 'config']);
      expect(torch.tied).toBe(true);
      const model = trainer.model;
      const logits = (await noGrad(() => scope(async () => model.forward(tensor(x, [B, T])).logits.toArray()))) as Float32Array;
      expect(logits.length).toBe(torch.logits.length);
      expect(Math.max(...torch.logits.map((l: number, i: number) => Math.abs(l - logits[i]!)))).toBeLessThan(1e-5);
      // our next step, as torch's: the same batch and lr, no clipping
      const opt = trainer.optimizer;
      opt.lr = lr;
      scope(() => model.forward(tensor(x, [B, T]), { targets: tensor(y, [B, T]) }).loss.backward());
      opt.step();
      opt.zeroGrad();
      const C = model.config.nEmbd;
      for (const [name, p] of model.namedParameters()) {
        const ours = (await p.toArray()) as Float32Array;
        const want: number[] = torch.after[name];
        // c_attn's key bias has a gradient of 0 in exact math (softmax ignores a score added to a
        // whole row): Adam scales each side's rounding noise to an lr-sized step there, so it is left out
        const compared = name.endsWith('attn.c_attn.bias') ? (i: number) => i < C || i >= 2 * C : () => true;
        const scale = Math.max(...want.map(Math.abs));
        expect(Math.max(...want.map((w, i) => (compared(i) ? Math.abs(ours[i]! - w) : 0))) / scale, name).toBeLessThan(1e-5);
      }
    } finally {
      disposeRun(trainer);
    }
  });

  it('writes an empty AdamW state where the checkpoint has no moments, which torch loads as fresh', async () => {
    const run = tempDir('nanogpt-export-fresh');
    const trainer = await savedRun(join(run, 'run'));
    await saveCheckpoint(join(run, 'ours'), trainer.model, new CharTokenizer(CHARS), { val: 2.5 }); // for inference: no moments
    disposeRun(trainer);
    const ckptPath = join(run, 'ckpt.pt');
    const r = await gpt('export', '--out-dir', join(run, 'ours'), '--to', ckptPath);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/no AdamW moments: train.py --init_from=resume starts them fresh at iteration 0/);
    const state = await (await openNanoGptSource(bytesSource(readFileSync(ckptPath)), ckptPath)).readOptimizer(CHARS.length);
    expect(new Set(state.steps.values())).toEqual(new Set([0]));
    expect([...state.m.values()].every((a) => a.every((x) => x === 0))).toBe(true);
  });

  it("counts AdamW's steps as a float16 run took them: iter_num less the steps its loss scaler skipped", async () => {
    const run = tempDir('nanogpt-export-skipped');
    const trainer = await savedRun(join(run, 'run'));
    try {
      // as a float16 run's checkpoint records a skipped step (its gradients overflowed): 2 iterations, 1 AdamW step
      const state = { ...(await trainer.state()), scaler: { scale: 1024, cleanSteps: 0, skippedSteps: 1 } };
      await saveCheckpoint(join(run, 'ours'), trainer.model, new CharTokenizer(CHARS), { optimizer: trainer.optimizer, train: trainer.cfg, trainer: state });
      const ckptPath = join(run, 'ckpt.pt');
      expect((await gpt('export', '--out-dir', join(run, 'ours'), '--to', ckptPath)).code).toBe(0);
      const read = await (await openNanoGptSource(bytesSource(readFileSync(ckptPath)), ckptPath)).readOptimizer(CHARS.length);
      expect(read.iterNum).toBe(2);
      expect(new Set(read.steps.values())).toEqual(new Set([1]));
    } finally {
      disposeRun(trainer);
    }
  });

  // the steps taken before the trainer's step 0: export wrote iter_num less skips alone (0 for a hand-written loop's moments)
  it("counts the AdamW steps a hand-written loop took: its optimizerSteps without a trainer, and before a trainer's step 0 (the page's optimizerStepsBefore)", async () => {
    const run = tempDir('nanogpt-export-hand-written');
    const trainer = await savedRun(join(run, 'run'));
    try {
      const saved = [
        ['hand', { optimizer: trainer.optimizer }, 0, 2], // saveCheckpoint(dir, model, tok, { optimizer }) after 2 steps
        ['page', { optimizer: trainer.optimizer, train: trainer.cfg, trainer: { ...(await trainer.state()), optimizerStepsBefore: 3 } }, 2, 5],
      ] as const;
      for (const [name, extras, iterNum, steps] of saved) {
        await saveCheckpoint(join(run, name), trainer.model, new CharTokenizer(CHARS), extras);
        const ckptPath = join(run, `${name}.pt`);
        expect((await gpt('export', '--out-dir', join(run, name), '--to', ckptPath)).code).toBe(0);
        const read = await (await openNanoGptSource(bytesSource(readFileSync(ckptPath)), ckptPath)).readOptimizer(CHARS.length);
        expect(read.iterNum, name).toBe(iterNum);
        expect(new Set(read.steps.values()), name).toEqual(new Set([steps]));
      }
    } finally {
      disposeRun(trainer);
    }
  });

  it('writes a magnitude-pruned model as it is, its pruned weights zero and no masks among the tensors (nanoGPT has none)', async () => {
    const run = tempDir('nanogpt-export-pruned');
    const model = new GPT({ blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8, dropout: 0, bias: false, vocabSize: CHARS.length }, { seed: 1 });
    const { pruned } = await pruneGlobal(model, 0.5);
    await saveCheckpoint(join(run, 'ours'), model, new CharTokenizer(CHARS));
    const weights = new Map<string, unknown>();
    for (const [name, p] of model.namedParameters()) weights.set(name, await p.toArray());
    model.dispose();
    const ckptPath = join(run, 'ckpt.pt');
    expect((await gpt('export', '--out-dir', join(run, 'ours'), '--to', ckptPath)).code).toBe(0);
    const file = await openNanoGptSource(bytesSource(readFileSync(ckptPath)), ckptPath);
    expect(file.weights.entries.map((e) => e.name).sort()).toEqual([...weights.keys(), 'lm_head.weight'].sort());
    const read = await file.weights.readTensors();
    for (const [name, data] of weights) expect(read[name]!.data, name).toEqual(data);
    const zeros = Object.entries(read).filter(([name]) => /c_attn|c_proj|c_fc/.test(name)).reduce((n, [, t]) => n + (t.data as Float32Array).filter((x) => x === 0).length, 0);
    expect(pruned).toBeGreaterThan(0);
    expect(zeros).toBe(pruned);
  });

  it("merges a LoRA fine-tune's adapters into the weights it writes, its AdamW state fresh (the adapters' moments are no moments of the merged weights)", async () => {
    const run = tempDir('nanogpt-export-lora');
    const trainer = await savedRun(join(run, 'ours'), { loraRank: 2 });
    try {
      const ckptPath = join(run, 'ckpt.pt');
      const r = await gpt('export', '--out-dir', join(run, 'ours'), '--to', ckptPath);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(/no AdamW moments \(LoRA adapters merged\): train.py --init_from=resume starts them fresh at iteration 2/);
      const file = await openNanoGptSource(bytesSource(readFileSync(ckptPath)), ckptPath);
      const { ckpt } = nanoGptCheckpoint(file, await file.weights.readTensors(), new CharTokenizer(CHARS), ckptPath);
      const base = new Map<string, unknown>();
      for (const [name, p] of trainer.model.namedParameters()) base.set(name, await p.toArray());
      trainer.model.mergeLoRA();
      const merged = [...trainer.model.namedParameters()];
      expect([...ckpt.weights.keys()].sort()).toEqual(merged.map(([name]) => name).sort());
      for (const [name, p] of merged) expect(ckpt.weights.get(name)!.data, name).toEqual(await p.toArray());
      expect(ckpt.weights.get('h.0.attn.c_attn.weight')!.data).not.toEqual(base.get('h.0.attn.c_attn.weight')); // the adapters' update is in it
      expect(new Set((await file.readOptimizer(CHARS.length)).steps.values())).toEqual(new Set([0]));
    } finally {
      disposeRun(trainer);
    }
  });

  it("creates --to's directory with its parents, as the Hugging Face form and nanoGPT's train.py create theirs", () =>
    withSavedRun('nanogpt-export-new-dir', async (run) => {
      const to = join(run, 'out-x', 'sub', 'ckpt.pt');
      const r = await gpt('export', '--out-dir', join(run, 'ours'), '--to', to);
      expect(r.code, r.err).toBe(0);
      expect(existsSync(to) && existsSync(join(run, 'out-x', 'sub', 'meta.pkl'))).toBe(true);
    }));

  it('refuses --to naming the checkpoint it reads: the export would replace it without its AdamW state and iter_num', () =>
    withSavedRun('nanogpt-export-self', async (run) => {
      const ckptPath = join(run, 'ckpt.pt');
      expect((await gpt('export', '--out-dir', join(run, 'ours'), '--to', ckptPath)).code).toBe(0);
      const before = readFileSync(ckptPath);
      expectOneLine(await gpt('export', '--out-dir', ckptPath, '--to', join(run, '.', 'ckpt.pt')), 2, /--to .*ckpt\.pt is the checkpoint --out-dir .*ckpt\.pt reads: writing it would replace the model it reads; export to another path$/);
      expect(readFileSync(ckptPath).equals(before)).toBe(true);
      // another checkpoint there (nanoGPT's own, an earlier export) is replaced only when asked
      expectOneLine(await gpt('export', '--out-dir', join(run, 'ours'), '--to', ckptPath), 2, /--to .*ckpt\.pt already holds a file: choose another --to, or replace it with --overwrite$/);
      expect(readFileSync(ckptPath).equals(before)).toBe(true);
      expect((await gpt('export', '--out-dir', join(run, 'ours'), '--to', ckptPath, '--overwrite')).code).toBe(0);
    }));

  it('refuses, in one line and writing nothing, a tokenizer nanoGPT has no form for, shared blocks, structurally pruned and int8 models', async () => {
    const run = tempDir('nanogpt-export-refused');
    const to = join(run, 'ckpt.pt');
    const config = { blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 8, dropout: 0, bias: false };
    const bpe = BpeTokenizer.train(corpusText(2000), 260);
    const bpeModel = new GPT({ ...config, vocabSize: bpe.vocabSize }, { seed: 1 });
    await saveCheckpoint(join(run, 'bpe'), bpeModel, bpe);
    bpeModel.dispose();
    expectOneLine(await gpt('export', '--out-dir', join(run, 'bpe'), '--to', to), 2, /--to .*ckpt\.pt: nanoGPT's sample\.py knows character vocabularies \(meta\.pkl\) and GPT-2's, and this model's tokenizer is bpe/);
    const shared = new GPT({ ...config, vocabSize: CHARS.length, shareLayers: 2 }, { seed: 1 });
    await saveCheckpoint(join(run, 'shared'), shared, new CharTokenizer(CHARS));
    shared.dispose();
    expectOneLine(await gpt('export', '--out-dir', join(run, 'shared'), '--to', to), 2, /nanoGPT's blocks share no weights, and this model's groups of 2 do/);
    const narrow = new GPT({ ...config, vocabSize: CHARS.length, nHeads: [1, 1] }, { seed: 1 });
    await saveCheckpoint(join(run, 'narrow'), narrow, new CharTokenizer(CHARS));
    const int8 = await quantizeModel(narrow);
    narrow.dispose();
    expectOneLine(await gpt('export', '--out-dir', join(run, 'narrow'), '--to', to), 2, /nanoGPT's GPT cannot hold this structurally pruned model \(heads per block \[1,1\]\): every block must have n_head 2 heads/);
    await saveCheckpoint(join(run, 'int8'), int8, new CharTokenizer(CHARS));
    int8.dispose();
    expectOneLine(await gpt('export', '--out-dir', join(run, 'int8'), '--to', to), 2, /is a quantized \(int8\) checkpoint, for inference only: export the float32 checkpoint it was made from/);
    expectOneLine(await gpt('export', '--out-dir', join(run, 'shared'), '--to', join(run, 'missing', 'ckpt.pt')), 2, /nanoGPT's blocks share no weights/);
    expect(existsSync(join(run, 'missing'))).toBe(false); // a refused export creates no directory
    expect(existsSync(to)).toBe(false);
    expect(existsSync(join(run, 'meta.pkl'))).toBe(false);
  });
});
