// AdamW (Loshchilov & Hutter) with decoupled weight decay applied only to parameters of rank >= 2
// (matmul and embedding weights), as nanoGPT does; biases and LayerNorm gains are not decayed.
// The moments of the parameters live back to back in flat buffers, so a step is one fused `adamw`
// op (src/ops/adamw.ts), a few in-place dispatches, per shard: a run of consecutive parameters whose
// moments fit one buffer (maxBufferSize; one shard for all but models of billions of parameters).
// Gradient clipping enters as a GPU-side scale factor, so a step never waits for the GPU.
import { heldGrad } from '../autograd/backward.js';
import { device } from '../device/device.js';
import { profile } from '../kernels/profile.js';
import { adamw, full, Tensor, zeros } from '../ops/index.js';
import { groupMembers, readStateDict, type AdamWParamGroup, type AdamWParamState, type AdamWStateDict, type AdamWStateDictInput, type Moment } from './adamw-state.js';
import { keep } from '../tensor/scope.js';
import { checkFloat32, checkNonNegative, checkOptionKeys, checkTensor, describeValue } from '../tensor/check.js';
import { owedMultipliers } from './clip.js';
import { checkFloat32Params } from './float32-only.js';
import type { GradScaler } from './grad-scaler.js';
import { MissedSkips } from './missed-skips.js';

/** AdamW's hyperparameters (defaults: lr 1e-3, betas [0.9, 0.999], eps 1e-8, weightDecay 0.01). */
export interface AdamWOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  /**
   * Decoupled weight decay, applied to parameters of rank >= 2 only (nanoGPT's groups): unlike
   * torch.optim.AdamW, which decays every parameter given, biases and LayerNorm gains are not decayed.
   */
  weightDecay?: number;
}

export type { Moment } from './adamw-state.js';

/** The moments of the parameters `first` to `end - 1`, back to back in `m` and `v`. */
export interface MomentShard {
  first: number;
  end: number;
  m: Tensor;
  v: Tensor;
}

/** A hyperparameter the kernel takes as a float32 uniform: NaN would reach every parameter, a string would be coerced. */
const checkSetting = (op: string, arg: string, value: unknown): number => checkFloat32(op, arg, checkNonNegative(op, arg, value));

/** The hyperparameters, checked: by the constructor, and by each step (they are set between steps: a schedule, loadStateDict). */
function checkHyper(op: string, { lr, betas, eps, weightDecay }: { lr: unknown; betas: unknown; eps: unknown; weightDecay: unknown }): Required<AdamWOptions> {
  const checkedLr = checkSetting(op, 'lr', lr);
  if (!Array.isArray(betas) || betas.length !== 2 || betas.some((b) => typeof b !== 'number' || !(b >= 0 && b < 1))) {
    throw new RangeError(`${op}: argument 'betas' must be two numbers in [0, 1), got ${describeValue(betas)}`);
  }
  return { lr: checkedLr, betas: betas as [number, number], eps: checkSetting(op, 'eps', eps), weightDecay: checkSetting(op, 'weightDecay', weightDecay) };
}

/**
 * The constructor's `moments`, { m, v } alone: readMoments' `steps` beside them would be dropped without
 * a word (every parameter starting at step 1, its moments not new), where loadMoments takes them.
 */
function adoptable(moments: unknown): { m: Moment[]; v: Moment[] } {
  const keys = moments !== null && typeof moments === 'object' && !Array.isArray(moments) ? Object.keys(moments).sort().join() : null;
  if (keys !== 'm,v') {
    throw new TypeError(`AdamW: argument 'moments' must be { m, v } alone (readMoments' steps are loadMoments' to take), got ${keys === null ? describeValue(moments) : `an object with keys ${keys.replaceAll(',', ', ') || 'none'}`}`);
  }
  return moments as { m: Moment[]; v: Moment[] };
}

/** The constructor frees each tensor among `moments` once copied: one given twice would be read after that. */
function checkEachOnce({ m, v }: { m: Moment[]; v: Moment[] }): void {
  const seen = new Map<Tensor, string>();
  for (const [kind, parts] of [['m', m], ['v', v]] as const) {
    parts.forEach((part, i) => {
      if (!(part instanceof Tensor)) return;
      const first = seen.get(part);
      if (first) throw new Error(`AdamW: moments.${kind}[${i}] is moments.${first} again; the constructor frees each tensor once copied: pass each once`);
      seen.set(part, `${kind}[${i}]`);
    });
  }
}

/**
 * How AdamW shards the moments of parameters of `sizes` elements (in order) over buffers of at most
 * `bufferLimit` bytes: runs [first, end) of consecutive parameters and their `size` in elements.
 * Each parameter is one buffer itself, so it fits a shard alone. The memory plan counts them so.
 */
export function momentShards(sizes: readonly number[], bufferLimit: number): { first: number; end: number; size: number }[] {
  const room = Math.floor(bufferLimit / 4);
  const shards = [];
  for (let first = 0, end = 0; first < sizes.length; first = end) {
    let size = sizes[end++]!;
    while (end < sizes.length && size + sizes[end]! <= room) size += sizes[end++]!;
    shards.push({ first, end, size });
  }
  return shards;
}

/** AdamW over a list of parameters: step() applies one update from their .grad, in a few fused dispatches. */
export class AdamW {
  lr: number;
  /** The hyperparameters below, with lr: loadStateDict sets them too, as torch's load_state_dict sets a group's. */
  betas: [number, number];
  eps: number;
  weightDecay: number;
  /** Steps taken (each parameter's own count: this, less the steps it had no gradient at). */
  stepCount = 0;
  /** Per parameter, the steps it had no gradient at: PyTorch counts steps per parameter, for bias correction. */
  private readonly missed: number[];
  /** Per parameter, those of its missed steps that a GradScaler skipped (on the GPU). */
  private readonly missedSkips = new MissedSkips();
  /** First and second moments of every parameter, in the order given to the constructor, a shard per buffer. */
  readonly shards: MomentShard[] = [];
  private readonly one: Tensor;

  /** The parameters, in the order given (a copy: the caller's array may change, the moments' order does not). */
  readonly params: readonly Tensor[];

  /**
   * `moments`, where given (a checkpoint's, per parameter in `params`' order), are the moments to
   * start from instead of zeros: each shard is filled from them as it is made, and tensors among
   * them are adopted, freed once copied, so that a resumed run never holds its moments twice on the
   * GPU (a copy of the whole, with loadMoments, costs 1 GB more for GPT-2 124M while both exist).
   * A constructor that fails partway (a shard past the adapter's memory) has freed those of the
   * shards made before it and leaves the rest to the caller.
   */
  constructor(params: Tensor[], opts: AdamWOptions = {}, moments?: { m: Moment[]; v: Moment[] }) {
    if (!Array.isArray(params)) throw new TypeError(`AdamW: argument 'params' must be an array of Tensors, got ${describeValue(params)}`);
    // PyTorch's 'optimizer got an empty parameter list': its steps would move nothing without a word
    if (!params.length) throw new Error("AdamW: argument 'params' is an empty list; an optimizer needs at least one parameter");
    this.params = [...params];
    const group = params.findIndex((p: unknown) => p !== null && typeof p === 'object' && !(p instanceof Tensor) && 'params' in p);
    if (group >= 0) {
      throw new TypeError(`AdamW: params[${group}] is a parameter group ({ params, ... }); AdamW takes one array of Tensors: weight decay goes to those of rank >= 2 (nanoGPT's groups), and another lr or decay takes another AdamW`);
    }
    params.forEach((p, i) => checkTensor('AdamW', `params[${i}]`, p).storage(`AdamW: params[${i}]`));
    checkFloat32Params('AdamW', params);
    // one tensor twice would be updated twice a step, its moments in two places (PyTorch refuses it too)
    const twice = params.findIndex((p, i) => params.indexOf(p) !== i);
    if (twice >= 0) throw new Error(`AdamW: params[${twice}] ${params[twice]!.describe()} is params[${params.indexOf(params[twice]!)}] again; pass each parameter once`);
    // backward keeps no .grad on a computed tensor: it would never be trained (PyTorch refuses it too)
    const computed = params.findIndex((p) => p.gradFn);
    if (computed >= 0) throw new Error(`AdamW: params[${computed}] ${params[computed]!.describe()} was computed by '${params[computed]!.gradFn!.opName}' (not a leaf): it never gets a .grad of its own; pass the leaf it was computed from`);
    checkOptionKeys('AdamW', opts, ['lr', 'betas', 'eps', 'weightDecay']);
    ({ lr: this.lr, betas: this.betas, eps: this.eps, weightDecay: this.weightDecay } = checkHyper('AdamW', {
      lr: opts.lr ?? 1e-3,
      betas: opts.betas ?? [0.9, 0.999],
      eps: opts.eps ?? 1e-8,
      weightDecay: opts.weightDecay ?? 0.01,
    }));
    if (moments !== undefined) {
      this.checkMoments('AdamW', adoptable(moments).m, moments.v, 'moments.');
      checkEachOnce(moments);
    }
    const made = (first: number, end: number, size: number, parts?: Moment[]) => {
      if (!parts) return keep(zeros([size]));
      const flat = keep(this.flatMoments(first, end, size, parts));
      for (const part of parts.slice(first, end)) if (part instanceof Tensor) part.dispose();
      return flat;
    };
    try {
      for (const { first, end, size } of momentShards(params.map((p) => p.size), profile().bufferLimit)) {
        const m = made(first, end, size, moments?.m);
        try {
          this.shards.push({ first, end, m, v: made(first, end, size, moments?.v) });
        } catch (e) {
          m.dispose();
          throw e;
        }
      }
      this.one = keep(full([], 1));
    } catch (e) {
      // (a shard past the adapter's memory): none of it stays allocated
      for (const t of this.shards.flatMap((s) => [s.m, s.v])) t.dispose();
      throw e;
    }
    this.missed = params.map(() => 0);
  }

  /**
   * Applies one update from the parameters' .grad; `gradScale` (0-d) multiplies every gradient (a
   * clipGradNorm's scale: those it measured, as torch's clip_grad_norm_ scales only those given), or
   * is a GradScaler's control (which may also skip the step).
   */
  step(gradScale?: Tensor): void {
    checkHyper('AdamW.step', this); // set between steps (a schedule, loadStateDict, by hand)
    if (gradScale !== undefined) checkTensor('AdamW.step', 'gradScale', gradScale);
    // checked before anything moves: a disposed parameter (its .grad gone with it) was skipped without a word
    this.assertNotDisposed('step');
    const gone = this.params.findIndex((p) => p.isDisposed);
    if (gone >= 0) throw new Error(`AdamW.step: params[${gone}] ${this.params[gone]!.describe()} was disposed; an optimizer's parameters must live as long as it steps`);
    // a .grad disposed by hand is a cleared one, as backward reads it: the parameter is skipped
    const held = this.params.map((p) => heldGrad('AdamW.step', p) as Tensor | null);
    // torch steps such an optimizer silently; here it is one made before addLoRA froze what it holds
    if (this.params.every((p, i) => !p.requiresGrad && !held[i])) {
      throw new Error(
        `AdamW.step: all ${this.params.length} of its parameters are frozen (requiresGrad false) and hold no gradient: a step would move none of them; ` +
          'an AdamW made before addLoRA holds the weights it froze, not its adapters: make the optimizer after it, over model.trainableParameters()',
      );
    }
    // torch steps it silently: a loop that never trains
    if (held.every((g) => !g)) {
      throw new Error(`AdamW.step: none of its ${this.params.length} parameters holds a gradient (call loss.backward() before step(), and zeroGrad() after it)`);
    }
    const owedBy = held.map((g) => (g ? owedMultipliers.get(g) : undefined));
    const owed = owedBy.filter((_, i) => held[i]);
    const unpaid = owed.find((m) => m !== undefined);
    if (!gradScale && unpaid) {
      throw new Error(unpaid.rank
        ? 'AdamW.step: GradScaler.unscale measured these loss-scaled gradients (they are not changed in place); pass its control: step(scaler.control)'
        : "AdamW.step: clipGradNorm clipped these gradients through its 'scale' (they are not changed in place); pass it: step(scale)");
    }
    if (gradScale?.rank && owed.some((m) => m !== gradScale)) {
      throw new Error("AdamW.step: scaler.control was not computed for these gradients (it holds an earlier unscale's decision); call scaler.unscale(params, maxNorm) after each backward, before step");
    }
    const stray = gradScale?.rank === 0 ? owed.find((m) => m !== undefined && m !== gradScale) : undefined;
    if (stray) {
      throw new Error(stray.rank
        ? "AdamW.step: GradScaler.unscale measured some of these gradients; pass its control, not a clipping 'scale'"
        : "AdamW.step: clipGradNorm clipped some of these gradients through another 'scale' than the one given; clip them in one call, or step them with another AdamW");
    }
    for (const g of held) if (g) owedMultipliers.delete(g);
    // a clip's scale: the gradients it did not measure step unclipped
    const clipScale = gradScale?.rank === 0 && owed.includes(gradScale);
    this.stepCount++;
    const hyper = { lr: this.lr, beta1: this.betas[0], beta2: this.betas[1], eps: this.eps, weightDecay: this.weightDecay };
    const missing = held.flatMap((g, i) => (g ? [] : [i]));
    for (const i of missing) this.missed[i]!++;
    const controlled = gradScale?.rank === 1; // a GradScaler's control: the GPU may skip this step
    if (controlled) this.missedSkips.record(missing, gradScale);
    for (const { first, end, m, v } of this.shards) {
      const params = this.params.slice(first, end);
      const shardGrads = held.slice(first, end);
      // at least 1: stepCount may be set lower between steps (a resumed run)
      const steps = shardGrads.map((g, k) => (g ? Math.max(1, this.stepCount - this.missed[first + k]!) : 0));
      const scales = shardGrads.map((g, k) => {
        if (g && controlled) return this.missedSkips.controlFor(first + k, gradScale);
        return gradScale && !(clipScale && owedBy[first + k] !== gradScale) ? gradScale : this.one;
      });
      try {
        // one update per step count and multiplier among them (one, unless some parameter missed a
        // gradient); weight decay only for matmul and embedding weights (rank >= 2), as nanoGPT does
        for (const step of new Set(steps.filter((t) => t > 0))) {
          for (const scale of new Set(scales.filter((_, k) => steps[k] === step))) {
            const these = shardGrads.map((g, k) => (steps[k] === step && scales[k] === scale ? g : null));
            adamw(params, these, m, v, scale, params.map((p) => p.rank >= 2), { ...hyper, step });
          }
        }
      } finally {
        for (const scale of new Set(scales)) if (scale !== gradScale && scale !== this.one) scale.dispose();
      }
    }
  }

  /**
   * Each parameter's moments, read back to the host (for checkpoints), and the steps it took (its
   * bias correction's count: fewer than stepCount where it had no gradient), as PyTorch's state['step'];
   * under a GradScaler, every step it skipped is counted in, gradient or not (the kernel takes the scaler's count off).
   */
  async readMoments(): Promise<{ m: Float32Array[]; v: Float32Array[]; steps: number[] }> {
    this.assertNotDisposed('readMoments');
    const skips = await this.missedSkips.read(this.params.length);
    const out = { m: [] as Float32Array[], v: [] as Float32Array[], steps: this.missed.map((missed, i) => this.stepCount - missed + skips[i]!) };
    for (const shard of this.shards) {
      for (const k of ['m', 'v'] as const) {
        const flat = (await shard[k].toArray()) as Float32Array;
        let at = 0;
        for (const p of this.params.slice(shard.first, shard.end)) out[k].push(flat.slice(at, (at += p.size)));
      }
    }
    return out;
  }

  /**
   * One parameter's moment ('m' or 'v'; the i-th parameter given to the constructor), read back
   * alone: a checkpoint written a tensor at a time holds one parameter's on the host, not a shard's.
   */
  async readMoment(kind: 'm' | 'v', i: number): Promise<Float32Array> {
    this.assertNotDisposed('readMoment');
    if (kind !== 'm' && kind !== 'v') throw new RangeError(`AdamW.readMoment: argument 'kind' must be 'm' or 'v', got ${describeValue(kind)}`);
    if (!Number.isInteger(i) || i < 0 || i >= this.params.length) throw new RangeError(`AdamW.readMoment: argument 'i' must be a parameter index in [0, ${this.params.length}), got ${describeValue(i)}`);
    const { shard, offset } = this.momentAt(i);
    const bytes = await device().read(shard[kind].storage('AdamW.readMoment').buffer, this.params[i]!.size * 4, offset * 4);
    return new Float32Array(bytes);
  }

  /** Parameter i's shard and the offset (in elements) of its moments there. */
  private momentAt(i: number): { shard: MomentShard; offset: number } {
    const shard = this.shards.find((s) => i >= s.first && i < s.end)!;
    return { shard, offset: this.params.slice(shard.first, i).reduce((n, p) => n + p.size, 0) };
  }

  /**
   * The state as torch.optim.AdamW's state_dict() lays it out with nanoGPT's two groups
   * (adamw-state.ts): for each parameter that has stepped, copies of its moments (float32 tensors
   * of its shape, the caller's to dispose) and its step count; the groups' hyperparameters. Async:
   * the steps a GradScaler skipped are counted on the GPU (readMoments' steps). Given the `scaler`
   * the steps went through, the counts leave out the steps it skipped, as torch's, where
   * GradScaler.step never calls a skipped step's optimizer.step(); without it they count them in.
   */
  async stateDict(opts: { scaler?: GradScaler } = {}): Promise<AdamWStateDict> {
    this.assertNotDisposed('stateDict');
    checkOptionKeys('AdamW.stateDict', opts, ['scaler']);
    const skips = await this.missedSkips.read(this.params.length);
    const skippedByScaler = opts.scaler ? (await opts.scaler.state()).skippedSteps : 0;
    this.assertNotDisposed('stateDict');
    const groups = groupMembers(this.params);
    const state = new Map<number, AdamWParamState>();
    groups.flat().forEach((i, id) => {
      const step = this.stepCount - this.missed[i]! + skips[i]! - skippedByScaler;
      if (step > 0) state.set(id, { exp_avg: this.momentCopy('m', i), exp_avg_sq: this.momentCopy('v', i), step });
    });
    let id = 0;
    // keys in torch 1.13's order, so that the two print (and JSON.stringify) alike
    const group = (k: number, members: number[]): AdamWParamGroup => ({
      weight_decay: k ? 0 : this.weightDecay, lr: this.lr, betas: [...this.betas] as [number, number], eps: this.eps,
      amsgrad: false, foreach: null, maximize: false, capturable: false, params: members.map(() => id++),
    });
    return { state, param_groups: groups.map((g, k) => group(k, g)) };
  }

  /** Parameter i's moment `kind`, copied on the GPU into a tensor of its shape. */
  private momentCopy(kind: 'm' | 'v', i: number): Tensor {
    const { shard, offset } = this.momentAt(i);
    const p = this.params[i]!;
    const t = Tensor.empty(p.shape, 'float32', `AdamW ${kind}`);
    device().copy(shard[kind].buffer(), offset * 4, t.buffer(), 0, p.size * 4);
    return t;
  }

  /**
   * Takes a state dict: stateDict()'s, or torch.optim.AdamW's state_dict() of nanoGPT's two groups
   * in this layout (its tensors read into ours, its 0-d steps into numbers). Each parameter's
   * moments and steps (zeros and 0 where the state has none), and the groups' lr, betas, eps and
   * the decayed group's weight_decay, as torch's load_state_dict; all checked before anything
   * changes. Moments given as tensors stay the caller's.
   */
  loadStateDict(stateDict: AdamWStateDictInput): void {
    this.assertNotDisposed('loadStateDict');
    const loaded = readStateDict(stateDict, this.params);
    this.setMoments('AdamW.loadStateDict', loaded.m, loaded.v, loaded.steps);
    ({ lr: this.lr, betas: this.betas, eps: this.eps, weightDecay: this.weightDecay } = loaded);
  }

  /**
   * Sets every parameter's moments (per parameter, in constructor order; e.g. from a checkpoint) and,
   * given `steps` (readMoments'), the steps each took: stepCount becomes the largest. Without them,
   * every parameter counts stepCount steps (set it: a Trainer's restore() does). A moment given as a
   * float32 tensor (a checkpoint's, uploaded as it was read) is copied on the GPU, never read back;
   * it stays the caller's.
   */
  loadMoments(m: Moment[], v: Moment[], steps?: readonly number[]): void {
    this.assertNotDisposed('loadMoments');
    this.setMoments('AdamW.loadMoments', m, v, steps);
  }

  /** loadMoments' work, its errors naming `op`. */
  private setMoments(op: string, m: Moment[], v: Moment[], steps?: readonly number[]): void {
    // all checked before any is loaded: a refused call changes nothing (nor leaves a staged shard allocated)
    this.checkMoments(op, m, v);
    if (steps !== undefined && (!Array.isArray(steps) || steps.length !== this.params.length || !steps.every((n) => Number.isSafeInteger(n) && n >= 0))) {
      throw new RangeError(`${op}: argument 'steps' must be ${this.params.length} step counts (integers >= 0), one per parameter, got ${describeValue(steps)}`);
    }
    for (const shard of this.shards) {
      for (const [k, parts] of [['m', m], ['v', v]] as const) {
        // a fresh shard, assigned: copyMoments may have left this one shared with another optimizer
        const t = this.flatMoments(shard.first, shard.end, shard[k].size, parts);
        shard[k].assign(t);
        t.dispose();
      }
    }
    // a parameter's count is stepCount less the steps it missed
    if (steps) this.stepCount = steps.reduce((a, b) => Math.max(a, b), 0);
    this.missed.forEach((_, i) => (this.missed[i] = steps ? this.stepCount - steps[i]! : 0));
    this.missedSkips.clear(); // readMoments' steps count them
  }

  /** Refuses moments that are not one per parameter, of its size (a tensor: float32, not disposed); `arg` names the lists' argument. */
  private checkMoments(op: string, m: Moment[], v: Moment[], arg = ''): void {
    for (const [name, parts] of [['m', m], ['v', v]] as const) {
      if (!Array.isArray(parts)) throw new TypeError(`${op}: argument '${arg}${name}' must be an array of ${this.params.length} moments, one per parameter, got ${describeValue(parts)}`);
    }
    this.params.forEach((p, i) => {
      for (const parts of [m, v]) {
        const part = parts[i];
        const count = part instanceof Tensor ? part.size : part?.length;
        if (count !== p.size) throw new Error(`${op}: parameter ${i} ${p.describe()} got ${count ?? 'no'} values`);
        if (part instanceof Tensor && part.dtype !== 'float32') throw new Error(`${op}: parameter ${i} ${p.describe()} got a ${part.describe()} tensor; moments are float32`);
        if (part instanceof Tensor) part.storage(`${op}: parameter ${i}'s moment`);
      }
    });
  }

  /**
   * The moments `parts[first..end)` back to back in a new tensor of `size`, a parameter at a time:
   * host values uploaded (no host copy of a whole shard: a 124M model's is 0.5 GB), tensors copied on the GPU.
   */
  private flatMoments(first: number, end: number, size: number, parts: Moment[]): Tensor {
    const t = zeros([size]);
    const buffer = t.storage('AdamW moments').buffer;
    let at = 0;
    try {
      for (let i = first; i < end; i++) {
        const part = parts[i]!;
        if (part instanceof Tensor) device().copy(part.buffer(), 0, buffer, at * 4, part.size * 4);
        else device().write(buffer, part instanceof Float32Array ? part : Float32Array.from(part), at * 4);
        at += this.params[i]!.size;
      }
    } catch (e) {
      t.dispose(); // not yet a shard, which the constructor's failure frees
      throw e;
    }
    return t;
  }

  /** Takes `other`'s moments and step counts (an optimizer over the same parameters, e.g. a run continued on other data). */
  copyMoments(other: AdamW): void {
    if (other.shards.length !== this.shards.length || other.shards.some((s, i) => s.end !== this.shards[i]!.end || s.m.size !== this.shards[i]!.m.size)) {
      throw new Error(`AdamW.copyMoments: the other optimizer's ${other.params.length} parameters are sharded differently from these ${this.params.length}`);
    }
    this.shards.forEach((s, i) => {
      s.m.assign(other.shards[i]!.m);
      s.v.assign(other.shards[i]!.v);
    });
    this.stepCount = other.stepCount;
    this.missed.splice(0, Infinity, ...other.missed);
    this.missedSkips.copyFrom(other.missedSkips);
  }

  private assertNotDisposed(op: string): void {
    if (this.one.isDisposed) throw new Error(`AdamW.${op}: the optimizer was disposed (dispose() frees its moments); make a new AdamW`);
  }

  /**
   * Frees each parameter's .grad and sets it to null: PyTorch's zero_grad(set_to_none=True), its
   * default from 2.0 (1.13 zeroed them in place). A handle on an old .grad is disposed with it; a
   * parameter still without a gradient at the next step is skipped, as torch skips a None .grad
   * (1.13's zeroed one was still decayed and moved by its momentum).
   */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  dispose(): void {
    for (const t of [...this.shards.flatMap((s) => [s.m, s.v]), this.one]) t.dispose();
    this.missedSkips.dispose();
  }
}
