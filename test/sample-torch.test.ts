// sampleLogits against PyTorch (test/fixtures/torch/make_sampling_fixture.py, sampling.json): the
// distribution left by temperature, top-k (nanoGPT's generate: -inf below the k-th value, its ties
// kept) and top-p (Hugging Face's TopPLogitsWarper: the smallest set whose mass reaches top_p, one
// token at least), as torch computes it in float32. A row drawn with a stratified grid of uniform
// numbers gives each token a share within 1 / GRID of the probability at each of its two edges,
// and the number just below 1 draws the last kept candidate: the least likely token torch keeps.
// Where the top-p cut falls inside a run of equal logits, which of them HF keeps is torch.sort's
// order of equal values (not stable for long rows), ours the lower ids: there only how many of each
// logit value are kept, and their share, is compared. Rows of GPT-2's 50,257 logits with runs of
// equal values (as float16 logits have) keep thousands, the top-p cut inside a run.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { sampleLogits, scope, tensor } from '../src/index.js';
import { setupDevice } from './helpers.js';

beforeAll(setupDevice);

interface Case {
  name: string;
  /** null: -inf. */
  logits: (number | null)[];
  temperature: number;
  topK: number;
  topP: number;
  probs: number[];
  tieAtCut: boolean;
}

/** A row of 50,257 logits (gpt2_sized in the fixture's script): torch's kept count and probability per logit value. */
interface Gpt2SizedCase {
  name: string;
  V: number;
  temperature: number;
  topK: number;
  topP: number;
  /** [logit, how many of that value are kept, each one's probability], the largest logit first. */
  kept: [number, number, number][];
}

const { cases, gpt2Sized } = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures/torch/sampling.json'), 'utf8')) as { cases: Case[]; gpt2Sized: Gpt2SizedCase[] };

/** The fixture script's gpt2_sized: -isqrt(h % 2^20) / 64 for the hash h = (i * 2654435761 + 12345) mod 2^32 of id i. */
const gpt2SizedRow = (V: number) => Float32Array.from({ length: V }, (_, i) => -Math.floor(Math.sqrt(((Math.imul(i, 2654435761) + 12345) >>> 0) % 2 ** 20)) / 64);

const GRID = 2048;
/** The largest float32 below 1. */
const BELOW_ONE = 1 - 2 ** -24;

/** `row` repeated `n` times: the logits [n, row.length] of n draws from one distribution. */
function repeated(row: Float32Array, n: number): Float32Array {
  const rows = new Float32Array(n * row.length);
  for (let r = 0; r < n; r++) rows.set(row, r * row.length);
  return rows;
}

/** Sums of `values` per logit value of the row. */
function byLogit(logits: Float32Array, values: ArrayLike<number>): Map<number, number> {
  const sums = new Map<number, number>();
  logits.forEach((x, i) => sums.set(x, (sums.get(x) ?? 0) + values[i]!));
  return sums;
}

describe("sampleLogits against PyTorch's nanoGPT and Hugging Face filtering", () => {
  it('the fixture holds the cases it was made for', () => expect(cases.length).toBe(20));

  for (const c of cases) {
    it(`${c.name} (V ${c.logits.length}, T ${c.temperature}, top-k ${c.topK}, top-p ${c.topP}): torch's kept set and probabilities`, () =>
      scope(async () => {
        const row = Float32Array.from(c.logits, (x) => x ?? -Infinity);
        const V = row.length;
        const us = [...Array.from({ length: GRID }, (_, i) => Math.fround((i + 0.5) / GRID)), BELOW_ONE];
        const logits = tensor(repeated(row, us.length), [us.length, V]);
        const drawn = await sampleLogits(logits, tensor(us), { temperature: c.temperature, topK: c.topK, topP: c.topP }).toArray();
        const shares = new Array<number>(V).fill(0);
        for (let i = 0; i < GRID; i++) shares[drawn[i]!]! += 1 / GRID;
        const last = drawn[GRID]!;
        const leastKept = c.probs.reduce((j, p, i) => (p > 0 && (c.probs[j]! === 0 || p < c.probs[j]!) ? i : j), 0);
        expect(row[last], `the draw at u just below 1 (token ${last}): the logit of torch's least likely kept token ${leastKept}`).toBe(row[leastKept]);
        if (!c.tieAtCut) {
          for (let id = 0; id < V; id++) expect(Math.abs(shares[id]! - c.probs[id]!), `token ${id}: share ${shares[id]}, torch ${c.probs[id]}`).toBeLessThanOrEqual(2 / GRID + 1e-6);
          expect(c.probs[last]).toBeGreaterThan(0);
        }
        const want = byLogit(row, c.probs);
        for (const [x, share] of byLogit(row, shares)) expect(Math.abs(share - want.get(x)!), `logit ${x}: share ${share}, torch ${want.get(x)}`).toBeLessThanOrEqual((2 * row.filter((y) => y === x).length) / GRID + 1e-6);
        // how many of each logit value are kept: the grid draws every token whose share spans two of its steps
        const keptOf = byLogit(row, c.probs.map((p) => (p > 0 ? 1 : 0)));
        const drawnOf = byLogit(row, shares.map((s) => (s > 0 ? 1 : 0)));
        row.forEach((x, id) => c.probs[id]! > 2 / GRID && expect(drawnOf.get(x), `tokens of logit ${x} drawn`).toBe(keptOf.get(x)));
      }));
  }

  // thousands kept, the top-p cut inside a run of equal logits: a coarse grid checks the distribution
  // over logit values; a fine grid over the last kept run's share finds each of its tokens drawn
  for (const c of gpt2Sized) {
    it(`50,257 logits with runs of equal values, ${c.name}: torch's kept count and probability per logit value`, () =>
      scope(async () => {
        const row = gpt2SizedRow(c.V);
        const [lastLogit, lastKept, lastProb] = c.kept.at(-1)!;
        const coarse = Array.from({ length: 64 }, (_, i) => Math.fround((i + 0.5) / 64));
        const tailFrom = 1 - 1.5 * lastKept * lastProb;
        const fineRows = 48; // the fixture's last runs keep 12 and 7: steps of 0.375 and 0.22 of a token's share
        const fine = Array.from({ length: fineRows }, (_, i) => Math.fround(tailFrom + ((i + 0.5) / fineRows) * (1 - tailFrom)));
        expect((1 - tailFrom) / fine.length, 'the fine grid\'s step').toBeLessThan(lastProb / 2);
        const us = [...coarse, ...fine, BELOW_ONE];
        const drawn = await sampleLogits(tensor(repeated(row, us.length), [us.length, c.V]), tensor(us), { temperature: c.temperature, topK: c.topK, topP: c.topP }).toArray();
        expect(row[drawn[us.length - 1]!], 'the draw at u just below 1: the last kept run').toBe(lastLogit);
        // the coarse grid: the share drawn at or above each kept logit value within 1 / 64 of torch's mass there
        const levels = c.kept.map(([x]) => x);
        let mass = 0;
        for (const [x, n, p] of c.kept) {
          mass += n * p;
          const share = coarse.filter((_, i) => row[drawn[i]!]! >= x).length / coarse.length;
          expect(Math.abs(share - mass), `at or above logit ${x}: share ${share}, torch ${mass}`).toBeLessThanOrEqual(1 / coarse.length + 1e-4);
        }
        for (const id of drawn) expect(levels, `token ${id}, logit ${row[id]}`).toContain(row[id]);
        // the fine grid (a step below half a token's share): every kept token of the last run, and no other of it
        const lastRun = new Set([...drawn.slice(coarse.length, coarse.length + fine.length)].filter((id) => row[id] === lastLogit));
        expect(lastRun.size, `tokens of logit ${lastLogit} drawn`).toBe(lastKept);
      }));
  }
});
