// Vocabulary files name tokens by strings (GPT-2's encoder.json and vocab.bpe, a Hugging Face
// tokenizer.json): each token's bytes written with bytes_to_unicode's characters, each merge as the
// two strings it joins. A tokenizer here holds ids, numbered as GPT-2 numbers them: the 256 byte
// tokens, then one token per merge in rank order, then the special tokens; a vocabulary numbered
// otherwise (RoBERTa puts its special tokens first) is refused rather than renumbered.
import type { ByteLevelBpe, MatchRules } from './byte-level-bpe.js';
import { BYTE_CHARS, GPT2_BYTE_ORDER } from './byte-chars.js';
import { BpeTokenizer } from './bpe.js';
import { Gpt2Tokenizer } from './gpt2.js';
import { BYTE_TOKENS } from './pairs.js';

/** A vocabulary as ids; see ByteLevelBpe. */
export interface VocabIds {
  byteOrder: number[];
  merges: [number, number][];
  special: string[];
  /** The special tokens that encode() takes out of the text (Hugging Face's added tokens with special: false). */
  matched?: string[];
  /** How the special tokens match: Hugging Face's lstrip, rstrip and single_word. */
  rules?: MatchRules;
}

const LAYOUT = 'the vocabulary must be numbered as GPT-2\'s (the 256 bytes, then one token per merge in order, then special tokens)';

/**
 * Ids from token strings (`vocab`: string -> id) and merges (the pairs of strings they join).
 * `added`: the tokens declared as added (a tokenizer.json's added_tokens), which may spell two others.
 */
export function vocabFromStrings(vocab: ReadonlyMap<string, number>, merges: readonly (readonly [string, string])[], added: ReadonlySet<string> = new Set()): VocabIds {
  vocab.forEach((id, token) => {
    if (!Number.isInteger(id) || id < 0) throw new Error(`token ${JSON.stringify(token)} has id ${JSON.stringify(id)}, expected an integer >= 0`);
  });
  const byteOrder: number[] = [];
  BYTE_CHARS.forEach((ch, b) => {
    const id = vocab.get(ch);
    if (id === undefined || id >= BYTE_TOKENS) throw new Error(`byte ${b} (${JSON.stringify(ch)}) has id ${id}, expected one of 0..255: ${LAYOUT}`);
    if (byteOrder[id] !== undefined) throw new Error(`bytes ${byteOrder[id]} and ${b} share id ${id}`);
    byteOrder[id] = b;
  });
  const first = BYTE_TOKENS + merges.length; // the first special token
  const rest: [string, number][] = []; // the tokens from `first` on
  const named = new Array<string>(first); // named[id]: a token of id `id` below `first`
  vocab.forEach((id, token) => {
    if (id >= first) rest.push([token, id]);
    else named[id] = token;
  });
  const ids: [number, number][] = [];
  for (let i = 0; i < merges.length; i++) {
    const [a, b] = merges[i]!;
    const idA = vocab.get(a);
    const idB = vocab.get(b);
    if (idA === undefined || idB === undefined) throw new Error(`merge ${i} (${JSON.stringify([a, b])}) joins ${JSON.stringify(idA === undefined ? a : b)}, which is not in the vocabulary`);
    // a + b looked up only where token 256 + i is not spelled so: a string made and hashed per merge
    const id = spells(named[BYTE_TOKENS + i], a, b) ? BYTE_TOKENS + i : vocab.get(a + b);
    if (id !== BYTE_TOKENS + i) throw new Error(`merge ${i} (${JSON.stringify([a, b])}) makes token ${id}, expected ${BYTE_TOKENS + i}: ${LAYOUT}`);
    ids.push([idA, idB]);
  }
  // the rest in id order, not placed by id: an id of 2^31 in a damaged file would size an array
  const special: string[] = [];
  for (const [token, id] of rest.sort((x, y) => x[1] - y[1])) {
    if (id > first + special.length) throw new Error(`no token has id ${first + special.length}: ${LAYOUT}`);
    if (id === first + special.length) special.push(token); // a repeated id fails the count below
  }
  // the token of a merge left out (merges cut short: an empty or truncated vocab.bpe) would pass for a
  // special token, which encode() never produces; GPT-2's <|endoftext|> joins no two of its tokens
  for (const [k, token] of special.entries()) {
    const cut = added.has(token) ? -1 : joinPoint(token, vocab);
    if (cut > 0) {
      throw new Error(
        `token ${JSON.stringify(token)} (id ${first + k}) joins ${JSON.stringify(token.slice(0, cut))} and ${JSON.stringify(token.slice(cut))}, ` +
          `but no merge makes it: the ${merges.length} merges end early (a truncated merges list?)`,
      );
    }
  }
  if (vocab.size !== first + special.length) throw new Error(`${vocab.size} tokens for ${first + special.length} ids: some share an id, or are neither a byte nor made by a merge`);
  return { byteOrder, merges: ids, special };
}

/** Whether `token` is a + b (undefined is not). */
const spells = (token: string | undefined, a: string, b: string): boolean => token !== undefined && token.length === a.length + b.length && token.startsWith(a) && token.endsWith(b);

/** new Map(Object.entries(record)), the same entries in the same order, without an array per entry (for GPT-2's 50,257, twice as long). */
export function mapOfEntries<T>(record: Record<string, T>): Map<string, T> {
  const map = new Map<string, T>();
  for (const key of Object.keys(record)) map.set(key, record[key]!);
  return map;
}

/** Where `token` splits into two tokens of `vocab`, or -1. */
function joinPoint(token: string, vocab: ReadonlyMap<string, number>): number {
  for (let i = 1; i < token.length; i++) if (vocab.has(token.slice(0, i)) && vocab.has(token.slice(i))) return i;
  return -1;
}

/** The token strings (string -> id) and merges (pairs of strings) of a tokenizer's vocabulary. */
export function vocabToStrings(tok: ByteLevelBpe): { vocab: Record<string, number>; merges: [string, string][] } {
  const names = tok.byteOrder.map((b) => BYTE_CHARS[b]!);
  const merges = tok.merges.map(([a, b]): [string, string] => {
    names.push(names[a]! + names[b]!);
    return [names[a]!, names[b]!];
  });
  names.push(...tok.special);
  return { vocab: Object.fromEntries(names.map((name, id) => [name, id])), merges };
}

/**
 * The tokenizer of a vocabulary, by the pattern its text is split with: GPT-2's, whose byte tokens
 * are numbered in bytes_to_unicode's order, or ours (splitChunks), whose bytes are in byte order and
 * which has no special tokens.
 */
export function byteLevelTokenizer(split: 'gpt2', ids: VocabIds): Gpt2Tokenizer;
export function byteLevelTokenizer(split: 'gpt2' | 'bpe', ids: VocabIds): Gpt2Tokenizer | BpeTokenizer;
export function byteLevelTokenizer(split: 'gpt2' | 'bpe', ids: VocabIds): Gpt2Tokenizer | BpeTokenizer {
  const order = split === 'gpt2' ? GPT2_BYTE_ORDER : BpeTokenizer.BYTE_ORDER;
  const wrong = ids.byteOrder.findIndex((b, id) => b !== order[id]);
  if (wrong >= 0) throw new Error(`token ${wrong} is byte ${ids.byteOrder[wrong]}, expected byte ${order[wrong]} there`);
  if (split === 'gpt2') return new Gpt2Tokenizer(ids.merges, ids.special, ids.matched, ids.rules);
  if (ids.special.length) throw new Error(`special tokens (${JSON.stringify(ids.special[0])}) are GPT-2's; a webgpu-gpt BPE vocabulary has none`);
  return new BpeTokenizer(ids.merges);
}
