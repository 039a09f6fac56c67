// GPT-2's own vocabulary files, as OpenAI published them (encoder.json, vocab.bpe) and as Hugging
// Face names them (vocab.json, merges.txt): the token strings with their ids, and the merges in rank
// order, one "a b" a line after a "#version" line.
import { parseJSONText } from '../../io/json-text.js';
import { Gpt2Tokenizer } from './gpt2.js';
import { byteLevelTokenizer, mapOfEntries, vocabFromStrings } from './vocab-strings.js';

/** GPT-2's tokenizer from the texts of its encoder.json (or vocab.json) and vocab.bpe (or merges.txt). */
export function gpt2FromVocabFiles(encoderJson: string, vocabBpe: string): Gpt2Tokenizer {
  const encoder = parseJSONText(encoderJson, (why) => {
    throw new Error(`encoder.json: ${why}`);
  });
  if (typeof encoder !== 'object' || encoder === null || Array.isArray(encoder)) throw new Error('encoder.json: expected an object of token -> id');
  const merges = parseMergeLines(vocabBpe);
  return byteLevelTokenizer('gpt2', vocabFromStrings(mapOfEntries(encoder as Record<string, number>), merges));
}

/** The merges of a vocab.bpe / merges.txt: "a b" a line, after an optional "#version" line. */
function parseMergeLines(text: string): [string, string][] {
  // a token never holds a space, a CR or a newline: bytes_to_unicode writes them as Ġ, č and Ċ. The
  // lines are those of text.split(/\r?\n/), each of line.split(' ') into two, read in place without
  // those splits' arrays.
  const merges: [string, string][] = [];
  for (let start = 0, i = 0; ; i++) {
    const newline = text.indexOf('\n', start);
    const end = newline < 0 ? text.length : newline > start && text.charCodeAt(newline - 1) === 0x0d ? newline - 1 : newline;
    if (end > start && !(i === 0 && text.startsWith('#version', start))) {
      const space = text.indexOf(' ', start);
      const other = text.indexOf(' ', space + 1);
      if (space <= start || space >= end - 1 || (other >= 0 && other < end)) {
        throw new Error(`vocab.bpe: line ${i + 1} must be two tokens separated by one space, got ${JSON.stringify(text.slice(start, end))}`);
      }
      merges.push([text.slice(start, space), text.slice(space + 1, end)]);
    }
    if (newline < 0) return merges;
    start = newline + 1;
  }
}
