// The tokenizers' work counted, for the complexity guards of test/tokenizer*.test.ts: deterministic
// counts held to a linear bound, where timings flaked on a loaded machine. A test file mocks the two
// modules with these (vi.mock): encoding's pair-rank lookups (mergeByRank's rankOf), and training's
// steps (learnMerges' MergeWork: pair counts changed, positions examined).
import type * as MergeByRank from '../src/gpt/tokenizer/merge-by-rank.js';
import type * as TrainBpe from '../src/gpt/tokenizer/train-bpe.js';

const work = { lookups: 0, steps: 0 };

export const countedMergeByRank = (m: typeof MergeByRank): typeof MergeByRank => ({
  mergeByRank: (ids, rankOf) => m.mergeByRank(ids, (a, b) => (work.lookups++, rankOf(a, b))),
});

export const countedTraining = (m: typeof TrainBpe): typeof TrainBpe => ({
  ...m,
  learnMerges: (chunks, numMerges, onProgress) => m.learnMerges(chunks, numMerges, onProgress, work),
});

/** What `run` returns, and the work it did: pair-rank lookups while encoding, steps while training. */
export function workOf<T>(run: () => T): { result: T; lookups: number; steps: number } {
  const before = { ...work };
  const result = run();
  return { result, lookups: work.lookups - before.lookups, steps: work.steps - before.steps };
}
