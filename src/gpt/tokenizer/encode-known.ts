// Encoding text that a trained tokenizer may not fully cover, as when a character-level model is
// fine-tuned on new text: characters outside the vocabulary are left out and counted, so the caller
// can say which and how many instead of failing. One policy for the CLI and the browser page.
// (A byte-level BPE tokenizer covers every text, so nothing is ever left out there.)
import { ByteLevelBpe } from './byte-level-bpe.js';
import { CharTokenizer, describeChar } from './char.js';
import { END_OF_TEXT } from './gpt2.js';
import { checkText, type Tokenizer } from './tokenizer.js';

/** The result of encodeKnown(). */
export interface KnownTokens {
  ids: Int32Array;
  /** Characters left out, with how often each occurred (in order of first occurrence). */
  unknown: Map<string, number>;
  /** How many characters were left out in all. */
  dropped: number;
}

/** Token ids of `text`; a character tokenizer leaves out (and counts) the characters it does not know. */
export function encodeKnown(tokenizer: Tokenizer, text: string): KnownTokens {
  if (!(tokenizer instanceof CharTokenizer)) {
    const ids = tokenizer instanceof ByteLevelBpe ? tokenizer.encodeIds(text) : Int32Array.from(tokenizer.encode(text));
    return { ids, unknown: new Map(), dropped: 0 };
  }
  // at most one id per UTF-16 unit; a number[] past ~134M entries is a fatal V8 error, not an exception
  const ids = new Int32Array(checkText('encodeKnown', text).length);
  const unknown = new Map<string, number>();
  let dropped = 0;
  const length = tokenizer.encodeInto(text, ids, (ch) => {
    unknown.set(ch, (unknown.get(ch) ?? 0) + 1);
    dropped++;
  });
  return { ids: ids.subarray(0, length), unknown, dropped };
}

/**
 * A prompt's ids (`gpt sample --start`, the page's prompt): encodeKnown(), except that a special
 * token spelled in it is that token, as nanoGPT's sample.py encodes --start "<|endoftext|>" to
 * GPT-2's token 50256 (a corpus keeps such text as text: no document can forge a boundary).
 */
export function encodePrompt(tokenizer: Tokenizer, text: string): KnownTokens {
  if (!(tokenizer instanceof ByteLevelBpe)) return encodeKnown(tokenizer, text);
  return { ids: Int32Array.from(tokenizer.encodeAllowingSpecial(text)), unknown: new Map(), dropped: 0 };
}

const count = (n: number) => n.toLocaleString('en-US'); // 44,657: as the CLI's other counts

/** e.g. `3 characters the tokenizer does not know were left out: "$" (U+0024) x2, "é" (U+00E9)`; '' when none were. */
export function describeLeftOut({ unknown, dropped }: Pick<KnownTokens, 'unknown' | 'dropped'>, shown = 8): string {
  if (!dropped) return '';
  const total = dropped === 1 ? '1 character the tokenizer does not know was' : `${count(dropped)} characters the tokenizer does not know were`;
  return `${total} left out: ${listUnknown(unknown, shown)}`;
}

/** e.g. `"$" (U+0024) x2, "é" (U+00E9)`: the first `shown` characters of `unknown`, and how many other kinds. */
export function listUnknown(unknown: KnownTokens['unknown'], shown = 8): string {
  const listed = [...unknown].slice(0, shown).map(([ch, n]) => `${describeChar(ch)}${n > 1 ? ` x${count(n)}` : ''}`);
  return `${listed.join(', ')}${unknown.size > shown ? `, and ${count(unknown.size - shown)} other kinds` : ''}`;
}

/**
 * How often `text` spells each special token (GPT-2's "<|endoftext|>") that encodeKnown() keeps as
 * text (not those it matches). Added to `counts`: a corpus is counted a piece at a time.
 */
export function countSpelledSpecial(tokenizer: Tokenizer, text: string, counts = new Map<string, number>()): Map<string, number> {
  if (!(tokenizer instanceof ByteLevelBpe)) return counts;
  for (const name of tokenizer.special) {
    if (tokenizer.matched.includes(name)) continue; // encode() takes it as the token: not text
    for (let at = text.indexOf(name); at >= 0; at = text.indexOf(name, at + name.length)) counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

/**
 * e.g. `spells "<|endoftext|>" 3 times: ...`; '' when `counts` has none. tiktoken's encode() refuses
 * such text by default; nanoGPT's prepare.py (encode_ordinary) and GPT-2's encoder keep it as text,
 * as encodeKnown does, but a corpus that separates its documents so (TinyStories does) means the
 * token: the one special token gpt prepare writes, which the note points to where it is spelled.
 */
export function describeSpelledSpecial(counts: ReadonlyMap<string, number>): string {
  if (!counts.size) return '';
  const spelled = [...counts].map(([name, n]) => `${JSON.stringify(name)} ${n === 1 ? 'once' : `${n.toLocaleString('en-US')} times`}`).join(', ');
  const separator = counts.has(END_OF_TEXT) ? `; \`gpt prepare --data DIR\` follows each file of DIR with ${END_OF_TEXT}` : '';
  return `spells ${spelled}: tokenized as text, as nanoGPT's encode_ordinary does, not as ${counts.size === 1 ? 'the special token' : 'special tokens'}${separator}`;
}
