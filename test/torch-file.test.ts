// torch.save files read as torch.load(weights_only=True) reads them (src/io/zip.ts,
// src/io/torch-file.ts). The oracle is PyTorch: test/fixtures/torch/tensors.pt and the values torch
// gave for its tensors (tensors.json), written by make_fixtures.py beside them. The zip64 archives
// and the refused files are written here by hand (test/zip-writer.ts). GPU-free.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bytesSource, type ByteSource } from '../src/io/safetensors-source.js';
import { openTorchFile, torchStateDictReader, TorchTensor, type TorchFile } from '../src/io/torch-file.js';
import { parsePickle } from '../src/io/pickle.js';
import { openZip } from '../src/io/zip.js';
import { sparseSource, zipBytes, zipPieces, type ZipInput } from './zip-writer.js';
import { littleEndian } from '../src/io/zip-writer.js';

const FIXTURES = join(import.meta.dirname, 'fixtures/torch');
const tensorsPt = new Uint8Array(readFileSync(join(FIXTURES, 'tensors.pt')));
const expected: Record<string, { shape: number[]; values: number[] }> = JSON.parse(readFileSync(join(FIXTURES, 'tensors.json'), 'utf8'));

/** Every tensor of a file of tensors.pt's, compared with torch's values: exactly, float64 to float32's rounding. */
async function expectTorchValues(file: TorchFile): Promise<void> {
  const root = file.root as Map<string, TorchTensor>;
  expect([...root.keys()].sort()).toEqual(Object.keys(expected).sort());
  for (const [name, tensor] of root) {
    const { shape, data } = await file.readTensor(tensor);
    const want = expected[name]!;
    expect(shape, name).toEqual(want.shape);
    expect(Array.from(data), name).toEqual(want.values.map((v) => (name === 'f64' ? Math.fround(v) : v)));
  }
}

/** tensors.pt's entries, to write again in other archives (their values are still checked against torch's). */
async function fixtureEntries(): Promise<ZipInput[]> {
  const zip = await openZip(bytesSource(tensorsPt), 'tensors.pt');
  return Promise.all([...zip.entries.values()].map(async (entry) => ({ name: entry.name, data: await zip.read(entry) })));
}

const text = (s: string) => new TextEncoder().encode(s);
/** A torch.save-like archive whose data.pkl is `pickle`. */
const torchZip = (pickle: Uint8Array, extra: ZipInput[] = []) => zipBytes([{ name: 'archive/data.pkl', data: pickle }, ...extra]);
const open = (bytes: Uint8Array, name = 'x.pt') => openTorchFile(bytesSource(bytes), name);

describe('torch.save files', () => {
  it("reads every dtype, a transposed view and two views of one storage as torch gives them", async () => {
    await expectTorchValues(await open(tensorsPt, 'tensors.pt'));
  });

  it('reads zip64 archives: its records, and entries placed past 4 GiB (a sparse file, never allocated)', async () => {
    await expectTorchValues(await open(zipBytes(await fixtureEntries(), { zip64: true })));
    const { pieces, size } = zipPieces(await fixtureEntries(), { zip64: true, gap: 5 * 2 ** 30 });
    const far = await openTorchFile(sparseSource(pieces, size), 'far.pt');
    await expectTorchValues(far);
  });

  it('reads a state dict as a safetensors reader does: entries first, each tensor when asked', async () => {
    const file = await open(tensorsPt);
    const reader = torchStateDictReader(file, file.root, 'tensors.pt');
    expect(reader.entries.map((e) => [e.name, e.dtype, e.shape])).toContainEqual(['transposed', 'F32', [3, 4]]);
    const { view_b } = await reader.readTensors((name) => name === 'view_b');
    expect(Array.from(view_b!.data)).toEqual(expected.view_b!.values);
    expect(() => torchStateDictReader(file, new Map([['x', 1]]), "ckpt.pt['model']")).toThrow(/^ckpt\.pt\['model'\]: expected a dict of tensors \(a state dict\), but "x" holds 1$/);
  });

  it('refuses, in one line naming it, a pickle that names a global outside the allow-list', async () => {
    // GLOBAL 'os system', then ('id',) REDUCE: what a malicious pickle does (refused at the GLOBAL)
    const osSystem = Uint8Array.from([0x80, 2, ...text('cos\nsystem\n'), 0x58, 2, 0, 0, 0, ...text('id'), 0x85, 0x52, 0x2e]);
    await expect(open(torchZip(osSystem))).rejects.toThrow(/^x\.pt: archive\/data\.pkl: global os\.system is not allowed \(only collections\.OrderedDict, torch\._utils\._rebuild_tensor_v2, .*\): a pickle that could run code is not read \(at byte 2\)$/);
    // protocol 4's STACK_GLOBAL of builtins.eval
    const evalPickle = Uint8Array.from([0x80, 4, 0x8c, 8, ...text('builtins'), 0x8c, 4, ...text('eval'), 0x93, 0x8c, 1, ...text('1'), 0x85, 0x52, 0x2e]);
    await expect(open(torchZip(evalPickle))).rejects.toThrow(/^x\.pt: archive\/data\.pkl: global builtins\.eval is not allowed .*\(at byte 18\)$/);
    // an allowed global that is not callable (a storage type called)
    const called = Uint8Array.from([0x80, 2, ...text('ctorch\nFloatStorage\n'), 0x29, 0x52, 0x2e]);
    await expect(open(torchZip(called))).rejects.toThrow(/^x\.pt: archive\/data\.pkl: torch\.FloatStorage is called, which is not allowed \(at byte 23\)$/);
  });

  it('refuses compressed entries, the legacy format, truncated and damaged archives', async () => {
    const compressed = zipBytes([{ name: 'archive/data.pkl', data: Uint8Array.of(0x80, 2, 0x4e, 0x2e), method: 8 }]);
    await expect(open(compressed)).rejects.toThrow(/^x\.pt: entry 'archive\/data\.pkl' is compressed \(method 8\), but only stored entries are read, as torch\.save writes them/);
    await expect(open(Uint8Array.of(0x80, 2, 0x7d, 0x2e), 'old.bin')).rejects.toThrow(/^old\.bin: a torch\.save file of PyTorch before 1\.6 \(a bare pickle\), which is not read: re-save it with torch >= 1\.6/);
    await expect(open(tensorsPt.subarray(0, tensorsPt.length - 30))).rejects.toThrow(/^x\.pt: not a zip archive \(no end-of-central-directory record in its last \d+ bytes; truncated\?\)$/);
    // cut in the data: the end records are there (moved up), the entries past the end are not
    const { pieces } = zipPieces(await fixtureEntries());
    const tail = pieces.at(-1)!.bytes;
    const whole = zipBytes(await fixtureEntries());
    const cut = new Uint8Array(2000 + tail.length);
    cut.set(whole.subarray(0, 2000));
    cut.set(tail, 2000);
    await expect(open(cut)).rejects.toThrow(/^x\.pt: a zip record at byte \d+ \(\d+ bytes\) runs past the end of the \d+-byte file \(truncated\?\)$/);
    await expect(open(torchZip(Uint8Array.of(0x80, 2, 0x4e, 0x2e), [{ name: 'archive/byteorder', data: text('big') }]))).rejects.toThrow(/^x\.pt: its tensors are stored big-endian \(archive\/byteorder\), but only little-endian ones are read/);
    expect((await open(torchZip(Uint8Array.of(0x80, 2, 0x4e, 0x2e), [{ name: 'archive/byteorder', data: text('little') }]))).root).toBe(null);
    await expect(open(zipBytes([{ name: 'a/b.txt', data: text('hi') }]))).rejects.toThrow(/^x\.pt: a zip archive that is not a torch\.save file \(no FOLDER\/data\.pkl\)$/);
  });

  it('refuses a tensor that runs past its storage, or names more elements than an array holds', async () => {
    // _rebuild_tensor_v2(('storage', FloatStorage, '0', 'cpu', 2), 0, size, stride, False, OrderedDict())
    const int = (n: number) => [0x4a, n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24]; // BININT
    const tuple = (xs: number[]) => [0x28, ...xs.flatMap(int), 0x74];
    const rebuilt = (size: number[], stride: number[]) => torchZip(Uint8Array.from([0x80, 2, ...text('ctorch._utils\n_rebuild_tensor_v2\n'), 0x28, 0x28, 0x58, 7, 0, 0, 0, ...text('storage'), ...text('ctorch\nFloatStorage\n'), 0x58, 1, 0, 0, 0, ...text('0'), 0x58, 3, 0, 0, 0, ...text('cpu'), 0x4b, 2, 0x74, 0x51, 0x4b, 0, ...tuple(size), ...tuple(stride), 0x89, ...text('ccollections\nOrderedDict\n'), 0x29, 0x52, 0x74, 0x52, 0x2e]), [{ name: 'archive/data/0', data: new Uint8Array(Float32Array.of(1.5, 2.5).buffer) }]);
    await expect(open(rebuilt([3], [1]))).rejects.toThrow(/^x\.pt: archive\/data\.pkl: a tensor of size \(3\), stride \(1\) at offset 0 runs past its storage's 2 elements \(at byte \d+\)$/);
    // a stride of 0 repeats the storage: read, as torch gives it, unless past what one array holds
    const repeated = await open(rebuilt([2, 3], [1, 0]));
    expect(Array.from((await repeated.readTensor(repeated.root as TorchTensor)).data)).toEqual([1.5, 1.5, 1.5, 2.5, 2.5, 2.5]);
    // a few hundred bytes asking for 4 billion floats (16 GiB): refused before anything is allocated
    const repeatedMuch = await open(rebuilt([65535, 65535], [0, 0]));
    const started = Date.now();
    await expect(repeatedMuch.readTensor(repeatedMuch.root as TorchTensor)).rejects.toThrow(/^x\.pt: a tensor of size \(65535, 65535\) in archive\/data\/0 repeats its storage's 2 elements as 4294836225, past the 67108864 a repeating view is read to$/);
    expect(Date.now() - started).toBeLessThan(1000);
    const huge = await open(rebuilt([2 ** 20, 2 ** 20], [0, 0]));
    await expect(huge.readTensor(huge.root as TorchTensor)).rejects.toThrow(/^x\.pt: a tensor of size \(1048576, 1048576\) in archive\/data\/0: 1099511627776 elements, past the 4294967295 one array holds$/);
  });

  it("reads a list of 300000 items in one APPENDS (Python's loader does; no stack overflow)", () => {
    // EMPTY_LIST, MARK, then BININT1 i % 256 for each item, APPENDS, STOP
    const n = 300_000;
    const items = Array.from({ length: n }, (_, i) => i % 256);
    const pickle = Uint8Array.from([0x80, 2, 0x5d, 0x28, ...items.flatMap((v) => [0x4b, v]), 0x65, 0x2e]);
    expect(parsePickle(pickle, 'big.pkl')).toEqual(items);
  });

  it("keeps the memo as a dict, as pickle._Unpickler does: a huge LONG_BINPUT index, then MEMOIZE at len(memo); an index never put is an error", () => {
    // NONE, LONG_BINPUT 0xfffffffe, NEWTRUE, MEMOIZE (memo[1]: len(memo) is 1), TUPLE2, BINGET 1, LONG_BINGET 0xfffffffe, TUPLE2, TUPLE2
    const pickle = Uint8Array.from([0x80, 4, 0x4e, 0x72, 0xfe, 0xff, 0xff, 0xff, 0x88, 0x94, 0x86, 0x68, 1, 0x6a, 0xfe, 0xff, 0xff, 0xff, 0x86, 0x86, 0x2e]);
    expect(parsePickle(pickle, 'memo.pkl')).toEqual([[null, true], [true, null]]);
    // BINPUT 5, then BINGET 2 (a hole below an index put): Python's 'Memo value not found'
    expect(() => parsePickle(Uint8Array.from([0x80, 2, 0x4e, 0x71, 5, 0x68, 2, 0x86, 0x2e]), 'memo.pkl')).toThrow(/^memo\.pkl: memo entry 2 is not there \(at byte \d+\)$/);
    // BINPUT with nothing on the stack: Python's 'stack underflow'
    expect(() => parsePickle(Uint8Array.from([0x80, 2, 0x71, 0, 0x4e, 0x2e]), 'memo.pkl')).toThrow(/^memo\.pkl: BINPUT with nothing to store \(at byte \d+\)$/);
  });

  it("refuses an archive whose entries overlap each other or the central directory, or whose local header names another file", async () => {
    // two entries; the central directory's offset is the end record's field at 16, each central entry's local header offset its field at 42 (APPNOTE 4.3.12, 4.3.16)
    const archive = () => zipBytes([{ name: 'a/data.pkl', data: Uint8Array.of(0x80, 2, 0x4e, 0x2e) }, { name: 'a/data/0', data: text('ABCDEFGH') }]);
    const fields = (bytes: Uint8Array) => {
      const view = new DataView(bytes.buffer);
      const dirAt = view.getUint32(bytes.length - 22 + 16, true);
      return { view, dirAt, second: dirAt + 46 + 'a/data.pkl'.length };
    };
    const list = (bytes: Uint8Array) => openZip(bytesSource(bytes), 'z.zip');
    const overlapping = archive();
    // the first local header says its extra field has 8 bytes: its 4 bytes of data move into the second entry (at byte 44)
    new DataView(overlapping.buffer).setUint16(28, 8, true);
    await expect(list(overlapping)).rejects.toThrow(/^z\.zip: entry 'a\/data\/0' \(bytes 44 to 90\) overlaps entry 'a\/data\.pkl' \(bytes 0 to 52\)$/);
    const twice = archive();
    const { view, second } = fields(twice);
    view.setUint32(second + 42, 0, true); // the second entry's local header is the first's
    await expect(list(twice)).rejects.toThrow(/^z\.zip: entry 'a\/data\/0' is named 'a\/data\.pkl' in its local header \(a damaged archive\)$/);
    const intoDirectory = archive();
    const at = fields(intoDirectory);
    // the second local header (46 bytes with its data, just before the directory) says its extra field has 8 bytes: its data moves onto the directory
    at.view.setUint16(at.dirAt - 46 + 28, 8, true);
    await expect(list(intoDirectory)).rejects.toThrow(/^z\.zip: entry 'a\/data\/0' \(bytes \d+ to \d+\) overlaps the central directory \(bytes \d+ to \d+\)$/);
    const renamed = archive();
    renamed[30] = 'b'.charCodeAt(0); // the first local header's name: 'b/data.pkl'
    await expect(list(renamed)).rejects.toThrow(/^z\.zip: entry 'a\/data\.pkl' is named 'b\/data\.pkl' in its local header \(a damaged archive\)$/);
  });

  it('cuts a hostile pickle\'s megabyte-long name or size in its error to a readable line', async () => {
    // STACK_GLOBAL of a module named by 1,000,000 'a's: refused, naming a cut form of it
    const long = 'a'.repeat(1_000_000);
    const named = Uint8Array.from([0x80, 4, 0x58, 0x40, 0x42, 0x0f, 0, ...text(long), 0x8c, 1, ...text('b'), 0x93, 0x2e]);
    const error = await open(torchZip(named)).catch((e: Error) => e);
    expect((error as Error).message).toMatch(/^x\.pt: archive\/data\.pkl: global a+ … \(\d+ characters left out\) … .*: a pickle that could run code is not read \(at byte 1000010\)$/);
    expect((error as Error).message.length).toBeLessThan(1200);
  });

  it("reads a byteorder entry only where it is a word's length (a huge one is refused unread), and quotes it in one line", async () => {
    // 'little' with 1 MiB of spaces after it: a file can make this entry as large as it likes
    const padded = torchZip(Uint8Array.of(0x80, 2, 0x4e, 0x2e), [{ name: 'archive/byteorder', data: text('little' + ' '.repeat(2 ** 20)) }]);
    await expect(open(padded)).rejects.toThrow(/^x\.pt: archive\/byteorder has 1048582 bytes, not a byte order \('little' or 'big'\)$/);
    const twoLines = torchZip(Uint8Array.of(0x80, 2, 0x4e, 0x2e), [{ name: 'archive/byteorder', data: text('li\nttle') }]);
    await expect(open(twoLines)).rejects.toThrow(/^x\.pt: its tensors are stored li\\x0attle-endian \(archive\/byteorder\), but only little-endian ones are read: re-save it on a little-endian machine$/);
  });

  it('writes a name holding a newline or other control character escaped: an error stays one line', async () => {
    const archive = zipBytes([{ name: 'x\ny', data: text('hi') }]);
    archive[30 + 2] = 'z'.charCodeAt(0); // the local header's name: 'x\nz'
    await expect(openZip(bytesSource(archive), 'z.zip')).rejects.toThrow(/^z\.zip: entry 'x\\x0ay' is named 'x\\x0az' in its local header \(a damaged archive\)$/);
  });

  it('refuses a pickle entry or central directory gigabytes long (a sparse file) at once, reading a few kilobytes of it', async () => {
    /** `source` with the bytes its reads ask for counted. */
    const counted = (source: ByteSource) => {
      const counter = { bytes: 0, source: { size: source.size, read: (offset: number, length: number) => ((counter.bytes += length), source.read(offset, length)) } };
      return counter;
    };
    // archive/data.pkl of 3 GiB, zip64's sizes in its extra fields, the directory after it
    const name = text('archive/data.pkl');
    const big = 3 * 2 ** 30;
    const extra = littleEndian([[2, 1], [2, 16], [8, big], [8, big]]);
    const local = littleEndian([[4, 0x04034b50], [2, 45], [2, 0], [2, 0], [4, 0], [4, 0], [4, 0xffffffff], [4, 0xffffffff], [2, name.length], [2, extra.length]]);
    const dirAt = local.length + name.length + extra.length + big;
    const central = littleEndian([[4, 0x02014b50], [2, 45], [2, 45], [2, 0], [2, 0], [4, 0], [4, 0], [4, 0xffffffff], [4, 0xffffffff], [2, name.length], [2, extra.length], [2, 0], [2, 0], [2, 0], [4, 0], [4, 0]]);
    const dirSize = central.length + name.length + extra.length;
    const end = [
      littleEndian([[4, 0x06064b50], [8, 44], [2, 45], [2, 45], [4, 0], [4, 0], [8, 1], [8, 1], [8, dirSize], [8, dirAt]]),
      littleEndian([[4, 0x07064b50], [4, 0], [8, dirAt + dirSize], [4, 1]]),
      littleEndian([[4, 0x06054b50], [2, 0], [2, 0], [2, 0xffff], [2, 0xffff], [4, 0xffffffff], [4, 0xffffffff], [2, 0]]),
    ];
    const tail = [central, name, extra, ...end];
    const pieces = [{ at: 0, bytes: Uint8Array.from([...local, ...name, ...extra]) }, { at: dirAt, bytes: Uint8Array.from(tail.flatMap((b) => [...b])) }];
    const pickle = counted(sparseSource(pieces, dirAt + tail.reduce((n, b) => n + b.length, 0)));
    await expect(openTorchFile(pickle.source, 'big.pt')).rejects.toThrow(/^big\.pt: archive\/data\.pkl has 3221225472 bytes, past the 67108864 a torch\.save pickle is read to \(its tensors' values lie beside it, in archive\/data\/\): a damaged file$/);
    expect(pickle.bytes).toBeLessThan(2 ** 17);
    // 20 GiB of zeros ending in zip64's records, which claim a central directory of 19 GiB at byte 0
    const size = 20 * 2 ** 30;
    const records = Uint8Array.from([end[0]!, littleEndian([[4, 0x07064b50], [4, 0], [8, size - 98], [4, 1]]), end[2]!].flatMap((b) => [...b]));
    const fields = new DataView(records.buffer);
    fields.setBigUint64(40, BigInt(19 * 2 ** 30), true); // the zip64 record's directory size
    fields.setBigUint64(48, 0n, true); // and offset
    const directory = counted(sparseSource([{ at: size - records.length, bytes: records }], size));
    await expect(openTorchFile(directory.source, 'dir.pt')).rejects.toThrow(/^dir\.pt: a central directory of 20401094656 bytes, past the 67108864 read \(a damaged archive\?\)$/);
    expect(directory.bytes).toBeLessThan(2 ** 17);
  });
});
