// Bad arguments to the public ops get a one-line TypeError / RangeError naming the op, the argument,
// what is allowed and what was given, instead of a silent coercion ('3' + 1, [1, 2] * 1 = NaN,
// null + 1 = 1) or a wrong value. Values PyTorch accepts (NaN / +-Infinity data and scalars, empty
// sums) come out right, bit for bit.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  add, arange, argmax, cast, chunk, concat, expand, full, geluTanh, linear, logSoftmax, matmul, max, maximum, mean, neg, ones, permute, pow, rand,
  randn, scope, slice, sliceAssign, softmax, split, sum, tensor, transpose, where, zeros, zerosLike, type Tensor,
} from '../src/index.js';
import { Dropout, Generator } from '../src/nn/index.js';
import { setupDevice } from './helpers.js';

beforeAll(setupDevice);

// Arguments of the wrong type reach the ops through `any`, as they would from plain JS.
const bad = (v: unknown) => v as any;

type Case = [what: string, call: (x: Tensor) => unknown, kind: typeof TypeError | typeof RangeError, message: RegExp];

const CASES: Case[] = [
  // tensor(): data, shape, dtype
  ["tensor(['a'])", () => tensor(bad(['a'])), TypeError, /^tensor: argument 'data' must hold only numbers, got string 'a' at \[0\]$/],
  ['ragged rows', () => tensor([[1, 2], [3]]), TypeError,
    /^tensor: argument 'data' must be a rectangular nested array, got array \[3\] at \[1\] where \[0\] has length 2$/],
  ['a number where a row belongs', () => tensor(bad([[1, 2], 3])), TypeError, /rectangular nested array, got number 3 at \[1\]/],
  ['a row where a number belongs', () => tensor(bad([[1, 2], [3, [4]]])), TypeError, /must hold only numbers, got array \[4\] at \[1, 1\]$/],
  ['null in the data', () => tensor(bad([1, null])), TypeError, /must hold only numbers, got null at \[1\]$/],
  ['a string as data', () => tensor(bad('12')), TypeError,
    /^tensor: argument 'data' must be a number, a nested array of numbers or a typed array, got string '12'$/],
  ['bigint data', () => tensor(bad(new BigInt64Array(2))), TypeError, /argument 'data' must be .*, got an object \(BigInt64Array\)$/],
  ['2^40 as int32', () => tensor([2 ** 40], undefined, 'int32'), RangeError,
    /^tensor: argument 'data' must hold integers in \[-2\^31, 2\^31 - 1\] for dtype 'int32', got number 1099511627776 at \[0\]$/],
  ['2^31 as int32', () => tensor([0, 2 ** 31], undefined, 'int32'), RangeError, /got number 2147483648 at \[1\]$/],
  ['NaN as int32', () => tensor([[1], [NaN]], undefined, 'int32'), RangeError, /got number NaN at \[1, 0\]$/],
  ['2.5 from a Float32Array as int32', () => tensor(Float32Array.of(1, 2.5), [2], 'int32'), RangeError, /got number 2.5 at \[1\]$/],
  ["dtype 'bfloat16'", () => tensor([1], undefined, bad('bfloat16')), TypeError,
    /^tensor: argument 'dtype' must be 'float32', 'float16' or 'int32', got string 'bfloat16'$/],
  ['a fractional shape', () => tensor([1, 2], [2.5]), RangeError, /^tensor: argument 'shape' must be an array of non-negative integers, got array \[2.5\]$/],
  ['data that does not fill the shape', () => tensor([1, 2, 3], [2, 2]), RangeError, /^tensor: 3 values do not fill shape \[2, 2\] \(4 elements\)$/],
  // fills
  ['a negative dim', () => zeros([2, -1]), RangeError, /^zeros: argument 'shape' must be an array of non-negative integers, got array \[2, -1\]$/],
  ['a fractional dim', () => ones([1.5]), RangeError, /^ones: argument 'shape' .*, got array \[1.5\]$/],
  // PyTorch's habits: sizes as arguments, zeros(2, 3) (taken, but nothing past the dtype); a dtype in the shape's place, tensor(data, 'int32'),
  // is taken (tensor.test.ts), but not with another dtype after it
  ['an argument past the dtype', () => bad(zeros)(2, 'float32', 3), TypeError, /^zeros: expected a shape \(an array, or dims one by one\) then a dtype, got 1 more argument\(s\) after the dtype$/],
  ['a negative dim as an argument', () => ones(2, -1), RangeError, /^ones: argument 'shape' must be an array of non-negative integers, got array \[2, -1\]$/],
  ['a dtype as shape, then a dtype', () => tensor([[1, 2]], bad('int32'), 'float32'), TypeError,
    /^tensor: argument 'shape' must be an array of non-negative integers, got string 'int32' \(the dtype is the argument after the shape\)$/],
  ['a string dim', () => zeros(bad(['2'])), TypeError, /^zeros: argument 'shape' .*, got array \['2'\] \(holding string '2'\)$/],
  ["dtype 'float64'", () => ones([2], bad('float64')), TypeError, /^ones: argument 'dtype' must be 'float32', 'float16' or 'int32', got string 'float64'$/],
  ["full(shape, '1')", () => full([2], bad('1')), TypeError, /^full: argument 'value' must be a number, got string '1'$/],
  ['2^31 as an int32 fill', () => full([2], 2 ** 31, 'int32'), RangeError,
    /^full: argument 'value' must be an integer in \[-2\^31, 2\^31 - 1\], got number 2147483648$/],
  ['1.5 as an int32 fill', () => full([2], 1.5, 'int32'), RangeError, /^full: argument 'value' .*, got number 1.5$/],
  ['zerosLike of an array', () => zerosLike(bad([1])), TypeError, /^zerosLike: argument 'input' must be a Tensor, got array \[1\]$/],
  // arange
  ['a zero step', () => arange(0, 5, 0), RangeError, /^arange: argument 'step' must be non-zero and point from start to end, got 0 for \[0, 5\)$/],
  ['a step pointing away', () => arange(5, 0), RangeError, /^arange: argument 'step' .*, got 1 for \[5, 0\)$/],
  ['a NaN end', () => arange(0, NaN), RangeError, /^arange: argument 'end' must be a finite number, got number NaN$/],
  ['an infinite end', () => arange(Infinity), RangeError, /^arange: argument 'end' must be a finite number, got number Infinity$/],
  ["arange('5')", () => arange(bad('5')), TypeError, /^arange: argument 'end' must be a finite number, got string '5'$/],
  ['a fractional int32 step', () => arange(0, 2, 0.5, 'int32'), RangeError, /^arange: argument 'step' must be an integer in .*, got number 0.5$/],
  ['int32 values past 2^31 - 1', () => arange(2 ** 31 - 1, 2 ** 31 + 1), RangeError,
    /^arange: argument 'end' must keep int32 values in \[-2\^31, 2\^31 - 1\], got 2147483649 \(last value 2147483648\)$/],
  ["dtype 'bool'", () => arange(3, undefined, 1, bad('bool')), TypeError, /^arange: argument 'dtype'/],
  // kernels take these as float32 uniforms (and may assume finite math): past float32's range they were
  // refused under the kernel's name, as a bug ("fill_f16: uniform 'start' must be a finite float32")
  ['a float16 start past float32', () => arange(1e39, 1e39 + 3e30, 1e30, 'float16'), RangeError, /^arange: argument 'start' must be within float32's range \(\|x\| < 3\.4e38: a kernel takes it as float32\), got number 1e\+39$/],
  // random
  ['no options', () => rand([2], bad(undefined)), TypeError, /^rand: argument 'opts' must be an object with a seed, got undefined$/],
  ['a negative seed', () => rand([2], { seed: -1 }), RangeError, /^rand: argument 'seed' must be a non-negative safe integer, got number -1$/],
  ['a string seed', () => randn([2], { seed: bad('1') }), TypeError, /^randn: argument 'seed' .*, got string '1'$/],
  ['low above high', () => rand([2], { seed: 1, low: 1, high: 0 }), RangeError, /^rand: argument 'high' must be >= low \(1\), got 0$/],
  ['a negative std', () => randn([2], { seed: 1, std: -1 }), RangeError, /^randn: argument 'std' must be >= 0, got -1$/],
  ['a NaN mean', () => randn([2], { seed: 1, mean: NaN }), RangeError, /^randn: argument 'mean' must be a finite number, got number NaN$/],
  ['a std past float32', () => randn([2], { seed: 1, std: 1e39 }), RangeError, /^randn: argument 'std' must be within float32's range \(\|x\| < 3\.4e38: a kernel takes it as float32\), got number 1e\+39$/],
  ['a mean past float32', () => randn([2], { seed: 1, mean: -1e39 }), RangeError, /^randn: argument 'mean' must be within float32's range \(\|x\| < 3\.4e38: a kernel takes it as float32\), got number -1e\+39$/],
  ['a high past float32', () => rand([2], { seed: 1, high: 1e39 }), RangeError, /^rand: argument 'high' must be within float32's range \(\|x\| < 3\.4e38: a kernel takes it as float32\), got number 1e\+39$/],
  // its values were Infinity (computed as low + (high - low) u), where torch's uniform_ refuses the range
  ['high - low past float32', () => rand([2], { seed: 1, low: -3e38, high: 3e38 }), RangeError, /^rand: high - low must be within float32's range \(< 3\.4e38\), got 3e\+38 - -3e\+38$/],
  ['a negative random dim', () => randn([-2], { seed: 1 }), RangeError, /^randn: argument 'shape'/],
  // elementwise
  ["x.add('3')", (x) => x.add(bad('3')), TypeError, /^add: argument 'other' must be a Tensor or a number, got string '3'$/],
  ['x.add([1, 2])', (x) => x.add(bad([1, 2])), TypeError, /^add: argument 'other' .*, got array \[1, 2\]$/],
  ['x.add(null)', (x) => x.add(bad(null)), TypeError, /^add: argument 'other' .*, got null$/],
  ['x.sub(undefined)', (x) => x.sub(bad(undefined)), TypeError, /^sub: argument 'other' .*, got undefined$/],
  ['x.mul(true)', (x) => x.mul(bad(true)), TypeError, /^mul: argument 'other' .*, got boolean true$/],
  ['x.div(1n)', (x) => x.div(bad(1n)), TypeError, /^div: argument 'other' .*, got bigint 1n$/],
  ["pow('2', x)", (x) => pow(bad('2'), x), TypeError, /^pow: argument 'input' .*, got string '2'$/],
  ['maximum(x, {})', (x) => maximum(x, bad({})), TypeError, /^maximum: argument 'other' .*, got an object \(Object\)$/],
  ["x.eq('1')", (x) => x.eq(bad('1')), TypeError, /^eq: argument 'other' /],
  ['where([1], x, x)', (x) => where(bad([1]), x, x), TypeError, /^where: argument 'condition' must be a Tensor, got array \[1\]$/],
  ["where(c, x, 'a')", (x) => where(x, x, bad('a')), TypeError, /^where: argument 'other' must be a Tensor or a number, got string 'a'$/],
  ["neg('a')", () => neg(bad('a')), TypeError, /^neg: argument 'input' must be a Tensor, got string 'a'$/],
  ['add(int32, int32)', () => add(tensor([1], [1], 'int32'), 2), TypeError, /^add: argument 'input' must be a float32 or float16 tensor, got int32\[1\]$/],
  // reductions
  ['sum of an array', () => sum(bad([1, 2])), TypeError, /^sum: argument 'input' must be a Tensor, got array \[1, 2\]$/],
  ["sum(x, '0')", (x) => sum(x, bad('0')), TypeError, /^sum: argument 'axes' must be an integer axis, an array of them or undefined, got string '0'$/],
  ['sum over axis 2 of a matrix', (x) => sum(x.reshape([1, 2]), 2), RangeError,
    /^sum: argument 'axes' must be an integer in \[-2, 1\] for float32\[1, 2\], got number 2$/],
  ['mean over axis 0.5', (x) => mean(x, 0.5), RangeError, /^mean: argument 'axes' must be an integer in \[-1, 0\] for float32\[2\], got number 0.5$/],
  ["max over [0, '1']", (x) => max(x.reshape([1, 2]), bad([0, '1'])), TypeError, /^max: argument 'axes' .*, got string '1'$/],
  ["keepdim 'yes'", (x) => sum(x, 0, bad('yes')), TypeError, /^sum: argument 'keepdim' must be a boolean, got string 'yes'$/],
  ['argmax over [0]', (x) => argmax(x, bad([0])), TypeError, /^argmax: argument 'axis' must be an integer in \[-1, 0\] for float32\[2\], got array \[0\]$/],
  ['the max of nothing', () => max(tensor([])), RangeError,
    /^max: argument 'input' must have elements along the reduced axes, got float32\[0\] reduced over axis 0$/],
  ['the max over an empty axis', () => max(zeros([3, 0]), 1), RangeError, /^max: .* got float32\[3, 0\] reduced over axis 1$/],
  ['the argmax over an empty axis', () => argmax(zeros([0, 2]), 0), RangeError, /^argmax: .* got float32\[0, 2\] reduced over axis 0$/],
  ['expand [2] to [3]', (x) => expand(x, [3]), Error, /^expand: shapes \[2\] and \[3\] cannot be broadcast together$/],
  ['expand [2] to [] ', (x) => expand(x, []), RangeError, /^expand: argument 'shape' must be a shape float32\[2\] broadcasts to, got \[\]$/],
  // shape ops, axes and lists
  ["x.reshape(4)", (x) => x.reshape(4), RangeError, /^reshape: cannot reshape float32\[2\] \(2 elements\) to \[4\]$/],
  ["x.reshape()", (x) => x.reshape(...bad([])), TypeError, /^reshape: argument 'shape' must be an array of integers \(one may be -1\), got undefined$/],
  ['x.reshape([3])', (x) => x.reshape([3]), RangeError, /^reshape: cannot reshape float32\[2\] \(2 elements\) to \[3\]$/],
  // a dim that is no number is named as given: these said 'got [1, 2]' and '[1, 0] is not a permutation', which read as valid
  ["x.reshape(1, '2')", (x) => x.reshape(1, bad('2')), TypeError, /^reshape: argument 'shape' must be an array of integers \(one may be -1\), got array \[1, '2'\]$/],
  ["x.permute(1, '0')", (x) => x.reshape([1, 2]).permute(1, bad('0')), TypeError, /^permute: argument 'dims' must be an array of 2 dims, got array \[1, '0'\]$/],
  ['x.permute(1)', (x) => x.reshape([1, 2]).permute(1), RangeError, /^permute: \[1\] is not a permutation of the 2 dims of float32\[1, 2\]$/],
  ['x.permute([0, 0])', (x) => x.reshape([1, 2]).permute([0, 0]), RangeError, /^permute: \[0, 0\] is not a permutation of the 2 dims of float32\[1, 2\]$/],
  ["x.transpose('0', 1)", (x) => x.reshape([1, 2]).transpose(bad('0'), 1), TypeError,
    /^transpose: argument 'dim0' must be an integer in \[-2, 1\] for float32\[1, 2\], got string '0'$/],
  ["x.softmax('1')", (x) => x.softmax(bad('1')), TypeError, /^softmax: argument 'axis' must be an integer in \[-1, 0\] for float32\[2\], got string '1'$/],
  ['x.slice(1, 0, 1)', (x) => x.slice(1, 0, 1), RangeError, /^slice: argument 'axis' must be an integer in \[-1, 0\] for float32\[2\], got number 1$/],
  ['concat(x, 0)', (x) => concat(bad(x), 0), TypeError, /^concat: argument 'tensors' must be an array of Tensors, got a float32\[2\] tensor$/],
  ["concat([x, 'a'], 0)", (x) => concat(bad([x, 'a']), 0), TypeError, /^concat: argument 'tensors\[1\]' must be a Tensor, got string 'a'$/],
  ['x.matmul([x])', (x) => x.reshape([1, 2]).matmul(bad([x])), TypeError, /^matmul: argument 'other' must be a Tensor, got array \[float32\[2\]\]$/],
  ['x.add([x])', (x) => x.add(bad([x])), TypeError, /^add: argument 'other' must be a Tensor or a number, got array \[float32\[2\]\]$/],
  // a non-tensor first argument: these read its .rank before checking it ("Cannot read properties of null (reading 'rank')")
  ['matmul(null, x)', (x) => matmul(bad(null), x), TypeError, /^matmul: argument 'input' must be a Tensor, got null$/],
  ["permute('a', [0])", () => permute(bad('a'), [0]), TypeError, /^permute: argument 'input' must be a Tensor, got string 'a'$/],
  ['transpose(undefined)', () => transpose(bad(undefined)), TypeError, /^transpose: argument 'input' must be a Tensor, got undefined$/],
  ['slice([1, 2], 0)', () => slice(bad([1, 2]), 0), TypeError, /^slice: argument 'input' must be a Tensor, got array \[1, 2\]$/],
  ['softmax(null)', () => softmax(bad(null)), TypeError, /^softmax: argument 'input' must be a Tensor, got null$/],
  ["logSoftmax('x')", () => logSoftmax(bad('x')), TypeError, /^logSoftmax: argument 'input' must be a Tensor, got string 'x'$/],
  ['sliceAssign(null, x, 0, 0)', (x) => sliceAssign(bad(null), x, 0, 0), TypeError, /^sliceAssign: argument 'dst' must be a Tensor, got null$/],
  // the op is named as it is called
  ["geluTanh('a')", () => geluTanh(bad('a')), TypeError, /^geluTanh: argument 'input' must be a Tensor, got string 'a'$/],
  ['[1, 2] @ [1, 2]', (x) => x.reshape([1, 2]).matmul(x.reshape([1, 2])), RangeError, /^matmul: inner dimensions differ in \[1, 2\] @ \[1, 2\]/],
  ["x.dropout('0.5')", (x) => x.dropout(bad('0.5'), 1), TypeError, /^dropout: argument 'p' must be a number in \[0, 1\], got string '0.5'$/],
  ['x.dropout(1.01)', (x) => x.dropout(1.01, 1), RangeError, /^dropout: argument 'p' must be a number in \[0, 1\], got 1.01$/],
  // at construction, not at the first training forward
  ['new Generator(1.5)', () => new Generator(1.5), RangeError, /^Generator: argument 'seed' must be a safe integer \(negative ones wrap to 64 bits\), got number 1.5$/],
  ["new Generator('7')", () => new Generator(bad('7')), TypeError, /^Generator: argument 'seed' must be a safe integer .*, got string '7'$/],
  ['new Generator(1, NaN)', () => new Generator(1, NaN), RangeError, /^Generator: argument 'offset' must be a safe integer .*, got number NaN$/],
  // BigInt's own words ('The number 1.5 cannot be converted to a BigInt', 'Division by zero'), or a state taken modulo 2^64
  ['rng.nextInt(0)', () => new Generator(0).nextInt(0), RangeError, /^Generator\.nextInt: argument 'n' must be an integer in \[1, 2\^53 - 1\], got number 0$/],
  ['rng.nextInt(1.5)', () => new Generator(0).nextInt(1.5), RangeError, /^Generator\.nextInt: argument 'n' must be an integer in \[1, 2\^53 - 1\], got number 1.5$/],
  ["rng.setState('1.5')", () => new Generator(0).setState('1.5'), RangeError, /^Generator\.setState: argument 'state' must be a state getState\(\) gave \(decimal digits, below 2\^64\), got string '1.5'$/],
  ["rng.setState('2^64')", () => new Generator(0).setState(String(2n ** 64n)), RangeError, /^Generator\.setState: argument 'state' must be .*, got string '18446744073709551616'$/],
  ['rng.setState(7)', () => new Generator(0).setState(bad(7)), TypeError, /^Generator\.setState: argument 'state' must be .*, got number 7$/],
  ['new Dropout(2)', () => new Dropout(2, new Generator(0)), RangeError, /^Dropout: argument 'p' must be a number in \[0, 1\], got 2$/],
  // without a generator it failed at the first training forward, reading 'nextSeed' of undefined
  ['new Dropout(0.1)', () => new Dropout(0.1, bad(undefined)), TypeError, /^Dropout: argument 'rng' must be a Generator, got undefined$/],
  ['ids.eq(2.5)', () => tensor([1, 2], [2], 'int32').eq(2.5), TypeError,
    /^eq: argument 'other' is 2.5, which does not fit the int32 tensor beside it; cast that tensor with .astype\('float32'\) first$/],
  // PyTorch's torch.add(x, y, alpha=2) gave x + y without a word: a binary op takes two operands
  ['add(x, y, { alpha: 2 })', (x) => bad(add)(x, x, { alpha: 2 }), TypeError,
    /^add: takes two arguments \(input, other\), got 3; for PyTorch's alpha write x\.add\(y\.mul\(alpha\)\)$/],
  ['x.sub(y, { alpha: 2 })', (x) => bad(x).sub(x, { alpha: 2 }), TypeError, /^sub: takes two arguments \(input, other\), got 3; for PyTorch's alpha/],
  ['x.lt(1, 2)', (x) => bad(x).lt(1, 2), TypeError, /^lt: takes two arguments \(input, other\), got 3$/],
  ['x.pow(2, 3)', (x) => bad(x).pow(2, 3), TypeError, /^pow: takes two arguments \(input, other\), got 3$/],
  // backward
  ['y.backward(1)', (x) => x.requiresGrad_().sum().backward(bad(1)), TypeError,
    /^backward: argument 'grad' must be a Tensor shaped like float32\[\] \(or omitted for a scalar\), got number 1$/],
  ['y.backward(wrong shape)', (x) => x.requiresGrad_().mul(2).backward(zeros([3])), RangeError, /^backward: gradient shape \[3\] does not match tensor shape \[2\]$/],
];

describe('bad arguments: one-line errors naming the op and the argument', () => {
  for (const [what, call, kind, message] of CASES) {
    it(what, () =>
      scope(() => {
        const x = tensor([1, 2]);
        let error: unknown;
        try {
          call(x);
        } catch (e) {
          error = e;
        }
        expect(error, 'throws').toBeInstanceOf(kind);
        expect((error as Error).message).toMatch(message);
      }));
  }
});

/** The float32 bits of each element. */
const bits = async (t: Tensor) => [...new Uint32Array((await t.toArray()).buffer)];
const f32Bits = (...xs: number[]) => [...new Uint32Array(Float32Array.from(xs).buffer)];
/** Each element as text, so that NaN equals NaN and -0 differs from 0. */
const exact = async (t: Tensor) => [...(await t.toArray())].map(show);
const show = (v: number) => (Object.is(v, -0) ? '-0' : String(v));

describe('values PyTorch accepts come out right', () => {
  it('NaN, +-Infinity and -0 as data and as fill values keep their bits', () =>
    scope(async () => {
      const specials = [NaN, Infinity, -Infinity, -0, 0, 3.5e38];
      expect(await bits(tensor(specials))).toEqual(f32Bits(...specials));
      for (const v of specials) expect(await bits(full([3], v)), `full ${v}`).toEqual(f32Bits(v, v, v));
    }));

  it('NaN and +-Infinity scalars are legitimate operands', () =>
    scope(async () => {
      const x = tensor([1, -2]);
      expect([...(await x.add(NaN).toArray())]).toEqual([NaN, NaN]);
      expect([...(await x.mul(Infinity).toArray())]).toEqual([Infinity, -Infinity]);
      expect([...(await where(tensor([1, 0]), x, -Infinity).toArray())]).toEqual([1, -Infinity]);
    }));

  it('maximum and relu propagate NaN (torch.maximum, torch.relu)', () =>
    scope(async () => {
      const a = tensor([1, NaN, 3, -Infinity, -0]);
      const b = tensor([NaN, 2, 1, -Infinity, 0]);
      expect(await exact(maximum(a, b))).toEqual([NaN, NaN, 3, -Infinity, 0].map(show));
      expect(await exact(a.relu())).toEqual([1, NaN, 3, 0, 0].map(show));
    }));

  it('empty and boundary data', () =>
    scope(async () => {
      expect(tensor([]).shape).toEqual([0]);
      expect(tensor([[]]).shape).toEqual([1, 0]);
      expect([...(await tensor([-(2 ** 31), 2 ** 31 - 1], undefined, 'int32').toArray())]).toEqual([-(2 ** 31), 2 ** 31 - 1]);
      expect([...(await arange(2 ** 31 - 2, 2 ** 31).toArray())]).toEqual([2 ** 31 - 2, 2 ** 31 - 1]);
      expect(arange(3, 3).shape).toEqual([0]);
    }));

  it('int32 tensors compare with integer scalars', () =>
    scope(async () => {
      const ids = tensor([1, 3, 3], undefined, 'int32');
      expect([...(await ids.eq(3).toArray())]).toEqual([0, 1, 1]);
      expect([...(await ids.lt(2).toArray())]).toEqual([1, 0, 0]);
    }));

  it('empty reductions: sum 0, mean NaN; max keeps empty outputs of non-empty rows', () =>
    scope(async () => {
      expect(await sum(tensor([])).item()).toBe(0);
      expect(await mean(tensor([])).item()).toBeNaN();
      expect([...(await mean(zeros([2, 0]), 1).toArray())]).toEqual([NaN, NaN]);
      expect(max(zeros([0, 3]), 1).shape).toEqual([0]);
    }));

  it('argmax without an axis indexes the flattened tensor', () =>
    scope(async () => {
      expect(await argmax(tensor([[1, 5], [7, 2]])).item()).toBe(2);
      expect(argmax(tensor([[1, 5], [7, 2]]), undefined, true).shape).toEqual([1, 1]);
    }));
});

// An op that calls others (matmul's vectors reshaped, linear without a bias, a transpose, split's
// slices, softmax over another axis, a cast to the tensor's own dtype) let the inner op report a
// disposed or mistyped argument: 'reshape: tensor float32[2] was used after dispose()' from
// matmul, 'matmul: arguments 'input' and 'other' ...' from linear, shapes the caller never gave
describe('an op built on others names itself and the arguments as given', () => {
  const gone = (shape: number[]) => {
    const t = zeros(shape);
    t.dispose();
    return t;
  };
  const used = (op: string, shape: string) => new RegExp(`^${op}: tensor float32\\[${shape}\\] was used after dispose\\(\\)$`);
  it('a disposed argument', () =>
    scope(() => {
      const m = ones([2, 2]);
      expect(() => matmul(gone([2]), m)).toThrow(used('matmul', '2'));
      expect(() => matmul(m, gone([2]))).toThrow(used('matmul', '2'));
      expect(() => linear(gone([1, 2]), m)).toThrow(used('linear', '1, 2'));
      expect(() => transpose(gone([2, 2]))).toThrow(used('transpose', '2, 2'));
      expect(() => split(gone([2, 2]), 1)).toThrow(used('split', '2, 2'));
      expect(() => chunk(gone([2, 2]), 2)).toThrow(used('chunk', '2, 2'));
      expect(() => softmax(gone([2, 2]), 0)).toThrow(used('softmax', '2, 2'));
      expect(() => logSoftmax(gone([2, 2]), 0)).toThrow(used('logSoftmax', '2, 2'));
      expect(() => cast(gone([2, 2]), 'float32')).toThrow(used('cast', '2, 2'));
    }));

  it('a mistyped argument, as the caller gave it', () =>
    scope(() => {
      const half = ones([2, 1], 'float16');
      expect(() => matmul(ones([2]), half)).toThrow(/^matmul: arguments 'input' and 'other' must have one float dtype, got float32\[2\] and float16\[2, 1\] \(no type promotion: cast one with \.astype\(\)\)$/);
      expect(() => matmul(tensor([1, 2], [2], 'int32'), half)).toThrow(/^matmul: argument 'input' must be a float32 or float16 tensor, got int32\[2\]$/);
      expect(() => linear(ones([1, 2], 'float16'), ones([3, 2]))).toThrow(/^linear: arguments 'input' and 'weight' must have one float dtype, got float16\[1, 2\] and float32\[3, 2\] \(no type promotion: cast one with \.astype\(\)\)$/);
      expect(() => softmax(tensor([1, 2, 3, 4], [2, 2], 'int32'), 0)).toThrow(/^softmax: argument 'input' must be a float32 or float16 tensor, got int32\[2, 2\]$/);
    }));
});
