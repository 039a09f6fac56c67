// distillLoss(student [N, V], teacher [N, V], targets [N], { temperature, alpha, ignoreIndex })
// beyond the op table's drawn calls (test/ops.test.ts): fast-check over shapes, temperatures,
// alphas and ignored rows, the forward against the float64 reference and the student's gradient,
// every element, against central finite differences of that reference; the teacher gets none;
// both row layouts; errors. Tolerances as crossEntropy's (the loss is one of its terms):
//   forward  atol 1e-5, rtol 1e-5      gradient  atol 1e-4, rtol 1e-2 (float64 differences)
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { distillLossRef, ref, type Ref } from '../src/check/reference/index.js';
import { setProfile } from '../src/kernels/profile.js';
import { distillLoss, noGrad, scope, tensor } from '../src/index.js';
import { expectClose, fcParams, seededValues, setupDevice, toTensor } from './helpers.js';

beforeAll(setupDevice);

const f32 = (lo: number, hi: number) => fc.float({ min: Math.fround(lo), max: Math.fround(hi), noNaN: true, noDefaultInfinity: true });

/** A call: N rows of V logits each for student and teacher, targets with some rows ignored (-1), T and alpha. */
const callArb = fc
  .record({ N: fc.integer({ min: 1, max: 6 }), V: fc.integer({ min: 1, max: 9 }), spread: fc.constantFrom(1, 3, 20) })
  .chain(({ N, V, spread }) =>
    fc.record({
      N: fc.constant(N),
      V: fc.constant(V),
      s: fc.array(f32(-spread, spread), { minLength: N * V, maxLength: N * V }),
      t: fc.array(f32(-spread, spread), { minLength: N * V, maxLength: N * V }),
      y: fc.array(fc.oneof(fc.integer({ min: 0, max: V - 1 }), fc.constant(-1)), { minLength: N, maxLength: N }),
      temperature: fc.oneof(fc.constantFrom(1, 2, 0.5), f32(0.3, 6)),
      alpha: fc.oneof(fc.constantFrom(0, 0.5, 1), f32(0, 1)),
    }),
  );

/** d loss / d s by central differences of the float64 reference, element by element. */
function finiteDifferences(s: Ref, t: Ref, y: number[], T: number, alpha: number): Float64Array {
  const h = 1e-6;
  const x = Float64Array.from(s.data);
  const at = () => distillLossRef({ shape: s.shape, data: x }, t, y, T, alpha, -1).data[0]!;
  return x.map((v, i) => {
    x[i] = v + h;
    const up = at();
    x[i] = v - h;
    const down = at();
    x[i] = v;
    return (up - down) / (2 * h);
  });
}

for (const lanes of [1, 64] as const) {
  describe(`distillLoss, ${lanes === 1 ? 'a lane' : '64 lanes'} per row`, () => {
    beforeAll(() => setProfile({ rowLanes: lanes }));
    afterAll(() => setProfile(null));

    it('forward matches the float64 reference; the gradient matches finite differences; the teacher gets none', async () => {
      await fc.assert(
        fc.asyncProperty(callArb, ({ N, V, s, t, y, temperature, alpha }) =>
          scope(async () => {
            const [sr, tr] = [ref([N, V], s), ref([N, V], t)];
            const student = toTensor(sr).requiresGrad_();
            const teacher = toTensor(tr);
            const loss = distillLoss(student, teacher, tensor(new Int32Array(y)), { temperature, alpha, ignoreIndex: -1 });
            const what = `N=${N} V=${V} T=${temperature} alpha=${alpha} targets ${y}`;
            await expectClose(loss, distillLossRef(sr, tr, y, temperature, alpha, -1), 1e-5, 1e-5, `${what} loss`);
            loss.mul(3).backward(); // an upstream gradient other than 1
            const want = finiteDifferences(sr, tr, y, temperature, alpha).map((g) => 3 * g);
            await expectClose(student.grad!, { shape: [N, V], data: want }, 1e-4, 1e-2, `${what} gradient`);
            expect(teacher.grad).toBeNull();
          }),
        ),
        fcParams(15),
      );
    });

    // a lane's four sums over the row (exp(s), exp(s / T), exp(t / T) and the cross term) were each
    // one float32 chain: at a lane per row, GPT-2's 50,257 logits put 9.8e-5 into the loss at T = 5
    // (4.4e-5 relative; crossEntropy, summing in blocks, 7.5e-7)
    it("matches float64 on GPT-2's 50,257 logits a row and on 100,000", () =>
      scope(async () => {
        for (const V of [50_257, 100_000]) {
          const [sr, tr] = [1, 2].map((seed) => ref([3, V], seededValues(3 * V, seed, -4.5, 4.5).map(Math.fround)));
          const y = [7, V - 1, 12_345];
          for (const [temperature, alpha] of [[1, 0.5], [2, 1], [5, 1]] as const) {
            const loss = distillLoss(toTensor(sr!), toTensor(tr!), tensor(new Int32Array(y)), { temperature, alpha });
            await expectClose(loss, distillLossRef(sr!, tr!, y, temperature, alpha), 1e-5, 1e-5, `V=${V} T=${temperature} alpha=${alpha}`);
          }
        }
      }));
  });
}

describe('distillLoss, its convention and its errors', () => {
  it('alpha 1 at T: T² times the batch-mean KL; alpha 0: the cross-entropy (hand-computed rows)', () =>
    scope(async () => {
      // one row, V = 2: teacher logits (0, log 3) give p = (1/4, 3/4); student zeros give q = (1/2, 1/2) at any T = 1
      const KL = 0.25 * Math.log(0.25 / 0.5) + 0.75 * Math.log(0.75 / 0.5);
      const s = tensor([[0, 0]]);
      const t = tensor([[0, Math.log(3)]]);
      const y = tensor(new Int32Array([1]));
      await expectClose(distillLoss(s, t, y, { temperature: 1, alpha: 1 }), ref([], [KL]), 1e-6, 1e-5, 'T=1');
      // at T = 2 the teacher's logits (0, 2 log 3) give the same p; the student's zeros the same q, times T² = 4
      await expectClose(distillLoss(s, tensor([[0, 2 * Math.log(3)]]), y, { temperature: 2, alpha: 1 }), ref([], [4 * KL]), 1e-6, 1e-5, 'T=2');
      await expectClose(distillLoss(s, t, y, { temperature: 2, alpha: 0 }), ref([], [Math.log(2)]), 1e-6, 1e-5, 'alpha=0');
      // every row ignored: 0, not NaN
      await expectClose(distillLoss(s, t, tensor(new Int32Array([-100])), { temperature: 2, alpha: 0.5 }), ref([], [0]), 0, 0, 'ignored');
    }));

  it('at the largest temperature, 100, the loss of nearly uniform soft targets is within 1e-3 of float64', () =>
    scope(async () => {
      // logits within ±3: at T = 100 both softmaxes are within 3% of uniform, their KL ~1e-4 / T² (float32 cancels it)
      const [N, V] = [8, 27];
      let seed = 1;
      const draw = () => Float32Array.from({ length: N * V }, () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 6 - 3);
      const [s, t] = [draw(), draw()];
      const y = Array.from({ length: N }, (_, i) => i % V);
      const loss = distillLoss(tensor(s, [N, V]), tensor(t, [N, V]), tensor(Int32Array.from(y)), { temperature: 100, alpha: 1 });
      await expectClose(loss, distillLossRef(ref([N, V], s), ref([N, V], t), y, 100, 1), 0, 1e-3, 'T=100');
    }));

  it('at temperatures near 0, down to the least double, loss and gradient are float64\'s (the T -> 0 limit), not NaN', () =>
    scope(async () => {
      // 1 / T overflows float32 below T = 3e-39; the reference (float64) holds down to 1e-300, the T -> 0 limit below
      const [s, t, y] = [ref([2, 4], [1, 2, 3, 0.5, 0.2, -1, 4, 2]), ref([2, 4], [3, 2, 1, 0, 1, 1, 1, 5]), [2, 0]];
      for (const temperature of [1e-3, 1e-30, 3e-39, 1e-39, 1e-44, Number.MIN_VALUE]) {
        const T = Math.max(temperature, 1e-300);
        const student = toTensor(s).requiresGrad_();
        const loss = distillLoss(student, toTensor(t), tensor(Int32Array.from(y)), { temperature, alpha: 0.5, ignoreIndex: -1 });
        await expectClose(loss, distillLossRef(s, t, y, T, 0.5, -1), 1e-6, 1e-6, `T=${temperature}`);
        loss.backward();
        await expectClose(student.grad!, ref([2, 4], finiteDifferences(s, t, y, T, 0.5)), 1e-4, 1e-3, `T=${temperature} gradient`);
      }
    }));

  // NaN and Inf are told by their bits in the kernels (WGSL may assume finite floats): a row where
  // the student or teacher holds one must give a non-finite loss (NaN here; float64 gives NaN or
  // +Inf) and NaN gradients, never a silent finite number. Beside it a finite row (its gradient as
  // float64: alpha T (q - p) + (1 - alpha)(softmax(s) - onehot), over the 2 counted rows) and an
  // ignored row of NaN (0).
  it('a NaN or +-Inf in a student or teacher row makes the loss non-finite and that row\'s gradient NaN; other rows as float64', () =>
    scope(async () => {
      const [V, T, alpha] = [4, 2, 0.5];
      const softmaxOf = (row: number[], scale: number) => {
        const m = Math.max(...row);
        const e = row.map((v) => Math.exp((v - m) * scale));
        const z = e.reduce((a, b) => a + b, 0);
        return e.map((v) => v / z);
      };
      const fine = { s: [0.5, -1, 2, 1], t: [1, 0, -0.5, 2], y: 2 };
      const cases: [string, number[], number[]][] = [
        ['student NaN', [1, NaN, 0, 2], [0, 1, 2, 3]],
        ['student +Inf', [1, Infinity, 0, 2], [0, 1, 2, 3]],
        ['student -Inf', [1, -Infinity, 0, 2], [0, 1, 2, 3]],
        ['teacher NaN', [1, 2, 0, 2], [0, NaN, 2, 3]],
        ['teacher -Inf', [1, 2, 0, 2], [0, 1, -Infinity, 3]],
        ['teacher +Inf', [1, 2, 0, 2], [Infinity, 1, 2, 3]],
      ];
      for (const [what, bs, bt] of cases) {
        const s = ref([3, V], [...bs, ...fine.s, NaN, 1, 2, 3]);
        const t = ref([3, V], [...bt, ...fine.t, 1, NaN, 2, 3]);
        const y = [0, fine.y, -100];
        const want = distillLossRef(s, t, y, T, alpha).data[0]!;
        expect(Number.isFinite(want), `${what}: float64's loss ${want}`).toBe(false);
        const student = toTensor(s).requiresGrad_();
        const loss = distillLoss(student, toTensor(t), tensor(Int32Array.from(y)), { temperature: T, alpha });
        expect(await loss.item(), what).toBeNaN();
        loss.backward();
        const got = await student.grad!.toArray();
        const [q, pt, soft] = [softmaxOf(fine.s, 1 / T), softmaxOf(fine.t, 1 / T), softmaxOf(fine.s, 1)];
        for (let j = 0; j < V; j++) {
          expect(got[j], `${what} bad row [${j}]`).toBeNaN();
          const g = (alpha * T * (q[j]! - pt[j]!) + (1 - alpha) * (soft[j]! - (j === fine.y ? 1 : 0))) / 2;
          expect(Math.abs(got[V + j]! - g), `${what} finite row [${j}]: ${got[V + j]} vs ${g}`).toBeLessThanOrEqual(1e-6);
          expect(got[2 * V + j], `${what} ignored row [${j}]`).toBe(0);
        }
      }
    }));

  it('refuses a teacher that requires grad, other shapes, T <= 0, alpha outside [0, 1], bad targets and rows past a binding, naming the op', () =>
    scope(() => {
      const s = tensor([[1, 2, 3]]).requiresGrad_();
      const t = tensor([[3, 2, 1]]);
      const y = tensor(new Int32Array([2]));
      expect(() => distillLoss(s, s, y, { temperature: 1, alpha: 0.5 })).toThrow(/^distillLoss: teacherLogits float32\[1, 3\] require grad.*noGrad/);
      expect(() => distillLoss(s, tensor([[1, 2]]), y, { temperature: 1, alpha: 0.5 })).toThrow(/^distillLoss: teacherLogits float32\[1, 2\] must have the shape of studentLogits/);
      // above 100 the float32 loss drifts from float64's (3x at T = 1e4: the next test)
      for (const temperature of [0, -1, NaN, Infinity, 100.5, 1e4]) {
        expect(() => distillLoss(s, t, y, { temperature, alpha: 0.5 })).toThrow(/^distillLoss: temperature must be a finite number in \(0, 100\], got /);
      }
      for (const alpha of [-0.1, 1.5, NaN]) expect(() => distillLoss(s, t, y, { temperature: 1, alpha })).toThrow(/^distillLoss: alpha must be in \[0, 1\]/);
      expect(() => distillLoss(s, t, tensor(new Int32Array([3])), { temperature: 1, alpha: 0.5 })).toThrow(/^distillLoss: target 3 at position 0 .* out of range \[0, 3\)/);
      expect(() => distillLoss(s, t, tensor([2]), { temperature: 1, alpha: 0.5 })).toThrow(/^distillLoss: argument 'targets' must be an int32 tensor/);
      // a row larger than one binding (logits larger than one go a chunk of rows at a time: big-tensors.test.ts)
      setProfile({ bindingLimit: 4096 });
      try {
        const wide = tensor(new Float32Array(2 * 2000), [2, 2000]);
        expect(() => distillLoss(wide, wide, tensor(new Int32Array(2)), { temperature: 1, alpha: 0.5 })).toThrow(
          /^distillLoss: logits float32\[2, 2000\] has rows of 8000 bytes, but a row must fit one binding: at most \d+ bytes on this adapter/,
        );
      } finally {
        setProfile(null);
      }
      // under noGrad nothing is differentiated: a teacher that requires grad is allowed
      expect(() => noGrad(() => distillLoss(s, s, y, { temperature: 1, alpha: 0.5 }))).not.toThrow();
    }));
});
