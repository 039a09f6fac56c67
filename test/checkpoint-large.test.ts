// Checkpoints written and read a tensor at a time: a small one saved so is byte for byte what
// encodeCheckpoint gives (the browser page's bytes), one written whole by earlier versions still
// loads, and one whose weights file is past 2 GiB (Node's single read; a gpt2-medium fine-tune with
// its optimizer state is 4.3 GB) saves and loads back equal, and is refused, damaged or cut, with
// the checkpoint's own errors. The big file is written once (2.4 GB, about 15 s) and deleted.
import { closeSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { checkpointSafetensors, CHECKPOINT_FORMAT, decodeCheckpoint, encodeCheckpoint, modelFromCheckpoint, type Checkpoint } from '../src/gpt/checkpoint.js';
import { device } from '../src/device/device.js';
import { GPT } from '../src/gpt/model.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { MANIFEST_FILE, writeCheckpointFiles, type CheckpointManifest } from '../src/node/checkpoint-files.js';
import { loadCheckpoint, loadCheckpointModel, saveCheckpoint, writeCheckpointTensors } from '../src/node/checkpoint-dir.js';
import { disposeUploaded } from '../src/gpt/checkpoint-upload.js';
import { tempDir } from './cli-helpers.js';
import { seededValues, setupDevice } from './helpers.js';

/** Runs once, just after the next weights file is opened (before it is checked and read); and the bytes read from files opened so. */
const afterOpen = vi.hoisted(() => ({ hook: null as (() => Promise<void>) | null, bytesRead: 0 }));
vi.mock('../src/node/regular-files.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/node/regular-files.js')>();
  const openRegularFile: typeof real.openRegularFile = async (path) => {
    const handle = await real.openRegularFile(path);
    const read = handle.read.bind(handle) as (...args: unknown[]) => Promise<{ bytesRead: number }>;
    handle.read = (async (...args: unknown[]) => {
      const result = await read(...args);
      afterOpen.bytesRead += result.bytesRead;
      return result;
    }) as typeof handle.read;
    const hook = afterOpen.hook;
    afterOpen.hook = null;
    await hook?.();
    return handle;
  };
  return { ...real, openRegularFile };
});

const dir = tempDir('checkpoint-large');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const manifestOf = (ck: string) => JSON.parse(readFileSync(join(ck, MANIFEST_FILE), 'utf8')) as CheckpointManifest;
const bytesOf = (d: ArrayBufferView) => Buffer.from(d.buffer, d.byteOffset, d.byteLength);

describe('a small checkpoint', () => {
  let model: GPT;
  const tokenizer = CharTokenizer.train('abcdefgh');
  beforeAll(async () => {
    await setupDevice();
    model = new GPT({ vocabSize: tokenizer.vocabSize, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 8, dropout: 0, bias: true });
  });
  afterAll(() => model.dispose());

  it('saved a tensor at a time is byte for byte what encodeCheckpoint gives; written whole, as before, it loads the same', async () => {
    const m = new Map<string, Float32Array>();
    const v = new Map<string, Float32Array>();
    let seed = 1;
    for (const [name, p] of model.namedParameters()) {
      m.set(name, Float32Array.from(seededValues(p.size, seed++)));
      v.set(name, Float32Array.from(seededValues(p.size, seed++), Math.abs));
    }
    const extra = { moments: { m, v }, val: 2.5, run: 'r1' };
    const bytes = await encodeCheckpoint(model, tokenizer, extra);
    const streamed = join(dir, 'streamed');
    expect(await saveCheckpoint(streamed, model, tokenizer, extra)).toBe(bytes.length);
    expect(readFileSync(join(streamed, manifestOf(streamed).weights)).equals(bytes)).toBe(true);

    const whole = join(dir, 'whole');
    await writeCheckpointFiles(whole, bytes);
    const want = decodeCheckpoint(bytes, whole);
    expect(want.optimizer!.m.size).toBe(m.size);
    expect(await loadCheckpoint(whole)).toEqual(want);
    const bare = join(dir, 'bare.safetensors');
    writeFileSync(bare, bytes);
    expect(await loadCheckpoint(bare)).toEqual({ ...want, source: bare });
  });

  it('read once, checksummed as read: a damaged byte anywhere is refused with the checksum error, nothing reaching the GPU; intact, it loads equal', async () => {
    const ck = join(dir, 'damaged');
    const names = [...model.namedParameters()].map(([name]) => name);
    const moments = { m: new Map<string, Float32Array>(), v: new Map<string, Float32Array>() };
    for (const [i, [name, p]] of [...model.namedParameters()].entries()) {
      moments.m.set(name, Float32Array.from(seededValues(p.size, 100 + i)));
      moments.v.set(name, Float32Array.from(seededValues(p.size, 200 + i), Math.abs));
    }
    await saveCheckpoint(ck, model, tokenizer, { moments, val: 2.5 });
    const { weights, weightsCrc32 } = manifestOf(ck);
    const file = join(ck, weights);
    const bytes = readFileSync(file);
    // where things lie, from the safetensors layout read here by hand
    const headerLength = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { data_offsets: [number, number] }>;
    const dataAt = (name: string) => 8 + headerLength + header[name]!.data_offsets[0];
    const val = '\\"val\\":2.5'; // in the metadata, a JSON string inside the header
    const valAt = bytes.indexOf(val) + val.length - 1;
    expect(valAt).toBeGreaterThan(8 + val.length);

    // intact: the weights read once, the values saved bit for bit
    afterOpen.bytesRead = 0;
    const back = await loadCheckpoint(ck);
    expect(afterOpen.bytesRead).toBe(bytes.length);
    for (const [name, p] of model.namedParameters()) expect(bytesOf(back.weights.get(name)!.data).equals(bytesOf(await p.toArray())), name).toBe(true);
    for (const kind of ['m', 'v'] as const) {
      for (const name of names) expect(bytesOf(back.optimizer![kind].get(name)!).equals(bytesOf(moments[kind].get(name)!)), `${kind} ${name}`).toBe(true);
    }

    const nan = Buffer.from(new Float32Array([NaN]).buffer);
    const cases: [string, number, Buffer][] = [
      ['the header length', 1, Buffer.from([bytes[1]! ^ 0x40])], // runs past the file: unreadable
      ['the header JSON', 8, Buffer.from('[')], // not an object
      ['the metadata, still valid', valAt, Buffer.from('7')], // val 2.7: reads fine
      ['a weight, made NaN', dataAt('h.0.attn.c_attn.weight') + 8, nan], // refused as non-finite, unchecked
      ['a weight', dataAt('wte.weight') + 1, Buffer.from([bytes[dataAt('wte.weight') + 1]! ^ 1])],
      ['a moment', dataAt(`optim.v.${names.at(-1)}`) + 2, Buffer.from([bytes[dataAt(`optim.v.${names.at(-1)}`) + 2]! ^ 4])],
      ['the last byte', bytes.length - 1, Buffer.from([bytes.at(-1)! ^ 0x80])],
    ];
    for (const [what, at, patch] of cases) {
      const damaged = Buffer.from(bytes);
      patch.copy(damaged, at);
      expect(damaged.equals(bytes), what).toBe(false);
      writeFileSync(file, damaged);
      const crc = zlibCrc32(damaged).toString(16).padStart(8, '0');
      const live = device().memory().liveBytes;
      const error = await loadCheckpoint(ck).then((c) => modelFromCheckpoint(c).model.dispose(), (e: Error) => e.message);
      expect(error, what).toBe(`checkpoint at ${ck} is corrupt: weights checksum mismatch (${weights} has CRC-32 ${crc}, checkpoint.json records ${weightsCrc32})`);
      expect(device().memory().liveBytes, what).toBe(live);
      // loaded into a model as read (gpt sample, eval, train): the same error, the model and moments made meanwhile freed
      expect(await loadCheckpointModel(ck).then(disposeUploaded, (e: Error) => e.message), what).toBe(error);
      expect(device().memory().liveBytes, what).toBe(live);
    }
    writeFileSync(file, bytes);
    expect((await loadCheckpoint(ck)).meta.val).toBe(2.5);
  });

  it('checks and reads the weights it opened, whole, when a save deletes them meanwhile', async () => {
    const ck = join(dir, 'resaved');
    await saveCheckpoint(ck, model, tokenizer, { val: 1 });
    const first = manifestOf(ck).weights;
    afterOpen.hook = () => saveCheckpoint(ck, model, tokenizer, { val: 2 }).then(() => undefined);
    expect((await loadCheckpoint(ck)).meta.val).toBe(1);
    expect(afterOpen.hook).toBe(null);
    expect(readdirSync(ck)).not.toContain(first); // it was read from the open file, gone by name
    expect((await loadCheckpoint(ck)).meta.val).toBe(2);
  });
});

describe('a safetensors file that is no checkpoint of ours', () => {
  it('is refused by its metadata before any tensor is read (a 1 TiB one, sparse on disk)', async () => {
    const json = JSON.stringify({ __metadata__: { format: 'pt' }, 'wte.weight': { dtype: 'F32', shape: [2 ** 38], data_offsets: [0, 2 ** 40] } });
    const header = Buffer.from(json.padEnd(Math.ceil(json.length / 8) * 8));
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(header.length));
    const file = join(dir, 'model.safetensors');
    writeFileSync(file, Buffer.concat([length, header]));
    truncateSync(file, 8 + header.length + 2 ** 40); // a hole: reading its tensor would need a 1 TiB array
    try {
      await expect(loadCheckpoint(file)).rejects.toThrow(`${file}: safetensors file without webgpu-gpt metadata (config and tokenizer); PyTorch weights`);
    } finally {
      rmSync(file);
    }
  });
});

describe('a checkpoint past 2 GiB', () => {
  it('saves and loads back equal; a byte flipped past 2 GiB, or the file cut, is refused', async () => {
    // three 256 MiB weights and their moments, views into one buffer at different offsets: 2.4 GB
    // on disk from 256 MiB of arrays, and no two tensors alike
    const N = 2 ** 26;
    const base = new Float32Array(N + 9);
    for (let i = 0, x = 1; i < base.length; i++) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      base[i] = x / 2 ** 32 - 0.5;
    }
    const tensorAt = (k: number) => base.subarray(k, k + N);
    const tokenizer = CharTokenizer.train('abcd');
    const weights: Checkpoint['weights'] = new Map([
      ['wte.weight', { shape: [4, 4], data: new Float32Array(16).fill(0.25) }],
      ['wpe.weight', { shape: [4, 4], data: new Float32Array(16).fill(-0.5) }],
    ]);
    const moments = { m: new Map<string, Float32Array>(), v: new Map<string, Float32Array>() };
    for (let k = 0; k < 3; k++) {
      weights.set(`h.0.big${k}.weight`, { shape: [N], data: tensorAt(3 * k) });
      moments.m.set(`h.0.big${k}.weight`, tensorAt(3 * k + 1));
      moments.v.set(`h.0.big${k}.weight`, tensorAt(3 * k + 2));
    }
    const meta = { format: CHECKPOINT_FORMAT, model: { vocabSize: 4, blockSize: 4, nLayer: 1, nHead: 1, nEmbd: 4, dropout: 0, bias: false }, tokenizer: tokenizer.toJSON(), val: 1.25 } as const;
    const ck = join(dir, 'big');

    let t = performance.now();
    const size = await writeCheckpointTensors(ck, checkpointSafetensors({ meta, weights, optimizer: moments }), { step: 7 });
    const saveMs = performance.now() - t;
    const manifest = manifestOf(ck);
    const file = join(ck, manifest.weights);
    expect(size).toBeGreaterThan(2 ** 31 + 2 ** 28);
    expect(statSync(file).size).toBe(size);
    expect(manifest.weightsBytes).toBe(size);
    expect(manifest.meta).toEqual({ step: 7 });
    // the CRC-32 taken piece by piece, against zlib's over the file read back
    const fd = openSync(file, 'r');
    const chunk = Buffer.alloc(2 ** 24);
    let crc = 0;
    for (let done = 0, n; (n = readSync(fd, chunk, 0, chunk.length, done)) > 0; done += n) crc = zlibCrc32(chunk.subarray(0, n), crc);
    closeSync(fd);
    expect(manifest.weightsCrc32).toBe(crc.toString(16).padStart(8, '0'));

    t = performance.now();
    let back: Checkpoint | null = await loadCheckpoint(ck);
    const loadMs = performance.now() - t;
    expect(back.meta).toEqual(meta);
    expect([...back.weights.keys()].sort()).toEqual([...weights.keys()].sort());
    for (const [name, w] of weights) {
      expect(back.weights.get(name)!.shape, name).toEqual(w.shape);
      expect(bytesOf(back.weights.get(name)!.data).equals(bytesOf(w.data)), name).toBe(true);
    }
    for (const kind of ['m', 'v'] as const) {
      expect([...back.optimizer![kind].keys()].sort()).toEqual([...moments[kind].keys()].sort());
      for (const [name, data] of moments[kind]) expect(bytesOf(back.optimizer![kind].get(name)!).equals(bytesOf(data)), `${kind} ${name}`).toBe(true);
    }
    back = null;
    console.log(`checkpoint of ${(size / 1e9).toFixed(2)} GB: saved in ${(saveMs / 1e3).toFixed(1)} s, loaded in ${(loadMs / 1e3).toFixed(1)} s`);

    // one byte flipped in the last tensor, past 2 GiB
    const at = size - 3;
    const byte = Buffer.alloc(1);
    const patch = (bits: number) => {
      const w = openSync(file, 'r+');
      readSync(w, byte, 0, 1, at);
      byte[0] = byte[0]! ^ bits;
      writeSync(w, byte, 0, 1, at);
      closeSync(w);
    };
    patch(0x10);
    const mismatch = new RegExp(`^checkpoint at ${ck} is corrupt: weights checksum mismatch \\(${manifest.weights} has CRC-32 ([0-9a-f]{8}), checkpoint\\.json records ${manifest.weightsCrc32}\\)$`);
    await expect(loadCheckpoint(ck)).rejects.toThrow(mismatch);
    patch(0x10);
    truncateSync(file, size - 1);
    await expect(loadCheckpoint(ck)).rejects.toThrow(`checkpoint at ${ck} is truncated: ${manifest.weights} has ${size - 1} bytes, checkpoint.json records ${size}`);
    rmSync(ck, { recursive: true });
    expect(readdirSync(dir)).not.toContain('big');
  });
});
