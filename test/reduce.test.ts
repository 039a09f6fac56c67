import fc from 'fast-check';
import { beforeAll, describe, expect, it, afterAll } from 'vitest';
import { setRowLanes } from '../src/kernels/wgsl/row.js';
import { argmax, max, mean, scope, sum, type Tensor } from '../src/index.js';
import { checkGrad } from './gradcheck.js';
import { expectClose, fcParams, setupDevice, shapeArb, toTensor, valuesArb } from './helpers.js';
import { argmaxRef, numel, reduce, ref, type Ref } from './reference.js';

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
  max: { engine: (t, a, k) => max(t, a, k), ref: (r, a, k) => reduce(r, a, -Infinity, Math.max, k) },
};

// Both output layouts (src/kernels/wgsl/row.ts), whichever this adapter would pick.
for (const lanes of [1, 64] as const) {
  describe(`${lanes === 1 ? 'a lane' : '64 lanes'} per output`, () => {
    beforeAll(() => setRowLanes(lanes));
    afterAll(() => setRowLanes(null));

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

      it('argmax picks the first maximum along an axis', async () => {
        await fc.assert(
          fc.asyncProperty(
            shapeArb(1, 4).chain((s) => fc.tuple(fc.constant(s), valuesArb(numel(s)), fc.nat(s.length - 1))),
            ([shape, values, axis]) =>
              scope(async () => {
                const r = ref(shape, values.map((v) => Math.round(v))); // coarse values: plenty of ties
                const got = argmax(toTensor(r), axis);
                expect(got.dtype).toBe('int32');
                await expectClose(got, argmaxRef(r, axis), 0, 0, 'argmax');
              }),
          ),
          fcParams(30),
        );
      });

      it('reduces a large tensor to a scalar', () =>
        scope(async () => {
          const n = 300_001;
          const r = ref([n], Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) / 1000));
          await expectClose(sum(toTensor(r)), reduce(r, [0], 0, (x, y) => x + y), 1e-2, 1e-5, 'sum');
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
