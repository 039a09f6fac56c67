// crossEntropy(logits [..., V], int32 targets [...]) beyond the op table's drawn calls
// (test/ops.test.ts): a wide vocabulary, every row ignored (0, PyTorch gives NaN), targets made on
// the GPU (clamped and reported), more rows than a grid axis holds, an upstream gradient, errors;
// both row layouts; and linearCrossEntropy with a vocabulary past the texture path's textures.
// Tolerances, |got - want| <= atol + rtol |want|:
//   forward    atol 1e-5, rtol 1e-5  (lavapipe's worst: 6e-6 abs with logits in [-80, 80])
import { beforeAll, describe, expect, it, afterAll } from 'vitest';
import { profile, setProfile } from '../src/kernels/profile.js';
import { arange, crossEntropy, device, linearCrossEntropy, scope, tensor } from '../src/index.js';
import { expectBuffersReturned, expectClose, seededValues, setupDevice, toTensor } from './helpers.js';
import { crossEntropyRef, matmulRef, ref, softmaxRef } from '../src/check/reference/index.js';

beforeAll(setupDevice);

const IGNORE = -100; // the default ignoreIndex

// Both row layouts (src/kernels/wgsl/row.ts), whichever this adapter would pick.
for (const lanes of [1, 64] as const) {
  describe(`${lanes === 1 ? 'a lane' : '64 lanes'} per row`, () => {
    beforeAll(() => setProfile({ rowLanes: lanes }));
    afterAll(() => setProfile(null));

    describe('crossEntropy forward', () => {
      it('handles a wide vocabulary (V = 1000, 4099) with logits in [-80, 80]', () =>
        scope(async () => {
          for (const V of [1000, 4099]) {
            const x = ref([4, V], seededValues(4 * V, V, -80, 80).map(Math.fround));
            const t = [0, V - 1, 17, IGNORE];
            await expectClose(crossEntropy(toTensor(x), tensor(new Int32Array(t))), crossEntropyRef(x, t), 1e-5, 1e-5, `V=${V}`);
          }
        }));

      it('is 0 with a zero gradient when every row is ignored (PyTorch gives NaN)', () =>
        scope(async () => {
          const x = toTensor(ref([3, 5], seededValues(15, 2)));
          x.requiresGrad = true;
          const loss = crossEntropy(x, tensor(new Int32Array([IGNORE, IGNORE, IGNORE])));
          expect(await loss.item()).toBe(0);
          loss.backward();
          expect([...(await x.grad!.toArray())]).toEqual(new Array(15).fill(0));
        }));

      it('takes GPU-made targets (no host copy); out-of-range ones are clamped, never read out of bounds, and reported', () =>
        scope(async () => {
          const x = ref([6, 4], seededValues(24, 4, -3, 3));
          const inRange = arange(0, 4);
          const x4 = ref([4, 4], x.data.subarray(0, 16));
          await expectClose(crossEntropy(toTensor(x4), inRange), crossEntropyRef(x4, [0, 1, 2, 3]), 1e-5, 1e-5, 'arange targets');
          // targets -2, 0, 2, 4, 6, 8 for V = 4: no eager check is possible, the kernels clamp to [0, 3]
          const wild = arange(-2, 10, 2);
          const loss = crossEntropy(toTensor(x), wild);
          await expect(loss.toArray()).rejects.toThrow(/crossEntropy: a target computed on the GPU was outside \[0, V\)/);
          await expectClose(loss, crossEntropyRef(x, [0, 0, 2, 3, 3, 3]), 1e-5, 1e-5, 'clamped targets');
        }));

      it('handles more rows than one grid axis holds (66000 rows), forward and backward', () =>
        scope(async () => {
          const [N, V] = [66_000, 3];
          const x = ref([N, V], seededValues(N * V, 21, -5, 5).map(Math.fround));
          const t = Array.from({ length: N }, (_, i) => (i % 7 === 6 ? IGNORE : i % V));
          const xt = toTensor(x);
          xt.requiresGrad = true;
          const loss = crossEntropy(xt, tensor(new Int32Array(t)));
          await expectClose(loss, crossEntropyRef(x, t), 1e-5, 1e-4, 'loss'); // 66000-term f32 sum
          loss.backward();
          // dlogits = (softmax - onehot) / count on kept rows, 0 on ignored ones
          const count = t.filter((v) => v !== IGNORE).length;
          const want = softmaxRef(x);
          for (let r = 0; r < N; r++)
            for (let j = 0; j < V; j++) {
              const i = r * V + j;
              want.data[i] = t[r] === IGNORE ? 0 : (want.data[i]! - (j === t[r] ? 1 : 0)) / count;
            }
          await expectClose(xt.grad!, want, 1e-9, 1e-4, 'dlogits');
        }));
    });

    describe('crossEntropy backward', () => {
      it('composes with an upstream gradient and frees every buffer', () =>
        expectBuffersReturned(async () => {
          const x = ref([3, 4], seededValues(12, 5, -2, 2));
          const xt = toTensor(x);
          xt.requiresGrad = true;
          crossEntropy(xt, tensor(new Int32Array([1, IGNORE, 3]))).mul(3).backward();
          const want = softmaxRef(x);
          [1, null, 3].forEach((tr, r) => {
            for (let j = 0; j < 4; j++) want.data[r * 4 + j] = tr === null ? 0 : (3 * (want.data[r * 4 + j]! - (j === tr ? 1 : 0))) / 2;
          });
          await expectClose(xt.grad!, want, 1e-6, 1e-5, 'dlogits');
        }));

      // NaN and Inf are told by their bits in the kernels (WGSL may assume finite floats): a logit
      // row with a NaN or +Inf, or only -Inf, must give a non-finite loss (NaN, torch's too) and NaN
      // gradients for the watch and the loss scaler, never a silent finite number; a -Inf masks a
      // logit, and a -Inf target's loss is +Inf. Beside each case: a finite row and an ignored row
      // of NaN (loss and gradient 0). Float64 reference; float32 and float16 logits.
      it('a NaN, +Inf or only -Inf in a row makes the loss and its gradients non-finite, as float64; -Inf masks (float32, float16)', () =>
        scope(async () => {
          const cases: [number[], number][] = [
            [[0.5, NaN, 1, -1, 2], 0],
            [[0.5, 1, Infinity, -1, 2], 2],
            [[0.5, 1, Infinity, -1, 2], 4],
            [[-Infinity, -Infinity, -Infinity, -Infinity, -Infinity], 1],
            [[0.5, -Infinity, 1, -Infinity, 2], 2],
            [[0.5, -Infinity, 1, -Infinity, 2], 1],
            [[NaN, NaN, NaN, NaN, NaN], 3],
          ];
          const near = (got: number, want: number, tol: number, what: string) => {
            if (Number.isFinite(want)) expect(Math.abs(got - want), `${what}: ${got} vs ${want}`).toBeLessThanOrEqual(tol * (1 + Math.abs(want)));
            else expect(got, what).toBe(want);
          };
          for (const dtype of profile().f16 ? (['float32', 'float16'] as const) : (['float32'] as const)) {
            const tol = dtype === 'float16' ? 2e-3 : 1e-5;
            for (const [row, target] of cases) {
              const x = ref([3, 5], [...row, 0.25, -0.5, 1.5, 0, 1, NaN, 1, 2, 3, 4].map((v) => (dtype === 'float16' ? v : Math.fround(v))));
              const t = [target, 3, IGNORE];
              const what = `${dtype} [${row}] target ${target}`;
              const xt = tensor(Array.from(x.data), x.shape, dtype).requiresGrad_();
              const loss = crossEntropy(xt, tensor(new Int32Array(t)));
              near(await loss.item(), crossEntropyRef(x, t).data[0]!, tol, `${what} loss`);
              loss.backward();
              const want = softmaxRef(x).data.map((p, i) => (i >= 10 ? 0 : (p - (i % 5 === t[Math.floor(i / 5)] ? 1 : 0)) / 2));
              const got = await xt.grad!.toArray();
              want.forEach((w, i) => near(got[i]!, w, tol, `${what} dlogits[${i}]`));
            }
          }
        }));
    });

    describe('crossEntropy errors name the op', () => {
      it('rejects bad dtypes, shapes, targets and ignoreIndex', () =>
        scope(() => {
          const logits = tensor([[1, 2, 3], [4, 5, 6]]);
          const t = (v: number[], shape?: number[]) => tensor(new Int32Array(v), shape);
          expect(() => crossEntropy(logits, tensor([0, 1]))).toThrow(/^crossEntropy: argument 'targets' must be an int32 tensor, got float32\[2\]$/);
          expect(() => crossEntropy(tensor(new Int32Array([1, 2, 3]), [1, 3]), t([0]))).toThrow(/^crossEntropy: argument 'logits' must be a float32 or float16 tensor, got int32\[1, 3\]$/);
          expect(() => crossEntropy(logits, t([0, 1, 2]))).toThrow(/^crossEntropy: targets int32\[3\] must have the leading shape of logits float32\[2, 3\]/);
          expect(() => crossEntropy(logits, t([0, 1], [2, 1]))).toThrow(/^crossEntropy: targets int32\[2, 1\] must have the leading shape/);
          expect(() => crossEntropy(tensor(1), t([0], []))).toThrow(/^crossEntropy: targets int32\[\] must have the leading shape of logits float32\[\]/);
          expect(() => crossEntropy(logits, t([0, 3]))).toThrow(/^crossEntropy: target 3 at position 1 of int32\[2\] is out of range \[0, 3\) \(ignoreIndex -100\)/);
          expect(() => crossEntropy(logits, t([-1, 0]))).toThrow(/^crossEntropy: target -1 at position 0 of int32\[2\] is out of range \[0, 3\)/);
          expect(() => crossEntropy(logits, t([0, -1]), { ignoreIndex: -1 })).not.toThrow();
          // a bare ignoreIndex was ignored, and -100 used
          expect(() => crossEntropy(logits, t([0, 1]), 0 as never)).toThrow(/^crossEntropy: the options must be an object of ignoreIndex, got number 0$/);
          expect(() => crossEntropy(logits, t([0, 1]), { ignore_index: 0 } as never)).toThrow(/^crossEntropy: unknown option 'ignore_index' \(the options are ignoreIndex\)$/);
          expect(() => crossEntropy(tensor(Float32Array.from(seededValues(12, 1)), [2, 2, 3]), t([0, 1, 2, 5], [2, 2]))).toThrow(
            /^crossEntropy: target 5 at position 3 \[1, 1\] of int32\[2, 2\] is out of range \[0, 3\)/,
          );
          expect(() => crossEntropy(tensor([], [2, 0]), t([IGNORE, IGNORE]))).toThrow(/^crossEntropy: logits float32\[2, 0\] have no classes/);
          expect(() => crossEntropy(logits, t([0, 1]), { ignoreIndex: 0.5 })).toThrow(/^crossEntropy: ignoreIndex must be an int32 integer, got 0.5/);
        }));

      // linearCrossEntropy took ignoreIndex as a required number (crossEntropy's call, without it,
      // failed 'ignoreIndex must be an integer, got undefined'), and a target out of range from JS
      // data surfaced at the next read, as crossEntropy's fault for a target computed on the GPU
      it('linearCrossEntropy takes crossEntropy\'s options and refuses targets out of range at once', () =>
        scope(async () => {
          const x = tensor([[1, 2], [3, 4]]);
          const w = tensor([[1, 0], [0, 1], [1, 1]]);
          const t = (v: number[]) => tensor(new Int32Array(v));
          const want = await crossEntropy(x.matmul(w, { transB: true }), t([0, 2])).item();
          expect(await linearCrossEntropy(x, w, t([0, 2])).item()).toBeCloseTo(want, 6);
          expect(await linearCrossEntropy(x, w, t([0, -1]), { ignoreIndex: -1 }).item()).toBeCloseTo(await crossEntropy(x.slice(0, 0, 1).matmul(w, { transB: true }), t([0])).item(), 6);
          expect(() => linearCrossEntropy(x, w, t([0, 3]))).toThrow(/^linearCrossEntropy: target 3 at position 1 of int32\[2\] is out of range \[0, 3\) \(ignoreIndex -100\); weight \[3, 2\]$/);
          expect(() => linearCrossEntropy(x, w, t([0, 1]), -1 as never)).toThrow(/^linearCrossEntropy: the options must be an object of ignoreIndex, got number -1$/);
          expect(() => linearCrossEntropy(x, w, t([0, 1]), { ignoreIndex: 0.5 })).toThrow(/^linearCrossEntropy: ignoreIndex must be an int32 integer, got 0.5$/);
        }));
    });
  });
}

describe('linearCrossEntropy past the texture path\'s largest texture', () => {
  // GPT-2's LM head on Mesa's CPU drivers: V = 50257 rows of the weight are more than one texture
  // holds, so the weight goes in windows whose products each take one texture launch; likewise a
  // chunk of more rows than a texture holds (a small vocabulary lets a binding hold them)
  const max = () => device().info.limits.maxTextureDimension2D ?? 8192;
  /** Loss, dx and dw against float64, with no product on the buffer kernel. */
  async function check(N: number, C: number, V: number, seed: number): Promise<void> {
    const x = ref([N, C], seededValues(N * C, seed).map(Math.fround));
    const w = ref([V, C], seededValues(V * C, seed + 1).map(Math.fround));
    const t = Array.from({ length: N }, (_, i) => (i * 7919) % V);
    await scope(async () => {
      const [xt, wt] = [toTensor(x), toTensor(w)];
      xt.requiresGrad = wt.requiresGrad = true;
      device().startProfiling();
      const loss = linearCrossEntropy(xt, wt, tensor(new Int32Array(t)), { ignoreIndex: IGNORE });
      loss.backward();
      const kernels = (await device().stopProfiling()).map((k) => k.name);
      const logits = matmulRef(x, w, false, true);
      const what = `N ${N}, C ${C}, V ${V}`;
      await expectClose(loss, crossEntropyRef(logits, t), 1e-5, 1e-5, `${what}: loss`);
      // dlogits = (softmax - onehot) / N; dx = dlogits · w, dw = dlogitsᵀ · x
      const d = softmaxRef(logits);
      for (let r = 0; r < N; r++) for (let j = 0; j < V; j++) d.data[r * V + j] = (d.data[r * V + j]! - (j === t[r] ? 1 : 0)) / N;
      await expectClose(xt.grad!, matmulRef(d, w), 1e-6, 1e-4, `${what}: dx`);
      await expectClose(wt.grad!, matmulRef(d, x, true), 1e-6, 1e-4, `${what}: dw`);
      expect(kernels.filter((k) => k.startsWith('matmul-tiled')), what).toEqual([]);
    });
  }

  it('gives float64 loss and gradients with every product on textures (V = maxTextureDimension2D + 100)', async () => {
    if (profile().matmul.tiled !== 'texture') return; // other adapters have no such limit
    await check(70, 12, max() + 100, 41);
  });

  it('and with chunks of more rows than a texture holds (N = maxTextureDimension2D + 100, V = 16)', async () => {
    if (profile().matmul.tiled !== 'texture') return;
    await check(max() + 100, 8, 16, 43);
  });

  it('and with a weight larger than a (lowered) binding, the last chunk skinny (3 rows)', async () => {
    if (profile().matmul.tiled !== 'texture') return;
    // 1 MiB: chunks of 15 rows of logits, the weight [V, 20] (1.3 MB) bound in windows
    setProfile({ bindingLimit: 2 ** 20 });
    try {
      await check(18, 20, max() + 100, 45);
    } finally {
      setProfile(null);
    }
  });
});

// drawn by the op table's empty-dims pass only at some seeds (FC_SEED 7: input float32[4, 0])
it('linearCrossEntropy of C = 0 (empty rows of x and the weight): logits of 0, a loss of log V, empty gradients', () =>
  scope(async () => {
    const x = tensor(new Float32Array(0), [4, 0]).requiresGrad_();
    const w = tensor(new Float32Array(0), [3, 0]).requiresGrad_();
    const loss = linearCrossEntropy(x, w, tensor(new Int32Array([0, 1, 2, IGNORE])));
    expect(await loss.item()).toBeCloseTo(Math.log(3), 6);
    loss.backward();
    expect([x.grad!.shape, w.grad!.shape]).toEqual([[4, 0], [3, 0]]);
  }));
