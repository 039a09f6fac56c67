// The writers of torch.save's file (src/io/pickle-writer.ts, zip-writer.ts, torch-save.ts), read
// back by the readers of src/io (written from the same formats, separately) and, where there is a
// Python (/usr/bin/python3, any: its pickle and zipfile modules), by Python's own: the values,
// every entry's CRC-32, the 64-byte alignment torch gives each entry's data, and zip64's records.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { pickleBytes, PyFloat, PyTuple, type PickleOut } from '../src/io/pickle-writer.js';
import { parsePickle } from '../src/io/pickle.js';
import { bytesSource } from '../src/io/safetensors-source.js';
import { openTorchFile, torchStateDictReader } from '../src/io/torch-file.js';
import { OrderedDict, TorchStorageOut, TorchTensorOut, torchSavePieces } from '../src/io/torch-save.js';
import { zipPieces } from '../src/io/zip-writer.js';
import { openZip } from '../src/io/zip.js';

const PYTHON = '/usr/bin/python3';
const hasPython = existsSync(PYTHON);

async function collect(pieces: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of pieces) parts.push(p);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

/** What Python's zipfile makes of `bytes`: each entry's name, its data's offset and its bytes, and testzip's first bad CRC (None). */
function pythonZip(bytes: Uint8Array): string {
  const script = `import io, struct, sys, zipfile
raw = sys.stdin.buffer.read()
z = zipfile.ZipFile(io.BytesIO(raw))
for i in z.infolist():
    n, e = struct.unpack('<HH', raw[i.header_offset + 26:i.header_offset + 30])
    print(i.filename, (i.header_offset + 30 + n + e) % 64, list(z.read(i.filename)))
print(z.testzip())`;
  return spawnSync(PYTHON, ['-c', script], { input: bytes }).stdout.toString();
}

describe('the zip writer', () => {
  const entries = [
    { name: 'archive/data.pkl', data: () => Uint8Array.of(1, 2, 3) },
    { name: 'archive/data/0', data: () => new Uint8Array(0) },
    { name: 'archive/version', data: () => new TextEncoder().encode('3\n') },
  ];
  for (const zip64 of [false, true]) {
    it(`writes stored entries, each one's data at a multiple of 64 bytes, read back by our reader and Python's zipfile${zip64 ? " (in zip64's fields and records)" : ''}`, async () => {
      const bytes = await collect(zipPieces(entries, { zip64 }));
      const zip = await openZip(bytesSource(bytes), 'test.zip');
      expect([...zip.entries.keys()]).toEqual(entries.map((e) => e.name));
      for (const e of entries) {
        const entry = zip.entries.get(e.name)!;
        expect(entry.offset % 64, e.name).toBe(0);
        expect(await zip.read(entry)).toEqual(e.data());
      }
      if (!hasPython) return;
      expect(pythonZip(bytes)).toBe('archive/data.pkl 0 [1, 2, 3]\narchive/data/0 0 []\narchive/version 0 [51, 10]\nNone\n');
    });
  }
});

describe('the torch.save writer', () => {
  it('writes tensors as storages our torch.save reader reads back, one storage for tensors given one (tied)', async () => {
    const values = Float32Array.from({ length: 6 }, (_, i) => i / 7);
    const tied = new TorchStorageOut(6, async () => values);
    const bytes = await collect(
      torchSavePieces(
        new Map<string, PickleOut>([
          ['model', new OrderedDict(new Map([['a', new TorchTensorOut(tied, [2, 3])], ['b', new TorchTensorOut(tied, [2, 3])], ['s', new TorchTensorOut(new TorchStorageOut(1, async () => Float32Array.of(3)), [])]]))],
          ['n', 7],
        ]),
      ),
    );
    const file = await openTorchFile(bytesSource(bytes), 'test.pt');
    const root = file.root as Map<string, unknown>;
    expect(root.get('n')).toBe(7);
    const reader = torchStateDictReader(file, root.get('model') as never, 'model');
    expect(reader.entries.map((e) => [e.name, e.shape])).toEqual([['a', [2, 3]], ['b', [2, 3]], ['s', []]]);
    const tensors = await reader.readTensors();
    expect(tensors.a!.data).toEqual(values);
    expect(tensors.b!.data).toEqual(values);
    expect(tensors.s!.data).toEqual(Float32Array.of(3));
    const zip = await openZip(bytesSource(bytes), 'test.pt');
    expect([...zip.entries.keys()]).toEqual(['archive/data.pkl', 'archive/data/0', 'archive/data/1', 'archive/version']); // the tied storage once
  });

  it('refuses a storage that reads other than its size', async () => {
    const short = new TorchTensorOut(new TorchStorageOut(4, async () => new Float32Array(3)), [4]);
    await expect(collect(torchSavePieces(short, 'x.pt'))).rejects.toThrow('x.pt: storage 0 read 3 values, not its 4');
  });
});

describe('the pickle writer', () => {
  it('writes what the reader and Python read: ints of every width, floats, strings, tuples, lists, dicts', () => {
    const value = new Map<string, unknown>([
      ['ints', [0, 255, 256, 65535, 65536, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 40, -(2 ** 40)]],
      ['float', new PyFloat(0)],
      ['tuple', new PyTuple([1, 'é', null, true, false])],
      ['dict', new Map([[1, 'a']])],
    ]);
    const back = parsePickle(pickleBytes(value as never)) as Map<string, unknown>;
    expect(back.get('ints')).toEqual([0, 255, 256, 65535, 65536, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 40, -(2 ** 40)]);
    expect(back.get('float')).toBe(0);
    expect(back.get('tuple')).toEqual([1, 'é', null, true, false]);
    expect(back.get('dict')).toEqual(new Map([[1, 'a']]));
    if (!hasPython) return;
    const python = spawnSync(PYTHON, ['-c', 'import pickle,sys; print(repr(pickle.loads(sys.stdin.buffer.read())))'], { input: pickleBytes(value as never) });
    expect(python.stdout.toString().trim()).toBe("{'ints': [0, 255, 256, 65535, 65536, -1, 2147483647, -2147483648, 1099511627776, -1099511627776], 'float': 0.0, 'tuple': (1, 'é', None, True, False), 'dict': {1: 'a'}}");
  });
});
