// sampleLogits against PyTorch (test/fixtures/torch/make_sampling_fixture.py, sampling.json): the
// distribution left by temperature, top-k (nanoGPT's generate: -inf below the k-th value, its ties
// kept) and top-p (Hugging Face's TopPLogitsWarper: the smallest set whose mass reaches top_p, one
// token at least), as torch computes it in float32. A row drawn with a stratified grid of uniform
// numbers gives each token a share within 1 / GRID of the probability at each of its two edges,
// and the number just below 1 draws the last kept candidate: the least likely token torch keeps.
// Where the top-p cut falls inside a run of equal logits, which of them HF keeps is torch.sort's
// order of equal values (not stable for long rows), ours the lower ids: there only how much of each
// logit value is kept is compared.
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

const { cases } = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures/torch/sampling.json'), 'utf8')) as { cases: Case[] };

const GRID = 2048;
/** The largest float32 below 1. */
const BELOW_ONE = 1 - 2 ** -24;

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
        const logits = tensor(Float32Array.from(us.flatMap(() => [...row])), [us.length, V]);
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
      }));
  }
});
