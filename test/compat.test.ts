// Files an older version of this package wrote keep working. test/fixtures/compat/a41938e-run is a
// run directory that commit a41938e (2026-12-01) wrote with `gpt prepare` and `gpt train`
// (make_fixture.sh): the oldest layout of its kind (a checkpoint without run id, dtype or any later
// setting; log records without run ids; int32 prepared data without a dtype in meta.json).
// logits.json is that version's own forward of the checkpoint: the reference here, not this code.
import { appendFileSync, cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { modelFromCheckpoint } from '../src/gpt/checkpoint.js';
import { noGrad, scope, tensor } from '../src/index.js';
import { loadCheckpoint } from '../src/node/checkpoint-dir.js';
import { gpt, tempDir } from './cli-helpers.js';
import { setupDevice } from './helpers.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/compat/', import.meta.url));
const OLD_RUN = join(FIXTURES, 'a41938e-run');
const dir = tempDir('compat');
const readLog = (run: string) => readFileSync(join(run, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

/** `run` resumed to step 8 (its checkpoint is step 6's): its log is `history` under the run's new id, then the resumed steps. */
async function expectResumedAfter(run: string, history: Record<string, unknown>[]): Promise<void> {
  const r = await gpt('train', '--init-from', 'resume', '--max-iters', '8', '--out-dir', run);
  expect(r.code, r.err).toBe(0);
  const { meta } = await loadCheckpoint(run);
  const after = readLog(run);
  expect(after.slice(0, history.length)).toEqual(history.map((record) => ({ ...record, run: meta.run })));
  expect(after.slice(history.length).map((l) => `${l.type} ${l.step}`)).toEqual(['resume 6', 'train 7', 'train 8', 'eval 8']);
  expect(after.every((l) => l.run === meta.run)).toBe(true);
}

beforeAll(setupDevice);

describe('a run directory written on 2026-12-01 (commit a41938e)', () => {
  it("loads to the logits that version computed from it", async () => {
    const old = JSON.parse(readFileSync(join(FIXTURES, 'logits.json'), 'utf8')) as { texts: string[]; ids: number[]; shape: number[]; logits: number[] };
    const { model, tokenizer } = modelFromCheckpoint(await loadCheckpoint(OLD_RUN));
    try {
      expect(old.texts.flatMap((t) => tokenizer.encode(t))).toEqual(old.ids);
      const [B, T] = old.shape as [number, number];
      const ours = await noGrad(() => scope(async () => (await model.forward(tensor(Int32Array.from(old.ids), [B, T])).logits.toArray()) as Float32Array));
      expect(ours.length).toBe(old.logits.length);
      const worst = Math.max(...old.logits.map((x, i) => Math.abs(x - ours[i]!)));
      expect(worst, 'float32 sums in another order at most').toBeLessThan(1e-5);
    } finally {
      model.dispose();
    }
  });

  it("resumed, keeps the run's history: its records, which name no run, are the resumed run's (under its id), those past the checkpoint dropped", async () => {
    const run = join(dir, 'resumed');
    cpSync(OLD_RUN, run, { recursive: true });
    const history = readLog(run);
    // what a crash after the save at step 6 would have left: a step the resumed run takes again
    appendFileSync(join(run, 'log.jsonl'), JSON.stringify({ type: 'train', step: 7, loss: 9, lr: 1e-3, gradNorm: 1, ms: 1, tokensPerSec: 1 }) + '\n');
    await expectResumedAfter(run, history);
  });

  it("resumed, keeps the checkpoint's history alone from a log of several runs: not an earlier run's, a crashed stretch's, or a later run's that never saved", async () => {
    const run = join(dir, 'several');
    cpSync(OLD_RUN, run, { recursive: true });
    const lines = readFileSync(join(run, 'log.jsonl'), 'utf8').trim().split('\n');
    const history = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const train = (step: number, loss: number) => JSON.stringify({ type: 'train', step, loss, lr: 1e-3, gradNorm: 1, ms: 1, tokensPerSec: 1 });
    const evaluation = (step: number, val: number) => JSON.stringify({ type: 'eval', step, train: val, val });
    // as the old version appended them: an earlier run in the directory (steps 0 to 9); the
    // checkpoint's run to step 3, a crash at step 5 and its resume from the save at step 3 (which
    // evaluated step 3 again); a crash after the save at step 6; a new run that never saved
    const earlier = [evaluation(0, 5), ...[1, 2, 3, 4, 5, 6, 7, 8, 9].map((s) => train(s, 5)), evaluation(9, 5)];
    const log = [...earlier, ...lines.slice(0, 5), train(4, 9), train(5, 9), lines[4]!, ...lines.slice(5), train(7, 9), evaluation(0, 7), train(1, 7)];
    writeFileSync(join(run, 'log.jsonl'), log.map((l) => l + '\n').join(''));
    await expectResumedAfter(run, history);
  });

  it("resumed beside a log that is another run's (no evaluation of the checkpoint's step and val loss), keeps none of it", async () => {
    const run = join(dir, 'other-log');
    cpSync(OLD_RUN, run, { recursive: true });
    const other = readLog(run).map((record) => JSON.stringify(record.type === 'eval' ? { ...record, val: 5 } : record));
    writeFileSync(join(run, 'log.jsonl'), other.map((l) => l + '\n').join(''));
    await expectResumedAfter(run, []);
  });

  it("resumed again after a resume that never saved (stopped, or no better val loss), still keeps the run's history", async () => {
    const run = join(dir, 'twice');
    cpSync(OLD_RUN, run, { recursive: true });
    const history = readLog(run);
    // a rate that makes the val loss worse: the first run's evaluation at step 7 does not save
    const first = await gpt('train', '--init-from', 'resume', '--max-iters', '7', '--learning-rate', '1000', '--min-lr', '1000', '--out-dir', run);
    expect(first.code, first.err).toBe(0);
    expect((await loadCheckpoint(run)).meta.run, 'the checkpoint is still the old one').toBeUndefined();
    await expectResumedAfter(run, history);
  });
});
