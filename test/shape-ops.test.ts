// permute / transpose / slice / concat / cast beyond the op table's drawn calls (test/ops.test.ts):
// transpose's defaults, rank 6, raw bit patterns, a round trip, cast's saturation and views, and
// the errors; sliceAssign on float16 off the word grid; copies of rows (the copy kernel's rows and
// vec4 forms) whole and in windows of a lowered binding. The copies are exact (tolerance 0, int32 and float32 bit patterns alike).
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import * as ops from '../src/index.js';
import { setProfile } from '../src/kernels/profile.js';
import { expectClose, fcParams, seededValues, setupDevice } from './helpers.js';
import { concatRef, numel, permuteRef, ref, sliceRef, type Ref } from '../src/check/reference/index.js';

beforeAll(setupDevice);

const { scope, tensor } = ops;
type Tensor = ops.Tensor;

/** Small integers stored as float32 (so int32 and float32 runs can share the reference). */
function intValues(shape: number[], seed: number): Ref {
  return ref(shape, Array.from(seededValues(numel(shape), seed, -1000, 1000), Math.round));
}
const asTensor = (r: Ref, dtype: ops.DType) =>
  dtype === 'int32' ? tensor(Int32Array.from(r.data), r.shape) : tensor(Float32Array.from(r.data), r.shape);

describe('permute / transpose', () => {
  it('negative dims, transpose defaults and explicit axes, rank 6', () =>
    scope(async () => {
      const a = intValues([2, 3, 5], 7);
      const t = asTensor(a, 'float32');
      await expectClose(ops.permute(t, [-1, 0, -2]), permuteRef(a, [2, 0, 1]), 0, 0, 'negative dims');
      await expectClose(t.transpose(), permuteRef(a, [0, 2, 1]), 0, 0, 'transpose()');
      await expectClose(ops.transpose(t, 0, 2), permuteRef(a, [2, 1, 0]), 0, 0, 'transpose(0, 2)');
      const b = intValues([2, 3, 1, 2, 5, 3], 9);
      const perm = [5, 3, 0, 4, 2, 1];
      await expectClose(asTensor(b, 'int32').permute(perm), permuteRef(b, perm), 0, 0, 'rank 6');
    }));

  it('copy raw bits: -0, denormals, NaN payloads and int32 extremes survive', () =>
    scope(async () => {
      const words = new Uint32Array([0x80000000, 0x00000001, 0x007fffff, 0x7fc00123, 0xffffffff, 0x7fffffff]);
      const f = tensor(new Float32Array(words.buffer), [2, 3]);
      const i = tensor(new Int32Array(words.buffer), [2, 3]);
      const bits = async (t: Tensor) => [...new Uint32Array((await t.toArray()).buffer)];
      const want = [0, 3, 1, 4, 2, 5].map((k) => words[k]!);
      expect(await bits(f.transpose())).toEqual(want);
      expect(await bits(i.transpose())).toEqual(want);
      expect(await bits(ops.concat([f.slice(1, 2), f.slice(1, 0, 2)], 1))).toEqual([2, 0, 1, 5, 3, 4].map((k) => words[k]!));
    }));
});

describe('slice / concat', () => {
  it('slices and concat round-trip along the last axis of a [B, T, 3C] tensor', () =>
    scope(async () => {
      const [B, T, C] = [2, 5, 7];
      const qkv = intValues([B, T, 3 * C], 3);
      const t = asTensor(qkv, 'float32');
      const parts = [0, 1, 2].map((i) => ops.slice(t, 2, i * C, (i + 1) * C));
      await expectClose(ops.concat(parts, -1), qkv, 0, 0, 'round trip');
    }));
});

describe('sliceAssign', () => {
  it('float16 slices at offsets off a 4-byte word (the copy kernel, not a buffer copy), and on word boundaries', () =>
    scope(async () => {
      // [2, 7, 3] float16: 3 halves a slot, so an odd start or length leaves the word grid
      const dims = [2, 7, 3];
      const inner = 3;
      for (const [start, len] of [[0, 7], [1, 1], [2, 3], [3, 4], [0, 2], [5, 0]] as const) {
        const d = intValues(dims, start + 10);
        const sv = intValues([2, len, 3], len + 20);
        const dst = asTensor(d, 'float32').astype('float16');
        ops.sliceAssign(dst, asTensor(sv, 'float32').astype('float16'), -2, start);
        const want = d.data.map((x, flat) => {
          const j = Math.floor(flat / inner) % 7;
          return j < start || j >= start + len ? x : sv.data[(Math.floor(flat / (inner * 7)) * len + j - start) * inner + (flat % inner)]!;
        });
        expect([...(await dst.toArray())], `start ${start}, length ${len}`).toEqual([...want]);
      }
    }));
});

describe('copies of rows (rank <= 2 once merged: the copy kernel without its index loop, vec4 where aligned)', () => {
  // [outer, L, inner] with outer past the 16 runs a buffer copy takes: slice, concat and
  // sliceAssign (the KV cache) along L copy rows of len * inner words at a base of start * inner,
  // aligned to vec4s or not; permutes keep the last dim (rows) or not. Bindings whole, or of 1 KiB
  // (256 words: the copy goes in boxes, each binding shifted windows); float32, int32, float16.
  const dtypes = ['float32', 'int32', 'float16'] as const;
  const cast = (r: Ref, dtype: ops.DType) => (dtype === 'float16' ? asTensor(r, 'float32').astype('float16') : asTensor(r, dtype));
  it('slice, concat, sliceAssign and permute match the reference exactly', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          outer: fc.integer({ min: 17, max: 24 }),
          L: fc.integer({ min: 1, max: 12 }),
          inner: fc.constantFrom(1, 2, 3, 4, 8, 12),
          cut: fc.tuple(fc.nat(12), fc.nat(12)),
          dtype: fc.constantFrom(...dtypes),
          bindingLimit: fc.constantFrom(null, 1024),
          seed: fc.nat(1000),
        }),
        async ({ outer, L, inner, cut, dtype, bindingLimit, seed }) => {
          const [start, end] = [Math.min(cut[0], L), Math.min(cut[0] + cut[1], L)];
          const len = end - start;
          const a = intValues([outer, L, inner], seed);
          const v = intValues([outer, len, inner], seed + 1);
          setProfile(bindingLimit === null ? null : { bindingLimit });
          try {
            await scope(async () => {
              const what = `[${outer}, ${L}, ${inner}] ${dtype} [${start}, ${end}) binding ${bindingLimit}`;
              const t = cast(a, dtype);
              await expectClose(ops.slice(t, 1, start, end), sliceRef(a, 1, start, end), 0, 0, `${what}: slice`);
              await expectClose(ops.concat([t, cast(v, dtype)], 1), concatRef([a, v], 1), 0, 0, `${what}: concat`);
              const dst = cast(a, dtype);
              ops.sliceAssign(dst, cast(v, dtype), 1, start);
              const want = a.data.map((x, flat) => {
                const j = Math.floor(flat / inner) % L;
                return j < start || j >= end ? x : v.data[(Math.floor(flat / (inner * L)) * len + j - start) * inner + (flat % inner)]!;
              });
              await expectClose(dst, ref(a.shape, want), 0, 0, `${what}: sliceAssign`);
              for (const perm of [[1, 0, 2], [0, 2, 1], [2, 1, 0]]) await expectClose(ops.permute(t, perm), permuteRef(a, perm), 0, 0, `${what}: permute ${perm}`);
            });
          } finally {
            setProfile(null);
          }
        },
      ),
      fcParams(30),
    );
  });

  it('takes the vec4 form where rows are aligned, in windows too, and the scalar one where not', async () => {
    // 2 of [20, 8, inner] along L: from 2 and 1 with inner 4 (8-word rows at words 8, 4 of each 32:
    // aligned), from 1 with inner 2 (4-word rows at word 2 of 16: the base is not) and inner 3
    for (const bindingLimit of [null, 1024]) {
      setProfile(bindingLimit === null ? null : { bindingLimit });
      try {
        for (const [inner, start, kernel] of [[4, 2, 'copy_rows_vec4'], [4, 1, 'copy_rows_vec4'], [2, 1, 'copy_rows'], [3, 1, 'copy_rows']] as const) {
          const a = intValues([20, 8, inner], inner + start);
          await scope(async () => {
            ops.device().startProfiling();
            const got = ops.slice(asTensor(a, 'float32'), 1, start, start + 2);
            await expectClose(got, sliceRef(a, 1, start, start + 2), 0, 0, `inner ${inner}, start ${start}, binding ${bindingLimit}`);
            expect((await ops.device().stopProfiling()).map((k) => k.name), `inner ${inner}, start ${start}, binding ${bindingLimit}`).toContain(kernel);
          });
        }
      } finally {
        setProfile(null);
      }
    }
  });
});

describe('cast', () => {
  it('float32 -> int32 truncates toward zero; int32 -> float32 is exact; same dtype is a view', () =>
    scope(async () => {
      const f = tensor([-2.7, -0.5, 0, 0.5, 2.7, 1e6 + 0.75, -123456.9, 16777216]);
      const i = f.astype('int32');
      expect(i.dtype).toBe('int32');
      expect([...(await i.toArray())]).toEqual([-2, 0, 0, 0, 2, 1000000, -123456, 16777216]);
      expect([...(await tensor([3e9, -3e9]).astype('int32').toArray())]).toEqual([2147483520, -2147483648]); // saturates (WGSL: at 2^31 - 128)
      const back = ops.cast(tensor(new Int32Array([-7, 0, 5, 16777217, -2147483648]), [5]), 'float32');
      expect(back.dtype).toBe('float32');
      expect([...(await back.toArray())]).toEqual([-7, 0, 5, 16777216, -2147483648].map(Math.fround));
      const same = f.astype('float32');
      expect(same.storage()).toBe(f.storage());
      const x = tensor([1.5, 2.5]).requiresGrad_();
      expect(x.astype('int32').requiresGrad).toBe(false); // not differentiable
      expect(ops.zeros([0, 3]).astype('int32').shape).toEqual([0, 3]);
    }));
});

describe('expand with -1 (PyTorch: keep that dimension)', () => {
  it('keeps x\'s size where -1 stands, aligned from the right; the gradient sums back', async () => {
    await ops.scope(async () => {
      const x = ops.tensor([1, 2, 3], [3, 1]).requiresGrad_();
      const y = ops.expand(x, [2, -1, 4]);
      expect(y.shape).toEqual([2, 3, 4]);
      // element [a, b, c] of the broadcast is x[b, 0]
      expect(Array.from(await y.toArray())).toEqual(Array.from({ length: 24 }, (_, i) => [1, 2, 3][Math.floor(i / 4) % 3]));
      y.sum().backward();
      expect(Array.from(await x.grad!.toArray())).toEqual([8, 8, 8]); // each element appears 2 * 4 times
      expect(() => ops.expand(x, [-1, 3, 1])).toThrow(/^expand: -1 at dimension 0 of \[-1, 3, 1\] keeps no dimension of float32\[3, 1\] \(a new leading dimension needs its size\)$/);
      expect(() => ops.expand(x, [-2, 1])).toThrow(/^expand: /);
    });
  });
});

describe('errors name the op', () => {
  it('permute / transpose', () =>
    scope(() => {
      const t = ops.zeros([2, 3, 4]);
      expect(() => ops.permute(t, [0, 0, 1])).toThrow(/permute: \[0, 0, 1\] is not a permutation of the 3 dims of float32\[2, 3, 4\]/);
      expect(() => ops.permute(t, [0, 1])).toThrow(/permute: .*not a permutation/);
      expect(() => ops.permute(t, [0, 1, 3])).toThrow(/permute: .*not a permutation/);
      expect(() => ops.transpose(t, 0, 3)).toThrow(/^transpose: argument 'dim1' must be an integer in \[-3, 2\] for float32\[[\d, ]+\], got number 3$/);
      // a vector's transpose() was refused over a dim0 of -2 the caller never gave
      expect(() => ops.transpose(ops.zeros([4]))).toThrow(/^transpose: input must have rank >= 2 to swap its last two dims \(the default\), got float32\[4\]$/);
      expect(() => ops.transpose(ops.zeros([4]), -2)).toThrow(/^transpose: argument 'dim0' must be an integer in \[-1, 0\] for float32\[4\], got number -2$/);
    }));

  it('slice', () =>
    scope(() => {
      const t = ops.zeros([2, 3]);
      expect(() => ops.slice(t, 2, 0, 1)).toThrow(/^slice: argument 'axis' must be an integer in \[-2, 1\] for float32\[[\d, ]+\], got number 2$/);
      expect(() => ops.slice(ops.zeros([]), 0, 0, 1)).toThrow(/^slice: input must have rank >= 1, got float32\[\]$/);
      expect(() => ops.slice(t, 0, 0.5, 1)).toThrow(/^slice: argument 'start' must be an integer \(negative counts from the end\), got number 0.5$/);
      // a string bound read 'got start 0 and end undefined', as if 0 were refused
      expect(() => t.slice(1, '0' as never)).toThrow(/^slice: argument 'start' must be an integer \(negative counts from the end\), got string '0'$/);
      expect(() => t.slice(1, 0, NaN)).toThrow(/^slice: argument 'end' must be an integer \(negative counts from the end\), or undefined for the rest, got number NaN$/);
    }));

  it('sliceAssign', () =>
    scope(() => {
      const a = ops.zeros([2, 3]);
      expect(() => ops.sliceAssign(a, ops.zeros([2, 2]), 1, 2)).toThrow(/^sliceAssign: start must be an integer in \[0, 1\], got 2$/);
      expect(() => ops.sliceAssign(a, ops.zeros([2, 2], 'int32'), 1, 0)).toThrow(/^sliceAssign: src int32\[2, 2\] must be dst float32\[2, 3\]'s dtype and shape/);
      expect(() => ops.sliceAssign(a, ops.zeros([2, 4]), 1, 0)).toThrow(/^sliceAssign: src float32\[2, 4\] must be/);
      expect(() => ops.sliceAssign(a, ops.zeros([2, 2]), 2, 0)).toThrow(/^sliceAssign: argument 'axis' must be an integer in \[-2, 1\]/);
      expect(() => ops.sliceAssign(ops.zeros([]), ops.zeros([]), 0, 0)).toThrow(/^sliceAssign: dst must have rank >= 1, got float32\[\]$/);
      // src sharing dst's storage (itself, or a view of it): a one-line error, not the GPU's validation error
      expect(() => ops.sliceAssign(a, a, 1, 0)).toThrow(/^sliceAssign: src float32\[2, 3\] shares dst float32\[2, 3\]'s storage; copy it first$/);
      expect(() => ops.sliceAssign(a, a.reshape([2, 3]), 0, 0)).toThrow(/^sliceAssign: src .* shares dst .*'s storage/);
    }));

  it('sliceAssign refuses, while gradients are recorded, a dst or src that requires grad: the write is not recorded (x.mul(2) overwritten gave x a gradient of 2 where it had none)', () =>
    scope(async () => {
      const x = ops.ones([2, 3]).requiresGrad_();
      const y = x.mul(2);
      const notRecorded = 'an in-place write is not recorded for backward; write under noGrad\\(\\), or build the tensor with slice and concat$';
      expect(() => ops.sliceAssign(y, ops.zeros([2, 1]), 1, 0)).toThrow(new RegExp(`^sliceAssign: dst float32\\[2, 3\\] requires grad, and ${notRecorded}`));
      expect(() => ops.sliceAssign(x, ops.zeros([2, 1]), 1, 0)).toThrow(/^sliceAssign: dst float32\[2, 3\] requires grad/);
      const src = ops.full([2, 1], 5).requiresGrad_();
      expect(() => ops.sliceAssign(ops.zeros([2, 3]), src, 1, 0)).toThrow(new RegExp(`^sliceAssign: src float32\\[2, 1\\] requires grad, and ${notRecorded}`));
      // under noGrad it writes, as torch.no_grad() lets one write into a parameter
      ops.noGrad(() => ops.sliceAssign(x, src, 1, 2));
      expect([...(await x.toArray())]).toEqual([1, 1, 5, 1, 1, 5]);
    }));

  it('concat', () =>
    scope(() => {
      const a = ops.zeros([2, 3]);
      expect(() => ops.concat([a, ops.zeros([3, 3])], 1)).toThrow(/concat: shapes must match except along axis 1, got \[2, 3\] and \[3, 3\]/);
      expect(() => ops.concat([a, ops.zeros([2, 3, 1])], 0)).toThrow(/concat: shapes must match/);
      expect(() => ops.concat([a, ops.zeros([2, 3], 'int32')], 0)).toThrow(/concat: tensors must share a dtype, got float32\[2, 3\] and int32\[2, 3\]/);
      expect(() => ops.concat([a], 2)).toThrow(/^concat: argument 'axis' must be an integer in \[-2, 1\] /);
      expect(() => ops.concat([], 0)).toThrow(/concat: needs at least one tensor/);
      const gone = ops.zeros([2, 3]);
      gone.dispose();
      expect(() => ops.concat([a, gone], 0)).toThrow(/concat: tensor float32\[2, 3\] was used after dispose/);
    }));
});
