// safetensors: round trips, the exact byte layout checked against buffers built by hand, F16/BF16
// against hand-computed values, and every kind of corrupt file rejected with an error naming it.
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { duplicateKey } from '../src/io/duplicate-key.js';
import { openSafetensors } from '../src/io/safetensors-source.js';
import { readSafetensorsFile } from '../src/node/safetensors-file.js';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../src/tensor/half.js';
import { layoutSafetensors, parseSafetensors, safetensorsHeaderLength, safetensorsPieces, serializeSafetensors, streamSafetensors, type SafetensorsTensor } from '../src/io/safetensors.js';

const fcParams = (numRuns: number): fc.Parameters<unknown> => ({
  numRuns,
  seed: process.env.FC_SEED ? Number(process.env.FC_SEED) : 42,
  endOnFailure: true,
});

const nameArb = fc
  .oneof(
    fc.string({ unit: 'grapheme', maxLength: 12 }),
    fc
      .tuple(fc.constantFrom('h', 'transformer.h'), fc.nat(11), fc.constantFrom('attn.c_attn.weight', 'mlp.c_fc.bias'))
      .map(([a, i, b]) => `${a}.${i}.${b}`),
    fc.constantFrom('__proto__', 'constructor', '0', '', 'λ.ü.🚀.weight', 'quote " backslash \\ newline \n'),
  )
  .filter((name) => name !== '__metadata__');

const shapeArb = fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 });

/** F32/I32/U8 data, sometimes as a view at an odd place in a larger buffer. */
const tensorArb: fc.Arbitrary<SafetensorsTensor> = fc
  .tuple(fc.constantFrom('F32', 'I32', 'U8'), shapeArb, fc.boolean())
  .chain(([dtype, shape, offset]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const len = { minLength: n, maxLength: n };
    const data =
      dtype === 'F32' ? fc.float32Array(len) : dtype === 'I32' ? fc.int32Array(len) : fc.uint8Array(len);
    return data.map((d) => ({ dtype, shape, data: offset ? inBiggerBuffer(d) : d }));
  });

function inBiggerBuffer<T extends Float32Array | Int32Array | Uint8Array>(d: T): T {
  const Ctor = d.constructor as new (buffer: ArrayBuffer, offset: number, length: number) => T;
  const view = new Ctor(new ArrayBuffer(d.byteLength + 2 * d.BYTES_PER_ELEMENT), d.BYTES_PER_ELEMENT, d.length);
  view.set(d as never);
  return view;
}

const metadataArb = fc
  .uniqueArray(fc.tuple(fc.string({ unit: 'grapheme', maxLength: 8 }), fc.string({ unit: 'grapheme' })), {
    selector: ([k]) => k,
    maxLength: 4,
  })
  .map((pairs) => Object.fromEntries(pairs));

const bytesOf = (d: ArrayBufferView) => new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
const utf8 = (s: string) => new TextEncoder().encode(s);

/** A file built by hand: u64 LE header length, the header exactly as given (no padding), data. */
function handBuilt(header: string, data: ArrayLike<number> = []): Uint8Array {
  const json = utf8(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const f32Bytes = (...xs: number[]) => [...bytesOf(Float32Array.from(xs))];

describe('safetensors round trip', () => {
  it('parse(serialize(x)) gives back every name, dtype, shape, bit and metadata entry', () => {
    const tensorsArb = fc.uniqueArray(fc.tuple(nameArb, tensorArb), { selector: ([name]) => name, maxLength: 6 });
    fc.assert(
      fc.property(tensorsArb, fc.option(metadataArb, { nil: undefined }), (pairs, metadata) => {
        const tensors = Object.fromEntries(pairs);
        const back = parseSafetensors(serializeSafetensors(tensors, metadata));
        expect(back.tensors).toEqual(tensors);
        expect(Object.keys(back.tensors)).toHaveLength(pairs.length);
        for (const [name, t] of pairs) {
          const data = back.tensors[name]!.data;
          expect(data.constructor).toBe(t.data.constructor);
          expect(data.byteOffset % 4).toBe(0);
          expect(bytesOf(data)).toEqual(bytesOf(t.data)); // bit for bit, NaN payloads and -0 included
        }
        expect(back.metadata).toEqual(metadata ?? {});
      }),
      fcParams(200),
    );
  });

  it('F16, BF16 and I64 round trip values they can represent', () => {
    const halves = Float32Array.of(0, -0, 1, -2, 65504, 2 ** -24, 0.333251953125, Infinity, -Infinity);
    const tensors: Record<string, SafetensorsTensor> = {
      f16: { dtype: 'F16', shape: [3, 3], data: halves },
      bf16: { dtype: 'BF16', shape: [4], data: Float32Array.of(1, -3.140625, 2 ** -133, 3e38) },
      i64: { dtype: 'I64', shape: [4], data: Int32Array.of(0, -1, 2 ** 31 - 1, -(2 ** 31)) },
    };
    const back = parseSafetensors(serializeSafetensors(tensors)).tensors;
    expect(back.f16!.data).toEqual(halves);
    // 3e38 is not a bfloat16: it rounds to 0x7F62 = 1.765625 * 2^127.
    expect(back.bf16!.data).toEqual(Float32Array.of(1, -3.140625, 2 ** -133, 1.765625 * 2 ** 127));
    expect(back.i64!.data).toEqual(tensors.i64!.data);
  });
});

describe('safetensors read from disk a tensor at a time', () => {
  it('gives what parsing the whole file gives, every dtype, at unaligned offsets too', async () => {
    const tensors: Record<string, SafetensorsTensor> = {
      u8: { dtype: 'U8', shape: [3], data: Uint8Array.of(1, 2, 255) }, // the F32 after it starts at an odd offset
      f32: { dtype: 'F32', shape: [2, 2], data: Float32Array.of(1.5, -0, NaN, 3e38) },
      empty: { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
      i8: { dtype: 'I8', shape: [2], data: Int8Array.of(-128, 127) },
      bool: { dtype: 'BOOL', shape: [1], data: Uint8Array.of(1) },
      i32: { dtype: 'I32', shape: [2], data: Int32Array.of(-7, 2 ** 31 - 1) },
      f16: { dtype: 'F16', shape: [1], data: Float32Array.of(-2) },
      bf16: { dtype: 'BF16', shape: [1], data: Float32Array.of(3.140625) },
      i64: { dtype: 'I64', shape: [1], data: Int32Array.of(-3) },
    };
    const bytes = serializeSafetensors(tensors, { a: 'b' });
    const path = join(mkdtempSync(join(tmpdir(), 'safetensors-file-')), 'x.safetensors');
    writeFileSync(path, bytes);
    const read = await readSafetensorsFile(path);
    const parsed = parseSafetensors(bytes);
    expect(read).toEqual(parsed);
    for (const [name, t] of Object.entries(parsed.tensors)) {
      expect(read.tensors[name]!.data.constructor, name).toBe(t.data.constructor);
      expect(bytesOf(read.tensors[name]!.data), name).toEqual(bytesOf(t.data));
    }
    rmSync(dirname(path), { recursive: true });
  });
});

describe('safetensors byte layout', () => {
  it('parses a file built by hand, with unaligned data, into aligned copies', () => {
    const header =
      '{"__metadata__":{"format":"pt"},' +
      '"b.bias":{"dtype":"I64","shape":[2],"data_offsets":[8,24]},' +
      '"h.0.attn.c_attn.weight":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]},' +
      '"u":{"dtype":"U8","shape":[3],"data_offsets":[24,27]},' +
      '"mask":{"dtype":"BOOL","shape":[2],"data_offsets":[27,29]},' +
      '"empty":{"dtype":"F32","shape":[0,3],"data_offsets":[29,29]}}';
    expect((8 + utf8(header).length) % 4).not.toBe(0); // the data really starts unaligned
    const i64 = [0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x07, 0, 0, 0, 0, 0, 0, 0]; // -3, 7
    const file = handBuilt(header, [0, 0, 0xc0, 0x3f, 0, 0, 0, 0xc0, ...i64, 1, 2, 255, 1, 0]); // 1.5, -2
    const { tensors, metadata } = parseSafetensors(file);
    expect(metadata).toEqual({ format: 'pt' });
    expect(tensors).toEqual({
      'h.0.attn.c_attn.weight': { dtype: 'F32', shape: [2, 1], data: Float32Array.of(1.5, -2) },
      'b.bias': { dtype: 'I64', shape: [2], data: Int32Array.of(-3, 7) },
      u: { dtype: 'U8', shape: [3], data: Uint8Array.of(1, 2, 255) },
      mask: { dtype: 'BOOL', shape: [2], data: Uint8Array.of(1, 0) }, // torch.bool: older transformers saves' causal masks
      empty: { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
    });
    expect(Object.keys(tensors)).toEqual(['h.0.attn.c_attn.weight', 'b.bias', 'u', 'mask', 'empty']); // data order
    file.fill(0); // copies, not views of the file
    expect(tensors['h.0.attn.c_attn.weight']!.data).toEqual(Float32Array.of(1.5, -2));
    expect(tensors.u!.data).toEqual(Uint8Array.of(1, 2, 255));
  });

  it('reads "__metadata__": null as no metadata, as safetensors\' own reader does (an optional map)', () => {
    expect(parseSafetensors(handBuilt('{"__metadata__":null,"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', [7]))).toEqual({
      tensors: { a: { dtype: 'U8', shape: [1], data: Uint8Array.of(7) } },
      metadata: {},
    });
  });

  it('parses a Node Buffer that is a view into a larger pool', () => {
    const file = serializeSafetensors({
      f: { dtype: 'F32', shape: [2], data: Float32Array.of(1.5, -2) },
      u: { dtype: 'U8', shape: [3], data: Uint8Array.of(1, 2, 3) },
    });
    const pooled = Buffer.from(file); // small Buffers are carved out of a shared pool
    expect(pooled.byteOffset).toBeGreaterThan(0);
    const { tensors } = parseSafetensors(pooled);
    expect(tensors.f!.data).toEqual(Float32Array.of(1.5, -2));
    expect(tensors.u!.data.constructor).toBe(Uint8Array); // a copy, not a Buffer view of the pool
    expect(tensors.u!.data.buffer.byteLength).toBe(3);
  });

  it('writes the u64 length, the header in the given order padded with spaces, then packed data, whole or a piece per tensor', async () => {
    const tensors: Record<string, SafetensorsTensor> = {
      'h.0.w': { dtype: 'F32', shape: [2], data: Float32Array.of(1.5, -2) },
      idx: { dtype: 'I64', shape: [1], data: Int32Array.of(-3) },
      half: { dtype: 'F16', shape: [2], data: Float32Array.of(1, -2) },
      bf: { dtype: 'BF16', shape: [], data: Float32Array.of(3.140625) },
    };
    const json =
      '{"__metadata__":{"format":"pt"},' +
      '"h.0.w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
      '"idx":{"dtype":"I64","shape":[1],"data_offsets":[8,16]},' +
      '"half":{"dtype":"F16","shape":[2],"data_offsets":[16,20]},' +
      '"bf":{"dtype":"BF16","shape":[],"data_offsets":[20,22]}}';
    const n = Math.ceil(json.length / 8) * 8;
    expect(n).toBeGreaterThan(json.length); // this case does need padding
    const pieces = [
      [n & 0xff, n >> 8, 0, 0, 0, 0, 0, 0, ...utf8(json.padEnd(n, ' '))],
      [0, 0, 0xc0, 0x3f, 0, 0, 0, 0xc0], // F32 1.5, -2
      [0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // I64 -3
      [0x00, 0x3c, 0x00, 0xc0], // F16 1 = 0x3C00, -2 = 0xC000
      [0x49, 0x40], // BF16 3.140625 = 0x4049
    ];
    expect([...serializeSafetensors(tensors, { format: 'pt' })]).toEqual(pieces.flat());
    expect([...safetensorsPieces(layoutSafetensors(tensors, { format: 'pt' }))].map((p) => [...p])).toEqual(pieces);
    expect(layoutSafetensors(tensors, { format: 'pt' }).size).toBe(pieces.flat().length);
    // streamed: each tensor read only when its piece is asked for
    const events: string[] = [];
    const pending = Object.entries(tensors).map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, read: async () => (events.push(`read ${name}`), t.data) }));
    for await (const piece of streamSafetensors(pending, { format: 'pt' })) events.push(`piece of ${piece.length}`);
    expect(events).toEqual(['piece of ' + pieces[0]!.length, ...Object.keys(tensors).flatMap((name, i) => [`read ${name}`, `piece of ${pieces[i + 1]!.length}`])]);
  });

  it('streams a pending tensor refused as serialize refuses it, when its turn comes; a name given twice before anything', async () => {
    const pending = (name: string, shape: number[], data: Float32Array) => ({ name, dtype: 'F32' as const, shape, read: async () => data });
    const drain = async (tensors: ReturnType<typeof pending>[]) => {
      let n = 0;
      for await (const _ of streamSafetensors(tensors)) n++;
      return n;
    };
    await expect(drain([pending('a', [2], new Float32Array(2)), pending('a', [1], new Float32Array(1))])).rejects.toThrow('safetensors: tensor "a" is given twice');
    let taken = 0;
    const pieces = streamSafetensors([pending('a', [2], new Float32Array(2)), pending('b', [3], new Float32Array(2))]);
    await expect((async () => {
      for await (const _ of pieces) taken++;
    })()).rejects.toThrow('safetensors: tensor "b" has 2 elements but shape [3] needs 3');
    expect(taken).toBe(2); // the head and a
  });

  it('writes an empty file as "{}" padded to 8 bytes', () => {
    expect([...serializeSafetensors({})]).toEqual([8, 0, 0, 0, 0, 0, 0, 0, ...utf8('{}      ')]);
    expect(parseSafetensors(serializeSafetensors({}))).toEqual({ tensors: {}, metadata: {} });
  });
});

describe('16-bit floats', () => {
  // [bits, value] worked out by hand from sign/exponent/mantissa.
  const F16: [number, number][] = [
    [0x0000, 0],
    [0x8000, -0],
    [0x3c00, 1],
    [0xc000, -2],
    [0x3555, 0.333251953125], // (1 + 341/1024) * 2^-2
    [0x7bff, 65504], // largest finite
    [0x0400, 2 ** -14], // smallest normal
    [0x03ff, 1023 * 2 ** -24], // largest subnormal
    [0x0001, 2 ** -24], // smallest subnormal
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
    [0x7e00, NaN],
  ];
  const BF16: [number, number][] = [
    [0x0000, 0],
    [0x8000, -0],
    [0x3f80, 1],
    [0xc049, -3.140625],
    [0x7f7f, 255 * 2 ** 120], // largest finite: (1 + 127/128) * 2^127
    [0x0001, 2 ** -133], // smallest subnormal
    [0x7f80, Infinity],
    [0xff80, -Infinity],
    [0x7fc0, NaN],
  ];

  it('F16 and BF16 tensors decode to the hand-computed float32 values', () => {
    for (const [dtype, table] of [['F16', F16], ['BF16', BF16]] as const) {
      const raw = new DataView(new ArrayBuffer(2 * table.length));
      table.forEach(([bits], i) => raw.setUint16(2 * i, bits, true));
      const header = `{"x":{"dtype":"${dtype}","shape":[${table.length}],"data_offsets":[0,${2 * table.length}]}}`;
      const data = parseSafetensors(handBuilt(header, new Uint8Array(raw.buffer))).tensors.x!.data;
      expect(data).toBeInstanceOf(Float32Array);
      table.forEach(([bits, value], i) => expect(data[i], `${dtype} 0x${bits.toString(16)}`).toBe(value));
    }
  });

  it('every non-NaN 16-bit pattern survives decode then encode', () => {
    for (let h = 0; h < 0x10000; h++) {
      const f16 = f16BitsToF32(h);
      if (Number.isNaN(f16)) expect(f16BitsToF32(f32ToF16Bits(f16))).toBeNaN();
      else if (f32ToF16Bits(f16) !== h) expect.fail(`F16 0x${h.toString(16)} came back as 0x${f32ToF16Bits(f16).toString(16)}`);
      const bf16 = bf16BitsToF32(h);
      if (Number.isNaN(bf16)) expect(f32ToBf16Bits(bf16)).toBe((h & 0x8000) | 0x7fc0);
      else if (f32ToBf16Bits(bf16) !== h) expect.fail(`BF16 0x${h.toString(16)} came back as 0x${f32ToBf16Bits(bf16).toString(16)}`);
    }
  });

  it('encoding rounds to nearest, ties to even', () => {
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // halfway between 0x3C00 and 0x3C01: even
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // halfway between 0x3C01 and 0x3C02: even
    expect(f32ToF16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // just above halfway
    expect(f32ToF16Bits(65519)).toBe(0x7bff); // below halfway to 65536
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // halfway, 0x7BFF is odd: up to Inf
    expect(f32ToF16Bits(1e10)).toBe(0x7c00);
    expect(f32ToF16Bits(-1e-10)).toBe(0x8000);
    expect(f32ToF16Bits(2 ** -25)).toBe(0x0000); // halfway to the smallest subnormal: even
    expect(f32ToF16Bits(2 ** -25 * (1 + 2 ** -23))).toBe(0x0001);
    expect(f32ToF16Bits(3 * 2 ** -25)).toBe(0x0002); // halfway between subnormals 1 and 2
    expect(f32ToF16Bits(1023.5 * 2 ** -24)).toBe(0x0400); // largest subnormal rounds up into normals
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80); // halfway: even
    expect(f32ToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82); // halfway: even
    expect(f32ToBf16Bits(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81);
    expect(f32ToBf16Bits(3e38)).toBe(0x7f62);
  });
});

describe('safetensors rejects corrupt files with an error naming the problem', () => {
  const f32 = (name: string, shape: number[], offsets: number[]) =>
    `"${name}":{"dtype":"F32","shape":${JSON.stringify(shape)},"data_offsets":${JSON.stringify(offsets)}}`;
  const u64 = (lo: number, hi = 0) => {
    const b = new DataView(new ArrayBuffer(8));
    b.setUint32(0, lo, true);
    b.setUint32(4, hi, true);
    return [...new Uint8Array(b.buffer)];
  };
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty file', new Uint8Array(0), /file is 0 bytes, too short/],
    ['shorter than 8 bytes', new Uint8Array(5), /file is 5 bytes, too short/],
    ['header length beyond the file', Uint8Array.from([...u64(100), ...utf8('{}')]), /header length 100 runs past/],
    ['header length above 2^32', Uint8Array.from([...u64(2, 1), ...utf8('{}')]), /header length 4294967298 runs past/],
    // 2^62 + 1, in full: as a float it read 4611686018427388000
    ['header length above 2^53', Uint8Array.from([...u64(1, 2 ** 30), ...utf8('{}')]), /header length 4611686018427387905 runs past/],
    ['invalid JSON', handBuilt('{"a":'), /header is not valid JSON/],
    // V8 quotes the text around the fault, newlines and all: escaped, the error stays one line
    ['invalid JSON quoting a terminal escape', handBuilt('{"a":\u001b[2J}'), /^safetensors: header is not valid JSON \(Unexpected token '\\x1b', "\{"a":\\x1b\[2J\}" is not valid JSON\)$/],
    ['invalid JSON over lines', handBuilt('{"a":\n[1,\n2,,3]}'), /^safetensors: header is not valid JSON \(Unexpected token ',', "\{"a":\\n\[1,\\n2,,3\]\}" is not valid JSON\)$/],
    ['invalid UTF-8', Uint8Array.from([...u64(3), 0x7b, 0xff, 0x7d]), /header is not valid UTF-8/],
    ['header not an object', handBuilt('[1,2]'), /header must be a JSON object/],
    ['tensor info not an object', handBuilt('{"a":3}'), /tensor "a" must be an object/],
    // a dtype of the format (or none) that is not read: named, with the ones that are
    ['unknown dtype', handBuilt('{"a":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}}', [0]), /tensor "a" has dtype "F8", which is not read \(only F32, F16, BF16, I32, I64, I8, U8, BOOL\)$/],
    ['F64', handBuilt('{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}', f32Bytes(0, 0)), /tensor "a" has dtype "F64", which is not read \(only F32, .*BOOL\)$/],
    ['missing dtype', handBuilt('{"a":{"shape":[1],"data_offsets":[0,1]}}', [0]), /tensor "a" has dtype undefined, which is not read/],
    // JSON.parse keeps the last of a key given twice: which tensor (or dtype, or metadata) was meant?
    ['a tensor named twice', handBuilt(`{${f32('a', [1], [0, 4])},${f32('a', [1], [0, 4])}}`, f32Bytes(0)), /header names "a" twice in one object$/],
    ['a tensor named twice, at two places', handBuilt(`{${f32('a', [1], [0, 4])},${f32('a', [1], [4, 8])}}`, f32Bytes(0, 0)), /header names "a" twice/],
    ['a field given twice', handBuilt('{"a":{"dtype":"F32","dtype":"U8","shape":[1],"data_offsets":[0,1]}}', [0]), /header names "dtype" twice/],
    ['a metadata entry given twice', handBuilt('{"__metadata__":{"format":"pt","format":"tf"}}'), /header names "format" twice/],
    // what PyTorch's torch.save writes (a zip archive; a pickle before 1.6), given for a safetensors file
    ['a torch.save zip', Uint8Array.from([...utf8('PK\x03\x04'), ...new Array(60).fill(0)]), /a zip archive, as PyTorch's torch\.save writes \(pytorch_model\.bin, \.pt\), not a safetensors file/],
    ['a pickle', Uint8Array.from([0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8]), /a Python pickle \(PyTorch's torch\.save before 1\.6 writes one\), not a safetensors file/],
    // a text file (a Hugging Face model's config.json given for its weights) whose first 8 bytes read as a header length past its end
    ['a text file', utf8('{\n  "architectures": ["GPT2LMHeadModel"]\n}\n'), /^safetensors: a text file \(it begins "\{\\n  \\"arc"\), not a safetensors file$/],
    ['unknown field', handBuilt('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}}', [0]), /unknown fields "x"/],
    ['negative dim', handBuilt(`{${f32('a', [-1], [0, 0])}}`), /tensor "a" shape must be a list of non-negative integers, got \[-1\]/],
    ['fractional dim', handBuilt(`{${f32('a', [1.5], [0, 4])}}`, f32Bytes(0)), /shape must be .* got \[1.5\]/],
    ['string dim', handBuilt('{"a":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}', f32Bytes(0)), /shape must be/],
    ['shape not a list', handBuilt('{"a":{"dtype":"F32","shape":1,"data_offsets":[0,4]}}', f32Bytes(0)), /shape must be/],
    ['malformed offsets', handBuilt(`{${f32('a', [1], [0])}}`, f32Bytes(0)), /data_offsets must be \[begin, end\]/],
    ['negative offset', handBuilt(`{${f32('a', [1], [-4, 0])}}`, f32Bytes(0)), /data_offsets must be/],
    ['offsets reversed', handBuilt(`{${f32('a', [1], [4, 0])}}`, f32Bytes(0)), /end before they begin/],
    ['offsets beyond the data', handBuilt(`{${f32('a', [2], [0, 8])}}`, f32Bytes(0)), /run past the end of the 4-byte data/],
    ['size not shape × dtype', handBuilt(`{${f32('a', [3], [0, 8])}}`, f32Bytes(0, 0)), /hold 8 bytes but shape \[3\] of F32 needs 12/],
    [
      'overlapping tensors',
      handBuilt(`{${f32('a', [2], [0, 8])},${f32('b', [2], [4, 12])}}`, f32Bytes(0, 0, 0)),
      /tensors "a" \[0, 8\] and "b" \[4, 12\] overlap/,
    ],
    ['a hole', handBuilt(`{${f32('a', [1], [0, 4])},${f32('b', [1], [8, 12])}}`, f32Bytes(0, 0, 0)), /hole of 4 bytes before tensor "b"/],
    ['a hole at the start', handBuilt(`{${f32('a', [1], [4, 8])}}`, f32Bytes(0, 0)), /hole of 4 bytes before tensor "a"/],
    ['trailing bytes', handBuilt(`{${f32('a', [1], [0, 4])}}`, [...f32Bytes(0), 1, 2, 3]), /3 trailing bytes after the last tensor/],
    ['data but no tensors', handBuilt('{}', [1]), /1 trailing bytes/],
    ['metadata not strings', handBuilt('{"__metadata__":{"step":3}}'), /"__metadata__" entry "step" must be a string, got 3/],
    ['metadata not an object', handBuilt('{"__metadata__":"x"}'), /"__metadata__" must be an object/],
    [
      'I64 outside int32',
      handBuilt('{"a":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}', [1, 0, 0, 0, 0, 0, 0, 0, ...u64(0, 1)]),
      /tensor "a" \(I64\) element 1 = 4294967296 does not fit in int32/,
    ],
  ];
  it.each(cases)('%s', (_, bytes, message) => {
    expect(() => parseSafetensors(bytes)).toThrow(message);
    expect(() => parseSafetensors(bytes)).toThrow(/^safetensors: /);
  });

  it('a header length past safetensors\' 100 MB limit is refused before a byte of it is read', async () => {
    // a damaged length in a large file: within the file, but not a length to allocate and read
    const first8 = Uint8Array.from([...bytesOf(BigUint64Array.of(200_000_000n))]);
    expect(() => safetensorsHeaderLength(first8, 2 ** 40)).toThrow(/^safetensors: header length 200000000 is past the 100000000 bytes safetensors allows a header \(a damaged file\?\)$/);
    expect(safetensorsHeaderLength(Uint8Array.from([...bytesOf(BigUint64Array.of(100_000_000n))]), 2 ** 40)).toBe(100_000_000);
    const reads: number[] = [];
    const source = { size: 2 ** 40, read: async (offset: number, length: number) => (reads.push(length), offset === 0 ? first8 : new Uint8Array(length)) };
    await expect(openSafetensors(source)).rejects.toThrow(/header length 200000000 is past/);
    expect(reads).toEqual([8]);
  });

  it('an error naming a hostile header\'s megabyte-long name or shape is cut to its start and end', () => {
    const name = 'n'.repeat(2 ** 20);
    const longName = handBuilt(`{"${name}":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}}`, [0]);
    expect(() => parseSafetensors(longName)).toThrow(/^safetensors: tensor "n{690}n* … \(\d+ characters left out\) … n*" has dtype "F8", which is not read \(only F32, .*BOOL\)$/);
    const longShape = handBuilt(`{"a":{"dtype":"U8","shape":[${new Array(2 ** 18).fill(1).join(',')}],"data_offsets":[0,2]}}`, [0, 0]);
    expect(() => parseSafetensors(longShape)).toThrow(/^safetensors: tensor "a" data_offsets \[0, 2\] hold 2 bytes but shape \[1, 1, .* … \(\d+ characters left out\) … .*1, 1\] of U8 needs 1$/);
    const errorOf = (bytes: Uint8Array) => {
      try {
        parseSafetensors(bytes);
      } catch (e) {
        return (e as Error).message;
      }
      throw new Error('parsed');
    };
    for (const bytes of [longName, longShape]) expect(errorOf(bytes).length).toBeLessThan(1100);
  });

  it('a header that gives no key twice is never taken for one that does', () => {
    // keys and strings with quotes, backslashes, brackets and commas in them, nested any way
    fc.assert(fc.property(fc.jsonValue(), (value) => duplicateKey(JSON.stringify(value)) === null), fcParams(300));
    expect(duplicateKey('{"a":{"x":1},"b":{"x":[{"x":2}]}}')).toBeNull(); // the same key in different objects
    expect(duplicateKey('{"a\\"":[1,{"]":2}],"a\\"":3}')).toBe('a"');
    expect(duplicateKey('{"\\u0061":1,"a":2}')).toBe('a'); // spelled two ways, the same key to JSON.parse
  });

  it('a file cut anywhere, or with bytes appended, throws instead of returning a partial result', () => {
    const fileArb = fc
      .uniqueArray(fc.tuple(nameArb, tensorArb), { selector: ([name]) => name, minLength: 1, maxLength: 4 })
      .map((pairs) => serializeSafetensors(Object.fromEntries(pairs)));
    fc.assert(
      fc.property(fileArb, fc.double({ min: 0, max: 1, maxExcluded: true }), fc.uint8Array({ minLength: 1, maxLength: 9 }), (file, at, extra) => {
        const cut = Math.floor(at * file.length);
        expect(() => parseSafetensors(file.subarray(0, cut))).toThrow(/^safetensors: /);
        expect(() => parseSafetensors(Uint8Array.from([...file, ...extra]))).toThrow(/trailing bytes/);
      }),
      fcParams(300),
    );
  });

  it('serialize refuses tensors it cannot write faithfully', () => {
    const f = (t: Partial<SafetensorsTensor>) => ({ dtype: 'F32', shape: [2], data: new Float32Array(2), ...t }) as SafetensorsTensor;
    expect(() => serializeSafetensors({ __metadata__: f({}) })).toThrow(/"__metadata__" is reserved/);
    expect(() => serializeSafetensors({ a: f({ dtype: 'F8' as never }) })).toThrow(/tensor "a" has dtype "F8", which is not written \(only F32, .*BOOL\)$/);
    expect(() => serializeSafetensors({ a: f({ data: new Int32Array(2) }) })).toThrow(/F32 needs its data as Float32Array, got Int32Array/);
    expect(() => serializeSafetensors({ a: f({ dtype: 'I64' }) })).toThrow(/I64 needs its data as Int32Array, got Float32Array/);
    expect(() => serializeSafetensors({ a: f({ shape: [3] }) })).toThrow(/has 2 elements but shape \[3\] needs 3/);
    expect(() => serializeSafetensors({ a: f({ shape: [-2, -1] }) })).toThrow(/shape must be a list of non-negative integers/);
    expect(() => serializeSafetensors({ 'bad\uD800': f({}) })).toThrow(/lone surrogate/);
    expect(() => serializeSafetensors({}, { step: 3 as never })).toThrow(/metadata "step" must be a string/);
    expect(() => serializeSafetensors({}, { a: '\uDC00' })).toThrow(/metadata "a" contains a lone surrogate/);
    // 17 million characters JSON escapes to 6 bytes each: a header no reader would read back
    expect(() => serializeSafetensors({}, { a: '\u0001'.repeat(17e6) })).toThrow(/^safetensors: the header would be 102000032 bytes, past the 100000000 safetensors allows/);
  });
});
