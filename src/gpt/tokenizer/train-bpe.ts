// Learning BPE merges. Identical chunks are stored once with their multiplicity, and after each
// merge only the chunks that contained the merged pair are rewritten, with the pair counts adjusted
// by the difference; there is no full recount, so a megabyte of text trains in about a second.
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
  const addPairs = (w: number, sign: 1 | -1): void => {
    const ids = words[w]!;
    for (let i = 0; i + 1 < ids.length; i++) {
      const key = pairKey(ids[i]!, ids[i + 1]!);
      const count = (counts.get(key) ?? 0) + sign * freqs[w]!;
      if (count === 0) counts.delete(key);
      else counts.set(key, count);
      touched.add(key);
      if (sign === 1) {
        let set = where.get(key);
        if (set === undefined) where.set(key, (set = new Set()));
        set.add(w);
      }
    }
  };
  words.forEach((_, w) => addPairs(w, 1));

  const heap = new PairHeap();
  const pushTouched = (): void => {
    for (const key of touched) {
      const count = counts.get(key);
      if (count !== undefined) heap.push(count, key);
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
    for (const w of where.get(best)!) {
      if (!containsPair(words[w]!, a, b)) continue; // a stale entry of `where`
      addPairs(w, -1);
      words[w] = mergePair(words[w]!, a, b, merged);
      addPairs(w, 1);
    }
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

function containsPair(ids: readonly number[], a: number, b: number): boolean {
  for (let i = 0; i + 1 < ids.length; i++) if (ids[i] === a && ids[i + 1] === b) return true;
  return false;
}
