import fc from 'fast-check';
import { beforeAll, describe, expect, it, afterAll } from 'vitest';
import { setProfile } from '../src/kernels/profile.js';
import { argmax, max, mean, scope, sum, tensor, type Tensor } from '../src/index.js';
import { checkGrad } from './gradcheck.js';
import { expectClose, fcParams, setupDevice, shapeArb, toTensor, valuesArb } from './helpers.js';
import { numel, ravel, reduce, ref, unravel, type Ref } from './reference.js';

beforeAll(setupDevice);

/** A shape, values, a subset of its axes and keepdim. */
const caseArb = shapeArb(0, 4).chain((s) =>
  fc.tuple(
    fc.constant(s),
    valuesArb(numel(s)),
    fc.subarray([...s.keys()]),
    fc.boolean(),
  ),
);

// IEEE max written out (float64): NaN wins, +0 is above -0. Not Math.max, whose NaN and -0 rules
// would then go untested.
function ieeeMax(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return NaN;
  if (a === b) return Object.is(a, -0) ? b : a;
  return a > b ? a : b;
}

/** max over `axes`, starting from -inf. */
const maxRef = (r: Ref, axes: number[], keep = false) => reduce(r, axes, -Infinity, ieeeMax, keep);

/** argmax along `axis` as PyTorch defines it: the first NaN, else the first maximum (-0 ties with +0). */
function argmaxIeeeRef(a: Ref, axis: number): Ref {
  const shape = a.shape.filter((_, i) => i !== axis);
  const data = new Float64Array(numel(shape)).fill(-1);
  const best = new Float64Array(numel(shape));
  for (let i = 0; i < a.data.length; i++) {
    const idx = unravel(i, a.shape);
    const o = ravel(idx.filter((_, d) => d !== axis), shape);
    const v = a.data[i]!;
    if (data[o]! < 0 || (!Number.isNaN(best[o]!) && (Number.isNaN(v) || v > best[o]!))) {
      best[o] = v;
      data[o] = idx[axis]!;
    }
  }
  return { shape, data };
}

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

const REDUCTIONS: Record<string, { engine: (t: Tensor, axes: number[], keep: boolean) => Tensor; ref: (r: Ref, axes: number[], keep: boolean) => Ref }> = {
  sum: { engine: (t, a, k) => sum(t, a, k), ref: (r, a, k) => reduce(r, a, 0, (x, y) => x + y, k) },
  mean: {
    engine: (t, a, k) => mean(t, a, k),
    ref: (r, a, k) => {
      const n = a.reduce((p, i) => p * r.shape[i]!, 1);
      const s = reduce(r, a, 0, (x, y) => x + y, k);
      return { shape: s.shape, data: s.data.map((v) => v / n) };
    },
  },
  max: { engine: (t, a, k) => max(t, a, k), ref: maxRef },
};

// Both output layouts (src/kernels/wgsl/row.ts), whichever this adapter would pick.
for (const lanes of [1, 64] as const) {
  describe(`${lanes === 1 ? 'a lane' : '64 lanes'} per output`, () => {
    beforeAll(() => setProfile({ rowLanes: lanes }));
    afterAll(() => setProfile(null));

    describe('reductions over any axes match the reference', () => {
      for (const [name, { engine, ref: f }] of Object.entries(REDUCTIONS)) {
        it(name, async () => {
          await fc.assert(
            fc.asyncProperty(caseArb, ([shape, values, axes, keep]) =>
              scope(async () => {
                const r = ref(shape, values);
                // an empty axis list means "all axes", like PyTorch's sum()
                const all = axes.length ? axes : [...shape.keys()];
                await expectClose(engine(toTensor(r), all, keep), f(r, all, keep), 1e-4, 1e-4, name);
              }),
            ),
            fcParams(30),
          );
        });
      }

      it('reduces a large tensor to a scalar', () =>
        scope(async () => {
          const n = 300_001;
          const r = ref([n], Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) / 1000));
          await expectClose(sum(toTensor(r)), reduce(r, [0], 0, (x, y) => x + y), 1e-2, 1e-5, 'sum');
        }));
    });

    describe('max and argmax follow IEEE: -inf, +inf, NaN, -0', () => {
      it('rows of special values', () =>
        scope(async () => {
          const r = ref([SPECIAL_ROWS.length, 3], SPECIAL_ROWS.flat());
          await expectExact(max(toTensor(r), 1), maxRef(r, [1]), 'max');
          await expectExact(argmax(toTensor(r), 1), argmaxIeeeRef(r, 1), 'argmax');
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
          await expectExact(argmax(toTensor(r), 1), argmaxIeeeRef(r, 1), 'argmax');
        }));

      it('max over any axes matches the reference with specials injected', async () => {
        await fc.assert(
          fc.asyncProperty(
            shapeArb(0, 4).chain((s) => fc.tuple(fc.constant(s), specialValuesArb(numel(s)), fc.subarray([...s.keys()]), fc.boolean())),
            ([shape, values, axes, keep]) =>
              scope(async () => {
                const r = ref(shape, values);
                await expectExact(max(toTensor(r), axes.length ? axes : undefined, keep), maxRef(r, axes.length ? axes : [...shape.keys()], keep), 'max');
              }),
          ),
          fcParams(30),
        );
      });

      it('argmax along an axis matches the reference with ties and specials injected', async () => {
        await fc.assert(
          fc.asyncProperty(
            shapeArb(1, 4).chain((s) => fc.tuple(fc.constant(s), specialValuesArb(numel(s)), fc.nat(s.length - 1))),
            ([shape, values, axis]) =>
              scope(async () => {
                const r = ref(shape, values);
                const got = argmax(toTensor(r), axis);
                expect(got.dtype).toBe('int32');
                await expectExact(got, argmaxIeeeRef(r, axis), 'argmax');
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
    });

    describe('reduction gradients', () => {
      for (const [name, { engine, ref: f }] of Object.entries(REDUCTIONS)) {
        it(`d ${name}`, async () => {
          await fc.assert(
            fc.asyncProperty(
              caseArb.filter(([s]) => numel(s) <= 200),
              async ([shape, values, axes, keep]) => {
                const all = axes.length ? axes : [...shape.keys()];
                // max: distinct values so the maximum is unique and away from ties
                const v = name === 'max' ? values.map((x, i) => x + i * 1e-2) : values;
                await checkGrad({
                  name,
                  inputs: [ref(shape, v)],
                  engine: ([x]) => engine(x!, all, keep),
                  reference: ([x]) => f(x!, all, keep),
                });
              },
            ),
            fcParams(10),
          );
        });
      }

      it('max shares the gradient equally among ties', () =>
        scope(async () => {
          const x = toTensor(ref([2, 3], [1, 5, 5, 2, 2, 0])).requiresGrad_();
          max(x, 1).sum().backward();
          await expectClose(x.grad!, ref([2, 3], [0, 0.5, 0.5, 0.5, 0.5, 0]), 0, 0, 'max ties');
        }));
    });
  });
}
