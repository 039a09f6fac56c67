// An op is one entry: its name, the dtypes its tensor arguments take, its shape rule, its forward
// launch and its backward rule (or an explicit NOT_DIFFERENTIABLE), side by side. Applying it
// checks the arguments, runs the forward and, when an input requires grad, records a node that
// holds what the backward rule saved. The engine's ops (src/ops/) are entries of one table,
// src/ops/table.ts; this module only wires an entry into the tape.
import { DeviceLostError } from '../device/lost.js';
import { RankLimitError } from '../kernels/kernel.js';
import { requireF16 } from '../kernels/profile.js';
import { describeValue } from '../tensor/check.js';
import { formatShape, sameShape, type Shape } from '../tensor/shape.js';
import { FLOAT_DTYPES, nextTensorId, Tensor, type DType } from '../tensor/tensor.js';
import { freeOnThrow, untrack } from '../tensor/scope.js';
import { isGradEnabled, noGrad, noteUnrecorded } from './mode.js';
import { Node } from './node.js';

/** What a forward hands its backward; `T` is the tensor type the op's code sees. */
export class OpContext<T extends Tensor = Tensor> {
  readonly saved: T[] = [];
  private readonly versions: number[] = [];
  constructor(
    /** Whether a node is being recorded (if not, save() keeps nothing). */
    readonly recording: boolean,
    /** Per tensor input: does it need a gradient? */
    readonly needsGrad: readonly boolean[],
    /** Per tensor input: its shape (gradients must come back in it). */
    readonly inputShapes: readonly (readonly number[])[],
    /** The result's shape and dtype, from the op's shape rule (where it has one). */
    readonly out: OutputType,
  ) {}

  /** Keeps tensors for the backward rule; the node owns them until backward or release. */
  save(...ts: T[]): void {
    if (!this.recording) return;
    for (const t of ts) {
      const handle = t.alias(t.shape) as T;
      untrack(handle);
      this.saved.push(handle);
      this.versions.push(handle.storage().version);
    }
  }

  /** Throws if a saved tensor was modified in place since it was saved (its gradient would be wrong). */
  checkUnchanged(op: string): void {
    this.saved.forEach((t, i) => {
      if (t.storage().version !== this.versions[i]) {
        throw new Error(
          `backward of '${op}': a ${t.describe()} tensor saved for the gradient was modified in place afterwards ` +
            `(e.g. by an optimizer step); run backward() before updating, or recompute the forward`,
        );
      }
    });
  }

  release(): void {
    for (const t of this.saved.splice(0)) t.dispose();
  }
}

/** What an op without a gradient (a comparison, argmax, a cast) says in place of a backward rule. */
export const NOT_DIFFERENTIABLE = 'not differentiable';

export interface OutputType {
  shape: Shape;
  dtype: DType;
}

/** Gradients for the tensor arguments, in order (null where none is needed). */
export type BackwardRule<A extends unknown[], T extends Tensor = Tensor> = (ctx: OpContext<T>, grad: T, args: NoInfer<A>) => (T | null)[];

/** An op's entry; `T` is the tensor type its code sees (the engine's ops: the core, without methods). */
export interface OpSpec<A extends unknown[], T extends Tensor = Tensor> {
  name: string;
  /** What the leading arguments must be, keyed by their names (error messages use them): see ArgSlot. */
  dtypes?: Record<string, ArgSlot>;
  forward(ctx: OpContext<T>, ...args: A): T;
  /**
   * The result's shape and dtype from the forward's arguments; throws a one-line error naming the op
   * for invalid ones. (After `forward` in an entry: TypeScript infers the arguments' types from it.)
   */
  shape?: (args: NoInfer<A>) => OutputType;
  /**
   * The gradient, or NOT_DIFFERENTIABLE. Receives the forward's arguments again for their shapes
   * and attributes; their data may be gone, use `ctx.saved` for it.
   */
  backward: BackwardRule<A, T> | typeof NOT_DIFFERENTIABLE;
  /** The float tensor arguments may differ in dtype (castCached: a tensor and its copy in another); by default they share one. */
  floatsMayDiffer?: boolean;
}

/** An op as callers use it (arguments P), with its entry (forward arguments A). */
export interface Op<P extends unknown[], A extends unknown[] = P> {
  (...args: P): Tensor;
  readonly spec: OpSpec<A>;
}

/** The tensors among an op's arguments, arrays of tensors included (concat). */
function tensorsIn(args: readonly unknown[]): Tensor[] {
  const found: Tensor[] = [];
  for (const a of args) {
    if (a instanceof Tensor) found.push(a);
    else if (Array.isArray(a)) for (const t of a) if (t instanceof Tensor) found.push(t);
  }
  return found;
}

/**
 * What an op's argument at one position must be: a tensor of these dtypes, `optional(...)` where
 * null or undefined may stand in for it, `listOf(...)` for an array of such tensors (concat, the
 * optimizer's parameter lists), or null for an argument that is not a tensor (an axis, an option)
 * ahead of a later tensor argument.
 */
export type TensorSlot = readonly DType[] | { optional: readonly DType[] };
export type ArgSlot = TensorSlot | { list: TensorSlot } | null;
export const optional = (dtypes: readonly DType[]): TensorSlot => ({ optional: dtypes });
export const listOf = (slot: TensorSlot): ArgSlot => ({ list: slot });

/** Checks one tensor argument (or element `index` of a list argument) `t` against its slot; whether it is a tensor. */
function checkSlot(op: string, arg: string, index: number | null, slot: TensorSlot, t: unknown): t is Tensor {
  const isOptional = !Array.isArray(slot);
  if (isOptional && (t === null || t === undefined)) return false;
  const allowed = isOptional ? (slot as { optional: readonly DType[] }).optional : (slot as readonly DType[]);
  const name = () => (index === null ? arg : `${arg}[${index}]`);
  if (!(t instanceof Tensor)) throw new TypeError(`${op}: argument '${name()}' must be a Tensor, got ${describeValue(t)}`);
  t.storage(op); // use-after-dispose is reported before anything else
  if (!allowed.includes(t.dtype)) {
    const kind = allowed.join(' or ');
    throw new TypeError(`${op}: argument '${name()}' must be ${/^[aeiou]/.test(kind) ? 'an' : 'a'} ${kind} tensor, got ${t.describe()}`);
  }
  return true;
}

/**
 * Checks op `name`'s leading arguments against its entry's slots, keyed by argument name in
 * position order: each tensor present, not disposed, and of an accepted dtype; float16 ones only
 * where the adapter runs float16 kernels. Returns the tensor arguments (list elements included).
 */
export function checkDtypes(op: string, slots: Record<string, ArgSlot> | undefined, args: readonly unknown[]): Tensor[] {
  const tensors: Tensor[] = [];
  let i = 0;
  for (const arg in slots) {
    const slot = slots[arg]!;
    const value = args[i++];
    if (slot === null) continue;
    if (!('list' in slot)) {
      if (checkSlot(op, arg, null, slot, value)) tensors.push(value);
      continue;
    }
    if (!Array.isArray(value)) throw new TypeError(`${op}: argument '${arg}' must be an array of Tensors, got ${describeValue(value)}`);
    for (let j = 0; j < value.length; j++) if (checkSlot(op, arg, j, slot.list, value[j])) tensors.push(value[j] as Tensor);
  }
  if (tensors.some((t) => t.dtype === 'float16')) requireF16(op);
  return tensors;
}

/** The argument names of `tensors` (checkDtypes' result for `args`), for error messages: a tensor passed twice is named where it first appears. */
function argNames(slots: Record<string, ArgSlot> | undefined, args: readonly unknown[]): Map<Tensor, string> {
  const names = new Map<Tensor, string>();
  const name = (t: unknown, arg: string) => t instanceof Tensor && !names.has(t) && names.set(t, arg);
  Object.keys(slots ?? {}).forEach((arg, i) => {
    const value = args[i];
    if (Array.isArray(value)) value.forEach((t, j) => name(t, `${arg}[${j}]`));
    else name(value, arg);
  });
  return names;
}

/**
 * Float tensor arguments of an op share one dtype: float32 and float16 do not mix (no type
 * promotion, unlike PyTorch; cast one side with .astype()). Int32 arguments (indices) and int8
 * ones (quantized weights) may sit beside either.
 */
function checkOneFloat(op: string, tensors: readonly Tensor[], slots: Record<string, ArgSlot> | undefined, args: readonly unknown[]): void {
  let first: Tensor | undefined;
  for (const t of tensors) {
    if (!FLOAT_DTYPES.includes(t.dtype)) continue;
    first ??= t;
    if (t.dtype === first.dtype) continue;
    const names = argNames(slots, args);
    throw new TypeError(
      `${op}: arguments '${names.get(first)}' and '${names.get(t)}' must have one float dtype, got ${first.describe()} and ${t.describe()} (no type promotion: cast one with .astype())`,
    );
  }
}

/**
 * Checks an op's arguments as applying it does first (each tensor present, not disposed, of a dtype
 * its entry takes, the floats of one dtype), naming the op; returns its tensor inputs. A front that
 * reshapes or transposes before calling the op checks them here first, as the caller gave them.
 */
export function checkArgs(spec: Pick<OpSpec<unknown[]>, 'name' | 'dtypes' | 'floatsMayDiffer'>, args: readonly unknown[]): Tensor[] {
  const checked = checkDtypes(spec.name, spec.dtypes, args);
  const inputs = tensorsIn(args);
  // an op without dtype slots (one of a user's) reported a disposed input under its first inner op's name
  for (const t of inputs) t.storage(spec.name);
  if (!spec.floatsMayDiffer) checkOneFloat(spec.name, checked, spec.dtypes, args);
  return inputs;
}

/** Wraps an op entry into the function callers use. */
export function defineOp<A extends unknown[]>(spec: OpSpec<A>): Op<A> {
  const op = (...args: A): Tensor => {
    const inputs = checkArgs(spec, args);
    const out = spec.shape?.(args);
    if (out?.dtype === 'float16') requireF16(spec.name);
    const needsGrad = inputs.map((t) => t.requiresGrad);
    const differentiable = spec.backward !== NOT_DIFFERENTIABLE;
    const recording = differentiable && needsGrad.some(Boolean) && isGradEnabled();
    const ctx = new OpContext(recording, needsGrad, inputs.map((t) => t.shape), out ?? { shape: [], dtype: 'float32' });
    let result: Tensor;
    const firstMade = nextTensorId();
    try {
      // what the forward allocated before it threw (its output, say) is freed with what it saved
      result = speakingFor(spec.name, () => freeOnThrow(() => {
        const returned = noGrad(() => spec.forward(ctx, ...args));
        if (!(returned instanceof Tensor)) throw new TypeError(`${spec.name}: the op's forward must return a Tensor, got ${describeValue(returned)}`);
        // a forward that hands back a tensor it did not make (an input, a parameter or constant it
        // closes over) gets a view of it: that tensor keeps its own gradFn and requiresGrad
        const viewed = returned.id < firstMade ? returned.alias(returned.shape) : returned;
        // one it made recording (under enableGrad) lets go of that graph: the op's node stands for it
        viewed.gradFn?.drop();
        [viewed.gradFn, viewed.requiresGrad] = [null, false];
        if (out && (viewed.dtype !== out.dtype || !sameShape(viewed.shape, out.shape))) {
          throw new Error(`${spec.name}: the forward made ${viewed.describe()}, its shape rule says ${out.dtype}${formatShape(out.shape)}`);
        }
        return viewed;
      }));
    } catch (e) {
      ctx.release(); // no node will own what the forward saved
      throw e;
    }
    if (!recording && differentiable) noteUnrecorded(inputs, result); // a checkpoint's unrecorded forward
    if (recording) {
      if (!FLOAT_DTYPES.includes(result.dtype)) {
        result.dispose();
        ctx.release();
        throw new TypeError(`${spec.name}: a differentiable op must return a float32 or float16 tensor (gradients are float), got ${result.describe()}; an op without a gradient has backward: NOT_DIFFERENTIABLE`);
      }
      const backward = spec.backward as BackwardRule<A>;
      result.requiresGrad = true;
      result.gradFn = new Node(spec.name, (g) => speakingFor(`backward of '${spec.name}'`, () => (ctx.checkUnchanged(spec.name), backward(ctx, g, args))), ctx, inputs);
    }
    return result;
  };
  return Object.assign(op, { spec });
}

/** Runs `work` for `op`: a shape with more dims than a kernel indexes is refused in the words of the op called (the outermost), not of its kernel or of an op it calls. */
function speakingFor<R>(op: string, work: () => R): R {
  try {
    return work();
  } catch (e) {
    if (e instanceof RankLimitError || e instanceof DeviceLostError) e.by(op);
    throw e;
  }
}

/**
 * `op` behind a front that checks or converts the caller's arguments first (numbers into tensors,
 * axes into a sorted list, options into flags) and then calls it: one entry, the caller's signature.
 */
export function withFront<P extends unknown[], A extends unknown[]>(op: Op<A>, front: (...args: P) => Tensor): Op<P, A> {
  // a lost device met converting an argument (a number made a tensor) is met by this op
  const named = (...args: P): Tensor => {
    try {
      return front(...args);
    } catch (e) {
      if (e instanceof DeviceLostError) e.by(op.spec.name);
      throw e;
    }
  };
  return Object.assign(named, { spec: op.spec });
}
