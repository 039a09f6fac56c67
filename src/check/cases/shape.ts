// Cases of broadcasting and the shape ops: expand / sumTo between a shape and one it broadcasts
// from; reshape (a -1 now and then), squeeze / unsqueeze (negative dims, dims of size 1 and not), flatten (ranges, negative dims),
// clone, permute (negative dims too), Python-style slices (negative, clamped and empty bounds),
// concat of 1-3 pieces (empty ones too), stack of 1-3 (some larger than a small binding), on float32 and int32 alike;
// and cast between float32, float16 and int32, saturating out-of-range floats (castCached too).
import { profile } from '../../kernels/profile.js';
import type { OpName } from '../../ops/index.js';
import type { DType, PlainDType, Tensor } from '../../tensor/tensor.js';
import { bool, broadcastFrom, dim, ints, largeShape, permutation, pick, shape, values } from '../draw.js';
import type { Random } from '../random.js';
import { numel, type Ref } from '../reference/array.js';
import { expandRef, sumToRef } from '../reference/broadcast.js';
import { castRef, concatRef, permuteRef, sliceRef, stackRef } from '../reference/indexing.js';
import { EXACT, F16_EPS, floatInput, intInput, type Input, type OpCase, type Sample } from '../sample.js';

/** Values of a shape as float32 (differentiable) or int32 (integers in [-1000, 1000]). */
const anyDtype = (r: Random, s: number[], dtype: DType = pick(r, ['float32', 'int32'])): Input =>
  dtype === 'int32' ? intInput(ints(r, s, -1000, 1000)) : floatInput(values(r, s));

const expand = {
  draw(r: Random): Sample<[Tensor, readonly number[]]> {
    const to = shape(r);
    return { inputs: [floatInput(values(r, broadcastFrom(r, to)))], args: ([t]) => [t!, to], reference: ([a]) => expandRef(a!, to), tol: EXACT };
  },
};

const sumTo = {
  draw(r: Random): Sample<[Tensor, readonly number[]]> {
    const from = shape(r);
    const to = broadcastFrom(r, from);
    return { inputs: [floatInput(values(r, from))], args: ([t]) => [t!, to], reference: ([a]) => sumToRef(a!, to), tol: { atol: 1e-4, rtol: 1e-4 } };
  },
};

/** Another shape of n elements: n's prime factors dealt out to 0-4 dims, ones mixed in (for n = 0, one dim of 0). */
function reshaped(r: Random, n: number): number[] {
  const factors: number[] = n === 0 ? [0] : [];
  for (let p = 2, m = n; m > 1; p++) for (; m % p === 0; m /= p) factors.push(p);
  const dims = Array.from({ length: r.int(factors.length ? 1 : 0, 4) }, () => 1);
  for (const f of factors) dims[r.int(0, dims.length - 1)]! *= f;
  return dims;
}

const reshape = {
  draw(r: Random): Sample<[Tensor, readonly number[]]> {
    const x = anyDtype(r, shape(r));
    const to = reshaped(r, numel(x.ref.shape));
    // -1: inferred; for no elements only in place of the one 0 (beside a 0, any size would fit)
    const inferable = to.length > 0 && (numel(to) > 0 || to.at(-1) === 0);
    const asked = inferable && bool(r) ? to.map((d, i) => (i === to.length - 1 ? -1 : d)) : to;
    return { inputs: [x], args: ([t]) => [t!, asked], reference: ([a]) => ({ shape: to, data: a!.data }), dtype: x.dtype, tol: EXACT };
  },
};

/** A dim of the rank + 1 an unsqueeze or stack may insert at: [-rank - 1, rank], and where it lands. */
function newDim(r: Random, rank: number): { asked: number; at: number } {
  const at = r.int(0, rank);
  return { asked: bool(r) ? at - rank - 1 : at, at };
}

const unsqueeze = {
  draw(r: Random): Sample<[Tensor, number]> {
    const x = anyDtype(r, shape(r, 0, 3));
    const s = x.ref.shape;
    const { asked, at } = newDim(r, s.length);
    const to = [...s.slice(0, at), 1, ...s.slice(at)];
    return { inputs: [x], args: ([t]) => [t!, asked], reference: ([a]) => ({ shape: to, data: a!.data }), dtype: x.dtype, tol: EXACT };
  },
};

/** squeeze of a shape with dims of 1 mixed in: all of them, or one dim (of size 1 or not: then unchanged). */
const squeeze = {
  draw(r: Random): Sample<[Tensor, number?]> {
    const s = shape(r, 0, 3);
    for (let k = r.int(0, 2); k > 0; k--) s.splice(r.int(0, s.length), 0, 1);
    const x = anyDtype(r, s);
    const rank = s.length;
    const ax = r.int(0, 2) === 0 ? undefined : r.int(0, Math.max(rank - 1, 0));
    const asked = ax !== undefined && bool(r) ? ax - Math.max(rank, 1) : ax;
    const to = s.filter((d, i) => d !== 1 || (ax !== undefined && i !== ax));
    return { inputs: [x], args: ([t]) => [t!, asked], reference: ([a]) => ({ shape: to, data: a!.data }), dtype: x.dtype, tol: EXACT };
  },
};

/** flatten of 0-4 dims over a range of them (negative dims, a one-dim range, all by default). */
const flatten = {
  draw(r: Random): Sample<[Tensor, number?, number?]> {
    const x = anyDtype(r, shape(r, 0, 4));
    const s = x.ref.shape;
    const n = Math.max(s.length, 1); // a 0-d tensor's dims are [1]'s
    const all = r.int(0, 2) === 0; // the defaults: every dim
    const a = all ? 0 : r.int(0, n - 1);
    const b = all ? n - 1 : r.int(a, n - 1);
    const dims = s.length ? s : [1];
    const to = [...dims.slice(0, a), numel(dims.slice(a, b + 1)), ...dims.slice(b + 1)];
    const asked = (d: number) => (bool(r) ? d - n : d);
    const args: [number?, number?] = all ? [] : [asked(a), asked(b)];
    return { inputs: [x], args: ([t]) => [t!, ...args], reference: ([a]) => ({ shape: to, data: a!.data }), dtype: x.dtype, tol: EXACT };
  },
};

const clone = {
  draw(r: Random): Sample<[Tensor]> {
    const x = anyDtype(r, bool(r) ? shape(r) : largeShape(r));
    return { inputs: [x], args: ([t]) => [t!], reference: ([a]) => a!, dtype: x.dtype, tol: EXACT };
  },
};

const permute = {
  draw(r: Random): Sample<[Tensor, readonly number[]]> {
    const x = anyDtype(r, shape(r));
    const rank = x.ref.shape.length;
    const perm = permutation(r, rank);
    const asked = perm.map((d) => (bool(r) ? d - rank : d));
    return { inputs: [x], args: ([t]) => [t!, asked], reference: ([a]) => permuteRef(a!, perm), dtype: x.dtype, tol: EXACT };
  },
};

const slice = {
  draw(r: Random): Sample<[Tensor, number, number?, number?]> {
    const x = anyDtype(r, shape(r, 1));
    const rank = x.ref.shape.length;
    const axis = r.int(-rank, rank - 1);
    const bound = () => (bool(r) ? r.int(-8, 8) : r.int(-80, 80));
    const start = r.int(0, 3) === 0 ? undefined : bound();
    const end = bool(r) ? undefined : bound();
    return {
      inputs: [x],
      args: ([t]) => [t!, axis, start, end],
      reference: ([a]) => sliceRef(a!, (axis + rank) % rank, start ?? 0, end),
      dtype: x.dtype,
      tol: EXACT,
    };
  },
};

const concat = {
  draw(r: Random): Sample<[readonly Tensor[], number]> {
    const others = shape(r, 0, 3, 200);
    const rank = others.length + 1;
    const ax = r.int(0, others.length);
    const axis = bool(r) ? ax - rank : ax;
    const dtype = pick<PlainDType>(r, ['float32', 'int32']);
    const piece = () => {
      const len = r.int(0, 4) === 0 ? 0 : dim(r, 13);
      return anyDtype(r, [...others.slice(0, ax), len, ...others.slice(ax)], dtype);
    };
    const pieces = Array.from({ length: r.int(1, 3) }, piece);
    return { inputs: pieces, args: (ts) => [ts, axis], reference: (xs) => concatRef(xs, ax), dtype, tol: EXACT };
  },
};

/** 1-3 tensors of one shape, now and then each larger than a 4 KiB binding, stacked along a new dim. */
const stack = {
  draw(r: Random): Sample<[readonly Tensor[], number]> {
    const s = r.int(0, 3) === 0 ? largeShape(r, 1100, 1500, 3) : shape(r, 0, 3, 1500);
    const { asked, at } = newDim(r, s.length);
    const dtype = pick<PlainDType>(r, ['float32', 'int32']);
    const pieces = Array.from({ length: r.int(1, 3) }, () => anyDtype(r, s, dtype));
    return { inputs: pieces, args: (ts) => [ts, asked], reference: (xs) => stackRef(xs, at), dtype, tol: EXACT };
  },
};

/**
 * Between float32, float16 and int32, or to the same dtype: float32 fractions, now and then beyond
 * the int32 range and float16's (overflow to +-Infinity); any int32; float16 values across its range,
 * subnormals included. Drawn here for every pair, so the case has no float16 pass of its own.
 * Between float dtypes the gradient is the upstream one cast back, the identity's (rounding's
 * derivative taken as 1): exact to float32, rounded once to float16. It is checked against the
 * identity less the drawn point (a constant: the same derivative, but central differences then sum
 * values of the step's size, not of x's), where values stay within 1e5 (beyond, x + h itself loses
 * the step h to rounding) and finite.
 */
const cast = {
  half: false as const,
  draw(r: Random): Sample<[Tensor, PlainDType]> {
    const s = shape(r);
    const dtypes: PlainDType[] = ['float32', 'int32', ...(profile().f16 ? ['float16' as const] : [])];
    const from = pick(r, dtypes);
    const to = pick(r, dtypes);
    const range = from === 'float16' ? pick(r, [[-7e4, 7e4], [-1e-4, 1e-4], [-3, 3]] as const) : pick(r, [[-1e5, 1e5], [-3e9, 3e9], [-7e4, 7e4]] as const);
    // float16 inputs past 65504 hold Infinity, whose central differences are NaN
    const grad = from !== 'int32' && to !== 'int32' && range[1] <= (from === 'float16' ? 65504 : 1e5);
    const x =
      from === 'int32' ? intInput(ints(r, s, -(2 ** 31), 2 ** 31 - 1))
      : { ...floatInput(values(r, s, ...range), grad), dtype: from };
    return {
      inputs: [x],
      args: ([t]) => [t!, to],
      reference: ([a]) => (from === to ? a! : castRef(a!, to)),
      dtype: to,
      tol: EXACT,
      ...castGradient(x, from, to),
    };
  },
};

/**
 * cast's gradient from `from` to `to`, checked as above: the identity less x's drawn point, exact to
 * float32, rounded once to float16. That rounding errs up to F16_EPS an element, so a random
 * direction's sum of them exceeds the root-sum-square of F16_EPS ones now and then (FC_SEED 99999,
 * castCached float16 -> float32: by 1.15 times): twice that.
 */
const castGradient = (x: Input, from: PlainDType, to: PlainDType) => ({
  gradReference: ([a]: Ref[]): Ref => ({ shape: a!.shape, data: a!.data.map((v, i) => v - x.ref.data[i]!) }),
  gradTol: { atol: 1e-5, rtol: to === 'float16' || from === 'float16' ? 2 * F16_EPS : 0 },
});

/**
 * castCached(x, copy) with copy the host's cast of x, between float32 and float16 where the adapter
 * has shader-f16 (to the same dtype too), values within float16's range and its subnormals: copy's
 * values exactly, and cast's gradient, which reaches the leaf x late, through a grouped castInto.
 */
const castCached = {
  half: false as const,
  draw(r: Random): Sample<[Tensor, Tensor]> {
    const s = shape(r);
    const dtypes: PlainDType[] = ['float32', ...(profile().f16 ? ['float16' as const] : [])];
    const [from, to] = [pick(r, dtypes), pick(r, dtypes)];
    const x = { ...floatInput(values(r, s, ...pick(r, [[-6e4, 6e4], [-1e-4, 1e-4], [-3, 3]] as const))), dtype: from };
    const copy = { ...floatInput(castRef(castRef(x.ref, from), to), false), dtype: to };
    return { inputs: [x, copy], args: ([t, c]) => [t!, c!], reference: ([, c]) => c!, dtype: to, tol: EXACT, ...castGradient(x, from, to) };
  },
};

export const SHAPE_CASES = { expand, sumTo, reshape, squeeze, unsqueeze, flatten, clone, permute, slice, concat, stack, cast, castCached } satisfies { [K in OpName]?: OpCase<K> };

