// The basic layers: Linear, Embedding, LayerNorm, Dropout. Weights follow PyTorch's layouts
// (Linear.weight is [out, in]) so checkpoints map one to one onto nanoGPT/GPT-2 names.
import { dropout, embedding, full, layerNorm, maskInPlace, matmul, randn, type Tensor } from '../ops/index.js';
import type { Generator } from '../tensor/generator.js';
import { keep } from '../tensor/scope.js';
import { Module } from './module.js';

/** How a layer draws its initial weights. */
export interface InitOptions {
  /** Generator for the initial weights (normal with this std). */
  rng: Generator;
  std?: number;
}

/**
 * y = x Wᵀ + b, W [out, in] as in PyTorch, initialised normal(0, std). A pruned Linear also holds
 * a 0/1 mask of W (the buffer `weight_mask`, PyTorch's name for it): W is zero where the mask is,
 * and training keeps it so (src/nn/prune.ts).
 */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: InitOptions & { bias?: boolean }) {
    super();
    this.weight = this.param('weight', randn([outFeatures, inFeatures], { seed: opts.rng.nextSeed(), std: opts.std ?? 0.02 }));
    this.bias = opts.bias === false ? null : this.param('bias', full([outFeatures], 0));
  }

  /** The 0/1 pruning mask of weight [out, in], or null when the layer is dense. */
  get weightMask(): Tensor | null {
    return this.buffer('weight_mask');
  }

  /** Takes `mask` (float32 0/1, weight's shape; the layer owns it from now on) and zeroes the weight where it is 0; null makes the layer dense again. */
  setWeightMask(mask: Tensor | null): void {
    if (mask) {
      if (mask.dtype !== 'float32' || mask.shape.length !== 2 || mask.shape[0] !== this.outFeatures || mask.shape[1] !== this.inFeatures) {
        throw new Error(`Linear.setWeightMask: expected a float32 [${this.outFeatures}, ${this.inFeatures}] mask, got ${mask.describe()}`);
      }
      maskInPlace([this.weight], [mask]);
    }
    this.setBuffer('weight_mask', mask && keep(mask));
  }

  /** x · Wᵀ without the bias, for callers that fuse the bias into what follows. */
  project(x: Tensor): Tensor {
    return matmul(x, this.weight, { transB: true }); // [..., in] @ [out, in]^T -> [..., out]
  }

  forward(x: Tensor): Tensor {
    const y = this.project(x);
    if (!this.bias) return y;
    const out = y.add(this.bias);
    y.dispose();
    return out;
  }
}

/** A table of numEmbeddings vectors of `dim` values, looked up by int32 id. */
export class Embedding extends Module {
  readonly weight: Tensor;

  constructor(readonly numEmbeddings: number, readonly dim: number, opts: InitOptions) {
    super();
    this.weight = this.param('weight', randn([numEmbeddings, dim], { seed: opts.rng.nextSeed(), std: opts.std ?? 0.02 }));
  }

  forward(ids: Tensor): Tensor {
    return embedding(this.weight, ids); // [...ids] -> [...ids, dim]
  }
}

/** Normalises the last axis to zero mean and unit variance, then scales (weight) and shifts (bias). */
export class LayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(readonly dim: number, opts: { bias?: boolean; eps?: number } = {}) {
    super();
    this.eps = opts.eps ?? 1e-5;
    this.weight = this.param('weight', full([dim], 1));
    this.bias = opts.bias === false ? null : this.param('bias', full([dim], 0));
  }
  private readonly eps: number;

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}

/** Dropout with a fresh seed per call, drawn from the module's generator (reproducible runs). */
export class Dropout extends Module {
  constructor(readonly p: number, private readonly rng: Generator) {
    super();
  }

  forward(x: Tensor): Tensor {
    const active = this.training && this.p > 0;
    return dropout(x, this.p, active ? this.rng.nextSeed() : 0, active); // inactive: identity, gradient passes
  }
}
