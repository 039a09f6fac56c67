// Encoding one chunk as GPT-2's bpe() does: the lowest-ranked merge present applies, to all its
// occurrences left to right, until none is left. Rescanning the chunk after each merge costs its
// length times the merges that apply (400k characters of DNA, one chunk, took 9 s); here each
// candidate pair waits in a heap, lowest rank first and leftmost among equals, over a linked list of
// the tokens, and a pair that changed meanwhile is skipped when it surfaces. A merge's new pairs
// hold its new token, whose merges rank after it, so the heap yields the same order as the rescan.
import { PairHeap } from './pair-heap.js';
import { BYTE_TOKENS } from './pairs.js';

/** The tokens of one chunk after its merges; rankOf(a, b): the rank of the merge of [a, b], if any. */
export function mergeByRank(ids: readonly number[], rankOf: (a: number, b: number) => number | undefined): number[] {
  const n = ids.length;
  const token = [...ids]; // token[i]: the token starting at position i; -1 once merged into the one before
  const next = Int32Array.from({ length: n }, (_, i) => i + 1); // n: none
  const prev = Int32Array.from({ length: n }, (_, i) => i - 1); // -1: none
  // PairHeap pops the largest count, then the smallest key: (-rank, position) is lowest rank, leftmost
  const heap = new PairHeap();
  const consider = (i: number): void => {
    const rank = next[i]! < n ? rankOf(token[i]!, token[next[i]!]!) : undefined;
    if (rank !== undefined) heap.push(-rank, i);
  };
  for (let i = 0; i + 1 < n; i++) consider(i);
  for (let top = heap.pop(); top !== undefined; top = heap.pop()) {
    const [rank, i] = [-top.count, top.key];
    const j = next[i]!;
    if (token[i] === -1 || j >= n || rankOf(token[i]!, token[j]!) !== rank) continue; // changed since it was pushed
    token[i] = BYTE_TOKENS + rank;
    token[j] = -1;
    next[i] = next[j]!;
    if (next[i]! < n) prev[next[i]!] = i;
    if (prev[i]! >= 0) consider(prev[i]!);
    consider(i);
  }
  return token.filter((id) => id !== -1);
}
