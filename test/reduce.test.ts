// Reductions beyond the op table's drawn calls (test/ops.test.ts): a large sum, max / min / argmax /
// argmin on IEEE specials (-inf, +inf, NaN, -0), ties included, forward and backward; both output
// layouts; var and std where their divisor is 0, at a constant row, without elements, and errors.
import fc from 'fast-check';
import { beforeAll, describe, expect, it, afterAll } from 'vitest';
import { setProfile } from '../src/kernels/profile.js';
import { argmax, argmin, full, max, mean, min, scope, sum, sumTo, tensor, zeros, type Tensor } from '../src/index.js';
import { expectClose, fcParams, seededValues, setupDevice, shapeArb, toTensor } from './helpers.js';
import { argmaxRef, argminRef, maxRef, meanRef, minRef, numel, ref, sumRef, type Ref } from '../src/check/reference/index.js';
import { toHalf } from '../src/check/index.js';

beforeAll(setupDevice);

/** Each element as text: NaN equals NaN, -0 differs from 0. */
const show = (v: number) => (Object.is(v, -0) ? '-0' : String(v));
async function expectExact(t: Tensor, want: Ref, what: string): Promise<void> {
  expect([...t.shape], `${what} shape`).toEqual(want.shape);
  expect([...(await t.toArray())].map(show), what).toEqual([...want.data].map(show));
}

/** Mostly finite values (coarse ones for ties), with -inf, +inf, NaN, -0 and +0 mixed in. */
const specialValuesArb = (n: number) =>
  fc.array(
    fc.oneof(
      { weight: 8, arbitrary: fc.float({ min: -3, max: 3, noNaN: true, noDefaultInfinity: true }) },
      { weight: 3, arbitrary: fc.integer({ min: -2, max: 2 }) },
      { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, -Infinity, -0, 0) },
    ),
    { minLength: n, maxLength: n },
  );

const FLT_MAX = 3.4028234663852886e38;
// rows of 3: what each must reduce to is the float64 reference's business
const SPECIAL_ROWS = [
  [-Infinity, -Infinity, -Infinity],
  [1, NaN, 3],
  [1, 2, NaN],
  [NaN, 1, 2],
  [1, Infinity, 3],
  [-Infinity, 5, -Infinity],
  [-0, -0, -0],
  [-0, 0, -0],
  [0, -0, -1],
  [-FLT_MAX, -Infinity, -Infinity],
  [Infinity, NaN, -Infinity],
  [NaN, NaN, NaN],
];

// Both output layouts (src/kernels/wgsl/row.ts), whichever this adapter would pick.
for (const lanes of [1, 64] as const) {
  describe(`${lanes === 1 ? 'a lane' : '64 lanes'} per output`, () => {
    beforeAll(() => setProfile({ rowLanes: lanes }));
    afterAll(() => setProfile(null));

    it('reduces a large tensor to a scalar', () =>
      scope(async () => {
        const n = 300_001;
        const r = ref([n], Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) / 1000));
        await expectClose(sum(toTensor(r)), sumRef(r, [0]), 1e-2, 1e-5, 'sum');
      }));

    // one float32 chain per lane (a lane per output) was 1.5e-5 off here, 1.1e-4 at 1e7 values
    it('sums 1e6 values of mixed signs to 4e-6 relative (not as one float32 chain)', () =>
      scope(async () => {
        const n = 1_000_000;
        const x = Float32Array.from(seededValues(n, 5, -0.7, 1.3));
        let want = 0;
        for (const v of x) want += v;
        const got = await sum(tensor(x)).item();
        expect(Math.abs(got - want) / Math.abs(want), `sum ${got}, float64 ${want}`).toBeLessThan(4e-6);
      }));

    // values of one sign round one way: with a lane's blocks of 64 added in one chain, 2^22 of them
    // were 9.7e-6 off at 64 lanes (3.9e-5 at 2^24; torch's float32 sum 9e-7), 6.2e-4 at a lane per output
    const bound = lanes === 1 ? 2e-5 : 2e-6;
    it(`sums 2^22 values of one sign to ${bound} relative (blocks of blocks)`, () =>
      scope(async () => {
        const n = 2 ** 22;
        const want = Math.fround(0.1) * n;
        const got = await sum(tensor(new Float32Array(n).fill(0.1))).item();
        expect(Math.abs(got - want) / want, `sum ${got}, float64 ${want}`).toBeLessThan(bound);
      }));

    describe('max, min, argmax and argmin follow IEEE: -inf, +inf, NaN, -0', () => {
      it('rows of special values', () =>
        scope(async () => {
          const r = ref([SPECIAL_ROWS.length, 3], SPECIAL_ROWS.flat());
          await expectExact(max(toTensor(r), 1), maxRef(r, [1]), 'max');
          await expectExact(argmax(toTensor(r), 1), argmaxRef(r, [1]), 'argmax');
          await expectExact(min(toTensor(r), 1), minRef(r, [1]), 'min');
          await expectExact(argmin(toTensor(r), 1), argminRef(r, [1]), 'argmin');
        }));

      it('long rows: all -inf, NaN last, +inf in the middle, -FLT_MAX only', () =>
        scope(async () => {
          const C = 1000;
          const rows = [0, 1, 2, 3].map((k) => Array.from({ length: C }, (_, i) => (k === 0 ? -Infinity : k === 3 ? -FLT_MAX : ((i * 37) % 101) / 10)));
          rows[1]![C - 1] = NaN;
          rows[2]![C / 2] = Infinity;
          const r = ref([4, C], rows.flat());
          await expectExact(max(toTensor(r), 1), maxRef(r, [1]), 'max');
          await expectExact(max(toTensor(r)), maxRef(r, [0, 1]), 'max of all');
          await expectExact(argmax(toTensor(r), 1), argmaxRef(r, [1]), 'argmax');
          await expectExact(min(toTensor(r), 1), minRef(r, [1]), 'min');
          await expectExact(argmin(toTensor(r), 1), argminRef(r, [1]), 'argmin');
        }));

      it('max and min over any axes match the reference with specials injected', async () => {
        await fc.assert(
          fc.asyncProperty(
            shapeArb(0, 4).chain((s) => fc.tuple(fc.constant(s), specialValuesArb(numel(s)), fc.subarray([...s.keys()]), fc.boolean())),
            ([shape, values, axes, keep]) =>
              scope(async () => {
                const r = ref(shape, values);
                const [asked, meant] = [axes.length ? axes : undefined, axes.length ? axes : [...shape.keys()]];
                await expectExact(max(toTensor(r), asked, keep), maxRef(r, meant, keep), 'max');
                await expectExact(min(toTensor(r), asked, keep), minRef(r, meant, keep), 'min');
              }),
          ),
          fcParams(30),
        );
      });

      it('argmax and argmin along an axis match the reference with ties and specials injected', async () => {
        await fc.assert(
          fc.asyncProperty(
            shapeArb(1, 4).chain((s) => fc.tuple(fc.constant(s), specialValuesArb(numel(s)), fc.nat(s.length - 1))),
            ([shape, values, axis]) =>
              scope(async () => {
                const r = ref(shape, values);
                const got = argmax(toTensor(r), axis);
                expect(got.dtype).toBe('int32');
                await expectExact(got, argmaxRef(r, [axis]), 'argmax');
                await expectExact(toTensor(r).argmin(axis), argminRef(r, [axis]), 'argmin');
              }),
          ),
          fcParams(30),
        );
      });

      it('the gradient goes to the elements tying with the max: NaNs, -infs, -0 with +0', () =>
        scope(async () => {
          const x = tensor([[1, NaN, NaN], [-Infinity, -Infinity, 2], [-Infinity, -Infinity, -Infinity], [-0, 0, -1], [Infinity, 1, Infinity]]);
          x.requiresGrad_();
          max(x, 1).sum().backward();
          const third = 1 / 3;
          const want = [[0, 0.5, 0.5], [0, 0, 1], [third, third, third], [0.5, 0.5, 0], [0.5, 0, 0.5]];
          await expectClose(x.grad!, ref([5, 3], want.flat()), 1e-7, 0, 'd max');
        }));

      it('the gradient goes to the elements tying with the min: NaNs, +infs, -0 with +0', () =>
        scope(async () => {
          const x = tensor([[1, NaN, NaN], [Infinity, Infinity, 2], [Infinity, Infinity, Infinity], [-0, 0, 1], [-Infinity, 1, -Infinity]]);
          x.requiresGrad_();
          x.min(1).sum().backward();
          const third = 1 / 3;
          const want = [[0, 0.5, 0.5], [0, 0, 1], [third, third, third], [0.5, 0.5, 0], [0.5, 0, 0.5]];
          await expectClose(x.grad!, ref([5, 3], want.flat()), 1e-7, 0, 'd min');
        }));
    });

    describe('max gradient', () => {
      it('max shares the gradient equally among ties', () =>
        scope(async () => {
          const x = toTensor(ref([2, 3], [1, 5, 5, 2, 2, 0])).requiresGrad_();
          max(x, 1).sum().backward();
          await expectClose(x.grad!, ref([2, 3], [0, 0.5, 0.5, 0.5, 0.5, 0]), 0, 0, 'max ties');
        }));
    });
  });
}

// Sums over rows go by columns on GPUs (profile().splitSums: column-sums.ts, chunks of rows then
// the chunks); forced here on whatever adapter runs the tests: sums, means, float16 inputs, and
// rows split across slabs by a small binding (partial sums folded into the output).
describe('sums over rows by columns (GPUs\' layout)', () => {
  afterAll(() => setProfile(null));
  it('match float64 sums over [B, T, C] -> [C] for any sizes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          B: fc.integer({ min: 1, max: 4 }),
          T: fc.integer({ min: 16, max: 700 }),
          C: fc.oneof(fc.integer({ min: 1, max: 80 }), fc.constantFrom(64, 129, 384)),
          op: fc.constantFrom('sum', 'mean', 'sumTo'),
          float16: fc.boolean(),
          limit: fc.constantFrom(null, 4096, 65536),
          seed: fc.integer(),
        }),
        ({ B, T, C, op, float16, limit, seed }) =>
          scope(async () => {
            const n = B * T * C;
            const round = float16 ? toHalf : Math.fround;
            const x = ref([B, T, C], Array.from({ length: n }, (_, i) => round(Math.sin(seed + i * 12.9898) * 2)));
            setProfile({ splitSums: true, rowLanes: 64, ...(limit && { bindingLimit: limit }) });
            const t = float16 ? toTensor(x).astype('float16') : toTensor(x);
            const got = op === 'sum' ? sum(t, [0, 1]) : op === 'mean' ? mean(t, [0, 1]) : sumTo(t, [1, 1, C]);
            setProfile(null);
            const want = op === 'mean' ? meanRef(x, [0, 1]) : sumRef(x, [0, 1], op === 'sumTo');
            const magnitude = op === 'mean' ? 2 : 2 * Math.sqrt(B * T) * 4; // the outputs' scale, for float16's rounding
            await expectClose(got.astype('float32'), want, float16 ? magnitude * 2 ** -10 : 1e-3, 1e-4, `${op} of [${B}, ${T}, ${C}]${float16 ? ' float16' : ''}, limit ${limit}`);
          }),
      ),
      fcParams(30),
    );
  });
});

// A 0-size dim makes the strides of the dims before it 0: summing nothing into an output larger
// than a binding must still give zeros (not a slab plan divided by those strides, nor no slabs at
// all and whatever the output's pooled buffer held).
describe('sums of no elements', () => {
  afterAll(() => setProfile(null));
  it.each([[[2, 0, 12], [1]], [[2, 0, 1, 300], [1]], [[3, 0, 50, 4], [1, 3]], [[0, 700], [0]]])('%j over axes %j are zeros, also past a 64- or 1024-byte binding', (shape, axes) =>
    scope(async () => {
      const x = ref(shape, []);
      for (const limit of [null, 64, 1024]) {
        for (const keep of [false, true]) {
          const want = sumRef(x, axes, keep);
          full(want.shape, 7).dispose(); // a pooled buffer of the output's size, not zeroed
          setProfile(limit ? { bindingLimit: limit } : null);
          const got = sum(zeros(shape), axes, keep);
          setProfile(null);
          await expectExact(got, want, `sum over ${axes}, keepdim ${keep}, binding limit ${limit}`);
        }
        const to = shape.map((d, i) => (axes.includes(i) ? 1 : d));
        full(to, 7).dispose();
        setProfile(limit ? { bindingLimit: limit } : null);
        const got = sumTo(zeros(shape), to);
        setProfile(null);
        await expectExact(got, sumRef(x, axes, true), `sumTo ${to}, binding limit ${limit}`);
      }
    }));
});
