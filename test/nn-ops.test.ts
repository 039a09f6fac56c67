// softmax / logSoftmax, layerNorm and crossEntropy against float64 references.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { crossEntropy, layerNorm, logSoftmax, scope, softmax, tensor } from '../src/index.js';
import { checkGrad } from './gradcheck.js';
import { dimArb, expectClose, fcParams, setupDevice, shapeArb, toTensor, valuesArb } from './helpers.js';
import { numel, ref, type Ref } from './reference.js';

beforeAll(setupDevice);

/** Applies f to each last-axis row. */
function rows(a: Ref, f: (row: number[]) => number[]): Ref {
  const C = a.shape.at(-1)!;
  const out = new Float64Array(a.data.length);
  for (let r = 0; r < a.data.length / C; r++) out.set(f([...a.data.subarray(r * C, (r + 1) * C)]), r * C);
  return { shape: [...a.shape], data: out };
}
const softmaxRow = (x: number[]) => {
  const m = Math.max(...x);
  const e = x.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};
const logSoftmaxRow = (x: number[]) => {
  const m = Math.max(...x);
  const lse = m + Math.log(x.reduce((a, v) => a + Math.exp(v - m), 0));
  return x.map((v) => v - lse);
};
function layerNormRef(x: Ref, w: Ref, b: Ref | null, eps = 1e-5): Ref {
  return rows(x, (row) => {
    const mu = row.reduce((a, v) => a + v, 0) / row.length;
    const vr = row.reduce((a, v) => a + (v - mu) ** 2, 0) / row.length;
    return row.map((v, j) => ((v - mu) / Math.sqrt(vr + eps)) * w.data[j]! + (b ? b.data[j]! : 0));
  });
}
function crossEntropyRef(logits: Ref, targets: number[], ignore: number): Ref {
  const V = logits.shape.at(-1)!;
  let total = 0;
  let count = 0;
  targets.forEach((t, r) => {
    if (t === ignore) return;
    total -= logSoftmaxRow([...logits.data.subarray(r * V, (r + 1) * V)])[t]!;
    count++;
  });
  return ref([], [count ? total / count : 0]);
}

const rowsArb = fc.tuple(fc.integer({ min: 1, max: 9 }), dimArb);

describe('softmax and logSoftmax', () => {
  for (const [name, fn, row] of [['softmax', softmax, softmaxRow], ['logSoftmax', logSoftmax, logSoftmaxRow]] as const) {
    it(`${name} matches the reference, stably`, async () => {
      await fc.assert(
        fc.asyncProperty(
          shapeArb(1, 4).chain((s) => fc.tuple(fc.constant(s), valuesArb(numel(s), -80, 80))),
          ([shape, v]) => scope(async () => {
            const x = ref(shape, v);
            await expectClose(fn(toTensor(x)), rows(x, row), 1e-5, 1e-4, name);
          }),
        ),
        fcParams(20),
      );
    });
    it(`${name} on wide rows`, () =>
      scope(async () => {
        const x = ref([3, 4099], Array.from({ length: 3 * 4099 }, (_, i) => Math.sin(i) * 10));
        await expectClose(fn(toTensor(x)), rows(x, row), 1e-5, 1e-4, name);
      }));
    it(`d ${name}`, async () => {
      await fc.assert(
        fc.asyncProperty(
          rowsArb.chain(([r, c]) => fc.tuple(fc.constant([r, c] as number[]), valuesArb(r * c))),
          async ([shape, v]) =>
            checkGrad({ name, inputs: [ref(shape, v)], engine: ([x]) => fn(x!), reference: ([x]) => rows(x!, row) }),
        ),
        fcParams(10),
      );
    });
  }
  it('rejects other axes', () => scope(() => expect(() => softmax(tensor([[1, 2]]), 0)).toThrow(/softmax: only the last axis/)));
});

describe('layerNorm', () => {
  it('matches the reference (with and without bias)', async () => {
    await fc.assert(
      fc.asyncProperty(
        rowsArb.chain(([r, c]) => fc.tuple(fc.constant([r, c] as number[]), valuesArb(r * c), valuesArb(c), valuesArb(c), fc.boolean())),
        ([shape, v, w, b, bias]) => scope(async () => {
          const [x, wr, br] = [ref(shape, v), ref([shape[1]!], w), ref([shape[1]!], b)];
          const got = layerNorm(toTensor(x), toTensor(wr), bias ? toTensor(br) : null);
          await expectClose(got, layerNormRef(x, wr, bias ? br : null), 1e-4, 1e-3, 'layerNorm');
        }),
      ),
      fcParams(20),
    );
  });
  it('d layerNorm (input, weight, bias)', async () => {
    await fc.assert(
      fc.asyncProperty(
        rowsArb.filter(([, c]) => c > 1).chain(([r, c]) => fc.tuple(fc.constant([r, c] as number[]), valuesArb(r * c), valuesArb(c), valuesArb(c))),
        async ([shape, v, w, b]) =>
          checkGrad({
            name: 'layerNorm',
            inputs: [ref(shape, v), ref([shape[1]!], w), ref([shape[1]!], b)],
            engine: ([x, wt, bs]) => layerNorm(x!, wt!, bs!),
            reference: ([x, wt, bs]) => layerNormRef(x!, wt!, bs!),
            atol: 2e-3,
          }),
      ),
      fcParams(10),
    );
  });
  it('rejects a bad weight shape', () =>
    scope(() => expect(() => layerNorm(tensor([[1, 2, 3]]), tensor([1, 1]))).toThrow(/layerNorm: weight must have shape \[3\], got float32\[2\]/)));
});

describe('crossEntropy', () => {
  const caseArb = rowsArb.chain(([r, V]) =>
    fc.tuple(fc.constant([r, V] as number[]), valuesArb(r * V, -20, 20), fc.array(fc.integer({ min: -1, max: V - 1 }), { minLength: r, maxLength: r })),
  );
  it('matches the reference, with ignored rows', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, ([shape, v, t]) => scope(async () => {
        const x = ref(shape, v);
        const got = crossEntropy(toTensor(x), tensor(new Int32Array(t)), { ignoreIndex: -1 });
        await expectClose(got, crossEntropyRef(x, t, -1), 1e-4, 1e-4, 'crossEntropy');
      })),
      fcParams(25),
    );
  });
  it('is stable for huge logits', () =>
    scope(async () => {
      const x = ref([2, 3], [1000, 0, -1000, -500, 500, 0]);
      await expectClose(crossEntropy(toTensor(x), tensor(new Int32Array([1, 1]))), crossEntropyRef(x, [1, 1], -100), 1e-3, 1e-5, 'huge');
    }));
  it('d crossEntropy', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async ([shape, v, t]) =>
        checkGrad({
          name: 'crossEntropy',
          inputs: [ref(shape, v)],
          engine: ([x]) => crossEntropy(x!, tensor(new Int32Array(t)), { ignoreIndex: -1 }),
          reference: ([x]) => crossEntropyRef(x!, t, -1),
        }),
      ),
      fcParams(10),
    );
  });
  it('errors name the op', () =>
    scope(() => {
      const logits = tensor([[1, 2, 3]]);
      expect(() => crossEntropy(logits, tensor(new Int32Array([3])))).toThrow(/crossEntropy: target 3 at position 0 of int32\[1\] is out of range \[0, 3\)/);
      expect(() => crossEntropy(logits, tensor(new Int32Array([0, 1])))).toThrow(/crossEntropy: targets int32\[2\] must have the leading shape/);
      expect(() => crossEntropy(logits, tensor([0]))).toThrow(/crossEntropy: expected int32 tensors, got float32\[1\]/);
    }));
});
