// Fused causal attention beyond the op table's drawn calls (test/ops.test.ts, which holds forward,
// decoding with a context, left-padded rows, and the qkv gradient to the float64 reference under
// every kernel variant): left padding never read, and the errors.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { causalAttentionRef, ref, type Ref } from '../src/check/reference/index.js';
import { causalAttention, noGrad, scope, tensor } from '../src/index.js';
import { profileVariants, setProfile } from '../src/kernels/profile.js';
import { expectClose, fcParams, randomFromGen, setupDevice, toTensor } from './helpers.js';

await setupDevice();

/** Rows [from, to) of row b of a [B, T, X] array, as [1, to - from, X]. */
function rowsOf(a: Ref, b: number, from: number, to: number): Ref {
  const [, T, X] = a.shape as [number, number, number];
  return ref([1, to - from, X], a.data.slice((b * T + from) * X, (b * T + to) * X));
}

describe('causalAttention with left-padded rows (starts)', () => {
  afterAll(() => setProfile(null));

  it.each(profileVariants())('reads no padding: each row equals attention over its real part alone ($name variant)', async ({ overrides }) => {
    setProfile(overrides);
    await fc.assert(
      fc.asyncProperty(fc.gen(), async (g) => {
        const r = randomFromGen(g);
        const [B, nHead, HS] = [r.int(1, 3), r.int(1, 2), [1, 3, 8, 32][r.int(0, 3)]!];
        const Tk = r.int(0, 1) ? r.int(1, 9) : [17, 40, 70][r.int(0, 2)]!;
        const Tq = r.int(0, 1) ? Tk : r.int(1, Tk); // prefill (no context), or decoding the last Tq slots
        const starts = Array.from({ length: B }, () => r.int(0, Tk - 1));
        const C3 = 3 * nHead * HS;
        // n rows per sequence, the last n of Tk slots; the padding holds large values: attended to, they would swamp the result
        const fill = (n: number) => {
          const isReal = (i: number) => Tk - n + (Math.floor(i / C3) % n) >= starts[Math.floor(i / (n * C3))]!;
          return ref([B, n, C3], Array.from(r.floats(B * n * C3, -2, 2), (v, i) => (isReal(i) ? v : 40 * Math.sign(v || 1))));
        };
        const context = fill(Tk);
        const qkv = Tq === Tk ? context : fill(Tq);
        const y = (await noGrad(() =>
          scope(async () => (await causalAttention(toTensor(qkv), nHead, Tq === Tk ? null : toTensor(context), tensor(Int32Array.from(starts), [B])).toArray()) as Float32Array),
        ));
        expect(y.every(Number.isFinite), 'padding queries give finite outputs').toBe(true);
        const C = C3 / 3;
        for (let b = 0; b < B; b++) {
          const firstQuery = Math.max(0, starts[b]! - (Tk - Tq)); // the first query in the row's real part
          const want = causalAttentionRef(rowsOf(qkv, b, firstQuery, Tq), nHead, rowsOf(context, b, starts[b]!, Tk));
          const got = tensor(y.slice((b * Tq + firstQuery) * C, (b + 1) * Tq * C), [1, Tq - firstQuery, C]);
          await expectClose(got, want, 2e-5, 1e-4, `row ${b} of B ${B}, Tq ${Tq}, Tk ${Tk}, start ${starts[b]}, HS ${HS}`);
          got.dispose();
        }
      }),
      fcParams(6),
    );
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
      expect(() => causalAttention(qkv, 2, null, tensor(new Float32Array(2), [2]))).toThrow(/argument 'starts' must be an int32 tensor/);
      qkv.requiresGrad = true;
      expect(() => causalAttention(qkv, 2, qkv)).toThrow(/no gradient through a KV cache/);
      expect(() => causalAttention(qkv, 2, null, tensor(new Int32Array(2), [2]))).toThrow(/no gradient through a KV cache or padding starts/);
    });
  });
});
