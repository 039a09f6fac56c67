// Continuing nanoGPT's run (gpt train --init-from ckpt.pt --continue): its ckpt.pt's AdamW state
// (exp_avg, exp_avg_sq, step, by its configure_optimizers' grouping) and iter_num taken on. The
// oracle is PyTorch: test/fixtures/torch/make_continue_fixture.py trained a tiny nanoGPT 3 AdamW
// steps, saved it as train.py does, then took 3 more steps in float64 on fixed batches
// (nanogpt-continue.json). Ours, a Trainer set as gpt train --continue sets it, takes the same 3
// steps (the CLI cannot take fixed batches) in float32: each weight within 1e-6 of torch's,
// relative to the largest of its tensor (measured: 1.1e-7; an Adam step moves a weight by about
// lr, 1e-2 here, and fresh moments, the mutation checked below, land 1e-3 and more away).
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { modelFromCheckpoint } from '../src/gpt/checkpoint.js';
import { GPT } from '../src/gpt/model.js';
import { saveCheckpoint } from '../src/node/checkpoint-dir.js';
import { nanoGptCheckpoint, openNanoGptSource } from '../src/gpt/nanogpt.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { TRAIN_DEFAULTS, Trainer } from '../src/gpt/trainer.js';
import { continueNanoGptRun } from '../src/cli/nanogpt-continue.js';
import { scope, tensor } from '../src/index.js';
import { bytesSource } from '../src/io/safetensors-source.js';
import { learningRate } from '../src/optim/schedule.js';
import { expectOneLine, gpt, tempDir } from './cli-helpers.js';
import { setupDevice } from './helpers.js';
import { torchSave, type TorchValue } from './torch-writer.js';

beforeAll(setupDevice);

const FIXTURES = join(import.meta.dirname, 'fixtures/torch');
const CKPT = 'nanogpt-continue-ckpt.pt';
const CHARS = "\n !',.:;?abcdehilnot"; // make_fixtures.py's meta.pkl, which this checkpoint's run shares
const torchRun: {
  iters: number[];
  lrs: number[];
  batches: { x: number[]; y: number[]; shape: [number, number] }[];
  weights: Record<string, number[]>;
} = JSON.parse(readFileSync(join(FIXTURES, 'nanogpt-continue.json'), 'utf8'));

const open = () => openNanoGptSource(bytesSource(readFileSync(join(FIXTURES, CKPT))), CKPT);

/**
 * Ours from the checkpoint, set to continue as gpt train --continue sets a Trainer (or, `fresh`,
 * only its step: no moments), then 3 AdamW steps on torch's batches at the Trainer's lr (the
 * fixture run's schedule, from iter_num): the worst relative error of a weight against torch's.
 */
async function continued(fresh: boolean): Promise<number> {
  const file = await open();
  const { ckpt } = nanoGptCheckpoint(file, await file.weights.readTensors(), new CharTokenizer([...CHARS]), CKPT);
  const state = await file.readOptimizer(ckpt.meta.model.vocabSize);
  const { model } = modelFromCheckpoint(ckpt, { dropout: 0 });
  const cfg = { ...TRAIN_DEFAULTS, nLayer: 2, nHead: 2, nEmbd: 8, blockSize: 16, bias: false, dropout: 0, learningRate: 1e-2, minLr: 1e-3, warmupIters: 2, lrDecayIters: 10, beta2: 0.95, batchSize: 2 };
  const tokens = Int32Array.from({ length: 64 }, (_, i) => i % 20); // drawn from by no step here
  const trainer = new Trainer(cfg, { train: tokens, val: tokens, vocabSize: 20 }, model);
  if (fresh) trainer.step = state.iterNum;
  else await continueNanoGptRun(trainer, state);
  const opt = trainer.optimizer;
  for (const { x, y, shape } of torchRun.batches) {
    opt.lr = trainer.lr();
    scope(() => model.forward(tensor(Int32Array.from(x), shape), { targets: tensor(Int32Array.from(y), shape) }).loss.backward());
    opt.step();
    opt.zeroGrad();
    trainer.step++;
  }
  let worst = 0;
  for (const [name, p] of model.namedParameters()) {
    const ours = (await p.toArray()) as Float32Array;
    const want = torchRun.weights[name]!;
    expect(ours.length, name).toBe(want.length);
    const scale = Math.max(...want.map(Math.abs));
    worst = Math.max(worst, ...want.map((w, i) => Math.abs(ours[i]! - w) / scale));
  }
  trainer.dispose();
  model.dispose();
  return worst;
}

describe("continuing nanoGPT's run from its ckpt.pt", () => {
  it("reads iter_num, the groups' settings and every parameter's state by configure_optimizers' order", async () => {
    const state = await (await open()).readOptimizer(20);
    expect(state.iterNum).toBe(torchRun.iters[0]);
    expect(state).toMatchObject({ betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1 });
    expect([...state.m.keys()].sort()).toEqual(Object.keys(torchRun.weights).sort());
    expect(new Set(state.steps.values())).toEqual(new Set([3]));
    // the schedule continues where train.py's get_lr left off (the fixture's settings)
    expect(torchRun.iters.map((it) => learningRate(it, { lr: 1e-2, minLr: 1e-3, warmupIters: 2, lrDecayIters: 10 }))).toEqual(torchRun.lrs.map((lr) => expect.closeTo(lr, 12)));
  });

  it("set as gpt train --continue sets its Trainer, takes 3 more steps on torch's batches to torch's weights within 1e-6; fresh moments do not", async () => {
    expect(await continued(false)).toBeLessThan(1e-6);
    expect(await continued(true)).toBeGreaterThan(1e-3);
  });

  it("hands on the steps a float16 run's GradScaler skipped (iter_num above AdamW's step): a run resumed from ours counts AdamW's steps as the continued one did", async () => {
    for (const dtype of ['float32', 'float16'] as const) {
      const file = await open();
      const { ckpt } = nanoGptCheckpoint(file, await file.weights.readTensors(), new CharTokenizer([...CHARS]), CKPT);
      const state = await file.readOptimizer(ckpt.meta.model.vocabSize);
      state.iterNum += 2; // as if train.py's GradScaler had skipped 2 of its 5 iterations: AdamW stepped 3 times
      const cfg = { ...TRAIN_DEFAULTS, nLayer: 2, nHead: 2, nEmbd: 8, blockSize: 16, bias: false, dropout: 0, batchSize: 2, dtype };
      const tokens = Int32Array.from({ length: 64 }, (_, i) => i % 20);
      const data = { train: tokens, val: tokens, vocabSize: 20 };
      const trainer = new Trainer(cfg, data, modelFromCheckpoint(ckpt, { dropout: 0 }).model);
      await continueNanoGptRun(trainer, state);
      const resumed = new Trainer(cfg, data, modelFromCheckpoint(ckpt, { dropout: 0 }).model);
      resumed.restore(await trainer.state()); // gpt train --init-from resume, from a checkpoint saved now
      for (const t of [trainer, resumed]) {
        expect(t.step, dtype).toBe(5);
        // readMoments' counts take in the steps a GradScaler skipped, which the kernel takes off
        const skipped = dtype === 'float16' ? (await t.state()).scaler!.skippedSteps : 0;
        expect((await t.optimizer.readMoments()).steps.map((n) => n - skipped), dtype).toEqual(trainer.optimizer.params.map(() => 3));
        t.model.dispose();
        t.dispose();
      }
    }
  });

  it('refuses, in one line, a checkpoint without AdamW state and one whose groups are not nanoGPT\'s', async () => {
    const args = new Map<string, TorchValue>([['n_layer', 1], ['n_head', 1], ['n_embd', 2], ['block_size', 4], ['vocab_size', 3]]);
    const bare = torchSave(new Map<string, TorchValue>([['model', new Map([['transformer.wte.weight', { shape: [3, 2], data: new Float32Array(6) }]])], ['model_args', args], ['iter_num', 7]]));
    await expect((await openNanoGptSource(bytesSource(bare), 'bare.pt')).readOptimizer(3)).rejects.toThrow(/^bare\.pt\['optimizer'\]: no AdamW state \(got no such key\), so the run cannot be continued; only its weights can be taken, from step 0$/);
    // make_fixtures.py's: one group of every parameter (torch.optim.AdamW(params)), not configure_optimizers' two
    const oneGroup = await openNanoGptSource(bytesSource(readFileSync(join(FIXTURES, 'nanogpt-ckpt.pt'))), 'ckpt.pt');
    await expect(oneGroup.readOptimizer(20)).rejects.toThrow(/^ckpt\.pt\['optimizer'\]: expected nanoGPT's 2 param_groups \(dim >= 2 decayed, the rest not\), got a list or tuple of 1$/);
  });
});

describe('gpt train --init-from ckpt.pt --continue', () => {
  const dir = tempDir('nanogpt-continue');
  /** A nanoGPT checkout holding `fixture` as out/ckpt.pt and its meta.pkl; a corpus of its characters. */
  const checkout = (fixture: string) => {
    const root = join(dir, fixture);
    mkdirSync(join(root, 'out'), { recursive: true });
    mkdirSync(join(root, 'data', 'shakespeare_char'), { recursive: true });
    cpSync(join(FIXTURES, fixture), join(root, 'out', 'ckpt.pt'));
    cpSync(join(FIXTURES, 'nanogpt-meta.pkl'), join(root, 'data', 'shakespeare_char', 'meta.pkl'));
    writeFileSync(join(root, 'input.txt'), Array.from({ length: 400 }, (_, i) => CHARS[(i * 7) % CHARS.length]).join(''));
    return { ckpt: join(root, 'out', 'ckpt.pt'), data: join(root, 'input.txt') };
  };
  const schedule = ['--learning-rate', '1e-2', '--min-lr', '1e-3', '--warmup-iters', '2', '--lr-decay-iters', '10']; // the fixture's run's
  const small = ['--eval-iters', '1', '--batch-size', '2', '--block-size', '16'];

  it("continues at iter_num on the schedule, its betas adopted, and says the batches differ", async () => {
    const { ckpt, data } = checkout(CKPT);
    const r = await gpt('train', '--init-from', ckpt, '--continue', '--data', data, '--max-iters', '5', '--log-interval', '1', ...schedule, ...small, '--out-dir', join(dir, 'run'));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(
      `continuing nanoGPT's run from ${ckpt} at iteration 3: its weights, AdamW's moments and step counts, the lr schedule from step 3 (lr ${torchRun.lrs[0]!.toExponential(2)}; its last step's 1.00e-2), its --beta2 0.95; nanoGPT saves no random state or data position, so the batches differ from those its run would have drawn`,
    );
    // a step's line is numbered after it, with the lr it took: torch's at iterations 3 and 4
    torchRun.lrs.slice(0, 2).forEach((lr, k) => expect(r.out).toMatch(new RegExp(`step ${4 + k}: loss [\\d.]+, lr ${lr.toExponential(2)}`)));
    expect(r.out).toContain('done: 2 steps');
  });

  it("under a Python config, its AdamW settings and train.py's defaults give way to the checkpoint's, as train.py's optimizer.load_state_dict restores them", async () => {
    const { ckpt, data } = checkout(CKPT);
    // nanoGPT's `python train.py config/c.py --init_from=resume`: the config's beta2 and weight_decay are not the run's (0.95, 0.1)
    const config = join(dir, 'continue.py');
    writeFileSync(config, 'beta2 = 0.99\nweight_decay = 0.2\nmax_iters = 5\nlog_interval = 1\neval_iters = 1\nbatch_size = 2\nblock_size = 16\ngradient_accumulation_steps = 1\nlearning_rate = 1e-2\nmin_lr = 1e-3\nwarmup_iters = 2\nlr_decay_iters = 10\n');
    const r = await gpt('train', config, `--init_from=${ckpt}`, '--continue', `--data=${data}`, '--out_dir', join(dir, 'run-config'));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`(lr ${torchRun.lrs[0]!.toExponential(2)}; its last step's 1.00e-2), its --weight-decay 0.1, --beta2 0.95; nanoGPT saves no random state`);
    torchRun.lrs.slice(0, 2).forEach((lr, k) => expect(r.out).toMatch(new RegExp(`step ${4 + k}: loss [\\d.]+, lr ${lr.toExponential(2)}`)));
  });

  it('refuses in one line: no ckpt.pt, gpt distill, a setting given otherwise, no steps left, another block size, groups not nanoGPT\'s', async () => {
    const { ckpt, data } = checkout(CKPT);
    const run = (...args: string[]) => gpt('train', '--continue', '--data', data, ...small, '--out-dir', join(dir, 'refused'), ...args);
    expectOneLine(await run('--init-from', 'resume'), 2, /flag --continue continues nanoGPT's run from its ckpt\.pt given as gpt train --init-from, got --init-from resume \(which continues a run of ours without it\)$/);
    expectOneLine(await run('--init-from', ckpt, '--beta2', '0.99'), 2, /flag --continue \(--init-from .*\): flag --beta2 0\.99 differs from its AdamW's 0\.95; leave it out to take the checkpoint's$/);
    expectOneLine(await run('--init-from', ckpt, '--max-iters', '3'), 2, /^gpt train: flag --continue: nanoGPT's run already reached iteration 3: raise --max-iters \(now 3\) to train further$/);
    expectOneLine(await run('--init-from', ckpt, '--block-size', '8'), 2, /flag --continue continues the position embeddings' AdamW state, and --block-size 8 cuts them from 16: leave --block-size out$/);
    expectOneLine(await gpt('distill', '--continue', '--init-from', ckpt, '--teacher', ckpt, '--data', data, '--out-dir', join(dir, 'refused')), 2, /flag --continue continues nanoGPT's run from its ckpt\.pt given as gpt train --init-from, got gpt distill$/);
    const oneGroup = checkout('nanogpt-ckpt.pt');
    expectOneLine(await run('--init-from', oneGroup.ckpt), 2, /flag --continue \(--init-from .*\): .*\['optimizer'\]: expected nanoGPT's 2 param_groups/);
  });
});

describe("nanoGPT's out_dir where a run of ours is read", () => {
  const dir = tempDir('nanogpt-out-dir');

  it('--out-dir of sample, eval and export reads its ckpt.pt, as sample.py --out_dir=DIR; --init-from resume, which would continue it otherwise, names the flags that do', async () => {
    const out = join(dir, 'out-shakespeare-char');
    mkdirSync(out, { recursive: true });
    cpSync(join(FIXTURES, CKPT), join(out, 'ckpt.pt'));
    const file = join(out, 'ckpt.pt');
    expectOneLine(
      await gpt('train', '--init-from', 'resume', '--out-dir', out),
      2,
      new RegExp(`^gpt train: --init-from resume continues a run of ours in --out-dir, and ${out} holds nanoGPT's ${file} instead \\(no checkpoint\\.json\\): continue its run with --init-from ${file} --continue$`),
    );
    // sample.py's vocabulary: meta.pkl beside it (as gpt export writes it), where data/<dataset>/ has none
    cpSync(join(FIXTURES, 'nanogpt-meta.pkl'), join(out, 'meta.pkl'));
    const sampled = await gpt('sample', `--out_dir=${out}`, '--max_new_tokens=8', '--num_samples=1');
    expect(sampled.code, sampled.err).toBe(0);
    expect(sampled.err).toMatch(/^--- 8 tokens in /m);
    writeFileSync(join(dir, 'corpus.txt'), CHARS.repeat(100));
    const evaluated = await gpt('eval', `--out_dir=${out}`, `--data=${join(dir, 'corpus.txt')}`, '--eval_iters=1', '--batch_size=2');
    expect(evaluated.code, evaluated.err).toBe(0);
    expect(evaluated.out).toMatch(/train loss \d+\.\d+, val loss \d+\.\d+/);
    const exported = await gpt('export', `--out_dir=${out}`, '--to', join(dir, 'hf'));
    expect(exported.code, exported.err).toBe(0);
    expect(existsSync(join(dir, 'hf', 'model.safetensors'))).toBe(true);
    const described = await gpt('info', out); // its ckpt.pt, as sample.py --out_dir reads it
    expect(described.code, described.err).toBe(0);
    expect(described.out).toMatch(new RegExp(`^checkpoint +${file} \\(nanoGPT checkpoint\\)$`, 'm'));
    // a run of ours beside it is read first, as before, and a note says so and how to read the other
    const tokenizer = new CharTokenizer([...CHARS]);
    const ours = new GPT({ vocabSize: tokenizer.vocabSize, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 8, dropout: 0, bias: true }, { seed: 1 });
    await saveCheckpoint(out, ours, tokenizer);
    ours.dispose();
    const both = await gpt('sample', `--out_dir=${out}`, '--max_new_tokens=8', '--num_samples=1');
    expect(both.code, both.err).toBe(0);
    const notes = both.err.split('\n').filter((line) => line.includes('ckpt.pt'));
    expect(notes).toEqual([`note: ${out} holds both a checkpoint of ours (checkpoint.json) and nanoGPT's ckpt.pt: ours was read; to read nanoGPT's, give --init-from ${file}`]);
    const exportedOurs = await gpt('export', '--out-dir', out, '--to', join(dir, 'hf-ours'));
    expect(exportedOurs.code, exportedOurs.err).toBe(0);
    expect(exportedOurs.err).toContain(`note: ${out} holds both a checkpoint of ours`);
    expect(JSON.parse(readFileSync(join(dir, 'hf-ours', 'config.json'), 'utf8')).n_layer, 'ours (1 layer), not the ckpt.pt (2)').toBe(1);
    // a directory of ours beside it is read as before
    expectOneLine(await gpt('train', '--init-from', 'resume', '--out-dir', join(dir, 'missing')), 2, /^gpt train: --init-from resume continues the run in --out-dir, and .*missing does not exist: give the run's directory/);
  });
});
