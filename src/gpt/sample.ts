// Picking the next token from a row of logits on the host: temperature, top-k and top-p
// (nucleus) filtering, then a draw from a seeded generator. temperature 0 is greedy (argmax).
import type { Generator } from '../tensor/generator.js';

/** How the next token is drawn: temperature (0 = greedy), top-k, top-p (nucleus). */
export interface SamplingOptions {
  temperature?: number;
  topK?: number;
  topP?: number;
}

/** The next token from a row of logits [V], drawn with `rng` after temperature, top-k and top-p. */
export function sampleToken(logits: Float32Array, opts: SamplingOptions, rng: Generator): number {
  checkSamplingOptions('sample', opts);
  const { temperature = 1, topK, topP } = opts;
  if (temperature === 0) return argmax(logits);
  // candidates sorted by logit, descending; ties keep the lower id first
  let order = [...logits.keys()].sort((a, b) => logits[b]! - logits[a]! || a - b);
  if (topK !== undefined) order = order.slice(0, topK);
  const top = logits[order[0]!]!;
  let probs = order.map((i) => Math.exp((logits[i]! - top) / temperature));
  let total = probs.reduce((a, b) => a + b, 0);
  if (topP !== undefined && topP < 1) {
    // keep the smallest prefix whose probability mass reaches topP
    let mass = 0;
    let keepN = 0;
    while (keepN < probs.length && mass < topP * total) mass += probs[keepN++]!;
    order = order.slice(0, keepN);
    probs = probs.slice(0, keepN);
    total = mass;
  }
  let r = rng.nextFloat() * total;
  for (let i = 0; i < order.length; i++) {
    r -= probs[i]!;
    if (r < 0) return order[i]!;
  }
  return order[order.length - 1]!;
}

/** Throws a RangeError naming `op` and the option when a sampling setting is out of range. */
export function checkSamplingOptions(op: string, opts: SamplingOptions): void {
  const { temperature, topK, topP } = opts;
  if (temperature !== undefined && !(Number.isFinite(temperature) && temperature >= 0)) {
    throw new RangeError(`${op}: temperature must be a finite number >= 0 (0 = greedy), got ${String(temperature)}`);
  }
  if (topP !== undefined && !(topP > 0 && topP <= 1)) throw new RangeError(`${op}: topP must be in (0, 1], got ${String(topP)}`);
  if (topK !== undefined && !(Number.isInteger(topK) && topK >= 1)) throw new RangeError(`${op}: topK must be a positive integer, got ${String(topK)}`);
}

/** The index of the largest value (the first, on ties). */
export function argmax(xs: Float32Array): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[best]!) best = i;
  return best;
}
