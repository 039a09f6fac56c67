// Learning BPE merges. Identical chunks are stored once with their multiplicity, laid end to end as
// a linked list of symbols, and each pair keeps the positions where it occurs: a merge visits only
// its own occurrences, moving the counts of the pairs on either side of each, with no recount and
// no rescan of the chunks it occurs in. Rewriting each such chunk whole made a merge cost the length
// of its chunks: 1M letters of DNA, one chunk, took 20 s to learn 2000 merges, now half a second
// (a paragraph of Chinese is one chunk too: 1M characters of such, 19 s, now 2 s).
import { PairHeap } from './pair-heap.js';
import { BYTE_TOKENS, pairKey, pairOf } from './pairs.js';

/** Called while BPE merges are learned: merges done so far of the total. */
export type MergeProgress = (merges: number, total: number) => void;

/**
 * The work of learnMerges, counted where one is given: pair counts changed and positions merges
 * examined. The text's pairs are counted, then a merged occurrence (at most one a byte) changes at
 * most 4 counts; each pair is merged once, at the positions its count took: at most 8 steps a byte of
 * the chunks, which the tests hold training to (a merge that recounts or rescans its chunks takes hundreds).
 */
export interface MergeWork {
  steps: number;
}

// Greedily merges the most frequent adjacent pair (ties: the smaller pair) numMerges times, or until
// no pair is left; within a chunk, occurrences merge left to right, so "aaa" with [a, a] gives
// [aa, a]. `chunks` maps each distinct chunk's bytes to how often it occurs.
export function learnMerges(chunks: Iterable<[Uint8Array, number]>, numMerges: number, onProgress?: MergeProgress, work?: MergeWork): [number, number][] {
  const list: [Uint8Array, number][] = [...chunks];
  const total = list.reduce((n, [bytes]) => n + bytes.length, 0);
  const token = new Int32Array(total); // token[p]: the symbol at position p; -1 once merged into the one before
  const next = new Int32Array(total); // the next symbol of the same chunk; -1: none
  const prev = new Int32Array(total); // the previous one; -1: none
  const chunkOf = new Int32Array(total);
  const freqs = list.map(([, freq]) => freq);

  const counts = new Map<number, number>(); // pair -> occurrences in the text
  const where = new Map<number, number[]>(); // pair -> positions of its left symbol (some stale: checked when used)
  const touched = new Set<number>(); // pairs whose count changed during the current merge
  const count = (a: number, b: number, change: number, p: number): void => {
    if (work) work.steps++;
    const key = pairKey(a, b);
    const now = (counts.get(key) ?? 0) + change;
    if (now === 0) counts.delete(key);
    else counts.set(key, now);
    touched.add(key);
    if (change > 0) {
      let at = where.get(key);
      if (at === undefined) where.set(key, (at = []));
      at.push(p);
    }
  };
  let p = 0;
  list.forEach(([bytes, freq], c) => {
    for (let i = 0; i < bytes.length; i++, p++) {
      token[p] = bytes[i]!;
      chunkOf[p] = c;
      prev[p] = i > 0 ? p - 1 : -1;
      next[p] = i + 1 < bytes.length ? p + 1 : -1;
      if (i > 0) count(bytes[i - 1]!, bytes[i]!, freq, p - 1);
    }
  });

  const heap = new PairHeap();
  const pushTouched = (): void => {
    for (const key of touched) {
      const now = counts.get(key);
      if (now !== undefined) heap.push(now, key);
    }
    touched.clear();
  };
  pushTouched();

  const merges: [number, number][] = [];
  while (merges.length < numMerges) {
    const best = popCurrent(heap, counts);
    if (best === undefined) break; // every chunk is a single token
    const [a, b] = pairOf(best);
    const merged = BYTE_TOKENS + merges.length;
    // left to right (positions ascend within a chunk): of "aaa"'s two [a, a], the first merges and the second is gone
    for (const l of where.get(best)!.sort((x, y) => x - y)) {
      if (work) work.steps++;
      const r = next[l]!;
      if (token[l] !== a || r < 0 || token[r] !== b) continue; // no longer this pair
      const freq = freqs[chunkOf[l]!]!;
      const before = prev[l]!;
      const after = next[r]!;
      if (before >= 0) {
        count(token[before]!, a, -freq, before);
        count(token[before]!, merged, freq, before);
      }
      if (after >= 0) {
        count(b, token[after]!, -freq, r);
        count(merged, token[after]!, freq, l);
        prev[after] = l;
      }
      token[l] = merged;
      token[r] = -1;
      next[l] = after;
    }
    counts.delete(best); // every occurrence is merged (their side pairs moved above)
    where.delete(best);
    pushTouched();
    merges.push([a, b]);
    onProgress?.(merges.length, numMerges);
  }
  return merges;
}

// The top heap entry whose count is still current; older entries for a pair are discarded.
function popCurrent(heap: PairHeap, counts: Map<number, number>): number | undefined {
  for (let top = heap.pop(); top !== undefined; top = heap.pop()) {
    if (counts.get(top.key) === top.count) return top.key;
  }
  return undefined;
}
