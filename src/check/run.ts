// The runner: one drawn call of an op or update against its float64 reference. For an op, the
// result (dtype, shape, values), then for a differentiable one the gradients (gradients.ts); for
// an update, what it writes, and that it leaves the rest alone. Everything runs in a scope, so
// nothing outlives a check; a throw is a failed check, not an escaped error. Each op that takes
// float16 is checked a second time in float16 (sample.ts: how inputs and tolerances change).
import { profile } from '../kernels/profile.js';
import { OPS, Tensor, tensor, UPDATES, type OpName, type UpdateName } from '../ops/index.js';
import { scope } from '../tensor/scope.js';
import { formatShape, sameShape } from '../tensor/shape.js';
import { OP_CASES, UPDATE_CASES } from './cases/index.js';
import { describeMismatch, worstElement } from './compare.js';
import { backpropagate, compareGradients, FD_ELEMENTS, type SampleOptions } from './gradients.js';
import type { Random } from './random.js';
import type { Ref } from './reference/array.js';
import { EXACT, halfGradTol, halfTol, toHalf, type Comparison, type Input } from './sample.js';

export interface CheckResult {
  /** The call: the op and its arguments, tensors as dtype[shape] (marked `grad` where differentiated). */
  what: string;
  /** The largest error over the result and the gradients, as a fraction of the tolerance: ok when <= 1. */
  worst: number;
  /** Why the check failed (the worst element, or what was thrown); absent when it passed. */
  failure?: string;
}

/** The inputs' values as their dtype holds them (a case may have computed float inputs in float64). */
const exact = (i: Input): Ref => ({
  shape: i.ref.shape,
  data: i.dtype === 'float32' ? i.ref.data.map(Math.fround) : i.dtype === 'float16' ? i.ref.data.map(toHalf) : i.ref.data,
});

function toTensor(x: Ref, dtype: Input['dtype'], grad: boolean): Tensor {
  const t =
    dtype === 'int32' ? tensor(Int32Array.from(x.data), x.shape)
    : dtype === 'int8' ? tensor(Int8Array.from(x.data), x.shape)
    : tensor(Float32Array.from(x.data), x.shape, dtype);
  return grad ? t.requiresGrad_() : t;
}

/** The dtype a check runs its float inputs in. */
export type CheckDtype = 'float32' | 'float16';

/** `r` drawing float16 values: every value a case derives from them (a scalar operand too) is exact in float16. */
const halfRandom = (r: Random): Random => ({ ...r, floats: (n, min, max) => Float64Array.from(r.floats(n, min, max), toHalf) });

/** A drawn sample as the float16 pass runs it: float32 inputs become float16, with the case's float16 result dtype and tolerances. */
function asHalf<S extends Comparison>(s: S): S {
  return {
    ...s,
    inputs: s.inputs.map((i) => (i.dtype === 'float32' ? { ...i, dtype: 'float16' } : i)),
    // a float result is float16 when a float input is (comparisons of int32 inputs stay float32)
    dtype: s.half?.dtype ?? (s.dtype === 'int32' || !s.inputs.some((i) => i.dtype === 'float32') ? (s.dtype ?? 'float32') : 'float16'),
    tol: s.half?.tol ?? halfTol(s.tol),
    gradTol: s.half?.gradTol ?? halfGradTol(),
  };
}

function describeArg(a: unknown): string {
  if (a instanceof Tensor) return `${a.describe()}${a.requiresGrad ? ' grad' : ''}`;
  if (Array.isArray(a)) return `[${a.map(describeArg).join(', ')}]`;
  if (a && typeof a === 'object') return `{ ${Object.entries(a).map(([k, v]) => `${k}: ${describeArg(v)}`).join(', ')} }`;
  return String(a);
}
const describeCall = (name: string, args: unknown[]) => `${name}(${args.map(describeArg).join(', ')})`;

/** What `start` gives or throws (synchronously or not), as a value: never an unhandled rejection when left unread. */
const settled = <T>(start: () => Promise<T>): Promise<{ value: T } | { error: unknown }> =>
  (async () => start())().then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );

/** `engine` on tensors made from c.inputs against c.reference: the result, then the gradients asked for. */
export function checkSample(c: Comparison, engine: (ts: Tensor[]) => Tensor, opts: SampleOptions): Promise<CheckResult> {
  return scope(async () => {
    const xs = c.inputs.map(exact);
    const ts = xs.map((x, k) => toTensor(x, c.inputs[k]!.dtype, opts.needsGrad[k]!));
    const what = opts.describe(ts);
    try {
      const y = engine(ts);
      const want = c.reference(xs);
      const dtype = c.dtype ?? 'float32';
      if (y.dtype !== dtype || !sameShape(y.shape, want.shape)) {
        return { what, worst: Infinity, failure: `the result is ${y.describe()}, expected ${dtype}${formatShape(want.shape)}` };
      }
      // the backward is recorded before the first read, so the result and the gradients come back in
      // one wait; a throw of the backward is reported only once the result is found right, as before
      const result = y.toArray();
      const backward = opts.needsGrad.some(Boolean) ? settled(() => backpropagate(ts, y, opts)) : null;
      const forward = worstElement(await result, want.data, c.tol);
      if (forward && forward.ratio > 1) return { what, worst: forward.ratio, failure: `result ${describeMismatch(forward, want.shape, c.tol)}` };
      if (!backward) return { what, worst: forward?.ratio ?? 0 };
      const read = await backward;
      if ('error' in read) throw read.error;
      const grads = compareGradients(c, xs, ts, read.value, opts);
      return { ...grads, what, worst: Math.max(forward?.ratio ?? 0, grads.worst) };
    } catch (e) {
      return { what, worst: Infinity, failure: `threw ${(e as Error).message}` };
    }
  });
}

/** Draws a call of op `name` from `random` and checks it, forward and (where the op has one) backward, in `dtype`. */
function checkOp(name: OpName, random: Random, dtype: CheckDtype = 'float32'): Promise<CheckResult> {
  const sample = dtype === 'float16' ? asHalf(OP_CASES[name].draw(halfRandom(random))) : OP_CASES[name].draw(random);
  const op = OPS[name] as unknown as (...args: unknown[]) => Tensor;
  const differentiable = typeof OPS[name].spec.backward === 'function';
  const candidates = sample.inputs.map((i) => differentiable && i.grad);
  // mostly every input that can take a gradient, now and then a drawn subset (the rules' needsGrad paths)
  const subset = random.int(0, 3) === 0 ? candidates.map((c) => c && random.int(0, 1) === 1) : candidates;
  const needsGrad = subset.some(Boolean) ? subset : candidates;
  const elements = (n: number) => (n <= FD_ELEMENTS ? [...Array(n).keys()] : [0, n - 1, ...random.ints(FD_ELEMENTS - 2, 0, n - 1)]);
  return checkSample(sample, (ts) => op(...sample.args(ts)), { needsGrad, elements, describe: (ts) => describeCall(name, sample.args(ts)) });
}

/** Draws a call of update `name` from `random` and checks what it writes, and that it writes nothing else. */
function checkUpdate(name: UpdateName, random: Random): Promise<CheckResult> {
  const sample = UPDATE_CASES[name].draw(random);
  const update = UPDATES[name] as unknown as (...args: unknown[]) => void;
  return scope(async () => {
    const xs = sample.inputs.map(exact);
    const ts = xs.map((x, k) => toTensor(x, sample.inputs[k]!.dtype, false));
    const what = describeCall(name, sample.args(ts));
    try {
      const written = sample.reference(xs);
      update(...sample.args(ts));
      let worst = 0;
      const got = await Promise.all(ts.map((t) => t.toArray())); // in one wait
      for (const [k, t] of ts.entries()) {
        const { want, tol } = written.find((w) => w.input === k) ?? { want: xs[k]!, tol: EXACT };
        const m = worstElement(got[k]!, want.data, tol);
        if (!m) continue;
        worst = Math.max(worst, m.ratio);
        const role = written.some((w) => w.input === k) ? 'written' : 'left alone';
        if (m.ratio > 1) return { what, worst, failure: `input ${k} (${t.describe()}, ${role}): ${describeMismatch(m, want.shape, tol)}` };
      }
      return { what, worst };
    } catch (e) {
      return { what, worst: Infinity, failure: `threw ${(e as Error).message}` };
    }
  });
}

/** Whether op `name` takes float16 (its first tensor argument does) and its case runs in float16. */
function takesHalf(name: OpName): boolean {
  const first = Object.values(OPS[name].spec.dtypes ?? {}).find((slot) => slot !== null);
  const slot = first && 'list' in first ? first.list : first;
  const dtypes = !slot ? [] : Array.isArray(slot) ? slot : (slot as { optional: readonly string[] }).optional;
  return dtypes.includes('float16') && (OP_CASES[name] as { half?: false }).half !== false;
}

export interface Check {
  /** The entry, with ' (float16)' for its float16 pass. */
  name: string;
  dtype: CheckDtype;
  check: (random: Random) => Promise<CheckResult>;
}

const opNames = Object.keys(OPS) as OpName[];

/** Every entry of the op table with its check, ops then updates, then the float16 pass of the ops that take float16. */
const CHECKS: Check[] = [
  ...opNames.map((name) => ({ name, dtype: 'float32' as const, check: (r: Random) => checkOp(name, r) })),
  ...(Object.keys(UPDATES) as UpdateName[]).map((name) => ({ name, dtype: 'float32' as const, check: (r: Random) => checkUpdate(name, r) })),
  ...opNames.filter(takesHalf).map((name) => ({ name: `${name} (float16)`, dtype: 'float16' as const, check: (r: Random) => checkOp(name, r, 'float16') })),
];

/**
 * Every op checked again in float32 with dims of 0 now and then (where its case allows one: a
 * vocabulary ids index, an axis max reduces stay at least 1): an empty result, the gradients of
 * empty inputs, and those of inputs broadcast against an empty one (zeros), or of a product over
 * K = 0. Run by test/ops.test.ts, not by doctor --check.
 */
export const EMPTY_CHECKS: Check[] = opNames.map((name) => ({ name: `${name} (empty dims)`, dtype: 'float32' as const, check: (r: Random) => checkOp(name, { ...r, emptyDims: true }) }));

/** The checks this adapter runs: the float16 pass only where float16 kernels can run (shader-f16). */
export const availableChecks = (): Check[] => CHECKS.filter((c) => c.dtype === 'float32' || profile().f16);
