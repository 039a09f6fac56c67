// Distillation end to end: the trainer's first step against a float64 loss computed here from the
// teacher's and student's logits on that step's batch; `gpt distill` with a tiny teacher trained in
// the test (help, checkpoint metadata, resume, the teacher's tokenizer, one-line refusals); and
// `gpt train --share-layers`.
import { join } from 'node:path';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { distillLossRef, ref } from '../src/check/reference/index.js';
import { decodeCheckpoint, encodeCheckpoint, modelFromCheckpoint } from '../src/gpt/checkpoint.js';
import { GPT } from '../src/gpt/model.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { TRAIN_DEFAULTS, Trainer } from '../src/gpt/trainer.js';
import { loadCheckpoint } from '../src/node/checkpoint-dir.js';
import { isMaskName } from '../src/nn/prune.js';
import { loadTeacher, teacherDistillation } from '../src/cli/teacher.js';
import type { DistillFlags } from '../src/cli/train-flags.js';
import { device, noGrad, scope, tensor } from '../src/index.js';
import { Generator } from '../src/tensor/generator.js';
import { corpusText, expectOneLine, gpt, tempDir, TINY } from './cli-helpers.js';
import { disposeTrainers, setupDevice } from './helpers.js';

const dir = tempDir('distill');
const corpus = join(dir, 'corpus.txt');
const teacherDir = join(dir, 'teacher');
/** The student: smaller than the teacher (TINY's 1 layer x 16, against 2 x 32). */
const distill = (...args: string[]) => gpt('distill', '--data', corpus, ...TINY, '--max-iters', '10', '--eval-interval', '5', ...args);

beforeAll(async () => {
  await setupDevice();
  writeFileSync(corpus, corpusText(8000));
  const r = await gpt('train', '--data', corpus, ...TINY, '--n-layer', '2', '--n-embd', '32', '--max-iters', '10', '--eval-interval', '10', '--out-dir', teacherDir);
  expect(r.code, r.err).toBe(0);
});

describe('Trainer with a teacher', () => {
  it("a step's loss is alpha T² KL + (1 - alpha) CE of the student against the teacher on that step's batch", () =>
    scope(async () => {
      const text = corpusText(3000);
      const tok = CharTokenizer.train(text);
      const ids = Int32Array.from(tok.encode(text));
      const cfg = { ...TRAIN_DEFAULTS, nLayer: 1, nHead: 2, nEmbd: 8, blockSize: 8, batchSize: 3, maxIters: 1, seed: 5 };
      const teacher = new GPT({ vocabSize: tok.vocabSize, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 16, dropout: 0, bias: false }, { seed: 1 });
      const [temperature, alpha] = [1.7, 0.3];
      const trainer = new Trainer(cfg, { train: ids, val: ids, vocabSize: tok.vocabSize }, undefined, { teacher, temperature, alpha });
      // the trainer's first batch, drawn again from its seed (the batches' generator is seeded seed + 1)
      const { x, y } = trainer.batch('train', new Generator(cfg.seed + 1));
      const idx = tensor(x, [3, 8]);
      const s = await noGrad(() => trainer.model.forward(idx).logits.toArray());
      const t = await noGrad(() => teacher.forward(idx).logits.toArray());
      const V = tok.vocabSize;
      const want = distillLossRef(ref([24, V], s), ref([24, V], t), y, temperature, alpha).data[0]!;
      const { loss } = await trainer.trainStep();
      expect(Math.abs(loss - want)).toBeLessThan(1e-5 + 1e-5 * want);
      for (const p of teacher.parameters()) expect(p.grad).toBeNull(); // the teacher is not trained
      disposeTrainers(trainer);
      teacher.dispose();
    }));

  it('a student distilled above the largest temperature (100) still loads; the Trainer will not continue at it', async () => {
    const ids = Int32Array.from({ length: 100 }, (_, i) => i % 10);
    const tok = CharTokenizer.train('0123456789');
    const model = new GPT({ vocabSize: 10, blockSize: 8, nLayer: 1, nHead: 1, nEmbd: 4, dropout: 0, bias: false });
    const ckpt = decodeCheckpoint(await encodeCheckpoint(model, tok, { distill: { teacher: '/t', temperature: 500, alpha: 0.5 } }));
    expect(ckpt.meta.distill!.temperature).toBe(500);
    expect(() => new Trainer({ ...TRAIN_DEFAULTS, nLayer: 1, nHead: 1, nEmbd: 4, blockSize: 8 }, { train: ids, val: ids, vocabSize: 10 }, undefined, { teacher: model, temperature: 500, alpha: 0.5 })).toThrow(
      /^Trainer: distill.temperature must be a finite number in \(0, 100\], got 500$/,
    );
    model.dispose();
  });

  it('refuses a teacher of another vocabulary or a shorter context', () => {
    const ids = Int32Array.from({ length: 100 }, (_, i) => i % 10);
    const teacher = new GPT({ vocabSize: 11, blockSize: 8, nLayer: 1, nHead: 1, nEmbd: 4, dropout: 0, bias: false });
    const make = (vocabSize: number, blockSize: number) => () =>
      new Trainer({ ...TRAIN_DEFAULTS, nLayer: 1, nHead: 1, nEmbd: 4, blockSize }, { train: ids, val: ids, vocabSize }, undefined, { teacher, temperature: 2, alpha: 0.5 });
    expect(make(10, 8)).toThrow(/^Trainer: the teacher's vocabulary has 11 tokens, the student's 10/);
    expect(make(11, 16)).toThrow(/^Trainer: the student's blockSize 16 exceeds the teacher's 8/);
    teacher.dispose();
  });

  // it trained: the teacher moved with the student, and each step put it back in training mode
  // (dropout on its soft targets), where the header promises a teacher in eval mode, unchanged
  it('refuses a teacher that is the model it trains, before changing either', () => {
    const ids = Int32Array.from({ length: 100 }, (_, i) => i % 10);
    const model = new GPT({ vocabSize: 10, blockSize: 8, nLayer: 1, nHead: 1, nEmbd: 4, dropout: 0.2, bias: false });
    const cfg = { ...TRAIN_DEFAULTS, nLayer: 1, nHead: 1, nEmbd: 4, blockSize: 8, dropout: 0.2 };
    expect(() => new Trainer(cfg, { train: ids, val: ids, vocabSize: 10 }, model, { teacher: model, temperature: 2, alpha: 0.5 })).toThrow(
      /^Trainer: distill\.teacher holds parameters of the model being trained \(it is that GPT, or made of its modules\); the teacher must be a separate model, which training leaves as it is$/,
    );
    expect(model.training).toBe(true);
    model.dispose();
  });
});

describe('gpt distill', () => {
  it('is listed in gpt --help, with its own flags in gpt distill --help (and not in gpt train --help)', async () => {
    expect((await gpt('--help')).out).toMatch(/^ {2}distill +train a smaller student GPT/m);
    const help = (await gpt('distill', '--help')).out;
    for (const flag of ['--teacher', '--temperature', '--alpha', '--n-layer', '--share-layers', '--out-dir']) expect(help).toContain(flag);
    expect((await gpt('train', '--help')).out).not.toContain('--teacher');
  });

  it('trains a smaller student, records its teacher, resumes with it; gpt train will not resume it', async () => {
    const out = join(dir, 'student');
    const r = await distill('--teacher', teacherDir, '--temperature', '3', '--alpha', '0.7', '--out-dir', out);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`teacher: ${teacherDir}`);
    expect(r.out, "the plan counts the teacher's forward").toMatch(/GPU memory plan: .*, teacher [\d.]+ MiB, activations /);
    expect(r.out).toMatch(/temperature 3, alpha 0\.7/);
    const ckpt = await loadCheckpoint(out);
    expect(ckpt.meta.distill).toEqual({ teacher: teacherDir, temperature: 3, alpha: 0.7, teacherWeights: expect.stringMatching(/^[0-9a-f]{8}$/) });
    expect(ckpt.meta.model.nLayer).toBe(1);
    expect((await gpt('eval', '--out-dir', out, '--eval-iters', '1')).out).toContain(`model: distilled from ${teacherDir} (temperature 3, alpha 0.7)\n`);
    expect(ckpt.meta.tokenizer).toEqual((await loadCheckpoint(teacherDir)).meta.tokenizer);
    const resumed = await gpt('distill', '--init-from', 'resume', '--max-iters', '15', '--out-dir', out);
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.out).toMatch(/resuming at step 10/);
    expect(resumed.out).toMatch(/temperature 3, alpha 0\.7/);
    expect(resumed.out).toContain(`teacher: ${teacherDir}, `);
    // another teacher given when resuming teaches from there on, and the run says so
    const other = join(dir, 'teacher-copy');
    cpSync(teacherDir, other, { recursive: true });
    const switched = await gpt('distill', '--init-from', 'resume', '--teacher', other, '--alpha', '0.5', '--max-iters', '20', '--out-dir', out);
    expect(switched.code, switched.err).toBe(0);
    expect(switched.out).toContain("settings changed from the checkpoint's: --max-iters 20 (was 15), --alpha 0.5 (was 0.7)\n");
    expect(switched.out).toContain(`teacher: ${other} (replacing the run's teacher ${teacherDir}: --teacher), `);
    expect((await loadCheckpoint(out)).meta.distill!.teacher).toBe(other);
    expectOneLine(await gpt('train', '--init-from', 'resume', '--max-iters', '25', '--out-dir', out), 2, /is a distillation run: continue it with gpt distill --init-from resume/);
    // other weights under the teacher's path (a copy's weights were the same): refused unless --teacher names it
    const retrained = await gpt('train', '--data', corpus, ...TINY, '--n-layer', '2', '--n-embd', '32', '--max-iters', '10', '--eval-interval', '10', '--seed', '7', '--overwrite', '--out-dir', other);
    expect(retrained.code, retrained.err).toBe(0);
    expectOneLine(await gpt('distill', '--init-from', 'resume', '--max-iters', '25', '--out-dir', out), 2, new RegExp(`^gpt distill: the teacher at ${other} has changed since this run started \\(its weights' CRC-32 is [0-9a-f]{8}, the run recorded [0-9a-f]{8}\\): restore it, or pass --teacher ${other} to go on learning from what it holds now$`));
    const accepted = await gpt('distill', '--init-from', 'resume', '--teacher', other, '--max-iters', '25', '--out-dir', out);
    expect(accepted.code, accepted.err).toBe(0);
    expect(accepted.out).toContain(`teacher: ${other} (its weights changed since the run started: --teacher), `);
  });

  // it said only "no checkpoint at DIR": not that DIR was the teacher the run recorded, nor how to go on
  it('resuming after its recorded teacher is gone, says which teacher and how to go on, in one line', async () => {
    const [teacher, out] = [join(dir, 'teacher-gone'), join(dir, 'student-gone')];
    cpSync(teacherDir, teacher, { recursive: true });
    expect((await distill('--teacher', teacher, '--max-iters', '2', '--eval-interval', '2', '--out-dir', out)).code).toBe(0);
    rmSync(teacher, { recursive: true });
    expectOneLine(
      await gpt('distill', '--init-from', 'resume', '--max-iters', '4', '--out-dir', out),
      2,
      new RegExp(`^gpt distill: the run's teacher ${teacher}, as ${out}'s checkpoint records it, no longer exists: restore it there, or give --teacher DIR to go on learning from another$`),
    );
  });

  // it said "--block-size 64 exceeds the teacher's block size 16" to a user who gave no --block-size,
  // and never what would do; resumed, no --block-size could change the run's
  it("refuses a student longer than the teacher's context saying where its block size came from and what is allowed", async () => {
    const out = join(dir, 'long-student');
    const run = ['--max-iters', '2', '--eval-interval', '2', '--eval-iters', '1'];
    const head = (...args: string[]) => gpt('distill', '--data', corpus, '--n-layer', '1', '--n-head', '2', '--n-embd', '16', ...run, ...args);
    expectOneLine(await head('--teacher', teacherDir, '--out-dir', out), 2, /^gpt distill: --block-size 64 \(the default\) exceeds the teacher's block size 16 \(\S+\): give --block-size 16 or less$/);
    expectOneLine(await head('--teacher', teacherDir, '--block-size', '32', '--out-dir', out), 2, /^gpt distill: --block-size 32 exceeds the teacher's block size 16 \(\S+\): give --block-size 16 or less$/);
    const short = join(dir, 'short-teacher');
    expect((await gpt('train', '--data', corpus, ...TINY, '--block-size', '8', '--max-iters', '2', '--eval-interval', '2', '--out-dir', short)).code).toBe(0);
    expectOneLine(await gpt('distill', '--data', corpus, ...run, '--teacher', short, '--init-from', teacherDir, '--out-dir', out), 2, /^gpt distill: --block-size 16 \(the student checkpoint's\) exceeds the teacher's block size 8 \(\S+\): give --block-size 8 or less$/);
    expect((await head('--teacher', teacherDir, '--block-size', '16', '--out-dir', out)).code).toBe(0);
    expectOneLine(await gpt('distill', '--init-from', 'resume', '--teacher', short, '--max-iters', '4', '--out-dir', out), 2, /^gpt distill: the run's block size 16 exceeds the teacher's block size 8 \(\S+\): give a teacher that reads 16 tokens$/);
  });

  // it kept the pruning masks of a pruned teacher on the GPU for the whole run (as large as its
  // Linear weights), which the plan `gpt distill` prints leaves out; inference needs none
  it('loads a pruned teacher without its masks (its weights zero where they were), to the same logits', async () => {
    const pruned = join(dir, 'teacher-pruned');
    expect((await gpt('prune', '--sparsity', '0.5', '--init-from', teacherDir, '--out-dir', pruned)).code).toBe(0);
    const flags = { teacher: pruned, temperature: 2, alpha: 0.5, outDir: join(dir, 'unused') } as DistillFlags;
    const teacher = await loadTeacher(flags, new Set(['teacher']), null, false);
    await device().sync();
    const before = device().memory().liveBytes;
    device().resetPeakMemory();
    const { distill } = await teacherDistillation(teacher);
    await device().sync();
    // past the weights it keeps, one mask at a time at most (a buffer up to twice its bytes): never all of them
    const excess = device().memory().peakBytes - device().memory().liveBytes;
    const masks = (await loadCheckpoint(pruned)).weights;
    const maskBytes = [...masks].filter(([name]) => isMaskName(name)).map(([, t]) => t.data.length * 4);
    expect(excess).toBeLessThanOrEqual(2 * Math.max(...maskBytes));
    expect(device().memory().liveBytes).toBeGreaterThan(before);
    const masked = modelFromCheckpoint(await loadCheckpoint(pruned)).model;
    try {
      expect([...distill.teacher.namedBuffers()].map(([name]) => name).filter(isMaskName)).toEqual([]);
      expect([...masked.namedBuffers()].map(([name]) => name).filter(isMaskName).length, 'the checkpoint holds masks').toBeGreaterThan(0);
      await scope(async () => {
        const idx = tensor(Int32Array.from({ length: 16 }, (_, i) => i % 10), [1, 16]);
        expect(await noGrad(() => distill.teacher.forward(idx).logits).toArray()).toEqual(await noGrad(() => masked.eval().forward(idx).logits).toArray());
      });
    } finally {
      distill.teacher.dispose();
      masked.dispose();
    }
  });

  // it took the built-in corpus (gpt train's default for a new model), read with the teacher's char
  // tokenizer: the README's `gpt distill --teacher DIR --n-layer 2 ...` learned on 44,657 fewer
  // characters of web documentation than it held, not on the teacher's Shakespeare
  it("without --data learns on the text the teacher records it trained on, as it takes the teacher's tokenizer", async () => {
    const out = join(dir, 'teacher-data');
    const r = await gpt('distill', '--teacher', teacherDir, ...TINY, '--max-iters', '2', '--eval-interval', '2', '--out-dir', out);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`data: ${corpus} (what the teacher ${teacherDir} trained on, as its checkpoint records; --data for other text)\n`);
    expect((await loadCheckpoint(out)).meta.data).toBe(corpus);
  });

  it('with alpha 0 (no soft targets) logs the losses of gpt train from the same seed', async () => {
    const steps = async (out: string) =>
      (await readFile(join(out, 'log.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l)).map(({ type, step, loss, train, val }) => ({ type, step, loss, train, val }));
    const args = ['--seed', '3', '--log-interval', '1', '--max-iters', '6', '--eval-interval', '3'];
    expect((await distill('--teacher', teacherDir, '--alpha', '0', ...args, '--out-dir', join(dir, 'alpha0'))).code).toBe(0);
    expect((await gpt('train', '--data', corpus, ...TINY, ...args, '--out-dir', join(dir, 'plain'))).code).toBe(0);
    const [distilled, plain] = [await steps(join(dir, 'alpha0')), await steps(join(dir, 'plain'))];
    expect(distilled.map((s) => s.step)).toEqual([0, 1, 2, 3, 3, 4, 5, 6, 6]);
    // the same batches and updates; the losses of two kernels (distillLoss, the model's cross-entropy) agree to float32 rounding
    expect(distilled.map(({ type, step }) => [type, step])).toEqual(plain.map(({ type, step }) => [type, step]));
    distilled.forEach((d, i) => {
      for (const key of ['loss', 'train', 'val'] as const) if (d[key] !== undefined) expect(Math.abs(d[key] - plain[i]![key]), `${d.type} ${d.step} ${key}`).toBeLessThan(1e-5);
    });
  });

  it('refuses, in one line and before writing anything, what cannot be distilled', async () => {
    const out = join(dir, 'refused');
    expectOneLine(await distill('--out-dir', out), 2, /--teacher DIR is required/);
    expectOneLine(await distill('--teacher', join(dir, 'nowhere'), '--out-dir', out), 2, /flag --teacher names \S+nowhere, which does not exist$/);
    expectOneLine(await distill('--teacher', teacherDir, '--block-size', '32', '--out-dir', out), 2, /--block-size 32 exceeds the teacher's block size 16 \(\S+\): give --block-size 16 or less$/);
    expectOneLine(await distill('--teacher', teacherDir, '--tokenizer', 'bpe', '--out-dir', out), 2, /--tokenizer bpe differs from the char tokenizer of the teacher/);
    for (const [flag, value] of [['--temperature', '0'], ['--temperature', '1e6'], ['--alpha', '1.5']]) expectOneLine(await distill('--teacher', teacherDir, flag!, value!, '--out-dir', out), 2, new RegExp(`flag ${flag}`));
    // a student checkpoint of another vocabulary (trained on text with other characters)
    const other = join(dir, 'other.txt');
    writeFileSync(other, corpusText(3000).toUpperCase());
    const otherDir = join(dir, 'other');
    expect((await gpt('train', '--data', other, ...TINY, '--max-iters', '2', '--eval-interval', '2', '--out-dir', otherDir)).code).toBe(0);
    expectOneLine(await distill('--teacher', teacherDir, '--init-from', otherDir, '--out-dir', out), 2, /the student's char tokenizer \(\d+ tokens, from the student checkpoint\) differs from the teacher's char tokenizer/);
    // the run's own directory as its teacher: each save would replace the teacher (resumed, it would teach itself)
    for (const teacher of [teacherDir, join(teacherDir, JSON.parse(readFileSync(join(teacherDir, 'checkpoint.json'), 'utf8')).weights)]) {
      expectOneLine(await gpt('distill', '--teacher', teacher, '--init-from', 'resume', '--max-iters', '20', '--out-dir', teacherDir), 2, /^gpt distill: the teacher \S+ is \S+'s checkpoint, which this run replaces as it saves .*: copy the teacher elsewhere/);
    }
    // prepared data of other tokens, for a student from scratch (there is no student checkpoint to blame)
    expect((await gpt('prepare', '--data', other, '--out-dir', otherDir)).code).toBe(0);
    expectOneLine(await gpt('distill', '--teacher', teacherDir, '--data', join(otherDir, 'data'), ...TINY, '--out-dir', out), 2, /the data in \S+ was tokenized differently from the teacher \(char tokenizer of \d+ tokens; the teacher's: char tokenizer of \d+ tokens\); pass --data FILE/);
  });
});

describe('gpt train --share-layers', () => {
  it('trains and resumes a shared model, printing the shared count; refuses a K that does not divide --n-layer', async () => {
    const out = join(dir, 'shared');
    const r = await gpt('train', '--data', corpus, ...TINY, '--n-layer', '4', '--share-layers', '2', '--max-iters', '5', '--eval-interval', '5', '--out-dir', out);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/4 layers sharing 2 blocks of weights, --share-layers 2/);
    expect((await loadCheckpoint(out)).meta.model.shareLayers).toBe(2);
    expect((await gpt('eval', '--out-dir', out, '--eval-iters', '1')).out).toContain('model: 4 layers sharing 2 blocks of weights (--share-layers 2)\n');
    const resumed = await gpt('train', '--init-from', 'resume', '--max-iters', '10', '--out-dir', out);
    expect(resumed.code, resumed.err).toBe(0);
    expectOneLine(await gpt('train', '--init-from', 'resume', '--share-layers', '1', '--max-iters', '12', '--out-dir', out), 2, /--share-layers 1 differs from the checkpoint's 2/);
    expectOneLine(await gpt('train', '--data', corpus, ...TINY, '--n-layer', '3', '--share-layers', '2', '--out-dir', join(dir, 'no')), 2, /--share-layers \(2\) must divide --n-layer \(3\)/);
  });
});
