// Beam search (generateBeams) against a float64 beam search written here from Hugging Face's
// vectorized _beam_search (transformers v4.50+), step for step as it does it: N running beams from
// the start (scores 0, -1e9, ...), N·V continuations, top 2N, a finished set of N slots held at
// -1e9 until filled, the running beams the top N after -1e9 on those that finished, the early-stop
// flags, over GPT-2's float64 logits (test/hf-reference.ts) of each beam's last-blockSize window;
// with noRepeatNgramSize, HF's NoRepeatNGramLogitsProcessor's rule (src/check/reference/ngram.ts)
// on each beam's logprobs, over its whole sequence. Also: numBeams 1 is greedy `generate`; GPU
// memory back where it was.
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { bannedNgramIds } from '../src/check/reference/ngram.js';
import { generate } from '../src/gpt/generate.js';
import { generateBeams, type BeamSearchOptions } from '../src/gpt/beam-search.js';
import type { GPT } from '../src/gpt/model.js';
import { device } from '../src/index.js';
import { Tensor } from '../src/tensor/tensor.js';
import { loadGPT2, setupDevice } from './helpers.js';
import { gpt2Logits, randomGPT2, SMALL, type GPT2Params } from './hf-reference.js';

const { T: blockSize, V } = SMALL;
const NEG = -1e9; // HF's stand-in for -inf

const params = randomGPT2(11);
let model: GPT;
beforeAll(async () => {
  await setupDevice();
  model = await loadGPT2(params, false);
});

const logprobsOf = new Map<GPT2Params, Map<string, Float64Array>>(); // by weights and context: the runs share many
/** log_softmax of GPT-2's float64 logits (weights `p`) after `seq`'s last blockSize tokens. */
function logprobs(p: GPT2Params, seq: number[]): Float64Array {
  const key = seq.slice(-blockSize).join();
  const known = logprobsOf.get(p) ?? logprobsOf.set(p, new Map()).get(p)!;
  let lp = known.get(key);
  if (!lp) {
    const x = gpt2Logits(p, seq.slice(-blockSize)).at(-1)!;
    const m = Math.max(...x);
    const lse = m + Math.log(x.reduce((s, v) => s + Math.exp(v - m), 0));
    known.set(key, (lp = x.map((v) => v - lse)));
  }
  return lp;
}

/** Indices of the k largest of xs, largest first (ties: the lower index). */
const topIndices = (xs: number[], k: number) => xs.map((x, i) => [x, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k).map(([, i]) => i);

/** HF's _beam_search for one prompt, in float64: the numReturnSequences best (new tokens, score), and how many candidates finished on the EOS. */
function referenceBeams(prompt: number[], o: BeamSearchOptions, weightsAt: (step: number) => GPT2Params = () => params): { best: { tokens: number[]; score: number }[]; endedOnEos: number } {
  const { numBeams: N, maxNewTokens, lengthPenalty: lp = 1, earlyStopping = false, numReturnSequences = 1, eosTokenId, noRepeatNgramSize: n = 0 } = o;
  const K = 2 * N;
  let running = Array.from({ length: N }, () => [...prompt]);
  let runningScores = Array.from({ length: N }, (_, j): number => (j ? NEG : 0));
  let finished = Array.from({ length: N }, () => ({ seq: [] as number[], score: NEG, done: false }));
  let unsatisfied = true;
  let endedOnEos = 0;
  for (let curLen = prompt.length; ; ) {
    const flat: number[] = [];
    running.forEach((seq, j) => {
      const banned = n ? bannedNgramIds(seq, n) : new Set<number>();
      logprobs(weightsAt(curLen - prompt.length), seq).forEach((l, v) => flat.push((banned.has(v) ? -Infinity : l) + runningScores[j]!));
    });
    const top = topIndices(flat, K).map((i) => ({ seq: [...running[Math.floor(i / V)]!, i % V], score: flat[i]! }));
    const hits = top.map((c) => c.seq.length >= prompt.length + maxNewTokens || c.seq.at(-1) === eosTokenId);
    // e. the next running beams
    const runningCandidates = top.map((c, k) => c.score + (hits[k] ? NEG : 0));
    const next = topIndices(runningCandidates, N);
    [running, runningScores] = [next.map((k) => top[k]!.seq), next.map((k) => runningCandidates[k]!)];
    // f. the finished set
    const full = finished.every((f) => f.done) && earlyStopping === true;
    const newFinished = top.map((c, k) => {
      const done = hits[k]! && k < N;
      const score = c.score / (curLen + 1 - prompt.length) ** lp + (full ? NEG : 0) + (unsatisfied ? 0 : NEG) + (done ? 0 : NEG);
      return { seq: c.seq, score, done };
    });
    endedOnEos += newFinished.filter((f) => f.done && f.seq.at(-1) === eosTokenId).length;
    const merged = [...finished, ...newFinished];
    finished = topIndices(merged.map((m) => m.score), N).map((i) => merged[i]!);
    // g. stop or not
    curLen++;
    const best = curLen - prompt.length;
    const bestLength = earlyStopping === 'never' && lp > 0 ? maxNewTokens : best;
    const bestPossible = runningScores[0]! / bestLength ** lp;
    const worst = Math.min(...finished.map((f) => f.score));
    unsatisfied = unsatisfied && finished.some((f) => bestPossible > (f.done ? worst : NEG));
    const openBeam = !(finished.every((f) => f.done) && earlyStopping === true);
    if (!(unsatisfied && openBeam && !hits.every(Boolean))) break;
  }
  const best = finished.slice(0, numReturnSequences).map((f) => {
    expect(f.done, 'a returned sequence finished').toBe(true);
    return { tokens: f.seq.slice(prompt.length), score: f.score };
  });
  return { best, endedOnEos };
}

const PROMPT = [5, 77, 140, 9];

async function expectReference(prompt: number[], o: BeamSearchOptions) {
  const got = await generateBeams(model, prompt, o);
  const want = referenceBeams(prompt, o);
  expect(got.map((h) => h.tokens)).toEqual(want.best.map((h) => h.tokens));
  got.forEach((h, i) => expect(h.score, `score ${i}`).toBeCloseTo(want.best[i]!.score, 4));
  return want.endedOnEos;
}

describe('generateBeams', () => {
  /** An EOS that occurs: the third new token of the best sequence without one. */
  let eos: number;
  beforeAll(() => {
    eos = referenceBeams(PROMPT, { numBeams: 3, maxNewTokens: 6 }).best[0]!.tokens[2]!;
  });

  it.each<Omit<BeamSearchOptions, 'maxNewTokens'>>([
    { numBeams: 2 },
    { numBeams: 4, numReturnSequences: 4 },
    { numBeams: 3, lengthPenalty: 0, numReturnSequences: 2 },
    { numBeams: 3, lengthPenalty: -1.5, earlyStopping: true, numReturnSequences: 3 },
  ])("is HF's float64 beam search without an EOS: %o", async (o) => {
    await expectReference(PROMPT, { ...o, maxNewTokens: 6 });
  });

  it.each<[Omit<BeamSearchOptions, 'maxNewTokens' | 'eosTokenId'>, number]>([
    [{ numBeams: 3, numReturnSequences: 3 }, 10],
    [{ numBeams: 4, lengthPenalty: 0.5, numReturnSequences: 2 }, 8],
  ])("is HF's float64 beam search with an EOS that occurs: %o, %i new tokens", async (o, maxNewTokens) => {
    const endedOnEos = await expectReference(PROMPT, { ...o, maxNewTokens, eosTokenId: eos });
    expect(endedOnEos, 'beams that ended on the EOS').toBeGreaterThan(0);
  });

  // EOS ids found (by a search over the float64 reference) where each rule decides the result: with
  // it left out (an EOS candidate past the top N finishing; stopping once N are finished under
  // earlyStopping true; the heuristic stop; 'never' judging at maxNewTokens) the sequences differ
  it.each<[string, Omit<BeamSearchOptions, 'numBeams' | 'maxNewTokens'>]>([
    ['the top-N rule and the stop of earlyStopping true', { earlyStopping: true, eosTokenId: 14 }],
    ["false's heuristic stop", { numReturnSequences: 2, eosTokenId: 220 }],
    ["false's heuristic stop, lengthPenalty 1.5", { lengthPenalty: 1.5, eosTokenId: 220 }],
    ["'never' judging at maxNewTokens", { earlyStopping: 'never', lengthPenalty: 1.5, eosTokenId: 220 }],
  ])("is HF's float64 beam search where %s decides", async (_, o) => {
    const endedOnEos = await expectReference([3], { numBeams: 2, maxNewTokens: 14, ...o });
    expect(endedOnEos, 'beams that ended on the EOS').toBeGreaterThan(0);
  });

  // a prompt that repeats itself: its n-grams count, as HF's input_ids; each case's bans change the result
  it.each<[Omit<BeamSearchOptions, 'maxNewTokens'>, number[]]>([
    [{ numBeams: 4, noRepeatNgramSize: 2 }, PROMPT],
    [{ numBeams: 3, noRepeatNgramSize: 1, numReturnSequences: 3 }, [7, 7, 7]],
    [{ numBeams: 2, noRepeatNgramSize: 3, numReturnSequences: 2 }, [22, 40, 40, 22, 40]],
  ])("is HF's float64 beam search with noRepeatNgramSize: %o, prompt %o", async (o, prompt) => {
    await expectReference(prompt, { ...o, maxNewTokens: 12 });
    const without = referenceBeams(prompt, { ...o, maxNewTokens: 12, noRepeatNgramSize: 0 }).best;
    expect(without.map((h) => h.tokens), 'the bans change the beams').not.toEqual(referenceBeams(prompt, { ...o, maxNewTokens: 12 }).best.map((h) => h.tokens));
  });

  it('slides the window past the block size, as generate does', async () => {
    const long = Array.from({ length: blockSize - 2 }, (_, i) => (i * 37 + 3) % V);
    await expectReference(long, { numBeams: 2, maxNewTokens: 5, numReturnSequences: 2 });
  });

  it('with one beam, is greedy generate', async () => {
    const greedy: number[] = [];
    for await (const t of generate(model, PROMPT, { maxNewTokens: 14, temperature: 0 })) greedy.push(t);
    const [beam] = await generateBeams(model, PROMPT, { numBeams: 1, maxNewTokens: 14 });
    expect(beam!.tokens).toEqual(greedy);
  });

  it('reads back 2·numBeams scores and 2·numBeams indices a step, never the logits', async () => {
    const read = vi.spyOn(Tensor.prototype, 'toArray');
    try {
      await generateBeams(model, PROMPT, { numBeams: 3, maxNewTokens: 5 });
      expect(read.mock.contexts.map((t) => (t as Tensor).size)).toEqual(new Array(2 * 5).fill(6));
    } finally {
      read.mockRestore();
    }
  });

  /** generateBeams with `change` run once the first step's scores and indices are read back. */
  async function changedAfterFirstStep(o: BeamSearchOptions, change: () => void) {
    const toArray = Tensor.prototype.toArray;
    let reads = 0;
    const read = vi.spyOn(Tensor.prototype, 'toArray').mockImplementation(async function (this: Tensor, ...args) {
      const values = await toArray.apply(this, args);
      if (++reads === 2) change();
      return values;
    });
    try {
      return await generateBeams(model, PROMPT, o);
    } finally {
      read.mockRestore();
    }
  }

  it("weights changed while a step is read back: the next steps are the new weights' (the cache re-encoded)", async () => {
    const hostState = async (m: GPT) => new Map(await Promise.all([...m.stateDict()].map(async ([k, t]) => [k, { shape: [...t.shape], data: (await t.toArray()) as Float32Array }] as const)));
    const params2 = randomGPT2(12);
    const other = await loadGPT2(params2, false);
    const [original, changed] = [await hostState(model), await hostState(other)];
    other.dispose();
    const o = { numBeams: 3, maxNewTokens: 6, numReturnSequences: 3 };
    try {
      const got = await changedAfterFirstStep(o, () => model.loadStateDict(changed));
      const want = referenceBeams(PROMPT, o, (step) => (step ? params2 : params)).best;
      expect(got.map((h) => h.tokens)).toEqual(want.map((h) => h.tokens));
      got.forEach((h, i) => expect(h.score, `score ${i}`).toBeCloseTo(want[i]!.score, 4));
    } finally {
      model.loadStateDict(original);
    }
  });

  it('refuses, in one line, a model put in training mode while a step is read back', async () => {
    try {
      await expect(changedAfterFirstStep({ numBeams: 2, maxNewTokens: 4 }, () => model.train())).rejects.toThrow(
        /^generateBeams: the model was put in training mode \(model\.train\(\)\) during this generation; it decodes in eval mode: switch after it ends$/,
      );
    } finally {
      model.eval();
    }
  });

  it('where noRepeatNgramSize bans every continuation of every beam: one line saying so, as generate, not sequences of banned tokens scored -Infinity', async () => {
    const prompt = Array.from({ length: SMALL.V - 2 }, (_, i) => i); // every id but 258 and 259
    const before = device().memory().liveBytes;
    await expect(generateBeams(model, prompt, { numBeams: 1, maxNewTokens: 3, noRepeatNgramSize: 1 })).rejects.toThrow(
      /^generateBeams: the model's logits are not finite at generated token 3 \(position 260\): .*\(noRepeatNgramSize 1 banned every token left \(-Inf\), or its weights/,
    );
    expect(device().memory().liveBytes).toBe(before);
    const [best] = await generateBeams(model, prompt, { numBeams: 1, maxNewTokens: 2, noRepeatNgramSize: 1 });
    expect([...best!.tokens].sort(), 'the two ids left').toEqual([258, 259]);
  });

  it('leaves the GPU memory as it found it', async () => {
    await generateBeams(model, PROMPT, { numBeams: 2, maxNewTokens: 2 }); // warm the pools
    const before = device().memory().liveBytes;
    await generateBeams(model, PROMPT, { numBeams: 4, maxNewTokens: 14, eosTokenId: 3 }); // past the block size too
    await generateBeams(model, PROMPT, { numBeams: 4, maxNewTokens: 14, noRepeatNgramSize: 2 });
    expect(device().memory().liveBytes).toBe(before);
  });
});
