// sampleLogits at GPT-2's vocabulary, and generate() drawing on the GPU: the tokens equal the
// float64 host walk (src/check/reference/sample.ts) over the same logits with the same uniform
// numbers. test/ops.test.ts covers small rows, ties and every option through the op table.
import { describe, expect, it, onTestFinished } from 'vitest';
import { sampleWalk } from '../src/check/reference/sample.js';
import { device, generate, generateBatch, GPT, noGrad, sampleLogits, scope, tensor, type SamplingOptions } from '../src/index.js';
import { setProfile, type ProfileOverrides } from '../src/kernels/profile.js';
import { Generator } from '../src/tensor/generator.js';
import { seededValues, setupDevice } from './helpers.js';

await setupDevice();

const all = (o: SamplingOptions, V: number): Required<SamplingOptions> => ({ temperature: 1, topK: V, topP: 1, minP: 0, ...o });
/** The middle of the share (between two cuts of the running weight) that holds v; v itself without cuts. */
const middleOf = (cuts: number[], v: number) => {
  const i = cuts.findIndex((c) => c >= v);
  return i < 0 ? v : ((cuts[i - 1] ?? 0) + cuts[i]!) / 2;
};
/** Whether u lies clear of every cut of the walk (float32 sums may land on the other side of one). */
const clear = (row: Float32Array, u: number, o: Required<SamplingOptions>) => {
  const w = sampleWalk(row, u, o);
  return [...w.beforeTopP.map((c) => [c, o.topP]), ...w.atDraw.map((c) => [c, u])].every(([c, v]) => Math.abs(c! - v!) > 1e-5);
};

describe('sampleLogits', () => {
  it('draws the float64 walk\'s tokens over rows of 50,257 logits (ties included), with temperature, top-k and top-p', () =>
    scope(async () => {
      const V = 50_257;
      const rows = 3;
      // logits on a grid of 1/8 over [-4, 4]: thousands of ties at every level
      const data = Float32Array.from(seededValues(rows * V, 11, -4, 4), (x) => Math.round(x * 8) / 8);
      const logits = tensor(data, [rows, V]);
      const settings: SamplingOptions[] = [{}, { temperature: 0.7 }, { topK: 200 }, { topK: 40, temperature: 1.5 }, { topP: 0.9 }, { topK: 1000, topP: 0.5, temperature: 0.8 }];
      const picks = seededValues(2 * rows * settings.length, 12, 0, 1);
      for (const [k, setting] of settings.entries()) {
        for (let r = 0; r < rows; r++) {
          const row = data.subarray(r * V, (r + 1) * V);
          const o = all(setting, V);
          // float32 sums may put a u or topP that sits on a cut on the other side: take middles
          o.topP = middleOf(sampleWalk(row, 0, o).beforeTopP, o.topP);
          const u = Math.fround(middleOf(sampleWalk(row, 0, o).atDraw, picks[2 * (k * rows + r)]!));
          const got = await sampleLogits(logits.slice(0, r, r + 1), tensor([u]), o).toArray();
          expect(got[0], `row ${r}, ${JSON.stringify(setting)}`).toBe(sampleWalk(row, u, o).token);
        }
      }
    }));

  // -Inf logits (a mask) weigh nothing; a row holding a NaN or +Inf (a diverged model), or only -Inf,
  // has no distribution (torch.multinomial refuses its softmax) and draws -1, greedy too, where a
  // NaN was drawn as the largest logit. No infinity is computed with on the GPU (WGSL may assume
  // them away). Past a temperature of about 1e38, 1 / temperature is 0 in float32: a masked logit
  // still weighs 0.
  it('draws -1 from a row holding a NaN or +Inf logit or only -Inf ones, greedy too, and the float64 walk\'s tokens where -Inf masks', () =>
    scope(async () => {
      const [inf, nan] = [Infinity, NaN];
      const rows = [
        [1, inf, 2, inf, -inf], [-inf, 1, 2, -inf, 0.5], [-inf, -inf, -inf, -inf, -inf], [nan, 1, inf, nan, 2], [3e37, -3e37, 1e37, -inf, 0],
        [-inf, -inf, 7, -inf, -inf], [0, -0, -inf, 0, -0], [-inf, 0.5, -inf, -inf, 2, -1, -inf], [2, 1, nan, 0.5], [-inf, -inf, inf],
      ];
      const settings: SamplingOptions[] = [{}, { temperature: 0 }, { temperature: 1e-6 }, { temperature: 50 }, { temperature: 1e40 }, { temperature: 1e300 }, { topK: 2 }, { topP: 0.5 }, { topK: 3, topP: 0.9 }];
      const us = [0, 0.1, 0.3, 0.45, 0.55, 0.7, 0.9, 0.999].map(Math.fround);
      const undrawable = (row: number[]) => row.some((x) => Number.isNaN(x) || x === inf) || row.every((x) => x === -inf);
      for (const row of rows) {
        const data = Float32Array.from(row);
        const repeated = tensor(Float32Array.from(us.flatMap(() => row)), [us.length, row.length]); // a draw per u
        for (const setting of settings) {
          const o = all(setting, row.length);
          const got = await sampleLogits(repeated, tensor(us), o).toArray();
          if (undrawable(row)) expect([...got], `${row}, ${JSON.stringify(setting)}`).toEqual(us.map(() => -1));
          else expect([...got], `${row}, ${JSON.stringify(setting)}`).toEqual(us.map((u) => sampleWalk(data, u, o).token));
        }
      }
    }));

  // Greedy's one pass keeps each lane's first id of its largest key and joins the lanes' in a tree:
  // ties across lanes (the first id in a later lane), within a lane, the largest at the last id,
  // V not a multiple of the lanes, -0 tying with +0, and the rows that draw -1 among the others.
  // The adapter's lanes (profile greedyLanes), one lane a row (64 rows a workgroup, no tree), 32
  // and 256, and a chunk of rows at a time (a small binding limit; the adapter's lanes).
  const layouts: [string, ProfileOverrides][] = [
    ['adapter', {}], ['one lane a row', { greedyLanes: [{ lanes: 1 }] }], ['32 lanes', { greedyLanes: [{ lanes: 32 }] }], ['256 lanes', { greedyLanes: [{ lanes: 256 }] }],
    ['small bindings', { bindingLimit: 4096, offsetAlignment: 256 }],
  ];
  for (const [layout, overrides] of layouts) {
    const Vs = overrides.bindingLimit ? [1, 33, 257] : [1, 33, 2051, 50_257];
    it(`greedy draws the first id of the largest logit, as the float64 walk, in rows of ${Vs.join(', ')} ids (${layout} layout)`, () =>
      scope(async () => {
        onTestFinished(() => setProfile(null));
        setProfile(overrides);
        for (const V of Vs) {
          const rows = greedyRows(V);
          const data = new Float32Array(rows.length * V);
          rows.forEach((r, i) => data.set(r, i * V)); // bit for bit: a NaN's sign kept
          const got = await sampleLogits(tensor(data, [rows.length, V]), tensor(new Float32Array(rows.length)), { temperature: 0 }).toArray();
          expect([...got], `V ${V}`).toEqual(rows.map((r) => sampleWalk(r, 0, all({ temperature: 0 }, V)).token));
        }
      }));
  }

  // Many rows: at one lane a row, 64 rows a workgroup, the last one part full; [2, 3, R, V] rows.
  // Oracle: a host argmax taking the first index of the largest logit. Each layout its own logits:
  // a pooled output buffer may hold the last layout's ids, right for the same logits.
  it.each(layouts.slice(0, 4).map(([name, o], i) => [name, o, i] as const))('greedy over 2 x 3 x 50 rows of 65 and 1 x 1 x 150 rows of 300 logits is the first index of each row\'s largest (%s layout)', (_layout, overrides, seed) =>
    scope(async () => {
      onTestFinished(() => setProfile(null));
      setProfile(overrides);
      for (const shape of [[2, 3, 50, 65], [1, 1, 150, 300]]) {
        const V = shape.at(-1)!;
        const data = Float32Array.from(seededValues(shape.reduce((a, b) => a * b), 100 * seed + V, -4, 4), (x) => Math.round(x * 4) / 4); // ties in every row
        const rows = data.length / V;
        const firstArgmax = (r: number) => {
          let best = 0;
          for (let i = 1; i < V; i++) if (data[r * V + i]! > data[r * V + best]!) best = i;
          return best;
        };
        const got = await sampleLogits(tensor(data, shape), tensor(new Float32Array(rows), shape.slice(0, -1)), { temperature: 0 }).toArray();
        expect([...got], `${shape}`).toEqual(Array.from({ length: rows }, (_, r) => firstArgmax(r)));
      }
    }));

  // The lanes a row are the profile's (greedyLanes, drawLanes: by the row's length), seen in the
  // kernels' names: on every adapter, whatever its own choice.
  it('takes its lanes a row from the profile, by the row\'s length, greedy and drawn', (ctx) =>
    scope(async () => {
      if (!device().info.features.includes('timestamp-query')) return ctx.skip();
      onTestFinished(() => setProfile(null));
      setProfile({ greedyLanes: [{ upTo: 64, lanes: 1 }, { upTo: 100, lanes: 8 }, { lanes: 256 }], drawLanes: [{ upTo: 64, lanes: 32 }, { lanes: 256 }] });
      const kernelOf = async (V: number, temperature: number) => {
        device().startProfiling();
        sampleLogits(tensor(new Float32Array(2 * V), [2, V]), tensor([0.5, 0.5]), { temperature });
        return (await device().stopProfiling()).map((k) => k.name);
      };
      const got = [];
      for (const V of [64, 65, 100, 101]) got.push(await kernelOf(V, 0), await kernelOf(V, 1));
      expect(got.flat()).toEqual(['greedy_rows_1', 'sample_rows_32', 'greedy_rows_8', 'sample_rows_256', 'greedy_rows_8', 'sample_rows_256', 'greedy_rows_256', 'sample_rows_256']);
    }));

  // Hugging Face's edge values: top_k=0 disables top-k; top_p=0 keeps min_tokens_to_keep = 1 token,
  // the likeliest (of tied top logits, ours is the lower id; HF's depends on its sort). Oracles: the
  // walk with top-k off (topK = V), and a plain argmax.
  it('takes topK 0 as off and topP 0 as keeping only the likeliest token, as Hugging Face does', () =>
    scope(async () => {
      const rows = [[0.5, 2, -1, 1.5, 2.5], [3, 1, 3, 0, -2], [-1, -1, -1, -1, -1], [0, 4, 1, 4.5, 4.5]];
      const us = [0, 0.2, 0.5, 0.8, 0.999].map(Math.fround);
      const argmaxOf = (row: number[]) => row.reduce((best, x, i) => (x > row[best]! ? i : best), 0);
      for (const row of rows) {
        const repeated = tensor(Float32Array.from(us.flatMap(() => row)), [us.length, row.length]);
        const offK = await sampleLogits(repeated, tensor(us), { topK: 0, temperature: 2 }).toArray();
        expect([...offK], `${row} topK 0`).toEqual(us.map((u) => sampleWalk(Float32Array.from(row), u, all({ temperature: 2 }, row.length)).token));
        const zeroP = await sampleLogits(repeated, tensor(us), { topP: 0, temperature: 2 }).toArray();
        expect([...zeroP], `${row} topP 0`).toEqual(us.map(() => argmaxOf(row)));
      }
    }));

  it('refuses bad options and shapes with a one-line error', () =>
    scope(() => {
      const logits = tensor([[1, 2, 3]]);
      for (const topP of [-0.1, 1.5, NaN]) expect(() => sampleLogits(logits, tensor([0.5]), { topP })).toThrow(new RegExp(`^sampleLogits: topP must be a number in \\[0, 1\\], got number ${topP}$`));
      for (const topK of [-1, 1.5, NaN]) expect(() => sampleLogits(logits, tensor([0.5]), { topK })).toThrow(new RegExp(`^sampleLogits: topK must be an integer >= 0 \\(0 = off\\), got number ${topK}$`));
      // strings are refused, not coerced ('0.5' > 0 is true), and say they are strings
      expect(() => sampleLogits(logits, tensor([0.5]), { topP: '0.5' as never })).toThrow(/^sampleLogits: topP must be a number in \[0, 1\], got string '0.5'$/);
      expect(() => sampleLogits(logits, tensor([0.5]), { temperature: '1' as never })).toThrow(/^sampleLogits: temperature must be a finite number >= 0 \(0 = greedy\), got string '1'$/);
      expect(() => sampleLogits(logits, tensor([0.5]), null as never)).toThrow(/^sampleLogits: options \{ temperature\?, topK\?, topP\?, minP\? \} must be an object, got null$/);
      expect(() => sampleLogits(logits, tensor([0.5, 0.5]))).toThrow(/^sampleLogits: logits must be \[\.\.\., V\] with V >= 1 and u the leading shape/);
      // greedy too: its argmax does not read u, but a call that is wrong at any temperature is wrong at 0
      expect(() => sampleLogits(logits, tensor([0.5, 0.5]), { temperature: 0 })).toThrow(/^sampleLogits: logits must be \[\.\.\., V\] with V >= 1 and u the leading shape \[\.\.\.\], got \[1, 3\] and \[2\]$/);
      expect(() => sampleLogits(logits, undefined as never, { temperature: 0 })).toThrow(/^sampleLogits: argument 'u' must be a Tensor, got undefined$/);
      expect(() => sampleLogits(logits, tensor(new Int32Array(1), [1]), { temperature: 0 })).toThrow(/^sampleLogits: argument 'u' must be a float32 tensor, got int32\[1\]$/);
      expect(() => sampleLogits(tensor(new Float32Array(0), [2, 0]), tensor([0.5, 0.5]), { temperature: 0 })).toThrow(/^sampleLogits: logits must be/);
    }));
});

/** Rows of V logits for greedy (see its test); ids past V are left out. */
function greedyRows(V: number): Float32Array[] {
  const base = () => Float32Array.from(seededValues(V, V, -4, 4), (x) => Math.round(x * 8) / 8); // ties at every level
  const set = (row: Float32Array, ids: number[], v: number) => {
    for (const i of ids) if (i < V) row[i] = v;
    return row;
  };
  const bits = (row: Float32Array, id: number, b: number) => {
    if (id < V) new Uint32Array(row.buffer)[id] = b;
    return row;
  };
  return [
    base(),
    set(base(), [V - 1], 5),
    set(base(), [V - 1, V - 2], 5),
    set(base(), [32, 31], 5), // 32 lanes: lane 0's id after lane 31's
    set(base(), [256, 255], 5), // the same at 256 lanes
    set(base(), [519, 263, 1000], 5), // 263 and 519: one lane at 32 or 256 lanes
    set(base().map((x) => x - 5), [V - 1, 1], 0).fill(-0, 1, 2), // -0 at id 1 ties with +0 at the last
    set(new Float32Array(V).fill(-Infinity), [V - 1], 7),
    // no distribution: -1
    set(base(), [V - 1], NaN),
    set(base(), [V - 1], Infinity),
    bits(base(), 100, 0xffc00001), // a NaN with its sign bit set
    new Float32Array(V).fill(-Infinity),
  ];
}

describe('generate', () => {
  it('draws each token on the GPU as the host walk over the model\'s logits does, with the seeded stream', async () => {
    const model = new GPT({ vocabSize: 67, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 32, dropout: 0, bias: true }, { seed: 5 });
    const opts = { temperature: 1.3, topK: 30, topP: 0.95 };
    const prompt = [3, 14, 15];
    const got: number[] = [];
    for await (const t of generate(model, prompt, { ...opts, maxNewTokens: 12, seed: 9 })) got.push(t);
    // the host side: full-context logits, the same uniform numbers, the float64 walk
    const rng = new Generator(9);
    const tokens = [...prompt];
    let compared = 0;
    for (const next of got) {
      const u = rng.nextFloat();
      const row = await noGrad(() =>
        scope(async () => (await model.forward(tensor(new Int32Array(tokens), [1, tokens.length])).logits.slice(1, tokens.length - 1).toArray()) as Float32Array),
      );
      const o = all(opts, 67);
      if (clear(row, Math.fround(u), o)) {
        expect(next).toBe(sampleWalk(row, Math.fround(u), o).token);
        compared++;
      }
      tokens.push(next);
    }
    expect(compared).toBeGreaterThan(9);
    model.dispose();
  });

  // A model whose activations overflow float32 from position 3 on (its wpe row there is 3e38: the
  // first LayerNorm's mean overflows, and NaN follows): torch.multinomial refuses such logits, so
  // generation stops with the step and position instead of drawing a NaN as the likeliest token.
  it('refuses logits that are not finite, naming the sequence, the generated token and its position; the device reads on after', async () => {
    const model = new GPT({ vocabSize: 67, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 32, dropout: 0, bias: true }, { seed: 5 });
    const wpe = await model.wpe.weight.toArray();
    wpe.fill(3e38, 3 * 32, 4 * 32);
    scope(() => model.wpe.weight.assign(tensor(wpe, [32, 32])));
    onTestFinished(() => model.dispose());
    const drawn = async (run: AsyncIterable<unknown>) => {
      const got: unknown[] = [];
      const err = await (async () => {
        for await (const t of run) got.push(t);
      })().catch((e: Error) => e);
      return { got, err };
    };
    for (const temperature of [1, 0]) {
      for (const kvCache of [true, false]) {
        const what = `temperature ${temperature}, kvCache ${kvCache}`;
        // prompt positions 0-2: the first token is drawn at position 3 from finite logits; the second not
        const one = await drawn(generate(model, [3, 14, 15], { maxNewTokens: 6, temperature, kvCache }));
        expect(one.got, what).toHaveLength(1);
        expect((one.err as Error).message, what).toMatch(/^generate: the model's logits are not finite at generated token 2 \(position 4\): a NaN or \+Inf, or every one -Inf, so there is no distribution to draw from .*; no token was drawn there$/);
        // the step recorded ahead on the refused draw (-1: its embedding raises a fault) left no fault
        // for the next read: generate awaits its readback. Without, whether the next read met the fault
        // was a race (lost 1 time in 3 here): hence the rounds
        for (let round = 0; round < 6; round++) {
          await drawn(generate(model, [3, 14, 15], { maxNewTokens: 6, temperature, kvCache }));
          expect(await scope(async () => [...(await tensor([1, 2]).toArray())]), `${what}, round ${round}`).toEqual([1, 2]);
        }
        // sequence 1's prompt reaches position 3: its first draw is refused, sequence 0's is not
        const two = await drawn(generateBatch(model, [[3, 14, 15], [1, 2, 3, 4, 5]], { maxNewTokens: 4, temperature, kvCache }));
        expect(two.got, what).toEqual([]);
        expect((two.err as Error).message, what).toMatch(/^generateBatch: the model's logits are not finite at sequence 1, generated token 1 \(position 5\)/);
      }
    }
  });
});

/** splitmix64's output mix inverted: the seed whose Generator's first nextFloat() lies within 2^-25 of 1 (those round to 1 in float32). */
function seedDrawingNearOne(): number {
  const M = (1n << 64n) - 1n;
  const inverse = (a: bigint) => [...Array(6)].reduce((x: bigint) => (x * (2n - a * x)) & M, a); // mod 2^64, by Newton's iteration
  const unshift = (z: bigint, s: bigint) => [...Array(3)].reduce((x: bigint) => z ^ (x >> s), z); // x ^ (x >> s) undone (s >= 27: 3 rounds)
  const unmix = (z: bigint) => unshift((unshift((unshift(z, 31n) * inverse(0x94d049bb133111ebn)) & M, 27n) * inverse(0xbf58476d1ce4e5b9n)) & M, 30n);
  for (let z = M; ; z--) {
    const seed = (unmix(z) - 0x9e3779b97f4a7c15n) & M; // the state is seed + the golden gamma when mixed
    if (seed <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(seed);
  }
}

describe('generate, a uniform number within 2^-25 of 1', () => {
  it('draws what the float64 walk draws, not the least likely token (float32 rounded u up to 1: the walk past every candidate)', async () => {
    const seed = seedDrawingNearOne();
    const u = new Generator(seed).nextFloat();
    expect(u).toBeGreaterThan(1 - 2 ** -25);
    const model = new GPT({ vocabSize: 67, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 32, dropout: 0, bias: true }, { seed: 5 });
    const prompt = [3, 14, 15];
    const opts = { temperature: 1e-6 }; // all the weight on the top token
    const got: number[] = [];
    for await (const t of generate(model, prompt, { ...opts, maxNewTokens: 1, seed })) got.push(t);
    const row = await noGrad(() =>
      scope(async () => (await model.forward(tensor(new Int32Array(prompt), [1, prompt.length])).logits.slice(1, prompt.length - 1).toArray()) as Float32Array),
    );
    expect(got).toEqual([sampleWalk(row, u, all(opts, 67)).token]);
    model.dispose();
  });
});
