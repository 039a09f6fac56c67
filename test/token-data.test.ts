// Corpora larger than memory: `gpt prepare` reads a file in pieces that tokenize as the whole text
// does, streams the ids to disk (uint16 where the vocabulary fits), and training reads the windows
// it draws from the files (TokenFile). The oracle for pieces is the same tokenizer on the whole text.
import { appendFileSync, type BigIntStats, closeSync, existsSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { openCorpus, PIECE_BYTES, type Corpus } from '../src/cli/corpus.js';
import { buildDataset, loadDataset, loadTokens, writeDataset } from '../src/cli/data.js';
import { gpt3EncoderDir, loadGpt2Tokenizer } from '../src/cli/tokenizer-files.js';
import { BpeTokenizer, CharTokenizer, encodeKnown, type Tokenizer } from '../src/gpt/tokenizer/index.js';
import { checkSplits, drawBatch } from '../src/gpt/batches.js';
import { REMEMBERED_CHECK_BYTES, TokenFile, TokenWriter } from '../src/node/token-file.js';
import { Generator } from '../src/tensor/generator.js';
import { corpusText, expectOneLine, gpt, tempDir, TINY } from './cli-helpers.js';
import { autotuneCacheDir } from './helpers.js';

const sandbox = tempDir('token-data');
afterAll(() => rmSync(sandbox, { recursive: true, force: true })); // corpora of 40-70 MiB
let files = 0;
const fileOf = (data: string | Uint8Array) => {
  const path = join(sandbox, `f${files++}`);
  writeFileSync(path, data);
  return path;
};

async function piecesOf(corpus: Corpus) {
  const pieces = [];
  for await (const p of corpus.pieces()) pieces.push(p);
  return pieces;
}

const GPT2 = await loadGpt2Tokenizer('');
const random = (n: number, below: number, seed: number) => {
  const g = new Generator(seed, 0);
  return Int32Array.from({ length: n }, () => g.nextInt(below));
};
const BPE = BpeTokenizer.train(corpusText(20_000) + corpusText(5_000).replaceAll('\n', '\r\n'), 400); // with merges across "\r\n" and into it (",\r\n")
const ids = (t: Tokenizer, text: string) => [...encodeKnown(t, text).ids];

/** `text` as Python's open(path, 'r') reads it, and so a corpus is read (universal newlines): each "\r\n", and each lone "\r", a "\n". */
function asPythonReads(text: string): string {
  let read = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '\r') read += text[i];
    else {
      read += '\n';
      if (text[i + 1] === '\n') i++;
    }
  }
  return read;
}

// Lines of words, spaces, digits, symbols, CRs and non-ASCII characters: places where a cut is safe
// ("x\nY") and places where it is not ("x \n", "\n\n", "\r\n", "é\n").
const lineArb = fc
  .array(fc.constantFrom('the', ' ', '  ', 'War', '42', ';', '!?', '\r', 'é', '日本', '😀', "'s", '\t', 'x'), { maxLength: 8 })
  .map((parts) => parts.join(''));
const textArb = fc.array(lineArb, { minLength: 1, maxLength: 30 }).map((lines) => lines.join('\n'));

describe('a corpus read in pieces', () => {
  it('joins back into the text (as Python reads it: line ends "\\n"), each piece within the size, and tokenizes as the whole text does where no piece is cut mid-line', async () => {
    let exact = 0;
    await fc.assert(
      fc.asyncProperty(textArb, fc.integer({ min: 8, max: 64 }), async (file, pieceBytes) => {
        const pieces = await piecesOf(await openCorpus(fileOf(file), pieceBytes));
        const text = asPythonReads(file);
        expect(pieces.map((p) => p.text).join('')).toBe(text);
        pieces.forEach((p, i) => expect(p.end - (pieces[i - 1]?.end ?? 0)).toBeLessThanOrEqual(pieceBytes));
        expect(pieces.at(-1)?.end ?? 0).toBe(Buffer.byteLength(file));
        expect(pieces.map((p) => p.documentEnd)).toEqual(pieces.map((_, i) => i === pieces.length - 1));
        const char = CharTokenizer.train(text || 'x');
        for (const t of [GPT2, BPE, char]) {
          if (pieces.some((p) => p.rough) && t !== char) continue; // a character tokenizer tokenizes any cut exactly
          expect(pieces.flatMap((p) => ids(t, p.text)), t.kind).toEqual(ids(t, text));
        }
        if (pieces.length > 1 && !pieces.some((p) => p.rough)) exact++;
      }),
      { numRuns: 300, seed: 7 },
    );
    expect(exact).toBeGreaterThan(30); // the property above ran on many texts cut only at safe places
  });

  it("reads a small file into a buffer of the file's size, not of a piece: a directory of many small files is read at disk speed", async () => {
    // a buffer of the piece's size for each file took milliseconds to make: 14 ms a file, hours for a corpus of a million documents
    const pieces = await piecesOf(await openCorpus(fileOf('a small file'), 2 ** 40)); // a piece no buffer can hold
    expect(pieces.map((p) => p.text)).toEqual(['a small file']);
  });

  it('cuts a text with Windows line ends (\\r\\n) at its lines, where no token changes, not mid-line, and reads each as "\\n"', async () => {
    const text = corpusText(3_000);
    const pieces = await piecesOf(await openCorpus(fileOf(text.replaceAll('\n', '\r\n')), 200));
    expect(pieces.length).toBeGreaterThan(10);
    expect(pieces.filter((p) => p.rough)).toEqual([]);
    for (const t of [GPT2, BPE]) expect(pieces.flatMap((p) => ids(t, p.text)), t.kind).toEqual(ids(t, text));
  });

  it('without a line break between printable characters, pieces end between characters (rough), never inside one', async () => {
    const text = 'é日😀'.repeat(40); // no ASCII at all: 2-, 3- and 4-byte characters
    const pieces = await piecesOf(await openCorpus(fileOf(text), 10));
    expect(pieces.length).toBeGreaterThan(10);
    expect(pieces.slice(0, -1).every((p) => p.rough)).toBe(true);
    expect(pieces.map((p) => p.text).join('')).toBe(text);
  });

  it('reads a file that fills a piece exactly as one piece, not cut before its last character', async () => {
    for (const text of ['abcdefghij', 'ab\ncd\néf']) {
      expect(await piecesOf(await openCorpus(fileOf(text), Buffer.byteLength(text)))).toEqual([{ text, end: Buffer.byteLength(text), rough: false, documentEnd: true }]);
    }
  });

  it('refuses a file that grew or shrank after it was opened (a pass would read another text than the other pass)', async () => {
    const path = fileOf('ab\ncd\nef\n');
    const corpus = await openCorpus(path, 4);
    appendFileSync(path, 'gh\n');
    await expect(piecesOf(corpus)).rejects.toThrow(`${path} changed while it was being read: 9 bytes when opened, 12 now`);
    truncateSync(path, 5);
    await expect(piecesOf(corpus)).rejects.toThrow(`${path} changed while it was being read: 9 bytes when opened, 5 now`);
  });

  it('keeps a byte-order mark that starts a later piece, drops the one that starts the file, and names invalid UTF-8 with its bytes', async () => {
    const text = 'ab\ncd\n\uFEFFef\ngh';
    const pieces = await piecesOf(await openCorpus(fileOf('\uFEFF' + text), 8));
    expect(pieces.map((p) => p.text).join('')).toBe(text);
    const bad = fileOf(new Uint8Array([...Buffer.from('ab\ncd\nef\n'), 0xff, 0x61]));
    await expect(piecesOf(await openCorpus(bad, 6))).rejects.toThrow(`${bad} is not valid UTF-8 text (byte 0xFF at offset 9)`);
  });

  it("names the first byte that is not UTF-8 by its offset in the file, as Python's decode error does, not the 8 MiB piece it is in", async () => {
    const before = 'é'.repeat(PIECE_BYTES / 2 + 1000) + 'ab\n'; // the bad bytes lie in the second piece
    const at = Buffer.byteLength(before);
    const cases: [number[], string][] = [
      [[0xff], '0xFF'], // never in UTF-8
      [[0xc3, 0x28], '0xC3'], // a lead byte without its continuation
      [[0xed, 0xa0, 0x80], '0xED'], // a surrogate, U+D800, encoded
      [[0xc0, 0xaf], '0xC0'], // an overlong "/"
      [[0xe6, 0x97], '0xE6'], // cut short by the end of the file
    ];
    for (const [bytes, shown] of cases) {
      const path = fileOf(Buffer.concat([Buffer.from(before), Buffer.from(bytes)]));
      await expect(piecesOf(await openCorpus(path)), shown).rejects.toThrow(`${path} is not valid UTF-8 text (byte ${shown} at offset ${at})`);
      const r = await gpt('train', '--data', path, '--out-dir', join(sandbox, 'not-utf8'), ...TINY);
      expectOneLine(r, 2, new RegExp(`is not valid UTF-8 text \\(byte ${shown} at offset ${at}\\); --data takes UTF-8 text$`));
    }
  }, 60_000);

  it('trains the same char and bpe vocabularies from pieces as from the whole text', async () => {
    const text = corpusText(6_000);
    const pieces = (await piecesOf(await openCorpus(fileOf(text), 700))).map((p) => p.text);
    expect(pieces.length).toBeGreaterThan(5);
    expect((await CharTokenizer.trainOnPieces(pieces)).toJSON()).toEqual(CharTokenizer.train(text).toJSON());
    expect((await BpeTokenizer.trainOnPieces(pieces, 320)).toJSON()).toEqual(BpeTokenizer.train(text, 320).toJSON());
    await expect(CharTokenizer.trainOnPieces([])).rejects.toThrow('CharTokenizer.trainOnPieces: the text is empty');
    await expect(BpeTokenizer.trainOnPieces(['a'], 100)).rejects.toThrow('BpeTokenizer.trainOnPieces: vocabSize must be an integer in [256, ');
  });
});

describe('token files', () => {
  for (const [dtype, vocab] of [['uint16', 50_257], ['int32', 100_000]] as const) {
    it(`${dtype}: windows read from the file equal the ids written, appended in parts`, async () => {
      const want = random(5_000, vocab, 1);
      const path = join(sandbox, `ids-${dtype}`);
      const w = await TokenWriter.create(path, dtype);
      for (let at = 0; at < want.length; at += 777) await w.append(want.subarray(at, at + 777));
      await w.close();
      expect(readFileSync(path).length).toBe(want.length * (dtype === 'uint16' ? 2 : 4));
      const f = await TokenFile.open(path, { dtype, count: want.length, vocabSize: vocab });
      const g = new Generator(3, 0);
      for (let i = 0; i < 50; i++) {
        const begin = g.nextInt(want.length);
        const end = begin + g.nextInt(want.length - begin + 1);
        expect([...f.subarray(begin, end)]).toEqual([...want.subarray(begin, end)]);
      }
      // a batch drawn from the file is the batch drawn from the ids in memory
      expect(drawBatch(f, 4, 33, new Generator(9, 1))).toEqual(drawBatch(want, 4, 33, new Generator(9, 1)));
      expect(() => f.subarray(10, 5_001)).toThrow(`TokenFile.subarray: [10, 5001) is not a range of the 5000 tokens of ${path}`);
      await f.close();
      expect(() => f.subarray(0, 1)).toThrow(`TokenFile: ${path} was closed`);
    });
  }

  it('drawBatch refuses a TokenSource whose subarray returns another number of ids than asked for', () => {
    const ids = random(100, 50, 10);
    for (const extra of [-1, 1]) {
      const source = { length: ids.length, subarray: (begin: number, end: number) => ids.subarray(begin, end + extra) };
      expect(() => drawBatch(source, 2, 8, new Generator(1, 0))).toThrow(new RegExp(`^drawBatch: data\\.subarray\\(\\d+, \\d+\\) returned ${9 + extra} ids, expected 9$`));
    }
  });

  it("drawBatch draws every block nanoGPT's get_batch draws, the last token a target: starts in [0, len - T), torch.randint(len(data) - block_size)", () => {
    const T = 4;
    const ids = Int32Array.from({ length: 10 }, (_, i) => 100 + i); // each token says where it stands
    const starts = new Set<number>();
    const rng = new Generator(3, 0);
    for (let i = 0; i < 100; i++) {
      const { x, y } = drawBatch(ids, 4, T, rng);
      for (let b = 0; b < 4; b++) {
        const start = x[b * T]! - 100;
        starts.add(start);
        expect([...x.subarray(b * T, (b + 1) * T)]).toEqual([...ids.subarray(start, start + T)]);
        expect([...y.subarray(b * T, (b + 1) * T)]).toEqual([...ids.subarray(start + 1, start + T + 1)]);
      }
    }
    expect([...starts].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]); // len - T = 6 blocks
    // a split of exactly T + 1 tokens holds one block, as in nanoGPT; one token fewer holds none
    const one = ids.subarray(0, T + 1);
    expect(() => checkSplits({ train: one, val: one }, T)).not.toThrow();
    expect(drawBatch(one, 2, T, new Generator(1, 0))).toEqual({ x: Int32Array.of(100, 101, 102, 103, 100, 101, 102, 103), y: Int32Array.of(101, 102, 103, 104, 101, 102, 103, 104) });
    expect(() => checkSplits({ train: one, val: one.subarray(0, T) }, T)).toThrow(/^the val split has 4 tokens, too few for sequences of blockSize 4 and their next-token targets: it needs at least 5$/);
  });

  it('refuses a file of the wrong size, an id outside the vocabulary (naming it and its index), and an id too large to write', async () => {
    const path = join(sandbox, 'bad-ids');
    const ids = random(3_000, 60, 2);
    ids[2_345] = 61;
    const w = await TokenWriter.create(path, 'uint16');
    await w.append(ids);
    await w.close();
    await expect(TokenFile.open(path, { dtype: 'uint16', count: 2_999, vocabSize: 62 })).rejects.toThrow(`${path} has 6000 bytes, 2999 uint16 tokens take 5998`);
    await expect(TokenFile.open(path, { dtype: 'uint16', count: 3_000, vocabSize: 61, vocabularyOf: 'the tokenizer' })).rejects.toThrow(
      `${path}: token 61 at index 2345 is outside the vocabulary [0, 61) of the tokenizer`,
    );
    await expect(TokenFile.open(path, { dtype: 'int16' as 'uint16', count: 3_000, vocabSize: 62 })).rejects.toThrow('TokenFile.open: dtype must be one of uint16, int32, got string');
    const w16 = await TokenWriter.create(join(sandbox, 'too-wide'), 'uint16');
    await expect(w16.append(Int32Array.of(1, 65_536))).rejects.toThrow('TokenWriter: token 65536 does not fit uint16');
    await w16.abandon();
  });
});

describe('a large token file', () => {
  // large enough that its check is remembered; ids below 1000, the largest at a known place
  const count = REMEMBERED_CHECK_BYTES / 2 + 1_000;
  const ids = random(count, 999, 4);
  ids[count - 7] = 999;
  const path = fileOf(new Uint8Array(Uint16Array.from(ids).buffer));
  const spec = (vocabSize: number) => ({ dtype: 'uint16' as const, count, vocabSize });
  process.env.GPT_CACHE_DIR = autotuneCacheDir('token-checks-');

  // reads through any FileHandle while `body` runs
  async function readsDuring(body: () => Promise<unknown>): Promise<number> {
    const probe = await open(path);
    const proto = Object.getPrototypeOf(probe) as { read: (...args: unknown[]) => unknown };
    await probe.close();
    const read = vi.spyOn(proto, 'read');
    try {
      await body();
      return read.mock.calls.length;
    } finally {
      read.mockRestore();
    }
  }
  const opened = async (vocabSize: number) => (await TokenFile.open(path, spec(vocabSize))).close();
  afterEach(() => vi.restoreAllMocks()); // Date.now and FileHandle.stat

  it('is read whole at its first open, not again while it is unchanged; a smaller vocabulary or a change reads it again', async () => {
    const now = Date.now;
    vi.spyOn(Date, 'now').mockImplementation(() => now() + 3_000); // checked 3 s after it was written: its time has settled (see below)
    expect(await readsDuring(() => opened(1_000))).toBeGreaterThanOrEqual(count * 2 / 2 ** 24);
    expect(await readsDuring(() => opened(1_000))).toBe(0);
    expect(await readsDuring(() => opened(50_257))).toBe(0);
    await expect(TokenFile.open(path, spec(999))).rejects.toThrow(`${path}: token 999 at index ${count - 7} is outside the vocabulary [0, 999)`);
    // written in place, same size: the remembered check no longer holds
    const fd = openSync(path, 'r+');
    writeSync(fd, Uint8Array.of(0xff, 0xff), 0, 2, 2 * 12_345);
    closeSync(fd);
    await expect(TokenFile.open(path, spec(1_000))).rejects.toThrow(`${path}: token 65535 at index 12345 is outside the vocabulary [0, 1000)`);
  });

  it('opened with another at once, both are remembered, and the cache is written without a word (a write lost the other, or met its temporary file)', async () => {
    const both = [0, 1].map(() => fileOf(new Uint8Array(Uint16Array.from(ids).buffer)));
    const now = Date.now;
    vi.spyOn(Date, 'now').mockImplementation(() => now() + 3_000); // their times settled
    const warn = vi.spyOn(console, 'warn');
    const openBoth = () => Promise.all(both.map(async (p) => (await TokenFile.open(p, spec(1_000))).close()));
    await openBoth();
    expect(warn).not.toHaveBeenCalled();
    expect(await readsDuring(openBoth)).toBe(0);
  });

  it('is checked at every open while its change time cannot tell a later write apart: one within 2 s of the check (whole seconds on ext3 and HFS+, two on FAT), or none (0)', async () => {
    const fresh = fileOf(new Uint8Array(Uint16Array.from(ids).buffer));
    const probe = await open(fresh);
    const proto = Object.getPrototypeOf(probe) as { stat: (this: FileHandle, ...args: unknown[]) => Promise<BigIntStats> };
    await probe.close();
    const realStat = proto.stat;
    const now = Date.now();
    const setId = (id: number) => {
      const fd = openSync(fresh, 'r+');
      writeSync(fd, Uint16Array.of(id), 0, 2, 2 * 5);
      closeSync(fd);
    };
    vi.spyOn(Date, 'now').mockReturnValue(now);
    // the change time such a file system shows: the second the file was written in, whatever was written since; none
    for (const ctimeNs of [BigInt(Math.floor(now / 1000)) * 10n ** 9n, 0n]) {
      vi.spyOn(proto, 'stat').mockImplementation(async function (this: FileHandle, ...args: unknown[]) {
        return Object.assign(await realStat.apply(this, args), { ctimeNs });
      });
      setId(0);
      await (await TokenFile.open(fresh, spec(1_000))).close();
      setId(0xffff); // in the same second: its time does not move
      await expect(TokenFile.open(fresh, spec(1_000)), `ctime ${ctimeNs}`).rejects.toThrow(`${fresh}: token 65535 at index 5 is outside the vocabulary [0, 1000)`);
    }
  });
});

describe('prepared data', () => {
  it("writes the first 90% to train.bin and the rest to val.bin (uint16 for a small vocabulary), and leaves no temporary file, an earlier run's neither", async () => {
    const dir = join(sandbox, 'prepared', 'data');
    const tokenizer = CharTokenizer.train('abcdefgh');
    const parts = [random(1_000, 8, 4), random(1, 8, 5), random(2_345, 8, 6)];
    const all = parts.flatMap((p) => [...p]);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, '.train.bin.tmp-1-killed'), 'what a killed gpt prepare left');
    writeFileSync(join(dir, '..meta.pkl.tmp-1-killed.tmp-1-killed'), "a meta written aside, killed in writeFileAtomic's own temporary file");
    const counts = await writeDataset(dir, tokenizer, 'test', async (append) => {
      for (const p of parts) await append(p);
    });
    const n = Math.floor(all.length * 0.9);
    expect(counts).toEqual({ train: n, val: all.length - n });
    expect(readdirSync(dir).sort()).toEqual(['meta.json', 'meta.pkl', 'train.bin', 'val.bin']); // meta.pkl: nanoGPT's, for a char vocabulary
    expect(JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')).dtype).toBe('uint16');
    const ds = await loadDataset(dir);
    expect([...ds.train.subarray(0, n)]).toEqual(all.slice(0, n));
    expect([...ds.val.subarray(0, all.length - n)]).toEqual(all.slice(n));
    await ds.close();
    // a fill that throws leaves the data as it was, and no temporary file (nor syncs the one it deletes)
    const synced = vi.spyOn(TokenWriter.prototype, 'close');
    try {
      await expect(writeDataset(dir, tokenizer, 'test', async (append) => {
        await append(random(100, 8, 7));
        throw new Error('stopped');
      })).rejects.toThrow('stopped');
      expect(synced).not.toHaveBeenCalled();
    } finally {
      synced.mockRestore();
    }
    expect(readdirSync(dir).sort()).toEqual(['meta.json', 'meta.pkl', 'train.bin', 'val.bin']);
    const again = await loadDataset(dir);
    expect([...again.val.subarray(0, 5)]).toEqual(all.slice(n, n + 5));
    await again.close();
  });

  it('writes every id where the file system takes a write in parts (a short write, as a filling disk gives), not the first part alone', async () => {
    const dir = join(sandbox, 'short-writes', 'data');
    const ids = random(300_000, 8, 11);
    const probe = await open(join(sandbox, 'short-writes-probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as FileHandle;
    await probe.close();
    const write = proto.write as (...a: unknown[]) => Promise<{ bytesWritten: number }>;
    // POSIX's write(2) may take fewer bytes than given and say how many: here at most 4096 at a time
    const short = vi.spyOn(proto, 'write').mockImplementation(function (this: FileHandle, buffer: unknown, offset?: unknown, length?: unknown, position?: unknown) {
      if (!(buffer instanceof Uint8Array)) return write.call(this, buffer, offset, length, position);
      const [from, n] = [typeof offset === 'number' ? offset : 0, typeof length === 'number' ? length : buffer.length - (typeof offset === 'number' ? offset : 0)];
      return write.call(this, buffer, from, Math.min(n, 4096), position) as never;
    } as never);
    try {
      await writeDataset(dir, CharTokenizer.train('abcdefgh'), 'test', (append) => append(ids));
    } finally {
      short.mockRestore();
    }
    const ds = await loadDataset(dir);
    const n = Math.floor(ids.length * 0.9);
    expect(ds.train.subarray(0, n).every((id, i) => id === ids[i]) && ds.val.subarray(0, ids.length - n).every((id, i) => id === ids[n + i])).toBe(true);
    await ds.close();
  });

  it("a full disk is one line naming the data directory and the system's words, and leaves no temporary file", async () => {
    const dir = join(sandbox, 'disk-full', 'data');
    const probe = await open(join(sandbox, 'disk-full-probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as FileHandle;
    await probe.close();
    const full = vi.spyOn(proto, 'write').mockRejectedValue(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28 }));
    try {
      await expect(writeDataset(dir, CharTokenizer.train('abcdefgh'), 'test', (append) => append(random(1_000, 8, 13)))).rejects.toThrow(`cannot write the tokens to ${dir}: ENOSPC (no space left on device)`);
    } finally {
      full.mockRestore();
    }
    expect(existsSync(dir)).toBe(false); // made by this write, and empty: removed
  });

  it('a meta.json that cannot be written leaves the token files as they were, not the new ones beside the old meta.json', async () => {
    const dir = join(sandbox, 'meta-unwritable', 'data');
    mkdirSync(join(dir, 'meta.json'), { recursive: true }); // a directory: the rename of its new version fails
    writeFileSync(join(dir, 'train.bin'), 'earlier train');
    writeFileSync(join(dir, 'val.bin'), 'earlier val');
    await expect(writeDataset(dir, CharTokenizer.train('abcdefgh'), 'test', (append) => append(random(1_000, 8, 12)))).rejects.toThrow(/cannot write .*meta\.json/);
    expect([readFileSync(join(dir, 'train.bin'), 'utf8'), readFileSync(join(dir, 'val.bin'), 'utf8')]).toEqual(['earlier train', 'earlier val']);
    expect(readdirSync(dir).sort()).toEqual(['meta.json', 'train.bin', 'val.bin']);
  });

  it("closes the files of prepared data refused for being tokenized differently from the checkpoint", async () => {
    const dir = join(sandbox, 'other-tokenizer', 'data');
    await writeDataset(dir, CharTokenizer.train('abc'), 'test', (append) => append(random(50, 3, 9)));
    const opened = vi.spyOn(TokenFile, 'open');
    const closed = vi.spyOn(TokenFile.prototype, 'close');
    try {
      await expect(loadTokens(dir, { tokenizer: 'char', vocabSize: 512, existing: CharTokenizer.train('abcd') })).rejects.toThrow(
        `the data in ${dir} was tokenized differently from the checkpoint`,
      );
      expect(opened).toHaveBeenCalledTimes(2);
      expect(closed).toHaveBeenCalledTimes(2);
    } finally {
      [opened, closed].forEach((s) => s.mockRestore());
    }
    // tokenizers alike in kind and size: the refusal says the data's is another one
    await expect(loadTokens(dir, { tokenizer: 'char', vocabSize: 512, existing: CharTokenizer.train('abd') })).rejects.toThrow(
      `the data in ${dir} was tokenized differently from the checkpoint (another char tokenizer of 3 tokens); pass --data FILE to re-tokenize`,
    );
  });

  it.runIf(existsSync('/proc/self/fd'))('a meta.json refused after train.bin was opened leaves no file open', async () => {
    const dir = join(sandbox, 'bad-val-count', 'data');
    const tokenizer = CharTokenizer.train('ab');
    await writeDataset(dir, tokenizer, 'test', (append) => append(random(50, 2, 9)));
    const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8'));
    writeFileSync(join(dir, 'meta.json'), JSON.stringify({ ...meta, val: '5' })); // checked only when val.bin is opened
    const open = readdirSync('/proc/self/fd').length;
    await expect(loadDataset(dir)).rejects.toThrow('field "val" must be an integer >= 0, got "5"');
    expect(readdirSync('/proc/self/fd').length).toBe(open);
  });

  it('reads data prepared before meta.json recorded a dtype as int32', async () => {
    const dir = join(sandbox, 'int32', 'data');
    mkdirSync(dir, { recursive: true });
    const tokenizer = CharTokenizer.train('abc');
    const [train, val] = [Int32Array.of(0, 1, 2, 1, 0), Int32Array.of(2, 2)];
    writeFileSync(join(dir, 'train.bin'), new Uint8Array(train.buffer));
    writeFileSync(join(dir, 'val.bin'), new Uint8Array(val.buffer));
    writeFileSync(join(dir, 'meta.json'), JSON.stringify({ tokenizer: tokenizer.toJSON(), vocabSize: 3, train: 5, val: 2 }));
    const ds = await loadDataset(dir);
    expect([...ds.train.subarray(0, 5), ...ds.val.subarray(0, 2)]).toEqual([...train, ...val]);
    await ds.close();
    writeFileSync(join(dir, 'meta.json'), JSON.stringify({ tokenizer: tokenizer.toJSON(), vocabSize: 3, train: 5, val: 2, dtype: 'uint8' }));
    await expect(loadDataset(dir)).rejects.toThrow(`${join(dir, 'meta.json')}: field "dtype" must be one of uint16, int32, got "uint8"`);
  });

  it(`gpt prepare reads a file of more than one ${PIECE_BYTES / 2 ** 20} MiB piece into the tokens of the whole text`, async () => {
    const line = corpusText(50_000);
    const text = line.repeat(Math.ceil((PIECE_BYTES * 1.3) / Buffer.byteLength(line)));
    const out = join(sandbox, 'two-pieces');
    const r = await gpt('prepare', '--data', fileOf(text), '--out-dir', out);
    expect(r.code, r.err).toBe(0);
    const ds = await loadDataset(join(out, 'data'));
    const want = encodeKnown(CharTokenizer.train(text), text).ids;
    const n = Math.floor(want.length * 0.9);
    expect([ds.train.length, ds.val.length]).toEqual([n, want.length - n]);
    const [train, val] = [ds.train.subarray(0, n), ds.val.subarray(0, want.length - n)];
    expect(train.every((id, i) => id === want[i]) && val.every((id, i) => id === want[n + i])).toBe(true);
    await ds.close();
  }, 120_000);

  it("counts the corpus's characters as nanoGPT's prepare.py does (code points): an emoji is one, as it is one char token", async () => {
    const text = '😀 naïve 日本\n𝔘𝔫𝔦😀\n'.repeat(50);
    const r = await gpt('prepare', '--data', fileOf(text), '--out-dir', join(sandbox, 'astral'));
    expect(r.code, r.err).toBe(0);
    const chars = [...text].length.toLocaleString('en-US'); // Python's len(data)
    expect(r.out).toContain(`: ${chars} characters -> ${chars} tokens (char, `);
  });

  it('on a terminal, a pass that fails after its progress bar showed ends the bar, so that the error starts a line', async () => {
    const line = corpusText(50_000);
    // pieces enough that the bar shows (from the second piece on, 200 ms after the start) before the
    // last; a BPE vocabulary pass, which counts words (a char pass reads 8 MiB in tens of ms)
    const text = line.repeat(Math.ceil((PIECE_BYTES * 4.1) / Buffer.byteLength(line)));
    const path = fileOf(Buffer.concat([Buffer.from(text), Buffer.from([0xff])])); // invalid UTF-8 in the fifth piece
    const tty = process.stdout.isTTY;
    process.stdout.isTTY = true;
    try {
      const r = await gpt('prepare', '--data', path, '--tokenizer', 'bpe', '--out-dir', join(sandbox, 'failed-on-a-terminal'));
      expect(r.err).toMatch(/is not valid UTF-8 text/);
      expect(r.out).toMatch(/\[#+\.*\] \d+\/\d+ MiB learning the vocabulary/);
      expect(r.out.endsWith('\n')).toBe(true);
    } finally {
      process.stdout.isTTY = tty;
    }
  }, 120_000);

  it("reads nanoGPT's prepared GPT-2 data (uint16 train.bin and val.bin, no meta.json) with --tokenizer gpt2, and trains on it", async () => {
    const dir = join(sandbox, 'nanogpt-shakespeare');
    mkdirSync(dir);
    const text = corpusText(8_000);
    const all = GPT2.encode(text);
    const n = Math.floor(all.length * 0.9);
    writeFileSync(join(dir, 'train.bin'), new Uint8Array(Uint16Array.from(all.slice(0, n)).buffer));
    writeFileSync(join(dir, 'val.bin'), new Uint8Array(Uint16Array.from(all.slice(n)).buffer));
    const ds = await loadTokens(dir, { tokenizer: 'gpt2', vocabSize: 512 });
    expect(ds.tokenizer.kind).toBe('gpt2');
    expect([...ds.train.subarray(0, n), ...ds.val.subarray(0, all.length - n)]).toEqual(all);
    await ds.close();
    await expect(loadTokens(dir, { tokenizer: 'char', vocabSize: 512 })).rejects.toThrow(
      `${dir} has train.bin but neither meta.json nor meta.pkl: nanoGPT's prepared GPT-2 ids (uint16) read with --tokenizer gpt2, and --tokenizer is char; for other data, run \`gpt prepare\``,
    );
    const out = join(sandbox, 'nanogpt-run');
    // --tokenizer-file names GPT-2's vocabulary for such data, as for text
    const r = await gpt('train', '--data-dir', dir, '--tokenizer', 'gpt2', '--tokenizer-file', gpt3EncoderDir()!, ...TINY, '--max-iters', '2', '--out-dir', out);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`tokens: train ${n.toLocaleString('en-US')}, val ${(all.length - n).toLocaleString('en-US')}, vocab 50257`);
    writeFileSync(join(dir, 'val.bin'), new Uint8Array(3));
    await expect(loadTokens(dir, { tokenizer: 'gpt2', vocabSize: 512 })).rejects.toThrow(`${join(dir, 'val.bin')} has 3 bytes: not uint16 ids, as nanoGPT writes them`);
  }, 120_000);

  it("never reads nanoGPT's GPT-2 ids (no meta.pkl) with a character checkpoint's tokenizer, which would misread them", async () => {
    const dir = join(sandbox, 'nanogpt-gpt2-ids');
    mkdirSync(dir);
    const ids = new Uint8Array(Uint16Array.from(random(100, 65, 8)).buffer); // ids below 65: a char vocabulary's range too
    for (const file of ['train.bin', 'val.bin']) writeFileSync(join(dir, file), ids);
    const existing = CharTokenizer.train('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?\n\'-"()&$');
    await expect(loadTokens(dir, { tokenizer: 'char', vocabSize: 512, existing })).rejects.toThrow(
      `${dir} has train.bin but neither meta.json nor meta.pkl: nanoGPT's prepared GPT-2 ids (uint16) read with --tokenizer gpt2, and the checkpoint's tokenizer is char;`,
    );
  });
});

describe('a large text given to gpt train --data', () => {
  it('brings a note that gpt prepare would tokenize it once and read it from disk, and is held once, its splits views of its ids', async () => {
    const notes: string[] = [];
    const text = 'ab\n'.repeat(2 ** 24) + 'c'; // 50M characters: no note
    const ds = await buildDataset(text, { source: 'mid.txt', tokenizer: 'char', vocabSize: 512, note: (l) => notes.push(l) });
    expect(ds.train.length + ds.val.length).toBe(text.length);
    // the splits are views of the ids, not copies of them: copies held the ids twice at once (2 GB for a 200 MB text)
    expect((ds.train as Int32Array).buffer === (ds.val as Int32Array).buffer).toBe(true); // not toBe on the buffers: a failure would print 200 MB
    expect(notes).toEqual([]);
    await buildDataset(text + 'd'.repeat(2 ** 24), { source: 'big.txt', tokenizer: 'char', vocabSize: 512, note: (l) => notes.push(l) });
    expect(notes).toEqual([
      'note: big.txt (67,108,865 characters) is tokenized anew at each start and held in memory; `gpt prepare --data big.txt` does it once, and --data-dir then reads the tokens from disk',
    ]);
  }, 60_000);
});

describe('gpt prepare --data DIR: a directory of documents', () => {
  const docs: [string, string][] = [
    ['b.txt', 'Second document.\nIt has two lines.'],
    ['a/z.md', '\uFEFFA nested file, its byte-order mark dropped, é😀'],
    ['a/c.txt', 'First, by path order.\n'],
    ['a/empty.txt', ''], // a document still: followed by <|endoftext|> as any other
    ['.hidden', 'never read'],
    ['a/.git/config', 'never read either'],
  ];
  const inOrder = ['a/c.txt', 'a/empty.txt', 'a/z.md', 'b.txt'].map((name) => docs.find(([n]) => n === name)![1].replace('\uFEFF', ''));
  const corpusDir = join(sandbox, 'documents');
  for (const [name, text] of docs) {
    mkdirSync(join(corpusDir, name, '..'), { recursive: true });
    writeFileSync(join(corpusDir, name), text);
  }
  const prepared = async (tokenizer: string) => {
    const out = join(sandbox, `documents-${tokenizer}`);
    const r = await gpt('prepare', '--data', corpusDir, '--tokenizer', tokenizer, '--out-dir', out);
    expect(r.code, r.err).toBe(0);
    const ds = await loadDataset(join(out, 'data'));
    const ids = [...ds.train.subarray(0, ds.train.length), ...ds.val.subarray(0, ds.val.length)];
    await ds.close();
    return { ids, out: r.out };
  };

  it("with GPT-2's tokenizer: the files in path order, hidden ones left out, each followed by <|endoftext|>, as nanoGPT's openwebtext", async () => {
    const { ids, out } = await prepared('gpt2');
    expect(ids).toEqual(inOrder.flatMap((text) => [...GPT2.encode(text), 50256]));
    expect(out).toContain(`4 documents (the files of ${corpusDir}), each followed by <|endoftext|>`);
  });

  it('with a char tokenizer: the files joined as they are', async () => {
    const { ids, out } = await prepared('char');
    const text = inOrder.join('');
    expect(ids).toEqual([...CharTokenizer.train(text).encode(text)]);
    expect(out).toContain('joined as they are (the char tokenizer has no end-of-text token)');
  });

  it('leaves out the files under --out-dir, where an earlier run wrote its tokens (read back as text, NULs and all)', async () => {
    const dir = join(sandbox, 'documents-with-out');
    mkdirSync(join(dir, 'notes'), { recursive: true });
    inOrder.forEach((doc, i) => writeFileSync(join(dir, 'notes', `${i}.txt`), doc));
    const text = inOrder.join(''); // a char tokenizer joins the documents as they are
    for (let run = 0; run < 2; run++) {
      const r = await gpt('prepare', '--data', dir, '--out-dir', join(dir, 'out'));
      expect(r.code, r.err).toBe(0);
      expect(r.out).toContain(`${inOrder.length} documents (the files of ${dir}, less those under --out-dir ${join(dir, 'out')})`);
      const ds = await loadDataset(join(dir, 'out', 'data'));
      expect([...ds.train.subarray(0, ds.train.length), ...ds.val.subarray(0, ds.val.length)]).toEqual(CharTokenizer.train(text).encode(text));
      await ds.close();
    }
  });

  /** `gpt prepare --data root --tokenizer gpt2` reads `texts` as root's documents, in this order, each followed by <|endoftext|>. */
  const expectGpt2Documents = async (root: string, texts: string[]) => {
    const out = `${root}-out`;
    const r = await gpt('prepare', '--data', root, '--tokenizer', 'gpt2', '--out-dir', out);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`${texts.length} documents (the files of ${root}), each followed by <|endoftext|>`);
    const ds = await loadDataset(join(out, 'data'));
    const ids = [...ds.train.subarray(0, ds.train.length), ...ds.val.subarray(0, ds.val.length)];
    await ds.close();
    expect(ids).toEqual(texts.flatMap((text) => [...GPT2.encode(text), 50256]));
  };

  it.runIf(process.platform !== 'win32')('follows links, to directories too, walking a directory met again once; a dangling link is left out', async () => {
    const root = join(sandbox, 'linked-documents');
    const elsewhere = join(sandbox, 'linked-elsewhere');
    mkdirSync(join(elsewhere, 'sub'), { recursive: true });
    mkdirSync(root);
    writeFileSync(join(root, 'a.txt'), 'First.');
    writeFileSync(join(elsewhere, 'x.txt'), 'In a linked directory.');
    writeFileSync(join(elsewhere, 'sub', 'y.txt'), 'Deeper in it.');
    symlinkSync(elsewhere, join(root, 'more')); // read as root/more/...
    symlinkSync('.', join(root, 'loop')); // root again: not walked twice, nor forever
    symlinkSync(join(sandbox, 'missing'), join(root, 'gone'));
    // in path order: a.txt, more/sub/y.txt, more/x.txt
    await expectGpt2Documents(root, ['First.', 'Deeper in it.', 'In a linked directory.']);
  });

  it.runIf(process.platform !== 'win32')('reads a file met again (a link to it, a hard link) once, under its first path: a document twice over could sit in train and val both', async () => {
    const root = join(sandbox, 'linked-files');
    mkdirSync(join(root, 'b'), { recursive: true });
    writeFileSync(join(root, 'a.txt'), 'Once only.');
    writeFileSync(join(root, 'z.txt'), 'Another.');
    symlinkSync('../a.txt', join(root, 'b', 'again.txt'));
    linkSync(join(root, 'a.txt'), join(root, 'c.txt'));
    await expectGpt2Documents(root, ['Once only.', 'Another.']);
  });

  it('an empty directory is refused as bad usage (exit 2), naming it', async () => {
    const empty = join(sandbox, 'no-documents');
    mkdirSync(join(empty, '.git'), { recursive: true });
    writeFileSync(join(empty, '.git', 'HEAD'), 'x');
    const r = await gpt('prepare', '--data', empty, '--out-dir', join(sandbox, 'none'));
    expectOneLine(r, 2, new RegExp(`^gpt prepare: ${empty} holds no files to read as text$`));
  });
});

describe('prepared token ids given as text', () => {
  // a char vocabulary's ids are below 128: as uint16 each is an ASCII byte and a NUL, valid UTF-8
  const root = join(sandbox, 'ids-as-text');
  const data = join(root, 'out', 'data');
  const refusal = (command: string, file: string) =>
    new RegExp(`^gpt ${command}: flag --data: ${file.replaceAll('.', '\\.')} holds prepared token ids, not text: give the directory to gpt train or gpt eval as --data-dir ${data}$`);

  it('train.bin or val.bin beside meta.json is refused in one line by gpt prepare and gpt train, not tokenized as text', async () => {
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'corpus.txt'), corpusText(3_000));
    expect((await gpt('prepare', '--data', join(root, 'corpus.txt'), '--out-dir', join(root, 'out'))).code).toBe(0);
    for (const split of ['train.bin', 'val.bin']) {
      const file = join(data, split);
      expectOneLine(await gpt('prepare', '--data', file, '--out-dir', join(root, 'again')), 2, refusal('prepare', file));
      expectOneLine(await gpt('train', '--data', file, '--out-dir', join(root, 'run'), ...TINY, '--max-iters', '1'), 2, refusal('train', file));
    }
    expect(readdirSync(root).sort()).toEqual(['corpus.txt', 'out']);
  });

  it("a directory of documents holding nanoGPT's prepared data (data/shakespeare_char: input.txt, train.bin, val.bin, meta.pkl) is refused, naming train.bin", async () => {
    const nano = join(root, 'shakespeare_char');
    mkdirSync(nano, { recursive: true });
    writeFileSync(join(nano, 'input.txt'), 'First Citizen:\n');
    writeFileSync(join(nano, 'train.bin'), new Uint8Array(new Uint16Array([1, 2, 3, 4]).buffer));
    writeFileSync(join(nano, 'val.bin'), new Uint8Array(new Uint16Array([1, 2]).buffer));
    writeFileSync(join(nano, 'meta.pkl'), 'not read');
    const r = await gpt('prepare', '--data', nano, '--out-dir', join(root, 'nano-out'));
    expectOneLine(r, 2, new RegExp(`^gpt prepare: flag --data: ${join(nano, 'train.bin').replaceAll('.', '\\.')} holds prepared token ids, not text: give the directory to gpt train or gpt eval as --data-dir ${nano}$`));
  });
});

describe('gpt prepare --val-fraction', () => {
  it('holds out the last fraction of the tokens for validation (nanoGPT holds out 0.0005 of OpenWebText); 0 and 1 are refused', async () => {
    const text = corpusText(30_000);
    const out = join(sandbox, 'val-fraction');
    const r = await gpt('prepare', '--data', fileOf(text), '--val-fraction', '0.0005', '--out-dir', out);
    expect(r.code, r.err).toBe(0);
    const ds = await loadDataset(join(out, 'data'));
    const want = CharTokenizer.train(text).encode(text);
    const n = Math.floor(want.length * (1 - 0.0005));
    expect([ds.train.length, ds.val.length]).toEqual([n, want.length - n]);
    expect([...ds.val.subarray(0, ds.val.length)]).toEqual(want.slice(n));
    await ds.close();
    for (const bad of ['0', '1']) {
      const refused = await gpt('prepare', '--data', fileOf(text), '--val-fraction', bad, '--out-dir', join(sandbox, `val-${bad}`));
      expect(refused.err).toMatch(new RegExp(`^gpt prepare: flag --val-fraction must be a finite number in \\(0, 1\\), got '${bad}'$`));
    }
    const short = await gpt('prepare', '--data', fileOf('ab'), '--val-fraction', '0.6', '--out-dir', join(sandbox, 'val-short'));
    expect(short.code).toBe(2);
    expect(short.err).toMatch(/is too short: 2 token\(s\) cannot be split into train and val at --val-fraction 0\.6$/);
  });

  it('a val split shorter than a block is one line from gpt train, naming --block-size, before any step', async () => {
    const out = join(sandbox, 'val-tiny');
    expect((await gpt('prepare', '--data', fileOf(corpusText(2_000)), '--val-fraction', '0.004', '--out-dir', out)).code).toBe(0); // 8 val tokens
    const r = await gpt('train', '--data-dir', join(out, 'data'), ...TINY, '--max-iters', '1', '--out-dir', join(sandbox, 'val-tiny-run'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^gpt train: the val split has 8 tokens, too few for sequences of --block-size 16 and their next-token targets: it needs at least 17$/);
    expect(r.out).not.toMatch(/device:|step/);
  });

  it('splits at the fraction as decimal arithmetic does, not one token off where 1 - F rounds below it in binary (0.8, 0.9)', async () => {
    const tokenizer = CharTokenizer.train('ab');
    for (const [fraction, total] of [['0.8', 5], ['0.9', 10], ['0.8', 1_000], ['0.7', 1_000], ['0.0005', 4_000], ['0.1', 12_345]] as const) {
      // the train split in exact decimal arithmetic: floor(total * (1 - F)), F = digits / 10^places
      const places = fraction.length - 2;
      const scale = 10n ** BigInt(places);
      const want = Number((BigInt(total) * (scale - BigInt(fraction.slice(2)))) / scale);
      const counts = await writeDataset(join(sandbox, `split-${fraction}-${total}`), tokenizer, 'test', (append) => append(new Int32Array(total)), Number(fraction));
      expect(counts, `${fraction} of ${total}`).toEqual({ train: want, val: total - want });
    }
  });
});

describe('gpt prepare --workers', () => {
  it('writes the same files whatever the number of threads (by default, of CPU cores): a text cut mid-line at the same places', async () => {
    // one line of words: every piece is cut mid-line (rough), where BPE's chunks, so its vocabulary and ids, depend on the cut
    const words = corpusText(20_000).replaceAll('\n', ' ');
    const path = fileOf(words.repeat(Math.ceil(9 * 2 ** 20 / Buffer.byteLength(words)))); // more than one 8 MiB piece
    const files: Buffer[][] = [];
    for (const workers of ['1', '2']) {
      const out = join(sandbox, `workers-${workers}`);
      const r = await gpt('prepare', '--data', path, '--tokenizer', 'bpe', '--vocab-size', '300', '--workers', workers, '--out-dir', out);
      expect(r.code, r.err).toBe(0);
      files.push(['train.bin', 'val.bin', 'meta.json'].map((f) => readFileSync(join(out, 'data', f))));
    }
    expect(files[1]!.map((bytes, i) => bytes.equals(files[0]![i]!))).toEqual([true, true, true]);
  }, 120_000);
});
