// Batched matrix multiplication C = op(A) · op(B) with NumPy batch broadcasting; op(X) is X, or
// X^T with transA/transB (read transposed by the kernel, never materialised).
//   A [..., M, K] (transA: [..., K, M]) · B [..., K, N] (transB: [..., N, K]) -> C [...batch, M, N]
// Rank-1 operands follow NumPy: a vector A is [1, K], a vector B is [K, 1], and that dim is
// dropped from C (a vector is its own transpose, so its flag changes nothing).
import { checkArgs, defineOp, withFront, type OpContext } from '../autograd/op.js';
import { launchMatmul } from '../kernels/wgsl/matmul.js';
import { matmul2d } from './matmul-blocks.js';
import { broadcastStrides, formatShape, numel, type Shape } from '../tensor/shape.js';
import { assertRank, checkBoolean, describeValue } from '../tensor/check.js';
import { FLOAT_DTYPES, floatType, Tensor } from '../tensor/tensor.js';
import { sumTo } from './broadcast.js';
import { reshape } from './shape.js';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

interface MatmulShape {
  M: number;
  N: number;
  K: number;
  batch: number[];
  out: number[];
}

/** Shapes of op(A) · op(B), or an error naming both shapes and what was expected. */
function matmulShape(op: string, a: Shape, b: Shape, transA: boolean, transB: boolean): MatmulShape {
  const desc = () => `${formatShape(a)}${transA ? '^T' : ''} @ ${formatShape(b)}${transB ? '^T' : ''}`; // for errors only
  const [M, Ka] = transA ? [a.at(-1)!, a.at(-2)!] : [a.at(-2)!, a.at(-1)!];
  const [Kb, N] = transB ? [b.at(-1)!, b.at(-2)!] : [b.at(-2)!, b.at(-1)!];
  if (Ka !== Kb) {
    throw new RangeError(`${op}: inner dimensions differ in ${desc()}: op(A) has ${Ka} columns, op(B) has ${Kb} rows`);
  }
  const ab = a.slice(0, -2);
  const bb = b.slice(0, -2);
  const rank = Math.max(ab.length, bb.length);
  const batch = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const x = ab[ab.length - rank + i] ?? 1;
    const y = bb[bb.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) {
      throw new Error(`${op}: batch dims ${formatShape(ab)} and ${formatShape(bb)} of ${desc()} cannot be broadcast together`);
    }
    batch[i] = x === 1 ? y : x;
  }
  return { M, N, K: Ka, batch, out: [...batch, M, N] };
}

/** C = op(A) · op(B) as a plain tensor (no autograd): the forward, and each gradient term. */
function mm(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
  const s = matmulShape('matmul', a.shape, b.shape, transA, transB);
  const out = Tensor.empty(s.out, a.dtype, 'matmul');
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  // x [B, T, C] · W [C, N]: A's batch folds into M, one [B*T, C] · [C, N] product (a block at a
  // time where a buffer is larger than a binding)
  const folded = !transA && numel(bBatch) === 1;
  if (folded || s.batch.length === 0) {
    matmul2d(a, b, out, { M: folded ? numel(aBatch) * s.M : s.M, N: s.N, K: s.K, transA, transB });
    return out;
  }
  const matrix = (t: Tensor) => t.shape.at(-1)! * t.shape.at(-2)!;
  launchMatmul(a.buffer('matmul'), b.buffer('matmul'), out.buffer(), {
    M: s.M, N: s.N, K: s.K, transA, transB,
    batchShape: s.batch,
    aStrides: broadcastStrides(aBatch, s.batch).map((x) => x * matrix(a)),
    bStrides: broadcastStrides(bBatch, s.batch).map((x) => x * matrix(b)),
    float: floatType(a.dtype),
  });
  return out;
}

/** mm(...) summed down to `shape` (a broadcast input's gradient). */
function mmTo(shape: Shape, a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
  const full = mm(a, b, transA, transB);
  const reduced = sumTo(full, shape);
  full.dispose();
  return reduced;
}

const matmulOp = defineOp({
  name: 'matmul',
  dtypes: { input: FLOAT_DTYPES, other: FLOAT_DTYPES },
  forward(ctx: OpContext, a: Tensor, b: Tensor, transA: boolean, transB: boolean) {
    ctx.save(a, b);
    return mm(a, b, transA, transB);
  },
  shape: ([a, b, transA, transB]) => ({ shape: matmulShape('matmul', a.shape, b.shape, transA, transB).out, dtype: a.dtype }),
  backward(ctx, g, [, , transA, transB]) {
    // C = op(A) op(B):  d op(A) = dC op(B)^T,  d op(B) = op(A)^T dC, and a transposed operand
    // takes the transpose of its term:
    //   dA = dC · op(B)^T          (transA: dA = op(B) · dC^T)
    //   dB = op(A)^T · dC          (transB: dB = dC^T · op(A))
    // each summed over the batch dims its operand was broadcast along.
    const [a, b] = ctx.saved as [Tensor, Tensor];
    const dA = !ctx.needsGrad[0] ? null : transA ? mmTo(a.shape, b, g, transB, true) : mmTo(a.shape, g, b, false, !transB);
    if (!ctx.needsGrad[1]) return [dA, null];
    const aRows = numel(a.shape.slice(0, -1));
    if (!transA && numel(b.shape.slice(0, -2)) === 1 && aRows * g.shape.at(-1)! === g.size) {
      // B shared by the whole batch and A not broadcast: fold the batch into the contraction,
      //   dB = sum_i A_i^T dC_i = [A_1; A_2; ...]^T [dC_1; dC_2; ...]   (one product, no sumTo;
      //   transB: dB = [dC_1; dC_2; ...]^T [A_1; A_2; ...])
      const a2 = a.alias([aRows, a.shape.at(-1)!]);
      const g2 = g.alias([aRows, g.shape.at(-1)!]);
      const d2 = transB ? mm(g2, a2, true, false) : mm(a2, g2, true, false);
      const dB = d2.alias(b.shape);
      for (const t of [a2, g2, d2]) t.dispose();
      return [dA, dB];
    }
    return [dA, transB ? mmTo(b.shape, g, a, true, transA) : mmTo(b.shape, a, g, !transA, false)];
  },
});

/** matmul's options: a misspelt one ({ transposeB: true }) was ignored, a string flag taken as true. */
function checkOptions(opts: unknown): MatmulOptions {
  if (opts === null || typeof opts !== 'object') throw new TypeError(`matmul: argument 'opts' must be { transA?, transB? }, got ${describeValue(opts)}`);
  const unknown = Object.keys(opts).find((k) => k !== 'transA' && k !== 'transB');
  if (unknown) throw new TypeError(`matmul: unknown option '${unknown}'; the options are transA and transB`);
  const { transA, transB } = opts as MatmulOptions;
  if (transA !== undefined) checkBoolean('matmul', 'transA', transA);
  if (transB !== undefined) checkBoolean('matmul', 'transB', transB);
  return opts as MatmulOptions;
}

/**
 * op(a) · op(b) over the last two dims, batch dims broadcast (NumPy's matmul, plus transposes).
 * float32, or float16 (accumulated in float32, rounded once); rank-1 operands are vectors as in NumPy.
 */
export const matmul = withFront(matmulOp, (a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor => {
  const { transA = false, transB = false } = checkOptions(opts);
  checkArgs(matmulOp.spec, [a, b]); // as given: a vector is reshaped below
  assertRank('matmul', a, 1, 'input');
  assertRank('matmul', b, 1, 'other');
  if (a.rank >= 2 && b.rank >= 2) return matmulOp(a, b, transA, transB);
  // vectors: A [K] -> [1, K], B [K] -> [K, 1], then that dim is dropped from the result
  const a2 = a.rank === 1 ? reshape(a, [1, a.shape[0]!]) : a;
  const b2 = b.rank === 1 ? reshape(b, [b.shape[0]!, 1]) : b;
  try {
    const c = matmulOp(a2, b2, a.rank === 1 ? false : transA, b.rank === 1 ? false : transB);
    const shape = c.shape.slice(0, a.rank === 1 ? -2 : -1);
    if (b.rank >= 2) shape.push(c.shape.at(-1)!);
    const out = reshape(c, shape);
    c.dispose();
    return out;
  } finally {
    if (a2 !== a) a2.dispose();
    if (b2 !== b) b2.dispose();
  }
});
