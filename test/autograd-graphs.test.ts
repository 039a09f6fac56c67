// Random graphs on the tape: a few inputs, each value used again and again through broadcasting
// arithmetic and the views and copies (reshape/view, permute, slice, expand, concat, kept-dim sums),
// the sum of every value as the loss. Each input's gradient against central finite differences of a
// float64 interpreter of the same program: what the tape adds up, through aliases of one storage too.
import { beforeAll, describe, it } from 'vitest';
import { concat, type Tensor } from '../src/index.js';
import { checkGrad } from './gradcheck.js';
import { setupDevice } from './helpers.js';
import { broadcastShape, concatRef, expandRef, map, numel, permuteRef, reduce, ref, sliceRef, zipN, type Ref } from '../src/check/reference/index.js';

beforeAll(setupDevice);

/** One instruction: op applied to values a (and b), with a shape or axis argument. */
interface Step {
  op: keyof typeof ENGINE;
  a: number;
  b?: number;
  arg?: number[];
}

type Apply<T> = (a: T, b: T, arg: number[]) => T;

const ENGINE: Record<string, Apply<Tensor>> = {
  tanh: (a) => a.tanh(),
  add: (a, b) => a.add(b),
  mul: (a, b) => a.mul(b),
  sub: (a, b) => a.sub(b),
  view: (a, _, shape) => a.view(shape),
  permute: (a, _, perm) => a.permute(perm),
  slice: (a, _, [axis, start]) => a.slice(axis!, start),
  expand: (a, _, shape) => a.expand(shape),
  sumKeep: (a, _, [axis]) => a.sum(axis, true),
  concat: (a, b) => concat([a, b], 0),
};
const REFERENCE: Record<keyof typeof ENGINE, Apply<Ref>> = {
  tanh: (a) => map(a, Math.tanh),
  add: (a, b) => zipN([a, b], (x, y) => x + y),
  mul: (a, b) => zipN([a, b], (x, y) => x * y),
  sub: (a, b) => zipN([a, b], (x, y) => x - y),
  view: (a, _, shape) => ({ shape, data: a.data }),
  permute: (a, _, perm) => permuteRef(a, perm),
  slice: (a, _, [axis, start]) => sliceRef(a, axis!, start!),
  expand: (a, _, shape) => expandRef(a, shape),
  sumKeep: (a, _, [axis]) => reduce(a, [axis!], 0, (x, y) => x + y, true),
  concat: (a, b) => concatRef([a, b], 0),
};

/** A random program of `length` steps over inputs of `shapes` (values up to 64 elements, rank 3). */
function randomProgram(seed: number, shapes: number[][], length: number): Step[] {
  let s = seed;
  const pick = (n: number) => Math.floor(((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * n);
  const known = shapes.map((x) => [...x]);
  const program: Step[] = [];
  while (program.length < length) {
    const a = pick(known.length);
    const x = known[a]!;
    const b = pick(known.length);
    const y = known[b]!;
    const axis = pick(Math.max(x.length, 1));
    const candidates: [Step, number[]][] = [[{ op: 'tanh', a }, x]];
    for (const op of ['add', 'mul', 'sub']) {
      try {
        candidates.push([{ op, a, b }, broadcastShape(x, y)]);
      } catch {
        // shapes that do not broadcast: not this op
      }
    }
    if (x.length) {
      candidates.push([{ op: 'view', a, arg: [numel(x)] }, [numel(x)]]);
      candidates.push([{ op: 'sumKeep', a, arg: [axis] }, x.map((d, i) => (i === axis ? 1 : d))]);
      if (x[axis]! >= 2) candidates.push([{ op: 'slice', a, arg: [axis, 1] }, x.map((d, i) => (i === axis ? d - 1 : d))]);
      if (y.length === x.length && y.slice(1).every((d, i) => d === x[i + 1])) candidates.push([{ op: 'concat', a, b }, [x[0]! + y[0]!, ...x.slice(1)]]);
    }
    if (x.length >= 2) candidates.push([{ op: 'permute', a, arg: [...x.keys()].reverse() }, [...x].reverse()]);
    if (x.includes(1) || x.length < 3) candidates.push([{ op: 'expand', a, arg: [2, ...x.map((d) => (d === 1 ? 3 : d))] }, [2, ...x.map((d) => (d === 1 ? 3 : d))]]);
    const [step, shape] = candidates[pick(candidates.length)]!;
    if (numel(shape) > 64 || shape.length > 3) continue;
    program.push(step);
    known.push(shape);
  }
  return program;
}

/** Every value the program makes from `inputs` (the inputs first). */
function values<T>(inputs: T[], program: Step[], ops: Record<string, Apply<T>>): T[] {
  const out = [...inputs];
  for (const { op, a, b, arg } of program) out.push(ops[op]!(out[a]!, out[b ?? a]!, arg ?? []));
  return out;
}

describe('random graphs of views and reused values', () => {
  const shapes = [[2, 3], [3], [2, 1]];
  for (let seed = 1; seed <= 30; seed++) {
    it(`program ${seed}`, () => {
      const program = randomProgram(seed, shapes, 16);
      const start = (n: number, k: number) => Array.from({ length: n }, (_, i) => 0.8 * Math.sin(3.1 * (k + seed) + 1.3 * i));
      return checkGrad({
        name: `program ${seed} (${program.map((p) => p.op).join(', ')})`,
        inputs: shapes.map((s, k) => ref(s, start(numel(s), k))),
        engine: (xs) => values(xs, program, ENGINE).map((v) => v.sum()).reduce((acc, v) => acc.add(v)),
        reference: (xs) => ref([], [values(xs, program, REFERENCE).reduce((acc, v) => acc + v.data.reduce((x, y) => x + y, 0), 0)]),
        atol: 3e-3,
      });
    });
  }
});
