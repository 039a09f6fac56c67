// Dynamic loss scaling for mixed-precision training (PyTorch's GradScaler), without a readback:
// the loss is multiplied by `scale` before backward so small float16 gradients do not flush to
// zero; afterwards `unscale` measures the scaled gradients' global norm and, on the GPU, decides
// whether the step is taken (finite gradients: unscaled and clipped through AdamW's multiplier) or
// skipped (an overflow: nothing changes and the scale halves); the scale doubles after
// growthInterval clean steps. The optimizer reads the decision from `control`:
//   loss.mul(scaler.scale).backward(); const norm = scaler.unscale(params, maxNorm); opt.step(scaler.control);
// A step skipped while the scale already is at its floor, MIN_SCALE = 2^-24, is past what any
// scale can help: the backward overflowed float16 (or made a NaN) with everything 2^24 times
// smaller, i.e. unscaled values past 65504 * 2^24 ~ 1.1e12. PyTorch's scaler has no floor: it
// keeps halving the scale and skipping steps.
// One such skip is the rule, not N in a row: it already takes a diverged run (and, from 2^16,
// 40 skips on the way down), and waiting could only burn time, never save weights, since a
// skipped step changes nothing. Given a watch, unscale marks its status then, on the GPU, for
// the training loop to stop at its next readback.
import { clipLimit, full, gradNorm, gradScalerUpdate, MAX_SCALE, MIN_SCALE, scalerFactorRules, scalerStateRules, tensor, type FloorMark, type Tensor } from '../ops/index.js';
import { keep } from '../tensor/scope.js';
import { checkOptionKeys, checkTensor, showValue } from '../tensor/check.js';
import { FLOAT_DTYPES } from '../tensor/tensor.js';
import { checkMaxNorm, owedMultipliers } from './clip.js';
import { float32Grads } from './float32-only.js';

/** The scaler's settings (PyTorch's defaults: initScale 2^16, growth 2, backoff 0.5, growthInterval 2000). */
export interface GradScalerOptions {
  initScale?: number;
  growthFactor?: number;
  backoffFactor?: number;
  growthInterval?: number;
}

/** Where a scaler stands: saved in checkpoints so a resumed run scales as the uninterrupted one. */
export interface GradScalerState {
  scale: number;
  /** Clean steps since the scale last changed. */
  cleanSteps: number;
  /** Steps skipped so far (their gradients overflowed). */
  skippedSteps: number;
}

/** Where a step skipped at the minimum scale is recorded: watchNonFinite's status (int32 [2]), the bits to set and the step. */
export interface FloorWatch extends FloorMark {
  status: Tensor;
}

/**
 * The options with PyTorch's defaults filled in, or a RangeError naming the one out of range: a
 * GradScaler's, checked when it is made (not at the first unscale, under the kernel's name, a
 * backward later), and by a Trainer whatever its dtype resolves to on this adapter.
 */
export function gradScalerSettings(opts: GradScalerOptions): Required<GradScalerOptions> {
  checkOptionKeys('GradScaler', opts, ['initScale', 'growthFactor', 'backoffFactor', 'growthInterval']);
  const { initScale = 2 ** 16, growthFactor = 2, backoffFactor = 0.5, growthInterval = 2000 } = opts;
  if (!(typeof initScale === 'number' && initScale >= MIN_SCALE && initScale <= MAX_SCALE)) throw new RangeError(`GradScaler: initScale must be in [2^-24, 2^24], got ${showValue(initScale)}`);
  const [name, value, , allowed] = scalerFactorRules({ growthFactor, backoffFactor, growthInterval }).find(([, , ok]) => !ok) ?? [];
  if (name) throw new RangeError(`GradScaler: ${name} must be ${allowed}, got ${showValue(value)}`);
  return { initScale, growthFactor, backoffFactor, growthInterval };
}

/** Dynamic loss scaling for float16 training: scaleLoss before backward, unscale after, and AdamW.step(control). */
export class GradScaler {
  /** 0-d float32: what the loss is multiplied by before backward. */
  readonly scale: Tensor;
  /** float32 [4]: this step's gradient multiplier, skip flag, steps skipped, clean steps (AdamW's gradScale). */
  readonly control: Tensor;
  /** Where the scale starts (load({ scale: initScale, cleanSteps: 0, skippedSteps: 0 }) starts it afresh). */
  readonly initScale: number;
  readonly growthFactor: number;
  readonly backoffFactor: number;
  readonly growthInterval: number;
  /** The parameters of the last unscale: their gradients are owed its decision until an AdamW.step(control) takes them. */
  private lastUnscaled: Tensor[] = [];

  constructor(opts: GradScalerOptions = {}) {
    const settings = gradScalerSettings(opts);
    this.initScale = settings.initScale;
    this.growthFactor = settings.growthFactor;
    this.backoffFactor = settings.backoffFactor;
    this.growthInterval = settings.growthInterval;
    this.scale = keep(full([], this.initScale));
    try {
      this.control = keep(full([4], 0));
    } catch (e) {
      this.scale.dispose(); // kept: nothing else would free it
      throw e;
    }
  }

  /**
   * loss × scale (the tensor to call backward() on), in float32: a float16 loss is cast first, as
   * PyTorch's 0-d half loss times its 0-d float scale is float (scaled in float16, 65536 × a loss
   * of 1 or more would overflow).
   */
  scaleLoss(loss: Tensor): Tensor {
    this.assertNotDisposed('scaleLoss');
    checkTensor('GradScaler.scaleLoss', 'loss', loss);
    if (!FLOAT_DTYPES.includes(loss.dtype)) throw new TypeError(`GradScaler.scaleLoss: argument 'loss' must be float32 or float16, got ${loss.describe()}`);
    return (loss.dtype === 'float16' ? loss.astype('float32') : loss).mul(this.scale);
  }

  /**
   * After backward: the global norm of the unscaled gradients of `params` (0-d; not finite when
   * the step is skipped), with this step's decision written to `control`; maxNorm clips the
   * unscaled gradients (Infinity: no clipping). With `floor`, a step skipped while the scale is
   * MIN_SCALE sets the bits floor.flag of floor.status (and the step, if it is the first mark).
   */
  unscale(params: Tensor[], maxNorm: number, floor?: FloorWatch): Tensor {
    this.assertNotDisposed('unscale');
    checkMaxNorm('GradScaler.unscale', maxNorm);
    const norm = full([], 0);
    const unusedClip = full([], 1);
    try {
      const grads = float32Grads('GradScaler.unscale', params);
      // torch refuses a second unscale_ before its update; here each unscale is an update: a second
      // would count the step again and unscale by a scale it just grew or shrank
      const again = params.findIndex((p) => p.grad && grads.includes(p.grad) && owedMultipliers.get(p.grad) === this.control);
      if (again >= 0) throw new Error(`GradScaler.unscale: params[${again}]'s gradient was already unscaled; step with scaler.control (AdamW.step) before unscaling the next backward's gradients`);
      // torch's unscale_ per optimizer, then one update; here each unscale is the update, and its
      // decision would replace the one the last unscale's gradients are still to step with
      // (held by their parameters still: a gradient replaced or disposed is no step's)
      const waiting = this.lastUnscaled.filter((p) => p.grad && !p.grad.isDisposed && owedMultipliers.get(p.grad) === this.control).length;
      if (waiting) throw new Error(`GradScaler.unscale: ${waiting} gradient${waiting === 1 ? ' of its last unscale has' : 's of its last unscale have'} not been stepped with scaler.control yet; unscale every optimizer's parameters in one call (each unscale is the step's update), then step each optimizer with scaler.control`);
      // a clip of the loss-scaled gradients, which this unscale's decision would silently replace
      const clipped = params.findIndex((p) => p.grad && grads.includes(p.grad) && owedMultipliers.get(p.grad)?.rank === 0);
      if (clipped >= 0) throw new Error(`GradScaler.unscale: params[${clipped}]'s gradient was clipped by clipGradNorm, which measured it loss-scaled; pass maxNorm to scaler.unscale(params, maxNorm) instead`);
      gradNorm(grads, Infinity, norm, unusedClip);
      const settings = { maxNorm: clipLimit(maxNorm), growthFactor: this.growthFactor, backoffFactor: this.backoffFactor, growthInterval: this.growthInterval };
      gradScalerUpdate(norm, this.scale, this.control, floor?.status ?? null, settings, floor && { flag: floor.flag, step: floor.step });
      for (const g of grads) owedMultipliers.set(g, this.control); // AdamW.step must be given this decision
      this.lastUnscaled = params.filter((p) => p.grad && grads.includes(p.grad));
    } catch (e) {
      norm.dispose();
      throw e;
    } finally {
      unusedClip.dispose();
    }
    return norm;
  }

  /** The scale and counts, read back (for checkpoints and logs). */
  async state(): Promise<GradScalerState> {
    this.assertNotDisposed('state');
    const [scale, control] = await Promise.all([this.scale.item(), this.control.toArray()]);
    return { scale, cleanSteps: control[3]!, skippedSteps: control[2]! };
  }

  /** Sets the scale and counts (e.g. from a checkpoint); a state out of range (a scale of 0: NaN weights) is refused. */
  load(state: GradScalerState): void {
    this.assertNotDisposed('load'); // before its tensors are staged
    if (typeof state !== 'object' || state === null) throw new TypeError(`GradScaler.load: state must be an object, got ${state}`);
    const [name, value, , allowed] = scalerStateRules(state).find(([, , ok]) => !ok) ?? [];
    if (name) throw new RangeError(`GradScaler.load: state.${name} must be ${allowed}, got ${showValue(value)}`);
    const s = tensor(new Float32Array([state.scale]), []);
    const c = tensor(new Float32Array([0, 0, state.skippedSteps, state.cleanSteps]), [4]);
    this.scale.assign(s);
    this.control.assign(c);
    s.dispose();
    c.dispose();
  }

  /** Each method fails under the op it calls otherwise ('mul: tensor float32[] was used after dispose()'). */
  private assertNotDisposed(op: string): void {
    if (this.scale.isDisposed) throw new Error(`GradScaler.${op}: the scaler was disposed (dispose() frees its scale); make a new GradScaler`);
  }

  dispose(): void {
    this.scale.dispose();
    this.control.dispose();
    this.lastUnscaled = [];
  }
}
