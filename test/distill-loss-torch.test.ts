// distillLoss against PyTorch (test/fixtures/torch/make_distill_loss_fixture.py, distill-loss.json):
// DistilBERT's loss, KLDivLoss(batchmean) of log_softmax(s / T) against softmax(t / T) over the
// labelled rows times T², weighted by alpha, plus (1 - alpha) cross_entropy with ignore_index,
// computed by torch in float64 with autograd; ours in float32 from the same float32 inputs.
// Tolerances as test/distill-loss.test.ts's forward (atol 1e-5, rtol 1e-5; rtol 1e-3 at the largest
// temperature, 100, where float32's KL of two near-uniform softmaxes cancels: MAX_DISTILL_TEMPERATURE)
// and, since torch's gradient is exact where finite differences are not, atol 1e-5, rtol 1e-4.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ref } from '../src/check/reference/index.js';
import { distillLoss, scope, tensor } from '../src/index.js';
import { MAX_DISTILL_TEMPERATURE } from '../src/ops/distill-loss.js';
import { expectClose, setupDevice, toTensor } from './helpers.js';

beforeAll(setupDevice);

interface Case {
  shape: number[];
  temperature: number;
  alpha: number;
  ignoreIndex: number;
  student: number[];
  teacher: number[];
  targets: number[];
  loss: number;
  grad: number[];
}

const cases: Case[] = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures/torch/distill-loss.json'), 'utf8'));

describe("distillLoss against PyTorch's (DistilBERT's) distillation loss", () => {
  it('the fixture holds the cases it was made for', () => expect(cases.length).toBe(6));

  for (const c of cases) {
    it(`${JSON.stringify(c.shape)}, T ${c.temperature}, alpha ${c.alpha}, ${c.targets.filter((y) => y === c.ignoreIndex).length} rows ignored: loss and gradient as torch's`, () =>
      scope(async () => {
        const student = toTensor(ref(c.shape, c.student)).requiresGrad_();
        const targets = tensor(Int32Array.from(c.targets), c.shape.slice(0, -1));
        const loss = distillLoss(student, toTensor(ref(c.shape, c.teacher)), targets, { temperature: c.temperature, alpha: c.alpha, ignoreIndex: c.ignoreIndex });
        await expectClose(loss, ref([], [c.loss]), 1e-5, c.temperature === MAX_DISTILL_TEMPERATURE ? 1e-3 : 1e-5, 'loss');
        loss.backward();
        await expectClose(student.grad!, ref(c.shape, c.grad), 1e-5, 1e-4, 'gradient');
      }));
  }
});
