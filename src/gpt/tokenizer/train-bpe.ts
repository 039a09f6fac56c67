// Learning BPE merges. Identical chunks are stored once with their multiplicity, and each merge
// rewrites only the chunks that contain the merged pair, moving the counts of the pairs on either
// side of each occurrence; there is no recount, not even of a whole chunk, so a megabyte of text
// trains in about a second, and a long chunk (a paragraph of Chinese is one) changes counts only
// where the merge occurs in it.
import { PairHeap } from './pair-heap.js';
import { BYTE_TOKENS, mergePair, pairKey, pairOf } from './pairs.js';

/** Called while BPE merges are learned: merges done so far of the total. */
export type MergeProgress = (merges: number, total: number) => void;

// Greedily merges the most frequent adjacent pair (ties: the smaller pair) numMerges times, or until
// no pair is left. `chunks` maps each distinct chunk's bytes to how often it occurs.
export function learnMerges(chunks: Iterable<[Uint8Array, number]>, numMerges: number, onProgress?: MergeProgress): [number, number][] {
  const words: number[][] = [];
  const freqs: number[] = [];
  for (const [bytes, freq] of chunks) {
    words.push(Array.from(bytes));
    freqs.push(freq);
  }

  const counts = new Map<number, number>(); // pair -> occurrences in the text
  const where = new Map<number, Set<number>>(); // pair -> words that contain it (or once did)
  const touched = new Set<number>(); // pairs whose count changed during the current merge
  const count = (a: number, b: number, change: number, w: number): void => {
    const key = pairKey(a, b);
    const now = (counts.get(key) ?? 0) + change;
    if (now === 0) counts.delete(key);
    else counts.set(key, now);
    touched.add(key);
    if (change > 0) {
      let set = where.get(key);
      if (set === undefined) where.set(key, (set = new Set()));
      set.add(w);
    }
  };
  words.forEach((ids, w) => {
    for (let i = 0; i + 1 < ids.length; i++) count(ids[i]!, ids[i + 1]!, freqs[w]!, w);
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
    // `where` may list words that lost the pair to an earlier merge; they come back unchanged
    for (const w of where.get(best)!) words[w] = mergePair(words[w]!, a, b, merged, (x, y, sign) => count(x, y, sign * freqs[w]!, w));
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
