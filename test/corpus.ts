// Text for tests, from what set-up provides (the built-in corpus: the English prose of the
// web-platform docs inside the `typescript` package), never from outside the repository.
import { loadCorpus, BUILTIN_CORPUS } from '../src/cli/corpus.js';

/** The first `chars` characters of the built-in corpus (all of it by default, ~690k). */
export async function testCorpus(chars = Infinity): Promise<string> {
  return (await loadCorpus(BUILTIN_CORPUS)).slice(0, chars);
}
