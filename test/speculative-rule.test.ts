// The rule of speculative sampling in float64 (src/check/reference/speculative.ts, speculativeSample's
// reference), checked exactly: over a small vocabulary, every draft a round can propose is
// enumerated with its probability under the draft's rows, and the round's uniform numbers are
// integrated in float64 (the outcome is piecewise constant in each: its pieces are found by
// bisection on the rule itself). A round emits a prefix of its drafts and one more token;
// continued to k + 1 tokens by the target's own rows, its output must be distributed as k + 1
// tokens drawn from the target, whatever the draft's rows (zeros in either included).
import { describe, expect, it } from 'vitest';
import { drawFrom, speculativeRound } from '../src/check/reference/speculative.js';
import { Generator } from '../src/tensor/generator.js';

const V = 3;
const k = 2;
const BELOW_ONE = 1 - 2 ** -53;
const STEPS = 44; // bisection steps: pieces measured to 2^-44

/** The pieces of [0, 1) over which `f` is constant (each assumed one interval): [a point in it, its length]. */
function pieces(f: (u: number) => string): [number, number][] {
  const out: [number, number][] = [];
  let lo = 0;
  while (lo < 1) {
    const here = f(lo);
    if (f(BELOW_ONE) === here) {
      out.push([lo, 1 - lo]);
      break;
    }
    let [a, b] = [lo, BELOW_ONE];
    for (let s = 0; s < STEPS; s++) {
      const m = (a + b) / 2;
      if (f(m) === here) a = m;
      else b = m;
    }
    out.push([lo, b - lo]);
    lo = b;
  }
  return out;
}

/** A distribution over V ids keyed by the prefix before it, some entries zero (at least one not). */
function table(seed: number): (prefix: number[]) => Float64Array {
  const rows = new Map<string, Float64Array>();
  const g = new Generator(seed);
  return (prefix) => {
    const key = prefix.join(',');
    if (!rows.has(key)) {
      const w = Float64Array.from({ length: V }, () => (g.nextFloat() < 0.3 ? 0 : g.nextFloat()));
      if (!w.some((x) => x > 0)) w[g.nextInt(V)] = 1;
      const sum = w.reduce((a, b) => a + b, 0);
      rows.set(key, w.map((x) => x / sum));
    }
    return rows.get(key)!;
  };
}

/** Every sequence of n ids. */
const sequences = (n: number): number[][] => (n === 0 ? [[]] : sequences(n - 1).flatMap((s) => Array.from({ length: V }, (_, x) => [...s, x])));

/** The probability of seq under the target's rows, from position `from` on (given what precedes it). */
const targetProbability = (p: (prefix: number[]) => Float64Array, seq: number[], from = 0) => seq.slice(from).reduce((pr, x, j) => pr * p(seq.slice(0, from + j))[x]!, 1);

/** The distribution of k + 1 tokens a round gives, continued by the target where it emitted fewer. */
function roundDistribution(p: (prefix: number[]) => Float64Array, q: (prefix: number[]) => Float64Array): Map<string, number> {
  const dist = new Map<string, number>();
  for (const drafted of sequences(k)) {
    const draftProbability = drafted.reduce((pr, x, i) => pr * q(drafted.slice(0, i))[x]!, 1);
    if (draftProbability === 0) continue;
    const pRows = Array.from({ length: k + 1 }, (_, i) => p(drafted.slice(0, i)));
    const qRows = Array.from({ length: k }, (_, i) => q(drafted.slice(0, i)));
    const emitted = (accept: number[], u: number) => {
      const { accepted, next } = speculativeRound(pRows, qRows, drafted, accept, u);
      return [...drafted.slice(0, accepted), next];
    };
    // the iterated integral over accept[0], accept[1], then u: each level's pieces are where the level below is constant
    const inner = (accept: number[]): Map<string, number> => {
      const m = new Map<string, number>();
      for (const [u, len] of pieces((u) => emitted(accept, u).join(','))) {
        const out = emitted(accept, u);
        for (const tail of sequences(k + 1 - out.length)) {
          const seq = [...out, ...tail];
          m.set(seq.join(','), (m.get(seq.join(',')) ?? 0) + len * targetProbability(p, seq, out.length));
        }
      }
      return m;
    };
    const integrate = (accept: number[]): Map<string, number> => {
      if (accept.length === k) return inner(accept);
      const m = new Map<string, number>();
      const key = (a: number) => JSON.stringify([...integrate([...accept, a])]);
      for (const [a, len] of pieces(key)) for (const [s, pr] of integrate([...accept, a])) m.set(s, (m.get(s) ?? 0) + len * pr);
      return m;
    };
    for (const [s, pr] of integrate([])) dist.set(s, (dist.get(s) ?? 0) + draftProbability * pr);
  }
  return dist;
}

describe('speculative sampling rule', () => {
  it.each([1, 2, 3])('a round over V = 3, k = 2 emits tokens distributed as the target draws them (tables seeded %i, zeros included)', (seed) => {
    const p = table(100 + seed);
    const q = table(200 + seed);
    const dist = roundDistribution(p, q);
    for (const seq of sequences(k + 1)) expect(dist.get(seq.join(',')) ?? 0, seq.join(',')).toBeCloseTo(targetProbability(p, seq), 10);
  });

  it('a draft equal to the target keeps every token', () => {
    const p = table(7);
    const rows = [p([]), p([0]), p([0, 1])];
    for (const drafted of sequences(k)) {
      if (rows.slice(0, k).some((r, i) => r[drafted[i]!] === 0)) continue; // not a draw of q = p
      expect(speculativeRound(rows, rows.slice(0, k), drafted, [BELOW_ONE, BELOW_ONE], 0.5).accepted).toBe(k);
    }
  });

  it('drawFrom is the inverse CDF in id order, skipping zeros', () => {
    const probs = [0.25, 0, 0.5, 0.25];
    expect([0, 0.2499, 0.25, 0.7499, 0.75, BELOW_ONE].map((u) => drawFrom(probs, u))).toEqual([0, 0, 2, 2, 3, 3]);
  });
});
