// Cases of the elementwise ops: unary math on its domain, broadcasting arithmetic (a number in place
// of a tensor now and then), comparisons of float32 or int32 with exact ties, and where.
import type { OpName } from '../../ops/index.js';
import type { Tensor } from '../../tensor/tensor.js';
import { bool, broadcastShapes, grid, pick, shape, values } from '../draw.js';
import type { Random } from '../random.js';
import { map, ref, zipN, type Ref } from '../reference/array.js';
import { gelu, geluTanh } from '../reference/math.js';
import { EXACT, floatInput, intInput, type Input, type OpCase, type Sample, type Tolerance } from '../sample.js';

/** f on [lo, hi]; domains keep away from poles and kinks, where finite differences mean nothing. */
function unary(f: (x: number) => number, lo: number, hi: number, avoidZero = false) {
  return {
    draw(r: Random): Sample<[Tensor]> {
      const x = values(r, shape(r), lo, hi);
      if (avoidZero) x.data = x.data.map((v) => (Math.abs(v) < 1e-3 ? 0.5 : v));
      return { inputs: [floatInput(x)], args: ([t]) => [t!], reference: ([a]) => map(a!, f), tol: { atol: 1e-5, rtol: 2e-5 } };
    },
  };
}

type Operand = Tensor | number;

/**
 * Operands of a broadcasting op, the last one now and then replaced by its first value as a number
 * (the ops' scalar front); the reference sees that number as a 0-d array.
 */
function operands<P extends unknown[]>(r: Random, inputs: Input[], call: (xs: Operand[]) => P, f: (...v: number[]) => number, tol: Tolerance): Sample<P> {
  if (r.int(0, 3) > 0) return { inputs, args: call, reference: (xs) => zipN(xs, f), tol };
  const scalar = inputs.at(-1)!.ref.data[0] ?? 1; // 1 in place of an empty one's
  const constant = ref([], [scalar]);
  return { inputs: inputs.slice(0, -1), args: (ts) => call([...ts, scalar]), reference: (xs) => zipN([...xs, constant], f), tol };
}

/** Two operands broadcasting together, drawn by `draw`. */
function binary(f: (x: number, y: number) => number, draw: (r: Random, shapes: number[][]) => [Input, Input], tol = { atol: 1e-5, rtol: 1e-4 }) {
  return {
    draw: (r: Random): Sample<[Operand, Operand]> => operands(r, draw(r, broadcastShapes(r, 2)), ([a, b]) => [a!, b!], f, tol),
  };
}

const floats = (lo: number, hi = 3) => (r: Random, [sa, sb]: number[][]): [Input, Input] => [floatInput(values(r, sa!, lo, hi)), floatInput(values(r, sb!, lo, hi))];

/** pow: a positive base with any exponent, or any base (away from 0) with an integer exponent (no gradient for it). */
function powOperands(r: Random, [sa, sb]: number[][]): [Input, Input] {
  if (bool(r)) return floats(0.1)(r, [sa!, sb!]);
  const base = values(r, sa!, -3, 3);
  base.data = base.data.map((v) => (Math.abs(v) < 0.25 ? v + (v < 0 ? -0.5 : 0.5) : v));
  return [floatInput(base), floatInput(grid(r, sb!, -3, 3), false)];
}

/** maximum: quarter steps, so ties are exact (the gradient splits them, as do central differences). */
const quarterSteps = (r: Random, [sa, sb]: number[][]): [Input, Input] => [floatInput(grid(r, sa!, -3, 3, 0.25)), floatInput(grid(r, sb!, -3, 3, 0.25))];

/**
 * clamp: x off the quarter steps by an eighth, bounds on them, so no x sits on a bound, where torch's
 * gradient (1) is not the central differences' (1/2): test/elementwise.test.ts and ops-parity.test.ts
 * check the bounds themselves. Number bounds (either left out now and then, or beyond the other),
 * or tensor bounds broadcasting with x: min on the half steps, max on the quarters between, so the
 * two never tie (where x < min == max, torch's gradient goes nowhere; central differences split it).
 */
const clamp = {
  draw(r: Random): Sample<[Tensor, Operand | null, Operand | null]> {
    const offGrid = (x: Ref) => ref(x.shape, x.data.map((v) => v + 0.125));
    const f = (v: number, lo = -Infinity, hi = Infinity) => Math.min(Math.max(v, lo), hi);
    if (bool(r)) {
      const x = offGrid(grid(r, shape(r), -3, 3, 0.25));
      const bound = () => (r.int(0, 3) > 0 ? r.int(-12, 12) / 4 : null);
      let [lo, hi] = [bound(), bound()];
      if (lo === null && hi === null) lo = r.int(-12, 12) / 4;
      return { inputs: [floatInput(x)], args: ([t]) => [t!, lo, hi], reference: ([a]) => map(a!, (v) => f(v, lo ?? undefined, hi ?? undefined)), tol: EXACT };
    }
    const [sx, sl, sh] = broadcastShapes(r, 3);
    const x = offGrid(grid(r, sx!, -3, 3, 0.25));
    const lo = grid(r, sl!, -3, 3, 0.5);
    const hi = ref(sh!, grid(r, sh!, -3, 3, 0.5).data.map((v) => v + 0.25));
    const side = r.int(0, 2); // 0: both bounds, 1: min alone, 2: max alone
    if (side === 0) return { inputs: [x, lo, hi].map((v) => floatInput(v)), args: ([t, a, b]) => [t!, a!, b!], reference: (xs) => zipN(xs, f), tol: EXACT };
    const bound = side === 1 ? lo : hi;
    const one = (v: number, b: number) => (side === 1 ? f(v, b) : f(v, undefined, b));
    return { inputs: [floatInput(x), floatInput(bound)], args: ([t, b]) => (side === 1 ? [t!, b!, null] : [t!, null, b!]), reference: (xs) => zipN(xs, one), tol: EXACT };
  },
};

/** Comparisons: integers in [-3, 3] as float32 or int32, so ties are common. */
function compared(r: Random, [sa, sb]: number[][]): [Input, Input] {
  const int = bool(r);
  const make = (s: number[]) => (int ? intInput(grid(r, s, -3, 3)) : floatInput(grid(r, s, -3, 3, pick(r, [1, 0.5])), false));
  return [make(sa!), make(sb!)];
}

const compare = (f: (x: number, y: number) => boolean) => binary((x, y) => +f(x, y), compared, EXACT);

/** where(condition, a, b): a condition of zeros (-0 too) and other values, three shapes broadcasting together. */
const where = {
  draw(r: Random): Sample<[Tensor, Operand, Operand]> {
    const [sc, sa, sb] = broadcastShapes(r, 3);
    const cond = floatInput(ref(sc!, grid(r, sc!, -1, 2).data.map((v) => (v === -1 ? -0 : v))), false);
    const inputs = [cond, floatInput(values(r, sa!)), floatInput(values(r, sb!))];
    return operands(r, inputs, ([c, a, b]) => [c as Tensor, a!, b!], (c, a, b) => (c ? a : b), EXACT);
  },
};

export const ELEMENTWISE_CASES = {
  neg: unary((x) => -x, -3, 3),
  square: unary((x) => x * x, -3, 3),
  abs: unary(Math.abs, -3, 3, true),
  exp: unary(Math.exp, -5, 5),
  log: unary(Math.log, 0.01, 10),
  sqrt: unary(Math.sqrt, 0.01, 10),
  rsqrt: unary((x) => 1 / Math.sqrt(x), 0.05, 10),
  tanh: unary(Math.tanh, -5, 5),
  sigmoid: unary((x) => 1 / (1 + Math.exp(-x)), -12, 12),
  relu: unary((x) => Math.max(x, 0), -3, 3, true),
  gelu: unary(gelu, -5, 5),
  geluTanh: unary(geluTanh, -5, 5),
  add: binary((x, y) => x + y, floats(-3)),
  sub: binary((x, y) => x - y, floats(-3)),
  mul: binary((x, y) => x * y, floats(-3)),
  div: binary((x, y) => x / y, floats(0.5)),
  pow: binary((x, y) => x ** y, powOperands),
  maximum: binary(Math.max, quarterSteps),
  minimum: binary(Math.min, quarterSteps),
  clamp,
  eq: compare((x, y) => x === y),
  ne: compare((x, y) => x !== y),
  lt: compare((x, y) => x < y),
  le: compare((x, y) => x <= y),
  gt: compare((x, y) => x > y),
  ge: compare((x, y) => x >= y),
  where,
} satisfies { [K in OpName]?: OpCase<K> };
