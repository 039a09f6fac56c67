import fc from 'fast-check';
import { beforeAll, describe, it } from 'vitest';
import * as ops from '../src/index.js';
import { broadcastPairArb, expectClose, fcParams, setupDevice, shapeArb, toTensor, valuesArb } from './helpers.js';
import { checkGrad } from './gradcheck.js';
import { gelu, geluTanh, map, numel, ref, zipN } from './reference.js';

beforeAll(setupDevice);

// Each unary op: reference, input range, tolerance.
const UNARY: Record<string, { f: (x: number) => number; lo: number; hi: number }> = {
  neg: { f: (x) => -x, lo: -3, hi: 3 },
  exp: { f: Math.exp, lo: -5, hi: 5 },
  log: { f: Math.log, lo: 0.01, hi: 10 },
  sqrt: { f: Math.sqrt, lo: 0, hi: 10 },
  rsqrt: { f: (x) => 1 / Math.sqrt(x), lo: 0.05, hi: 10 },
  tanh: { f: Math.tanh, lo: -5, hi: 5 },
  relu: { f: (x) => Math.max(x, 0), lo: -3, hi: 3 },
  gelu: { f: gelu, lo: -5, hi: 5 },
  geluTanh: { f: geluTanh, lo: -5, hi: 5 },
};

describe('unary ops match the float64 reference', () => {
  for (const [name, { f, lo, hi }] of Object.entries(UNARY)) {
    it(name, async () => {
      await fc.assert(
        fc.asyncProperty(
          shapeArb().chain((s) => fc.tuple(fc.constant(s), valuesArb(numel(s), lo, hi))),
          async ([shape, values]) => {
            const x = toTensor(ref(shape, values));
            const y = (ops as unknown as Record<string, (t: ops.Tensor) => ops.Tensor>)[name]!(x);
            await expectClose(y, map(ref(shape, values), f), 1e-5, 2e-5, name);
            x.dispose();
            y.dispose();
          },
        ),
        fcParams(15),
      );
    });
  }
});

const BINARY: Record<string, { f: (x: number, y: number) => number; lo?: number }> = {
  add: { f: (x, y) => x + y },
  sub: { f: (x, y) => x - y },
  mul: { f: (x, y) => x * y },
  div: { f: (x, y) => x / y, lo: 0.5 },
  pow: { f: (x, y) => x ** y, lo: 0.1 },
  maximum: { f: Math.max },
  eq: { f: (x, y) => +(x === y) },
  lt: { f: (x, y) => +(x < y) },
  ge: { f: (x, y) => +(x >= y) },
};

describe('broadcasting binary ops match the float64 reference', () => {
  for (const [name, { f, lo = -3 }] of Object.entries(BINARY)) {
    it(name, async () => {
      await fc.assert(
        fc.asyncProperty(
          broadcastPairArb.chain(([sa, sb]) =>
            fc.tuple(fc.constant(sa), fc.constant(sb), valuesArb(numel(sa), lo, 3), valuesArb(numel(sb), lo, 3)),
          ),
          async ([sa, sb, va, vb]) => {
            // comparisons are exact on exactly representable inputs: round to a coarse grid so ties occur
            const grid = name === 'eq' || name === 'lt' || name === 'ge';
            const q = (v: number[]) => (grid ? v.map((x) => Math.round(x)) : v);
            const a = ref(sa, q(va));
            const b = ref(sb, q(vb));
            const fn = (ops as unknown as Record<string, (x: ops.Tensor, y: ops.Tensor) => ops.Tensor>)[name]!;
            const ta = toTensor(a);
            const tb = toTensor(b);
            const out = fn(ta, tb);
            await expectClose(out, zipN([a, b], f), 1e-5, 1e-4, name);
            [ta, tb, out].forEach((t) => t.dispose());
          },
        ),
        fcParams(15),
      );
    });
  }

  // sizes a multiple of 4 with every input contiguous or a single value take the vec4 kernels
  it.each(Object.keys(BINARY))('%s: same shapes and single values, sizes a multiple of 4 (vec4 kernels)', (name) =>
    ops.scope(async () => {
      const { f, lo = -3 } = BINARY[name]!;
      const fn = (ops as unknown as Record<string, (x: ops.Tensor, y: ops.Tensor) => ops.Tensor>)[name]!;
      const vals = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Math.round(((Math.sin(seed * 7 + i * 3.1) + 1) / 2) * (3 - lo) + lo));
      const pairs: [number[], number[]][] = [[[2, 4], [2, 4]], [[2, 4], []], [[], [8]], [[4], [1]], [[3, 1, 4], [1]]];
      for (const [sa, sb] of pairs) {
        const a = ref(sa, vals(numel(sa), 1).map((x) => (x === 0 && lo > 0 ? 1 : x)));
        const b = ref(sb, vals(numel(sb), 2).map((x) => (x === 0 && lo > 0 ? 1 : x)));
        await expectClose(fn(toTensor(a), toTensor(b)), zipN([a, b], f), 1e-5, 1e-4, `${name} ${JSON.stringify(sa)} ${JSON.stringify(sb)}`);
      }
    }));

  it('where with a single-value condition or branch, sizes a multiple of 4 (vec4 kernels)', () =>
    ops.scope(async () => {
      const pick = (cv: number, av: number, bv: number) => (cv ? av : bv);
      const c = ref([2, 4], [1, 0, 0, 1, 1, 1, 0, 0]);
      const a = ref([2, 4], [1, 2, 3, 4, 5, 6, 7, 8]);
      for (const [cc, aa, bb] of [[c, a, ref([], [-7])], [ref([], [0]), a, ref([2, 4], [9, 8, 7, 6, 5, 4, 3, 2])], [ref([], [1]), a, ref([], [3])]] as const) {
        await expectClose(ops.where(toTensor(cc), toTensor(aa), toTensor(bb)), zipN([cc, aa, bb], pick), 0, 0, 'where');
      }
    }));

  it('where broadcasts condition and branches', () =>
    ops.scope(async () => {
      const c = ref([3, 1], [1, 0, 1]);
      const a = ref([1, 4], [1, 2, 3, 4]);
      const b = ref([], [-7]);
      const out = ops.where(toTensor(c), toTensor(a), toTensor(b));
      await expectClose(out, zipN([c, a, b], (cv, av, bv) => (cv ? av : bv)), 0, 0, 'where');
    }));

  it('scalars mix with tensors', () =>
    ops.scope(async () => {
      const a = ref([2, 3], [1, 2, 3, 4, 5, 6]);
      await expectClose(toTensor(a).mul(2).add(1), map(a, (x) => 2 * x + 1), 0, 0, 'scalar');
    }));
});

describe('elementwise gradients match finite differences of the reference', () => {
  const unaryGradCases = Object.entries(UNARY);
  for (const [name, { f, lo, hi }] of unaryGradCases) {
    it(`d ${name}`, async () => {
      await fc.assert(
        fc.asyncProperty(
          shapeArb(0, 3).chain((s) => fc.tuple(fc.constant(s), valuesArb(numel(s), lo + 0.01, hi))),
          async ([shape, values]) => {
            // keep relu's kink away from the finite-difference step
            const v = name === 'relu' ? values.map((x) => (Math.abs(x) < 1e-3 ? 0.5 : x)) : values;
            await checkGrad({
              name,
              inputs: [ref(shape, v)],
              engine: ([x]) => (ops as unknown as Record<string, (t: ops.Tensor) => ops.Tensor>)[name]!(x!),
              reference: ([x]) => map(x!, f),
            });
          },
        ),
        fcParams(8),
      );
    });
  }
  for (const [name, { f, lo = -3 }] of Object.entries(BINARY).filter(([n]) => !['eq', 'lt', 'ge'].includes(n))) {
    it(`d ${name} (broadcast gradients reduce to each input's shape)`, async () => {
      await fc.assert(
        fc.asyncProperty(
          broadcastPairArb
            .filter(([sa, sb]) => numel(sa) <= 300 && numel(sb) <= 300)
            .chain(([sa, sb]) => fc.tuple(fc.constant(sa), fc.constant(sb), valuesArb(numel(sa), lo, 3), valuesArb(numel(sb), lo, 3))),
          async ([sa, sb, va, vb]) => {
            // maximum: keep inputs apart so no tie sits within the finite-difference step
            const vb2 = name === 'maximum' ? vb.map((x) => x + 0.37) : vb;
            await checkGrad({
              name,
              inputs: [ref(sa, va), ref(sb, vb2)],
              engine: ([a, b]) => (ops as unknown as Record<string, (x: ops.Tensor, y: ops.Tensor) => ops.Tensor>)[name]!(a!, b!),
              reference: ([a, b]) => zipN([a!, b!], f),
            });
          },
        ),
        fcParams(8),
      );
    });
  }
  it('d where', async () => {
    const c = ref([3, 1], [1, 0, 1]);
    await checkGrad({
      name: 'where',
      inputs: [c, ref([1, 4], [1, 2, 3, 4]), ref([3, 4], [...Array(12).keys()])],
      differentiable: [false, true, true],
      engine: ([cc, a, b]) => ops.where(cc!, a!, b!),
      reference: ([cc, a, b]) => zipN([cc!, a!, b!], (x, y, z) => (x ? y : z)),
    });
  });
});
