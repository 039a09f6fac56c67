// Pre-tokenization: text is cut into chunks and BPE merges never cross a chunk boundary, so " the"
// is learned once rather than fused with each neighbour. The pattern is GPT-4's (cl100k) refinement
// of GPT-2's, with GPT-2's lowercase contractions (JavaScript has no inline (?i:)). Alternatives:
// a contraction; a letter run led by at most one other non-newline character (" the", "(the");
// digits in groups of up to three; a symbol run led by one space, with the newlines after it
// (":\n"); whitespace ending in newlines; a whitespace run less its last space, which leads the
// next word; any leftover whitespace. Every character is covered, so the chunks join back into the
// text. On tinyshakespeare at vocab 512 this compresses 2.04x where GPT-2's pattern manages 1.94x,
// mostly because GPT-2 makes every newline a token of its own. Whitespace is \p{White_Space}, not
// JavaScript's \s (which adds U+FEFF and lacks U+0085), so that the pattern means the same in a
// tokenizer.json read by Hugging Face's tokenizers (Oniguruma) as here.
const CHUNK =
  /'(?:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\p{White_Space}\p{L}\p{N}]+[\r\n]*|\p{White_Space}*[\r\n]+|\p{White_Space}+(?!\P{White_Space})|\p{White_Space}+/gu;
/** The pattern's source, as a tokenizer.json stores it. */
export const CHUNK_PATTERN = CHUNK.source;

/** Splits text into the chunks BpeTokenizer's merges stay within (words with their leading space, numbers, punctuation, whitespace). */
export function splitChunks(text: string): string[] {
  return [...eachChunk(text)];
}

/** splitChunks one chunk at a time. */
export const eachChunk = (text: string): Iterable<string> => eachMatch(text, CHUNK);

// V8 keeps a backtracking entry for each character a quantified \p{...} takes in a text that holds a
// character past U+00FF, and fails with "Maximum call stack size exceeded" past about 2^22 of them (a
// single-line DNA sequence after a curly quote). So a chunk longer than this is cut every this many
// UTF-16 units (a surrogate pair kept whole), one window at a time where the pattern fails on the whole
// run: the same cuts whatever the engine's limit. Python's regex, tiktoken and Hugging Face's keep such a run whole.
const LONGEST_CHUNK = 2 ** 20;

/**
 * The matches of a global pattern one at a time (a corpus may have more than an array holds, about
 * 134M), each cut into pieces of at most LONGEST_CHUNK units.
 */
export function* eachMatch(text: string, pattern: RegExp): Generator<string> {
  const re = new RegExp(pattern); // a lastIndex of its own
  for (let at = 0; at < text.length; ) {
    let chunk: string;
    try {
      re.lastIndex = at;
      const m = re.exec(text);
      if (m === null) return;
      [chunk, at] = [m[0], m.index + m[0].length];
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      // the run's first piece: a window of it is as much as the chunk can keep
      const window = text.slice(at, unitEnd(text, at + LONGEST_CHUNK));
      re.lastIndex = 0;
      const m = re.exec(window)!; // the pattern takes any character: a window matches
      [chunk, at] = [m[0], at + m.index + m[0].length];
    }
    for (let i = 0; i < chunk.length; ) {
      const end = unitEnd(chunk, i + LONGEST_CHUNK);
      yield chunk.slice(i, end);
      i = end;
    }
  }
}

/** `end`, or one unit less where it would split a surrogate pair; at most the text's length. */
function unitEnd(text: string, end: number): number {
  if (end >= text.length) return text.length;
  const high = text.charCodeAt(end - 1);
  return high >= 0xd800 && high <= 0xdbff && text.charCodeAt(end) >= 0xdc00 && text.charCodeAt(end) <= 0xdfff ? end - 1 : end;
}
