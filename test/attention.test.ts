// Fused causal attention beyond the op table's drawn calls (test/ops.test.ts, which holds forward,
// decoding with a context, left-padded rows, dropout, and the qkv gradient to the float64
// reference under every kernel variant): left padding never read, dropout drawn in every call
// here, and the errors.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSample, FD_ELEMENTS, type Random, type Sample } from '../src/check/index.js';
import { droppingAttention } from '../src/check/cases/nn.js';
import { causalAttentionRef, ref, type Ref } from '../src/check/reference/index.js';
import { causalAttention, device, noGrad, scope, tensor } from '../src/index.js';
import { profileVariants, setProfile } from '../src/kernels/profile.js';
import { CausalSelfAttention, disposeCache, Generator, type KVCache } from '../src/nn/index.js';
import { cachedLength } from '../src/nn/transformer.js';
import { COLD_COMPILE_MS, expectClose, fcParams, randomFromGen, setupDevice, toTensor } from './helpers.js';

await setupDevice();

/** Rows [from, to) of row b of a [B, T, X] array, as [1, to - from, X]. */
function rowsOf(a: Ref, b: number, from: number, to: number): Ref {
  const [, T, X] = a.shape as [number, number, number];
  return ref([1, to - from, X], a.data.slice((b * T + from) * X, (b * T + to) * X));
}

describe('causalAttention with left-padded rows (starts)', () => {
  afterAll(() => setProfile(null));

  it.each(profileVariants())('reads no padding, nor a cache\'s slots past contextLength: each row equals attention over its real part alone ($name variant)', async ({ overrides }) => {
    setProfile(overrides);
    await fc.assert(
      fc.asyncProperty(fc.gen(), async (g) => {
        const r = randomFromGen(g);
        const [B, nHead, HS] = [r.int(1, 3), r.int(1, 2), [1, 3, 8, 32][r.int(0, 3)]!];
        const Tk = r.int(0, 1) ? r.int(1, 9) : [17, 40, 70][r.int(0, 2)]!;
        const Tq = r.int(0, 1) ? Tk : r.int(1, Tk); // prefill (no context), or decoding the last Tq slots
        // no padding at all in a quarter of the calls: the unpadded kernels, without `starts`
        const unpadded = r.int(0, 3) === 0;
        const starts = Array.from({ length: B }, () => (unpadded ? 0 : r.int(0, Tk - 1)));
        const C3 = 3 * nHead * HS;
        // n rows per sequence, the last n of Tk slots; the padding holds large values: attended to, they would swamp the result
        const fill = (n: number) => {
          const isReal = (i: number) => Tk - n + (Math.floor(i / C3) % n) >= starts[Math.floor(i / (n * C3))]!;
          return ref([B, n, C3], Array.from(r.floats(B * n * C3, -2, 2), (v, i) => (isReal(i) ? v : 40 * Math.sign(v || 1))));
        };
        const context = fill(Tk);
        const qkv = Tq === Tk ? context : fill(Tq);
        // a cache with room to grow: each row's Tk slots, then `spare` more holding large values (read, they would swamp the result)
        const spare = Tq < Tk && r.int(0, 1) ? r.int(1, 5) : 0;
        const rows = Tk + spare;
        const roomy = ref([B, rows, C3], Array.from({ length: B * rows * C3 }, (_, i) => {
          const [b, slot] = [Math.floor(i / (rows * C3)), Math.floor(i / C3) % rows];
          return slot < Tk ? context.data[(b * Tk + slot) * C3 + (i % C3)]! : 40;
        }));
        const y = (await noGrad(() =>
          scope(async () => {
            const kv = Tq === Tk ? null : toTensor(spare ? roomy : context);
            const startsT = unpadded ? undefined : tensor(Int32Array.from(starts), [B]);
            return (await causalAttention(toTensor(qkv), nHead, kv, startsT, 0, 0, spare ? Tk : undefined).toArray()) as Float32Array;
          }),
        ));
        expect(y.every(Number.isFinite), 'padding queries give finite outputs').toBe(true);
        const C = C3 / 3;
        for (let b = 0; b < B; b++) {
          const firstQuery = Math.max(0, starts[b]! - (Tk - Tq)); // the first query in the row's real part
          const want = causalAttentionRef(rowsOf(qkv, b, firstQuery, Tq), nHead, rowsOf(context, b, starts[b]!, Tk));
          const got = tensor(y.slice((b * Tq + firstQuery) * C, (b + 1) * Tq * C), [1, Tq - firstQuery, C]);
          await expectClose(got, want, 2e-5, 1e-4, `row ${b} of B ${B}, Tq ${Tq}, Tk ${Tk} (+${spare} spare), start ${starts[b]}, HS ${HS}`);
          got.dispose();
        }
      }),
      fcParams(6),
    );
  });
});

describe('causalAttention with dropout on its weights (training)', () => {
  afterAll(() => setProfile(null));

  /** Drawn calls (`draw`) against the float64 reference, forward and a few gradient elements by finite differences. */
  const matchesReference = (draw: (r: Random) => Sample<Parameters<typeof causalAttention>>, runs: number) =>
    fc.assert(
      fc.asyncProperty(fc.gen(), async (g) => {
        const r = randomFromGen(g);
        const sample = draw(r);
        const n = sample.inputs[0]!.ref.data.length;
        const result = await checkSample(sample, (ts) => causalAttention(...sample.args(ts)), {
          needsGrad: [true],
          elements: () => (n <= FD_ELEMENTS ? [...Array(n).keys()] : [0, n - 1, ...r.ints(FD_ELEMENTS - 2, 0, n - 1)]),
          describe: (ts) => `causalAttention(${ts[0]!.describe()}, ${sample.args(ts).slice(1).join(', ')})`,
        });
        expect(result.failure, result.what).toBeUndefined();
      }),
      fcParams(runs),
    );

  it.each(profileVariants())('keeps the weights a float64 Philox draw keeps, forward and gradient ($name variant)', async ({ overrides }) => {
    setProfile(overrides);
    await matchesReference((r) => droppingAttention(r), 8);
  });

  // cold, the adapter's variant took 119-120 s here (head size 64)
  it.each(profileVariants())('spans several key tiles at head sizes 32 and 64, with and without dropout ($name variant)', { timeout: COLD_COMPILE_MS }, async ({ overrides }) => {
    // the op table's draws keep qkv small, so wide heads come only with a few positions there
    setProfile(overrides);
    const sizes = (r: Random) => ({ B: 1, nHead: 1, T: [65, 130][r.int(0, 1)]!, C3: 3 * [32, 64][r.int(0, 1)]! });
    await matchesReference((r) => droppingAttention(r, sizes(r), r.int(0, 1) ? 0 : undefined), 2);
  });

  it.each(profileVariants())('takes long head rows in a loop, a few rows a key tile, with and without dropout ($name variant)', async ({ overrides }) => {
    // head size 302: 76 vec4s (a loop, not straight-line code), the last one half padding; key tiles of 4 rows on GPUs
    setProfile(overrides);
    const sizes = (r: Random) => ({ B: r.int(1, 2), nHead: 1, T: [5, 9][r.int(0, 1)]!, C3: 3 * 302 });
    await matchesReference((r) => droppingAttention(r, sizes(r), r.int(0, 1) ? 0 : undefined), 3);
  });

  it('refuses, naming the op and the limit, a head row whose key tile would not fit the workgroup memory of GPU kernels', () => {
    setProfile({ subgroupSharing: false });
    const room = device().info.limits.maxComputeWorkgroupStorageSize!;
    const HS = room / 8 + 4; // the forward's two tiles (keys and values) of one row each take more than all of it
    scope(() => {
      const qkv = tensor(new Float32Array(3 * HS), [1, 1, 3 * HS]);
      expect(() => causalAttention(qkv, 1)).toThrow(new RegExp(`causalAttention: head size ${HS} needs \\d+ bytes of workgroup memory, this adapter allows ${room} \\(maxComputeWorkgroupStorageSize\\)`));
    });
  });

  it('drops a share p of the weights, each kept one scaled by 1 / (1 - p)', async () => {
    // q = 0 makes the weights of query i uniform, 1 / (i + 1); with v = 1 everywhere,
    // y_i (i + 1)(1 - p) is the number of weights kept: a whole number, about (1 - p)(i + 1)
    const [B, T, nHead, HS, p] = [2, 64, 4, 4, 0.3];
    const C = nHead * HS;
    const qkv = new Float32Array(B * T * 3 * C).map((_, i) => (i % (3 * C) >= 2 * C ? 1 : 0));
    const y = (await noGrad(() => scope(async () => (await causalAttention(tensor(qkv, [B, T, 3 * C]), nHead, null, undefined, p, 11).toArray()) as Float32Array)));
    let kept = 0;
    let total = 0;
    for (let b = 0; b < B; b++)
      for (let i = 0; i < T; i++)
        for (let h = 0; h < nHead; h++) {
          const count = y[(b * T + i) * C + h * HS]! * (i + 1) * (1 - p);
          expect(Math.abs(count - Math.round(count)), 'a whole number of kept weights').toBeLessThan(1e-3);
          kept += Math.round(count);
          total += i + 1;
        }
    // 16,640 weights: the kept share is within 4 standard deviations of 1 - p
    expect(Math.abs(kept / total - (1 - p))).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / total));
  });

  it('rejects a p outside [0, 1), a bad seed, and dropout with a cache or padding', () => {
    scope(() => {
      const qkv = tensor(new Float32Array(2 * 3 * 12), [2, 3, 12]);
      expect(() => causalAttention(qkv, '2' as never)).toThrow(/^causalAttention: nHead must be an integer >= 1, got string '2'$/);
      expect(() => causalAttention(qkv, 2, null, undefined, 1, 0)).toThrow(/causalAttention: dropout p must be a number in \[0, 1\), got 1/);
      expect(() => causalAttention(qkv, 2, null, undefined, -0.1, 0)).toThrow(/dropout p must be a number in \[0, 1\), got -0.1/);
      expect(() => causalAttention(qkv, 2, null, undefined, 0.1, -1)).toThrow(/causalAttention: seed must be a non-negative safe integer, got -1/);
      expect(() => causalAttention(qkv, 2, qkv, undefined, 0.1, 1)).toThrow(/dropout p 0.1 is for training: no context or starts with it/);
      expect(() => causalAttention(qkv, 2, null, tensor(new Int32Array(2), [2]), 0.1, 1)).toThrow(/dropout p 0.1 is for training/);
    });
  });
});

describe('GPU attention backward: dk and dv in one kernel or two (profile attentionKeys)', () => {
  afterAll(() => setProfile(null));

  it('gives the same gradient, with and without dropout (the same sums in the same order: within 4 ulp, bit for bit on lavapipe)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.gen(), async (g) => {
        const r = randomFromGen(g);
        const [B, nHead, HS, T] = [r.int(1, 2), r.int(1, 2), [3, 8, 64][r.int(0, 2)]!, [5, 64, 100][r.int(0, 2)]!];
        const [p, seed] = [r.int(0, 1) ? 0 : 0.25, r.int(0, 1000)];
        const qkv = Float32Array.from(r.floats(B * T * 3 * nHead * HS, -2, 2));
        const dy = Float32Array.from(r.floats(B * T * nHead * HS, -1, 1));
        const gradient = (attentionKeys: 'together' | 'split') => {
          setProfile({ subgroupSharing: false, attentionKeys });
          return scope(async () => {
            const x = tensor(qkv, [B, T, 3 * nHead * HS]).requiresGrad_();
            causalAttention(x, nHead, null, undefined, p, seed).backward(tensor(dy, [B, T, nHead * HS]));
            return (await x.grad!.toArray()) as Float32Array;
          });
        };
        const [together, split] = [await gradient('together'), await gradient('split')];
        // a GPU's compiler may contract the two shaders' sums differently (FMA): 4 ulp at most
        const worst = Math.max(...split.map((v, i) => Math.abs(v - together[i]!) / (Math.abs(together[i]!) * 2 ** -21 + 2 ** -126)));
        expect(worst).toBeLessThanOrEqual(1);
      }),
      fcParams(4),
    );
  });
});

describe('CausalSelfAttention with attention dropout', () => {
  it('refuses a KV cache or left-padded rows while training (dropout applies), naming eval mode', () => {
    const layer = new CausalSelfAttention({ nEmbd: 8, nHead: 2, nLayer: 1, dropout: 0.1, bias: false }, new Generator(1));
    scope(() => {
      const x = tensor(new Float32Array(2 * 3 * 8).fill(0.5), [2, 3, 8]);
      const refused = { qkv: null };
      expect(() => layer.forward(x, refused)).toThrow(/CausalSelfAttention: decoding with a KV cache runs in eval mode only \(model.eval\(\)\)/);
      expect(refused, 'a refused call leaves the cache as it was').toEqual({ qkv: null });
      expect(() => layer.forward(x, undefined, tensor(new Int32Array(2), [2]))).toThrow(/left-padded rows \(starts\) runs in eval mode only/);
      layer.eval();
      const cache = { qkv: null };
      noGrad(() => layer.forward(x, cache).dispose()); // eval: no dropout, the cache is fine
      disposeCache(cache);
    });
    layer.dispose();
  });
});

describe('CausalSelfAttention refuses a bad decoding step before it touches the cache', () => {
  it('a step recording gradients, or of other rows than the cache: the cache, its contents and the live bytes as they were', async () => {
    const layer = new CausalSelfAttention({ nEmbd: 8, nHead: 2, nLayer: 1, dropout: 0, bias: false }, new Generator(1)).eval();
    const x = (B: number, T: number) => tensor(Float32Array.from({ length: B * T * 8 }, (_, i) => Math.sin(i)), [B, T, 8]);
    const [prompt, next, oneRow] = [x(2, 3), x(2, 1), x(1, 4)];
    const cache: KVCache = { qkv: null };
    noGrad(() => layer.forward(prompt, cache).dispose()); // 3 positions of 2 rows, room for 6
    const store = cache.qkv!;
    const before = { length: cachedLength(cache), data: Array.from(await store.toArray()), live: device().memory().liveBytes };
    // no noGrad: causalAttention refuses a cache while recording, after the cache took the step
    expect(() => layer.forward(next, cache)).toThrow(/no gradient through a KV cache/);
    expect(cachedLength(cache), 'the positions cached, after a step recording gradients').toBe(before.length);
    // 1 row where the cache has 2, past its room: the cache grows before the copy into it refuses
    expect(() => noGrad(() => layer.forward(oneRow, cache))).toThrow(/CausalSelfAttention: the KV cache holds float32\[2, 6, 24\], this step's qkv is float32\[1, 4, 24\]/);
    expect(cachedLength(cache), 'the positions cached, after a step of other rows').toBe(before.length);
    expect(cache.qkv, 'the same store').toBe(store);
    expect(Array.from(await store.toArray()), 'nothing written into its room').toEqual(before.data);
    expect(device().memory().liveBytes, 'nothing allocated and left behind').toBe(before.live);
    for (const t of [prompt, next, oneRow]) t.dispose();
    disposeCache(cache);
    layer.dispose();
  });
});

describe('causalAttention', () => {
  it('rejects bad shapes and gradients through a cache or padding, naming the op and shapes', () => {
    scope(() => {
      const qkv = tensor(new Float32Array(2 * 3 * 12), [2, 3, 12]);
      expect(() => causalAttention(qkv.reshape([6, 12]), 2)).toThrow(/causalAttention: qkv .*\[6, 12\].*expected qkv \[B, T, 3C\]/);
      expect(() => causalAttention(qkv, 3)).toThrow(/C = 4 must split into nHead heads/);
      expect(() => causalAttention(qkv, 2, tensor(new Float32Array(2 * 2 * 12), [2, 2, 12]))).toThrow(/expected context \[2, Tk >= 3, 12\]/);
      expect(() => causalAttention(qkv, 2, null, tensor(new Int32Array(3), [3]))).toThrow(/expected starts int32 \[2\], got int32\[3\]/);
      const cache = tensor(new Float32Array(2 * 8 * 12), [2, 8, 12]);
      expect(() => causalAttention(qkv, 2, cache, undefined, 0, 0, 2)).toThrow(/contextLength must be an integer in \[3, 8\] \(the filled slots of context's rows\), got 2$/);
      expect(() => causalAttention(qkv, 2, cache, undefined, 0, 0, 9)).toThrow(/contextLength must be an integer in \[3, 8\]/);
      expect(() => causalAttention(qkv, 2, null, undefined, 0, 0, 3)).toThrow(/contextLength .* got 3 without a context$/);
      expect(() => causalAttention(qkv, 2, null, tensor(new Float32Array(2), [2]))).toThrow(/argument 'starts' must be an int32 tensor/);
      qkv.requiresGrad = true;
      expect(() => causalAttention(qkv, 2, qkv)).toThrow(/no gradient through a KV cache/);
      expect(() => causalAttention(qkv, 2, null, tensor(new Int32Array(2), [2]))).toThrow(/no gradient through a KV cache or padding starts/);
    });
  });
});
