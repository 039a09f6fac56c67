// split and chunk (composites of slice, so not entries of the op table that test/ops.test.ts
// draws): the pieces' lengths as PyTorch 1.13 gives them, their values against the float64 slice
// reference for any shape and axis, the gradient through all of them, and the errors.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import * as ops from '../src/index.js';
import { expectBuffersReturned, expectClose, fcParams, seededValues, setupDevice, shapeArb, toTensor } from './helpers.js';
import { concatRef, numel, ref, sliceRef, type Ref } from '../src/check/reference/index.js';
import { toHalf } from '../src/check/index.js';
import { profile } from '../src/kernels/profile.js';

beforeAll(setupDevice);

const { chunk, scope, split, tensor } = ops;
const lengths = (pieces: ops.Tensor[], axis = 0) => pieces.map((p) => p.shape[axis]);

describe('split and chunk', () => {
  // torch.split / torch.chunk on torch.arange(n) in PyTorch 1.13
  it('cut an axis as PyTorch does: the last piece smaller, chunk giving fewer where pieces run out', () =>
    scope(() => {
      const range = (n: number) => ops.arange(n);
      expect(lengths(split(range(7), 3))).toEqual([3, 3, 1]);
      expect(lengths(split(range(7), [2, 5]))).toEqual([2, 5]);
      expect(lengths(split(range(3), [0, 3, 0]))).toEqual([0, 3, 0]);
      expect(lengths(split(range(0), 2))).toEqual([0]);
      expect(lengths(split(range(0), 0))).toEqual([0]);
      expect(lengths(split(range(3), 8))).toEqual([3]);
      expect(lengths(chunk(range(7), 3))).toEqual([3, 3, 1]);
      expect(lengths(chunk(range(6), 4))).toEqual([2, 2, 2]);
      expect(lengths(chunk(range(6), 5))).toEqual([2, 2, 2]);
      expect(lengths(chunk(range(1), 2))).toEqual([1]);
      expect(lengths(chunk(range(0), 3))).toEqual([0, 0, 0]);
    }));

  // float16 too: pieces, and their gradients' places in the input's, at offsets off a 4-byte word
  it('give consecutive slices covering the axis, for any shape, axis, cut and dtype; the gradient reaches every element once', async () => {
    const dtypes = profile().f16 ? (['float32', 'float16'] as const) : (['float32'] as const);
    const cutArb = (n: number) =>
      fc.oneof(
        fc.record({ kind: fc.constant('size' as const), k: fc.integer({ min: 1, max: n + 2 }) }),
        fc.record({ kind: fc.constant('chunks' as const), k: fc.integer({ min: 1, max: n + 2 }) }),
        // a list: n cut at sorted points
        fc.array(fc.integer({ min: 0, max: n }), { maxLength: 4 }).map((points) => {
          const cuts = [0, ...points.sort((a, b) => a - b), n];
          return { kind: 'sections' as const, k: cuts.slice(1).map((c, i) => c - cuts[i]!) };
        }),
      );
    await fc.assert(
      fc.asyncProperty(
        shapeArb(1, 4).chain((s) => fc.tuple(fc.constant(s), fc.integer({ min: -s.length, max: s.length - 1 })).chain(([shape, axis]) => fc.tuple(fc.constant(shape), fc.constant(axis), cutArb(shape[(axis + shape.length) % shape.length]!)))),
        fc.constantFrom(...dtypes),
        ([shape, axis, cut], dtype) =>
          scope(async () => {
            const ax = (axis + shape.length) % shape.length;
            const n = shape[ax]!;
            const exact = dtype === 'float16' ? toHalf : Math.fround;
            const make = (r: Ref) => tensor(Float32Array.from(r.data), r.shape, dtype);
            const a = ref(shape, seededValues(numel(shape), 3, -3, 3).map(exact));
            const x = make(a).requiresGrad_();
            const pieces = cut.kind === 'size' ? x.split(cut.k, axis) : cut.kind === 'chunks' ? x.chunk(cut.k, axis) : split(x, cut.k, axis);
            const got = lengths(pieces, ax);
            if (cut.kind === 'sections') expect(got).toEqual(cut.k);
            else {
              const size = cut.kind === 'size' ? cut.k : Math.ceil(n / cut.k);
              // every piece `size` long but the last, which holds the rest (1 to size elements; none for an empty axis)
              expect(got.slice(0, -1).every((len) => len === size)).toBe(true);
              expect(got.at(-1)!).toBe(n - size * (got.length - 1));
              expect(n === 0 || (got.at(-1)! >= 1 && got.at(-1)! <= size)).toBe(true);
              if (cut.kind === 'chunks' && n === 0) expect(got.length).toBe(cut.k);
            }
            const w = ref(shape, seededValues(numel(shape), 4).map(exact));
            let start = 0;
            const losses = [];
            for (const [k, p] of pieces.entries()) {
              await expectClose(p, sliceRef(a, ax, start, start + got[k]!), 0, 0, `piece ${k}`);
              losses.push(p.mul(make(sliceRef(w, ax, start, start + got[k]!))).sum());
              start += got[k]!;
            }
            expect(start).toBe(n);
            losses.reduce((s, l) => s.add(l)).backward();
            await expectClose(x.grad!, w, 0, 0, 'gradient');
          }),
      ),
      fcParams(30),
    );
  });

  it('gather 64 pieces\' gradients into one input-sized buffer: exact, zeros for the pieces the loss leaves out', async () => {
    // [outer, 128, inner] cut into 64 pieces of 2 along axis 1: a few outer rows (buffer copies) and many (the copy kernel)
    for (const shape of [[4, 128, 8], [32, 128, 1]]) {
      await scope(async () => {
        const a = ref(shape, seededValues(numel(shape), 5, -3, 3).map(Math.fround));
        const w = ref(shape, seededValues(numel(shape), 6).map(Math.fround));
        const x = toTensor(a).requiresGrad_();
        const pieces = chunk(x, 64, 1);
        expect(pieces.length).toBe(64);
        const used = (k: number) => k % 5 !== 2;
        const wanted = pieces.map((_, k) => (used(k) ? sliceRef(w, 1, 2 * k, 2 * k + 2) : ref([shape[0]!, 2, shape[2]!], new Float64Array(shape[0]! * 2 * shape[2]!))));
        const terms = pieces.flatMap((p, k) => (used(k) ? [p.mul(toTensor(wanted[k]!)).sum()] : []));
        const total = terms.reduce((s, l) => s.add(l));
        const dev = ops.device();
        dev.resetPeakMemory();
        const before = dev.memory().liveBytes;
        total.backward();
        // one input-sized gradient (and the pieces' own): a padded gradient a piece, summed, held three
        expect(dev.memory().peakBytes - before).toBeLessThan(1.5 * x.size * 4);
        await expectClose(x.grad!, concatRef(wanted, 1), 0, 0, `gradient of ${shape.join('x')}`);
        // a piece left out, backpropagated on its own later (as PyTorch lets a leaf's): its slice of the gradient grows by 1
        pieces[2]!.sum().backward();
        wanted[2] = ref(wanted[2]!.shape, wanted[2]!.data.map((v) => v + 1));
        await expectClose(x.grad!, concatRef(wanted, 1), 0, 0, `gradient of ${shape.join('x')} after a later backward`);
      });
    }
  });

  it('after a backward that threw midway, pieces backpropagated later still give the input their gradient; nothing is left held', () =>
    expectBuffersReturned(async () => {
      const x = ops.arange(6).astype('float32').requiresGrad_();
      const [a, b, c] = chunk(x, 3);
      const failing = ops.defineOp({ name: 'failing', forward: (_ctx: ops.OpContext, t: ops.Tensor) => t.mul(1), backward: () => { throw new Error('failing backward'); } });
      // the sweep runs a's piece, then fails before the split's own node
      expect(() => failing(b!).sum().add(a!.sum()).backward()).toThrow('failing backward');
      c!.mul(2).sum().backward();
      // (what reached x from the sweep that threw is no concern here: PyTorch keeps what it gave)
      await expectClose(x.grad!.slice(0, 4), ref([2], [2, 2]), 0, 0, "c's gradient");
    }));

  it('refuse bad cuts, axes and inputs with one line naming the op', () =>
    scope(() => {
      const x = ops.zeros([3, 4]);
      expect(() => split(x, 0)).toThrow(/^split: argument 'sizeOrSections' may be 0 only for an empty axis, got 0 for axis 0 of float32\[3, 4\]$/);
      expect(() => split(x, 1.5)).toThrow(/^split: argument 'sizeOrSections' must be a non-negative integer or an array of them, got number 1.5$/);
      expect(() => split(x, -1)).toThrow(/^split: argument 'sizeOrSections' must be a non-negative integer or an array of them, got number -1$/);
      expect(() => split(x, '2' as never)).toThrow(/^split: argument 'sizeOrSections' must be a non-negative integer or an array of them, got string '2'$/);
      expect(() => split(x, [1, 1])).toThrow(/^split: argument 'sizeOrSections' must sum to 3 \(axis 0 of float32\[3, 4\]\), got array \[1, 1\] \(sum 2\)$/);
      expect(() => split(x, [4, -1])).toThrow(/^split: argument 'sizeOrSections\[1\]' must be a non-negative integer, got number -1$/);
      expect(() => split(x, 2, 2)).toThrow(/^split: argument 'axis' must be an integer in \[-2, 1\] for float32\[3, 4\], got number 2$/);
      expect(() => split(tensor(1), 1)).toThrow(/^split: input must have rank >= 1, got float32\[\]$/);
      expect(() => split(null as never, 1)).toThrow(/^split: argument 'input' must be a Tensor, got null$/);
      expect(() => chunk(x, 0)).toThrow(/^chunk: argument 'chunks' must be a positive integer, got number 0$/);
      expect(() => x.chunk(2, -3)).toThrow(/^chunk: argument 'axis' must be an integer in \[-2, 1\] for float32\[3, 4\], got number -3$/);
      expect(() => chunk(tensor(1), 1)).toThrow(/^chunk: input must have rank >= 1, got float32\[\]$/);
    }));
});
