// Text for tests, from what set-up provides (the built-in corpus: the English prose of the
// web-platform docs inside the `typescript` package), never from outside the repository.
import { loadCorpus, BUILTIN_CORPUS } from '../src/cli/corpus.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';

/** The first `chars` characters of the built-in corpus (all of it by default, ~690k). */
export async function testCorpus(chars = Infinity): Promise<string> {
  return (await loadCorpus(BUILTIN_CORPUS)).slice(0, chars);
}

/**
 * The first `chars` characters of the built-in corpus, a char tokenizer trained on them, and their
 * ids split 90% train / 10% val, as the page and nanoGPT's prepare.py split a text.
 */
export async function charData(chars: number) {
  const corpus = await testCorpus(chars);
  const tokenizer = CharTokenizer.train(corpus);
  const ids = Int32Array.from(tokenizer.encode(corpus));
  const split = Math.floor(ids.length * 0.9);
  return { corpus, tokenizer, data: { train: ids.slice(0, split), val: ids.slice(split), vocabSize: tokenizer.vocabSize } };
}
