// AdamW (Loshchilov & Hutter) with decoupled weight decay applied only to parameters of rank >= 2
// (matmul and embedding weights), as nanoGPT does; biases and LayerNorm gains are not decayed.
// The moments of all parameters live back to back in two flat buffers, so a step is one fused
// `adamw` op (src/ops/adamw.ts): a few in-place dispatches.
// Gradient clipping enters as a GPU-side scale factor, so a step never waits for the GPU.
import { adamw, full, tensor, type Tensor, zeros } from '../ops/index.js';
import { keep } from '../tensor/scope.js';

/** AdamW's hyperparameters (defaults: lr 1e-3, betas [0.9, 0.999], eps 1e-8, weightDecay 0.01). */
export interface AdamWOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

/** AdamW over a list of parameters: step() applies one update from their .grad, in a few fused dispatches. */
export class AdamW {
  lr: number;
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  stepCount = 0;
  /** First and second moments of every parameter, flat, in the order given to the constructor. */
  readonly m: Tensor;
  readonly v: Tensor;
  /** Where each parameter's moments start in m and v. */
  readonly offsets: number[];
  private readonly one: Tensor;

  constructor(readonly params: Tensor[], opts: AdamWOptions = {}) {
    this.lr = opts.lr ?? 1e-3;
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.01;
    let total = 0;
    this.offsets = params.map((p) => (total += p.size) - p.size);
    this.m = keep(zeros([total]));
    this.v = keep(zeros([total]));
    this.one = keep(full([], 1));
  }

  /**
   * Applies one update from the parameters' .grad; `gradScale` (0-d) multiplies every gradient, or
   * is a GradScaler's control (which may also skip the step).
   */
  step(gradScale?: Tensor): void {
    this.stepCount++;
    const hyper = { lr: this.lr, beta1: this.betas[0], beta2: this.betas[1], eps: this.eps, weightDecay: this.weightDecay, step: this.stepCount };
    const grads = this.params.map((p) => p.grad);
    // weight decay only for matmul and embedding weights (rank >= 2), as nanoGPT does
    adamw(this.params, grads, this.m, this.v, gradScale ?? this.one, this.params.map((p) => p.rank >= 2), hyper);
  }

  /** Each parameter's moments, read back to the host (for checkpoints). */
  async readMoments(): Promise<{ m: Float32Array[]; v: Float32Array[] }> {
    const split = (flat: Float32Array) => this.params.map((p, i) => flat.slice(this.offsets[i], this.offsets[i]! + p.size));
    return { m: split((await this.m.toArray()) as Float32Array), v: split((await this.v.toArray()) as Float32Array) };
  }

  /** Sets every parameter's moments (per parameter, in constructor order; e.g. from a checkpoint). */
  loadMoments(m: ArrayLike<number>[], v: ArrayLike<number>[]): void {
    for (const [dst, parts] of [[this.m, m], [this.v, v]] as const) {
      const flat = new Float32Array(dst.size);
      this.params.forEach((p, i) => {
        if (parts[i]?.length !== p.size) throw new Error(`AdamW.loadMoments: parameter ${i} ${p.describe()} got ${parts[i]?.length ?? 'no'} values`);
        flat.set(parts[i]!, this.offsets[i]);
      });
      const t = tensor(flat, [flat.length]);
      dst.assign(t);
      t.dispose();
    }
  }

  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  dispose(): void {
    for (const t of [this.m, this.v, this.one]) t.dispose();
  }
}
