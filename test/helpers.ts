// Shared test helpers: one device per test file, random shapes and values from fast-check (also as
// the Random the op-table cases draw from), and a comparison that prints the worst element when it fails.
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, vi } from 'vitest';
import { describeMismatch, worstElement, type Random } from '../src/check/index.js';
import type { MemoryBound } from '../src/device/adapter.js';
import type { Ref } from '../src/check/reference/index.js';
import { device, initDevice, keep, scope, stack, tensor, type Tensor } from '../src/index.js';
import { modelFromCheckpoint } from '../src/gpt/checkpoint.js';
import type { GPT } from '../src/gpt/model.js';
import { TRAIN_DEFAULTS, Trainer } from '../src/gpt/trainer.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { withCheckpointFiles, type CheckpointManifest } from '../src/node/checkpoint-files.js';
import { setAutotune } from '../src/kernels/autotune.js';
import { Kernel } from '../src/kernels/kernel.js';
import { setProfile } from '../src/kernels/profile.js';
import { loadCheckpoint } from '../src/node/checkpoint-dir.js';
import { writeGPT2Dir, type GPT2Params } from './hf-reference.js';

export { seededValues } from '../src/check/index.js';

/**
 * A 2-layer, 16-wide GPT trained 3 steps on `text` (its own character tokenizer), and what a
 * checkpoint of it records (`extra`: optimizer, config, trainer state, a val loss).
 */
export async function tinyTrainedRun(text: string) {
  const tokenizer = CharTokenizer.train(text);
  const ids = Int32Array.from(tokenizer.encode(text));
  const cfg = { ...TRAIN_DEFAULTS, nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 16, batchSize: 2, evalIters: 1 };
  const trainer = new Trainer(cfg, { train: ids.slice(0, 600), val: ids.slice(600), vocabSize: tokenizer.vocabSize });
  for (let i = 0; i < 3; i++) await trainer.trainStep(false);
  return { tokenizer, trainer, model: trainer.model, extra: async () => ({ optimizer: trainer.optimizer, train: cfg, trainer: await trainer.state(), val: 3.25 }) };
}

/** Disposes each trainer and its model (Trainer.dispose leaves the model to whoever made it). */
export function disposeTrainers(...trainers: Trainer[]): void {
  for (const t of trainers) {
    t.dispose();
    t.model.dispose();
  }
}

/** The losses of `steps` optimizer steps of `trainer`, read back each step. */
export async function trainLosses(trainer: Trainer, steps: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < steps; i++) out.push((await trainer.trainStep()).loss);
  return out;
}

/**
 * The losses of `steps` optimizer steps of `trainer` (gradAccum 1: a step's loss is its model's),
 * each kept on the GPU as the model's forward makes it and all read back at the end: the steps run
 * back to back, without a readback's wait each (trainLosses reads every step).
 */
export async function keptLosses(trainer: Trainer, steps: number): Promise<number[]> {
  if (trainer.cfg.gradAccum !== 1) throw new Error(`keptLosses: gradAccum must be 1 (a step's loss is then its model's), got ${trainer.cfg.gradAccum}`);
  const model = trainer.model;
  const original = model.forward;
  const forward = original.bind(model) as (idx: Tensor, opts?: { targets?: Tensor }) => { loss?: Tensor };
  const kept: Tensor[] = [];
  model.forward = ((idx: Tensor, opts?: { targets?: Tensor }) => {
    const out = forward(idx, opts);
    if (out.loss) kept.push(keep(out.loss.detach()));
    return out;
  }) as typeof model.forward;
  try {
    for (let i = 0; i < steps; i++) await trainer.trainStep(false);
  } finally {
    model.forward = original;
  }
  if (kept.length !== steps) throw new Error(`keptLosses: ${steps} steps made ${kept.length} losses`);
  const losses = scope(() => keep(stack(kept)));
  for (const t of kept) t.dispose();
  const values = Array.from(await losses.toArray());
  losses.dispose();
  return values;
}

export async function setupDevice() {
  try {
    return await initDevice();
  } catch (e) {
    throw new Error(`${(e as Error).message}\nThe tests need a WebGPU adapter: run \`node bin/gpt.js doctor\`.`);
  }
}

/**
 * The timeout of a test that compiles many kernels at head size 64 or in float16: lavapipe with a
 * cold shader cache (a fresh machine) spends 15-35 s on some of them, and such tests took 100-413 s
 * there against the default 120 s (a few seconds with the cache warm).
 */
export const COLD_COMPILE_MS = 600_000;

/** Fixed in CI; set FC_SEED to explore other cases locally. */
export const fcParams = (numRuns = 25): fc.Parameters<unknown> => ({
  numRuns,
  seed: process.env.FC_SEED ? Number(process.env.FC_SEED) : 42,
  endOnFailure: true,
});

export const dimArb = fc.oneof(fc.integer({ min: 1, max: 8 }), fc.constantFrom(1, 2, 3, 5, 7, 13, 31, 67, 70));
export const shapeArb = (minRank = 0, maxRank = 4) =>
  fc.array(dimArb, { minLength: minRank, maxLength: maxRank }).filter((s) => s.reduce((a, b) => a * b, 1) <= 40_000);

export function valuesArb(n: number, min = -3, max = 3) {
  return fc.array(fc.float({ min: Math.fround(min), max: Math.fround(max), noNaN: true, noDefaultInfinity: true }), {
    minLength: n,
    maxLength: n,
  });
}

/** The Random of src/check drawing from fast-check's `fc.gen()`: cases run as properties, replayable from the seed. */
export function randomFromGen(g: fc.GeneratorValue): Random {
  return {
    int: (min, max) => g(fc.integer, { min, max }),
    ints: (n, min, max) => g(fc.array, fc.integer({ min, max }), { minLength: n, maxLength: n }),
    floats: (n, min, max) =>
      g(fc.float32Array, { minLength: n, maxLength: n, min: Math.fround(min), max: Math.fround(max), noNaN: true, noDefaultInfinity: true }),
  };
}

/** A product op(A) · op(B) = [M, K] · [K, N] with A's and B's batch dims (NumPy-broadcast, the same rank). */
export interface MatmulCase {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  batchA: number[];
  batchB: number[];
}

/** A's or B's stored shape for op(A) = [M, K], op(B) = [K, N]. */
export const storedShape = (batch: number[], rows: number, cols: number, trans: boolean) => [...batch, ...(trans ? [cols, rows] : [rows, cols])];

export const toTensor = (r: Ref): Tensor => tensor(Float32Array.from(r.data), r.shape);

/** |got - want| <= atol + rtol |want| everywhere, with the worst element in the message. */
export async function expectClose(t: Tensor, want: Ref, atol = 1e-5, rtol = 1e-4, what = ''): Promise<void> {
  expect([...t.shape], `${what} shape`).toEqual(want.shape);
  const worst = worstElement(await t.toArray(), want.data, { atol, rtol });
  if (worst && worst.ratio > 1) throw new Error(`${what}: ${t.describe()} ${describeMismatch(worst, want.shape, { atol, rtol })}`);
}

/**
 * The GPT that `params`, written as a transformers GPT-2 directory (tied head or not) in a fresh
 * temporary directory, loads as (dropout 0): the model as `gpt sample` would run it.
 */
export async function loadGPT2(params: GPT2Params, head: boolean): Promise<GPT> {
  const dir = mkdtempSync(join(tmpdir(), 'gpt-gpt2-'));
  writeGPT2Dir(dir, params, { prefix: false, head });
  return modelFromCheckpoint(await loadCheckpoint(dir), { dropout: 0 }).model;
}

/** Runs `body` in a scope and expects the device's live buffers back where they were before it. */
export async function expectBuffersReturned(body: () => Promise<unknown>): Promise<void> {
  const before = device().memory().liveBuffers;
  await scope(body);
  expect(device().memory().liveBuffers).toBe(before);
}

/** Runs `body`, recording the largest range any dispatch binds meanwhile. */
export async function widestBinding<T>(body: () => Promise<T>): Promise<[T, number]> {
  const launch = Kernel.prototype.launch;
  let widest = 0;
  Kernel.prototype.launch = function (this: Kernel, buffers, params, workgroups) {
    for (const b of buffers) if ('size' in b) widest = Math.max(widest, b.size); // buffers and windows (textures have no size)
    launch.call(this, buffers, params, workgroups);
  };
  try {
    return [await body(), widest];
  } finally {
    Kernel.prototype.launch = launch;
  }
}

/** Runs `fn` as on an adapter with these `limits` (maxStorageBufferBindingSize, maxBufferSize), which the device then also enforces. */
export async function withLimits<T>(limits: Record<string, number>, fn: () => Promise<T>): Promise<T> {
  const now = device().info.limits;
  const real = { ...now };
  Object.assign(now, limits);
  try {
    return await fn();
  } finally {
    Object.assign(now, real);
  }
}

/** Runs `fn` as on an adapter whose memory holds `bytes` at most (its memoryBound: 'the test bound'). */
export async function withMemoryBound<T>(bytes: number, fn: () => Promise<T>): Promise<T> {
  const d = device() as { memoryBound: MemoryBound };
  const real = d.memoryBound;
  d.memoryBound = { bytes, what: 'the test bound' };
  try {
    return await fn();
  } finally {
    d.memoryBound = real;
  }
}

/**
 * A fresh directory for autotune winners (for GPT_CACHE_DIR) in the calling file or describe block;
 * afterAll turns autotuning off, resets the profile, restores GPT_CACHE_DIR and removes the directory.
 */
export function autotuneCacheDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const saved = process.env.GPT_CACHE_DIR;
  afterAll(() => {
    setAutotune(false);
    setProfile(null);
    if (saved === undefined) delete process.env.GPT_CACHE_DIR;
    else process.env.GPT_CACHE_DIR = saved;
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Runs a Tunable's scratch once and waits for it, then frees it (a candidate as the program's first use runs it: compiled before it is measured). */
export async function runOnce(scratch: { run: () => void; dispose: () => void }): Promise<void> {
  try {
    scratch.run();
    await device().sync();
  } finally {
    scratch.dispose();
  }
}

/** A checkpoint directory's current weights, checked against its manifest, whole in memory (test checkpoints are small). */
export function readCheckpointFiles(dir: string, attempts = 3): Promise<{ weights: Uint8Array; manifest: CheckpointManifest }> {
  // the checks read by position, leaving the file's own position at its start
  return withCheckpointFiles(dir, async (handle, manifest) => ({ weights: await handle.readFile(), manifest }), attempts);
}

/** Pieces (a checkpoint saved a tensor at a time) joined into the one array they make. */
export async function joinPieces(pieces: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const all: Uint8Array[] = [];
  for await (const piece of pieces) all.push(piece);
  return new Uint8Array(Buffer.concat(all));
}

/** The lines `body` warns (console.warn), kept out of the test's output. */
export async function warningsOf(body: () => Promise<unknown>): Promise<string[]> {
  const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
  try {
    await body();
    return warn.mock.calls.map((c) => String(c[0]));
  } finally {
    warn.mockRestore();
  }
}

/** What `run` returns, and the process warnings (process.emitWarning's messages) emitted while it ran. */
export async function withWarnings<T>(run: () => Promise<T>): Promise<{ result: T; warnings: string[] }> {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarning);
  try {
    const result = await run();
    await new Promise((done) => setImmediate(done)); // 'warning' is emitted on the next tick
    return { result, warnings };
  } finally {
    process.off('warning', onWarning);
  }
}
