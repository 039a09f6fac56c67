// What `gpt train` may do to an --out-dir and what every command accepts as a checkpoint: a save
// deletes only its own files, a run never replaces a checkpoint it did not start from unless told
// to, a diverged run keeps the last good checkpoint, non-finite or mistyped checkpoints are refused
// with one line naming the tensor or field, and flags that would not be applied are errors.
// In-process (fast); the lock between two real processes is in cli-processes.test.ts.
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { checkpointBytes, decodeCheckpoint, encodeCheckpoint, modelFromCheckpoint } from '../src/gpt/checkpoint.js';
import { device } from '../src/device/device.js';
import { GPT } from '../src/gpt/model.js';
import { Trainer, TRAIN_DEFAULTS } from '../src/gpt/trainer.js';
import { CharTokenizer, tokenizerFromJSON } from '../src/gpt/tokenizer/index.js';
import { MANIFEST_FILE, writeCheckpointFiles } from '../src/node/checkpoint-files.js';
import { LOCK_FILE } from '../src/node/dir-lock.js';
import { loadCheckpoint, saveCheckpoint } from '../src/node/checkpoint-dir.js';
import { parseSafetensors, serializeSafetensors, type SafetensorsTensor } from '../src/io/safetensors.js';
import { corpusText, expectOneLine, gpt, tempDir, TINY } from './cli-helpers.js';
import { readCheckpointFiles, setupDevice } from './helpers.js';

const dir = tempDir('cli-checkpoints');
const corpus = join(dir, 'corpus.txt');
const fixture = join(dir, 'fixture');
let copies = 0;
/** A fresh copy of the run in `from`: by default the fixture run (10 steps, saved at steps 5 and 10). */
const copy = (from = fixture) => {
  const to = join(dir, `copy-${copies++}`);
  cpSync(from, to, { recursive: true });
  return to;
};
const fresh = () => join(dir, `fresh-${copies++}`);
const train = (...args: string[]) => gpt('train', '--data', corpus, ...TINY, ...args);
const readLog = (out: string) => readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
const files = (out: string) => readdirSync(out).sort();

beforeAll(async () => {
  await setupDevice();
  writeFileSync(corpus, corpusText(8000));
  const r = await train('--max-iters', '10', '--eval-interval', '5', '--out-dir', fixture);
  expect(r.code, r.err).toBe(0);
});

describe('gpt train and its --out-dir', () => {
  let unsettledRun: Promise<{ out: string; r: Awaited<ReturnType<typeof train>> }> | undefined;
  /** One run of 12 steps, saving at every evaluation, at a learning rate too high to settle (the val loss rises again after its best); its directory is read only (copied by a test that trains on). */
  const unsettled = () =>
    (unsettledRun ??= (async () => {
      const out = fresh();
      const r = await train('--max-iters', '12', '--eval-interval', '2', '--learning-rate', '1', '--always-save', '--out-dir', out);
      expect(r.code, r.err).toBe(0);
      return { out, r };
    })());

  it("a save deletes only its own files, never the user's that look like ours", async () => {
    const out = fresh();
    const user = ['model-gpt2-small.safetensors', 'model-v2-final.safetensors'];
    mkdirSync(out);
    for (const f of user) writeFileSync(join(out, f), 'user weights');
    const r = await train('--max-iters', '10', '--eval-interval', '2', '--always-save', '--out-dir', out);
    expect(r.code, r.err).toBe(0);
    expect(r.out.match(/saved checkpoint/g)).toHaveLength(5);
    const { manifest } = await readCheckpointFiles(out);
    expect(files(out)).toEqual([MANIFEST_FILE, 'log.jsonl', manifest.weights, ...user].sort()); // and no lock left
    for (const f of user) expect(readFileSync(join(out, f), 'utf8')).toBe('user weights');
  });

  it('--always-save records the best val loss so far beside the saved weights\' own (what a resumed run must beat)', async () => {
    const { out, r } = await unsettled();
    const vals = readLog(out).filter((e) => e.type === 'eval' && (e.step as number) > 0).map((e) => e.val as number);
    const [best, last] = [Math.min(...vals), vals.at(-1)!];
    expect(last, 'the run this test needs: its last evaluation is not its best').toBeGreaterThan(best);
    const { meta } = await loadCheckpoint(out);
    expect([meta.val, meta.bestVal]).toEqual([last, best]);
    expect(r.out).toContain(`best val loss ${best.toFixed(4)}`);
  });

  it('--always-save is recorded with the run: resumed, it saves at every evaluation as before, unless given --always-save false', async () => {
    const out = copy((await unsettled()).out);
    const { meta } = await loadCheckpoint(out);
    expect(meta.alwaysSave).toBe(true);
    const savedSteps = (output: string) => [...output.matchAll(/saved checkpoint to \S+ \(step (\d+),/g)].map((m) => Number(m[1]));
    const resume = (...args: string[]) => gpt('train', '--data', corpus, '--init-from', 'resume', '--out-dir', out, ...args);
    const kept = await resume('--max-iters', '16');
    expect(kept.code, kept.err).toBe(0);
    // the resumed run's first evaluation (step 12) measures the saved weights again: they are not written again
    // (a copy of the checkpoint for nothing, and on a nearly full disk a resume that fails at once)
    expect(kept.out).toMatch(/^step 12: train loss/m);
    expect(savedSteps(kept.out)).toEqual([14, 16]);
    expect((await loadCheckpoint(out)).meta.alwaysSave).toBe(true);

    // the flag given wins: saves only where the val loss beats the best so far (the log's evaluations past the resumed step)
    const before = await loadCheckpoint(out);
    const told = await resume('--always-save', 'false', '--max-iters', '24');
    expect(told.code, told.err).toBe(0);
    let best = before.meta.bestVal!;
    const improved = readLog(out).filter((e) => e.type === 'eval' && (e.step as number) > 16 && (e.val as number) < best && ((best = e.val as number), true));
    expect(savedSteps(told.out)).toEqual(improved.map((e) => e.step));
    if (improved.length) expect((await loadCheckpoint(out)).meta.alwaysSave).toBe(false);
  });

  it('a dangling checkpoint.json symlink (its target on a drive not mounted now) is refused as a checkpoint is, by train, prune and quantize, and kept', async () => {
    const out = fresh();
    mkdirSync(out);
    const target = join(dir, 'unmounted', MANIFEST_FILE);
    symlinkSync(target, join(out, MANIFEST_FILE));
    const held = `already holds a ${MANIFEST_FILE} that is a symlink to ${target}, which does not exist: `;
    expectOneLine(await train('--max-iters', '2', '--out-dir', out), 2, new RegExp(`${held}continue it with --init-from resume, or replace it with --overwrite$`));
    expectOneLine(await gpt('prune', '--sparsity', '0.5', '--init-from', fixture, '--out-dir', out), 2, new RegExp(held));
    expectOneLine(await gpt('quantize', '--bits', '8', '--init-from', fixture, '--out-dir', out), 2, new RegExp(held));
    expect(readlinkSync(join(out, MANIFEST_FILE))).toBe(target);
    expect(readdirSync(out)).toEqual([MANIFEST_FILE]);
  });

  it('fine-tuning without --data continues on the data the checkpoint records, and says so; where it records none, or that is gone, one line asks for --data', async () => {
    const out = fresh();
    const r = await gpt('train', '--init-from', fixture, ...TINY, '--max-iters', '2', '--eval-interval', '2', '--out-dir', out);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`data: ${corpus} (what ${fixture} trained on, as its checkpoint records; --data for other text)\n`); // the fixture trained on --data corpus
    expect(r.out).not.toMatch(/builtin|left out/);
    expect((await loadCheckpoint(out)).meta.data).toBe(corpus);
    // a checkpoint of a run on a text since deleted
    const gone = join(dir, 'gone.txt');
    writeFileSync(gone, corpusText(3000));
    const orphan = fresh();
    expect((await gpt('train', '--data', gone, ...TINY, '--max-iters', '2', '--eval-interval', '2', '--out-dir', orphan)).code).toBe(0);
    rmSync(gone);
    const refused = fresh();
    expectOneLine(await gpt('train', '--init-from', orphan, ...TINY, '--out-dir', refused), 2, new RegExp(`^gpt train: flag --init-from ${orphan} fine-tunes a checkpoint that records ${gone} as the data it trained on, which is not there now: give the text to train on as --data FILE \\(or prepared data as --data-dir DIR\\)$`));
    // a checkpoint that records no data (a model saved by the library, as a Hugging Face model has none)
    const bare = join(dir, 'bare');
    const tokenizer = tokenizerFromJSON((await loadCheckpoint(fixture)).meta.tokenizer);
    const model = new GPT({ vocabSize: tokenizer.vocabSize, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 16, dropout: 0, bias: false }, { seed: 1 });
    await saveCheckpoint(bare, model, tokenizer);
    model.dispose();
    expectOneLine(await gpt('train', '--init-from', bare, '--out-dir', refused), 2, new RegExp(`^gpt train: flag --init-from ${bare} fine-tunes a checkpoint that records no data it trained on: give the text`));
    expect(existsSync(refused)).toBe(false);
    // data prepared in the new run's --out-dir (of the checkpoint's tokenizer: the same corpus) is what it trains on
    expect((await gpt('prepare', '--data', corpus, '--out-dir', refused)).code).toBe(0);
    const prepared = await gpt('train', '--init-from', bare, '--out-dir', refused, '--max-iters', '1', '--eval-iters', '1', '--batch-size', '2');
    expect(prepared.code, prepared.err).toBe(0);
    expect(prepared.out.split('\n')).toContain(`data: ${join(refused, 'data')}`);
  });

  it('--init-from resume of a checkpoint without training state (saved by the library) is one line (exit 2) pointing to fine-tuning it', async () => {
    const bare = fresh();
    const tokenizer = CharTokenizer.train('abcd');
    const model = new GPT({ vocabSize: tokenizer.vocabSize, blockSize: 8, nLayer: 1, nHead: 1, nEmbd: 8, dropout: 0, bias: false }, { seed: 1 });
    await saveCheckpoint(bare, model, tokenizer);
    model.dispose();
    expectOneLine(await gpt('train', '--init-from', 'resume', '--out-dir', bare), 2, new RegExp(`^gpt train: --init-from resume continues the run in --out-dir, and ${bare} holds a checkpoint without a run's training state .*: fine-tune it with --init-from ${bare} and another --out-dir$`));
  });

  it('--init-from resume of a run saved by the library (which records no data) without --data is one line asking for it, not a run on other text', async () => {
    const out = fresh();
    const tokenizer = tokenizerFromJSON((await loadCheckpoint(fixture)).meta.tokenizer);
    const ids = Int32Array.from(tokenizer.encode(readFileSync(corpus, 'utf8')));
    const split = Math.floor(ids.length * 0.9);
    const trainer = new Trainer({ ...TRAIN_DEFAULTS, nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16, batchSize: 2, maxIters: 2, evalInterval: 2, evalIters: 1 }, { train: ids.slice(0, split), val: ids.slice(split), vocabSize: tokenizer.vocabSize });
    await trainer.run();
    await saveCheckpoint(out, trainer.model, tokenizer, { optimizer: trainer.optimizer, train: trainer.cfg, trainer: await trainer.state() });
    trainer.dispose();
    trainer.model.dispose();
    expectOneLine(await gpt('train', '--init-from', 'resume', '--out-dir', out, '--max-iters', '3'), 2, /^gpt train: flag --init-from resume continues a checkpoint that records no data it trained on: give the text to train on as --data FILE \(or prepared data as --data-dir DIR\)$/);
    const resumed = await gpt('train', '--init-from', 'resume', '--out-dir', out, '--max-iters', '3', '--data', corpus);
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.out).toContain(`data: ${corpus}\n`);
  });

  it('refuses to replace a checkpoint without --overwrite; with it, starts a new run and log', async () => {
    const out = copy();
    const before = { manifest: readFileSync(join(out, MANIFEST_FILE)), log: readFileSync(join(out, 'log.jsonl')) };
    const refused = await train('--max-iters', '4', '--out-dir', out);
    expectOneLine(refused, 2, /already holds a checkpoint: continue it with --init-from resume, or replace it with --overwrite$/);
    expect(readFileSync(join(out, MANIFEST_FILE))).toEqual(before.manifest);
    expect(readFileSync(join(out, 'log.jsonl'))).toEqual(before.log);
    expect(existsSync(join(out, LOCK_FILE))).toBe(false);
    const fineTune = await gpt('train', '--init-from', fixture, '--data', corpus, '--max-iters', '2', '--out-dir', out);
    expectOneLine(fineTune, 2, /already holds a checkpoint/);

    const oldRun = readLog(out)[0]!.run;
    const over = await train('--max-iters', '4', '--eval-interval', '2', '--always-save', '--overwrite', '--out-dir', out);
    expect(over.code, over.err).toBe(0);
    const log = readLog(out);
    const run = log[0]!.run;
    expect(run).not.toBe(oldRun);
    expect(log.every((l) => l.run === run && new Date(l.time as string).toISOString() === l.time)).toBe(true);
    expect(log.map((l) => `${l.type} ${l.step}`)).toEqual(['eval 0', 'eval 2', 'train 4', 'eval 4']);
    const { manifest } = await readCheckpointFiles(out);
    expect(manifest.meta.run).toBe(run);

    const resumed = await gpt('train', '--data', corpus, '--init-from', 'resume', '--max-iters', '6', '--out-dir', out);
    expect(resumed.code, resumed.err).toBe(0);
    const after = readLog(out);
    expect(after.slice(0, log.length)).toEqual(log); // appended (the checkpoint is at the log's last step), same run
    expect(after.length).toBeGreaterThan(log.length);
    expect(new Set(after.map((l) => l.run))).toEqual(new Set([run]));
  });

  it('an --overwrite run that ends before its first save keeps the old log with the old checkpoint', async () => {
    const out = copy();
    const before = { manifest: readFileSync(join(out, MANIFEST_FILE)), log: readFileSync(join(out, 'log.jsonl'), 'utf8') };
    const diverged = await train('--overwrite', '--learning-rate', '1e6', '--warmup-iters', '0', '--max-iters', '40', '--eval-interval', '40', '--out-dir', out);
    expectOneLine(diverged, 3, /^gpt train: training diverged at step \d+/);
    expect(readFileSync(join(out, MANIFEST_FILE))).toEqual(before.manifest);
    const log = readFileSync(join(out, 'log.jsonl'), 'utf8');
    expect(log.startsWith(before.log)).toBe(true); // the checkpoint's history, then what the failed run logged

    // its first save replaces the checkpoint: from then on the log is the new run's alone
    const over = await train('--overwrite', '--max-iters', '2', '--eval-interval', '2', '--out-dir', out);
    expect(over.code, over.err).toBe(0);
    expect(new Set(readLog(out).map((l) => l.run))).toEqual(new Set([(await readCheckpointFiles(out)).manifest.meta.run]));
  });

  it("the run resumed after an --overwrite run that never saved drops that run's records at its first save: the log is the checkpoint's run's", async () => {
    const out = copy();
    const run = (await loadCheckpoint(out)).meta.run;
    const diverged = await train('--overwrite', '--learning-rate', '1e6', '--warmup-iters', '0', '--max-iters', '40', '--eval-interval', '40', '--out-dir', out);
    expect(diverged.code).toBe(3);
    expect(new Set(readLog(out).map((l) => l.run)).size).toBe(2);
    const resumed = await gpt('train', '--data', corpus, '--init-from', 'resume', '--max-iters', '15', '--out-dir', out);
    expect(resumed.code, resumed.err).toBe(0);
    expect(new Set(readLog(out).map((l) => l.run))).toEqual(new Set([run]));
  });

  it('a diverging run exits 3 and keeps the last good checkpoint', async () => {
    const out = copy();
    const manifest = readFileSync(join(out, MANIFEST_FILE));
    // float32 whatever the adapter's auto: the loss itself becomes NaN (float16's overflows go to the loss scaler first)
    const diverge = ['train', '--data', corpus, '--init-from', 'resume', '--dtype', 'float32', '--learning-rate', '1e6', '--warmup-iters', '0', '--max-iters', '40', '--out-dir', out];
    const r = await gpt(...diverge);
    const resume = `continue it with gpt train --init-from resume --out-dir ${out}$`;
    const kept = async () => `${out} keeps the checkpoint of step ${(await loadCheckpoint(out)).meta.trainer!.step}`;
    expectOneLine(r, 3, new RegExp(`^gpt train: training diverged at step \\d+.*; ${await kept()}: ${resume}`));
    expect(readFileSync(join(out, MANIFEST_FILE))).toEqual(manifest);
    // saving at every evaluation, what is saved is still finite: the run stops before NaN reaches a save
    const always = await gpt(...diverge, '--always-save', '--eval-interval', '1');
    expectOneLine(always, 3, new RegExp(`^gpt train: training diverged at step \\d+.*; ${await kept()} \\(val [\\d.]+\\): ${resume}`));
    expect((await gpt('sample', '--out-dir', out, '--max-new-tokens', '5')).code).toBe(0);
    expect((await gpt('eval', '--out-dir', out, '--data', corpus, '--eval-iters', '1')).code).toBe(0);
  });

  it("a run whose later evaluations did not beat the checkpoint's says its last steps are not in it", async () => {
    const out = copy();
    const before = (await loadCheckpoint(out)).meta.trainer!.step;
    // a learning rate far too high: the val loss rises (a finite one: the run ends, exit 0)
    const r = await gpt('train', '--init-from', 'resume', '--out-dir', out, '--max-iters', String(before + 10), '--learning-rate', '3', '--min-lr', '3', '--warmup-iters', '0', '--eval-interval', '5');
    expect(r.code, r.err).toBe(0);
    expect((await loadCheckpoint(out)).meta.trainer!.step).toBe(before);
    expect(r.out).toMatch(new RegExp(`^done: 10 steps \\(step ${before} to ${before + 10}\\) in \\S+, best val loss [\\d.]+; the checkpoint in ${out} is still step ${before}'s: .*--always-save`, 'm'));
    // one that saved at its last evaluation says nothing of it
    const saved = await gpt('train', '--init-from', 'resume', '--out-dir', out, '--max-iters', String(before + 15), '--always-save');
    expect(saved.out).toMatch(new RegExp(`^done: 15 steps \\(step ${before} to ${before + 15}\\) in \\S+, best val loss [\\d.]+$`, 'm'));
  });

  // the fine-tune's step 0 evaluation is the base model's and is no checkpoint to keep (documented):
  // its saved best may be worse than the base, which the closing line then says
  it("a fine-tune whose best val loss is worse than the base model's (its step 0) says so in its closing line", async () => {
    const out = fresh();
    const r = await gpt('train', '--init-from', fixture, '--max-iters', '4', '--eval-interval', '2', '--learning-rate', '3', '--min-lr', '3', '--warmup-iters', '0', '--out-dir', out);
    expect(r.code, r.err).toBe(0);
    const base = Number(/^step 0: train loss [\d.]+, val loss ([\d.]+)$/m.exec(r.out)![1]);
    const best = (await loadCheckpoint(out)).meta.val!;
    expect(best).toBeGreaterThan(base);
    const line = /^done: .*$/m.exec(r.out)![0];
    expect(line).toBe(line.replace(/; worse .*/, '') + `; worse than the base model's val loss ${base.toFixed(4)} (${fixture} at step 0): the checkpoint in ${out} is worse than the model it fine-tuned (a lower --learning-rate may fine-tune better)`);
    expect(line).toMatch(new RegExp(`^done: 4 steps in \\S+, best val loss ${best.toFixed(4)}; worse than`));
    // a fine-tune that beat its base says nothing of it
    const better = await gpt('train', '--init-from', fixture, '--max-iters', '2', '--eval-interval', '2', '--out-dir', fresh());
    const [first, saved] = [...better.out.matchAll(/^step \d+: train loss [\d.]+, val loss ([\d.]+)$/gm)].map((m) => Number(m[1]));
    expect(better.out.includes('worse than the base')).toBe(saved! > first!);
  });

  it('a lock left by a dead process is taken over with a note; a live one refuses the run', async () => {
    const out = copy();
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    writeFileSync(join(out, LOCK_FILE), JSON.stringify({ pid: dead, hostname: hostname(), started: '2026-01-01T00:00:00.000Z' }) + '\n');
    const r = await gpt('train', '--data', corpus, '--init-from', 'resume', '--max-iters', '12', '--out-dir', out);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(new RegExp(`note: .* was locked by pid ${dead} .*no longer running; taking the lock over`));
    expect(existsSync(join(out, LOCK_FILE))).toBe(false);

    const live = process.ppid; // the test runner: alive, and started before the lock was taken (now)
    const since = new Date().toISOString();
    writeFileSync(join(out, LOCK_FILE), JSON.stringify({ pid: live, hostname: hostname(), started: since }) + '\n');
    const held = await gpt('train', '--data', corpus, '--init-from', 'resume', '--max-iters', '14', '--out-dir', out);
    expectOneLine(held, 1, new RegExp(`is in use by another gpt process \\(pid ${live}, since ${since}\\); if it is gone, delete .*${LOCK_FILE}$`));
    expect(existsSync(join(out, LOCK_FILE))).toBe(true); // not ours to remove
  });

  it('gpt prepare writes <out-dir>/data under the same lock: not while a run holds the directory', async () => {
    const out = copy();
    const live = process.ppid;
    const since = new Date().toISOString();
    writeFileSync(join(out, LOCK_FILE), JSON.stringify({ pid: live, hostname: hostname(), started: since }) + '\n');
    const learnt = vi.spyOn(CharTokenizer, 'trainOnPieces');
    try {
      const held = await gpt('prepare', '--data', corpus, '--out-dir', out);
      expectOneLine(held, 1, new RegExp(`is in use by another gpt process \\(pid ${live}, since ${since}\\)`));
      expect(learnt).not.toHaveBeenCalled(); // refused before a pass over the corpus, which may take minutes
    } finally {
      learnt.mockRestore();
    }
    expect(existsSync(join(out, 'data'))).toBe(false);
    expect(existsSync(join(out, LOCK_FILE))).toBe(true);
    const free = fresh();
    expect((await gpt('prepare', '--data', corpus, '--out-dir', free)).code).toBe(0);
    expect(files(free)).toEqual(['data']); // and no lock left
  });

  it('a run that fails early leaves neither a lock nor an empty --out-dir', async () => {
    const out = fresh();
    const noData = join(dir, 'no-data'); // found wanting only when read
    mkdirSync(noData);
    const r = await gpt('train', '--data', noData, '--out-dir', out);
    expectOneLine(r, 1, /cannot read prepared data in .*no-data \(it holds no meta\.json\); run `gpt prepare` first$/);
    expect(existsSync(out)).toBe(false);
    // an --out-dir below a file: said as such, not as the ENOTDIR of a stat
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    expectOneLine(await gpt('train', '--data', corpus, '--out-dir', join(file, 'run')), 2, new RegExp(`^gpt train: flag --out-dir names ${join(file, 'run')}, under ${file}, which is a regular file, not a directory$`));
  });

  it('a model too large for the adapter is an error naming the sizes and the limit', async () => {
    const out = fresh();
    const r = await train('--n-embd', '1e9', '--n-head', '4', '--out-dir', out, '--max-iters', '1');
    expectOneLine(r, 1, /does not fit this adapter: .*n-embd 1000000000.* over its max(StorageBufferBindingSize|BufferSize) of [\d.]+ [MG]iB$/);
    expect(existsSync(out)).toBe(false);
  });

  // nanoGPT's crop_block_size: GPT-2's 1024 positions fine-tuned at 256
  it('fine-tuning at a shorter --block-size cuts the position embeddings to their first rows; the rest of the model is the checkpoint\'s', async () => {
    const out = fresh();
    const r = await gpt('train', '--init-from', fixture, '--block-size', '8', '--data', corpus, '--max-iters', '2', '--learning-rate', '1e-9', '--min-lr', '0', '--weight-decay', '0', '--out-dir', out);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('its position embeddings cut from 16 to 8 (--block-size)');
    const [before, after] = [await loadCheckpoint(fixture), await loadCheckpoint(out)];
    expect(after.meta.model.blockSize).toBe(8);
    expect(after.meta.train!.blockSize).toBe(8);
    const wpe = before.weights.get('wpe.weight')!;
    expect(after.weights.get('wpe.weight')!.shape).toEqual([8, wpe.shape[1]]);
    // a learning rate of 1e-9 for 2 steps moves no weight by more than ~1e-8
    const close = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).every((x, i) => Math.abs(x - b[i]!) < 1e-6);
    expect(close(after.weights.get('wpe.weight')!.data, wpe.data.subarray(0, 8 * wpe.shape[1]!))).toBe(true);
    for (const [name, w] of before.weights) if (name !== 'wpe.weight') expect(close(after.weights.get(name)!.data, w.data), name).toBe(true);
    const resumed = await gpt('train', '--data', corpus, '--init-from', 'resume', '--max-iters', '3', '--out-dir', out);
    expect(resumed.code, resumed.err).toBe(0);
    for (const blockSize of [17, 0, 2.5]) {
      expect(() => modelFromCheckpoint(before, { blockSize })).toThrow(`modelFromCheckpoint: blockSize must be an integer in [1, 16] (the checkpoint's context: position embeddings can be cut, not grown), got ${blockSize}`);
    }
  });

  it("fine-tuning draws dropout from --seed, not from the checkpoint's model seed", async () => {
    // splits of blockSize + 2 tokens: one start for every batch, so only dropout can tell two seeds apart
    const prepared = fresh();
    expect((await gpt('prepare', '--data', corpus, '--out-dir', prepared)).code).toBe(0);
    const data = join(prepared, 'data');
    const meta = JSON.parse(readFileSync(join(data, 'meta.json'), 'utf8')) as Record<string, unknown>;
    expect(meta.dtype).toBe('uint16');
    for (const file of ['train.bin', 'val.bin']) writeFileSync(join(data, file), readFileSync(join(data, file)).subarray(0, 2 * 18));
    writeFileSync(join(data, 'meta.json'), JSON.stringify({ ...meta, train: 18, val: 18 }));
    const firstLoss = async (seed: string) => {
      const out = fresh();
      const r = await gpt('train', '--init-from', fixture, '--data-dir', data, '--dropout', '0.5', '--seed', seed, '--max-iters', '1', '--log-interval', '1', '--out-dir', out);
      expect(r.code, r.err).toBe(0);
      return readLog(out).find((l) => l.type === 'train')!.loss;
    };
    const [a, again, b] = [await firstLoss('1'), await firstLoss('1'), await firstLoss('2')];
    expect(again).toBe(a);
    expect(b).not.toBe(a);
  });

  it('flags that cannot apply on resume or fine-tuning are errors, not ignored', async () => {
    const out = copy();
    expectOneLine(await gpt('train', '--data', corpus, '--init-from', 'resume', '--n-layer', '3', '--out-dir', out), 2, /flag --n-layer 3 differs from the checkpoint's 1: the model's shape cannot change with --init-from$/);
    expectOneLine(await gpt('train', '--data', corpus, '--init-from', 'resume', '--tokenizer', 'bpe', '--max-iters', '12', '--out-dir', out), 2, /flag --tokenizer bpe differs from the char tokenizer of the checkpoint/);
    const target = fresh();
    expectOneLine(await gpt('train', '--init-from', fixture, '--block-size', '32', '--data', corpus, '--out-dir', target), 2, /flag --block-size 32 exceeds the checkpoint's 16: fine-tuning can cut its position embeddings to a shorter context, not grow them$/);
    expect(existsSync(target)).toBe(false);
    expectOneLine(await gpt('train', '--data', corpus, '--init-from', 'resume', '--block-size', '8', '--max-iters', '12', '--out-dir', out), 2, /flag --block-size 8 differs from the checkpoint's 16: the model's shape cannot change with --init-from$/);
    expectOneLine(await gpt('train', '--data', corpus, '--init-from', 'resume', '--overwrite', '--out-dir', out), 2, /--overwrite does not apply to --init-from resume/);
    // the data order and dropout continue the checkpoint's random streams: a new seed would change only the eval batches
    const resume = (...args: string[]) => gpt('train', '--data', corpus, '--init-from', 'resume', '--out-dir', out, ...args);
    const log = readFileSync(join(out, 'log.jsonl'));
    expectOneLine(await resume('--seed', '7', '--max-iters', '12'), 2, /flag --seed 7 differs from the checkpoint's 1337: a resumed run continues the checkpoint's random streams$/);
    expectOneLine(await resume('--max-iters', '5'), 2, new RegExp(`the run in ${out} already reached step 10: raise --max-iters \\(now 5\\) to train further$`));
    expectOneLine(await resume(), 2, /already reached step 10: raise --max-iters \(now 10\) to train further$/); // the run's own --max-iters
    // each setting named where it came from: the config file's key, or the resumed run's own value
    const config = join(dir, 'resume-config.json');
    writeFileSync(config, JSON.stringify({ n_layer: 3 }));
    expectOneLine(await resume('--config', config, '--max-iters', '12'), 2, new RegExp(`: config ${config}: 'nLayer' 3 differs from the checkpoint's 1: the model's shape cannot change`));
    writeFileSync(config, JSON.stringify({ seed: 7, max_iters: 12 }));
    expectOneLine(await resume('--config', config), 2, new RegExp(`: config ${config}: 'seed' 7 differs from the checkpoint's 1337`));
    expectOneLine(await resume('--min-lr', '0.5', '--max-iters', '12'), 2, /: --min-lr \(0\.5\) must not exceed the run's --learning-rate \(0\.001\)$/);
    writeFileSync(config, JSON.stringify({ min_lr: 0.5, max_iters: 12 }));
    expectOneLine(await resume('--config', config), 2, new RegExp(`: config ${config}: 'minLr' \\(0\\.5\\) must not exceed the run's --learning-rate \\(0\\.001\\)$`));
    expect(readFileSync(join(out, 'log.jsonl'))).toEqual(log); // nothing logged
    const same = await resume('--n-layer', '1', '--seed', '1337', '--max-iters', '12');
    expect(same.code, same.err).toBe(0);
  });

  it('a run stopped between evaluations and resumed ends bit-identical to one run straight through: losses, weights, moments (dropout, 2 micro-batches, warm-up across the stop)', async () => {
    // warm-up to step 8, decay to 12: the stop at 7 falls in the warm-up, an evaluation (10) and the decay come after it
    const flags = ['--dropout', '0.1', '--grad-accum', '2', '--warmup-iters', '8', '--lr-decay-iters', '12', '--grad-clip', '0.5', '--log-interval', '1', '--eval-interval', '5', '--always-save'];
    const [straight, stopped] = [fresh(), fresh()];
    expect((await train(...flags, '--max-iters', '12', '--out-dir', straight)).code).toBe(0);
    expect((await train(...flags, '--max-iters', '7', '--out-dir', stopped)).code).toBe(0); // its last save: step 7
    expect((await gpt('train', '--data', corpus, '--init-from', 'resume', '--max-iters', '12', '--out-dir', stopped)).code).toBe(0);
    const losses = (out: string) => readLog(out).filter((l) => l.type === 'train').map((l) => [l.step, l.loss, l.lr, l.gradNorm]);
    expect(losses(stopped)).toHaveLength(12);
    expect(losses(stopped)).toEqual(losses(straight));
    const [a, b] = [await loadCheckpoint(straight), await loadCheckpoint(stopped)];
    expect(b.meta.trainer).toEqual(a.meta.trainer);
    expect(b.weights).toEqual(a.weights);
    expect(b.optimizer).toEqual(a.optimizer);
  });

  it("a resumed run says which settings the flags changed from the checkpoint's (--dtype as resolved), and keeps them (--recompute)", async () => {
    const out = copy();
    const r = await gpt('train', '--data', corpus, '--init-from', 'resume', '--learning-rate', '2e-3', '--grad-accum', '2', '--dtype', 'float32', '--recompute', '--max-iters', '12', '--out-dir', out);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^resuming at step 10\nsettings changed from the checkpoint's: --grad-accum 2 \(was 1\), --max-iters 12 \(was 10\), --learning-rate 0\.002 \(was 0\.001\), --recompute true \(was false\)$/m);
    expect(r.out).toMatch(/^GPU memory plan: .*activations \(recompute\).* of gradients on their way into \.grad, summed over 2 micro-batches; about /m); // the plan takes --grad-accum
    const again = await gpt('train', '--data', corpus, '--init-from', 'resume', '--max-iters', '14', '--out-dir', out);
    expect(again.out).toMatch(/^resuming at step 12\nsettings changed from the checkpoint's: --max-iters 14 \(was 12\)$/m);
    expect((await loadCheckpoint(out)).meta.train?.recompute).toBe(true);
  });

  it('a run with a constant learning rate (--decay-lr false) resumed at a new --learning-rate keeps it constant', async () => {
    const out = fresh();
    expect((await train('--decay-lr', 'false', '--max-iters', '3', '--log-interval', '1', '--out-dir', out)).code).toBe(0);
    const r = await gpt('train', '--data', corpus, '--init-from', 'resume', '--learning-rate', '2e-3', '--max-iters', '6', '--log-interval', '1', '--out-dir', out);
    expect(r.code, r.err).toBe(0);
    const lrs = readLog(out).filter((l) => l.type === 'train').map((l) => [l.step, l.lr]);
    expect(lrs).toEqual([[1, 1e-3], [2, 1e-3], [3, 1e-3], [4, 2e-3], [5, 2e-3], [6, 2e-3]]);
  });

  it('a resume that fails once the model is on the GPU (no optimizer state, an unreadable log) frees it', async () => {
    // a checkpoint saved with its training state but without AdamW's moments
    const bare = fresh();
    const { meta, weights } = await loadCheckpoint(fixture);
    await writeCheckpointFiles(bare, checkpointBytes({ meta, weights }));
    const unreadableLog = copy();
    rmSync(join(unreadableLog, 'log.jsonl'));
    mkdirSync(join(unreadableLog, 'log.jsonl'));
    const cases: [string, RegExp][] = [
      [bare, /^gpt train: resume: the checkpoint has no optimizer state/],
      [unreadableLog, /log\.jsonl is a directory, not a regular file$/],
    ];
    for (const [out, message] of cases) {
      const live = device().memory().liveBytes;
      expectOneLine(await gpt('train', '--data', corpus, '--init-from', 'resume', '--max-iters', '12', '--out-dir', out), 1, message);
      expect(device().memory().liveBytes, out).toBe(live);
    }
  });

  it('a run resumed on other data measures its best val loss there: its first evaluation saves', async () => {
    const out = fresh();
    expect((await train('--max-iters', '30', '--eval-interval', '10', '--learning-rate', '1e-2', '--warmup-iters', '0', '--out-dir', out)).code).toBe(0);
    const { meta } = await loadCheckpoint(out);
    // independent uniform characters of the vocabulary: no model gets below ln(V) on them, far above the fixture's val loss
    const tokenizer = tokenizerFromJSON(meta.tokenizer);
    let seed = 7;
    const ids = Array.from({ length: 4000 }, () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), (seed >> 8) % tokenizer.vocabSize));
    const other = join(dir, 'uniform.txt');
    writeFileSync(other, tokenizer.decode(ids));
    const floor = Math.log(tokenizer.vocabSize) - 0.3; // an estimate from a few batches may dip below ln(V) a little
    expect(meta.bestVal!).toBeLessThan(floor);
    const r = await gpt('train', '--data', other, '--init-from', 'resume', '--max-iters', '40', '--out-dir', out);
    expect(r.code, r.err).toBe(0);
    const after = await loadCheckpoint(out);
    expect(after.meta.data).toBe(other);
    expect(after.meta.bestVal!).toBeGreaterThan(floor);
    expect(r.out).toMatch(new RegExp(`best val loss ${after.meta.bestVal!.toFixed(4)}$`, 'm'));
    expect(r.out).toContain(`resuming at step 30, on other data than ${corpus}: the first evaluation saves`);
    // that evaluation is in the log after the old data's at step 30 (gpt plot shows the jump): it was not logged before
    const evals = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.type === 'eval' && l.step === 30);
    expect(evals.map((l) => l.val > floor)).toEqual([false, true]);
  });

  it("a run resumed with other evaluation batches (--eval-iters) measures its best val loss anew: the checkpoint's is not comparable", async () => {
    const out = copy(); // TINY: --eval-iters 2, --batch-size 4
    const r = await gpt('train', '--data', corpus, '--init-from', 'resume', '--eval-iters', '6', '--max-iters', '12', '--out-dir', out);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('resuming at step 10, evaluating over 6 batches of 4 a split where its val loss was measured over 2 batches of 4 (--eval-iters): the first evaluation saves\n');
    const log = readLog(out);
    const resumed = log.findIndex((l) => l.type === 'resume');
    const evals = log.slice(resumed).filter((l) => l.type === 'eval');
    expect(evals.map((l) => l.step), 'the resumed step evaluated again, and logged').toEqual([10, 12]);
    expect((await loadCheckpoint(out)).meta.bestVal).toBe(Math.min(...evals.map((l) => l.val as number)));
  });

  it('a run resumed with other evaluation batches at a step off its --eval-interval measures the checkpoint again first: a worse model never replaces it', async () => {
    const out = copy(); // saved at step 10, TINY's --eval-iters 2
    const saved = (await loadCheckpoint(out)).meta;
    // 10 is off the new interval: the first evaluation on it is step 12's, after steps at a learning rate that wrecks the model
    const r = await gpt('train', '--data', corpus, '--init-from', 'resume', '--eval-iters', '3', '--eval-interval', '4', '--learning-rate', '3', '--warmup-iters', '0', '--max-iters', '12', '--out-dir', out);
    expect(r.code, r.err).toBe(0);
    const after = (await loadCheckpoint(out)).meta;
    expect(after.trainer!.step, 'the checkpoint resumed, kept').toBe(10);
    const evals = readLog(out).filter((l) => l.type === 'eval' && (l.step as number) >= 10);
    const [again, later] = [evals.find((l) => l.step === 10 && l.val !== saved.val)!, evals.find((l) => l.step === 12)!];
    expect(later.val as number, 'the steps made it worse').toBeGreaterThan(again.val as number);
    expect(after.bestVal).toBe(again.val); // the checkpoint's weights, their val measured anew
    expect(r.out).toContain(`step 10: train loss ${(again.train as number).toFixed(4)}, val loss ${(again.val as number).toFixed(4)}\n`);
  });

  it('a run resumed on its data file, changed since, says so and measures its best val loss there: its first evaluation saves', async () => {
    const text = join(dir, 'edited.txt');
    writeFileSync(text, corpusText(8000));
    const out = fresh();
    expect((await gpt('train', '--data', text, ...TINY, '--max-iters', '10', '--eval-interval', '5', '--out-dir', out)).code).toBe(0);
    expect((await loadCheckpoint(out)).meta.dataTokens).toEqual({ train: 7200, val: 800 });
    writeFileSync(text, corpusText(6000)); // the same path, other text: other batches from the same seed
    const r = await gpt('train', '--init-from', 'resume', '--max-iters', '12', '--out-dir', out);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`resuming at step 10, on ${text} changed since the checkpoint (7,200 + 800 tokens, train + val; now 5,400 + 600): the first evaluation saves\n`);
    expect(r.out).toContain('saved checkpoint to');
    expect((await loadCheckpoint(out)).meta.dataTokens).toEqual({ train: 5400, val: 600 });
  });

  it("a resumed run drops what a crashed run logged past its checkpoint: each step's record once", async () => {
    const out = copy();
    const before = readLog(out);
    const { meta } = await loadCheckpoint(out);
    const [run, saved] = [meta.run, meta.trainer!.step];
    const time = new Date().toISOString();
    // what the crashed run logged after its last save, ending in a line it was writing when killed
    const abandoned = [11, 12, 13, 14].map((step) => ({ type: 'train', run, time, step, loss: 9, lr: 1e-3, gradNorm: 1, ms: 1, tokensPerSec: 1 }));
    appendFileSync(join(out, 'log.jsonl'), [...abandoned, { type: 'eval', run, time, step: 12, train: 9, val: 9 }].map((r) => JSON.stringify(r) + '\n').join('') + '{"type":"tra');
    const r = await gpt('train', '--data', corpus, '--init-from', 'resume', '--max-iters', '15', '--out-dir', out);
    expect(r.code, r.err).toBe(0);
    const after = readLog(out);
    const kept = before.filter((l) => (l.step as number) <= saved);
    expect(after.slice(0, kept.length)).toEqual(kept);
    // marked as resumed at the checkpoint's step: gpt plot's time axis leaves out the time the run was down
    expect(after.slice(kept.length).map((l) => `${l.type} ${l.step}`)).toEqual([`resume ${saved}`, 'train 15', 'eval 15']);
    expect(after.every((l) => l.run === run)).toBe(true);
  });

  it("the temporary copies of log.jsonl that runs killed while rewriting it left are deleted by the next run; a file of the user's is kept", async () => {
    const out = copy();
    // the names writeFileAtomic gives (.<target>.tmp-<pid>-<random>); the last is no temporary file of ours
    const left = ['.log.jsonl.tmp-4242-k1ll3d', '.log.jsonl.tmp-4243-0a1b2c3d'];
    for (const name of [...left, '.log.jsonl.tmp-mine']) writeFileSync(join(out, name), '{"type":"train"}\n');
    const r = await gpt('train', '--data', corpus, '--init-from', 'resume', '--max-iters', '12', '--out-dir', out);
    expect(r.code, r.err).toBe(0);
    expect(files(out).filter((f) => f.startsWith('.log.jsonl'))).toEqual(['.log.jsonl.tmp-mine']);
  });

  it('an empty text, or one too short to split, is bad usage (exit 2) for prepare and train', async () => {
    const empty = join(dir, 'empty.txt');
    writeFileSync(empty, '');
    expectOneLine(await gpt('prepare', '--data', empty, '--out-dir', fresh()), 2, /flag --data names \S+empty\.txt, which is empty$/);
    const one = join(dir, 'one-char.txt');
    writeFileSync(one, 'x');
    const failed = fresh();
    expectOneLine(await gpt('prepare', '--data', one, '--out-dir', failed), 2, /one-char\.txt is too short: 1 token\(s\) cannot be split into train and val$/);
    expect(existsSync(failed)).toBe(false); // nor an empty <out-dir>/data
    const bom = join(dir, 'bom-only.txt');
    writeFileSync(bom, '\uFEFF'); // a byte-order mark alone: bytes, but no text
    for (const tokenizer of ['char', 'bpe', 'gpt2']) {
      expectOneLine(await gpt('prepare', '--data', bom, '--tokenizer', tokenizer, '--out-dir', fresh()), 2, /^gpt prepare: \S+bom-only\.txt is empty: there is no text to train on$/);
    }
    // documents with no text: with gpt2, their <|endoftext|> tokens alone are no data to train on
    const noText = join(dir, 'no-text');
    mkdirSync(noText);
    for (const name of ['a.txt', 'b.txt', 'c.txt']) writeFileSync(join(noText, name), name === 'b.txt' ? '' : '\uFEFF');
    const none = fresh();
    expectOneLine(await gpt('prepare', '--data', noText, '--tokenizer', 'gpt2', '--out-dir', none), 2, /^gpt prepare: \S+no-text is empty: there is no text to train on$/);
    expect(existsSync(none)).toBe(false);
    const out = fresh();
    expectOneLine(await gpt('train', '--data', empty, '--out-dir', out), 2, /flag --data names \S+empty\.txt, which is empty$/);
    expect(existsSync(out)).toBe(false);
  });

  it('a text too short for the block size: one line for train and eval (bad usage, exit 2), the device not opened by train', async () => {
    const short = join(dir, 'short.txt');
    writeFileSync(short, corpusText(100)); // 90 train and 10 val tokens; TINY's block size is 16
    // train names its flag; eval's block is the checkpoint's
    const message = (block: string) => new RegExp(`^gpt (train|eval): the val split has 10 tokens, too few for sequences of ${block} 16 and their next-token targets: it needs at least 17$`);
    const out = fresh();
    const r = await gpt('train', '--data', short, ...TINY, '--out-dir', out);
    expectOneLine(r, 2, message('--block-size'));
    expect(r.out).not.toMatch(/device:/);
    expect(existsSync(out)).toBe(false);
    expectOneLine(await gpt('eval', '--out-dir', fixture, '--data', short, '--eval-iters', '1'), 2, message("the checkpoint's block size"));
  });

  it("prepared data of another tokenizer is bad usage for train and eval (exit 2), naming both tokenizers", async () => {
    const other = fresh();
    expect((await gpt('prepare', '--data', corpus, '--tokenizer', 'bpe', '--vocab-size', '300', '--out-dir', other)).code).toBe(0);
    const chars = new Set(readFileSync(corpus, 'utf8')).size; // the fixture's char vocabulary: the corpus's characters
    const message = new RegExp(`^gpt (train|eval): the data in \\S+ was tokenized differently from the checkpoint \\(bpe tokenizer of 300 tokens; the checkpoint's: char tokenizer of ${chars} tokens\\); pass --data FILE to re-tokenize$`);
    const out = fresh();
    expectOneLine(await gpt('train', '--init-from', fixture, '--data-dir', join(other, 'data'), '--max-iters', '2', '--out-dir', out), 2, message);
    expect(existsSync(out)).toBe(false);
    expectOneLine(await gpt('eval', '--out-dir', fixture, '--data-dir', join(other, 'data'), '--eval-iters', '1'), 2, message);
  });

  it("a --start the checkpoint's tokenizer cannot encode is one line (and the model opened for it is freed)", async () => {
    const r = await gpt('sample', '--out-dir', fixture, '--start', '\u00ff\u20ac', '--max-new-tokens', '2');
    expect(r.code).toBe(2);
    expect(r.err.split('\n')).toEqual([`gpt sample: flag --start holds no character the checkpoint's tokenizer knows (2 characters the tokenizer does not know were left out: "ÿ" (U+00FF), "€" (U+20AC))`]);
    // a prompt with some known characters is shown as the model continues it: without the others
    const partly = await gpt('sample', '--out-dir', fixture, '--start', '\u00ffthe', '--max-new-tokens', '2', '--temperature', '0');
    expect(partly.code, partly.err).toBe(0);
    expect(partly.out.startsWith('the')).toBe(true);
    const empty = join(dir, 'empty-prompt.txt');
    writeFileSync(empty, '');
    const fromFile = await gpt('sample', '--out-dir', fixture, '--start', `FILE:${empty}`, '--max-new-tokens', '2');
    expectOneLine(fromFile, 2, new RegExp(`^gpt sample: flag --start names FILE:${empty}, which is empty$`));
    expectOneLine(await gpt('sample', '--out-dir', fixture, '--start', 'FILE:'), 2, /^gpt sample: flag --start FILE: names no file: give FILE:path$/);
  });

  it("prepared data with a token id outside its tokenizer's vocabulary is refused when read, naming the file and place", async () => {
    const prepared = fresh();
    expect((await gpt('prepare', '--data', corpus, '--out-dir', prepared)).code).toBe(0);
    const vocab = (JSON.parse(readFileSync(join(prepared, 'data', 'meta.json'), 'utf8')) as { vocabSize: number }).vocabSize;
    // one bad id among thousands: a run might never draw it, and -1 as a target would be ignore_index
    // (in int32 data, as gpt prepare wrote before it recorded a dtype and writes for a vocabulary over 65,536)
    for (const [file, id, dtype] of [['train.bin', vocab, 'uint16'], ['val.bin', -1, 'int32']] as const) {
      const data = join(fresh(), 'data');
      cpSync(join(prepared, 'data'), data, { recursive: true });
      if (dtype === 'int32') {
        for (const name of ['train.bin', 'val.bin']) {
          const bytes = readFileSync(join(data, name));
          writeFileSync(join(data, name), new Uint8Array(Int32Array.from(new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2)).buffer));
        }
        const { dtype: _, ...meta } = JSON.parse(readFileSync(join(data, 'meta.json'), 'utf8')) as Record<string, unknown>;
        writeFileSync(join(data, 'meta.json'), JSON.stringify(meta));
      }
      const bytes = readFileSync(join(data, file));
      if (dtype === 'int32') bytes.writeInt32LE(id, 4 * 7);
      else bytes.writeUInt16LE(id, 2 * 7);
      writeFileSync(join(data, file), bytes);
      const out = fresh();
      const r = await gpt('train', '--data-dir', data, ...TINY, '--max-iters', '2', '--out-dir', out);
      expectOneLine(r, 1, new RegExp(`${file}: token ${id} at index 7 is outside the vocabulary \\[0, ${vocab}\\) of meta\\.json's tokenizer$`));
      expect(existsSync(out)).toBe(false);
    }
    // a meta.json that is not what gpt prepare writes: one line naming the file and the field
    const meta = JSON.parse(readFileSync(join(prepared, 'data', 'meta.json'), 'utf8')) as Record<string, unknown>;
    const metas: [unknown, string][] = [
      [null, 'expected a JSON object, got null'],
      [{ ...meta, train: -1 }, 'field "train" must be an integer >= 0, got -1'],
      [{ ...meta, val: '9' }, 'field "val" must be an integer >= 0, got "9"'],
      [{ ...meta, tokenizer: undefined }, 'tokenizerFromJSON: expected a tokenizer object, got undefined'],
    ];
    for (const [edited, message] of metas) {
      const data = join(fresh(), 'data');
      cpSync(join(prepared, 'data'), data, { recursive: true });
      writeFileSync(join(data, 'meta.json'), JSON.stringify(edited));
      const r = await gpt('train', '--data-dir', data, ...TINY, '--max-iters', '2', '--out-dir', fresh());
      expect(r.err).toBe(`gpt train: ${join(data, 'meta.json')}: ${message}`);
      expect(r.code).toBe(1);
    }
    // cut short: the file named as not JSON, not "cannot read prepared data ...; run `gpt prepare` first"
    const data = join(fresh(), 'data');
    cpSync(join(prepared, 'data'), data, { recursive: true });
    writeFileSync(join(data, 'meta.json'), '{"tokenizer": {"kind"');
    const cut = await gpt('train', '--data-dir', data, ...TINY, '--max-iters', '2', '--out-dir', fresh());
    expectOneLine(cut, 1, /meta\.json: not valid JSON \(.*\)$/);
    expect(cut.err.startsWith(`gpt train: ${join(data, 'meta.json')}: not valid JSON (`)).toBe(true);
  });
});

describe('checkpoints that must be refused', () => {
  /** The fixture's checkpoint, its tensors and metadata changed by `edit`. */
  async function edited(edit: (tensors: Record<string, SafetensorsTensor>, meta: Record<string, unknown>) => unknown): Promise<Uint8Array> {
    const { tensors, metadata } = parseSafetensors((await readCheckpointFiles(fixture)).weights);
    const meta = JSON.parse(metadata.webgpu_gpt!) as Record<string, unknown>;
    const replaced = edit(tensors, meta);
    return serializeSafetensors(tensors, { webgpu_gpt: JSON.stringify(replaced === undefined ? meta : replaced) });
  }

  it('a NaN weight: sample, eval, resume and serve refuse it with one line naming the tensor', async () => {
    const bytes = await edited((t) => void (t['h.0.mlp.c_fc.weight']!.data[7] = NaN));
    const file = join(dir, 'nan.safetensors');
    writeFileSync(file, bytes);
    const named = /tensor 'h\.0\.mlp\.c_fc\.weight' holds NaN \(at index 7\); a checkpoint must hold finite values only$/;
    expectOneLine(await gpt('sample', '--out-dir', file, '--max-new-tokens', '5'), 1, named);
    expectOneLine(await gpt('eval', '--out-dir', file, '--data', corpus, '--eval-iters', '1'), 1, named);
    const out = copy();
    await writeCheckpointFiles(out, bytes, {});
    expectOneLine(await gpt('train', '--data', corpus, '--init-from', 'resume', '--max-iters', '12', '--out-dir', out), 1, named);
    const page = join(dir, 'page'); // what gpt serve --root must hold
    mkdirSync(page);
    writeFileSync(join(page, 'index.html'), '<!doctype html>');
    expectOneLine(await gpt('serve', '--checkpoint', out, '--root', page, '--port', '0'), 1, named);
    const moment = await edited((t) => void (t['optim.v.wte.weight']!.data[0] = -Infinity));
    expect(() => decodeCheckpoint(moment, 'ckpt')).toThrow("ckpt: tensor 'optim.v.wte.weight' holds -Infinity (at index 0)");
  });

  it('encodeCheckpoint refuses to write non-finite weights', async () => {
    const tokenizer = CharTokenizer.train('abc');
    const model = new GPT({ vocabSize: 3, blockSize: 4, nLayer: 1, nHead: 1, nEmbd: 4, dropout: 0, bias: false });
    const state = new Map([...model.stateDict()].map(([name, p]) => [name, { shape: [...p.shape], data: new Float32Array(p.size) }]));
    state.get('ln_f.weight')!.data[2] = Infinity;
    model.loadStateDict(state);
    await expect(encodeCheckpoint(model, tokenizer)).rejects.toThrow("checkpoint not saved: tensor 'ln_f.weight' holds Infinity (at index 2)");
    model.dispose();
  });

  it("a checkpoint without its run's best val loss, resumed: its weights' recorded val loss is what a save must beat, the resumed step evaluated again or not", async () => {
    const { meta } = await loadCheckpoint(fixture);
    // the resumed step 10 evaluated again (--eval-interval 10), or not (4: evaluations at 12, 16, 20)
    for (const interval of ['10', '4']) {
      const out = copy();
      await writeCheckpointFiles(out, await edited((_, m) => void delete m.bestVal), {});
      // a learning rate far too high: the val loss after step 10 is worse than the checkpoint's
      const r = await gpt('train', '--data', corpus, '--init-from', 'resume', '--out-dir', out, '--max-iters', '20', '--eval-interval', interval, '--learning-rate', '3', '--min-lr', '3', '--warmup-iters', '0');
      expect(r.code, r.err).toBe(0);
      const vals = [...r.out.matchAll(/^step (1[1-9]|20): train loss \S+, val loss (\S+)$/gm)].map((m) => Number(m[2]));
      expect(Math.min(...vals), `--eval-interval ${interval}: the run this test needs: its val loss rises`).toBeGreaterThan(meta.val!);
      expect(r.out, `--eval-interval ${interval}`).not.toContain('saved checkpoint');
      expect((await loadCheckpoint(out)).meta.trainer!.step).toBe(10);
    }
  });

  it("a checkpoint --always-save wrote above its run's best val loss, resumed without it: the done line names the figure its later evaluations did not beat, and that is true", async () => {
    const { meta } = await loadCheckpoint(fixture);
    const out = copy();
    // as if an earlier evaluation of the run had been far better than the weights saved last
    await writeCheckpointFiles(out, await edited((_, m) => void Object.assign(m, { alwaysSave: true, bestVal: meta.val! - 1 })), {});
    const r = await gpt('train', '--data', corpus, '--init-from', 'resume', '--out-dir', out, '--always-save', 'false', '--max-iters', '20', '--eval-interval', '5');
    expect(r.code, r.err).toBe(0);
    const vals = [...r.out.matchAll(/^step (1[1-9]|20): train loss \S+, val loss (\S+)$/gm)].map((m) => Number(m[2]));
    expect(Math.min(...vals), "the run this test needs: an evaluation beats the checkpoint's own val loss").toBeLessThan(meta.val!);
    expect(r.out).not.toContain('saved checkpoint');
    const said = new RegExp(`; the checkpoint in ${out} is still step 10's: the evaluations after it did not beat the run's best val loss ([\\d.]+) \\(`).exec(r.out);
    expect(said, r.out).not.toBeNull();
    expect(Number(said![1])).toBeCloseTo(meta.val! - 1, 4);
    expect(Math.min(...vals)).toBeGreaterThanOrEqual(Number(said![1]));
  });

  it('a checkpoint from before --dtype existed resumes in float32, as its run trained', async () => {
    const bytes = await edited((_, m) => void delete (m.train as Record<string, unknown>).dtype);
    expect(decodeCheckpoint(bytes, 'ckpt').meta.train!.dtype).toBe('float32');
  });

  it('metadata of the wrong type: one line naming the field', async () => {
    type Edit = (meta: Record<string, any>) => unknown;
    const cases: [Edit, string][] = [
      [() => null, 'metadata must be a JSON object, got null'],
      [(m) => void delete m.model, 'metadata field model must be an object, got undefined'],
      [(m) => void (m.model.nEmbd = '16'), 'metadata field model.nEmbd must be an integer >= 1, got "16"'],
      [(m) => void (m.model.vocabSize = 1e300), 'metadata field model.vocabSize must be an integer in [1, 2^53 - 1], got 1e+300'],
      [(m) => void (m.model.bias = 0), 'metadata field model.bias must be true or false, got 0'],
      [(m) => void (m.tokenizer = null), 'metadata field tokenizer: tokenizerFromJSON: expected a tokenizer object, got null'],
      [(m) => void (m.bestVal = 'x'), 'metadata field bestVal must be a finite number, got "x"'],
      [(m) => void (m.dataTokens = 7), 'metadata field dataTokens must be an object, got 7'],
      [(m) => void (m.dataTokens = { train: -1, val: 2 }), 'metadata field dataTokens.train must be an integer >= 0, got -1'],
      [(m) => void (m.trainer.dataRng = 'xyz'), 'metadata field trainer.dataRng must be a generator state (decimal digits, below 2^64), got "xyz"'],
      [(m) => void (m.trainer.step = -1), 'metadata field trainer.step must be an integer >= 0, got -1'],
      [(m) => void (m.trainer.step = 1.5), 'metadata field trainer.step must be an integer >= 0, got 1.5'],
      [(m) => void (m.trainer.scaler = 2), 'metadata field trainer.scaler must be an object, got 2'],
      [(m) => void (m.trainer.scaler = { scale: 0, cleanSteps: 0, skippedSteps: 0 }), 'metadata field trainer.scaler.scale must be a number in [2^-24, 2^24], got 0'],
      [(m) => void (m.trainer.scaler = { scale: 1, cleanSteps: -1, skippedSteps: 0 }), 'metadata field trainer.scaler.cleanSteps must be an integer in [0, 2^24], got -1'],
      [(m) => void (m.train.dtype = 'bf16'), 'metadata field train.dtype must be one of auto, float32, float16, got "bf16"'],
      [(m) => void (m.train.learningRate = '0.1'), 'metadata field train.learningRate must be a finite number > 0, got "0.1"'],
      [(m) => void (m.train.batchSize = 0), 'metadata field train.batchSize must be an integer >= 1, got 0'],
      [(m) => void (m.train.minLr = 1), 'metadata field train.minLr (1) must not exceed metadata field train.learningRate (0.001)'],
      [(m) => void (m.train = 'fast'), 'metadata field train must be an object, got "fast"'],
      [(m) => void (m.run = 5), 'metadata field run must be a string, got 5'],
      [(m) => void (m.alwaysSave = 'yes'), 'metadata field alwaysSave must be true or false, got "yes"'],
      [(m) => void (m.prunedWeights = [3, 4]), 'metadata field prunedWeights must be an object, got [3,4]'],
      [(m) => void (m.prunedWeights = { pruned: 3, total: 0 }), 'metadata field prunedWeights.total must be an integer >= 1, got 0'],
      [(m) => void (m.prunedWeights = { pruned: 5, total: 4 }), 'metadata field prunedWeights.pruned must be an integer in [0, 4], got 5'],
    ];
    for (const [edit, message] of cases) {
      const bytes = await edited((_, meta) => edit(meta));
      expect(() => decodeCheckpoint(bytes, 'ckpt'), message).toThrow(`ckpt: ${message}`);
    }
    const file = join(dir, 'bad-meta.safetensors');
    writeFileSync(file, await edited((_, m) => void (m.trainer = { step: 'x' })));
    expectOneLine(await gpt('sample', '--out-dir', file), 1, /^gpt sample: .*bad-meta\.safetensors: metadata field trainer\.step must be an integer >= 0, got "x"$/);
  });

  it("a run whose checkpoint records a training setting this version has not (a later version's) is refused on resume in one line naming the directory and the field; sampled, the setting is not needed", async () => {
    const out = copy();
    await writeCheckpointFiles(out, await edited((_, m) => void ((m.train as Record<string, unknown>).warmupRatio = 0.1)), {});
    expectOneLine(await gpt('train', '--init-from', 'resume', '--out-dir', out, '--max-iters', '12'), 2, new RegExp(`^gpt train: ${out}: metadata field train\\.warmupRatio is not a training setting of this version \\(a checkpoint of a later one\\?\\); the settings are nLayer, nHead, `));
    expect((await gpt('sample', '--out-dir', out, '--max-new-tokens', '3')).code).toBe(0);
  });

  it('a forged value of a million characters is shown cut short, the error still one line naming the file and the field', async () => {
    const file = join(dir, 'long-meta.safetensors');
    writeFileSync(file, await edited((_, m) => void ((m.model as Record<string, unknown>).nEmbd = 'x'.repeat(1e6))));
    const r = await gpt('sample', '--out-dir', file);
    expect(r.err.length).toBeLessThan(2000); // was all million
    expectOneLine(r, 1, /^gpt sample: .*long-meta\.safetensors: metadata field model\.nEmbd must be an integer >= 1, got "xxx/);
    expect(r.err).toContain('characters left out');
  });

  it("a file of a checkpoint's directory named instead of the directory: the error says which to give", async () => {
    const manifest = join(fixture, MANIFEST_FILE);
    const hint = `${manifest} is the manifest of the checkpoint in ${fixture}: give the directory`;
    expectOneLine(await gpt('sample', '--out-dir', manifest, '--max-new-tokens', '2'), 1, new RegExp(`^gpt sample: ${hint}$`));
    expectOneLine(await train('--init-from', manifest, '--out-dir', fresh()), 1, new RegExp(`^gpt train: ${hint}$`));
  });
});
