// A prompt's token ids, as nanoGPT's sample.py encodes --start (tiktoken's encode with
// allowed_special={"<|endoftext|>"}, its documented way to sample GPT-2 unconditionally) and as a
// Hugging Face tokenizer splits out its special tokens: the text of a special token is that token,
// the text around it encodes as encodeKnown encodes it. Prompts only: training text keeps encode()'s
// rule that no input can forge a document boundary.
import { encodeKnown, type KnownTokens } from './encode-known.js';
import { Gpt2Tokenizer } from './gpt2.js';
import type { Tokenizer } from './tokenizer.js';

const escaped = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Token ids of the prompt `text`, its special tokens' texts (GPT-2's "<|endoftext|>") as those tokens. */
export function encodePrompt(tokenizer: Tokenizer, text: string): KnownTokens {
  if (!(tokenizer instanceof Gpt2Tokenizer) || !tokenizer.special.length) return encodeKnown(tokenizer, text);
  // the longest first, where one special token's text starts another's
  const specials = new RegExp([...tokenizer.special].sort((a, b) => b.length - a.length).map(escaped).join('|'), 'g');
  const pieces: Int32Array[] = [];
  let at = 0;
  for (const m of text.matchAll(specials)) {
    pieces.push(tokenizer.encodeIds(text.slice(at, m.index)), Int32Array.of(tokenizer.specialId(m[0])!));
    at = m.index + m[0].length;
  }
  pieces.push(tokenizer.encodeIds(text.slice(at)));
  const ids = new Int32Array(pieces.reduce((n, p) => n + p.length, 0));
  pieces.reduce((offset, p) => (ids.set(p, offset), offset + p.length), 0);
  return { ids, unknown: new Map(), dropped: 0 }; // byte-level: no character is left out
}
