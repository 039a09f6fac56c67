// `gpt prepare` writes what nanoGPT's train.py and sample.py read as they are: for the char tokenizer
// the files of its data/shakespeare_char/prepare.py (train.bin, val.bin, meta.pkl: the oracle is
// test/fixtures/nanogpt-prepare, written by that prepare.py's code, for a text of Unix line ends and
// one of Windows and lone-CR ones, which its open(path, 'r') reads as "\n"), for GPT-2's ids those of
// its data/openwebtext/prepare.py (uint16, <|endoftext|> = 50256 after each document, no meta.pkl).
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTokens, type Dataset } from '../src/cli/data.js';
import { parsePickle } from '../src/io/pickle.js';
import { gpt, tempDir } from './cli-helpers.js';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'nanogpt-prepare');
const CRLF_FIXTURE = join(FIXTURE, 'crlf');
const TORCH_FIXTURES = join(import.meta.dirname, 'fixtures', 'torch');
const CHAR = { tokenizer: 'char', vocabSize: 512 };

/** A pickled dict as nested [key, value] lists, so that the order of its entries is compared too (Python keeps insertion order). */
const entries = (value: unknown): unknown => (value instanceof Map ? [...value].map(([k, v]) => [k, entries(v)]) : value);

describe("gpt prepare: nanoGPT's files", () => {
  const sandbox = tempDir('prepare-nanogpt');

  /** `gpt prepare --tokenizer char` of `fixture`'s input.txt into `out`: the fixture's train.bin and val.bin byte for byte, its meta.pkl's dict; the data directory. */
  async function preparedAsNanoGpt(fixture: string, out: string): Promise<string> {
    const r = await gpt('prepare', '--data', join(fixture, 'input.txt'), '--out-dir', out);
    expect(r.code, r.err).toBe(0);
    const data = join(out, 'data');
    for (const f of ['train.bin', 'val.bin']) expect(readFileSync(join(data, f)), f).toEqual(readFileSync(join(fixture, f)));
    const ours = parsePickle(readFileSync(join(data, 'meta.pkl')), 'ours');
    expect(entries(ours)).toEqual(entries(parsePickle(readFileSync(join(fixture, 'meta.pkl')), 'nanoGPT')));
    expect((ours as Map<string, unknown>).get('vocab_size')).toBe(34);
    return data;
  }

  it("--tokenizer char writes shakespeare_char's prepare.py's train.bin and val.bin byte for byte, and its meta.pkl's dict; both metas read back, and agree", async () => {
    const data = await preparedAsNanoGpt(FIXTURE, join(sandbox, 'char'));

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

  it("reads Windows line ends (\\r\\n) and lone \\r as prepare.py's open() does, as \\n: its files byte for byte, and gpt train --data FILE's tokens and vocabulary the same", async () => {
    const data = await preparedAsNanoGpt(CRLF_FIXTURE, join(sandbox, 'crlf'));
    const prepared = await loadTokens(data, CHAR);
    const onTheFly = await loadTokens(join(CRLF_FIXTURE, 'input.txt'), CHAR); // a text tokenized at the start of gpt train --data FILE
    expect(onTheFly.tokenizer.toJSON()).toEqual(prepared.tokenizer.toJSON());
    const idsOf = (ds: Dataset) => [ds.train, ds.val].map((split) => [...split.subarray(0, split.length)]);
    expect(idsOf(onTheFly)).toEqual(idsOf(prepared));
    await Promise.all([prepared.close(), onTheFly.close()]);
  });

  it('--tokenizer gpt2 reads Windows line ends as \\n too: the ids of the text nanoGPT read (shakespeare/prepare.py opens it as shakespeare_char does)', async () => {
    // the text Python read, as its character ids and vocabulary (the fixture's) spell it, written with Unix line ends
    const itos = (parsePickle(readFileSync(join(CRLF_FIXTURE, 'meta.pkl')), 'nanoGPT') as Map<string, Map<number, string>>).get('itos')!;
    const read = ['train.bin', 'val.bin'].flatMap((f) => [...new Uint16Array(new Uint8Array(readFileSync(join(CRLF_FIXTURE, f))).buffer)]).map((id) => itos.get(id)).join('');
    expect(read).not.toContain('\r');
    writeFileSync(join(sandbox, 'as-python-read.txt'), read);
    const idsOf = async (text: string, out: string) => {
      const r = await gpt('prepare', '--data', text, '--tokenizer', 'gpt2', '--out-dir', join(sandbox, out));
      expect(r.code, r.err).toBe(0);
      return ['train.bin', 'val.bin'].map((f) => readFileSync(join(sandbox, out, 'data', f)));
    };
    expect(await idsOf(join(CRLF_FIXTURE, 'input.txt'), 'gpt2-crlf')).toEqual(await idsOf(join(sandbox, 'as-python-read.txt'), 'gpt2-lf'));
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
