// saveCheckpoint as `gpt train` calls it, with AdamW's moments (and saveHFModel, `gpt export`): the
// host holds a tensor or two read back from the GPU at a time, never the model and its moments
// (1.5 GB for GPT-2 124M), the file is encodeCheckpoint's (encodeHF's) bytes exactly, and a save failing midway (a tensor refused as not finite,
// after the tensors before it were written) leaves the previous checkpoint loadable and no
// temporary file, with the refusal's own one-line error.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { device } from '../src/device/device.js';
import { encodeCheckpoint } from '../src/gpt/checkpoint.js';
import { encodeHF, HF_FILES } from '../src/gpt/index.js';
import type { GPT } from '../src/gpt/model.js';
import type { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import type { Trainer } from '../src/gpt/trainer.js';
import { parseSafetensors } from '../src/io/safetensors.js';
import { loadCheckpoint, saveCheckpoint, saveHFModel } from '../src/node/checkpoint-dir.js';
import { tempDir } from './cli-helpers.js';
import { readCheckpointFiles, setupDevice, tinyTrainedRun } from './helpers.js';

const text = 'a checkpoint written to disk a tensor at a time, read back as it goes. '.repeat(12);
let tokenizer: CharTokenizer;
const root = tempDir('checkpoint-save-stream');
let trainer: Trainer;
let model: GPT;
let extra: Parameters<typeof saveCheckpoint>[3];

beforeAll(async () => {
  await setupDevice();
  const run = await tinyTrainedRun(text);
  ({ tokenizer, trainer, model } = run);
  extra = await run.extra();
});
afterAll(() => {
  trainer?.dispose();
  rmSync(root, { recursive: true, force: true });
});

/** Every read back from the GPU while `body` runs: how many, the most of their buffers alive at once (after a collection, before each read), and `atRead()` each time. */
async function readsDuring<T>(body: () => Promise<T>, atRead: () => void = () => undefined): Promise<{ value: T; reads: number; mostAlive: number }> {
  const gpu = device();
  const read = gpu.read.bind(gpu);
  const held: WeakRef<ArrayBuffer>[] = [];
  let mostAlive = 0;
  // patched by hand: a spy would keep every result (mock.results), the buffers this counts
  gpu.read = async (...args: Parameters<typeof gpu.read>) => {
    await new Promise((r) => setTimeout(r, 0)); // a WeakRef's target is kept until the task that made it ends
    (globalThis as { gc?: () => void }).gc!();
    mostAlive = Math.max(mostAlive, held.filter((r) => r.deref()).length);
    atRead();
    const bytes = await read(...args);
    held.push(new WeakRef(bytes));
    return bytes;
  };
  try {
    return { value: await body(), reads: held.length, mostAlive };
  } finally {
    delete (gpu as Partial<typeof gpu>).read; // the class's own again
  }
}

describe('saveCheckpoint with the optimizer', () => {
  it("writes encodeCheckpoint's bytes, reading each tensor back only as it is written", async () => {
    const want = await encodeCheckpoint(model, tokenizer, extra);
    const ck = `${root}/whole`;
    const { value: size, reads, mostAlive } = await readsDuring(() => saveCheckpoint(ck, model, tokenizer, extra));
    const { weights } = await readCheckpointFiles(ck);
    expect(size).toBe(want.length);
    expect(Buffer.from(weights).equals(Buffer.from(want))).toBe(true);
    // every weight and both moments of each parameter: read back, but never more than two alive
    const tensors = Object.keys(parseSafetensors(want).tensors).length;
    expect(reads).toBeGreaterThanOrEqual(tensors);
    expect(mostAlive).toBeLessThanOrEqual(2);
  });

  it('failing at a tensor midway, leaves the previous checkpoint whole, no temporary file, and the refusal in one line', async () => {
    const ck = `${root}/failing`;
    await saveCheckpoint(ck, model, tokenizer, extra);
    const before = await readCheckpointFiles(ck);
    const named = [...model.namedParameters()];
    const m = new Map(named.map(([name, p]) => [name, new Float32Array(p.size)]));
    const v = new Map([...m].map(([name, data]) => [name, data.slice()]));
    const last = named.at(-1)![0];
    v.get(last)![1] = NaN;
    let tempsSeen = 0; // while the weights are read back, their temporary file is being written
    const temps = () => readdirSync(ck).filter((f) => f.includes('.tmp-'));
    const save = readsDuring(() => saveCheckpoint(ck, model, tokenizer, { moments: { m, v } }), () => void (tempsSeen += temps().length));
    await expect(save).rejects.toThrow(new Error(`checkpoint not saved: tensor 'optim.v.${last}' holds NaN (at index 1); a checkpoint must hold finite values only`));
    expect(tempsSeen, 'reads made while the file was being written').toBeGreaterThan(0);
    expect(temps()).toEqual([]);
    expect(readdirSync(ck).sort()).toEqual(['checkpoint.json', before.manifest.weights].sort());
    const after = await readCheckpointFiles(ck);
    expect(after.manifest).toEqual(before.manifest);
    expect(Buffer.from(after.weights).equals(Buffer.from(before.weights))).toBe(true);
    const loaded = await loadCheckpoint(ck);
    expect(loaded.meta.trainer).toEqual(extra!.trainer);
  });
});

describe('saveHFModel', () => {
  it("writes encodeHF's model.safetensors, reading each weight back only as it is written", async () => {
    const want = await encodeHF(model, tokenizer);
    const hf = `${root}/hf`;
    const { reads, mostAlive } = await readsDuring(() => saveHFModel(hf, model, tokenizer));
    expect(Buffer.from(readFileSync(`${hf}/${HF_FILES.weights}`)).equals(Buffer.from(want.weights))).toBe(true);
    expect(readFileSync(`${hf}/${HF_FILES.config}`, 'utf8')).toBe(want.config);
    expect(reads).toBeGreaterThanOrEqual([...model.layerParameters()].length);
    expect(mostAlive).toBeLessThanOrEqual(2);
  });
});
