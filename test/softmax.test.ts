// softmax / logSoftmax beyond the op table's drawn calls (test/ops.test.ts): wide rows, more rows
// than a grid axis holds, -Infinity masking, any axis, errors and memory; both row layouts.
// Tolerances, |got - want| <= atol + rtol |want| (as in src/check/cases/nn.ts):
//   softmax forward     atol 1e-6, rtol 1e-4   (outputs in [0, 1]; lavapipe's worst: 1e-7 abs, 8e-6 rel)
//   logSoftmax forward  atol 1e-5, rtol 1e-5   (worst seen: ~1 ulp of |y|, 1.5e-5 at |y| ~ 160)
import { beforeAll, describe, expect, it, afterAll } from 'vitest';
import { profile, setProfile } from '../src/kernels/profile.js';
import { device, logSoftmax, scope, softmax, tensor, type Tensor } from '../src/index.js';
import { expectBuffersReturned, expectClose, seededValues, setupDevice, toTensor } from './helpers.js';
import { logSoftmaxRef, numel, ref, softmaxRef, type Ref } from '../src/check/reference/index.js';

beforeAll(setupDevice);

const OPS = [
  { name: 'softmax', fn: softmax, reference: softmaxRef, atol: 1e-6, rtol: 1e-4 },
  { name: 'logSoftmax', fn: logSoftmax, reference: logSoftmaxRef, atol: 1e-5, rtol: 1e-5 },
] as const;

/** Upstream gradient for a direct backward() call. */
const seeded = (shape: number[], seed: number): Ref => ref(shape, seededValues(numel(shape), seed));

// Both row layouts (src/kernels/wgsl/row.ts), whichever this adapter would pick.
for (const lanes of [1, 64] as const) {
  describe(`${lanes === 1 ? 'a lane' : '64 lanes'} per row`, () => {
    beforeAll(() => setProfile({ rowLanes: lanes }));
    afterAll(() => setProfile(null));

    for (const { name, fn, reference, atol, rtol } of OPS) {
      describe(name, () => {
        it('handles wide rows (C = 1000, 4099) with logits in [-80, 80]', () =>
          scope(async () => {
            for (const C of [1000, 4099]) {
              const x = ref([3, C], seededValues(3 * C, C, -80, 80).map(Math.fround));
              await expectClose(fn(toTensor(x)), reference(x), atol, rtol, `${name} C=${C}`);
            }
          }));

        // A lane's sum of exps in one float32 chain drifted with the row's length: at a lane per row,
        // 3.1e-5 in logSoftmax (16 ulp of |y| ~ 40) and 3.2e-5 relative in softmax. Tolerances here:
        // logSoftmax 2 ulp of |y| (log of the sum to a few ulp), softmax 1e-5 (exp of x - max, |x - max|
        // up to 40, is good to ~40 ulp whatever the sum).
        it('handles very long rows (C = 100,000; GPT-2 has 50,257 logits) with logits in [-20, 20]', () =>
          scope(async () => {
            const C = 100_000;
            const x = ref([2, C], seededValues(2 * C, 11, -20, 20).map(Math.fround));
            const [tightAtol, tightRtol] = name === 'softmax' ? [1e-9, 1e-5] : [1e-6, 2.5e-7];
            await expectClose(fn(toTensor(x)), reference(x), tightAtol, tightRtol, `${name} C=${C}`);
          }));

        it('handles more rows than one grid axis holds (66000 rows), forward and backward', () =>
          scope(async () => {
            const shape = [66_000, 3];
            const x = ref(shape, seededValues(numel(shape), 7, -5, 5).map(Math.fround));
            const dy = seeded(shape, 8);
            const xt = toTensor(x);
            xt.requiresGrad = true;
            const y = fn(xt);
            await expectClose(y, reference(x), atol, rtol, `${name} forward`);
            y.backward(toTensor(dy));
            // dx = y (dy - sum(dy y)) for softmax, dx = dy - softmax(x) sum(dy) for logSoftmax
            const s = softmaxRef(x);
            const want = new Float64Array(x.data.length);
            for (let r = 0; r < shape[0]!; r++) {
              let acc = 0;
              for (let j = 0; j < 3; j++) acc += name === 'softmax' ? dy.data[3 * r + j]! * s.data[3 * r + j]! : dy.data[3 * r + j]!;
              for (let j = 0; j < 3; j++) {
                const i = 3 * r + j;
                want[i] = name === 'softmax' ? s.data[i]! * (dy.data[i]! - acc) : dy.data[i]! - s.data[i]! * acc;
              }
            }
            await expectClose(xt.grad!, { shape, data: want }, 1e-5, 1e-4, `${name} backward`);
          }));

        it('gives exp(-inf) = 0 weight to -Infinity entries (masking)', () =>
          scope(async () => {
            const x = ref([2, 4], [0, -Infinity, 1, 2, -Infinity, 3, -Infinity, 3]);
            const got = await fn(toTensor(x)).toArray();
            const want = reference(x).data;
            for (let i = 0; i < want.length; i++) {
              if (want[i] === -Infinity) expect(got[i], `${name} element ${i}`).toBe(-Infinity);
              else expect(got[i], `${name} element ${i}`).toBeCloseTo(want[i]!, 5);
            }
          }));

        // NaN and Inf are told by their bits in the kernels (WGSL may assume finite floats): a row
        // holding a NaN or +Inf, or only -Inf, is all NaN as torch's (float64 here: the same IEEE
        // steps), a -Inf is masked; backward as float64 from those outputs, float32 and float16.
        it('a NaN, +Inf or only -Inf makes its row NaN, forward and backward, as float64; -Inf masks (float32, float16)', () =>
          scope(async () => {
            const rows = [[NaN, 1, 2, 0], [1, Infinity, 0, 2], [-Infinity, -Infinity, -Infinity, -Infinity], [0, -Infinity, 1, -Infinity], [-Infinity, Infinity, -Infinity, 3], [2, 1, NaN, -Infinity], [0.5, -1, 3, 2]];
            const x = ref([rows.length, 4], rows.flat());
            const y = reference(x);
            const dy = seeded(x.shape, 9);
            const dx = new Float64Array(y.data.length);
            for (let r = 0; r < rows.length; r++) {
              const at = (j: number) => 4 * r + j;
              let acc = 0;
              for (let j = 0; j < 4; j++) acc += name === 'softmax' ? dy.data[at(j)]! * y.data[at(j)]! : dy.data[at(j)]!;
              for (let j = 0; j < 4; j++) dx[at(j)] = name === 'softmax' ? y.data[at(j)]! * (dy.data[at(j)]! - acc) : dy.data[at(j)]! - Math.exp(y.data[at(j)]!) * acc;
            }
            const same = (got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string) => {
              for (let i = 0; i < want.length; i++) {
                if (Number.isFinite(want[i]!)) expect(Math.abs(got[i]! - want[i]!), `${what} element ${i}: ${got[i]} vs ${want[i]}`).toBeLessThanOrEqual(tol * (1 + Math.abs(want[i]!)));
                else expect(got[i], `${what} element ${i}`).toBe(want[i]); // NaN or -Inf, exactly
              }
            };
            for (const dtype of profile().f16 ? (['float32', 'float16'] as const) : (['float32'] as const)) {
              const tol = dtype === 'float16' ? 2e-3 : 1e-5;
              const xt = tensor(Array.from(x.data), x.shape, dtype).requiresGrad_();
              const out = fn(xt);
              same(await out.toArray(), y.data, tol, `${name} ${dtype}`);
              out.backward(tensor(Array.from(dy.data), dy.shape, dtype));
              same(await xt.grad!.toArray(), dx, tol, `${name} ${dtype} backward`);
            }
          }));

        it('takes any axis: the last (-1, the default, or rank - 1) as the kernel\'s rows, others transposed around it', () =>
          scope(async () => {
            const x = ref([2, 3], [1, 2, 3, -1, 0, 4]);
            const t = toTensor(x).requiresGrad_();
            const method = (a: Tensor, axis?: number) => (name === 'softmax' ? a.softmax(axis) : a.logSoftmax(axis));
            for (const y of [fn(t, 1), method(t), method(t, -1)]) {
              await expectClose(y, reference(x, 1), atol, rtol, name);
              expect(y.gradFn!.opName, 'the last axis goes straight to the kernel').toBe(name);
            }
            for (const y of [fn(t, 0), method(t, -2)]) await expectClose(y, reference(x, 0), atol, rtol, `${name} axis 0`);
            const cube = ref([2, 3, 4], seededValues(24, 5, -3, 3).map(Math.fround));
            await expectClose(fn(toTensor(cube), 1), reference(cube, 1), atol, rtol, `${name} the middle axis`);
          }));

        it('rejects an axis out of range (a 0-d tensor takes 0 and -1) and int32', () =>
          scope(() => {
            const t = toTensor(ref([2, 3], [1, 2, 3, -1, 0, 4]));
            expect(() => fn(t, 2)).toThrow(new RegExp(`^${name}: argument 'axis' must be an integer in \\[-2, 1\\] for float32\\[2, 3\\], got number 2$`));
            expect(() => fn(t, -3)).toThrow(new RegExp(`^${name}: argument 'axis' must be an integer in \\[-2, 1\\] for float32\\[2, 3\\], got number -3$`));
            expect(() => fn(tensor(3), 1)).toThrow(new RegExp(`^${name}: argument 'axis' must be an integer in \\[-1, 0\\] for float32\\[\\], got number 1$`)); // 0 and -1 as torch's
            expect(() => fn(tensor(new Int32Array([1, 2])), 0)).toThrow(new RegExp(`^${name}: argument 'input' must be a float32 or float16 tensor, got int32\\[2\\]$`));
          }));

        it('returns every buffer after forward and backward, over the last axis and another', () =>
          expectBuffersReturned(async () => {
            const x = toTensor(ref([4, 5], seededValues(20, 3)));
            x.requiresGrad = true;
            for (const axis of [-1, 0]) fn(x, axis).mul(toTensor(seeded([4, 5], 4))).sum().backward();
            await x.grad!.toArray();
          }));

        it('over another axis leaves only its result allocated (the transposes freed, not left to a scope)', () =>
          expectBuffersReturned(async () => {
            const x = toTensor(ref([4, 5], seededValues(20, 3)));
            const before = device().memory().liveBuffers;
            fn(x, 0);
            expect(device().memory().liveBuffers).toBe(before + 1);
          }));
      });
    }
  });
}
