// gpt prepare's worker threads (tokenizer-pool.ts, tokenize-worker.ts). The CLI finds the worker as
// built JavaScript beside it, which a checkout run as TypeScript lacks, so every other test tokenizes
// on one thread; here the worker is bundled from src/ and the pool given its path. Oracles: the
// gpt-3-encoder package for GPT-2's ids, a plain count for the characters a char tokenizer leaves out.
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { chunkCounterPool, tokenizerPool, type TextPool } from '../src/cli/tokenizer-pool.js';
import { gpt3EncoderDir, loadGpt2Tokenizer } from '../src/cli/tokenizer-files.js';
import { CharTokenizer, countChunks, type KnownTokens } from '../src/gpt/tokenizer/index.js';
import { corpusText } from './cli-helpers.js';

// under node_modules, so that the bundle's package imports resolve as the source's do
const bundleDir = fileURLToPath(new URL(`../node_modules/.cache/tokenizer-pool-test-${process.pid}/`, import.meta.url));
afterAll(() => rmSync(bundleDir, { recursive: true, force: true }));
const outfile = `${bundleDir}tokenize-worker.mjs`;
await build({ entryPoints: [fileURLToPath(new URL('../src/cli/tokenize-worker.ts', import.meta.url))], outfile, bundle: true, platform: 'node', format: 'esm', packages: 'external', logLevel: 'silent' });
const WORKER = pathToFileURL(outfile);

const reference: { encode: (text: string) => number[] } = createRequire(import.meta.url)(gpt3EncoderDir()!);
const GPT2 = await loadGpt2Tokenizer('');

/** `texts` run on `pool`'s threads (not this one) all at once, so that threads finish out of turn; the results in the texts' order. */
async function runAll<R>(pool: TextPool<R>, texts: string[]): Promise<R[]> {
  try {
    expect(pool.threads).toBeGreaterThan(1);
    return await Promise.all(texts.map((text) => pool.run(text)));
  } finally {
    await pool.close();
  }
}

// pieces of very different sizes, the largest first: a later one's thread finishes before an earlier one's
const PROSE = corpusText(60_000);
const PIECES = [PROSE, PROSE.slice(0, 300), "don't  stop\r\n", PROSE.slice(0, 20_000), 'é😀 日本 <|endoftext|> 42', PROSE.slice(0, 5)];

describe('gpt prepare on worker threads', () => {
  it("encodes each text as GPT-2 does (gpt-3-encoder), the ids handed back in the texts' order", async () => {
    const results = await runAll(tokenizerPool(GPT2, 3, WORKER), PIECES);
    results.forEach((r, i) => expect([...r.ids], `piece ${i}`).toEqual(reference.encode(PIECES[i]!)));
  });

  it('hands back the characters a char tokenizer leaves out, counted', async () => {
    const tok = CharTokenizer.train('abc \n');
    const texts = ['abcx yz\n', 'aaa', 'xxé'];
    const results: KnownTokens[] = await runAll(tokenizerPool(tok, 2, WORKER), texts);
    results.forEach((r, i) => {
      const left = [...texts[i]!].filter((ch) => !'abc \n'.includes(ch));
      expect(r.dropped).toBe(left.length);
      expect([...r.unknown.entries()]).toEqual([...new Set(left)].map((ch) => [ch, left.filter((c) => c === ch).length]));
    });
  });

  it("counts each text's BPE chunks as this thread does", async () => {
    const results = await runAll(chunkCounterPool(3, WORKER), PIECES);
    results.forEach((r, i) => expect([...r], `piece ${i}`).toEqual([...countChunks(PIECES[i]!)]));
  });
});
