// float16 tensors: creation (host rounding), read-back, fills and casts against the host's
// binary16 conversion (src/tensor/half.ts, round to nearest even, overflow to +-Infinity), with
// the values where conversions go wrong: ties, the overflow threshold, subnormals, NaN and -0. And
// the one-line errors: float16 on an adapter without shader-f16, float16 beside float32.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { add, arange, div, full, lt, matmul, maximum, mul, pow, scope, sub, tensor, where, zeros, type Tensor } from '../src/index.js';
import { Kernel } from '../src/kernels/kernel.js';
import { broadcastKernel, unaryKernel } from '../src/kernels/wgsl/elementwise.js';
import { castInto } from '../src/ops/cast-into.js';
import { profile, setProfile } from '../src/kernels/profile.js';
import { device } from '../src/device/device.js';
import { gpt } from './cli-helpers.js';
import { f16BitsToF32, f32ToF16Bits } from '../src/tensor/half.js';
import { fcParams, setupDevice } from './helpers.js';

await setupDevice();
afterEach(() => setProfile(null));

/** A float32 value rounded to float16 on the host: the reference. */
const half = (x: number) => f16BitsToF32(f32ToF16Bits(x));
const same = (got: ArrayLike<number>, want: readonly number[]) => {
  const bad = want.findIndex((w, i) => !Object.is(got[i], w));
  if (bad >= 0) throw new Error(`element ${bad}: got ${got[bad]}, expected ${want[bad]}`);
};

/** Values near float16's edges: the largest finite (65504) and the overflow tie (65520), subnormals (2^-24 steps), ties of the mantissa. */
const EDGES = [
  0, -0, 1, -1, 65504, 65519.99, 65520, -65520, 1e6, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -14, 2 ** -14 - 2 ** -25, 1 + 2 ** -11, 1 + 3 * 2 ** -11,
  2049, 2051, NaN, Infinity, -Infinity,
];
const valueArb = fc.oneof(
  fc.float({ noNaN: false }),
  fc.float({ min: Math.fround(-70000), max: Math.fround(70000) }),
  fc.float({ min: Math.fround(-1e-4), max: Math.fround(1e-4) }),
  fc.constantFrom(...EDGES),
);

describe('float16 tensors', () => {
  it('float32 -> float16 on the GPU rounds as the host does (nearest even, overflow to +-Inf, subnormals, NaN)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(valueArb, { minLength: 1, maxLength: 67 }), async (xs) => {
        const f32 = xs.map(Math.fround);
        await scope(async () => {
          const h = tensor(f32).astype('float16');
          expect(h.dtype).toBe('float16');
          same(await h.toArray(), f32.map(half));
          // back to float32 exactly; from the host's rounding the same values
          same(await h.astype('float32').toArray(), f32.map(half));
          same(await tensor(f32, [f32.length], 'float16').toArray(), f32.map(half));
        });
      }),
      fcParams(20),
    );
  });

  it("cast and castInto round float32 to float16 on the bits as the host does, at every exponent's edges (WGSL's own f16() need not)", async () => {
    // for each float32 exponent from below half the smallest subnormal to past the overflow: mantissas
    // at the 13 and more bits float16 drops (exact, tie, just off a tie, odd and even kept bits), both signs
    const tails = [0, 1, 0xfff, 0x1000, 0x1001, 0x1fff, 0x2000, 0x3000, 0x5000, 0x7fe000, 0x7fefff, 0x7ff000, 0x7fffff, 0x123456, 0x400000, 0x400001];
    const bits: number[] = [0x477fe000, 0x477ff000, 0x477fefff, 0x7f800000, 0x7fc00000, 0x7f800001];
    for (let e = 96; e <= 145; e++) for (const t of tails) bits.push((e << 23) | t);
    const values = [...bits, ...bits.map((b) => (b | 0x80000000) >>> 0)].map((b) => new Float32Array(new Uint32Array([b]).buffer)[0]!);
    const want = values.map(half);
    await scope(async () => {
      for (const n of [values.length, values.length - 1]) { // a multiple of 4 (vec4 kernels) and not
        const x = tensor(values.slice(0, n));
        same(await x.astype('float16').toArray(), want.slice(0, n));
        const into = zeros([n], 'float16');
        castInto([x], [into]);
        same(await into.toArray(), want.slice(0, n));
      }
    });
  });

  it('numbers (float64) become float16 by one rounding to nearest, not through a float32 that can make a false tie', async () => {
    await scope(async () => {
      // just past a tie, just below the overflow tie, just past half the smallest subnormal; the ties themselves
      const given = [1 + 2 ** -11 + 2 ** -40, 65519.999999999, 2 ** -25 + 2 ** -60, -(1 + 2 ** -11 + 2 ** -40), 1 + 2 ** -11, 1 + 3 * 2 ** -11, 65520, 2 ** -25, 1 + 2 ** -11 - 2 ** -40];
      const nearest = [1 + 2 ** -10, 65504, 2 ** -24, -(1 + 2 ** -10), 1, 1 + 2 ** -9, Infinity, 0, 1];
      same(await tensor(given, [given.length], 'float16').toArray(), nearest);
      for (const [i, v] of given.entries()) same(await full([1], v, 'float16').toArray(), [nearest[i]!]);
    });
  });

  it('casts float16 <-> int32 (truncation toward zero; ints beyond 65504 overflow to Inf)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: -70000, max: 70000 }), { minLength: 1, maxLength: 9 }), async (ints) => {
        await scope(async () => {
          const h = tensor(Int32Array.from(ints)).astype('float16');
          same(await h.toArray(), ints.map(half));
          const back = ints.map((v) => half(v)).map((v) => (Number.isFinite(v) ? v : NaN));
          const finite = back.flatMap((v, i) => (Number.isNaN(v) ? [] : [i]));
          const truncated = await tensor(back.map((v) => (Number.isNaN(v) ? 0 : v + 0.25)), [back.length], 'float16').astype('int32').toArray();
          finite.forEach((i) => expect(truncated[i]).toBe(Math.trunc(half(back[i]! + 0.25))));
        });
      }),
      fcParams(10),
    );
  });

  it('fills, zeros and arange in float16; odd element counts and empty tensors', async () => {
    await scope(async () => {
      for (const n of [0, 1, 3, 5]) {
        same(await full([n], -1.5, 'float16').toArray(), Array(n).fill(-1.5));
        same(await full([n], 1e5, 'float16').toArray(), Array(n).fill(Infinity));
        same(await zeros([n], 'float16').toArray(), Array(n).fill(0));
      }
      same(await full([3], NaN, 'float16').toArray(), [NaN, NaN, NaN]);
      same(await full([1], -0, 'float16').toArray(), [-0]);
      same(await arange(0, 2.2, 0.3, 'float16').toArray(), [0, 0.3, 0.6, 0.9, 1.2, 1.5, 1.8, 2.1].map((v) => half(Math.fround(v))));
    });
  });

  it('WGSL enables f16 only in kernels that bind f16 storage', () => {
    const wgsl = (read: 'f32' | 'f16', write: 'f32' | 'f16') => new Kernel({ name: 'k', read: { x: read }, write: { y: write }, body: '' }).wgsl;
    expect(wgsl('f32', 'f32')).not.toMatch(/enable f16/);
    expect(wgsl('f16', 'f32')).toMatch(/^enable f16;\n/);
    expect(wgsl('f32', 'f16')).toMatch(/^enable f16;\n/);
    expect(unaryKernel('exp', 'exp(x)').wgsl).not.toMatch(/f16/);
    expect(unaryKernel('exp', 'exp(x)', '', 'f16').wgsl).toMatch(/^enable f16;\n[^]*array<f16>[^]*out\[i\] = f16\(exp\(x\)\)/);
    expect(broadcastKernel('add', 'x + y').wgsl).not.toMatch(/f16/);
  });

  it('float16 matmul beyond a binding (through float32 blocks) matches the direct product', async () => {
    await scope(async () => {
      const [M, K, N] = [37, 29, 41];
      const a = tensor(Float32Array.from({ length: M * K }, (_, i) => Math.sin(i)), [M, K], 'float16');
      const b = tensor(Float32Array.from({ length: K * N }, (_, i) => Math.cos(3 * i)), [K, N], 'float16');
      const [as, bs] = [await a.toArray(), await b.toArray()];
      setProfile({ bindingLimit: 1024 }); // 512 halves: every operand is blocked
      const c = matmul(a, b);
      expect(c.dtype).toBe('float16');
      const got = await c.toArray();
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let want = 0;
          for (let k = 0; k < K; k++) want += as[i * K + k]! * bs[k * N + j]!;
          // the f32 sum rounded once to f16
          expect(Math.abs(got[i * N + j]! - want)).toBeLessThanOrEqual(2 ** -11 * Math.abs(want) + 1e-5 * K);
        }
      }
    });
  });

  it('an op on float16 beside float32 names the op and both dtypes', () => {
    scope(() => {
      const h = tensor([1, 2], [2], 'float16');
      const f = tensor([1, 2]);
      expect(() => h.add(f)).toThrow("add: arguments 'input' and 'other' must have one float dtype, got float16[2] and float32[2] (no type promotion: cast one with .astype())");
      expect(() => tensor([[1, 2]], undefined, 'float16').matmul(tensor([[1], [2]]))).toThrow(/^matmul: arguments 'input' and 'other' must have one float dtype, got float16\[1, 2\] and float32\[2, 1\]/);
      // a tensor passed twice is named at its first position: the first float argument, then the first of the other dtype
      expect(() => where(h, f, h)).toThrow(/^where: arguments 'condition' and 'input' must have one float dtype, got float16\[2\] and float32\[2\]/);
      expect(() => where(f, h, h)).toThrow(/^where: arguments 'condition' and 'input' must have one float dtype, got float32\[2\] and float16\[2\]/);
      expect(h.mul(2).dtype).toBe('float16'); // a number beside float16 is float16
      expect(where(tensor([1, 0], [2], 'float16'), 3, -1).dtype).toBe('float16'); // two numbers: the condition's dtype
    });
  });

  it('a number beside float16 keeps its float32 value: the op is computed with it and rounded once', async () => {
    await scope(async () => {
      const xs = [1000, 3388, 0.5, -7.25, 65504, 2 ** -24].map(half);
      const x = tensor(xs, [xs.length], 'float16').requiresGrad_();
      // numbers float16 cannot hold (past its range, below its subnormals, between its values) and one it can
      const numbers = [70000, 524288, 1e-8, 0.1, 1 / 3, 0.375];
      type Case = [string, (a: Tensor | number, b: Tensor | number) => Tensor, (a: number, b: number) => number];
      const cases: Case[] = [
        ['add', add, (a, b) => a + b], ['sub', sub, (a, b) => a - b], ['mul', mul, (a, b) => a * b],
        ['div', div, (a, b) => a / b], ['maximum', maximum, Math.max], ['lt', lt, (a, b) => +(a < b)],
      ];
      // float64 of the float16 inputs and the float32 number, rounded to float16 once; within a float16
      // step where WGSL's division may be off by 2.5 float32 ulps and the result lands near a tie
      const close = (got: ArrayLike<number>, want: number[], what: string) =>
        want.forEach((w, i) => expect(Object.is(got[i], w) || Math.abs(got[i]! - w) <= 2 ** -10 * Math.abs(w), `${what}[${i}]: got ${got[i]}, expected ${w}`).toBe(true));
      for (const s of numbers.map(Math.fround)) {
        for (const [name, op, ref] of cases) {
          close(await op(x, s).toArray(), xs.map((v) => half(ref(v, s))), `${name}(x, ${s})`);
          close(await op(s, x).toArray(), xs.map((v) => half(ref(s, v))), `${name}(${s}, x)`);
        }
        const positive = xs.filter((v) => v > 0);
        close(await pow(tensor(positive, [positive.length], 'float16'), s).toArray(), positive.map((v) => half(v ** s)), `pow(x, ${s})`);
      }
      // the gradient too: d(x / s) = 1 / s, rounded once (1 / 70000 is 1.43e-5, not 1 / Inf = 0)
      const y = div(x, 70000);
      expect(y.dtype).toBe('float16');
      y.sum().backward();
      close(await x.grad!.toArray(), xs.map(() => half(1 / Math.fround(70000))), 'grad of x / 70000');
    });
  });

  it("mean's float16 gradient is the upstream gradient / R, rounded once (1 / R is no float16)", async () => {
    await scope(async () => {
      for (const R of [1000, 3, 70000]) {
        const x = zeros([R], 'float16').requiresGrad_();
        x.mean().backward(tensor([60000], [], 'float16')); // a loss scale's worth of gradient
        const got = await x.grad!.toArray();
        expect([got[0], got[R - 1]]).toEqual([half(60000 / R), half(60000 / R)]);
      }
    });
  });

  it('float16 is on exactly where the adapter has shader-f16, and gpt doctor says so', async () => {
    const has = device().info.features.includes('shader-f16');
    expect(profile().f16).toBe(has);
    const r = await gpt('doctor');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(has ? /float16 +yes \(float16 tensors: f16 storage, f32 accumulation/ : /float16 +no \(no shader-f16/);
  });

  it('without shader-f16 every float16 use is an error naming the op', () => {
    scope(() => {
      const h = tensor([1, 2], [2], 'float16');
      setProfile({ f16: false });
      const message = (op: string) => new RegExp(`^${op}: float16 tensors need WebGPU's shader-f16 feature, and .*; use float32$`);
      expect(() => tensor([1, 2], [2], 'float16')).toThrow(message('tensor'));
      expect(() => zeros([2], 'float16')).toThrow(message('zeros'));
      expect(() => arange(0, 2, 1, 'float16')).toThrow(message('arange'));
      expect(() => h.exp()).toThrow(message('exp'));
      expect(() => h.softmax()).toThrow(message('softmax'));
      expect(() => h.div(70000)).toThrow(message('div')); // a number float16 cannot hold: computed in float32 between casts
      expect(() => tensor([1, 2]).astype('float16')).toThrow(message('cast'));
    });
  });
});
