import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { BpeTokenizer, CharTokenizer, countChunks, describeLeftOut, encodeKnown, gpt2Chunks, Gpt2Tokenizer, splitChunks, tokenizerFromJSON } from '../src/gpt/tokenizer/index.js';
import { testCorpus } from './corpus.js';
import { fcParams } from './helpers.js';
import { workOf } from './tokenizer-work.js';

// encoding and training with their work counted, for the complexity guards (test/tokenizer-work.ts)
vi.mock('../src/gpt/tokenizer/merge-by-rank.js', async (original) => (await import('./tokenizer-work.js')).countedMergeByRank(await original()));
vi.mock('../src/gpt/tokenizer/train-bpe.js', async (original) => (await import('./tokenizer-work.js')).countedTraining(await original()));
import { existsSync, readFileSync } from 'node:fs';

const PROSE = await testCorpus();
const SHAKESPEARE_FILE = new URL('../../shared/data/tinyshakespeare.txt', import.meta.url);

// Well-formed strings over all of Unicode, plus a unit that stresses the pre-split regex
// (contractions, whitespace runs, a BOM, digits next to letters, astral characters).
const tricky = fc.constantFrom(' ', '  ', '\n', '\r\n', '\t', "'s", "'ll", "'", 'a', 'Z', 'é', '7', '!', '😀', '\uFEFF', '漢', 'ß');
const anyText = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: tricky, maxLength: 40 }),
);

// Few distinct pairs, so many ties and overlapping runs ("aaaa") for the trainer.
const fewLetters = fc.string({ unit: fc.constantFrom('a', 'b', 'aa', ' '), maxLength: 60 });

// The merges a naive trainer finds by recounting every pair of every chunk after each merge.
function naiveMerges(text: string, numMerges: number): [number, number][] {
  let words = splitChunks(text).map((chunk) => Array.from(new TextEncoder().encode(chunk)));
  const merges: [number, number][] = [];
  while (merges.length < numMerges) {
    const counts = new Map<string, number>();
    for (const w of words) {
      for (let i = 0; i + 1 < w.length; i++) {
        const key = `${w[i]},${w[i + 1]}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
    let best: [number, number] | undefined;
    let bestCount = 0;
    for (const [key, count] of counts) {
      const pair = key.split(',').map(Number) as [number, number];
      const smaller = best === undefined || pair[0] < best[0] || (pair[0] === best[0] && pair[1] < best[1]);
      if (count > bestCount || (count === bestCount && smaller)) [best, bestCount] = [pair, count];
    }
    if (best === undefined) break;
    const [a, b] = best;
    const id = 256 + merges.length;
    words = words.map((w) => {
      const out: number[] = [];
      for (let i = 0; i < w.length; i++) out.push(w[i] === a && w[i + 1] === b ? (i++, id) : w[i]!);
      return out;
    });
    merges.push(best);
  }
  return merges;
}

describe('CharTokenizer', () => {
  it('round-trips any string when trained on it, astral characters as one token', () => {
    fc.assert(
      fc.property(anyText, anyText, (s, extra) => {
        const tok = CharTokenizer.train(`${s}${extra} `); // a superset of s (never empty: refused)
        const ids = tok.encode(s);
        expect(ids.length).toBe([...s].length);
        expect(tok.decode(ids)).toBe(s);
        expect(tok.decode(Int32Array.from(ids))).toBe(s);
      }),
      fcParams(100),
    );
  });

  it('keeps lone surrogates as characters of their own', () => {
    const s = 'a\uD800b\uDC00\uD83D';
    const tok = tokenizerFromJSON(JSON.parse(JSON.stringify(CharTokenizer.train(s))));
    expect(tok.vocabSize).toBe(5);
    expect(tok.decode(tok.encode(s))).toBe(s);
  });

  it('sorts the vocabulary by code point and round-trips the corpus', () => {
    const tok = CharTokenizer.train(PROSE);
    const chars = [...new Set(PROSE)].sort((x, y) => x.codePointAt(0)! - y.codePointAt(0)!);
    expect(tok.vocabSize).toBe(chars.length);
    expect(tok.decode(chars.map((_, i) => i))).toBe(chars.join(''));
    expect(tok.decode(tok.encode(PROSE))).toBe(PROSE);
  });

  // nanoGPT's data/shakespeare_char/prepare.py on the benchmarks' corpus, where a checkout has it
  it.skipIf(!existsSync(SHAKESPEARE_FILE))('gives nanoGPT shakespeare_char: vocab 65 and a 1,003,854-token train split', () => {
    const text = readFileSync(SHAKESPEARE_FILE, 'utf8');
    const tok = CharTokenizer.train(text);
    expect(tok.vocabSize).toBe(65);
    expect(tok.decode([0, 1, 2])).toBe('\n !');
    const ids = tok.encode(text);
    expect(ids.length).toBe(1_115_394);
    const n = Math.floor(ids.length * 0.9);
    expect(n).toBe(1_003_854);
    expect(ids.length - n).toBe(111_540);
    expect(tok.decode(ids.slice(0, 13))).toBe('First Citizen');
  });

  it('names a character that is not in the vocabulary', () => {
    const tok = CharTokenizer.train('abc');
    expect(() => tok.encode('abé')).toThrow(/character "é" \(U\+00E9\) is not in the vocabulary/);
    expect(() => tok.encode('😀')).toThrow(/U\+1F600\) is not in the vocabulary/);
    expect(() => tok.decode([3])).toThrow(/token id 3 is outside the vocabulary of 3/);
  });

  it('refuses to train on empty text (a vocabulary of no characters made a model of no classes)', () => {
    expect(() => CharTokenizer.train('')).toThrow(/^CharTokenizer.train: the text is empty: a vocabulary needs at least one character$/);
  });
});

describe('encodeKnown', () => {
  it('leaves out characters a char tokenizer does not know, and says which and how often', () => {
    const tok = CharTokenizer.train('ab c');
    const known = encodeKnown(tok, 'a$b€c$ 😀');
    expect(tok.decode(known.ids)).toBe('abc ');
    expect([...known.unknown]).toEqual([['$', 2], ['€', 1], ['😀', 1]]);
    expect(describeLeftOut(known)).toBe('4 characters the tokenizer does not know were left out: "$" (U+0024) x2, "€" (U+20AC), "😀" (U+1F600)');
    expect(describeLeftOut(known, 1)).toBe('4 characters the tokenizer does not know were left out: "$" (U+0024) x2, and 2 other kinds');
    expect(describeLeftOut(encodeKnown(tok, 'ab'))).toBe('');
  });

  it('writes its counts with thousands separators, as the other counts the CLI prints', () => {
    const tok = CharTokenizer.train('ab');
    const many = encodeKnown(tok, `${'$'.repeat(1234)}a${'€'.repeat(1000)}`);
    expect(describeLeftOut(many)).toBe('2,234 characters the tokenizer does not know were left out: "$" (U+0024) x1,234, "€" (U+20AC) x1,000');
    const kinds = encodeKnown(tok, Array.from({ length: 1010 }, (_, i) => String.fromCodePoint(0x4e00 + i)).join(''));
    expect(describeLeftOut(kinds, 2)).toBe('1,010 characters the tokenizer does not know were left out: "\u4e00" (U+4E00), "\u4e01" (U+4E01), and 1,008 other kinds');
  });

  it('gives each known character its code-point rank and counts the rest, as a walk over code points does', () => {
    fc.assert(
      fc.property(anyText, anyText, (trained, given) => {
        const tok = CharTokenizer.train(`${trained} `);
        // the reference: the training text's distinct code points (lone surrogates included), sorted
        const vocab = [...new Set([...`${trained} `])].sort((x, y) => x.codePointAt(0)! - y.codePointAt(0)!);
        const chars = [...given];
        const unknown = new Map<string, number>();
        for (const ch of chars.filter((c) => !vocab.includes(c))) unknown.set(ch, (unknown.get(ch) ?? 0) + 1);
        const known = encodeKnown(tok, given);
        expect([...known.ids]).toEqual(chars.filter((c) => vocab.includes(c)).map((c) => vocab.indexOf(c)));
        expect([...known.unknown]).toEqual([...unknown]);
        expect(known.dropped).toBe(chars.length - known.ids.length);
      }),
      fcParams(100),
    );
  });

  it('takes a text of more characters than a JavaScript array holds (about 134M; pushing past that aborts V8)', () => {
    const tok = CharTokenizer.train('ab');
    const text = 'ab'.repeat(75_000_000);
    const t0 = performance.now();
    const { ids, dropped } = encodeKnown(tok, text);
    console.log(`encodeKnown: ${text.length.toLocaleString('en-US')} characters in ${(performance.now() - t0).toFixed(0)} ms`);
    expect([ids.length, dropped]).toEqual([150_000_000, 0]);
    expect([ids[0], ids[1], ids[149_999_998], ids[149_999_999]]).toEqual([0, 1, 0, 1]);
  });

  it('takes a text of more BPE tokens than a JavaScript array holds', () => {
    const bytes = BpeTokenizer.train('', 256); // no merges: a token per byte
    const text = ` ${'a'.repeat(999)}`.repeat(120_000); // 120k chunks " aa…a" of 1000 tokens each
    const { ids } = encodeKnown(bytes, text);
    expect(ids.length).toBe(120_000_000);
    expect([ids[0], ids[1], ids[999], ids[1000], ids[119_999_999]]).toEqual([32, 97, 97, 32, 97]);
  });

  it('a BPE tokenizer covers every text', () => {
    const tok = BpeTokenizer.train('abc abc', 260);
    expect(encodeKnown(tok, 'xyz $').dropped).toBe(0);
    expect(tok.decode(encodeKnown(tok, 'xyz $').ids)).toBe('xyz $');
  });
});

describe('splitChunks', () => {
  it('cuts GPT-4 style and always joins back into the text', () => {
    const chunks = ['Hello', ' world', "'s", ' ', '123', '45', 'th', ' ', ' test', '!!\n\n', ' ', ' x', ':\n', '\t\n', '"(', 'Hi', ' \n'];
    expect(splitChunks(chunks.join(''))).toEqual(chunks);
    fc.assert(
      fc.property(anyText, (s) => {
        expect(splitChunks(s).join('')).toBe(s);
      }),
      fcParams(100),
    );
  });
});

// V8's regular expressions run out of backtracking stack on a run of about 2^22 letters (2^23 spaces)
// in a text that holds a character past U+00FF: a single-line DNA sequence after a curly quote took
// `gpt prepare` down with "Maximum call stack size exceeded". A chunk is cut every 2^20 UTF-16 units.
describe('a run longer than a regular expression can match in one go', () => {
  const RUN = 2 ** 20;
  const dna = Array.from({ length: 5 * RUN + 7 }, (_, i) => 'ACGT'[(i * 7919) % 4]).join('');
  const spaces = '\u3000'.repeat(9 * RUN);
  const cut = (chunk: string) => Array.from({ length: Math.ceil(chunk.length / RUN) }, (_, k) => chunk.slice(k * RUN, (k + 1) * RUN));
  // chunks of megabytes: a failure shown as lengths and first characters, not as a diff of them
  const shown = (chunks: string[]) => chunks.map((c) => `${JSON.stringify(c.slice(0, 2))} x${c.length}`);
  const same = (got: string[], want: string[]) => expect(got.length === want.length && got.every((c, i) => c === want[i]), `${shown(got)}`).toBe(true);

  it("cuts it every 2^20 units, as the whole run's chunk would be cut, for GPT-2's pattern and ours", () => {
    // GPT-2's letter run takes no leading symbol, ours takes one; a whitespace run leaves its last character to the word after
    same(gpt2Chunks(`’${dna}`), ['’', ...cut(dna)]);
    same(splitChunks(`’${dna}`), cut(`’${dna}`));
    same(gpt2Chunks(`${spaces}x`), [...cut(spaces.slice(1)), '\u3000', 'x']);
    same(splitChunks(`${spaces}x`), [...cut(spaces.slice(1)), '\u3000x']);
    // a surrogate pair is kept whole: the piece ends a unit early
    const symbols = `!${'😀'.repeat(RUN)}`; // one symbol run of 2^21 + 1 units
    expect(splitChunks(symbols).map((c) => c.length)).toEqual([RUN - 1, RUN, 2]);
  });

  it('encodes and decodes back (GPT-2\'s byte tokens and our BPE), counting the same chunks', () => {
    const text = `’${dna}`;
    const bytes = new Gpt2Tokenizer([]); // no merges: the cost of the pattern alone
    expect(bytes.decode(bytes.encodeIds(text)) === text).toBe(true);
    const bpe = BpeTokenizer.train('ACGT GATTACA', 270);
    expect(bpe.decode(bpe.encodeIds(text)) === text).toBe(true);
    expect([...countChunks(text)].map(([c, n]) => [c.length, n])).toEqual([[RUN, 1], [RUN, 4], [8, 1]]);
  });
});

describe('BpeTokenizer', () => {
  it('learns the textbook merges of "aaabdaaabac", ties to the smaller pair', () => {
    const tok = BpeTokenizer.train('aaabdaaabac', 259);
    expect(tok.toJSON().merges).toEqual([[97, 97], [97, 98], [256, 257]]);
    expect(tok.encode('aaabdaaabac')).toEqual([258, 100, 258, 97, 99]);
    // with nothing left to merge, training stops short of the requested size
    expect(BpeTokenizer.train('ab ab', 1000).vocabSize).toBe(258);
  });

  it('learns the same merges as a full recount after every merge', () => {
    fc.assert(
      fc.property(fc.oneof(anyText, fewLetters), fc.integer({ min: 0, max: 40 }), (s, numMerges) => {
        expect(BpeTokenizer.train(s, 256 + numMerges).toJSON().merges).toEqual(naiveMerges(s, numMerges));
      }),
      fcParams(100),
    );
  });

  it("trainOnCounts learns train()'s merges from pieces' chunk counts added in the text's order; bad counts are one line", () => {
    // lines of printable ASCII at both ends: a cut after a line break between them splits no chunk (gpt prepare's pieces)
    const line = fc.stringMatching(/^[a-c.!][a-c .!'\r\u00e9\u{1F600}]{0,12}[a-c.!]$/u);
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 12 }), fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }), fc.integer({ min: 0, max: 30 }), (lines, cuts, numMerges) => {
        const pieces = [''];
        lines.forEach((l, i) => {
          if (i > 0 && cuts[i]) pieces.push('');
          pieces[pieces.length - 1] += `${l}${i < lines.length - 1 ? '\n' : ''}`;
        });
        const counts = new Map<string, number>();
        for (const piece of pieces) for (const [chunk, n] of countChunks(piece)) counts.set(chunk, (counts.get(chunk) ?? 0) + n);
        expect(BpeTokenizer.trainOnCounts(counts, 256 + numMerges).toJSON()).toEqual(BpeTokenizer.train(pieces.join(''), 256 + numMerges).toJSON());
      }),
      fcParams(100),
    );
    const refusal = (got: string) => new RegExp(`^BpeTokenizer.trainOnCounts: argument 'counts' must map each chunk \\(a string\\) to how often it occurs \\(an integer >= 1\\), got ${got}$`);
    expect(() => BpeTokenizer.trainOnCounts(new Map([['ab', 2], ['cd', -2]]), 260)).toThrow(refusal("string 'cd' -> number -2"));
    expect(() => BpeTokenizer.trainOnCounts(new Map([['ab', NaN]]), 260)).toThrow(refusal("string 'ab' -> number NaN"));
    expect(() => BpeTokenizer.trainOnCounts(new Map([['ab', 1.5]]), 260)).toThrow(refusal("string 'ab' -> number 1\\.5"));
    expect(() => BpeTokenizer.trainOnCounts(new Map([['ab', '3']]) as never, 260)).toThrow(refusal("string 'ab' -> string '3'"));
    expect(() => BpeTokenizer.trainOnCounts(new Map([[5, 3]]) as never, 260)).toThrow(refusal('number 5 -> number 3'));
    expect(() => countChunks('ab', {} as never)).toThrow(/^countChunks: argument 'into' must be a Map of chunk -> count, got an object \(Object\)$/);
    expect(() => countChunks(5 as never)).toThrow(/^countChunks: argument 'text' must be a string, got number 5$/);
  });

  it('round-trips any well-formed string, trained on it or on other text', () => {
    const general = BpeTokenizer.train(PROSE.slice(0, 50_000), 320);
    fc.assert(
      fc.property(anyText, (s) => {
        expect(general.decode(general.encode(s))).toBe(s);
        const own = BpeTokenizer.train(s, 300);
        expect(own.decode(own.encode(s))).toBe(s);
      }),
      fcParams(100),
    );
  });

  it('replaces a lone surrogate by U+FFFD, as TextEncoder does', () => {
    const tok = BpeTokenizer.train('abc', 260);
    expect(tok.decode(tok.encode('a\uD800b'))).toBe('a\uFFFDb');
  });

  it('trains deterministically', () => {
    const text = PROSE.slice(0, 100_000);
    expect(BpeTokenizer.train(text, 400).toJSON()).toEqual(BpeTokenizer.train(text, 400).toJSON());
  });

  /**
   * Trains `text` to `vocabSize`, holding its steps (pair counts changed, positions examined) linear in
   * the text: at most 8 a byte (MergeWork says why); a merge that recounts or rescans whole chunks, not
   * its occurrences, is quadratic, and takes hundreds a byte here. At least one a merge: the training
   * went through learnMerges.
   */
  function trainLinearly(text: string, vocabSize: number): BpeTokenizer {
    const { result: tok, steps } = workOf(() => BpeTokenizer.train(text, vocabSize));
    const bytes = new TextEncoder().encode(text).length;
    console.log(`BPE vocab ${vocabSize} on ${bytes.toLocaleString('en-US')} bytes: ${steps.toLocaleString('en-US')} steps (${(steps / bytes).toFixed(2)} a byte)`);
    expect(tok.vocabSize).toBe(vocabSize);
    expect(steps).toBeGreaterThanOrEqual(vocabSize - 256);
    expect(steps).toBeLessThanOrEqual(8 * bytes);
    return tok;
  }

  it('trains in linear work on text whose chunks are long (Chinese: a paragraph of letters is one chunk)', () => {
    let x = 1; // MINSTD: 400 common-looking CJK characters in a fixed order
    const hanzi = Array.from({ length: 60_000 }, () => String.fromCodePoint(0x4e00 + ((x = (x * 48271) % 2147483647) % 400))).join('');
    trainLinearly(hanzi.match(/.{1,500}/gu)!.join('\n'), 1000); // recounting each chunk the merge touched took 18 s, 25x the time
  });

  it('trains in linear work on one long chunk (200k letters of DNA): a merge visits its occurrences, not the whole chunk', () => {
    let x = 1; // MINSTD
    const dna = Array.from({ length: 200_000 }, () => 'ACGT'[(x = (x * 48271) % 2147483647) % 4]).join('');
    trainLinearly(dna, 2256); // rewriting the whole chunk at each merge took 4-5 s, 15x the time
  });

  it('encodes a long chunk in linear work, as applying every merge in rank order does (400k letters of DNA are one chunk)', () => {
    let x = 1; // MINSTD
    const dna = Array.from({ length: 400_000 }, () => 'ACGT'[(x = (x * 48271) % 2147483647) % 4]).join('');
    const tok = BpeTokenizer.train(dna.slice(0, 20_000), 2000);
    const { result: ids, lookups } = workOf(() => tok.encode(dna));
    console.log(`BPE vocab 2000: ${dna.length} characters of one chunk encoded with ${lookups} pair-rank lookups`);
    // each pair's rank looked up as the chunk is read, then at most 2 for each pair a merge makes and 1
    // as each surfaces: at most 6 a byte. Rescanning the chunk for the lowest rank after each merge
    // looks every pair up again (it took 9 s, 18x the time)
    expect(lookups).toBeGreaterThanOrEqual(dna.length - 1);
    expect(lookups).toBeLessThanOrEqual(6 * dna.length);
    // each merge in turn over the whole chunk: a merge's pairs exist only once the merges before it are done
    let naive = Array.from(new TextEncoder().encode(dna.slice(0, 5_000)));
    for (const [r, [a, b]] of tok.toJSON().merges.entries()) {
      const out: number[] = [];
      for (let i = 0; i < naive.length; i++) out.push(naive[i] === a && naive[i + 1] === b ? (i++, 256 + r) : naive[i]!);
      naive = out;
    }
    expect(tok.encode(dna.slice(0, 5_000))).toEqual(naive);
    expect(tok.decode(ids)).toBe(dna);
  });

  it('compresses English prose more than 2x at vocab 512', () => {
    let lastProgress = [0, 0];
    const t0 = performance.now();
    const tok = BpeTokenizer.train(PROSE, 512, { onProgress: (done, total) => (lastProgress = [done, total]) });
    const trainMs = performance.now() - t0;
    expect(lastProgress).toEqual([256, 256]);
    expect(tok.vocabSize).toBe(512);
    const t1 = performance.now();
    const ids = tok.encode(PROSE);
    const encodeMs = performance.now() - t1;
    const ratio = PROSE.length / ids.length;
    console.log(`BPE vocab 512 on the built-in corpus: trained in ${trainMs.toFixed(0)} ms, encoded in ${encodeMs.toFixed(0)} ms, ` +
      `${PROSE.length} chars -> ${ids.length} tokens (${ratio.toFixed(2)} chars/token)`);
    expect(ids.length).toBeLessThan(PROSE.length / 2);
    expect(tok.decode(ids)).toBe(PROSE);
    expect(tokenizerFromJSON(JSON.stringify(tok)).encode(PROSE)).toEqual(ids);
  });
});

describe('tokenizerFromJSON', () => {
  it('restores either kind from the object or its text', () => {
    const text = 'To be, or not to be: that is the question. 😀';
    for (const tok of [CharTokenizer.train(text), BpeTokenizer.train(text, 280)]) {
      for (const json of [tok.toJSON(), JSON.parse(JSON.stringify(tok)), JSON.stringify(tok)]) {
        const back = tokenizerFromJSON(json);
        expect(back.kind).toBe(tok.kind);
        expect(back.vocabSize).toBe(tok.vocabSize);
        expect(back.encode(text)).toEqual(tok.encode(text));
        expect(back.toJSON()).toEqual(tok.toJSON());
      }
    }
  });

  it('explains what is wrong with bad JSON', () => {
    expect(() => tokenizerFromJSON('{"kind": "char", ')).toThrow(/tokenizerFromJSON: not valid JSON/);
    expect(() => tokenizerFromJSON(null)).toThrow(/expected a tokenizer object, got null/);
    expect(() => tokenizerFromJSON([1, 2])).toThrow(/expected a tokenizer object, got an array/);
    expect(() => tokenizerFromJSON({ kind: 'wordpiece' })).toThrow(/unknown tokenizer kind "wordpiece", expected 'char', 'bpe' or 'gpt2'/);
    expect(() => tokenizerFromJSON({})).toThrow(/unknown tokenizer kind undefined/);
    expect(() => tokenizerFromJSON({ kind: 'char' })).toThrow(/"chars" must be an array/);
    expect(() => tokenizerFromJSON({ kind: 'char', chars: ['a', 'bc'] })).toThrow(/entry 1 must be a single character, got "bc"/);
    expect(() => tokenizerFromJSON({ kind: 'char', chars: ['a', 'a'] })).toThrow(/"a" \(U\+0061\) appears twice/);
    expect(() => tokenizerFromJSON({ kind: 'bpe', merges: 'oops' })).toThrow(/"merges" must be an array/);
    expect(() => tokenizerFromJSON({ kind: 'bpe', merges: [[97, 98], [256, 257]] })).toThrow(/merge 1 must be a pair of token ids below 257, got \[256,257\]/);
    expect(() => tokenizerFromJSON({ kind: 'bpe', merges: [[97, 98, 99]] })).toThrow(/merge 0 must be a pair/);
    expect(() => tokenizerFromJSON({ kind: 'bpe', merges: [[97, 98], [97, 98]] })).toThrow(/merge 1 repeats the pair \[97, 98\]/);
    // each merge joining the last token to itself doubles it: 45 of them made 8 GB of tokens, then a RangeError
    const doubling = [[97, 97], ...Array.from({ length: 45 }, (_, i) => [256 + i, 256 + i])];
    expect(() => tokenizerFromJSON({ kind: 'bpe', merges: doubling })).toThrow(/^BpeTokenizer: merge 26 makes a token of 134217728 bytes, .*256 MiB/);
  });
});

describe('arguments of the wrong kind', () => {
  // a number or null failed deep inside ('text.match is not a function'); a string of ids decoded
  // its digits as ids ('12' -> the tokens 1 and 2), an id '1' was used as 1
  const char = CharTokenizer.train('hello');
  const bpe = BpeTokenizer.train('hello world '.repeat(5), 260);
  for (const [name, t] of [['CharTokenizer', char], ['BpeTokenizer', bpe]] as const) {
    it(`${name}: one line naming the method, the argument and what it takes`, () => {
      expect(() => t.encode(5 as never)).toThrow(new RegExp(`^${name}.encode: argument 'text' must be a string, got number 5$`));
      expect(() => t.encode(null as never)).toThrow(new RegExp(`^${name}.encode: argument 'text' must be a string, got null$`));
      expect(() => t.decode('12' as never)).toThrow(new RegExp(`^${name}.decode: argument 'ids' must be an array or typed array of token ids, got string '12'$`));
      expect(() => t.decode(null as never)).toThrow(new RegExp(`^${name}.decode: argument 'ids' must be an array or typed array of token ids, got null$`));
      expect(() => t.decode(['1'] as never)).toThrow(new RegExp(`^${name}.decode: argument 'ids' must be an array or typed array of token ids, got string '1' at \\[0\\]$`));
      expect(t.decode(Int32Array.from(t.encode('hello')))).toBe('hello');
    });
  }
  it('encodeKnown takes a string, the constructors arrays', () => {
    expect(() => encodeKnown(char, 5 as never)).toThrow(/^encodeKnown: argument 'text' must be a string, got number 5$/);
    expect(() => new CharTokenizer('abc' as never)).toThrow(/^CharTokenizer: argument 'chars' must be an array of characters, got string 'abc'$/);
    expect(() => new BpeTokenizer(null as never)).toThrow(/^BpeTokenizer: argument 'merges' must be an array of \[a, b\] token id pairs, got null$/);
    expect(() => new Gpt2Tokenizer([], '<|endoftext|>' as never)).toThrow(/^Gpt2Tokenizer: argument 'special' must be an array of strings, got string '<\|endoftext\|>'$/);
  });
  it('CharTokenizer.encodeInto takes a string and an Int32Array with room for an id per UTF-16 unit (a shorter one lost the ids past its end, a Uint8Array their high bits, silently)', () => {
    expect(() => char.encodeInto(5 as never, new Int32Array(5), () => {})).toThrow(/^CharTokenizer.encodeInto: argument 'text' must be a string, got number 5$/);
    const room = /^CharTokenizer.encodeInto: argument 'out' must be an Int32Array of at least 5 ids \(one per UTF-16 unit of the text\), got /;
    expect(() => char.encodeInto('hello', new Int32Array(2), () => {})).toThrow(new RegExp(`${room.source}an Int32Array of 2$`));
    expect(() => char.encodeInto('hello', new Uint8Array(5) as never, () => {})).toThrow(new RegExp(`${room.source}an object \\(Uint8Array\\)$`));
    const out = new Int32Array(6);
    expect(char.encodeInto('hello', out, () => {})).toBe(5);
    expect([...out.subarray(0, 5)]).toEqual(char.encode('hello'));
  });
  it('training takes a string only', () => {
    expect(() => CharTokenizer.train(5 as never)).toThrow(/^CharTokenizer.train: argument 'text' must be a string, got number 5$/);
    expect(() => BpeTokenizer.train(5 as never, 260)).toThrow(/^BpeTokenizer.train: argument 'text' must be a string, got number 5$/);
  });
});
