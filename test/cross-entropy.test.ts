// crossEntropy(logits [..., V], int32 targets [...]) against the float64 reference
// (test/reference-nn.ts): mean over non-ignored rows of logsumexp(row) - row[target], 0 when every
// row is ignored. Tolerances, |got - want| <= atol + rtol |want|:
//   forward    atol 1e-5, rtol 1e-5  (lavapipe's worst: 6e-6 abs with logits in [-80, 80])
//   gradients  atol 1e-4, rtol 1e-2  against float64 central differences (test/gradcheck.ts)
import fc from 'fast-check';
import { beforeAll, describe, expect, it, afterAll } from 'vitest';
import { setProfile } from '../src/kernels/profile.js';
import { arange, crossEntropy, device, scope, tensor } from '../src/index.js';
import { checkGrad } from './gradcheck.js';
import { dimArb, expectClose, fcParams, seededValues, setupDevice, toTensor } from './helpers.js';
import { crossEntropyRef, logitsArb, softmaxRef } from './reference-nn.js';
import { numel, ref } from './reference.js';

beforeAll(setupDevice);

const IGNORE = -100; // the default ignoreIndex

/** Leading shape [N] or [B, T], V, logits and targets (some rows ignored). */
const caseArb = (maxRows = 12) =>
  fc
    .tuple(fc.oneof(fc.tuple(fc.integer({ min: 1, max: maxRows })).map(([n]) => [n]), fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 })).map(([b, t]) => [b, t])), dimArb)
    .chain(([lead, V]) =>
      fc.tuple(
        fc.constant(lead),
        fc.constant(V),
        logitsArb(numel(lead) * V),
        fc.array(fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: V - 1 }) }, { weight: 1, arbitrary: fc.constant(IGNORE) }), {
          minLength: numel(lead),
          maxLength: numel(lead),
        }),
      ),
    );

// Both row layouts (src/kernels/wgsl/row.ts), whichever this adapter would pick.
for (const lanes of [1, 64] as const) {
  describe(`${lanes === 1 ? 'a lane' : '64 lanes'} per row`, () => {
    beforeAll(() => setProfile({ rowLanes: lanes }));
    afterAll(() => setProfile(null));

    describe('crossEntropy forward', () => {
      it('matches the reference over random shapes and logits up to |1000|, with ignored rows', async () => {
        await fc.assert(
          fc.asyncProperty(caseArb(), ([lead, V, v, t]) =>
            scope(async () => {
              const x = ref([...lead, V], v);
              const got = crossEntropy(toTensor(x), tensor(new Int32Array(t), lead));
              expect(got.shape).toEqual([]);
              await expectClose(got, crossEntropyRef(x, t, IGNORE), 1e-5, 1e-5, `crossEntropy ${JSON.stringify([...lead, V])}`);
            }),
          ),
          fcParams(30),
        );
      });

      it('handles a wide vocabulary (V = 1000, 4099) with logits in [-80, 80]', () =>
        scope(async () => {
          for (const V of [1000, 4099]) {
            const x = ref([4, V], seededValues(4 * V, V, -80, 80).map(Math.fround));
            const t = [0, V - 1, 17, IGNORE];
            await expectClose(crossEntropy(toTensor(x), tensor(new Int32Array(t))), crossEntropyRef(x, t), 1e-5, 1e-5, `V=${V}`);
          }
        }));

      it('uses a custom ignoreIndex, in or out of [0, V)', () =>
        scope(async () => {
          const x = ref([4, 3], seededValues(12, 9, -4, 4));
          for (const [ignoreIndex, t] of [
            [0, [0, 1, 2, 0]],
            [7, [7, 1, 2, 7]],
            [-1, [2, -1, -1, 0]],
          ] as const) {
            const got = crossEntropy(toTensor(x), tensor(new Int32Array(t)), { ignoreIndex });
            await expectClose(got, crossEntropyRef(x, t, ignoreIndex), 1e-5, 1e-5, `ignoreIndex ${ignoreIndex}`);
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
      it('dlogits matches finite differences (ignored rows included)', async () => {
        await fc.assert(
          fc.asyncProperty(
            caseArb(6).filter(([lead, V, v]) => numel(lead) * V <= 300 && v.every((a) => Math.abs(a) <= 80)),
            ([lead, V, v, t]) =>
              checkGrad({
                name: `crossEntropy ${JSON.stringify([...lead, V])}`,
                inputs: [ref([...lead, V], v)],
                engine: ([x]) => crossEntropy(x!, tensor(new Int32Array(t), lead)),
                reference: ([x]) => crossEntropyRef(x!, t),
                atol: 1e-4,
              }),
          ),
          fcParams(20),
        );
      });

      it('composes with an upstream gradient and frees every buffer', async () => {
        const before = device().memory().liveBuffers;
        await scope(async () => {
          const x = ref([3, 4], seededValues(12, 5, -2, 2));
          const xt = toTensor(x);
          xt.requiresGrad = true;
          crossEntropy(xt, tensor(new Int32Array([1, IGNORE, 3]))).mul(3).backward();
          const want = softmaxRef(x);
          [1, null, 3].forEach((tr, r) => {
            for (let j = 0; j < 4; j++) want.data[r * 4 + j] = tr === null ? 0 : (3 * (want.data[r * 4 + j]! - (j === tr ? 1 : 0))) / 2;
          });
          await expectClose(xt.grad!, want, 1e-6, 1e-5, 'dlogits');
        });
        expect(device().memory().liveBuffers).toBe(before);
      });
    });

    describe('crossEntropy errors name the op', () => {
      it('rejects bad dtypes, shapes, targets and ignoreIndex', () =>
        scope(() => {
          const logits = tensor([[1, 2, 3], [4, 5, 6]]);
          const t = (v: number[], shape?: number[]) => tensor(new Int32Array(v), shape);
          expect(() => crossEntropy(logits, tensor([0, 1]))).toThrow(/^crossEntropy: expected int32 tensors, got float32\[2\]/);
          expect(() => crossEntropy(tensor(new Int32Array([1, 2, 3]), [1, 3]), t([0]))).toThrow(/^crossEntropy: expected float32 tensors, got int32\[1, 3\]/);
          expect(() => crossEntropy(logits, t([0, 1, 2]))).toThrow(/^crossEntropy: targets int32\[3\] must have the leading shape of logits float32\[2, 3\]/);
          expect(() => crossEntropy(logits, t([0, 1], [2, 1]))).toThrow(/^crossEntropy: targets int32\[2, 1\] must have the leading shape/);
          expect(() => crossEntropy(tensor(1), t([0], []))).toThrow(/^crossEntropy: targets int32\[\] must have the leading shape of logits float32\[\]/);
          expect(() => crossEntropy(logits, t([0, 3]))).toThrow(/^crossEntropy: target 3 at position 1 of int32\[2\] is out of range \[0, 3\) \(ignoreIndex -100\)/);
          expect(() => crossEntropy(logits, t([-1, 0]))).toThrow(/^crossEntropy: target -1 at position 0 of int32\[2\] is out of range \[0, 3\)/);
          expect(() => crossEntropy(logits, t([0, -1]), { ignoreIndex: -1 })).not.toThrow();
          expect(() => crossEntropy(tensor(Float32Array.from(seededValues(12, 1)), [2, 2, 3]), t([0, 1, 2, 5], [2, 2]))).toThrow(
            /^crossEntropy: target 5 at position 3 \[1, 1\] of int32\[2, 2\] is out of range \[0, 3\)/,
          );
          expect(() => crossEntropy(tensor([], [2, 0]), t([IGNORE, IGNORE]))).toThrow(/^crossEntropy: logits float32\[2, 0\] have no classes/);
          expect(() => crossEntropy(logits, t([0, 1]), { ignoreIndex: 0.5 })).toThrow(/^crossEntropy: ignoreIndex must be an int32 integer, got 0.5/);
        }));
    });
  });
}
