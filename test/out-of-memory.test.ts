// The GPU running out of memory (a model past what it has, which WebGPU does not tell up front):
// createBuffer then hands back an invalid buffer and reports the failure later, through an error
// scope, while every use of that buffer raises validation errors of its own. The error a program
// gets names the allocation that failed, not the validation errors that followed it.
// Simulated: the pool's n-th new buffer is created destroyed (its uses fail validation as an
// invalid one's do) and its error scope reports a GPUOutOfMemoryError a little later.
import { afterEach, beforeAll, expect, it, vi } from 'vitest';
import { device, tensor } from '../src/index.js';
import { setupDevice } from './helpers.js';

beforeAll(setupDevice);
afterEach(() => vi.restoreAllMocks());

/** Makes the next new buffer fail as one past the GPU's memory does. */
function failNextAllocation(): void {
  const gpu = device().gpu;
  const create = gpu.createBuffer.bind(gpu);
  vi.spyOn(gpu, 'createBuffer').mockImplementationOnce((desc) => {
    const b = create(desc);
    b.destroy();
    return b;
  });
  vi.spyOn(gpu, 'popErrorScope').mockImplementationOnce(
    () => new Promise((r) => setTimeout(() => r(new GPUOutOfMemoryError('Out of memory\n - While calling [Device].CreateBuffer')), 20)),
  );
}

it('the error names the allocation that ran out (its label, its size, what tensors held), before the errors its invalid buffer raised', async () => {
  const before = tensor(new Float32Array(2 ** 18), [2 ** 18]); // 1 MiB held
  const held = device().memory().liveBytes / 2 ** 20;
  failNextAllocation();
  const t = tensor(new Float32Array(12345), [12345]); // 49380 bytes: a buffer of its size class, 7 x 8192 bytes
  const u = t.add(1); // a use of the invalid buffer
  const e = await u.toArray().then(() => null, (err: Error) => err);
  for (const x of [before, t, u]) x.dispose();
  expect(e?.message).toMatch(new RegExp(`^out of GPU memory allocating 57344 bytes for 'tensor-data' \\(${held.toFixed(1)} MiB held in tensors before it\\): Out of memory\n\\(\\+\\d+ more GPU errors\\)$`));
});
