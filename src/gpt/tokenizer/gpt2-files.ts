// GPT-2's own vocabulary files, as OpenAI published them (encoder.json, vocab.bpe) and as Hugging
// Face names them (vocab.json, merges.txt): the token strings with their ids, and the merges in rank
// order, one "a b" a line after a "#version" line.
import { parseJSONText } from '../../io/json-text.js';
import { Gpt2Tokenizer } from './gpt2.js';
import { byteLevelTokenizer, vocabFromStrings } from './vocab-strings.js';

/** GPT-2's tokenizer from the texts of its encoder.json (or vocab.json) and vocab.bpe (or merges.txt). */
export function gpt2FromVocabFiles(encoderJson: string, vocabBpe: string): Gpt2Tokenizer {
  const encoder = parseJSONText(encoderJson, (why) => {
    throw new Error(`encoder.json: ${why}`);
  });
  if (typeof encoder !== 'object' || encoder === null || Array.isArray(encoder)) throw new Error('encoder.json: expected an object of token -> id');
  const merges = parseMergeLines(vocabBpe);
  return byteLevelTokenizer('gpt2', vocabFromStrings(new Map(Object.entries(encoder)), merges));
}

/** The merges of a vocab.bpe / merges.txt: "a b" a line, after an optional "#version" line. */
function parseMergeLines(text: string): [string, string][] {
  // a token never holds a space, a CR or a newline: bytes_to_unicode writes them as Ġ, č and Ċ
  const lines = text.split(/\r?\n/);
  return lines.flatMap((line, i): [string, string][] => {
    if (line === '' || (i === 0 && line.startsWith('#version'))) return [];
    const pair = line.split(' ');
    if (pair.length !== 2 || !pair[0] || !pair[1]) throw new Error(`vocab.bpe: line ${i + 1} must be two tokens separated by one space, got ${JSON.stringify(line)}`);
    return [pair as [string, string]];
  });
}
