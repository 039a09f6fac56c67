// AdamW (Loshchilov & Hutter) with decoupled weight decay applied only to parameters of rank >= 2
// (matmul and embedding weights), as nanoGPT does; biases and LayerNorm gains are not decayed.
// Each step is one fused in-place kernel per parameter; gradient clipping enters as a GPU-side
// scale factor, so a step never waits for the GPU.
import { launchAdamW } from '../kernels/wgsl/adamw.js';
import { full, zerosLike } from '../tensor/create.js';
import type { Tensor } from '../tensor/tensor.js';
import { keep } from '../tensor/scope.js';

export interface AdamWOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

export interface AdamWState {
  step: number;
  /** Per parameter (in the order given to the constructor): first and second moments. */
  m: Tensor[];
  v: Tensor[];
}

export class AdamW {
  lr: number;
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  stepCount = 0;
  readonly m: Tensor[];
  readonly v: Tensor[];
  private readonly one: Tensor;

  constructor(readonly params: Tensor[], opts: AdamWOptions = {}) {
    this.lr = opts.lr ?? 1e-3;
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.01;
    this.m = params.map((p) => keep(zerosLike(p)));
    this.v = params.map((p) => keep(zerosLike(p)));
    this.one = keep(full([], 1));
  }

  /** Applies one update from the parameters' .grad; `gradScale` (0-d) multiplies every gradient. */
  step(gradScale?: Tensor): void {
    this.stepCount++;
    const scale = (gradScale ?? this.one).buffer('AdamW.step');
    this.params.forEach((p, i) => {
      if (!p.grad) return;
      p.storage('AdamW.step').version++; // updated in place below
      launchAdamW(
        { p: p.buffer('AdamW.step'), g: p.grad.buffer('AdamW.step'), m: this.m[i]!.buffer(), v: this.v[i]!.buffer(), gscale: scale },
        p.size,
        {
          lr: this.lr, beta1: this.betas[0], beta2: this.betas[1], eps: this.eps,
          weightDecay: p.rank >= 2 ? this.weightDecay : 0, step: this.stepCount,
        },
      );
    });
  }

  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  dispose(): void {
    for (const t of [...this.m, ...this.v, this.one]) t.dispose();
  }
}
