// LoRA on a Linear (src/nn/lora.ts): y = x·Wᵀ + b + (alpha/r)·dropout(x)·Aᵀ·Bᵀ. Forward and the
// gradients of x, A and B against central finite differences of a plain-TS float64 reference, on
// shapes fast-check draws; W and b get none. peft's init (A ~ U(±1/sqrt(in)), B = 0); dropout's
// mask is the dropout op's for the seed the adapter draws; merge() against W + (alpha/r)·B·A in
// float64 and against the unmerged forward; AdamW over trainableParameters() leaves W and b
// bit-identical; settings that cannot work are refused in one line.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { dropout, Generator, Linear, scope, tensor, type Tensor } from '../src/index.js';
import { dropoutMaskRef } from '../src/check/reference/philox.js';
import { AdamW } from '../src/optim/adamw.js';
import { fcParams, seededValues, setupDevice } from './helpers.js';

beforeAll(setupDevice);

type Dims = { rows: number; inF: number; outF: number; rank: number; alpha: number; bias: boolean; seed: number; dropout?: number; lead?: number[] };

const f32 = (n: number, seed: number) => Float32Array.from(seededValues(n, seed));

/** The layer's inputs as host values: x [rows, in], W [out, in], b [out], A [r, in], B [out, r], and G [rows, out] weighing the outputs. */
function draw({ rows, inF, outF, rank, seed }: Dims) {
  return { x: f32(rows * inF, seed), W: f32(outF * inF, seed + 1), b: f32(outF, seed + 2), A: f32(rank * inF, seed + 3), B: f32(outF * rank, seed + 4), G: f32(rows * outF, seed + 5) };
}

/**
 * float64: y = x Wᵀ + b + (alpha/r) xa Aᵀ Bᵀ, the adapter's input xa x unless given (dropped), or
 * x times `keep` (dropout's 0 or 1 / (1 - p) an element).
 */
function reference(d: Dims, v: { x: ArrayLike<number>; W: ArrayLike<number>; b: ArrayLike<number>; A: ArrayLike<number>; B: ArrayLike<number> }, xa: ArrayLike<number> = v.x, keep?: ArrayLike<number>): Float64Array {
  const { rows, inF, outF, rank } = d;
  if (keep) xa = Float64Array.from(v.x, (x, i) => x * keep[i]!);
  const s = d.alpha / rank;
  const y = new Float64Array(rows * outF);
  for (let i = 0; i < rows; i++) {
    const h = new Float64Array(rank); // x_i Aᵀ
    for (let k = 0; k < rank; k++) for (let j = 0; j < inF; j++) h[k]! += xa[i * inF + j]! * v.A[k * inF + j]!;
    for (let o = 0; o < outF; o++) {
      let acc = d.bias ? v.b[o]! : 0;
      for (let j = 0; j < inF; j++) acc += v.x[i * inF + j]! * v.W[o * inF + j]!;
      for (let k = 0; k < rank; k++) acc += s * h[k]! * v.B[o * rank + k]!;
      y[i * outF + o] = acc;
    }
  }
  return y;
}

/** d/dv of L = sum(G ⊙ y) for each element of `name`, by central differences of the float64 reference (the adapter's input x ⊙ keep). */
function numericGrad(d: Dims, v: ReturnType<typeof draw>, name: 'x' | 'A' | 'B', keep?: ArrayLike<number>): Float64Array {
  const values = { ...v, [name]: Float64Array.from(v[name]) };
  const loss = () => reference(d, values, values.x, keep).reduce((acc, y, i) => acc + y * v.G[i]!, 0);
  const eps = 1e-4;
  return Float64Array.from(values[name], (orig, i) => {
    values[name][i] = orig + eps;
    const up = loss();
    values[name][i] = orig - eps;
    const down = loss();
    values[name][i] = orig;
    return (up - down) / (2 * eps);
  });
}

/** An adapted Linear holding `v`'s values. */
function adapted(d: Dims, v: ReturnType<typeof draw>): Linear {
  const layer = new Linear(d.inF, d.outF, { rng: new Generator(1), bias: d.bias });
  layer.addLoRA({ rank: d.rank, alpha: d.alpha, dropout: d.dropout ?? 0, rng: new Generator(2) });
  const entry = (shape: number[], data: Float32Array) => ({ shape, data });
  layer.loadStateDict({
    weight: entry([d.outF, d.inF], v.W), ...(d.bias && { bias: entry([d.outF], v.b) }),
    'lora.A': entry([d.rank, d.inF], v.A), 'lora.B': entry([d.outF, d.rank], v.B),
  });
  return layer;
}

function expectNear(got: ArrayLike<number>, want: ArrayLike<number>, atol: number, rtol: number, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= atol + rtol * Math.abs(want[i]!))) throw new Error(`${what}[${i}]: got ${got[i]}, want ${want[i]}`);
  }
}

/** x as a model's [B, T, in] now and then (rows = B·T); the adapter's dropout off, or on while training. */
const dimsArb = fc
  .record({
    rows: fc.integer({ min: 1, max: 6 }), inF: fc.integer({ min: 1, max: 9 }), outF: fc.integer({ min: 1, max: 9 }), rankPick: fc.nat(), alpha: fc.constantFrom(1, 8, 16),
    bias: fc.boolean(), seed: fc.nat(1000), dropout: fc.constantFrom(0, 0, 0.1, 0.5), batch: fc.constantFrom(1, 1, 2, 3),
  })
  .map(({ rankPick, batch, ...d }) => ({ ...d, rows: batch * d.rows, lead: batch > 1 ? [batch, d.rows] : [d.rows], rank: 1 + (rankPick % Math.min(d.inF, d.outF)) }));

/** The factor dropout keeps each of x's elements by in the adapter's first training forward (its mask from a float64 Philox, for the seed drawn after A's): 0 or 1 / (1 - p). */
function keepOf(d: Dims): Float64Array {
  const p = d.dropout ?? 0;
  if (p === 0) return new Float64Array(d.rows * d.inF).fill(1);
  const seeds = new Generator(2);
  seeds.nextSeed(); // the draw of A
  return Float64Array.from(dropoutMaskRef(d.rows * d.inF, p, seeds.nextSeed()), (k) => k / (1 - p));
}

describe('LoRA on a Linear', () => {
  it('forward and the gradients of x, A and B match float64 finite differences, x [rows, in] or [B, T, in], adapter dropout on or off; W and b get none', async () => {
    await fc.assert(
      fc.asyncProperty(dimsArb, async (d) => {
        const v = draw(d);
        const layer = adapted(d, v);
        const keep = keepOf(d);
        await scope(async () => {
          const x = tensor(v.x, [...d.lead, d.inF]).requiresGrad_();
          const y = layer.forward(x);
          expect(y.shape).toEqual([...d.lead, d.outF]);
          y.mul(tensor(v.G, [...d.lead, d.outF])).sum().backward();
          const tol = 1e-5 * Math.sqrt(d.inF + d.rank);
          expectNear(await y.toArray(), reference(d, v, v.x, keep), tol / (1 - (d.dropout ?? 0)), 1e-4, 'y');
          const lora = layer.lora!;
          // float32 sums of at most 9 products of values below 1 (2 of them through the adapter, up to 16 / 0.5 times): ~1e-6
          for (const [name, t] of [['x', x], ['A', lora.A], ['B', lora.B]] as [('x' | 'A' | 'B'), Tensor][]) {
            expectNear(await t.grad!.toArray(), numericGrad(d, v, name, keep), 1e-5, 1e-4, `d${name}`);
          }
          expect([layer.weight.grad, layer.bias?.grad ?? null]).toEqual([null, null]);
        });
        layer.dispose();
      }),
      fcParams(15),
    );
  });

  it("starts as its base layer: A ~ U(±1/sqrt(in)) as peft's kaiming_uniform_(a = sqrt(5)), B = 0", async () => {
    const layer = new Linear(256, 64, { rng: new Generator(5) });
    const lora = layer.addLoRA({ rank: 16, rng: new Generator(6) });
    const A = (await lora.A.toArray()) as Float32Array;
    const bound = 1 / 16;
    expect(Math.max(...A.map(Math.abs))).toBeLessThanOrEqual(bound);
    const variance = A.reduce((s, a) => s + a * a, 0) / A.length;
    expect(variance).toBeGreaterThan((bound * bound) / 3 * 0.9); // U(±a) has variance a²/3
    expect(variance).toBeLessThan((bound * bound) / 3 * 1.1);
    expect([...(await lora.B.toArray())].every((b) => b === 0)).toBe(true);
    expect([lora.scale, lora.rank]).toEqual([8 / 16, 16]); // peft's default alpha 8
    layer.dispose();
  });

  it("training, dropout drops the adapter's input with the mask the dropout op draws for the adapter's seed; eval mode drops nothing", async () => {
    const d = { rows: 4, inF: 6, outF: 5, rank: 2, alpha: 4, bias: true, seed: 9 };
    const v = draw(d);
    const layer = new Linear(d.inF, d.outF, { rng: new Generator(1) });
    layer.addLoRA({ rank: 2, alpha: 4, dropout: 0.5, rng: new Generator(77) });
    layer.loadStateDict({ weight: { shape: [5, 6], data: v.W }, bias: { shape: [5], data: v.b }, 'lora.A': { shape: [2, 6], data: v.A }, 'lora.B': { shape: [5, 2], data: v.B } });
    const seeds = new Generator(77);
    seeds.nextSeed(); // the draw of A
    await scope(async () => {
      const x = tensor(v.x, [4, 6]);
      const dropped = await dropout(x, 0.5, seeds.nextSeed()).toArray();
      expectNear(await layer.forward(x).toArray(), reference(d, v, dropped), 1e-5, 1e-4, 'y (training)');
      layer.eval();
      expectNear(await layer.forward(x).toArray(), reference(d, v), 1e-5, 1e-4, 'y (eval)');
    });
    layer.dispose();
  });

  it('merge folds (alpha/r)·B·A into W (float64 reference) and computes what the adapted layer did, within float32 rounding', async () => {
    const d = { rows: 5, inF: 12, outF: 7, rank: 3, alpha: 6, bias: true, seed: 21 };
    const v = draw(d);
    const layer = adapted(d, v);
    await scope(async () => {
      const x = tensor(v.x, [d.rows, d.inF]);
      const before = await layer.eval().forward(x).toArray();
      layer.mergeLoRA();
      expect(layer.lora).toBeNull();
      expect([...layer.namedParameters()].map(([n]) => n)).toEqual(['weight', 'bias']);
      const W = Float64Array.from(v.W, (w, k) => {
        const [o, j] = [Math.floor(k / d.inF), k % d.inF];
        let delta = 0;
        for (let r = 0; r < d.rank; r++) delta += v.B[o * d.rank + r]! * v.A[r * d.inF + j]!;
        return w + (d.alpha / d.rank) * delta;
      });
      expectNear(await layer.weight.toArray(), W, 1e-6, 1e-6, 'merged W');
      expectNear(await layer.forward(x).toArray(), before, 1e-5, 1e-5, 'y merged vs unmerged');
    });
    expect(() => layer.mergeLoRA()).toThrow(/Linear.mergeLoRA: the layer has no LoRA adapter/);
    layer.dispose();
  });

  it('AdamW over trainableParameters() (weight decay on) steps A and B and leaves W and b bit-identical', async () => {
    const layer = new Linear(8, 6, { rng: new Generator(3) });
    layer.addLoRA({ rank: 2, rng: new Generator(4) });
    const [W0, b0] = await Promise.all([layer.weight.toArray(), layer.bias!.toArray()]);
    const params = layer.trainableParameters();
    expect(params).toEqual([layer.lora!.A, layer.lora!.B]);
    const opt = new AdamW(params, { lr: 0.1, weightDecay: 0.1 });
    for (let step = 0; step < 3; step++) {
      await scope(async () => {
        layer.forward(tensor(f32(16, step), [2, 8])).pow(2).sum().backward();
        opt.step();
        opt.zeroGrad();
      });
    }
    const same = (a: ArrayLike<number>, b: ArrayLike<number>) => Buffer.from(Float32Array.from(a).buffer).equals(Buffer.from(Float32Array.from(b).buffer));
    expect(same(await layer.weight.toArray(), W0) && same(await layer.bias!.toArray(), b0)).toBe(true);
    expect([...(await layer.lora!.B.toArray())].some((b) => b !== 0)).toBe(true);
    opt.dispose();
    layer.dispose();
  });

  it('refuses, in one line, what cannot work: rank outside [1, min(in, out)], alpha <= 0, dropout 1, an int8 or pruned weight, a second adapter', () => {
    const rng = new Generator(0);
    const layer = new Linear(6, 4, { rng });
    expect(() => layer.addLoRA({ rank: 0, rng })).toThrow("LoRA: argument 'rank' must be an integer in [1, 4] (min of in 6 and out 4), got number 0");
    expect(() => layer.addLoRA({ rank: 5, rng })).toThrow(/in \[1, 4\].*got number 5/);
    expect(() => layer.addLoRA({ rank: 2, alpha: 0, rng })).toThrow("LoRA: argument 'alpha' must be a finite number > 0, got 0");
    expect(() => layer.addLoRA({ rank: 2, dropout: 1, rng })).toThrow("LoRA: argument 'dropout' must be a number in [0, 1), got 1");
    expect(() => layer.addLoRA({ rank: 2, rng, ranks: 3 } as never)).toThrow(/LoRA: unknown option 'ranks'/);
    expect(layer.weight.requiresGrad).toBe(true); // a refused adapter froze nothing
    layer.addLoRA({ rank: 2, rng });
    expect(() => layer.addLoRA({ rank: 2, rng })).toThrow('Linear.addLoRA: cannot adapt a Linear already adapted (merge it first)');
    expect(() => layer.setWeightMask(null)).not.toThrow();
    const int8 = new Linear(6, 4, { rng, int8: true });
    expect(() => int8.addLoRA({ rank: 2, rng })).toThrow(/Linear.addLoRA: cannot adapt an int8 weight/);
    layer.dispose();
    int8.dispose();
  });
});

