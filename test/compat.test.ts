// Files an older version of this package wrote keep working. test/fixtures/compat/a41938e-run is a
// run directory that commit a41938e (2026-12-01) wrote with `gpt prepare` and `gpt train`
// (make_fixture.sh): the oldest layout of its kind (a checkpoint without run id, dtype or any later
// setting; log records without run ids; int32 prepared data without a dtype in meta.json).
// logits.json is that version's own forward of the checkpoint: the reference here, not this code.
import { cpSync, readFileSync, appendFileSync } from 'node:fs';
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
    const r = await gpt('train', '--init-from', 'resume', '--max-iters', '8', '--out-dir', run);
    expect(r.code, r.err).toBe(0);
    const { meta } = await loadCheckpoint(run);
    const after = readLog(run);
    expect(after.slice(0, history.length)).toEqual(history.map((record) => ({ ...record, run: meta.run })));
    expect(after.slice(history.length).map((l) => `${l.type} ${l.step}`)).toEqual(['resume 6', 'train 7', 'train 8', 'eval 8']);
    expect(after.every((l) => l.run === meta.run)).toBe(true);
  });
});
