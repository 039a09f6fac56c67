// Reference of banRepeatedNgrams, as Hugging Face's NoRepeatNGramLogitsProcessor states the rule
// (_get_ngrams, _get_generated_ngrams): a map from each (n-1)-gram of the tokens to the tokens that
// followed it, looked up at the last n - 1 tokens; nothing while there are fewer than n - 1.
import { ref, type Ref } from './array.js';

/** The ids that would repeat an n-gram of `tokens` (a row's tokens in order, no padding). */
export function bannedNgramIds(tokens: readonly number[], n: number): Set<number> {
  const followers = new Map<string, number[]>();
  for (let j = 0; j + n <= tokens.length; j++) {
    const key = tokens.slice(j, j + n - 1).join();
    followers.set(key, [...(followers.get(key) ?? []), tokens[j + n - 1]!]);
  }
  if (tokens.length + 1 < n) return new Set();
  return new Set(followers.get(tokens.slice(tokens.length - n + 1).join()) ?? []);
}

/** banRepeatedNgrams(logits [R, V], history [R, T], n): each row's tokens are its history's ids >= 0. */
export function banRepeatedNgramsRef(logits: Ref, history: Ref, n: number): Ref {
  const [R, V] = logits.shape as [number, number];
  const T = history.shape[1]!;
  const out = Float64Array.from(logits.data);
  for (let r = 0; r < R; r++) {
    const tokens = Array.from(history.data.subarray(r * T, (r + 1) * T)).filter((id) => id >= 0);
    for (const v of bannedNgramIds(tokens, n)) out[r * V + v] = -Infinity;
  }
  return ref([R, V], out);
}
