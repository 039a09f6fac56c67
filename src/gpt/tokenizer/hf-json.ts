// Hugging Face's tokenizer.json for byte-level BPE: model {type: "BPE", vocab, merges}, a ByteLevel
// pre-tokenizer and decoder. GPT-2's file (the `gpt2` repository) reads as a Gpt2Tokenizer; our own
// BpeTokenizer writes one (its pattern as a Split before a ByteLevel that only maps bytes) that
// Hugging Face's tokenizers and transformers.js can load, and reads back. Settings that would change
// the tokens (a normalizer, add_prefix_space, BPE dropout, word prefixes and suffixes, a post-processor
// that adds tokens) or their text (a decoder other than ByteLevel, none included) are refused rather
// than ignored, and so is a field that tokenizers 0.23 does not write. Added tokens follow the merges
// as special tokens: those with special: false encode() takes out of the text, as Hugging Face's
// tokenizers does; special ones, as in GPT-2's encoder, it does not (Hugging Face's does:
// "<|endoftext|>" in text is token 50256 there; encodeAllowingSpecial is so). lstrip, rstrip and
// single_word are followed where a token is taken.
// `normalized` matters only for the order of matching (a normalizer is refused): see refuseTwoPasses.
import { parseJSONText } from '../../io/json-text.js';
import { BpeTokenizer } from './bpe.js';
import { isWordCharacter, type MatchRules } from './byte-level-bpe.js';
import { BYTE_CHARS } from './byte-chars.js';
import { Gpt2Tokenizer } from './gpt2.js';
import { CHUNK_PATTERN } from './split.js';
import { byteLevelTokenizer, mapOfEntries, vocabFromStrings, vocabToStrings } from './vocab-strings.js';

type Json = Record<string, unknown>;

// GPT-2's pre-tokenizer, and ours: our pattern first, then a ByteLevel that maps bytes but does not split.
const GPT2_PRE = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
const OWN_PRE = {
  type: 'Sequence',
  pretokenizers: [
    { type: 'Split', pattern: { Regex: CHUNK_PATTERN }, behavior: 'Isolated', invert: false },
    { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
  ],
};

/** A tokenizer in Hugging Face's tokenizer.json format (the object; JSON.stringify writes the file). */
export function toHuggingFaceJSON(tok: Gpt2Tokenizer | BpeTokenizer): Json {
  const { vocab, merges } = vocabToStrings(tok);
  const first = tok.vocabSize - tok.special.length;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: tok.special.map((content, k) => ({
      id: first + k, content, single_word: tok.singleWord.includes(content), lstrip: tok.lstrip.includes(content), rstrip: tok.rstrip.includes(content), normalized: false, special: !tok.matched.includes(content),
    })),
    normalizer: null,
    pre_tokenizer: tok instanceof Gpt2Tokenizer ? GPT2_PRE : OWN_PRE,
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: merges.map((pair) => pair.join(' ')),
    },
  };
}

/** The tokenizer of a tokenizer.json (the parsed object or its text): GPT-2's kind, or our own BPE. */
export function tokenizerFromHuggingFace(json: unknown): Gpt2Tokenizer | BpeTokenizer {
  if (typeof json === 'string') json = parseJSONText(json, fail);
  if (!isObject(json)) return fail('expected an object');
  const model = json.model;
  // GPT-2's encoder.json passed for a tokenizer.json has a "model" too: the token id 19849
  if (!isObject(model)) return fail(`no "model" object (got ${JSON.stringify(model)}): not a Hugging Face tokenizer.json`);
  if ((model.type ?? 'BPE') !== 'BPE') return fail(`model must be of type "BPE", got ${JSON.stringify(model.type)}`);
  refuseUnknownFields(json, 'tokenizer.json', KNOWN_FIELDS.tokenizer);
  refuseUnknownFields(model, 'model', KNOWN_FIELDS.model);
  for (const t of addedTokens(json)) if (isObject(t)) refuseUnknownFields(t, `added token ${JSON.stringify(t.content)}`, KNOWN_FIELDS.addedToken);
  refuseOtherSettings(json, model);
  const split = splitOf(json);
  if (!split) {
    return fail(`pre_tokenizer must be GPT-2's ByteLevel (add_prefix_space false) or webgpu-gpt's own Split + ByteLevel, got ${JSON.stringify(json.pre_tokenizer)}`);
  }
  const ids = vocabFromStrings(vocabOf(json, model), mergesOf(model), new Set(addedTokens(json).map((t) => t.content as string)));
  refuseTwoPasses(addedTokens(json)); // each {id, content}: vocabOf checked
  return byteLevelTokenizer(split, { ...ids, matched: matchedOf(json, ids.special), rules: rulesOf(json) });
}

// Settings that would change the tokens or the text decoded from them.
function refuseOtherSettings(json: Json, model: Json): void {
  if (stepsOf(json, 'normalizer').length) fail(`a normalizer (${JSON.stringify(json.normalizer)}) is not supported`);
  for (const key of ['dropout', 'continuing_subword_prefix', 'end_of_word_suffix', 'byte_fallback', 'ignore_merges']) {
    const off = model[key] == null || model[key] === false || model[key] === '' || (key === 'dropout' && model[key] === 0); // Hugging Face's BPE: "0 = no dropout"
    if (!off) fail(`model.${key} ${JSON.stringify(model[key])} is not supported`);
  }
  // ByteLevel's trims offsets only; the others (TemplateProcessing, ...) add tokens around each text
  const post = stepsOf(json, 'post_processor').find((step) => !isByteLevelStep(step));
  if (post !== undefined) {
    fail(`post_processor of type ${JSON.stringify(isObject(post) ? post.type : post)} is not supported: it adds tokens to each text; only ByteLevel (or none) is`);
  }
  // none is not ByteLevel's: Hugging Face's tokenizers then joins the token strings with spaces ("Hello Ġworld")
  const decoder = stepsOf(json, 'decoder');
  if (decoder.length !== 1 || !isByteLevelStep(decoder[0])) fail(`decoder must be ByteLevel, got ${'decoder' in json ? JSON.stringify(json.decoder) : 'none'}`);
}

// model.vocab with the added tokens, which it may or may not list too. Hugging Face's tokenizers
// gives an added token the id model.vocab has for it, and numbers the others in the order they are
// listed, from model.vocab's size on, whatever ids the file gives them (it warns): a file whose ids
// differ would be read with other ids than the file says, refused.
function vocabOf(json: Json, model: Json): Map<string, number> {
  if (!isObject(model.vocab)) return fail('model.vocab must be an object of token -> id');
  const vocab = mapOfEntries(model.vocab as Record<string, number>);
  let next = vocab.size;
  for (const t of Array.isArray(json.added_tokens) ? json.added_tokens : []) {
    if (!isObject(t) || typeof t.content !== 'string' || !Number.isInteger(t.id)) fail(`added token ${JSON.stringify(t)} must be {id, content}`);
    const { id, content } = t as { id: number; content: string };
    const known = vocab.get(content);
    if (known !== undefined && known !== id) fail(`added token ${JSON.stringify(content)} has id ${id}, model.vocab gives it ${known}`);
    if (known === undefined && id !== next) fail(`added token ${JSON.stringify(content)} has id ${id}, where Hugging Face's tokenizers numbers it ${next}: the added tokens not in model.vocab must be listed in the order of their ids, from model.vocab's size on`);
    if (known === undefined) next++;
    refuseByteLevelText(content);
    vocab.set(content, id);
  }
  return vocab;
}

// Hugging Face's ByteLevel decoder reads an added token whose characters are all of bytes_to_unicode's
// alphabet as the bytes they stand for, as it reads model.vocab's tokens: "Ġx" decodes as " x", "<é>"
// as "<\uFFFD>" (byte 0xE9 alone). Printable ASCII stands for itself; other text (a space in it) is its own UTF-8.
function refuseByteLevelText(content: string): void {
  const chars = [...content];
  if (!chars.every((ch) => BYTE_CHARS.includes(ch)) || chars.every((ch) => ch >= '!' && ch <= '~')) return;
  const decoded = new TextDecoder('utf-8', { ignoreBOM: true }).decode(Uint8Array.from(chars, (ch) => BYTE_CHARS.indexOf(ch)));
  fail(`added token ${JSON.stringify(content)} is spelled in ByteLevel's byte characters, which Hugging Face's decoder reads as bytes (decoding it as ${JSON.stringify(decoded)}), where encode() matches its text: not supported`);
}

// The added tokens with special: false, which Hugging Face takes out of the text before the model
// does (special ones too: encodeAllowingSpecial does). Each must be past the merges: a token the
// merges make would be matched in place of BPE's, which the tokenizer cannot do. How each matches: rulesOf's.
function matchedOf(json: Json, special: readonly string[]): string[] {
  for (const { content, id, special: isSpecial } of addedTokens(json)) {
    if (!special.includes(content as string)) fail(`added token ${JSON.stringify(content)} (special: ${isSpecial !== false}) has id ${id}, which model.vocab's merges make: matching it in the text is not supported`);
  }
  return addedTokens(json)
    .filter((t) => t.special === false)
    .map((t) => t.content as string);
}

// The added tokens that take in the whitespace before them (lstrip), and after them (rstrip), and
// those that match only where no word character touches them (single_word), where matched
// (special: false ones by encode(), all by encodeAllowingSpecial), as Hugging Face's tokenizers does.
function rulesOf(json: Json): MatchRules {
  const flagged = (flag: string) => addedTokens(json).filter((t) => t[flag] === true).map((t) => t.content as string);
  return { lstrip: flagged('lstrip'), rstrip: flagged('rstrip'), singleWord: flagged('single_word') };
}

const addedTokens = (json: Json): Json[] => (Array.isArray(json.added_tokens) ? (json.added_tokens as Json[]) : []);

// Hugging Face matches the added tokens with normalized: false first, then those with normalized:
// true in the text between. One leftmost-longest pass over all of them (ours) finds the same matches
// unless a token of one kind can overlap one of the other in some text: "<|ab|>" first in "x<|ab|>y",
// or "<b>" of lstrip first in "a <b>", taking in the space that "a " ends with. The second pass
// reads each piece between the first's matches as a text of its own, whose ends no word character
// touches: "<m>" of single_word is matched in "Z<a<m>" after "Z<a", though "a" is one.
function refuseTwoPasses(added: Json[]): void {
  const raw = added.filter((t) => t.normalized === false);
  const normalized = added.filter((t) => t.normalized !== false);
  const oneWord = normalized.find((t) => t.single_word === true)?.content as string | undefined;
  for (const first of raw) {
    const content = first.content as string;
    const takenIn = (then: string) => (first.lstrip === true && WHITE_SPACE_END.test(then)) || (first.rstrip === true && WHITE_SPACE_START.test(then));
    const other = normalized.map((t) => t.content as string).find((then) => canOverlap(content, then) || takenIn(then));
    if (other !== undefined) {
      fail(`added tokens ${JSON.stringify(content)} (normalized: false) and ${JSON.stringify(other)} (normalized: true) can overlap in a text, where Hugging Face matches the first kind before the second: not supported`);
    }
    if (oneWord !== undefined && (isWordCharacter([...content][0]!) || isWordCharacter([...content].at(-1)!))) {
      fail(`added tokens ${JSON.stringify(content)} (normalized: false), which starts or ends with a word character, and ${JSON.stringify(oneWord)} (normalized: true, single_word: true): Hugging Face matches the second only between the first's matches, where that character is not beside it: not supported`);
    }
  }
}

// Rust's char::is_whitespace, which lstrip and rstrip take in (as byte-level-bpe.ts's)
const WHITE_SPACE_START = /^\p{White_Space}/u;
const WHITE_SPACE_END = /\p{White_Space}$/u;

// Whether occurrences of a and b can overlap in a text: one holds the other, or one ends as the other starts.
const canOverlap = (a: string, b: string) => a.includes(b) || b.includes(a) || endsAsStarts(a, b) || endsAsStarts(b, a);
function endsAsStarts(a: string, b: string): boolean {
  for (let k = 1; k < Math.min(a.length, b.length); k++) if (a.endsWith(b.slice(0, k))) return true;
  return false;
}

// "a b" (tokenizers before 0.20) or ["a", "b"]
function mergesOf(model: Json): [string, string][] {
  if (!Array.isArray(model.merges)) return fail('model.merges must be an array');
  return model.merges.map((m: unknown, i): [string, string] => {
    const pair = typeof m === 'string' ? m.split(' ') : m;
    if (!Array.isArray(pair) || pair.length !== 2 || !pair.every((s) => typeof s === 'string' && s)) {
      return fail(`model.merges[${i}] must be "a b" or ["a", "b"], got ${JSON.stringify(m)}`);
    }
    return pair as [string, string];
  });
}

// The fields each part has in the files of Hugging Face's tokenizers 0.23 (the steps by their type).
// Another may be a later version's setting, which would change the tokens and be ignored here: refused
// (tokenizers itself refuses one at the top, and ignores one further in). truncation and padding
// are read and ignored: transformers sets its own on each call, and a corpus is never cut.
const KNOWN_FIELDS = {
  tokenizer: ['version', 'truncation', 'padding', 'added_tokens', 'normalizer', 'pre_tokenizer', 'post_processor', 'decoder', 'model'],
  model: ['type', 'dropout', 'unk_token', 'continuing_subword_prefix', 'end_of_word_suffix', 'fuse_unk', 'byte_fallback', 'ignore_merges', 'vocab', 'merges'],
  addedToken: ['id', 'content', 'single_word', 'lstrip', 'rstrip', 'normalized', 'special'],
};
const STEP_FIELDS: Record<string, readonly string[]> = {
  ByteLevel: ['type', 'add_prefix_space', 'trim_offsets', 'use_regex'],
  Split: ['type', 'pattern', 'behavior', 'invert'],
};

function refuseUnknownFields(part: Json, name: string, known: readonly string[]): void {
  const field = Object.keys(part).find((key) => !known.includes(key));
  if (field !== undefined) fail(`${name} has the field ${JSON.stringify(field)}, which tokenizers 0.23 does not write: not supported (a setting of a later version would be ignored)`);
}

const fail = (why: string): never => {
  throw new Error(why);
};

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

// GPT-2's ByteLevel pre-tokenizer, or our Split followed by a ByteLevel that does not split again.
function splitOf(json: Json): 'gpt2' | 'bpe' | undefined {
  const steps = stepsOf(json, 'pre_tokenizer');
  if (steps.length === 1 && isByteLevel(steps[0], true)) return 'gpt2';
  if (steps.length !== 2) return undefined;
  const [first, second] = steps;
  const ours = isObject(first) && first.type === 'Split' && isObject(first.pattern) && first.pattern.Regex === CHUNK_PATTERN;
  return ours && first.behavior === 'Isolated' && !first.invert && isByteLevel(second, false) ? 'bpe' : undefined;
}

type Part = 'normalizer' | 'pre_tokenizer' | 'post_processor' | 'decoder';
const STEP_LISTS = { normalizer: 'normalizers', pre_tokenizer: 'pretokenizers', post_processor: 'processors', decoder: 'decoders' } as const;

// The steps a normalizer, pre_tokenizer, post_processor or decoder runs in order: none for null, a
// Sequence's flattened, as Hugging Face runs them; a Sequence of one step is that step, an empty one
// none. The fields of the Sequences and of the steps read here (ByteLevel, Split) are checked.
function stepsOf(json: Json, part: Part): unknown[] {
  const list = STEP_LISTS[part];
  const flatten = (step: unknown): unknown[] => {
    if (step == null) return [];
    if (isObject(step) && typeof step.type === 'string' && Object.hasOwn(STEP_FIELDS, step.type)) refuseUnknownFields(step, `${part}'s ${step.type}`, STEP_FIELDS[step.type]!);
    if (isObject(step) && step.type === 'Sequence' && Array.isArray(step[list])) {
      refuseUnknownFields(step, `${part}'s Sequence`, ['type', list]);
      return step[list].flatMap((s: unknown) => (s == null ? [s] : flatten(s))); // a null step inside is malformed: kept, so refused
    }
    return [step];
  };
  return flatten(json[part]);
}

const isByteLevelStep = (step: unknown): step is Json => isObject(step) && step.type === 'ByteLevel';

// A ByteLevel pre-tokenizer that adds no space before the text; use_regex (Hugging Face's default: true) as given.
const isByteLevel = (pre: unknown, regex: boolean) => isByteLevelStep(pre) && pre.add_prefix_space === false && (pre.use_regex ?? true) === regex;
