// Node's model loads (loadCheckpointModel, what gpt sample, eval and train use) upload each tensor,
// AdamW's moments too, as it is read: the host holds a tensor or two at a time, never the file
// (a GPT-2 124M run's is 1.5 GB, 2/3 of it moments), and what reaches the GPU is the file's values,
// read here independently of the loader.
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { device } from '../src/device/device.js';
import { modelFromCheckpoint, type Checkpoint } from '../src/gpt/checkpoint.js';
import { loadTeacher, teacherDistillation } from '../src/cli/teacher.js';
import type { DistillFlags } from '../src/cli/train-flags.js';
import { crc32 } from '../src/io/checksum.js';
import { disposeUploaded, type UploadedCheckpoint } from '../src/gpt/checkpoint-upload.js';
import { GPT } from '../src/gpt/model.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { parseSafetensors, serializeSafetensors } from '../src/io/safetensors.js';
import { MANIFEST_FILE, type CheckpointManifest } from '../src/node/checkpoint-files.js';
import { loadCheckpoint, loadCheckpointModel, saveCheckpoint } from '../src/node/checkpoint-dir.js';
import { loadHeadModel, readCheckpointHead } from '../src/node/checkpoint-head.js';
import { tempDir } from './cli-helpers.js';
import { seededValues, setupDevice } from './helpers.js';
import { randomGPT2, writeGPT2Dir } from './hf-reference.js';

/** Weak references to the buffers tensors were read into, and the most of them alive at once (counted before each read, after a collection), while heldWhile measures. */
const reads = vi.hoisted(() => ({ measuring: false, held: [] as WeakRef<ArrayBuffer>[], mostHeld: 0 }));
vi.mock('../src/node/regular-files.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/node/regular-files.js')>();
  const readFully: typeof real.readFully = async (handle, position, out, name, chunk) => {
    // a full collection per read (over 0.1 s on a loaded machine) only where it is counted
    if (!reads.measuring) return real.readFully(handle, position, out, name, chunk);
    await new Promise((r) => setTimeout(r, 0)); // a WeakRef's target is kept until the task that made it ends
    (globalThis as { gc?: () => void }).gc!();
    reads.mostHeld = Math.max(reads.mostHeld, reads.held.filter((r) => r.deref()).length);
    if (out.length >= 256) reads.held.push(new WeakRef(out.buffer as ArrayBuffer)); // a tensor's bytes (the header's reads are smaller)
    return real.readFully(handle, position, out, name, chunk);
  };
  return { ...real, readFully };
});

const dir = tempDir('checkpoint-load-model');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const bytesOf = (d: ArrayBufferView) => Buffer.from(d.buffer, d.byteOffset, d.byteLength);

/** The most read buffers alive at once while `load` ran, and how many were read. */
async function heldWhile<T>(load: () => Promise<T>): Promise<{ value: T; mostHeld: number; reads: number }> {
  [reads.held, reads.mostHeld, reads.measuring] = [[], 0, true];
  try {
    const value = await load();
    return { value, mostHeld: reads.mostHeld, reads: reads.held.length };
  } finally {
    reads.measuring = false;
  }
}

describe('a resumable checkpoint loaded into a model (loadCheckpointModel)', () => {
  const tokenizer = CharTokenizer.train('abcdefghijklmnop');
  let model: GPT;
  let ck: string;
  let file: string;
  beforeAll(async () => {
    await setupDevice();
    model = new GPT({ vocabSize: tokenizer.vocabSize, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 16, dropout: 0, bias: true });
    const moments = { m: new Map<string, Float32Array>(), v: new Map<string, Float32Array>() };
    for (const [i, [name, p]] of [...model.namedParameters()].entries()) {
      moments.m.set(name, Float32Array.from(seededValues(p.size, 100 + i)));
      moments.v.set(name, Float32Array.from(seededValues(p.size, 200 + i), Math.abs));
    }
    ck = join(dir, 'run');
    await saveCheckpoint(ck, model, tokenizer, { moments, val: 2.5 });
    file = join(ck, (JSON.parse(readFileSync(join(ck, MANIFEST_FILE), 'utf8')) as CheckpointManifest).weights);
  });
  afterAll(() => model.dispose());

  it("holds a tensor or two on the host at a time where reading the checkpoint first holds them all", async () => {
    const streamed = await heldWhile(() => loadCheckpointModel(ck));
    disposeUploaded(streamed.value);
    const tensors = Object.values(parseSafetensors(readFileSync(file)).tensors).filter((t) => t.data.byteLength >= 256).length; // those counted
    expect(streamed.reads, 'a read per tensor, and the header').toBe(tensors + 1);
    // each tensor on the GPU before the next is read: of those read before, only the last one or two may linger
    expect(streamed.mostHeld).toBeLessThanOrEqual(2);
    // the measure itself: today's readCheckpoint then modelFromCheckpoint holds every tensor until the last is read
    const whole = await heldWhile(async () => {
      const ckpt = await loadCheckpoint(ck);
      modelFromCheckpoint(ckpt).model.dispose();
      return ckpt;
    });
    expect(whole.mostHeld).toBeGreaterThanOrEqual(tensors - 1);
  });

  it("puts the file's values on the GPU: the weights in the model, the moments in tensors the caller frees", async () => {
    const saved = parseSafetensors(readFileSync(file)).tensors; // read here, not by the loader
    const bare = join(dir, 'bare.safetensors');
    writeFileSync(bare, readFileSync(file));
    for (const path of [ck, bare]) {
      const live = device().memory().liveBytes;
      const loaded: UploadedCheckpoint = await loadCheckpointModel(path);
      try {
        expect(loaded.ckpt.optimizer, `${path}: moments on the host`).toBeUndefined();
        expect(loaded.ckpt.meta.val).toBe(2.5);
        for (const [name, p] of loaded.model.namedParameters()) {
          expect(bytesOf(await p.toArray()).equals(bytesOf(saved[name]!.data)), `${path}: ${name}`).toBe(true);
          for (const k of ['m', 'v'] as const) {
            const moment = loaded.moments![k].get(name)!;
            expect(bytesOf(await moment.toArray()).equals(bytesOf(saved[`optim.${k}.${name}`]!.data)), `${path}: optim.${k}.${name}`).toBe(true);
          }
        }
      } finally {
        disposeUploaded(loaded);
      }
      expect(device().memory().liveBytes, `${path}: everything freed`).toBe(live);
    }
  });

  it('for inference reads the moments (for the checksum) without keeping them', async () => {
    const live = device().memory().liveBytes;
    const loaded = await loadCheckpointModel(ck, { dropout: 0, moments: false });
    expect(loaded.moments).toBeUndefined();
    const params = [...loaded.model.namedParameters()].reduce((n, [, p]) => n + 4 * p.size, 0);
    expect(device().memory().liveBytes - live).toBeLessThan(1.5 * params); // not the 3x moments would take
    disposeUploaded(loaded);
    expect(device().memory().liveBytes).toBe(live);
  });

  it('read header first (gpt train, sample, eval), refuses a checkpoint a save replaced before its model loaded, leaving nothing on the GPU', async () => {
    const moved = join(dir, 'moved');
    await saveCheckpoint(moved, model, tokenizer, { val: 1 });
    const head = await readCheckpointHead(moved);
    const live = device().memory().liveBytes;
    disposeUploaded(await loadHeadModel(head)); // unchanged: loads
    await saveCheckpoint(moved, model, tokenizer, { val: 2 });
    await expect(loadHeadModel(head)).rejects.toThrow(`${moved}: the checkpoint changed while it was being loaded (a run saved there meanwhile?): run the command again`);
    expect(device().memory().liveBytes).toBe(live);
  });

  it("an inference command's load (newerSave) takes a newer save of the same model, its metadata the new save's, and refuses another model", async () => {
    const run = join(dir, 'training');
    await saveCheckpoint(run, model, tokenizer, { val: 1 });
    const head = await readCheckpointHead(run);
    const live = device().memory().liveBytes;
    await saveCheckpoint(run, model, tokenizer, { val: 2 }); // the run's next save
    const newer = await loadHeadModel(head, {}, true);
    expect(newer.ckpt.meta.val).toBe(2);
    disposeUploaded(newer);
    const other = new GPT({ ...model.config, nLayer: model.config.nLayer + 1 });
    try {
      await saveCheckpoint(run, other, tokenizer, { val: 3 }); // another model saved there
    } finally {
      other.dispose();
    }
    await expect(loadHeadModel(head, {}, true)).rejects.toThrow(`${run}: the checkpoint changed while it was being loaded (a run saved there meanwhile?): run the command again`);
    expect(device().memory().liveBytes).toBe(live);
  });
});

describe('a Hugging Face GPT-2 directory loaded into a model (loadCheckpointModel)', () => {
  const params = randomGPT2();
  /** GPT-2's tensors as our Linear holds them: Conv1D's [in, out] weights transposed, here independently of the loader. */
  const ours = (name: string) => {
    const { shape, data } = params.get(name)!;
    if (!/\.(c_attn|c_proj|c_fc)\.weight$/.test(name)) return data;
    const [rows, cols] = shape as [number, number];
    return Float32Array.from({ length: data.length }, (_, i) => data[(i % rows) * cols + Math.floor(i / rows)]!);
  };

  it.each([
    ['model.safetensors, bare names', { prefix: false, head: false }],
    ['three shards, prefixed, its tied head saved', { prefix: true, head: true, shards: 3 }],
  ])('%s: holds a tensor or two on the host at a time, converting each as read, where reading the directory first holds them all', async (label, opts) => {
    await setupDevice();
    const hf = join(dir, `hf-${label.replace(/\W+/g, '-')}`);
    writeGPT2Dir(hf, params, opts);
    const live = device().memory().liveBytes;
    const streamed = await heldWhile(() => loadCheckpointModel(hf, { dropout: 0, moments: false }));
    try {
      for (const [name, p] of streamed.value.model.namedParameters()) {
        expect(bytesOf(await p.toArray()).equals(bytesOf(ours(name))), name).toBe(true);
      }
    } finally {
      disposeUploaded(streamed.value);
    }
    expect(device().memory().liveBytes).toBe(live);
    // a saved head is held until wte has been read, to compare them
    expect(streamed.mostHeld).toBeLessThanOrEqual(opts.head ? 3 : 2);
    const whole = await heldWhile(async () => {
      const ckpt = await loadCheckpoint(hf);
      modelFromCheckpoint(ckpt).model.dispose();
      return ckpt;
    });
    expect(whole.mostHeld).toBeGreaterThanOrEqual(params.size / 2); // the weights big enough to count: all but the biases and gains
  });

  it("refused for a tensor (a NaN in the first): loadCheckpoint's error, from one read of the weights (the refusal found once all was read, they were read again for it)", async () => {
    await setupDevice();
    const hf = join(dir, 'hf-nan-first');
    writeGPT2Dir(hf, params, { prefix: false, head: false });
    const file = join(hf, 'model.safetensors');
    const { tensors, metadata } = parseSafetensors(new Uint8Array(readFileSync(file)));
    (tensors['wte.weight']!.data as Float32Array)[2] = NaN;
    writeFileSync(file, serializeSafetensors(tensors, metadata));
    await expect(loadCheckpoint(hf)).rejects.toThrow(/hf-nan-first\/model\.safetensors: tensor 'wte\.weight' holds NaN \(at index 2\)/);
    const handle = await open(file);
    const read = vi.spyOn(Object.getPrototypeOf(handle) as FileHandle, 'read');
    await handle.close();
    const live = device().memory().liveBytes;
    try {
      await expect(loadCheckpointModel(hf)).rejects.toThrow(/hf-nan-first\/model\.safetensors: tensor 'wte\.weight' holds NaN \(at index 2\)/);
      const bytes = read.mock.calls.reduce((n, call) => n + ((call as unknown[])[2] as number), 0); // read(buffer, offset, length, position)
      expect(bytes).toBeLessThanOrEqual(statSync(file).size);
    } finally {
      read.mockRestore();
    }
    expect(device().memory().liveBytes).toBe(live);
  });
});

describe("gpt distill's teacher (loadTeacher, then teacherDistillation once the device is open)", () => {
  const tokenizer = CharTokenizer.train('abcdefghijklmnop');
  /** The run's fingerprint as it was made from the teacher read whole: CRC-32 of each weight's name, shape and bytes, in name order (here from loadCheckpoint's weights). */
  const fingerprintOf = async (path: string) => {
    const { weights } = await loadCheckpoint(path);
    let crc = 0;
    for (const name of [...weights.keys()].sort()) {
      const { shape, data } = weights.get(name)!;
      crc = crc32(new TextEncoder().encode(`${name}${JSON.stringify(shape)}`), crc);
      crc = crc32(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), crc);
    }
    return crc.toString(16).padStart(8, '0');
  };
  const teacherAt = (path: string, recorded?: string) => {
    const flags = { teacher: path, temperature: 2, alpha: 0.5, outDir: join(dir, 'student') } as DistillFlags;
    const student = recorded ? ({ meta: { distill: { teacher: path, temperature: 2, alpha: 0.5, teacherWeights: recorded } } } as Pick<Checkpoint, 'meta'>) : null;
    return loadTeacher(flags, new Set(), student, recorded !== undefined);
  };

  it("uploads a resumable teacher a tensor at a time, keeping none of its moments, and fingerprints it as the run recorded it; a changed one is refused, leaving nothing on the GPU", async () => {
    await setupDevice();
    const model = new GPT({ vocabSize: tokenizer.vocabSize, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 16, dropout: 0, bias: true });
    const moments = { m: new Map<string, Float32Array>(), v: new Map<string, Float32Array>() };
    for (const [i, [name, p]] of [...model.namedParameters()].entries()) {
      moments.m.set(name, Float32Array.from(seededValues(p.size, 300 + i)));
      moments.v.set(name, Float32Array.from(seededValues(p.size, 400 + i), Math.abs));
    }
    const path = join(dir, 'teacher');
    await saveCheckpoint(path, model, tokenizer, { moments });
    const params = [...model.namedParameters()].reduce((n, [, p]) => n + 4 * p.size, 0);
    model.dispose();
    const recorded = await fingerprintOf(path);
    const live = device().memory().liveBytes;
    const loaded = await heldWhile(async () => teacherDistillation(await teacherAt(path, recorded)));
    const { distill, teacher } = loaded.value;
    expect(teacher.meta.teacherWeights).toBe(recorded);
    expect(device().memory().liveBytes - live, 'the weights, not the moments').toBeLessThan(1.5 * params);
    distill.teacher.dispose();
    expect(device().memory().liveBytes).toBe(live);
    expect(loaded.mostHeld).toBeLessThanOrEqual(2);
    const other = recorded === '00000000' ? '00000001' : '00000000';
    await expect(teacherDistillation(await teacherAt(path, other))).rejects.toThrow(`the teacher at ${path} has changed since this run started (its weights' CRC-32 is ${recorded}, the run recorded ${other})`);
    expect(device().memory().liveBytes).toBe(live);
  });

  it('fingerprints a Hugging Face teacher (converted as read) as read whole', async () => {
    const hf = join(dir, 'hf-teacher');
    writeGPT2Dir(hf, randomGPT2(11), { prefix: true, head: false, shards: 2 });
    const { distill, teacher } = await teacherDistillation(await teacherAt(hf));
    distill.teacher.dispose();
    expect(teacher.meta.teacherWeights).toBe(await fingerprintOf(hf));
  });
});
