// Tensors past rank 8. A kernel that walks its operands through a shape indexes at most 8 dims, but
// counts them after dropping size-1 dims and merging neighbours laid out one after another in every
// operand: ops whose dims merge that far run at any rank (checked against float64 references);
// ops whose dims do not are refused, as a RangeError naming the op called, the rank and the limit.
import { beforeAll, describe, expect, it } from 'vitest';
import * as ops from '../src/index.js';
import { map, matmulRef, numel, permuteRef, ref, reduce, zipN, type Ref } from '../src/check/reference/index.js';
import { expectClose, seededValues, setupDevice } from './helpers.js';

beforeAll(setupDevice);

const { scope, tensor } = ops;

/** Float32 values (so that copies and selections are exact), held in float64. */
const values = (shape: number[], seed: number): Ref => ref(shape, Array.from(seededValues(numel(shape), seed, -2, 2), Math.fround));
const asTensor = (r: Ref) => tensor(Float32Array.from(r.data), r.shape);
/** `rank` dims of 2. */
const twos = (rank: number) => Array.from({ length: rank }, () => 2);
/** Refused: the kernel would index `rank` dims. */
const refusal = (op: string, rank: number) =>
  new RegExp(`^${op}: rank ${rank} exceeds 8, the most dims a kernel indexes \\(counted after dropping size-1 dims and merging neighbours laid out one after another in every operand\\); allowed: shapes whose dims merge to 8 or fewer$`);

describe('ops whose dims merge to 8 or fewer run at any rank', () => {
  it('add, mul and where of rank 9 and 17, broadcast along a trailing block and a leading one', () =>
    scope(async () => {
      const a = values([2, 1, 2, 3, 1, 2, 2, 1, 3], 1);
      const b = values([1, 1, 1, 1, 1, 1, 2, 1, 3], 2); // a trailing block, repeated
      await expectClose(ops.add(asTensor(a), asTensor(b)), zipN([a, b], (x, y) => x + y), 1e-6, 1e-6, 'add, rank 9');
      const c = values([2, 1, 2, 1, 1, 1, 1, 1, 1], 3); // a leading block, each value spread over the rest
      await expectClose(ops.mul(asTensor(a), asTensor(c)), zipN([a, c], (x, y) => x * y), 1e-6, 1e-6, 'mul, rank 9');
      const x = values(twos(17), 4);
      const y = values(twos(17), 5);
      await expectClose(ops.where(ops.gt(asTensor(x), 0), asTensor(x), asTensor(y)), zipN([x, y], (p, q) => (p > 0 ? p : q)), 0, 0, 'where, rank 17');
    }));

  it("exp's gradient at rank 17 (its backward broadcasts the upstream gradient)", () =>
    scope(async () => {
      const x = values(twos(17), 6);
      const t = asTensor(x);
      t.requiresGrad = true;
      ops.sum(ops.exp(t)).backward();
      await expectClose(t.grad!, map(x, Math.exp), 1e-5, 1e-5, 'd sum(exp(x)) / dx');
    }));

  it('matmul with 9 batch dims on both sides, and permute of rank 9 whose moved blocks stay together', () =>
    scope(async () => {
      const batch = [2, 1, 2, 1, 3, 1, 1, 2, 1];
      const a = values([...batch, 2, 3], 7);
      const b = values([...batch, 3, 2], 8);
      await expectClose(ops.matmul(asTensor(a), asTensor(b)), matmulRef(a, b), 1e-5, 1e-5, 'matmul, rank 11');
      const p = values([2, 3, 2, 2, 3, 2, 2, 2, 3], 9);
      const perm = [4, 5, 6, 7, 8, 0, 1, 2, 3]; // two blocks swapped: 2 dims once merged
      await expectClose(ops.permute(asTensor(p), perm), permuteRef(p, perm), 0, 0, 'permute, rank 9');
    }));

  it('sum over one axis of rank 17', () =>
    scope(async () => {
      const x = values(twos(17), 10);
      await expectClose(ops.sum(asTensor(x), 5), reduce(x, [5], 0, (s, v) => s + v), 1e-5, 1e-5, 'sum over axis 5');
    }));
});

describe('ops whose dims do not merge to 8 are refused, naming the op called', () => {
  it('permute, add, sum and a backward', () =>
    scope(async () => {
      const nine = asTensor(values(twos(9), 11));
      expect(() => ops.permute(nine, [8, 7, 6, 5, 4, 3, 2, 1, 0])).toThrow(RangeError);
      expect(() => ops.permute(nine, [8, 7, 6, 5, 4, 3, 2, 1, 0])).toThrow(refusal('permute', 9));
      // broadcast along every other dim each: no neighbours merge
      const even = asTensor(values([2, 1, 2, 1, 2, 1, 2, 1, 2, 1], 12));
      const odd = asTensor(values([1, 2, 1, 2, 1, 2, 1, 2, 1, 2], 13));
      expect(() => ops.add(even, odd)).toThrow(refusal('add', 10));
      expect(() => ops.sum(asTensor(values(twos(17), 14)), [0, 2, 4, 6, 8, 10, 12, 14, 16])).toThrow(refusal('sum', 9));
      // sum over every other dim runs (5 reduced dims, 4 kept); its backward spreads the gradient back over them
      const x = asTensor(values(twos(9), 15));
      x.requiresGrad = true;
      const s = ops.sum(ops.sum(x, [0, 2, 4, 6, 8]));
      expect(() => s.backward()).toThrow(refusal("backward of 'sum'", 9));
    }));
});
