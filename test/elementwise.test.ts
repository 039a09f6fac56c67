// Elementwise ops beyond the op table's drawn calls (test/ops.test.ts): the vec4 kernels, which
// take over when every operand is contiguous or a single value and the size is a multiple of 4.
import { beforeAll, describe, expect, it } from 'vitest';
import * as ops from '../src/index.js';
import { numel, ref, zipN } from '../src/check/reference/index.js';
import { gelu as geluRef, geluTanh as geluTanhRef } from '../src/check/reference/math.js';
import fc from 'fast-check';
import { profile, setProfile } from '../src/kernels/profile.js';
import { broadcastKernel, unaryKernel } from '../src/kernels/wgsl/elementwise.js';
import { expectClose, fcParams, seededValues, setupDevice, toTensor, widestBinding } from './helpers.js';

beforeAll(setupDevice);

const BINARY: Record<string, { f: (x: number, y: number) => number; lo?: number }> = {
  add: { f: (x, y) => x + y },
  sub: { f: (x, y) => x - y },
  mul: { f: (x, y) => x * y },
  div: { f: (x, y) => x / y, lo: 0.5 },
  pow: { f: (x, y) => x ** y, lo: 0.1 },
  maximum: { f: Math.max },
  minimum: { f: Math.min },
  eq: { f: (x, y) => +(x === y) },
  lt: { f: (x, y) => +(x < y) },
  ge: { f: (x, y) => +(x >= y) },
};

describe('vec4 kernels', () => {
  it.each(Object.keys(BINARY))('%s: same shapes and single values, sizes a multiple of 4', (name) =>
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

  it('where with a single-value condition or branch', () =>
    ops.scope(async () => {
      const pick = (cv: number, av: number, bv: number) => (cv ? av : bv);
      const c = ref([2, 4], [1, 0, 0, 1, 1, 1, 0, 0]);
      const a = ref([2, 4], [1, 2, 3, 4, 5, 6, 7, 8]);
      for (const [cc, aa, bb] of [[c, a, ref([], [-7])], [ref([], [0]), a, ref([2, 4], [9, 8, 7, 6, 5, 4, 3, 2])], [ref([], [1]), a, ref([], [3])]] as const) {
        await expectClose(ops.where(toTensor(cc), toTensor(aa), toTensor(bb)), zipN([cc, aa, bb], pick), 0, 0, 'where');
      }
    }));

  // a trailing block of the output's dims repeated (a bias over rows, positions over a batch) is
  // read as the output's index modulo the block: vec4 where the block is a multiple of 4, scalar
  // where not, and a window at a time past the binding limit
  it('periodic broadcasts (x[i % q]) equal float64: bias over rows, positions over a batch, with and without vec4, windowed', () =>
    fc.assert(
      fc.asyncProperty(
        fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 9 })),
        fc.integer({ min: 0, max: 3 }), fc.boolean(), fc.constantFrom('add', 'mul', 'sub'), fc.boolean(),
        ([B, T, C], form, swap, name, windowed) =>
          ops.scope(async () => {
            const f = BINARY[name]!.f;
            const shape = [B, T, C];
            // the repeated block: [C], [T, C], [1, T, C], [1, 1, C]
            const block = [[C], [T, C], [1, T, C], [1, 1, C]][form]!;
            const vals = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Math.round(Math.sin(seed * 5 + i * 1.7) * 8) / 4);
            const x = ref(shape, vals(numel(shape), 1));
            const b = ref(block, vals(numel(block), 2));
            const [l, r] = swap ? [b, x] : [x, b];
            const fn = (ops as unknown as Record<string, (x: ops.Tensor, y: ops.Tensor) => ops.Tensor>)[name]!;
            const [lt, rt] = [toTensor(l), toTensor(r)];
            setProfile(windowed ? { bindingLimit: 64 } : null); // 16 floats a window
            const y = fn(lt, rt);
            setProfile(null);
            await expectClose(y, zipN([l, r], f), 1e-6, 1e-6, `${name} ${JSON.stringify(l.shape)} ${JSON.stringify(r.shape)}${windowed ? ', 64-byte bindings' : ''}`);
          }),
      ),
      fcParams(40),
    ));

  // the other operands a periodic read serves: each of where's three (its condition too), int32
  // comparisons (scalar kernels only), float16 (vec4h); blocks with a size-1 dim inside ([T, 1, C]),
  // and look-alikes that are not periodic ([T, 1, C] and [T, S, 1] of [B, T, S, C] with S > 1)
  it('periodic operands of where and of comparisons, float16 and int32, equal float64', () =>
    fc.assert(
      fc.asyncProperty(
        fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 8 })),
        fc.constantFrom('float32', 'float16', 'int32'), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 2 }), fc.boolean(),
        ([B, T, S, C], dtype, form, slot, windowed) =>
          ops.scope(async () => {
            if (dtype === 'float16' && !profile().f16) return;
            const shape = [B, T, S, C];
            const block = [[C], [1, C], [T, 1, C], [T, S, 1]][form]!;
            const vals = (s: number[], seed: number) => ref(s, Array.from({ length: numel(s) }, (_, i) => Math.round(Math.sin(seed * 5 + i * 1.7) * 3)));
            const operands = [0, 1, 2].map((k) => vals(k === slot ? block : shape, k));
            const lift = (r: typeof operands[number], d: ops.DType) => ops.tensor(Float32Array.from(r.data), r.shape, d);
            setProfile(windowed ? { bindingLimit: 64 } : null);
            // int32: the block on the left or the right of lt, beside a full operand
            const pair = slot === 1 ? [operands[0]!, operands[1]!] : [operands[slot]!, operands[1]!];
            const [got, want] = dtype === 'int32'
              ? [ops.lt(lift(pair[0]!, 'int32'), lift(pair[1]!, 'int32')), zipN(pair, (x, y) => +(x < y))]
              : [ops.where(...(operands.map((r) => lift(r, dtype)) as [ops.Tensor, ops.Tensor, ops.Tensor])), zipN(operands, (c, x, y) => (c ? x : y))];
            setProfile(null);
            await expectClose(got, want, 0, 0, `${dtype === 'int32' ? 'lt' : 'where'} ${dtype}, operand ${slot} of ${JSON.stringify(block)}${windowed ? ', 64-byte bindings' : ''}`);
          }),
      ),
      fcParams(40),
    ));
});

// an operand read out of order (periodic or strided) larger than a binding was bound whole, past
// the limit (a GPU's validation error); it is bound a window of what each piece of the output reads.
// The limits are a few offset alignments (64, 100 and 260 bytes where bindings start at multiples
// of 16, as on lavapipe): a window starts at an aligned offset, so no limit below that is kept.
describe('broadcast operands larger than a binding', () => {
  it('periodic and strided operands of add, mul, where and expand equal float64, binding at most the limit', () =>
    fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 15 }),
        fc.constantFrom('add', 'mul', 'where', 'expand'), fc.constantFrom('float32', 'float16'), fc.constantFrom(4, 6.25, 16.25), fc.boolean(),
        (shape, kept, name, dtype, alignments, swap) =>
          ops.scope(async () => {
            const limit = alignments * profile().offsetAlignment;
            if (dtype === 'float16' && !profile().f16) return;
            const small = shape.map((d, i) => ((kept >> i) & 1 ? d : 1)); // the broadcast operand: some dims 1
            const vals = (s: number[], seed: number) => ref(s, Array.from({ length: numel(s) }, (_, i) => Math.round(Math.sin(seed * 5 + i * 1.7) * 8) / 4));
            const [big, part] = [vals(shape, 1), vals(small, 2)];
            const lift = (r: typeof big) => ops.tensor(Float32Array.from(r.data), r.shape, dtype);
            const [bt, pt, ct] = [lift(big), lift(part), lift(vals(small, 3))];
            setProfile({ bindingLimit: limit });
            const [got, widest] = await widestBinding(async () =>
              name === 'expand' ? pt.expand(shape)
              : name === 'where' ? ops.where(ct, swap ? bt : pt, swap ? pt : bt)
              : (ops as unknown as Record<string, (x: ops.Tensor, y: ops.Tensor) => ops.Tensor>)[name]!(swap ? bt : pt, swap ? pt : bt));
            setProfile(null);
            const f = name === 'add' ? (x: number, y: number) => x + y : (x: number, y: number) => x * y;
            const want = name === 'expand' ? zipN([part, big], (x) => x)
              : name === 'where' ? zipN([vals(small, 3), swap ? big : part, swap ? part : big], (c, x, y) => (c ? x : y))
              : zipN(swap ? [big, part] : [part, big], f);
            const what = `${name} ${dtype} ${JSON.stringify(small)} with ${JSON.stringify(shape)}, ${limit}-byte bindings`;
            await expectClose(got, want, 0, 0, what);
            expect(widest, what).toBeLessThanOrEqual(limit);
          }),
      ),
      fcParams(60),
    ));
});

describe('maximum with a NaN operand', () => {
  it("passes the gradient to both operands where either is NaN, as torch.maximum's backward (it gave none to either)", () =>
    ops.scope(async () => {
      const xs = [NaN, 1, NaN, 2, 3];
      const ys = [1, NaN, NaN, 2, 1];
      const x = ops.tensor(xs).requiresGrad_();
      const y = ops.tensor(ys).requiresGrad_();
      x.maximum(y).mul(ops.tensor([1, 2, 3, 4, 5])).sum().backward();
      // PyTorch: where(x == y, g / 2, g) masked to 0 where x < y (for x) or x > y (for y)
      const share = (a: number, b: number, g: number) => (a === b ? g / 2 : a < b ? 0 : g);
      expect([...(await x.grad!.toArray())]).toEqual(xs.map((a, i) => share(a, ys[i]!, i + 1)));
      expect([...(await y.grad!.toArray())]).toEqual(ys.map((b, i) => share(b, xs[i]!, i + 1)));
    }));
});

describe('minimum and clamp as PyTorch 1.13 computes them', () => {
  const grads = async (ts: ops.Tensor[]) => Promise.all(ts.map(async (t) => [...(await t.grad!.toArray())]));

  it("minimum: NaN propagates to both operands' gradients, ties split it, the larger operand gets none", () =>
    ops.scope(async () => {
      const x = ops.tensor([1, 2, 3, NaN]).requiresGrad_();
      const y = ops.tensor([1, 1, 4, 1]).requiresGrad_();
      const m = x.minimum(y);
      m.sum().backward();
      // torch.minimum(x, y), then .sum().backward(): [1, 1, 3, nan], x.grad [0.5, 0, 1, 1], y.grad [0.5, 1, 0, 1]
      expect([...(await m.toArray())]).toEqual([1, 1, 3, NaN]);
      expect(await grads([x, y])).toEqual([[0.5, 0, 1, 1], [0.5, 1, 0, 1]]);
    }));

  // torch.clamp(x, ...).sum().backward() on x = [-1, 0, 0.5, 1, 2, nan], printed by torch 1.13: the
  // gradient is 1 on a bound (the drawn cases keep off the bounds, where central differences give 1/2)
  const xs = [-1, 0, 0.5, 1, 2, NaN];
  it.each([
    [0, 1, [0, 0, 0.5, 1, 1, NaN], [0, 1, 1, 1, 0, 0]],
    [0, null, [0, 0, 0.5, 1, 2, NaN], [0, 1, 1, 1, 1, 0]],
    [undefined, 1, [-1, 0, 0.5, 1, 1, NaN], [1, 1, 1, 1, 0, 0]],
    [1, 0, [0, 0, 0, 0, 0, NaN], [0, 0, 0, 0, 0, 0]], // min > max: max everywhere, no gradient
    [-Infinity, Infinity, xs, [1, 1, 1, 1, 1, 0]], // bounds that bound nothing
  ] as const)('clamp(x, %s, %s) and its gradient: bounds included, NaN kept', (min, max, want, grad) =>
    ops.scope(async () => {
      const x = ops.tensor(xs).requiresGrad_();
      const y = x.clamp(min, max);
      y.sum().backward();
      expect([...(await y.toArray())]).toEqual(want);
      expect(await grads([x])).toEqual([grad]);
    }));

  it('clamp keeps the sign of a zero on a bound of the other sign, as torch (x, not the bound)', () =>
    ops.scope(async () => {
      const got = [...(await ops.clamp(ops.tensor([-0, 0]), 0, -0).toArray())];
      expect(got.map((v) => Object.is(v, -0))).toEqual([true, false]);
    }));

  it('clamp in float16: a bound float16 cannot hold is rounded, as the clamped value would be', () =>
    ops.scope(async () => {
      if (!profile().f16) return;
      const h = ops.tensor([0.05, 0.2, 5]).astype('float16');
      const half = (v: number) => ops.tensor([v]).astype('float16').toArray('float16');
      const [lo, x1] = [(await half(0.1))[0]!, (await half(0.2))[0]!];
      expect([...(await h.clamp(0.1, 70000).toArray())]).toEqual([lo, x1, 5]); // 70000 is past float16: no bound
      expect(() => h.clamp(70000)).toThrow(/^clamp: argument 'min' must be a tensor or a number within float16's range, -Infinity or null, got 70000$/);
    }));

  it.each([
    [() => [ops.tensor([1], 'int32')], /^clamp: argument 'min' must be a number or a tensor of the input's dtype, float32, got a int32\[1\] tensor$/],
    [() => [null, ops.tensor([1, 2, 3])], /^clamp: shapes \[2\] and \[3\] cannot be broadcast together$/],
    [() => ['1'], /^clamp: argument 'min' must be a tensor or a number within float32's range, -Infinity or null, got string '1'$/],
    [() => [NaN], /^clamp: argument 'min' must be a tensor or a number within float32's range, -Infinity or null, got NaN$/],
    [() => [null, -Infinity], /^clamp: argument 'max' must be a tensor or a number within float32's range, Infinity or null, got -Infinity$/],
    [() => [1e39], /^clamp: argument 'min' must be .*, got 1e\+39$/],
    [() => [], /^clamp: at least one of 'min' and 'max' must be given, got neither$/],
    [() => [0, 1, 2], /^clamp: takes three arguments \(input, min, max\), got 4$/],
  ] as [() => unknown[], RegExp][])('clamp refuses bad bounds in one line: %#', (args, want) =>
    ops.scope(() => {
      const clamp = ops.clamp as unknown as (x: ops.Tensor, ...a: unknown[]) => ops.Tensor;
      expect(() => clamp(ops.tensor([1, 2]), ...args())).toThrow(want);
    }));

  it('clamp keeps nothing once its backward has run (the gradient owners it saved were kept alive by a handle)', () =>
    ops.scope(async () => {
      const [x, lo] = [ops.tensor([[-2, 0.5, 3]]), ops.tensor([[0], [1]])].map((t) => t.requiresGrad_());
      const before = ops.device().memory().liveBuffers;
      const y = ops.clamp(x!, lo!, 2);
      const loss = y.sum();
      loss.backward();
      for (const t of [y, loss, x!.grad!, lo!.grad!]) t.dispose();
      expect(ops.device().memory().liveBuffers).toBe(before);
    }));

  it('clamp on int32 takes integer bounds within int32, and refuses others in one line', () =>
    ops.scope(async () => {
      const ids = ops.tensor([-5, 0, 7, 2 ** 31 - 1], 'int32');
      expect([...(await ids.clamp(0, 3).toArray())]).toEqual([0, 0, 3, 3]);
      expect([...(await ids.clamp(-Infinity, 2 ** 31 - 1).toArray())]).toEqual([-5, 0, 7, 2 ** 31 - 1]);
      expect(() => ids.clamp(0.5)).toThrow(/^clamp: argument 'min' must be a tensor or an integer within int32's range, -Infinity or null, got 0\.5$/);
      expect(() => ids.clamp(null, 2 ** 31)).toThrow(/^clamp: argument 'max' must be a tensor or an integer within int32's range, Infinity or null, got 2147483648$/);
      expect(() => ids.clamp(ops.tensor([1]))).toThrow(/^clamp: argument 'min' must be a number or a tensor of the input's dtype, int32, got a float32\[1\] tensor$/);
    }));
});

describe('comparisons and where with NaN, infinities and signed zeros', () => {
  // every pair of these, each op against JS's (IEEE's) comparison: NaN != NaN is true, the rest false with a NaN
  const SPECIALS = [NaN, -Infinity, -1, -0, 0, 1, Infinity];
  const xs = SPECIALS.flatMap((a) => SPECIALS.map(() => a));
  const ys = SPECIALS.flatMap(() => SPECIALS);
  const JS = {
    eq: (a: number, b: number) => a === b, ne: (a: number, b: number) => a !== b,
    lt: (a: number, b: number) => a < b, le: (a: number, b: number) => a <= b,
    gt: (a: number, b: number) => a > b, ge: (a: number, b: number) => a >= b,
  };
  it.each(['float32', 'float16'] as const)('%s: eq, ne, lt, le, gt, ge follow IEEE (ne of NaN was 0)', (dtype) =>
    ops.scope(async () => {
      if (dtype === 'float16' && !profile().f16) return;
      for (const [name, f] of Object.entries(JS)) {
        const got = await ops.ops[name as keyof typeof JS](ops.tensor(xs, [xs.length], dtype), ops.tensor(ys, [ys.length], dtype)).toArray();
        const wrong = xs.flatMap((a, i) => (got[i] === +f(a, ys[i]!) ? [] : [`${a} ${name} ${ys[i]} = ${got[i]}`]));
        expect(wrong, `${dtype} ${name}`).toEqual([]);
      }
    }));

  it("where takes a NaN condition as non-zero (true), as PyTorch's bool(NaN), forward and gradient", () =>
    ops.scope(async () => {
      const cond = ops.tensor(SPECIALS);
      const a = ops.tensor(SPECIALS.map((_, i) => 10 + i)).requiresGrad_();
      const b = ops.tensor(SPECIALS.map((_, i) => -10 - i)).requiresGrad_();
      const out = ops.where(cond, a, b);
      out.sum().backward();
      const pick = SPECIALS.map((c) => c !== 0);
      expect([...(await out.toArray())]).toEqual(pick.map((p, i) => (p ? 10 + i : -10 - i)));
      expect([...(await a.grad!.toArray())]).toEqual(pick.map((p) => +p));
      expect([...(await b.grad!.toArray())]).toEqual(pick.map((p) => +!p));
    }));
});

describe('pow at a zero base (WGSL leaves pow(0, y) undefined)', () => {
  it('0^y is 1 for y = 0, 0 for y > 0, +Inf for y < 0, as JS and IEEE say; and d(x^1)/dx = 1 at 0', () =>
    ops.scope(async () => {
      const exponents = [0, 1, 2, 0.5, -1, -0.5, -2, 3];
      const got = await ops.pow(ops.zeros([exponents.length]), ops.tensor(exponents)).toArray();
      expect([...got]).toEqual(exponents.map((y) => 0 ** y));
      for (const [y, slope] of [[1, 1], [2, 0], [3, 0]] as const) {
        const x = ops.zeros([1]).requiresGrad_();
        x.pow(y).sum().backward();
        expect((await x.grad!.toArray())[0], `d(x^${y})/dx at 0`).toBe(slope);
      }
    }));

  it("gradients where the formulas give 0 * Inf are PyTorch's: d(x^0)/dx = 0 for every x, d(0^y)/dy = 0 for y >= 0", () =>
    ops.scope(async () => {
      // d(x^0)/dx = 0 * x^-1: NaN at x = 0 before; x^0 = 1 is constant, its derivative 0 (torch.pow's backward too)
      const x = ops.tensor([0, 2, -3]).requiresGrad_();
      x.pow(0).sum().backward();
      expect([...(await x.grad!.toArray())]).toEqual([0, 0, 0]);
      // tensor exponent at a zero base: d/dx = y 0^(y-1), d/dy = 0^y log 0 (NaN and -Inf before for y = 0)
      const ys = [0, 1, 2, 0.5];
      const base = ops.zeros([ys.length]).requiresGrad_();
      const exponent = ops.tensor(ys).requiresGrad_();
      base.pow(exponent).sum().backward();
      expect([...(await base.grad!.toArray())]).toEqual(ys.map((y) => (y === 0 ? 0 : y * 0 ** (y - 1))));
      expect([...(await exponent.grad!.toArray())]).toEqual([0, 0, 0, 0]);
    }));

  it("NaN, infinities, signed zeros and +-1 follow C's pow (PyTorch's): x^0 = 1 and 1^y = 1 even for NaN, (-Inf)^0.5 = Inf, 0^NaN = NaN", () =>
    ops.scope(async () => {
      // C's pow in float64: JS's ** but for x^+-0 and 1^y, always 1, and (-1)^+-Inf = 1 (JS gives NaN for the last two)
      const cPow = (x: number, y: number) => (y === 0 || x === 1 || (x === -1 && Math.abs(y) === Infinity) ? 1 : x ** y);
      const bases = [NaN, -Infinity, -2, -1, -0.5, -0, 0, 0.5, 1, 2, Infinity];
      const exponents = [NaN, -Infinity, -3, -2, -0.5, -0, 0, 0.5, 2, 3, Infinity];
      const xs = bases.flatMap((x) => exponents.map(() => x));
      const ys = bases.flatMap(() => exponents);
      for (const dtype of ['float32', 'float16'] as const) {
        if (dtype === 'float16' && !profile().f16) continue;
        const got = await ops.pow(ops.tensor(xs, [xs.length], dtype), ops.tensor(ys, [ys.length], dtype)).toArray();
        // exact where the result is not finite or zero (its sign included), within float16's rounding elsewhere
        const same = (want: number, v: number) => Object.is(want, v) || (Number.isFinite(want) && want !== 0 && Math.abs(v - want) <= 1e-3 * Math.abs(want));
        const wrong = xs.flatMap((x, i) => (same(cPow(x, ys[i]!), got[i]!) ? [] : [`${x}^${ys[i]} = ${got[i]}, want ${cPow(x, ys[i]!)}`]));
        expect(wrong, dtype).toEqual([]);
      }
    }));
});

// exp(-v^2) of a finite v past ~1.8e19 took an Inf square (exp(-Inf) = 0 is IEEE's, not WGSL's):
// the squares take |v| capped, and the values stay float64's x Phi(x) and Phi(x) + x phi(x),
// for gelu and the fused biasGelu, forward and backward.
describe('gelu at large finite inputs', () => {
  it('gelu and biasGelu equal float64 (x Phi(x) and its derivative) up to +-3e38', () =>
    ops.scope(async () => {
      const mags = [0.5, 3, 9, 14.5, 20, 30, 1e10, 1e19, 1e20, 1e30, 3e38].map(Math.fround);
      const xs = [...mags, ...mags.map((v) => -v)];
      const phi = (v: number) => Math.exp(-0.5 * Math.min(v * v, 1e4)) / Math.sqrt(2 * Math.PI); // 0 past it in float64 too
      const wantGrad = xs.map((v) => geluRef(v) / v + v * phi(v)); // Phi(x) = gelu(x) / x
      const close = (got: number, want: number) => Math.abs(got - want) <= 1e-6 * Math.abs(want) + 1e-6;
      for (const fused of [false, true]) {
        const x = ops.tensor(xs).requiresGrad_();
        const y = fused ? x.reshape([1, xs.length]).biasGelu(ops.zeros([xs.length])) : x.gelu();
        y.sum().backward();
        const [got, dx] = [await y.toArray(), await x.grad!.toArray()];
        const name = fused ? 'biasGelu' : 'gelu';
        expect(xs.flatMap((v, i) => (close(got[i]!, geluRef(v)) ? [] : [`${name}(${v}) = ${got[i]}, want ${geluRef(v)}`]))).toEqual([]);
        expect(xs.flatMap((v, i) => (close(dx[i]!, wantGrad[i]!) ? [] : [`${name}'(${v}) = ${dx[i]}, want ${wantGrad[i]}`]))).toEqual([]);
      }
    }));
});

describe('tanh', () => {
  it('equals float64 to a few float32 ulps from 1e-30 to Inf, keeps -0, and is NaN at NaN (it gave -1 there, and 3e-8 at 1e-30)', () =>
    ops.scope(async () => {
      const mags = [1e-30, 1e-8, 1e-4, 3e-3, 0.1, 0.5, 0.6, 0.625, 0.7, 1, 2, 5, 9, 15, 20, 1e30, Infinity].map(Math.fround);
      const xs = [NaN, 0, -0, ...mags, ...mags.map((v) => -v)];
      const x = ops.tensor(xs).requiresGrad_();
      const y = x.tanh();
      y.sum().backward();
      const got = await y.toArray();
      const near = (want: number, v: number, rtol: number) => Object.is(want, v) || Math.abs(v - want) <= rtol * Math.abs(want);
      const wrong = xs.flatMap((v, i) => (near(Math.tanh(v), got[i]!, 4e-7) || (Number.isNaN(v) && Number.isNaN(got[i]!)) ? [] : [`tanh(${v}) = ${got[i]}, want ${Math.tanh(v)}`]));
      expect(wrong).toEqual([]);
      // d tanh = 1 - tanh^2, NaN at NaN
      const dx = await x.grad!.toArray();
      const wrongDx = xs.flatMap((v, i) => {
        const want = 1 - Math.tanh(v) ** 2;
        return near(want, dx[i]!, 1e-6) || Math.abs(dx[i]! - want) <= 1e-7 || (Number.isNaN(v) && Number.isNaN(dx[i]!)) ? [] : [`tanh'(${v}) = ${dx[i]}, want ${want}`];
      });
      expect(wrongDx).toEqual([]);
    }));
});

describe('sigmoid and abs at the edges', () => {
  // float64's sigmoid, from the side where exp cannot overflow
  const sigmoid64 = (v: number) => (v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v)));

  it('sigmoid equals float64 from -110 to Inf (1 / (1 + exp(-x)) overflowed exp below -88), is NaN at NaN; its gradient s (1 - s) too', () =>
    ops.scope(async () => {
      const mags = [0, 1e-30, 1e-4, 0.5, 1, 5, 17, 30, 60, 87, 89, 100, 103, 1e30, Infinity].map(Math.fround);
      const xs = [NaN, -0, ...mags, ...mags.map((v) => -v)];
      const x = ops.tensor(xs).requiresGrad_();
      const y = x.sigmoid();
      y.sum().backward();
      const [got, dx] = [await y.toArray(), await x.grad!.toArray()];
      // exp's own error grows with |x| (WGSL allows 3 + 2|x| ulps): 2e-5 relative at -103; values below float32's normals may flush to 0
      const near = (want: number, v: number, rtol: number) => Object.is(want, v) || Math.abs(v - want) <= rtol * Math.abs(want) + 1.2e-38;
      const nan = (v: number, w: number) => Number.isNaN(v) && Number.isNaN(w);
      expect(xs.flatMap((v, i) => (near(sigmoid64(v), got[i]!, 2e-5) || nan(v, got[i]!) ? [] : [`sigmoid(${v}) = ${got[i]}, want ${sigmoid64(v)}`]))).toEqual([]);
      const ds = (v: number) => sigmoid64(v) * (1 - sigmoid64(v));
      // s (1 - s) from the rounded s: 1 - s is 0 in float32 once s rounds to 1 (past 17), as PyTorch's
      const wrong = xs.flatMap((v, i) => (near(ds(v), dx[i]!, 1e-4) || Math.abs(dx[i]! - ds(v)) <= 1e-7 || nan(v, dx[i]!) ? [] : [`sigmoid'(${v}) = ${dx[i]}, want ${ds(v)}`]));
      expect(wrong).toEqual([]);
    }));

  it('abs clears the sign (NaN and Inf kept, -0 to 0); its gradient is sign(x), 0 at +-0 and at NaN; abs and sigmoid in float16', () =>
    ops.scope(async () => {
      const xs = [NaN, 0, -0, -1e-30, 2.5, -2.5, 3e38, -Infinity, Infinity];
      const x = ops.tensor(xs).requiresGrad_();
      const y = x.abs();
      y.mul(ops.tensor(xs.map(() => 3))).sum().backward();
      expect([...(await y.toArray())]).toEqual([NaN, 0, 0, Math.fround(1e-30), 2.5, 2.5, Math.fround(3e38), Infinity, Infinity]);
      expect([...(await x.grad!.toArray())]).toEqual([0, 0, 0, -3, 3, -3, 3, -3, 3]);
      const h = ops.tensor([-1.5, 0, 65504], [3], 'float16');
      expect([...(await h.abs().toArray())]).toEqual([1.5, 0, 65504]);
      const s16 = await ops.tensor([-12, 0, 12], [3], 'float16').sigmoid().toArray();
      [-12, 0, 12].forEach((v, i) => expect(Math.abs(s16[i]! - sigmoid64(v)), `float16 sigmoid(${v})`).toBeLessThanOrEqual(2 ** -11 * sigmoid64(v) + 2 ** -25)); // one rounding (float16 subnormals below 6e-5)
    }));

  it('refuse int32 tensors, naming the op', () =>
    ops.scope(() => {
      const ids = ops.tensor(new Int32Array([1, -2]), [2]);
      expect(() => ids.abs()).toThrow(/^abs: argument 'input' must be a float32 or float16 tensor, got int32\[2\]$/);
      expect(() => ops.sigmoid(ids)).toThrow(/^sigmoid: argument 'input' must be a float32 or float16 tensor, got int32\[2\]$/);
    }));
});

describe('log', () => {
  // WGSL promises only an absolute error of 2^-21 in [0.5, 2]: lavapipe's log(1 - 2^-24) was -1.03e-7
  // (want -5.96e-8), log(0.999) off by 6e-5 relative, where PyTorch's log is good to an ulp or two
  it('equals float64 to a few float32 ulps near 1 (both sides) and elsewhere; log(0) = -Inf, log(-1) = NaN', () =>
    ops.scope(async () => {
      const near1 = [2 ** -24, 2 ** -23, 2 ** -20, 1e-5, 1e-3, 0.01, 0.1, 0.2, 0.29, 0.31].flatMap((d) => [1 - d, 1 + d]);
      const xs = [...near1, 0.5, 0.69, 0.71, 1, 1.39, 1.41, 2, 1e-30, 1e30, 3e38, 0, Infinity, -1, NaN].map(Math.fround);
      const got = await ops.tensor(xs).log().toArray();
      const near = (want: number, v: number) => Object.is(want, v) || (Number.isNaN(want) && Number.isNaN(v)) || Math.abs(v - want) <= 3e-7 * Math.abs(want);
      const wrong = xs.flatMap((x, i) => (near(Math.log(x), got[i]!) ? [] : [`log(${x}) = ${got[i]}, want ${Math.log(x)}`]));
      expect(wrong).toEqual([]);
    }));
});

describe('pow accuracy', () => {
  // WGSL's pow is exp2(y log2 x): x.pow(2) was 12 ulps off (7.3^2 = 53.290005, want 53.290001), x.pow(10)
  // 100; PyTorch squares, cubes, takes sqrt and reciprocals, and its pow is good to an ulp or two
  it('integer exponents and 0.5 are within a few ulps of float64 over 1e-8..1e8, negative bases too', () =>
    ops.scope(async () => {
      const xs = [...seededValues(2000, 21, -18, 18)].map((e) => Math.fround(Math.exp(e)));
      const tolerances: [number, number][] = [[2, 2], [3, 3], [-1, 2], [-2, 3], [0.5, 2], [4, 4], [10, 8], [-7, 10], [1.5, 64]];
      for (const [y, ulps] of tolerances) {
        for (const sign of y === Math.floor(y) ? [1, -1] : [1]) {
          const base = xs.map((x) => sign * x);
          const got = await ops.tensor(base).pow(y).toArray();
          const wrong = base.flatMap((x, i) => {
            const want = x ** y;
            if (!Number.isFinite(Math.fround(want)) || Math.abs(want) < 1e-37) return []; // past float32's normal range
            return Math.abs(got[i]! - want) <= ulps * 2 ** -24 * Math.abs(want) ? [] : [`${x}^${y} = ${got[i]}, want ${want}`];
          });
          expect(wrong.slice(0, 3), `x^${y}, ${wrong.length} off by more than ${ulps} half-ulps`).toEqual([]);
        }
      }
    }));
});

describe('GELU at large |x|', () => {
  // gelu_tanh's derivative has a term 0.5 x (1 - t^2) k (1 + 0.134145 x^2): past |x| ~ 1.8e19, x^2
  // overflows float32 and 0 * Inf gave NaN where the derivative is 1 (x > 0) or 0 (x < 0).
  // (gelu's exact erf form differs from the tanh form by < 1e-20 at these points)
  it('geluTanh and gelu, forward and gradient, equal float64 at +-10, +-20, +-1e4, +-1e20, +-3e38', () =>
    ops.scope(async () => {
      const k = Math.sqrt(2 / Math.PI);
      const xs = [10, 20, 1e4, 1e20, 3e38].flatMap((v) => [v, -v]).map(Math.fround);
      // the tanh form in float64, saturated where k (x + 0.044715 x^3) is past float64's tanh resolution
      const tanhPart = (x: number) => Math.tanh(Math.max(-40, Math.min(40, k * x + k * 0.044715 * x ** 3)));
      const wantY = xs.map((x) => 0.5 * x * (1 + tanhPart(x)));
      const wantDx = xs.map((x) => {
        const t = tanhPart(x);
        return 0.5 * (1 + t) + (1 - t * t === 0 ? 0 : 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x));
      });
      for (const [fn, y, dx] of [[ops.geluTanh, wantY, wantDx], [ops.gelu, wantY, wantDx]] as const) {
        const x = ops.tensor(xs).requiresGrad_();
        const out = fn(x);
        out.sum().backward();
        await expectClose(out, ref([xs.length], y), 1e-20, 1e-6, `${fn === ops.gelu ? 'gelu' : 'geluTanh'}`);
        await expectClose(x.grad!, ref([xs.length], dx), 1e-20, 1e-6, `${fn === ops.gelu ? 'gelu' : 'geluTanh'} gradient`);
      }
    }));
});

describe('unary ops take their input alone', () => {
  // a port of F.gelu(x, approximate='tanh') as gelu(x, { approximate: 'tanh' }) got the exact GELU
  // without a word (the method dropped the argument, the function ignored it)
  it("refuse a second argument, function and method; gelu's error names geluTanh; gelu(x) is the erf form in float64", () =>
    ops.scope(async () => {
      const x = ops.tensor([-2, -0.5, 0.5, 2]);
      for (const name of ['neg', 'square', 'abs', 'exp', 'log', 'sqrt', 'rsqrt', 'tanh', 'sigmoid', 'relu', 'gelu', 'geluTanh'] as const) {
        const fn = ops[name] as unknown as (t: ops.Tensor, extra: unknown) => ops.Tensor;
        const method = x[name] as unknown as (this: ops.Tensor, extra: unknown) => ops.Tensor;
        const want = new RegExp(`^${name}: takes one argument \\(input\\), got 2`);
        expect(() => fn(x, { approximate: 'tanh' })).toThrow(want);
        expect(() => method.call(x, 'tanh')).toThrow(want);
      }
      expect(() => (ops.gelu as unknown as (t: ops.Tensor, a: string) => ops.Tensor)(x, 'tanh')).toThrow(/for PyTorch's approximate='tanh' call geluTanh$/);
      // the two forms differ by 1e-4 at 2 (erf's and tanh's), far past these tolerances
      await expectClose(x.gelu(), ref([4], [-2, -0.5, 0.5, 2].map(geluRef)), 1e-6, 1e-5, 'gelu');
      await expectClose(x.geluTanh(), ref([4], [-2, -0.5, 0.5, 2].map(geluTanhRef)), 1e-6, 1e-5, 'geluTanh');
    }));
});

describe('kernel cache', () => {
  it('keys a kernel by its helpers too: the same name and expression with other helpers is another kernel', () => {
    const helper = (k: string) => `fn h(v: f32) -> f32 { return ${k} * v; }`;
    expect(unaryKernel('cache_probe', 'h(x)', helper('2.0')).wgsl).toContain(helper('2.0'));
    expect(unaryKernel('cache_probe', 'h(x)', helper('3.0')).wgsl).toContain(helper('3.0'));
    const bcast = (k: string) => broadcastKernel('cache_probe', 'h(x) + y', { helpers: helper(k) }).wgsl;
    expect(bcast('2.0')).toContain(helper('2.0'));
    expect(bcast('3.0')).toContain(helper('3.0'));
  });
});
