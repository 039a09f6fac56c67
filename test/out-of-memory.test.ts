// The GPU running out of memory (a model past what it has, which WebGPU does not tell up front):
// createBuffer then hands back an invalid buffer and reports the failure later, through an error
// scope, while every use of that buffer raises validation errors of its own. The error a program
// gets names the allocation that failed, not the validation errors that followed it.
// Simulated: the pool's n-th new buffer is created destroyed (its uses fail validation as an
// invalid one's do) and its error scope reports a GPUOutOfMemoryError a little later.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, expect, it, vi } from 'vitest';
import { device, tensor, Trainer } from '../src/index.js';
import { setupDevice } from './helpers.js';
import { corpusText, expectOneLine, gpt, tempDir, TINY } from './cli-helpers.js';

beforeAll(setupDevice);
afterEach(() => vi.restoreAllMocks());

/** Makes the n-th new storage buffer from now (the pool's) fail as one past the GPU's memory does. */
function failAllocation(n: number, onFail: (label: string) => void = () => {}): void {
  const gpu = device().gpu;
  const [create, pop] = [gpu.createBuffer.bind(gpu), gpu.popErrorScope.bind(gpu)];
  const pooled = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  let [made, failing] = [0, false];
  vi.spyOn(gpu, 'createBuffer').mockImplementation((desc) => {
    const b = create(desc);
    if (desc.usage === pooled && ++made === n) {
      onFail(desc.label ?? '');
      b.destroy();
      failing = true;
    }
    return b;
  });
  vi.spyOn(gpu, 'popErrorScope').mockImplementation(() => {
    if (!failing) return pop();
    failing = false;
    void pop();
    return new Promise((r) => setTimeout(() => r(new GPUOutOfMemoryError('Out of memory\n - While calling [Device].CreateBuffer')), 20));
  });
}

it('the error names the allocation that ran out (its label, its size, what tensors held), before the errors its invalid buffer raised', async () => {
  const before = tensor(new Float32Array(2 ** 18), [2 ** 18]); // 1 MiB held
  const held = device().memory().liveBytes / 2 ** 20;
  failAllocation(1);
  const t = tensor(new Float32Array(12345), [12345]); // 49380 bytes: a buffer of its size class, 7 x 8192 bytes
  const u = t.add(1); // a use of the invalid buffer
  const e = await u.toArray().then(() => null, (err: Error) => err);
  for (const x of [before, t, u]) x.dispose();
  expect(e?.message).toMatch(new RegExp(`^out of GPU memory allocating 57344 bytes for 'tensor-data' \\(${held.toFixed(1)} MiB held in tensors before it\\): Out of memory \\(\\+\\d+ more GPU errors\\)$`));
});

it('reads under way together all wait for the allocation checks: none throws a validation error of the invalid buffer instead', async () => {
  // a training step reads its loss, norm and health at once: the read that took the pending checks
  // waited for them, the others found none left and threw the uses' validation errors first, or
  // returned the zeros of the failed submit
  device().emptyCache(); // no buffer of that size left by the tests above
  failAllocation(1);
  const t = tensor(new Float32Array(12345), [12345]);
  const [u, v] = [t.add(1), t.mul(2)];
  const errors = await Promise.all([u, v, t].map((x) => x.toArray().then(() => null, (err: Error) => err)));
  for (const x of [t, u, v]) x.dispose();
  for (const e of errors) expect(e?.message).toMatch(/^out of GPU memory allocating 57344 bytes for 'tensor-data' /);
});

it('a buffer that ran out is never handed out again: after the error is caught, an allocation of its size works', async () => {
  device().emptyCache(); // no buffer of that size left by the tests above
  failAllocation(1);
  const t = tensor(new Float32Array(12345), [12345]);
  const e = await t.toArray().then(() => null, (err: Error) => err);
  t.dispose(); // its buffer back to the pool
  vi.restoreAllMocks();
  expect(e?.message).toMatch(/^out of GPU memory allocating 57344 bytes/);
  const again = tensor(Float32Array.from({ length: 12345 }, (_, i) => i), [12345]); // the same size class
  const values = await again.toArray().finally(() => again.dispose());
  expect(values[12344]).toBe(12344);
});

it('gpt train: one line naming the allocation and the memory plan total; the half-built model freed', async () => {
  const dir = tempDir('out-of-memory');
  writeFileSync(join(dir, 'corpus.txt'), corpusText(4000));
  const live = device().memory().liveBytes;
  failAllocation(5); // one of the model's weights
  const r = await gpt('train', '--data', join(dir, 'corpus.txt'), ...TINY, '--max-iters', '5', '--out-dir', join(dir, 'run'));
  vi.restoreAllMocks();
  expectOneLine(r, 1, /^gpt train: out of GPU memory allocating \d+ bytes for '[^']+' \([\d.]+ MiB held in tensors before it\): Out of memory \(\+\d+ more GPU errors\); nothing was saved; the run's memory plan totals about [\d.]+ MiB, more than this GPU has free \(WebGPU does not tell how much it has\): a smaller --batch-size \(a larger --grad-accum keeps the tokens per step\), --block-size or model needs less$/);
  expect(device().memory().liveBytes).toBe(live);
});

it('gpt train: running out in the middle of a step (an activation), the same line, not the validation errors the reads under way met', async () => {
  const dir = tempDir('out-of-memory-step');
  writeFileSync(join(dir, 'corpus.txt'), corpusText(4000));
  device().emptyCache(); // the step creates its buffers anew
  type Stepping = { takeStep(readLoss: boolean): Promise<unknown> };
  const takeStep = (Trainer.prototype as unknown as Stepping).takeStep;
  let failed = '';
  vi.spyOn(Trainer.prototype as unknown as Stepping, 'takeStep').mockImplementationOnce(function (this: Trainer, readLoss: boolean) {
    failAllocation(5, (label) => (failed = label)); // the 5th buffer the first step creates
    return takeStep.call(this, readLoss);
  });
  const r = await gpt('train', '--data', join(dir, 'corpus.txt'), ...TINY, '--max-iters', '5', '--out-dir', join(dir, 'run'));
  vi.restoreAllMocks();
  expect(failed).not.toMatch(/^(param|zeros|randn|tensor-data)/); // not a weight
  expectOneLine(r, 1, new RegExp(`^gpt train: out of GPU memory allocating \\d+ bytes for '${failed}' \\([\\d.]+ MiB held in tensors before it\\): Out of memory \\(\\+\\d+ more GPU errors\\); nothing was saved; the run's memory plan totals about`));
});
