// Mixed precision, PyTorch's autocast: inside autocast('float16', fn) the layers compute in
// float16 (their float32 parameters cast on the way in, the casts differentiable so gradients
// reach the float32 master weights in float32); outside, or with 'float32', nothing changes.
// A forward and its backward run inside fn; an async fn keeps the dtype until its promise settles, as
// noGrad keeps its mode, and only in its own tasks (not in another interleaved with it).
// With a CastCache (a training step's: its weights do not change until its optimizer step),
// castForCompute takes a weight's float16 copy from it, cast once with the other weights in a few
// grouped launches, instead of casting at every use in every micro-batch (PyTorch's autocast keeps
// such a cache of its leaf weights' casts within an autocast region). The values are the same, and
// so are the gradients: castCached's backward adds them back as a cast's would, grouped too.
import { carryIntoRecompute } from '../autograd/mode.js';
import { requireF16 } from '../kernels/profile.js';
import { cast, castCached, castInto, Tensor } from '../ops/index.js';
import { AsyncContext } from '../tensor/async-context.js';
import { describeValue } from '../tensor/check.js';
import { keep } from '../tensor/scope.js';

/** The dtypes a model may compute in. */
export const COMPUTE_DTYPES = ['float32', 'float16'] as const;
/** A dtype a model may compute in: 'float32' or 'float16'. */
export type ComputeDtype = (typeof COMPUTE_DTYPES)[number];

const mode = new AsyncContext<{ dtype: ComputeDtype; casts: CastCache | null }>({ dtype: 'float32', casts: null });

/** The dtype layers compute in now. */
export function computeDtype(): ComputeDtype {
  return mode.get().dtype;
}

/**
 * Runs fn with layers computing in `dtype`, float16 copies taken from `casts` where it holds them
 * (an inner autocast without a cache keeps the outer one's); an async fn until its promise
 * settles, as noGrad, in its own tasks only (src/tensor/async-context.ts).
 */
export function autocast<R>(dtype: ComputeDtype, fn: () => R, casts?: CastCache): R {
  if (!COMPUTE_DTYPES.includes(dtype)) throw new Error(`autocast: dtype must be one of ${COMPUTE_DTYPES.join(', ')}, got ${JSON.stringify(dtype)}`);
  if (typeof fn !== 'function') throw new TypeError(`autocast: argument 'fn' must be a function, got ${fn === null ? 'null' : typeof fn}`);
  if (casts !== undefined && !(casts instanceof CastCache)) throw new TypeError(`autocast: argument 'casts' must be a CastCache or undefined, got ${describeValue(casts)}`);
  if (dtype === 'float16') requireF16('autocast'); // before fn: its first layer would refuse it as 'cast', its work before that done
  return mode.run({ dtype, casts: casts ?? mode.get().casts }, fn);
}

/** Runs a function in the autocast mode in force now (dtype and cast cache), later: a checkpoint's recompute, run in the backward. */
function autocastNow(): <R>(fn: () => R) => R {
  const now = mode.get();
  return (fn) => mode.run(now, fn);
}
carryIntoRecompute(autocastNow);

/**
 * `t` as a layer computes with it: under autocast('float16') a float32 tensor (a parameter, an
 * input) cast to float16, differentiably (its copy in the cache, if it has a valid one);
 * otherwise `t` itself, so nothing runs that did not before.
 */
export function castForCompute(t: Tensor): Tensor {
  const { dtype, casts } = mode.get();
  if (dtype !== 'float16' || t.dtype !== 'float32') return t;
  const copy = casts?.copyOf(t);
  return copy ? castCached(t, copy) : cast(t, 'float16');
}

/**
 * Float16 copies of float32 tensors (a model's weights), cast together by castInto. A copy is
 * handed out only while its tensor holds the data it was cast from: the same storage (not
 * replaced by assign or a load) with no in-place write since (an optimizer step, a pruning mask);
 * otherwise castForCompute casts afresh. Dispose it when the step is done.
 */
export class CastCache {
  private readonly copies = new Map<Tensor, { copy: Tensor; storage: object; version: number }>();

  constructor(tensors: readonly Tensor[]) {
    const sources = [...new Set(tensors)].filter((t) => t.dtype === 'float32');
    const copies = sources.map((t) => keep(Tensor.empty(t.shape, 'float16', 'cast cache')));
    try {
      castInto(sources, copies);
    } catch (e) {
      for (const c of copies) c.dispose(); // kept: nothing else would free them
      throw e;
    }
    sources.forEach((t, i) => {
      const storage = t.storage('CastCache');
      this.copies.set(t, { copy: copies[i]!, storage, version: storage.version });
    });
  }

  /** `t`'s float16 copy, or null when there is none or `t`'s data changed since it was cast. */
  copyOf(t: Tensor): Tensor | null {
    const entry = this.copies.get(t);
    const storage = t.isDisposed ? null : t.storage();
    return entry && storage === entry.storage && storage.version === entry.version ? entry.copy : null;
  }

  dispose(): void {
    for (const { copy } of this.copies.values()) copy.dispose();
    this.copies.clear();
  }
}
