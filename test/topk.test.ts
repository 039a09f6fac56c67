// topk beyond the op table's drawn calls (test/ops.test.ts): rows of every length around the lane
// counts with ties, NaN, +-Inf and -0 drawn by fast-check, against the float64 reference, in each
// lane layout (one lane a row; 32 and 256 lanes merging their lists) and k past the kernel's cap of
// one pass; GPT-2's vocabulary; float16; the method; the gradient through another axis; tensors
// past a small binding (a chunk of rows at a time) and past 65,535 workgroups, forward and backward;
// refusals.
import fc from 'fast-check';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { topkRef, type Ref } from '../src/check/reference/index.js';
import { toHalf } from '../src/check/index.js';
import { setProfile } from '../src/kernels/profile.js';
import { TOPK_CAP } from '../src/kernels/wgsl/topk.js';
import { scope, tensor, topk, type Tensor } from '../src/index.js';
import { fcParams, seededValues, setupDevice } from './helpers.js';

beforeAll(setupDevice);
afterEach(() => setProfile(null));

/** Each element as text: NaN equals NaN, -0 differs from 0. */
const show = (v: number) => (Object.is(v, -0) ? '-0' : String(v));
async function expectExact(t: Tensor, want: Ref, what: string): Promise<void> {
  expect([...t.shape], `${what} shape`).toEqual(want.shape);
  expect([...(await t.toArray())].map(show), what).toEqual([...want.data].map(show));
}

/** topk(x, k, axis) of `data` [shape] in `dtype`, values and indices exactly as the reference's. */
async function expectTopk(data: number[], shape: number[], k: number, axis: number, dtype: 'float32' | 'float16' = 'float32'): Promise<void> {
  const held = dtype === 'float16' ? data.map(toHalf) : data.map(Math.fround);
  const want = topkRef({ shape, data: Float64Array.from(held) }, k, axis < 0 ? axis + shape.length : axis);
  await scope(async () => {
    const [values, indices] = topk(tensor(Float32Array.from(held), shape, dtype), k, axis);
    expect(values.dtype).toBe(dtype);
    expect(indices.dtype).toBe('int32');
    const what = `topk(${dtype}[${shape}], ${k}, ${axis})`;
    await expectExact(values, want.values, `${what} values`);
    await expectExact(indices, want.indices, `${what} indices`);
  });
}

/** Coarse values (many ties) with NaN, +-Inf and -0 mixed in. */
const rowValues = (n: number) =>
  fc.array(
    fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: -3, max: 3 }) },
      { weight: 3, arbitrary: fc.float({ min: -3, max: 3, noNaN: true, noDefaultInfinity: true }) },
      { weight: 1, arbitrary: fc.constantFrom(NaN, -Infinity, -Infinity, Infinity, -0) },
    ),
    { minLength: n, maxLength: n },
  );

// lengths around the lane counts (32, 256) and the cap, and past a cap's pass
const lengthArb = fc.oneof(fc.integer({ min: 1, max: 70 }), fc.constantFrom(255, 256, 257, 300, 1025));
const caseArb = fc
  .record({ rows: fc.integer({ min: 1, max: 3 }), V: lengthArb, dtype: fc.constantFrom('float32' as const, 'float16' as const) })
  .chain((c) => fc.record({ c: fc.constant(c), data: rowValues(c.rows * c.V), k: fc.oneof(fc.constantFrom(0, c.V, Math.min(c.V, 21)), fc.integer({ min: 0, max: c.V })) }));

describe.each([1, 32, 256])('%i lanes a row', (lanes) => {
  it('matches the float64 reference on rows of ties, NaN and infinities, k from 0 to the row', async () => {
    setProfile({ greedyLanes: [{ lanes }] });
    await fc.assert(fc.asyncProperty(caseArb, async ({ c, data, k }) => expectTopk(data, [c.rows, c.V], k, -1, c.dtype)), fcParams(15));
  });
});

it('takes the top 21 of GPT-2 rows of 50,257 logits, and k past a pass of the kernel', async () => {
  const V = 50_257;
  const data = Array.from(seededValues(2 * V, 7), (v) => Math.round(v * 40) / 8); // ties among the top ones
  data[V + 50_000] = NaN;
  for (const k of [1, 21, 2 * TOPK_CAP + 5]) await expectTopk(data, [2, V], k, -1);
});

it('takes a whole row of thousands in order (a pass per cap of k)', async () => {
  const data = Array.from(seededValues(3000, 3), (v) => Math.round(v * 100));
  await expectTopk(data, [3000], 3000, 0);
});

it('works along any axis, as a method too, and a 0-d tensor is one element', async () => {
  const data = Array.from(seededValues(60, 5), (v) => Math.round(v * 4));
  await expectTopk(data, [3, 5, 4], 3, 1);
  await expectTopk(data, [3, 5, 4], 2, 0);
  await scope(async () => {
    const x = tensor(Float32Array.from([1, 5, 5, 2]), [4]);
    const [v, i] = x.topk(2);
    expect([...(await v.toArray())]).toEqual([5, 5]);
    expect([...(await i.toArray())]).toEqual([1, 2]);
    const [v0, i0] = tensor(Float32Array.from([7]), []).topk(1);
    expect([v0.shape, i0.shape, await v0.item(), await i0.item()]).toEqual([[], [], 7, 0]);
  });
});

it("sends the values' gradient to where they came from, zero elsewhere, along another axis too", async () => {
  for (const dtype of ['float32', 'float16'] as const) {
    await scope(async () => {
      // x [3, 2]: topk 2 along axis 0 picks rows (2, 0) of column 0 and (1, 2) of column 1
      const x = tensor(Float32Array.from([1, 4, -1, 6, 3, 5]), [3, 2], dtype).requiresGrad_();
      const [values, indices] = topk(x, 2, 0);
      expect([...(await indices.toArray())]).toEqual([2, 1, 0, 2]);
      values.mul(tensor(Float32Array.from([10, 20, 30, 40]), [2, 2], dtype)).sum().backward();
      expect([...(await x.grad!.toArray())], dtype).toEqual([30, 0, 0, 20, 10, 40]);
    });
  }
});

/** The gradient of sum(values * w) for x [R, V]: w[r, j] at x[r, indices[r, j]], from the reference's indices. */
function scatteredRef(indices: Ref, w: Float32Array, R: number, V: number): number[] {
  const k = indices.shape[1]!;
  const dx = new Array<number>(R * V).fill(0);
  for (let r = 0; r < R; r++) for (let j = 0; j < k; j++) dx[r * V + indices.data[r * k + j]!] = w[r * k + j]!;
  return dx;
}

/** topk of x [R, V] with its gradient: values, indices and x's gradient exactly as the reference's. */
async function expectTopkGrad(data: number[], R: number, V: number, k: number, dtype: 'float32' | 'float16'): Promise<void> {
  const held = dtype === 'float16' ? data.map(toHalf) : data.map(Math.fround);
  const want = topkRef({ shape: [R, V], data: Float64Array.from(held) }, k, 1);
  const w = Float32Array.from({ length: R * k }, (_, i) => (i % 7) + 1);
  await scope(async () => {
    const x = tensor(Float32Array.from(held), [R, V], dtype).requiresGrad_();
    const [values, indices] = topk(x, k);
    values.mul(tensor(w, [R, k], dtype)).sum().backward();
    const what = `topk(${dtype}[${R}, ${V}], ${k})`;
    await expectExact(values, want.values, `${what} values`);
    await expectExact(indices, want.indices, `${what} indices`);
    expect([...(await x.grad!.toArray())], `${what} gradient`).toEqual(scatteredRef(want.indices, w, R, V));
  });
}

it.each([1, 32, 256])('goes a chunk of rows at a time past a small binding, forward and backward (%i lanes a row)', async (lanes) => {
  setProfile({ greedyLanes: [{ lanes }], bindingLimit: 4096, offsetAlignment: 256 });
  // rows of 400 bytes, chunks not on a row's edge; k's rows (4 bytes an element) wider than float16's
  for (const [R, V, k] of [[37, 100, 100], [11, 300, 70], [200, 7, 5]] as const) {
    const data = Array.from(seededValues(R * V, R + V), (v) => Math.round(v * 40) / 8);
    for (const dtype of ['float32', 'float16'] as const) await expectTopkGrad(data, R, V, k, dtype);
  }
});

it('takes rows past 65,535 workgroups (a grid of two dimensions), forward and backward', async () => {
  setProfile({ greedyLanes: [{ lanes: 32 }] }); // a workgroup a row, as the backward's
  const R = 70_000;
  await expectTopkGrad(Array.from(seededValues(3 * R, 11), (v) => Math.round(v * 8)), R, 3, 2, 'float32');
  // one lane a row: 64 rows a workgroup, past 65,535 of them; rows of one, each its own top 1
  setProfile({ greedyLanes: [{ lanes: 1 }] });
  const n = 64 * 65_536 + 65;
  await scope(async () => {
    const [values, indices] = topk(tensor(Float32Array.from({ length: n }, (_, i) => i), [n, 1]), 1);
    const [v, i] = [await values.toArray(), await indices.toArray()];
    const wrongValue = v.findIndex((x, r) => x !== r);
    expect([wrongValue, i.findIndex((x) => x !== 0)]).toEqual([-1, -1]);
  });
});

it('refuses a k outside [0, size], a bad axis and an int32 input, naming topk', () => {
  scope(() => {
    const x = tensor(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
    expect(() => topk(x, 4)).toThrow(/^topk: argument 'k' must be an integer in \[0, 3\] \(the size of axis 1 of float32\[2, 3\]\), got number 4$/);
    expect(() => topk(x, 3, 0)).toThrow(/^topk: argument 'k' must be an integer in \[0, 2\].*got number 3$/);
    expect(() => topk(x, -1)).toThrow(/^topk: argument 'k' .*got number -1$/);
    expect(() => topk(x, 1.5)).toThrow(/^topk: argument 'k' .*got number 1.5$/);
    expect(() => topk(x, '2' as unknown as number)).toThrow(/^topk: argument 'k' .*got string/);
    expect(() => topk(x, 2n as unknown as number)).toThrow(/^topk: argument 'k' .*got bigint 2n$/);
    expect(() => topk(x, NaN)).toThrow(/^topk: argument 'k' .*got number NaN$/);
    expect(() => topk(x, Infinity)).toThrow(/^topk: argument 'k' .*got number Infinity$/);
    expect(() => topk(x, 1, 2)).toThrow(/^topk: argument 'axis' must be an integer in \[-2, 1\]/);
    expect(() => topk(tensor(Int32Array.from([1, 2]), [2]), 1)).toThrow(/^topk: argument 'input' must be a float32 or float16 tensor, got int32\[2\]$/);
    expect(() => topk(tensor(Float32Array.from([7]), []), 0)).toThrow(/^topk: argument 'k' must be an integer in \[1, 1\]/);
  });
});
