// Checkpoints as the browser page saves and loads them, a tensor at a time (a tab cannot hold a
// 124M fine-tune's 1.5 GB file in one buffer): saved, the pieces make encodeCheckpoint's bytes
// exactly, each no larger than its tensor, the values those the GPU holds (moments against AdamW's
// whole-shard readMoments); read through a reader that counts its reads (as a File's slices), the
// largest read is the largest tensor or the header, never the file, the checkpoint is
// decodeCheckpoint's, and a damaged file gives decodeCheckpoint's one-line error, byte for byte.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCheckpoint, checkpointPieces, decodeCheckpoint, encodeCheckpoint, modelFromCheckpoint, nonFiniteProblem, readCheckpoint, type Checkpoint } from '../src/gpt/checkpoint.js';
import type { GPT } from '../src/gpt/model.js';
import type { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import type { Trainer } from '../src/gpt/trainer.js';
import { parseSafetensors, serializeSafetensors, type SafetensorsTensor } from '../src/io/safetensors.js';
import { bytesSource, openSafetensors, type ByteSource } from '../src/io/safetensors-source.js';
import { disposeUploaded, readCheckpointModel } from '../src/gpt/checkpoint-upload.js';
import { device } from '../src/device/device.js';
import { pruneGlobal } from '../src/nn/prune.js';
import { fcParams, joinPieces, setupDevice, tinyTrainedRun } from './helpers.js';

const text = 'a checkpoint saved a tensor at a time, and read back the same way. '.repeat(12);
let tokenizer: CharTokenizer;
let trainer: Trainer;
let model: GPT;
/** encodeCheckpoint's bytes of the trained, pruned model with its optimizer state. */
let bytes: Uint8Array;
let extra: Parameters<typeof encodeCheckpoint>[2];

beforeAll(async () => {
  await setupDevice();
  const run = await tinyTrainedRun(text);
  ({ tokenizer, trainer, model } = run);
  await pruneGlobal(model, 0.3); // masks: float32 on the GPU, BOOL in the file
  extra = await run.extra();
  bytes = await encodeCheckpoint(model, tokenizer, extra);
});
afterAll(() => {
  trainer?.dispose();
  model?.dispose();
});

/** `file` as a picked File reads it (a fresh buffer per slice), with the largest single read and the bytes read in all. */
function countingReader(file: Uint8Array): ByteSource & { largest: number; total: number } {
  const reader = {
    size: file.length,
    largest: 0,
    total: 0,
    read: async (offset: number, length: number) => {
      reader.largest = Math.max(reader.largest, length);
      reader.total += length;
      return file.slice(offset, offset + length);
    },
  };
  return reader;
}

/** The data's largest tensor and the header (with its 8-byte length), in bytes, from the file as parsed whole. */
function largestParts(file: Uint8Array): { tensor: number; header: number } {
  const tensors = Object.values(parseSafetensors(file).tensors);
  const header = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  return { tensor: Math.max(...tensors.map((t) => t.data.length * (t.dtype === 'BOOL' ? 1 : 4))), header };
}

/** What `load` gives: its checkpoint, or its error's message. */
const outcome = (load: () => Checkpoint | Promise<Checkpoint>) => Promise.resolve().then(load).then((c) => ({ c }), (e: Error) => ({ error: e.message }));

describe('a checkpoint saved a tensor at a time (the page\'s Blob parts)', () => {
  it("is encodeCheckpoint's bytes exactly, no piece larger than its tensor, the values the GPU holds", async () => {
    const pieces: Uint8Array[] = [];
    for await (const piece of checkpointPieces(model, tokenizer, extra)) pieces.push(piece);
    const joined = await joinPieces((async function* () {
      yield* pieces;
    })());
    expect(joined.length).toBe(bytes.length);
    expect(Buffer.from(joined).equals(Buffer.from(bytes))).toBe(true);
    const { tensor, header } = largestParts(bytes);
    expect(Math.max(...pieces.map((p) => p.length))).toBe(Math.max(tensor, 8 + header));

    // the values: weights as toArray reads them, moments as AdamW reads its shards whole
    const { tensors } = parseSafetensors(joined);
    const { m, v } = await trainer.optimizer.readMoments();
    const named = [...model.namedParameters()];
    expect(m.length).toBe(named.length);
    for (const [i, [name, p]] of named.entries()) {
      expect(Array.from(tensors[name]!.data), name).toEqual(Array.from(await p.toArray()));
      expect(Array.from(tensors[`optim.m.${name}`]!.data), `m of ${name}`).toEqual(Array.from(m[i]!));
      expect(Array.from(tensors[`optim.v.${name}`]!.data), `v of ${name}`).toEqual(Array.from(v[i]!));
    }
    const masks = Object.entries(tensors).filter(([name]) => name.endsWith('_mask'));
    expect(masks.length).toBeGreaterThan(0);
    for (const [name, t] of masks) expect(t.dtype, name).toBe('BOOL');
  });

  it('a non-finite moment stops the pieces at its own, in one line: no file is made of them', async () => {
    const m = new Map([...model.namedParameters()].map(([name, p]) => [name, new Float32Array(p.size)]));
    const v = new Map([...m].map(([name, data]) => [name, data.slice()]));
    const last = [...m.keys()].at(-1)!;
    v.get(last)![3] = -Infinity;
    const pieces = checkpointPieces(model, tokenizer, { moments: { m, v } });
    let taken = 0;
    await expect((async () => {
      for await (const _ of pieces) taken++;
    })()).rejects.toThrow(`checkpoint not saved: tensor 'optim.v.${last}' holds -Infinity (at index 3); a checkpoint must hold finite values only`);
    const tensors = Object.keys(parseSafetensors(bytes).tensors).length;
    expect(taken, 'the head and every tensor before the last').toBe(tensors);
  });

  it('reads a single moment where AdamW reads them all; a bad index or kind is one line', async () => {
    const { m, v } = await trainer.optimizer.readMoments();
    for (let i = 0; i < m.length; i++) {
      expect(Array.from(await trainer.optimizer.readMoment('m', i)), `m[${i}]`).toEqual(Array.from(m[i]!));
      expect(Array.from(await trainer.optimizer.readMoment('v', i)), `v[${i}]`).toEqual(Array.from(v[i]!));
    }
    await expect(trainer.optimizer.readMoment('m', m.length)).rejects.toThrow(`AdamW.readMoment: argument 'i' must be a parameter index in [0, ${m.length}), got number ${m.length}`);
    await expect(trainer.optimizer.readMoment('m', 0.5)).rejects.toThrow(/^AdamW\.readMoment: argument 'i' must be a parameter index/);
    await expect(trainer.optimizer.readMoment('w' as 'm', 0)).rejects.toThrow(/^AdamW\.readMoment: argument 'kind' must be 'm' or 'v', got/);
  });
});

describe('a checkpoint read a tensor at a time (a picked File\'s slices)', () => {
  it("is decodeCheckpoint's checkpoint, its largest read the largest tensor or the header, never the file", async () => {
    const reader = countingReader(bytes);
    expect(await readCheckpoint(reader, 'x.safetensors')).toEqual(decodeCheckpoint(bytes, 'x.safetensors'));
    const { tensor, header } = largestParts(bytes);
    expect(reader.largest).toBe(Math.max(tensor, header));
    expect(reader.largest).toBeLessThan(bytes.length / 4);
    expect(reader.total).toBe(bytes.length); // every byte read once
  });

  it("damaged anywhere in its head, cut, lengthened or holding NaN, gives decodeCheckpoint's one-line error", async () => {
    const headerEnd = 8 + largestParts(bytes).header;
    const damaged: [string, Uint8Array][] = [];
    // every 8th byte of the header's JSON, which runs to 5 KB (the tokenizer), and each byte of the length and the JSON's last 64
    const places = [...Array(headerEnd).keys()].filter((at) => at < 16 || at % 8 === 3 || at >= headerEnd - 64);
    for (const at of places) {
      const copy = bytes.slice();
      copy[at] = at < 8 ? copy[at]! ^ 0x40 : [0x22, 0x7d, 0x31, 0x5c][at % 4]!; // ", }, 1, \ where JSON was
      damaged.push([`byte ${at}`, copy]);
    }
    for (const cut of [0, 7, headerEnd - 1, headerEnd + 5, bytes.length - 1]) damaged.push([`cut to ${cut}`, bytes.slice(0, cut)]);
    damaged.push(['4 bytes appended', Uint8Array.from([...bytes, 0, 0, 0, 0])]);
    const nan = bytes.slice();
    nan.set([0x00, 0x00, 0xc0, 0x7f], bytes.length - 4); // the last value (the last moment's) a NaN
    damaged.push(['a NaN', nan]);
    let refused = 0;
    for (const [what, file] of damaged) {
      const want = await outcome(() => decodeCheckpoint(file, 'bad.safetensors'));
      const got = await outcome(() => readCheckpoint(countingReader(file), 'bad.safetensors'));
      expect(got, what).toEqual(want);
      // checked without keeping the tensors (gpt serve): the same verdict
      const checked = await checkCheckpoint(countingReader(file), 'bad.safetensors').then((meta) => ({ meta }), (e: Error) => ({ error: e.message }));
      expect(checked, what).toEqual('error' in want ? want : { meta: want.c.meta });
      if ('error' in got) {
        refused++;
        expect(got.error, what).not.toContain('\n');
      }
    }
    expect(refused).toBeGreaterThan(damaged.length * 0.75); // a flip inside a string (a tokenizer's character) may leave a checkpoint as valid
    expect(await outcome(() => readCheckpoint(countingReader(nan), 'bad.safetensors'))).toEqual({
      error: expect.stringMatching(/^bad\.safetensors: tensor 'optim\.v\.[^']+' holds NaN \(at index \d+\); a checkpoint must hold finite values only$/),
    });
  });

  it("whose moments are not its parameters' (another shape, no such parameter, m without v) is refused in one line, as decodeCheckpoint refuses it", async () => {
    const edited = (edit: (tensors: Record<string, SafetensorsTensor>) => void) => {
      const { tensors, metadata } = parseSafetensors(bytes);
      edit(tensors);
      return serializeSafetensors(tensors, metadata);
    };
    const zeros = (n: number): SafetensorsTensor => ({ dtype: 'F32', shape: [n], data: new Float32Array(n) });
    // each was loaded: saved again it failed, or dropped the moments; trained on, it failed ('resume: ...') or went on with fresh moments at the saved step
    const cases: [Uint8Array, RegExp][] = [
      [edited((t) => void (t['optim.m.wpe.weight'] = zeros(3))), /^bad\.safetensors: tensor "optim\.m\.wpe\.weight" has shape \[3\], its weight "wpe\.weight" \[16, 16\]$/],
      [edited((t) => void (t['optim.v.nothing'] = zeros(3))), /^bad\.safetensors: tensor "optim\.v\.nothing" is the moment of no weight in the file$/],
      [edited((t) => void delete t['optim.v.wpe.weight']), /^bad\.safetensors: tensor "optim\.m\.wpe\.weight" has no "optim\.v\.wpe\.weight" beside it$/],
      [edited((t) => Object.keys(t).forEach((name) => name.startsWith('optim.m.') && delete t[name])), /^bad\.safetensors: tensor "optim\.v\.wte\.weight" has no "optim\.m\.wte\.weight" beside it$/],
    ];
    for (const [file, message] of cases) {
      expect(() => decodeCheckpoint(file, 'bad.safetensors')).toThrow(message);
      await expect(readCheckpoint(countingReader(file), 'bad.safetensors')).rejects.toThrow(message);
      await expect(checkCheckpoint(countingReader(file), 'bad.safetensors')).rejects.toThrow(message);
    }
  });

  it('that shrinks while it is read is refused in one line', async () => {
    const shrinking: ByteSource = { size: bytes.length, read: async (offset, length) => bytes.slice(offset, Math.min(offset + length, bytes.length - 100)) };
    await expect(readCheckpoint(shrinking, 'x.safetensors')).rejects.toThrow(/^x\.safetensors: not a readable safetensors file \(safetensors: read \d+ of \d+ bytes at offset \d+ \(the file changed while it was read\?\)\)$/);
  });
});

/** Every parameter and buffer (masks) of a model, read back, by name. */
async function valuesOf(m: GPT): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const [name, t] of [...m.namedParameters(), ...m.namedBuffers()]) out.set(name, Array.from(await t.toArray()));
  return out;
}

/** A reader of `bytes` that counts the buffers it gave for tensors still alive (after a collection) before each read: mostHeld() is the most at once. */
async function retainingReader(bytes: Uint8Array): Promise<{ reader: ByteSource; held: WeakRef<ArrayBuffer>[]; mostHeld: () => number }> {
  const { entries } = await openSafetensors(bytesSource(bytes));
  const tensorAt = new Set(entries.map((e) => 8 + Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true)) + e.begin));
  const held: WeakRef<ArrayBuffer>[] = [];
  let most = 0;
  const gc = (globalThis as { gc?: () => void }).gc!;
  const reader: ByteSource = {
    size: bytes.length,
    read: async (offset, length) => {
      await new Promise((r) => setTimeout(r, 0)); // a WeakRef's target is kept until the task that made it ends
      gc();
      most = Math.max(most, held.filter((r) => r.deref()).length);
      const out = bytes.slice(offset, offset + length);
      if (tensorAt.has(offset) && length) held.push(new WeakRef(out.buffer));
      return out;
    },
  };
  return { reader, held, mostHeld: () => most };
}

it('checked without keeping its tensors (gpt serve), holds a tensor or two at a time, where reading it holds them all', async () => {
  const checked = await retainingReader(bytes);
  expect(await checkCheckpoint(checked.reader, 'x.safetensors')).toEqual(decodeCheckpoint(bytes).meta);
  expect(checked.mostHeld()).toBeLessThanOrEqual(2);
  const read = await retainingReader(bytes);
  await readCheckpoint(read.reader, 'x.safetensors');
  expect(read.mostHeld()).toBeGreaterThan(40);
});

describe("a checkpoint loaded into a model a weight at a time (the page's Open)", () => {
  it("is modelFromCheckpoint's model of decodeCheckpoint's checkpoint, its moments on the GPU, no read tensor kept on the host once the next is read", async () => {
    const { reader, held, mostHeld } = await retainingReader(bytes);
    const uploaded = await readCheckpointModel(reader, 'x.safetensors');
    const { ckpt, model: loaded, tokenizer: tok, moments } = uploaded;
    const want = decodeCheckpoint(bytes, 'x.safetensors');
    const { model: wanted } = modelFromCheckpoint(want);
    try {
      expect(held.length, 'weights, masks and moments read').toBeGreaterThan(40);
      // each tensor on the GPU before the next is read: of those read before, only the last one or two may linger
      // (in the loading function's frame until overwritten), not the 50-odd all-on-the-host reading keeps
      expect(mostHeld()).toBeLessThanOrEqual(2);
      expect(await valuesOf(loaded)).toEqual(await valuesOf(wanted));
      expect(ckpt.meta).toEqual(want.meta);
      expect(ckpt.optimizer, 'no moments on the host').toBeUndefined();
      for (const k of ['m', 'v'] as const) {
        const got = new Map<string, unknown>();
        for (const [name, t] of moments![k]) got.set(name, await t.toArray());
        expect(got, `optim.${k}`).toEqual(want.optimizer![k]);
      }
      expect(tok.toJSON()).toEqual(tokenizer.toJSON());
    } finally {
      disposeUploaded(uploaded);
      wanted.dispose();
    }
  });

  it('damaged, gives the error of readCheckpoint and modelFromCheckpoint, leaving nothing on the GPU', async () => {
    const { tensors, metadata } = parseSafetensors(bytes);
    const edited = (edit: (t: Record<string, SafetensorsTensor>) => void) => {
      const copy = { ...tensors };
      edit(copy);
      return serializeSafetensors(copy, metadata);
    };
    const [first, mask] = [Object.keys(tensors)[0]!, Object.keys(tensors).find((n) => n.endsWith('_mask'))!];
    const nan = (name: string) => edited((t) => void (t[name] = { ...t[name]!, data: Float32Array.from(t[name]!.data, (x, i) => (i === 1 ? NaN : x)) }));
    const files: [string, Uint8Array][] = [
      ['a NaN in the first weight', nan(first)],
      ['a NaN in the last moment, the others uploaded', nan(Object.keys(tensors).filter((n) => n.startsWith('optim.')).at(-1)!)],
      ['a mask holding 2', edited((t) => void (t[mask] = { ...t[mask]!, data: Uint8Array.from(t[mask]!.data, (x, i) => (i === 0 ? 2 : x)) }))],
      ['a weight missing', edited((t) => void delete t['h.1.ln_1.weight'])],
      ['a weight more', edited((t) => void (t['h.1.ln_9.weight'] = t['h.1.ln_1.weight']!))],
      ['a weight of another shape', edited((t) => void (t['h.1.ln_1.bias'] = { dtype: 'F32', shape: [4, 4], data: new Float32Array(16) }))],
      ['cut short', bytes.subarray(0, -9)],
    ];
    const live = device().memory().liveBytes;
    const readOnce: string[] = [];
    for (const [what, file] of files) {
      const want = await outcome(async () => {
        const ckpt = await readCheckpoint(bytesSource(file), 'bad.safetensors');
        modelFromCheckpoint(ckpt).model.dispose();
        return ckpt;
      });
      expect(want, what).toHaveProperty('error');
      const reader = countingReader(file);
      const got = await outcome(async () => (await readCheckpointModel(reader, 'bad.safetensors')).ckpt);
      expect(got, what).toEqual(want);
      expect(device().memory().liveBytes, what).toBe(live);
      // refused by readCheckpoint's own checks: its error from the one read the upload made (not a second read for it)
      if (await readCheckpoint(bytesSource(file), 'bad.safetensors').then(() => false, () => true)) {
        readOnce.push(what);
        expect(reader.total, `${what}: bytes read`).toBeLessThanOrEqual(file.length);
      }
    }
    // the bias where the config has none is readCheckpoint's (configWeightsProblem); the mask and the extra weight are loading's
    expect(readOnce).toEqual(['a NaN in the first weight', 'a NaN in the last moment, the others uploaded', 'a weight missing', 'a weight of another shape', 'cut short']);
  });

  it('refused by readCheckpoint (a NaN in its last moment), holds a tensor or two on the host at a time, not every tensor as reading it again for its error did', async () => {
    const { tensors, metadata } = parseSafetensors(bytes);
    const last = Object.keys(tensors).filter((n) => n.startsWith('optim.')).at(-1)!;
    const nan = serializeSafetensors({ ...tensors, [last]: { ...tensors[last]!, data: Float32Array.from(tensors[last]!.data, (x, i) => (i === 1 ? NaN : x)) } }, metadata);
    const { reader, mostHeld } = await retainingReader(nan);
    await expect(readCheckpointModel(reader, 'bad.safetensors')).rejects.toThrow(/^bad\.safetensors: tensor 'optim\.v\.[^']+' holds NaN \(at index 1\); a checkpoint must hold finite values only$/);
    expect(mostHeld()).toBeLessThanOrEqual(2);
  });
});

// float32 is checked by its bits (an exponent of all ones), not by Number.isFinite of each element
describe('the check for non-finite values (every save and load)', () => {
  it('names the first NaN (any payload) or ±Infinity of a float32 view at any offset, as a plain loop finds it; the largest finite values, subnormals and -0 pass', () =>
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: 7 }), fc.integer(),
        fc.array(fc.tuple(fc.nat(), fc.constantFrom(0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffffffff, 0x7fbfffff)), { maxLength: 3 }),
        (n, offset, seed, specials) => {
          // finite values at the edges of the exponent: the largest, the smallest normal, subnormals, ±0
          const edges = [0x7f7fffff, 0xff7fffff, 0x00800000, 0x00000001, 0x807fffff, 0x80000000, 0];
          const bits = Uint32Array.from({ length: offset + n }, (_, i) => (i % 3 ? edges[Math.abs(seed + i) % edges.length]! : Math.imul(seed, i + 1) & 0x7f7fffff));
          for (const [at, special] of specials) bits[offset + (at % n)] = special;
          const data = new Float32Array(bits.buffer, 4 * offset, n);
          const first = Array.from(data).findIndex((x) => !Number.isFinite(x));
          expect(nonFiniteProblem([['w', { data }]])).toBe(first < 0 ? null : `tensor 'w' holds ${data[first]} (at index ${first}); a checkpoint must hold finite values only`);
        },
      ),
      fcParams(200),
    ));
});
