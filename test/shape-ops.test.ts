// permute / transpose / slice / concat / cast beyond the op table's drawn calls (test/ops.test.ts):
// transpose's defaults, rank 6, raw bit patterns, a round trip, cast's saturation and views, and
// the errors; sliceAssign on float16 off the word grid; copies of rows (the copy kernel's rows and
// vec4 forms) whole and in windows of a lowered binding. The copies are exact (tolerance 0, int32 and float32 bit patterns alike).
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import * as ops from '../src/index.js';
import { setProfile } from '../src/kernels/profile.js';
import { checkGrad } from './gradcheck.js';
import { expectClose, fcParams, seededValues, setupDevice, valuesArb } from './helpers.js';
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
      expect(() => ops.concat([], 0)).toThrow(/^concat: argument 'tensors' must hold at least one tensor, got an empty array$/);
      const gone = ops.zeros([2, 3]);
      gone.dispose();
      expect(() => ops.concat([a, gone], 0)).toThrow(/concat: tensor float32\[2, 3\] was used after dispose/);
    }));
});

describe('squeeze / unsqueeze / clone, as torch', () => {
  it('unsqueeze and squeeze are views (negative dims as torch; squeeze of a dim not of size 1 leaves the shape), and pass the gradient back', () =>
    scope(async () => {
      const x = ops.tensor([1, 2, 3, 4, 5, 6], [2, 1, 3]).requiresGrad_();
      expect(x.unsqueeze(0).shape).toEqual([1, 2, 1, 3]);
      expect(x.unsqueeze(-1).shape).toEqual([2, 1, 3, 1]);
      expect(ops.unsqueeze(x, -4).shape).toEqual([1, 2, 1, 3]);
      expect(x.unsqueeze(3).shape).toEqual([2, 1, 3, 1]);
      expect(x.squeeze().shape).toEqual([2, 3]);
      expect(x.squeeze(1).shape).toEqual([2, 3]);
      expect(x.squeeze(-2).shape).toEqual([2, 3]);
      expect(x.squeeze(0).shape).toEqual([2, 1, 3]);
      expect(ops.zeros([]).squeeze(0).shape).toEqual([]);
      expect(ops.zeros([]).squeeze(-1).unsqueeze(-1).shape).toEqual([1]);
      expect(ops.zeros([1, 1]).squeeze().shape).toEqual([]);
      const v = x.squeeze(1).unsqueeze(0);
      expect(v.storage()).toBe(x.storage()); // a view: no copy
      v.mul(ops.tensor([1, 2, 3, 4, 5, 6], [1, 2, 3])).sum().backward();
      expect(x.grad!.shape).toEqual([2, 1, 3]);
      expect([...(await x.grad!.toArray())]).toEqual([1, 2, 3, 4, 5, 6]);
    }));

  it('clone has storage of its own (a write to it leaves the source alone), keeps the dtype, and passes the gradient through', () =>
    scope(async () => {
      const x = ops.tensor([1, 2, 3], [3]).requiresGrad_();
      const c = x.clone();
      expect(c.storage()).not.toBe(x.storage());
      expect(c.requiresGrad).toBe(true);
      ops.noGrad(() => ops.sliceAssign(c, ops.tensor([9], [1]), 0, 1));
      expect([...(await c.toArray())]).toEqual([1, 9, 3]);
      expect([...(await x.toArray())]).toEqual([1, 2, 3]);
      x.clone().mul(ops.tensor([4, 5, 6])).sum().backward();
      expect([...(await x.grad!.toArray())]).toEqual([4, 5, 6]);
      const ids = ops.tensor(new Int32Array([7, -8, 2 ** 31 - 1]), [3]);
      expect([...(await ids.clone().toArray())]).toEqual([7, -8, 2 ** 31 - 1]);
      const h = ops.tensor([0.5, -2, 3], [3], 'float16').clone();
      expect([h.dtype, ...(await h.toArray())]).toEqual(['float16', 0.5, -2, 3]);
    }));

  it('errors name the op, what was given and what is allowed', () =>
    scope(() => {
      const t = ops.zeros([2, 3]);
      expect(() => t.unsqueeze(3)).toThrow(/^unsqueeze: argument 'dim' must be an integer in \[-3, 2\] for float32\[2, 3\], got number 3$/);
      expect(() => t.unsqueeze(-4)).toThrow(/^unsqueeze: argument 'dim' must be an integer in \[-3, 2\] for float32\[2, 3\], got number -4$/);
      expect(() => ops.unsqueeze(t, undefined as never)).toThrow(/^unsqueeze: argument 'dim' must be an integer in \[-3, 2\] for float32\[2, 3\], got undefined$/);
      expect(() => t.squeeze(2)).toThrow(/^squeeze: argument 'dim' must be an integer in \[-2, 1\] for float32\[2, 3\], got number 2$/);
      expect(() => t.squeeze(0.5)).toThrow(/^squeeze: argument 'dim' must be an integer in \[-2, 1\] for float32\[2, 3\], got number 0.5$/);
      expect(() => ops.squeeze([1] as never)).toThrow(/^squeeze: argument 'input' must be a Tensor, got array \[1\]$/);
      expect(() => ops.clone(null as never)).toThrow(/^clone: argument 'input' must be a Tensor, got null$/);
      const gone = ops.zeros([2]);
      gone.dispose();
      expect(() => gone.clone()).toThrow(/^clone: tensor float32\[2\] was used after dispose\(\)$/);
      expect(() => gone.unsqueeze(0)).toThrow(/^unsqueeze: tensor float32\[2\] was used after dispose\(\)$/);
    }));
});

describe('cat / stack, as torch', () => {
  it('cat is concat along dim 0 by default; stack joins along a new dim (0 by default, negative as torch), float32, float16 and int32', () =>
    scope(async () => {
      const a = intValues([2, 3], 11);
      const b = intValues([2, 3], 12);
      const c = intValues([1, 3], 13);
      for (const dtype of ['float32', 'float16', 'int32'] as const) {
        const [ta, tb, tc] = [a, b, c].map((r) => (dtype === 'float16' ? tensor(Float32Array.from(r.data, (v) => v / 8), r.shape, 'float16') : asTensor(r, dtype)));
        const scaled = (r: Ref): Ref => (dtype === 'float16' ? ref(r.shape, r.data.map((v) => v / 8)) : r);
        const [ra, rb, rc] = [a, b, c].map(scaled);
        await expectClose(ops.cat([ta!, tc!]), concatRef([ra!, rc!], 0), 0, 0, `cat ${dtype}`);
        await expectClose(ops.cat([ta!, tb!], -1), concatRef([ra!, rb!], 1), 0, 0, `cat -1 ${dtype}`);
        const unsq = (r: Ref, d: number): Ref => ref([...r.shape.slice(0, d), 1, ...r.shape.slice(d)], r.data);
        for (const [dim, at] of [[undefined, 0], [1, 1], [2, 2], [-1, 2], [-3, 0]] as const) {
          const got = dim === undefined ? ops.stack([ta!, tb!]) : ops.stack([ta!, tb!], dim);
          expect(got.dtype).toBe(dtype);
          await expectClose(got, concatRef([unsq(ra!, at), unsq(rb!, at)], at), 0, 0, `stack ${dtype} dim ${dim}`);
        }
      }
    }));

  it("stack's gradient is the upstream gradient's slices, each to its input; 0-d inputs stack into a vector", () =>
    scope(async () => {
      const x = ops.tensor([1, 2, 3, 4], [2, 2]).requiresGrad_();
      const y = ops.tensor([5, 6, 7, 8], [2, 2]).requiresGrad_();
      const w = ops.tensor(Float32Array.from({ length: 8 }, (_, i) => i + 1), [2, 2, 2]);
      ops.stack([x, y], 1).mul(w).sum().backward();
      // out[i, k, j] is (x, y)[k][i, j]: x takes w[:, 0, :], y w[:, 1, :]
      expect([...(await x.grad!.toArray())]).toEqual([1, 2, 5, 6]);
      expect([...(await y.grad!.toArray())]).toEqual([3, 4, 7, 8]);
      const s = ops.stack([ops.full([], 2), ops.full([], 3)], -1);
      expect([s.shape, [...(await s.toArray())]]).toEqual([[2], [2, 3]]);
    }));

  it("cat and concat skip a 1-d empty piece ([0]) whatever the others' rank, as torch's legacy rule (torch.cat([x, torch.empty(0)])); it gets a [0] gradient", () =>
    scope(async () => {
      const a = intValues([2, 3], 14);
      const x = asTensor(a, 'float32').requiresGrad_();
      const e = ops.zeros([0]).requiresGrad_();
      await expectClose(ops.cat([x, e]), a, 0, 0, 'cat([x, e])');
      await expectClose(ops.cat([e, x], 1), a, 0, 0, 'cat([e, x], 1): dim of x, the first not skipped');
      await expectClose(ops.concat([x, e, x], -1), concatRef([a, a], 1), 0, 0, 'concat([x, e, x], -1)');
      expect(ops.cat([e, ops.zeros([0])]).shape).toEqual([0]);
      const w = ops.tensor(Float32Array.from({ length: 12 }, (_, i) => i), [2, 6]);
      ops.cat([x, e, x], 1).mul(w).sum().backward();
      expect([...(await x.grad!.toArray())]).toEqual([0, 1, 2, 6, 7, 8].map((v, i) => v + [3, 4, 5, 9, 10, 11][i]!));
      expect(e.grad!.shape).toEqual([0]);
      // still refused as torch refuses: a dim out of the others' range, other pieces that do not match
      expect(() => ops.cat([e, x], 2)).toThrow(/^cat: argument 'dim' must be an integer in \[-2, 1\] for float32\[2, 3\], got number 2$/);
      expect(() => ops.cat([e, x, ops.zeros([3])])).toThrow(/^cat: shapes must match except along dim 0, got \[0\] and \[2, 3\] and \[3\]$/);
      expect(() => ops.cat([x, ops.zeros([0], 'int32')])).toThrow(/^cat: tensors must share a dtype/);
    }));

  it('errors name the op (cat or stack), what was given and what is allowed', () =>
    scope(() => {
      const a = ops.zeros([2, 3]);
      expect(() => ops.stack([a, ops.zeros([3, 2])])).toThrow(/^stack: tensors must have one shape, got \[2, 3\] and \[3, 2\]$/);
      expect(() => ops.stack([a, ops.zeros([2, 3], 'int32')])).toThrow(/^stack: tensors must share a dtype, got float32\[2, 3\] and int32\[2, 3\]$/);
      expect(() => ops.stack([a], 3)).toThrow(/^stack: argument 'dim' must be an integer in \[-3, 2\] for float32\[2, 3\], got number 3$/);
      expect(() => ops.stack([])).toThrow(/^stack: argument 'tensors' must hold at least one tensor, got an empty array$/);
      expect(() => ops.stack(a as never)).toThrow(/^stack: argument 'tensors' must be an array of Tensors, got a float32\[2, 3\] tensor$/);
      expect(() => ops.stack([a, 3 as never])).toThrow(/^stack: argument 'tensors\[1\]' must be a Tensor, got number 3$/);
      expect(() => ops.cat([a, ops.zeros([2, 4])])).toThrow(/^cat: shapes must match except along dim 0, got \[2, 3\] and \[2, 4\]$/);
      expect(() => ops.cat([a], 2)).toThrow(/^cat: argument 'dim' must be an integer in \[-2, 1\] for float32\[2, 3\], got number 2$/);
      expect(() => ops.cat([ops.zeros([])])).toThrow(/^cat: tensors\[0\] must have rank >= 1, got float32\[\]$/);
      const gone = ops.zeros([2, 3]);
      gone.dispose();
      expect(() => ops.stack([a, gone])).toThrow(/^stack: tensor float32\[2, 3\] was used after dispose\(\)$/);
    }));
});

// PyTorch's spellings, each a permute or a reshape: x.t() / x.T / x.mT, flatten(startDim, endDim), and
// shapes as dims one by one (x.reshape(2, -1), x.view(-1), x.permute(2, 0, 1), zeros(2, 3)). The
// shapes and errors below are torch 1.13's (run there); the gradients are checked against finite
// differences of the float64 reference.
describe("PyTorch's t / T / mT, flatten and shapes as dims", () => {
  const reshapedRef = (a: Ref, shape: number[]): Ref => ({ shape, data: a.data });
  const swapLast = (rank: number) => [...Array(rank).keys()].map((d) => (d === rank - 2 ? rank - 1 : d === rank - 1 ? rank - 2 : d));
  const dims = (min: number, max: number) => fc.array(fc.integer({ min: 1, max: 4 }), { minLength: min, maxLength: max });
  const withValues = (shapeArb: fc.Arbitrary<number[]>) => shapeArb.chain((s) => fc.tuple(fc.constant(s), valuesArb(numel(s))));

  it('t() and T of rank <= 2, mT of rank >= 2: the permutes, gradient included', () =>
    fc.assert(
      fc.asyncProperty(withValues(dims(0, 2)), withValues(dims(2, 4)), async ([s, xs], [sb, bs]) => {
        const matrix = (r: Ref) => (r.shape.length === 2 ? permuteRef(r, [1, 0]) : r);
        await checkGrad({ name: 't()', inputs: [ref(s, xs)], engine: ([x]) => x!.t(), reference: ([x]) => matrix(x!) });
        await checkGrad({ name: 'T', inputs: [ref(s, xs)], engine: ([x]) => x!.T, reference: ([x]) => matrix(x!) });
        await checkGrad({ name: 'mT', inputs: [ref(sb, bs)], engine: ([x]) => x!.mT, reference: ([x]) => permuteRef(x!, swapLast(sb.length)) });
      }),
      fcParams(10),
    ));

  it('flatten over a range of dims (negative ones too; a 0-d tensor as [1]), and reshape / view / permute with the dims one by one', () =>
    fc.assert(
      fc.asyncProperty(withValues(dims(0, 4)), fc.nat(), fc.nat(), fc.boolean(), async ([s, xs], i, j, negative) => {
        const n = Math.max(s.length, 1);
        const [a, b] = [i % n, j % n].sort((p, q) => p - q) as [number, number];
        const asked = (d: number) => (negative ? d - n : d);
        const merged = s.length ? s : [1];
        const want = [...merged.slice(0, a), numel(merged.slice(a, b + 1)), ...merged.slice(b + 1)];
        await checkGrad({ name: `flatten(${asked(a)}, ${asked(b)})`, inputs: [ref(s, xs)], engine: ([x]) => x!.flatten(asked(a), asked(b)), reference: ([x]) => reshapedRef(x!, want) });
        await checkGrad({ name: 'flatten()', inputs: [ref(s, xs)], engine: ([x]) => x!.flatten(), reference: ([x]) => reshapedRef(x!, [numel(s)]) });
        if (!s.length) return;
        const perm = [...s.keys()].reverse();
        await checkGrad({ name: 'reshape(d0, -1)', inputs: [ref(s, xs)], engine: ([x]) => x!.reshape(s[0]!, -1), reference: ([x]) => reshapedRef(x!, [s[0]!, numel(s) / s[0]!]) });
        await checkGrad({ name: 'view(-1)', inputs: [ref(s, xs)], engine: ([x]) => x!.view(-1), reference: ([x]) => reshapedRef(x!, [numel(s)]) });
        await checkGrad({ name: 'permute(...dims)', inputs: [ref(s, xs)], engine: ([x]) => x!.permute(...perm), reference: ([x]) => permuteRef(x!, perm) });
      }),
      fcParams(15),
    ));

  it("numel(), dim(), ndim; zeros / ones by dims; torch's shapes and refusals", () =>
    scope(() => {
      const x = ops.zeros(2, 3, 4);
      expect([x.shape, x.numel(), x.size, x.dim(), x.ndim, x.rank]).toEqual([[2, 3, 4], 24, 24, 3, 3, 3]);
      expect(ops.ones(2, 3, 'int32').describe()).toBe('int32[2, 3]');
      expect(ops.zeros(2).shape).toEqual([2]);
      expect(ops.zeros([2, 3], 'float32').shape).toEqual([2, 3]);
      expect([x.flatten(1, 1).shape, ops.zeros(0, 3).flatten().shape, ops.tensor(5).flatten(-1, 0).shape]).toEqual([[2, 3, 4], [0], [1]]);
      expect([ops.zeros(3).T.shape, ops.tensor(1).t().shape, ops.zeros(2, 3).T.shape]).toEqual([[3], [], [3, 2]]);
      expect(x.reshape(2, -1).shape).toEqual([2, 12]);
      expect(ops.zeros(3, 1).expand(-1, 4).shape).toEqual([3, 4]);
      expect(x.flatten().storage()).toBe(x.storage()); // a view, as reshape
      expect(() => x.flatten(2, 1)).toThrow(/^flatten: startDim \(2\) must not come after endDim \(1\) in float32\[2, 3, 4\]$/);
      expect(() => x.flatten(0, 3)).toThrow(/^flatten: argument 'endDim' must be an integer in \[-3, 2\] for float32\[2, 3, 4\], got number 3$/);
      expect(() => x.flatten(-4)).toThrow(/^flatten: argument 'startDim' must be an integer in \[-3, 2\]/);
      expect(() => ops.tensor(5).flatten(0, 1)).toThrow(/^flatten: argument 'endDim' must be an integer in \[-1, 0\] for float32\[\], got number 1$/);
      expect(() => x.t()).toThrow(/^t: input must have rank <= 2, got float32\[2, 3, 4\]; for the last two dims of a batch use mT or transpose\(\)$/);
      expect(() => x.T).toThrow(/^T: input must have rank <= 2, got float32\[2, 3, 4\] \(PyTorch deprecates x\.T there\); use mT for the last two dims, or permute$/);
      expect(() => ops.zeros(3).mT).toThrow(/^mT: input must have rank >= 2 \(a matrix or a batch of them\), got float32\[3\]$/);
      expect(() => x.reshape(-1, -1)).toThrow(/^reshape: argument 'shape' must be integers >= 0 with at most one -1, got \[-1, -1\]/);
    }));
});
