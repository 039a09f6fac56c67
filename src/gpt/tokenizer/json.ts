// Restoring a tokenizer from the JSON a checkpoint stored (either the parsed object or its text).
import { parseJSONText } from '../../io/json-text.js';
import { BpeTokenizer } from './bpe.js';
import { CharTokenizer } from './char.js';
import { Gpt2Tokenizer } from './gpt2.js';
import type { BpeTokenizerJSON, CharTokenizerJSON, Gpt2TokenizerJSON, Tokenizer } from './tokenizer.js';

/** A tokenizer from the JSON a checkpoint stored (the parsed object or its text). */
export function tokenizerFromJSON(json: unknown): Tokenizer {
  if (typeof json === 'string') {
    json = parseJSONText(json, (why) => {
      throw new Error(`tokenizerFromJSON: ${why}`);
    });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    const got = json === null ? 'null' : Array.isArray(json) ? 'an array' : typeof json;
    throw new Error(`tokenizerFromJSON: expected a tokenizer object, got ${got}`);
  }
  const kind = (json as { kind?: unknown }).kind;
  if (kind === 'char') return CharTokenizer.fromJSON(json as CharTokenizerJSON);
  if (kind === 'bpe') return BpeTokenizer.fromJSON(json as BpeTokenizerJSON);
  if (kind === 'gpt2') return Gpt2Tokenizer.fromJSON(json as Gpt2TokenizerJSON);
  throw new Error(`tokenizerFromJSON: unknown tokenizer kind ${JSON.stringify(kind) ?? 'undefined'}, expected 'char', 'bpe' or 'gpt2'`);
}
