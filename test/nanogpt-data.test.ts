// nanoGPT's prepared data as it is: data/shakespeare_char (uint16 ids, and meta.pkl, a Python
// pickle of the character vocabulary) and the GPT-2 sets (uint16 ids, no meta.pkl). The pickles
// below were written by CPython 3.11's pickle module, the oracle for parsePickle; each is what the
// comment above it shows.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTokens } from '../src/cli/data.js';
import { parsePickle } from '../src/io/pickle.js';
import { gpt, tempDir, TINY } from './cli-helpers.js';

const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));

// pickle.dumps({'a': [1, -2, 300, 70000, -70000, 2**40, -(2**40), 1.5, None, True, False, (1,), (1,2), (1,2,3), (1,2,3,4), ''],
//               7: 'x\u00e9\U0001F600', 'long': 'y'*256}, protocol=P) for P = 2 and 4
const PLAIN = {
  2: 'gAJ9cQAoWAEAAABhcQFdcQIoSwFK/v///00sAUpwEQEASpDu/v+KBgAAAAAAAYoGAAAAAAD/Rz/4AAAAAAAAToiJSwGFcQNLAUsChnEESwFLAksDh3EFKEsBSwJLA0sEdHEGWAAAAABxB2VLB1gHAAAAeMOp8J+YgHEIWAQAAABsb25ncQlYAAEAAHl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXlxCnUu',
  4: 'gASVdgEAAAAAAAB9lCiMAWGUXZQoSwFK/v///00sAUpwEQEASpDu/v+KBgAAAAAAAYoGAAAAAAD/Rz/4AAAAAAAAToiJSwGFlEsBSwKGlEsBSwJLA4eUKEsBSwJLA0sEdJSMAJRlSweMB3jDqfCfmICUjARsb25nlFgAAQAAeXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eZR1Lg==',
};
const PLAIN_VALUE = new Map<unknown, unknown>([
  ['a', [1, -2, 300, 70000, -70000, 2 ** 40, -(2 ** 40), 1.5, null, true, false, [1], [1, 2], [1, 2, 3], [1, 2, 3, 4], '']],
  [7, 'x\u00e9\u{1F600}'],
  ['long', 'y'.repeat(256)],
]);

// data/shakespeare_char/prepare.py's meta.pkl for the text
// "First Citizen:\nBefore we proceed any further, hear me speak.\n\u00e9\U0001F600\t'":
// chars = sorted(list(set(data))); {'vocab_size': 31, 'itos': {i: ch}, 'stoi': {ch: i}}, protocol 4 (Python 3.8+'s default)
const META_TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\u00e9\u{1F600}\t'";
const META_PKL =
  'gASVZAEAAAAAAAB9lCiMCnZvY2FiX3NpemWUSx+MBGl0b3OUfZQoSwCMAQmUSwGMAQqUSwKMASCUSwOMASeUSwSMASyUSwWMAS6USwaMATqUSweMAUKUSwiMAUOUSwmMAUaUSwqMAWGUSwuMAWOUSwyMAWSUSw2MAWWUSw6MAWaUSw+MAWiUSxCMAWmUSxGMAWuUSxKMAW2USxOMAW6USxSMAW+USxWMAXCUSxaMAXKUSxeMAXOUSxiMAXSUSxmMAXWUSxqMAXeUSxuMAXmUSxyMAXqUSx2MAsOplEsejATwn5iAlHWMBHN0b2mUfZQoaARLAGgFSwFoBksCaAdLA2gISwRoCUsFaApLBmgLSwdoDEsIaA1LCWgOSwpoD0sLaBBLDGgRSw1oEksOaBNLD2gUSxBoFUsRaBZLEmgXSxNoGEsUaBlLFWgaSxZoG0sXaBxLGGgdSxloHksaaB9LG2ggSxxoIUsdaCJLHnV1Lg==';

describe('parsePickle', () => {
  for (const protocol of [2, 4] as const) {
    it(`reads CPython's protocol ${protocol} pickle of plain data: dicts (number keys too), lists, tuples, strings, ints, floats, None, booleans`, () => {
      expect(parsePickle(bytes(PLAIN[protocol]))).toEqual(PLAIN_VALUE);
    });
  }

  it('refuses what would name a class or call a function, and a cut-short pickle, naming the file and the byte', () => {
    // pickle.dumps(collections.OrderedDict(a=1), protocol=4): STACK_GLOBAL, then REDUCE
    const od = bytes('gASVKQAAAAAAAACMC2NvbGxlY3Rpb25zlIwLT3JkZXJlZERpY3SUk5QpUpSMAWGUSwFzLg==');
    expect(() => parsePickle(od, 'od.pkl')).toThrow(/^od\.pkl: opcode 0x93 is not one of plain data \(dicts, lists, tuples, strings, numbers\): it is not read \(at byte 39\)$/);
    // the classic exploit: GLOBAL os.system, then REDUCE
    expect(() => parsePickle(new TextEncoder().encode("cos\nsystem\n(S'id'\ntR."), 'x.pkl')).toThrow(/^x\.pkl: opcode 0x63 is not one of plain data/);
    const meta = bytes(META_PKL);
    expect(() => parsePickle(meta.subarray(0, 100), 'meta.pkl')).toThrow(/^meta\.pkl: cut short \(at byte 100\)$/);
    // pickle.dumps({'a': 1}, protocol=0): plain data in the text protocol's opcodes, which are not read
    expect(() => parsePickle(new TextEncoder().encode("(dp0\nVa\np1\nI1\ns."), 'p0.pkl')).toThrow(/^p0\.pkl: opcode 0x64 .*not read; a pickle of protocol 0 or 1, where only 2 to 5 \(pickle\.dump's default\) are read \(at byte 1\)$/);
    // a key without its value: Python's loader fails too (protocol 4: PROTO, EMPTY_DICT, MARK, 1, 2, 3, SETITEMS, STOP)
    expect(() => parsePickle(Uint8Array.of(0x80, 4, 0x7d, 0x28, 0x4b, 1, 0x4b, 2, 0x4b, 3, 0x75, 0x2e), 'odd.pkl')).toThrow(/^odd\.pkl: SETITEMS with 3 values, not key-value pairs \(at byte 11\)$/);
  });
});

describe("nanoGPT's prepared data", () => {
  const sandbox = tempDir('nanogpt-data');

  it('data/shakespeare_char: meta.pkl gives the character vocabulary (code-point order, as nanoGPT sorts), and a run trains on it', async () => {
    const dir = join(sandbox, 'shakespeare_char');
    mkdirSync(dir);
    writeFileSync(join(dir, 'meta.pkl'), bytes(META_PKL));
    const chars = [...new Set(META_TEXT)].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!); // Python's sorted() on str
    const text = META_TEXT.repeat(12);
    const ids = Uint16Array.from([...text], (ch) => chars.indexOf(ch));
    const n = Math.floor(ids.length * 0.9);
    writeFileSync(join(dir, 'train.bin'), ids.subarray(0, n));
    writeFileSync(join(dir, 'val.bin'), ids.subarray(n));
    const ds = await loadTokens(dir, { tokenizer: 'char', vocabSize: 512 });
    expect(ds.tokenizer.kind).toBe('char');
    expect(ds.tokenizer.vocabSize).toBe(31);
    expect(ds.tokenizer.decode(ds.train.subarray(0, n)) + ds.tokenizer.decode(ds.val.subarray(0, ids.length - n))).toBe(text);
    await ds.close();
    const r = await gpt('train', '--data-dir', dir, ...TINY, '--max-iters', '2', '--out-dir', join(sandbox, 'run'));
    expect(r.code, r.err).toBe(0);
    // the flags may not ask for another tokenizer than meta.pkl's
    const gpt2 = await gpt('train', '--data-dir', dir, '--tokenizer', 'gpt2', ...TINY, '--max-iters', '2', '--out-dir', join(sandbox, 'run2'));
    expect(gpt2.err).toBe(`gpt train: flag --tokenizer gpt2 differs from the char tokenizer of ${dir}, which this run uses`);
    // an id past meta.pkl's vocabulary is named with its file and index
    writeFileSync(join(dir, 'val.bin'), Uint16Array.of(0, 31));
    await expect(loadTokens(dir, { tokenizer: 'char', vocabSize: 512 })).rejects.toThrow(`${join(dir, 'val.bin')}: token 31 at index 1 is outside the vocabulary [0, 31) of meta.pkl's vocabulary`);
  }, 120_000);

  it('a meta.pkl that is not a character vocabulary is refused, naming the file', async () => {
    const dir = join(sandbox, 'bad-meta');
    mkdirSync(dir);
    writeFileSync(join(dir, 'train.bin'), Uint16Array.of(0, 1, 0, 1));
    writeFileSync(join(dir, 'val.bin'), Uint16Array.of(0, 1));
    writeFileSync(join(dir, 'meta.pkl'), bytes(PLAIN[4]));
    await expect(loadTokens(dir, { tokenizer: 'char', vocabSize: 512 })).rejects.toThrow(`${join(dir, 'meta.pkl')}: expected a dict with "itos" (id -> character), as nanoGPT's shakespeare_char writes`);
  });
});
