// embedding (gather rows) beyond the op table's drawn calls (test/ops.test.ts): the table gradient
// compared exactly (tolerance 0) with a float32 emulation of the kernel's fixed summation order
// (each row summed in increasing position n; with split sums, profile().splitSums, a row of more
// than P ids in pieces of P positions, then the pieces in order), which pins down determinism, and
// within atol 1e-5 + rtol 1e-5 of the float64 sum; a large vocabulary, empty ids, ids out of range,
// errors. The backward runs both ways (CPU adapters' one sum a row; GPUs' split sums).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddingBackwardPlan } from '../src/kernels/wgsl/gather.js';
import { setProfile } from '../src/kernels/profile.js';
import * as ops from '../src/index.js';
import { dimArb, fcParams, seededValues, setupDevice, shapeArb } from './helpers.js';
import { embeddingGradRef, numel, ref, type Ref } from '../src/check/reference/index.js';

beforeAll(setupDevice);

const { scope, tensor } = ops;

/** Ids in [0, V) with plenty of repeats (skewed towards low ids, like frequent characters). */
function idsRef(shape: number[], V: number, seed: number): Ref {
  return ref(shape, Array.from(seededValues(numel(shape), seed, 0, 1), (u) => Math.min(V - 1, Math.floor(u * u * V))));
}
// up to 8k ids (N^2 / 2 = 32M comparisons in the backward's rank pass, a few seconds on lavapipe)
const idShapeArb = shapeArb(0, 3).filter((s) => numel(s) <= 8000);
const idsTensor = (r: Ref) => tensor(Int32Array.from(r.data), r.shape);

/**
 * dtable the way the kernels compute it: float32 sums, each row in increasing position; a row of
 * more than P ids (the plan of the backward under the current profile) summed in pieces of P
 * positions, then its pieces in order.
 */
function embeddingGradF32(V: number, ids: Ref, g: Float32Array, C: number): Ref {
  const { P } = embeddingBackwardPlan(ids.data.length);
  const positions: number[][] = Array.from({ length: V }, () => []);
  ids.data.forEach((id, n) => positions[id]!.push(n));
  const sum = (terms: number[]) => terms.reduce((a, t) => Math.fround(a + t), 0);
  const acc = new Float32Array(V * C);
  positions.forEach((ns, v) => {
    for (let c = 0; c < C; c++) {
      const col = ns.map((n) => g[n * C + c]!);
      const pieces = col.length > P ? Array.from({ length: Math.ceil(col.length / P) }, (_, k) => sum(col.slice(k * P, (k + 1) * P))) : [sum(col)];
      acc[v * C + c] = sum(pieces);
    }
  });
  return ref([V, C], acc);
}

/** Runs forward + backward with upstream gradient g; returns out and dtable. */
async function runEmbedding(V: number, C: number, ids: Ref, seed: number) {
  return scope(async () => {
    const tableRef = ref([V, C], Float32Array.from(seededValues(V * C, seed, -2, 2)));
    const table = tensor(Float32Array.from(tableRef.data), [V, C]).requiresGrad_();
    const out = ops.embedding(table, idsTensor(ids));
    const g = Float32Array.from(seededValues(out.size, seed + 1, -1, 1));
    out.backward(tensor(g, out.shape));
    return { tableRef, g, out: await out.toArray(), outShape: [...out.shape], dtable: await table.grad!.toArray() };
  });
}

describe('embedding forward', () => {
  it('is available as a Tensor method', () =>
    scope(async () => {
      const table = tensor([[1, 2], [3, 4], [5, 6]]);
      const out = table.embedding(tensor([[2, 0], [1, 1]], undefined, 'int32'));
      expect(out.shape).toEqual([2, 2, 2]);
      expect([...(await out.toArray())]).toEqual([5, 6, 1, 2, 3, 4, 3, 4]);
    }));
});

for (const splitSums of [false, true]) describe(`embedding backward (${splitSums ? 'split sums' : 'a sum a row'})`, () => {
  beforeAll(() => setProfile({ splitSums }));
  afterAll(() => setProfile(null));

  it('scatter-adds repeated ids exactly in a fixed order (random V, C, ids)', async () => {
    await fc.assert(
      fc.asyncProperty(dimArb, dimArb, idShapeArb, fc.integer({ min: 1, max: 1e6 }), async (V, C, idShape, seed) => {
        const ids = idsRef(idShape, V, seed + 7);
        const { g, dtable } = await runEmbedding(V, C, ids, seed);
        const f32 = embeddingGradF32(V, ids, g, C);
        const f64 = embeddingGradRef(V, ids, ref([...idShape, C], g));
        const tag = `d table V=${V} C=${C} ids [${idShape}]`;
        expect(dtable.length).toBe(V * C);
        dtable.forEach((v, i) => {
          if (v !== f32.data[i]) throw new Error(`${tag}: element ${i} is ${v}, float32 ordered sum gives ${f32.data[i]}`);
          if (!(Math.abs(v - f64.data[i]!) <= 1e-5 + 1e-5 * Math.abs(f64.data[i]!))) throw new Error(`${tag}: element ${i} far from float64`);
        });
      }),
      fcParams(25),
    );
  });

  it('char-level shape (V = 65, B x T = 12 x 64, C = 64) is deterministic run to run', async () => {
    const ids = idsRef([12, 64], 65, 99);
    const a = await runEmbedding(65, 64, ids, 5);
    const b = await runEmbedding(65, 64, ids, 5);
    expect(Buffer.from(a.dtable.buffer).equals(Buffer.from(b.dtable.buffer))).toBe(true);
    const f32 = embeddingGradF32(65, ids, a.g, 64);
    expect(Buffer.from(a.dtable.buffer).equals(Buffer.from(Float32Array.from(f32.data).buffer))).toBe(true);
  });

  it('large vocab: V = 70000 rows (2-D grid, 274 rows a scan lane), N = 1000 ids over 4 rank blocks', async () => {
    const V = 70_000;
    const C = 3;
    // every id repeated somewhere, spread over the whole range including the last rows
    const ids = ref([1000], Array.from({ length: 1000 }, (_, n) => (n % 2 ? V - 1 - (n % 37) : (n * 7919) % V)));
    const { g, dtable, out } = await runEmbedding(V, C, ids, 17);
    expect(out.length).toBe(3000);
    const f32 = embeddingGradF32(V, ids, g, C);
    let bad = -1;
    dtable.forEach((v, i) => {
      if (bad < 0 && v !== f32.data[i]) bad = i;
    });
    expect(bad, `first mismatching element of d table`).toBe(-1);
  });

  it('few rows, many ids (V = 3, N = 5000: ~1700 ids a row, 20 rank blocks)', async () => {
    const ids = idsRef([5000], 3, 41);
    const { g, dtable } = await runEmbedding(3, 5, ids, 9);
    expect([...dtable]).toEqual([...embeddingGradF32(3, ids, g, 5).data]);
  });

  it('empty ids give a zero gradient', () =>
    scope(async () => {
      const table = ops.ones([4, 3]).requiresGrad_();
      const out = ops.embedding(table, tensor(new Int32Array(0), [0]));
      expect(out.shape).toEqual([0, 3]);
      out.sum().backward();
      expect([...(await table.grad!.toArray())]).toEqual(new Array(12).fill(0));
    }));
});

describe('embedding ids out of range', () => {
  it('ids with a host copy are checked eagerly; the error names the op, id, position and range', () =>
    scope(() => {
      const table = ops.zeros([5, 2]);
      expect(() => ops.embedding(table, tensor([[0, 1], [5, 2]], undefined, 'int32'))).toThrow(
        /embedding: id 5 at position \[1, 0\] of int32\[2, 2\] is out of range \[0, 5\)/,
      );
      expect(() => ops.embedding(table, tensor([3, -1], undefined, 'int32'))).toThrow(/embedding: id -1 at position \[1\] .*\[0, 5\)/);
      expect(() => ops.embedding(table, tensor(7, undefined, 'int32'))).toThrow(/embedding: id 7 at position \[\] /);
    }));

  it('ids made on the device are clamped by the kernels (never read or written out of bounds) and reported by the next read', () =>
    scope(async () => {
      const table = tensor([[1, 2], [3, 4], [5, 6]]).requiresGrad_();
      const ids = tensor([-5, 1, 99, 2]).astype('int32'); // no host copy
      expect(ids.storage().host).toBeUndefined();
      const out = ops.embedding(table, ids);
      await expect(out.toArray()).rejects.toThrow(/embedding: a token id computed on the GPU was outside \[0, V\)/);
      expect([...(await out.toArray())]).toEqual([1, 2, 3, 4, 5, 6, 5, 6]);
      out.sum().backward();
      expect([...(await table.grad!.toArray())]).toEqual([1, 1, 1, 1, 2, 2]);
    }));

  it('other input errors name the op', () =>
    scope(() => {
      const ids = tensor([0], undefined, 'int32');
      expect(() => ops.embedding(ops.zeros([5]), ids)).toThrow(/embedding: table must be \[V, C\], got float32\[5\]/);
      expect(() => ops.embedding(ops.zeros([5, 2]), tensor([0]))).toThrow(/^embedding: argument 'ids' must be an int32 tensor, got float32\[1\]$/);
      expect(() => ops.embedding(ops.zeros([5, 2], 'int32'), ids)).toThrow(/^embedding: argument 'table' must be a float32 or float16 tensor, got int32\[5, 2\]$/);
      expect(() => ops.embedding(ops.zeros([0, 2]), ids)).toThrow(/embedding: table float32\[0, 2\] has no rows/);
    }));
});
