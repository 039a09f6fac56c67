// `gpt prepare` writes what nanoGPT's train.py and sample.py read as they are: for the char tokenizer
// the files of its data/shakespeare_char/prepare.py (train.bin, val.bin, meta.pkl: the oracle is
// test/fixtures/nanogpt-prepare, written by that prepare.py's code), for GPT-2's ids those of its
// data/openwebtext/prepare.py (uint16, <|endoftext|> = 50256 after each document, no meta.pkl).
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTokens } from '../src/cli/data.js';
import { parsePickle } from '../src/io/pickle.js';
import { gpt, tempDir } from './cli-helpers.js';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'nanogpt-prepare');
const TORCH_FIXTURES = join(import.meta.dirname, 'fixtures', 'torch');
const CHAR = { tokenizer: 'char', vocabSize: 512 };

/** A pickled dict as nested [key, value] lists, so that the order of its entries is compared too (Python keeps insertion order). */
const entries = (value: unknown): unknown => (value instanceof Map ? [...value].map(([k, v]) => [k, entries(v)]) : value);

describe("gpt prepare: nanoGPT's files", () => {
  const sandbox = tempDir('prepare-nanogpt');

  it("--tokenizer char writes shakespeare_char's prepare.py's train.bin and val.bin byte for byte, and its meta.pkl's dict; both metas read back, and agree", async () => {
    const out = join(sandbox, 'char');
    const r = await gpt('prepare', '--data', join(FIXTURE, 'input.txt'), '--out-dir', out);
    expect(r.code, r.err).toBe(0);
    const data = join(out, 'data');
    for (const f of ['train.bin', 'val.bin']) expect(readFileSync(join(data, f)), f).toEqual(readFileSync(join(FIXTURE, f)));
    const ours = parsePickle(readFileSync(join(data, 'meta.pkl')), 'ours');
    expect(entries(ours)).toEqual(entries(parsePickle(readFileSync(join(FIXTURE, 'meta.pkl')), 'nanoGPT')));
    expect((ours as Map<string, unknown>).get('vocab_size')).toBe(34);

    // read back with meta.json and meta.pkl both there, then as nanoGPT's (meta.pkl alone): the same tokenizer, the same ids
    const text = readFileSync(join(FIXTURE, 'input.txt'), 'utf8');
    const both = await loadTokens(data, CHAR);
    const decoded = both.tokenizer.decode(both.train.subarray(0, both.train.length)) + both.tokenizer.decode(both.val.subarray(0, both.val.length));
    expect(decoded).toBe(text);
    await both.close();
    const nano = join(sandbox, 'char-as-nanogpt');
    cpSync(data, nano, { recursive: true });
    rmSync(join(nano, 'meta.json'));
    const pklOnly = await loadTokens(nano, CHAR);
    expect(pklOnly.tokenizer.toJSON()).toEqual(both.tokenizer.toJSON());
    await pklOnly.close();
  });

  it("a meta.pkl beside meta.json that names another vocabulary is refused in one line: neither wins", async () => {
    const out = join(sandbox, 'disagree');
    expect((await gpt('prepare', '--data', join(FIXTURE, 'input.txt'), '--out-dir', out)).code).toBe(0);
    const data = join(out, 'data');
    cpSync(join(TORCH_FIXTURES, 'nanogpt-meta.pkl'), join(data, 'meta.pkl')); // 20 other characters
    await expect(loadTokens(data, CHAR)).rejects.toThrow(
      new RegExp(`^cannot read prepared data in ${data}: its meta\\.json and meta\\.pkl name different vocabularies \\(char tokenizer of 34 tokens; meta\\.pkl's: char tokenizer of 20 tokens\\); run \`gpt prepare\` again$`),
    );
  });

  it('the token files are renamed in between the old metas going and the new ones coming: a run stopped there leaves ids no meta misdescribes', async () => {
    const out = join(sandbox, 'stopped');
    const data = join(out, 'data');
    expect((await gpt('prepare', '--data', join(FIXTURE, 'input.txt'), '--out-dir', out)).code).toBe(0);
    rmSync(join(data, 'val.bin'));
    mkdirSync(join(data, 'val.bin', 'x'), { recursive: true }); // a directory that is not empty: the rename of the new val.bin fails
    writeFileSync(join(sandbox, 'other.txt'), 'another text, with other characters: XYZ!'.repeat(3));
    const r = await gpt('prepare', '--data', join(sandbox, 'other.txt'), '--out-dir', out);
    expect(r.code).not.toBe(0);
    expect(existsSync(join(data, 'meta.json')) || existsSync(join(data, 'meta.pkl'))).toBe(false);
    await expect(loadTokens(data, CHAR)).rejects.toThrow(/neither meta\.json nor meta\.pkl/);
  });

  it('--tokenizer bpe writes no meta.pkl (nanoGPT has none for it), and removes the one an earlier char run left there', async () => {
    const out = join(sandbox, 'bpe');
    expect((await gpt('prepare', '--data', join(FIXTURE, 'input.txt'), '--out-dir', out)).code).toBe(0);
    expect(existsSync(join(out, 'data', 'meta.pkl'))).toBe(true);
    const r = await gpt('prepare', '--data', join(FIXTURE, 'input.txt'), '--tokenizer', 'bpe', '--vocab-size', '260', '--out-dir', out);
    expect(r.code, r.err).toBe(0);
    expect(existsSync(join(out, 'data', 'meta.pkl'))).toBe(false);
    const ds = await loadTokens(join(out, 'data'), CHAR);
    expect(ds.tokenizer.kind).toBe('bpe');
    await ds.close();
  });

  it("--tokenizer gpt2 on a directory of documents writes openwebtext's prepare.py's layout: uint16 ids, 50256 after each document, no meta.pkl", async () => {
    const docs = join(sandbox, 'documents');
    mkdirSync(docs);
    // GPT-2's ids, from its published vocabulary: 'Hello' 15496, ' world' 995, 'Hi' 17250
    writeFileSync(join(docs, 'a.txt'), 'Hello world');
    writeFileSync(join(docs, 'b.txt'), 'Hi');
    writeFileSync(join(docs, 'c.txt'), 'Hello');
    const out = join(sandbox, 'gpt2');
    const r = await gpt('prepare', '--data', docs, '--tokenizer', 'gpt2', '--val-fraction', '0.4', '--out-dir', out);
    expect(r.code, r.err).toBe(0);
    const data = join(out, 'data');
    expect(existsSync(join(data, 'meta.pkl'))).toBe(false);
    const ids = (f: string) => [...new Uint16Array(new Uint8Array(readFileSync(join(data, f))).buffer)];
    expect([...ids('train.bin'), ...ids('val.bin')]).toEqual([15496, 995, 50256, 17250, 50256, 15496, 50256]);
  });
});
