// The Tensor users see, in this one file: the tensor core (src/tensor/tensor.ts) with every op of
// the table as a method, each a one-line call into it; and the ops and creation functions typed to
// return it. The layers below (kernels, tensor, autograd, the ops themselves) see the core, which
// has no op methods: none of them can call one, and a module above gets the methods only by
// importing them from here (or the package root), so the compiler sees every dependency.
import { backward } from '../autograd/backward.js';
import { defineOp as defineCoreOp, type OpContext as CoreOpContext, type OpSpec as CoreOpSpec } from '../autograd/op.js';
import { checkDtype } from '../tensor/check.js';
import * as create from '../tensor/create.js';
import type { Shape } from '../tensor/shape.js';
import { Tensor as Core, type DType, type PlainDType } from '../tensor/tensor.js';
import type { DistillOptions } from './distill-loss.js';
import type { TensorOrScalar } from './elementwise.js';
import type { MatmulOptions } from './matmul.js';
import type { Axes } from './reduce.js';
import { mT as mTCore, T as TCore, t as tCore, transpose as transposeCore } from './shape.js';
import { chunk as chunkCore, split as splitCore } from './split.js';
import { topk as topkCore } from './topk.js';
import { OPS, type OpName } from './table.js';
import type { VarianceOptions } from './variance.js';

export type { Axes, DistillOptions, DType, MatmulOptions, Shape, TensorOrScalar, VarianceOptions };

export interface Tensor extends Core {
  grad: Tensor | null;

  // ---- autograd -------------------------------------------------------------------------------
  /**
   * Backpropagates from this tensor (a scalar, or pass its gradient); leaves get `.grad`, summed into
   * what they hold. Once per graph: each node frees what it saved as the sweep passes it, and a
   * second backward through it is refused (no retain_graph; PyTorch lets one through nodes that
   * saved nothing, e.g. x + 1).
   */
  backward(grad?: Tensor): void;
  /** The same data, cut from the graph. */
  detach(): Tensor;

  // ---- elementwise ----------------------------------------------------------------------------
  neg(): Tensor;
  /** x * x; the gradient is 2x */
  square(): Tensor;
  /** |x| (NaN kept); the gradient is sign(x), 0 at 0 */
  abs(): Tensor;
  exp(): Tensor;
  log(): Tensor;
  sqrt(): Tensor;
  /** 1 / sqrt(x) */
  rsqrt(): Tensor;
  tanh(): Tensor;
  /** 1 / (1 + exp(-x)), computed without overflow for any x */
  sigmoid(): Tensor;
  /** max(x, 0), NaN kept */
  relu(): Tensor;
  /** Exact (erf) GELU, as PyTorch's nn.GELU() */
  gelu(): Tensor;
  /** GPT-2's tanh approximation of GELU */
  geluTanh(): Tensor;
  /** this + other, broadcasting; numbers allowed. Float tensors of one dtype: no type promotion, no int32 arithmetic (PyTorch has both). */
  add(other: TensorOrScalar): Tensor;
  sub(other: TensorOrScalar): Tensor;
  mul(other: TensorOrScalar): Tensor;
  div(other: TensorOrScalar): Tensor;
  pow(exponent: TensorOrScalar): Tensor;
  /** Elementwise maximum; NaN propagates, as torch.maximum */
  maximum(other: TensorOrScalar): Tensor;
  /** Elementwise minimum; NaN propagates, ties split the gradient, as torch.minimum */
  minimum(other: TensorOrScalar): Tensor;
  /** Held within [min, max] (numbers, or tensors of this dtype broadcasting with it; either may be null), as torch.clamp: NaN kept, max wins where min > max; the gradient is 1 where min <= x <= max, bounds included, 0 elsewhere (int32: no gradient). */
  clamp(min?: TensorOrScalar | null, max?: TensorOrScalar | null): Tensor;
  /** 1.0 where equal, 0.0 elsewhere (operands of one dtype; float16 ones give float16, others float32) */
  eq(other: TensorOrScalar): Tensor;
  ne(other: TensorOrScalar): Tensor;
  lt(other: TensorOrScalar): Tensor;
  le(other: TensorOrScalar): Tensor;
  gt(other: TensorOrScalar): Tensor;
  ge(other: TensorOrScalar): Tensor;

  // ---- reductions and shapes ------------------------------------------------------------------
  /** Sum over `axes` (all by default; an empty list reduces none, NumPy's reading, where PyTorch's sum(dim=[]) reduces all). */
  sum(axes?: Axes, keepdim?: boolean): Tensor;
  mean(axes?: Axes, keepdim?: boolean): Tensor;
  /** IEEE max over `axes` (torch.amax: values only): NaN if any reduced element is NaN; the gradient is shared by the tied maxima (the NaNs, where amax's is NaN everywhere). */
  max(axes?: Axes, keepdim?: boolean): Tensor;
  /** IEEE min over `axes` (torch.amin: values only), as max. */
  min(axes?: Axes, keepdim?: boolean): Tensor;
  /** Index (int32) of the first maximum along `axis`, or into the flattened tensor. */
  argmax(axis?: number, keepdim?: boolean): Tensor;
  /** The k largest along `axis` (the last by default), largest first, and their int32 indices, as torch.topk (ties: the lower index first; NaN largest). */
  topk(k: number, axis?: number): [values: Tensor, indices: Tensor];
  /** Index (int32) of the first minimum along `axis`, or into the flattened tensor. */
  argmin(axis?: number, keepdim?: boolean): Tensor;
  /** Variance over `axes` (all by default), torch.var's: divided by N - correction (1 unless given; 0: biased). */
  var(axes?: Axes, opts?: VarianceOptions): Tensor;
  /** Standard deviation over `axes`: the square root of var, with its correction. */
  std(axes?: Axes, opts?: VarianceOptions): Tensor;
  /** This broadcast to `shape` (materialised), given as one array or as the dims (x.expand(4, -1)). */
  expand(shape: Shape): Tensor;
  expand(...shape: number[]): Tensor;
  /** Same data, another shape (one dimension may be -1), given as one array or as the dims (x.reshape(2, -1)); free. */
  reshape(shape: Shape): Tensor;
  reshape(...shape: number[]): Tensor;
  /** reshape under PyTorch's name: the same storage, and the gradient flows through it. */
  view(shape: Shape): Tensor;
  view(...shape: number[]): Tensor;
  /** Dims startDim..endDim (inclusive, all by default) merged into one, as torch.flatten; free. */
  flatten(startDim?: number, endDim?: number): Tensor;
  /** A dim of size 1 inserted at `dim` (in [-rank - 1, rank]), as torch.unsqueeze; free: the same storage. */
  unsqueeze(dim: number): Tensor;
  /** Without its dims of size 1 (all, or `dim` alone: unchanged where its size is not 1), as torch.squeeze; free. */
  squeeze(dim?: number): Tensor;
  /** A copy in storage of its own; the gradient flows through, as torch.clone. */
  clone(): Tensor;
  /** Out dim k is this tensor's dim dims[k]; the dims as one array or one by one (x.permute(2, 0, 1)). */
  permute(dims: readonly number[]): Tensor;
  permute(...dims: number[]): Tensor;
  /** Swaps two dims (the last two by default). */
  transpose(d0?: number, d1?: number): Tensor;
  /** A matrix transposed (rank <= 2; rank 0 and 1 as they are), as torch's x.t(). */
  t(): Tensor;
  /** t() as a property, as torch's x.T (rank <= 2 only: above, torch 1.13 reverses all dims with a deprecation warning, which it also gives for rank 1). A new tensor at each read. */
  readonly T: Tensor;
  /** The last two dims swapped (rank >= 2), as torch's x.mT. A new tensor at each read. */
  readonly mT: Tensor;
  /** Elements [start, end) along `axis`, Python-style bounds. */
  slice(axis: number, start?: number, end?: number): Tensor;
  /** Cut along `axis` (0 by default) into pieces of a size (the last smaller) or of the sizes listed, as torch.split. */
  split(sizeOrSections: number | readonly number[], axis?: number): Tensor[];
  /** Cut along `axis` (0 by default) into `chunks` pieces of ceil(n / chunks) elements (fewer where they run out), as torch.chunk. */
  chunk(chunks: number, axis?: number): Tensor[];
  /** This converted to `dtype` (this itself, as a view, where it has that dtype already). */
  astype(dtype: PlainDType): Tensor;
  /** astype under PyTorch's name (a dtype only: there is one device). */
  to(dtype: PlainDType): Tensor;
  /** astype('float32'), as torch's x.float() */
  float(): Tensor;
  /** astype('float16'), as torch's x.half() */
  half(): Tensor;
  /** astype('int32'), as torch's x.int() (floats rounded toward 0) */
  int(): Tensor;

  // ---- neural-network ops ---------------------------------------------------------------------
  /** op(this) · op(other) over the last two dims, batch dims broadcast (NumPy's matmul). */
  matmul(other: Tensor, opts?: MatmulOptions): Tensor;
  /** Rows of this [V, C] table at int32 `ids`: [...ids.shape, C]. */
  embedding(ids: Tensor): Tensor;
  /** Inverted dropout with drop probability p, reproducible from `seed`. */
  dropout(p: number, seed: number, training?: boolean): Tensor;
  /** Along `axis` (the last, -1, by default; another is transposed to the last around the kernel). */
  softmax(axis?: number): Tensor;
  /** Along `axis`, as softmax. */
  logSoftmax(axis?: number): Tensor;
  /** Normalised over the last axis, then * weight + bias; the weight is required (PyTorch's may be None: pass ones). */
  layerNorm(weight: Tensor, bias?: Tensor | null, eps?: number): Tensor;
  /** gelu(this + bias), bias along the last axis. */
  biasGelu(bias: Tensor): Tensor;
}

type Methods = Omit<Tensor, keyof Core | Getter>;
type Getter = 'T' | 'mT';

/** A shape given as one array or as its dims one by one (PyTorch's x.reshape(2, -1)); anything else goes on as given, for the op to refuse (none at all as undefined: not the shape []). */
const dimsOf = (args: readonly unknown[]): any => (args.length === 1 && typeof args[0] !== 'number' ? args[0] : args.length ? args : undefined);

const methods: Methods & ThisType<Tensor> = {
  backward(grad) { backward(this, grad); },
  detach() {
    this.storage('detach');
    return this.alias(this.shape) as Tensor;
  },
  neg(...extra) { return ops.neg(this, ...extra); },
  square(...extra) { return ops.square(this, ...extra); },
  abs(...extra) { return ops.abs(this, ...extra); },
  exp(...extra) { return ops.exp(this, ...extra); },
  log(...extra) { return ops.log(this, ...extra); },
  sqrt(...extra) { return ops.sqrt(this, ...extra); },
  rsqrt(...extra) { return ops.rsqrt(this, ...extra); },
  tanh(...extra) { return ops.tanh(this, ...extra); },
  sigmoid(...extra) { return ops.sigmoid(this, ...extra); },
  relu(...extra) { return ops.relu(this, ...extra); },
  gelu(...extra) { return ops.gelu(this, ...extra); },
  geluTanh(...extra) { return ops.geluTanh(this, ...extra); },
  add(other, ...extra) { return ops.add(this, other, ...extra); },
  sub(other, ...extra) { return ops.sub(this, other, ...extra); },
  mul(other, ...extra) { return ops.mul(this, other, ...extra); },
  div(other, ...extra) { return ops.div(this, other, ...extra); },
  pow(exponent, ...extra) { return ops.pow(this, exponent, ...extra); },
  maximum(other, ...extra) { return ops.maximum(this, other, ...extra); },
  minimum(other, ...extra) { return ops.minimum(this, other, ...extra); },
  clamp(min, max, ...extra) { return ops.clamp(this, min, max, ...extra); },
  eq(other, ...extra) { return ops.eq(this, other, ...extra); },
  ne(other, ...extra) { return ops.ne(this, other, ...extra); },
  lt(other, ...extra) { return ops.lt(this, other, ...extra); },
  le(other, ...extra) { return ops.le(this, other, ...extra); },
  gt(other, ...extra) { return ops.gt(this, other, ...extra); },
  ge(other, ...extra) { return ops.ge(this, other, ...extra); },
  sum(axes, keepdim) { return ops.sum(this, axes, keepdim); },
  mean(axes, keepdim) { return ops.mean(this, axes, keepdim); },
  max(axes, keepdim) { return ops.max(this, axes, keepdim); },
  min(axes, keepdim) { return ops.min(this, axes, keepdim); },
  argmax(axis, keepdim) { return ops.argmax(this, axis, keepdim); },
  argmin(axis, keepdim) { return ops.argmin(this, axis, keepdim); },
  topk(k, axis) { return topk(this, k, axis); },
  var(axes, opts) { return ops.var(this, axes, opts); },
  std(axes, opts) { return ops.std(this, axes, opts); },
  expand(...shape: unknown[]) { return ops.expand(this, dimsOf(shape)); },
  reshape(...shape: unknown[]) { return ops.reshape(this, dimsOf(shape)); },
  view(...shape: unknown[]) { return ops.reshape(this, dimsOf(shape)); },
  flatten(startDim, endDim) { return ops.flatten(this, startDim, endDim); },
  unsqueeze(dim) { return ops.unsqueeze(this, dim); },
  squeeze(dim) { return ops.squeeze(this, dim); },
  clone() { return ops.clone(this); },
  permute(...dims: unknown[]) { return ops.permute(this, dimsOf(dims)); },
  transpose(d0, d1) { return transpose(this, d0, d1); },
  t() { return t(this); },
  slice(axis, start, end) { return ops.slice(this, axis, start, end); },
  split(sizeOrSections, axis) { return split(this, sizeOrSections, axis); },
  chunk(chunks, axis) { return chunk(this, chunks, axis); },
  astype(dtype) { return ops.cast(this, dtype); },
  to(dtype) { return ops.cast(this, checkDtype('to', dtype)); },
  float() { return ops.cast(this, 'float32'); },
  half() { return ops.cast(this, 'float16'); },
  int() { return ops.cast(this, 'int32'); },
  matmul(other, opts) { return ops.matmul(this, other, opts); },
  embedding(ids) { return ops.embedding(this, ids); },
  dropout(p, seed, training) { return ops.dropout(this, p, seed, training); },
  softmax(axis) { return ops.softmax(this, axis); },
  logSoftmax(axis) { return ops.logSoftmax(this, axis); },
  layerNorm(weight, bias, eps) { return ops.layerNorm(this, weight, bias, eps); },
  biasGelu(bias) { return ops.biasGelu(this, bias); },
};
for (const [name, fn] of Object.entries(methods)) Object.defineProperty(Core.prototype, name, { value: fn, writable: true, configurable: true });
const getters: Record<Getter, (this: Tensor) => Tensor> = {
  T() { return T(this); },
  mT() { return mT(this); },
};
for (const [name, get] of Object.entries(getters)) Object.defineProperty(Core.prototype, name, { get, configurable: true });

/** A table entry called by users: the same arguments, the result typed as this module's Tensor. */
type Lifted<F> = F extends (...args: infer P) => Core ? (...args: P) => Tensor : never;
type LiftedAll<T> = { [K in keyof T]: Lifted<T[K]> };

/** Every op of the table, returning this module's Tensor. */
export const ops = OPS as unknown as LiftedAll<typeof OPS>;
export type { OpName };
export const {
  neg, square, abs, exp, log, sqrt, rsqrt, tanh, sigmoid, relu, gelu, geluTanh,
  add, sub, mul, div, pow, maximum, minimum, eq, ne, lt, le, gt, ge, where, clamp,
  expand, sumTo, sum, mean, max, min, argmax, argmin, topkValues, topkIndices, std, reshape, squeeze, unsqueeze, flatten, clone, permute, slice, concat, stack, cast, castCached,
  matmul, linear, embedding, dropout, softmax, logSoftmax, layerNorm, crossEntropy, linearCrossEntropy, distillLoss, causalAttention, biasGelu,
  penalizeLogits, banRepeatedNgrams, sampleLogits, speculativeSample,
  linearInt8, embeddingInt8, linearInt4,
} = ops;
export { checkSamplingOptions, MIN_TEMPERATURE, SAMPLING_KEYS, type SamplingOptions } from './sample.js';
export { checkPenaltyOptions, countTokens, hasPenalties, type PenaltyOptions } from './penalty.js';
export { MAX_DISTILL_TEMPERATURE } from './distill-loss.js';
/** The table itself (entries with their specs), for code that iterates the ops: src/check, tests. */
export { OPS, UPDATES, type UpdateName } from './table.js';
export { adamw, type AdamWHyper } from './adamw.js';
export { clipLimit, gradNorm } from './grad-norm.js';
export { gradScalerUpdate, scalerFactorRules, scalerStateRules, MAX_SCALE, MIN_SCALE, type FloorMark, type ScalerSettings } from './grad-scaler.js';
export { watchNonFinite } from './finite.js';
export { quantizeRowsInt8 } from './int8.js';
export { int4GroupProblem, quantizeGroupsInt4 } from './int4.js';
import { quantizeInt8 as quantizeInt8Core } from './int8.js';
/** A float32 weight [N, K] as int8 Q [N, K] and per-row scales [N] (see quantizeRowsInt8). */
export const quantizeInt8 = quantizeInt8Core as unknown as (w: Tensor) => Promise<{ q: Tensor; scale: Tensor }>;
export { maskInPlace } from './mask.js';
export { checkDropProbability } from './dropout.js';
export { castInto } from './cast-into.js';
export { sliceAssign } from './shape.js';
import { cat as catCore } from './shape.js';
/** concat under PyTorch's name (torch.cat): `tensors` of one dtype joined along `dim` (0 by default); the other dims must agree. */
export const cat = catCore as unknown as (tensors: readonly Tensor[], dim?: number) => Tensor;

/** Variance over `axes` (all by default), torch.var's (var is a reserved word: `import { var as variance }`, or ops.var, x.var()). */
const variance = ops.var;
export { variance as var };

/** Swaps two dims (the last two by default): a permute. */
export const transpose = transposeCore as Lifted<typeof transposeCore>;
// x.t(), x.T and x.mT are methods only (not root exports): permute and transpose do it as functions
const [t, T, mT] = [tCore, TCore, mTCore] as Lifted<typeof tCore>[];
/** `t` cut along `axis` (0 by default) into pieces of a size (the last smaller) or of the sizes listed, as torch.split. */
export const split = splitCore as unknown as (t: Tensor, sizeOrSections: number | readonly number[], axis?: number) => Tensor[];
/** `t` cut along `axis` (0 by default) into `chunks` pieces of ceil(n / chunks) elements (fewer where they run out), as torch.chunk. */
export const chunk = chunkCore as unknown as (t: Tensor, chunks: number, axis?: number) => Tensor[];
/** The k largest elements of `x` along `axis` (the last by default), largest first, and their int32 indices, as torch.topk (ties: the lower index first; NaN largest). */
export const topk = topkCore as unknown as (x: Tensor, k: number, axis?: number) => [values: Tensor, indices: Tensor];

// ---- creating tensors -------------------------------------------------------------------------
/** The Tensor class (for `instanceof` and Tensor.empty), typed as this module's Tensor. */
export const Tensor = Core as unknown as {
  new (...args: ConstructorParameters<typeof Core>): Tensor;
  prototype: Tensor;
  /** An uninitialised tensor; `label` names its buffer in GPU error messages. */
  empty(shape: Shape, dtype?: DType, label?: string): Tensor;
};
export const tensor = create.tensor as unknown as {
  (data: create.TensorInput, shape?: Shape, dtype?: DType): Tensor;
  /** The dtype without a shape, as torch.tensor(data, dtype=torch.int32): tensor([1, 2], 'int32'). */
  (data: create.TensorInput, dtype: DType): Tensor;
};
export const full = create.full as Lifted<typeof create.full>;
export const zeros = create.zeros as unknown as create.SizedFill<Tensor>;
export const ones = create.ones as unknown as create.SizedFill<Tensor>;
export const zerosLike = create.zerosLike as Lifted<typeof create.zerosLike>;
export const onesLike = create.onesLike as Lifted<typeof create.onesLike>;
export const arange = create.arange as Lifted<typeof create.arange>;
export const rand = create.rand as Lifted<typeof create.rand>;
export const randn = create.randn as Lifted<typeof create.randn>;

// ---- ops of your own --------------------------------------------------------------------------
/** An op's entry as its code sees tensors: with their methods. */
export type OpSpec<A extends unknown[]> = CoreOpSpec<A, Tensor>;
export type OpContext = CoreOpContext<Tensor>;

/** Defines an op of your own, forward and backward together (see src/autograd/op.ts). */
export const defineOp = defineCoreOp as unknown as <A extends unknown[]>(spec: OpSpec<A>) => (...args: A) => Tensor;
