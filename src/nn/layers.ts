// The basic layers: Linear, Embedding, LayerNorm (Dropout: dropout.ts). Weights follow PyTorch's layouts
// (Linear.weight is [out, in]) so checkpoints map one to one onto nanoGPT/GPT-2 names.
// Linear and Embedding also come with int8 weights (`int8: true`, for inference): `weight` is then
// int8 with per-row float32 scales `weight_scale` (src/ops/int8.ts), neither trained; they start
// as zeros, to be loaded (quantizeInt8 makes them from float32 weights). A Linear may instead hold
// int4 weights (`int4: G`, src/ops/int4.ts): `weight` int8 [out, in / 2], packed two a byte, and
// `weight_scale` [out, in / G], a scale per group of G inputs.
// Under autocast('float16') (autocast.ts) Linear, Embedding and LayerNorm compute in float16, their
// float32 parameters (and a float32 input) cast on the way in; int8 layers compute in float32 (their
// kernels take float32 activations) between casts, so a float16 model can hold them.
import { cast, embedding, embeddingInt8, full, int4GroupProblem, layerNorm, linear, linearInt4, linearInt8, maskInPlace, matmul, randn, tensor, type Tensor } from '../ops/index.js';
import type { Generator } from '../tensor/generator.js';
import { checkBoolean, checkFloat32, checkInteger, checkNonNegative, checkOptionKeys, checkTensor, describeValue } from '../tensor/check.js';
import { noGrad } from '../autograd/mode.js';
import { keep, scope } from '../tensor/scope.js';
import { castForCompute } from './autocast.js';
import { LoRA, type LoRAOptions } from './lora.js';
import { Module } from './module.js';

/**
 * How a layer draws its initial weights: normal(0, std), std 0.02 by default (GPT-2's and nanoGPT's
 * init; a Linear's bias starts at 0). PyTorch's defaults differ: nn.Linear draws weight and bias
 * from U(±1/sqrt(inFeatures)) (std 1/sqrt(3 inFeatures) has its variance), nn.Embedding normal(0, 1).
 */
export interface InitOptions {
  /** Generator for the initial weights. */
  rng: Generator;
  /** Standard deviation of the weights (default 0.02). */
  std?: number;
}

/** Whether a layer's weight is int8 with per-row scales, or (a Linear's) int4 with a scale per group of `int4` inputs (inference only). */
export interface QuantizeOptions {
  int8?: boolean;
  int4?: number;
}

/** A layer's on/off option, `def` when absent: 'yes' would be truthy, 0 falsy. */
const flag = (layer: string, name: string, value: unknown, def: boolean): boolean => (value === undefined ? def : checkBoolean(layer, name, value));

/** That `x` is a tensor ending in `width` (`name`, the layer's setting): the ops' errors would blame the layer's weight. */
function checkWidth(op: string, x: unknown, name: string, width: number): void {
  const t = checkTensor(op, 'input', x);
  if (t.shape.at(-1) !== width) throw new Error(`${op}: input ${t.describe()} must end in ${name} ${width}`);
}

/** An int8 layer's input: its kernels take float32 activations. */
const asFloat32 = (x: Tensor) => (x.dtype === 'float32' ? x : cast(x, 'float32'));

/** A layer whose weight is a matrix of rows [rows, cols]: float32 normal(0, std), or int8 with per-row scales. */
abstract class RowWeights extends Module {
  readonly weight: Tensor;
  /** The per-row scales of an int8 weight (an int4 one's per group), else null. */
  readonly weightScale: Tensor | null;
  /** The group size of an int4 weight, else null. */
  readonly int4GroupSize: number | null;

  /** How the weight is quantized ('int8', 'int4'), or null where it is float32: what refusals name. */
  get quantization(): 'int8' | 'int4' | null {
    return this.int4GroupSize ? 'int4' : this.weightScale ? 'int8' : null;
  }

  /** `options`: the keys `opts` may have (a subclass's own ones too); any boolean among them is checked here, before a weight is allocated. */
  constructor(
    layer: string,
    [rowsArg, colsArg]: [string, string],
    rows: number,
    cols: number,
    opts: InitOptions & QuantizeOptions & { bias?: boolean },
    options: readonly string[],
  ) {
    super();
    // checked here, so that errors name the layer rather than randn, or read a property of undefined
    checkInteger(layer, rowsArg, rows, 0, Number.MAX_SAFE_INTEGER, 'an integer >= 0');
    checkInteger(layer, colsArg, cols, 0, Number.MAX_SAFE_INTEGER, 'an integer >= 0');
    const usage = `${layer}: argument 'opts' must be { rng: Generator, std? } (or { int8: true })`;
    if (opts === null || typeof opts !== 'object') throw new TypeError(`${usage}, got ${describeValue(opts)}`);
    checkOptionKeys(layer, opts, options);
    flag(layer, 'bias', opts.bias, true);
    const G = (this.int4GroupSize = opts.int4 === undefined ? null : checkInteger(layer, 'int4', opts.int4, 8, Number.MAX_SAFE_INTEGER, 'a group size: a multiple of 8 dividing the input width'));
    const groups = G === null ? null : int4GroupProblem(G, cols);
    if (groups) throw new RangeError(`${layer}: int4 ${groups}`);
    if (G !== null && opts.int8) throw new TypeError(`${layer}: int8 and int4 are two storages of one weight; give one`);
    if (!flag(layer, 'int8', opts.int8, false) && G === null && typeof opts.rng?.nextSeed !== 'function') throw new TypeError(`${usage}, got ${describeValue(opts)}`);
    if (G !== null) {
      this.weight = this.constant('weight', tensor(new Int8Array((rows * cols) / 2), [rows, cols / 2]));
      try {
        this.weightScale = this.constant('weight_scale', full([rows, cols / G], 0));
      } catch (e) {
        throw this.abandon(e);
      }
    } else if (!opts.int8) {
      const std = opts.std === undefined ? 0.02 : checkNonNegative(layer, 'std', opts.std);
      this.weight = this.param('weight', randn([rows, cols], { seed: opts.rng.nextSeed(), std }));
      this.weightScale = null;
    } else {
      this.weight = this.constant('weight', tensor(new Int8Array(rows * cols), [rows, cols]));
      try {
        this.weightScale = this.constant('weight_scale', full([rows], 0));
      } catch (e) {
        throw this.abandon(e);
      }
    }
  }

  /** x [..., cols] · weightᵀ -> [..., rows], in the compute dtype. */
  project(x: Tensor): Tensor {
    return scope(() => {
      if (this.int4GroupSize) return castForCompute(linearInt4(asFloat32(x), this.weight, this.weightScale!));
      if (this.weightScale) return castForCompute(linearInt8(asFloat32(x), this.weight, this.weightScale));
      return matmul(castForCompute(x), castForCompute(this.weight), { transB: true });
    });
  }
}

/**
 * y = x Wᵀ + b, W [out, in] as in PyTorch, initialised normal(0, std); or W int8 with per-row
 * scales. A pruned Linear also holds a 0/1 mask of W (the buffer `weight_mask`, PyTorch's name for
 * it): W is zero where the mask is, and training keeps it so (src/nn/prune.ts). An adapted Linear
 * (addLoRA) adds a trained low-rank update to its frozen W and b (src/nn/lora.ts).
 */
export class Linear extends RowWeights {
  readonly bias: Tensor | null;
  private adapter: LoRA | null = null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: InitOptions & QuantizeOptions & { bias?: boolean }) {
    super('Linear', ['outFeatures', 'inFeatures'], outFeatures, inFeatures, opts, ['rng', 'std', 'int8', 'int4', 'bias']);
    try {
      this.bias = opts.bias === false ? null : this.param('bias', full([outFeatures], 0));
    } catch (e) {
      throw this.abandon(e);
    }
  }

  /** The LoRA adapter (the child module `lora`), or null. */
  get lora(): LoRA | null {
    return this.adapter;
  }

  /**
   * Freezes W and b and attaches a LoRA adapter (`lora.A`, `lora.B`, trained), as peft's LoraLayer;
   * refused for a quantized or pruned weight (the update would be neither quantized nor masked) and for a layer already adapted.
   */
  addLoRA(opts: LoRAOptions): LoRA {
    const refused = this.quantization ? `an ${this.quantization} weight (train the float32 model, then quantize it)` : this.weightMask ? 'a pruned weight (B·A would fill its masked zeros)' : this.adapter ? 'a Linear already adapted (merge it first)' : null;
    if (refused) throw new Error(`Linear.addLoRA: cannot adapt ${refused}`);
    const lora = new LoRA(this.inFeatures, this.outFeatures, opts);
    for (const p of [this.weight, this.bias]) p?.requiresGrad_(false);
    return (this.adapter = this.module('lora', lora));
  }

  /** Folds the adapter into the weight (W += scale·B·A, float32) and frees it: the layer is a plain Linear again, W and b still frozen. */
  mergeLoRA(): void {
    const lora = this.adapter;
    if (!lora) throw new Error('Linear.mergeLoRA: the layer has no LoRA adapter (addLoRA attaches one)');
    scope(() => {
      this.weight.assign(noGrad(() => this.weight.add(lora.delta()))); // shares the sum's storage, which outlives the scope
    });
    this.removeLoRA();
  }

  /** Frees the adapter without merging it (peft's unload): the layer computes with its own W and b again, still frozen. */
  removeLoRA(): void {
    const lora = this.adapter;
    if (!lora) throw new Error('Linear.removeLoRA: the layer has no LoRA adapter (addLoRA attaches one)');
    this.unregister('lora');
    this.adapter = null;
    lora.dispose();
  }

  /** x · Wᵀ (plus the adapter's update) without the bias, for callers that fuse the bias into what follows. */
  override project(x: Tensor): Tensor {
    const lora = this.adapter;
    return lora ? scope(() => super.project(x).add(lora.forward(x))) : super.project(x);
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
      if (this.quantization) throw new Error(`Linear.setWeightMask: an ${this.quantization} weight cannot be pruned; prune the float32 model, then quantize it`);
      if (this.adapter) throw new Error('Linear.setWeightMask: a LoRA-adapted weight cannot be pruned; merge the adapter first (mergeLoRA)');
      maskInPlace([this.weight], [mask]);
    }
    this.setBuffer('weight_mask', mask && keep(mask));
  }

  /** Loaded weights are zeroed where the mask is: the layer stays pruned. */
  protected override afterLoad(): void {
    const mask = this.weightMask;
    if (mask) maskInPlace([this.weight], [mask]);
  }

  forward(x: Tensor): Tensor {
    checkWidth('Linear.forward', x, 'inFeatures', this.inFeatures);
    return scope(() => {
      // float weights: one op, so that decoding's few rows add the bias in the product's kernel
      if (this.bias && !this.weightScale) {
        const y = linear(castForCompute(x), castForCompute(this.weight), castForCompute(this.bias));
        return this.adapter ? y.add(this.adapter.forward(x)) : y;
      }
      const y = this.project(x); // [..., in] -> [..., out]
      return this.bias ? y.add(castForCompute(this.bias)) : y;
    });
  }
}

/**
 * A table of numEmbeddings vectors of `dim` values, looked up by int32 id; float32, or int8 with
 * per-row scales. project(x) scores vectors against every row (a tied LM head).
 */
export class Embedding extends RowWeights {
  constructor(readonly numEmbeddings: number, readonly dim: number, opts: InitOptions & QuantizeOptions) {
    super('Embedding', ['numEmbeddings', 'dim'], numEmbeddings, dim, opts, ['rng', 'std', 'int8']);
  }

  /**
   * ids [...] -> [...ids, dim] in the compute dtype. Under autocast the gathered rows are cast, not
   * the table: B*T rows rather than numEmbeddings (GPT-2: 50257) each forward, and the backward's
   * scatter-add of repeated ids stays float32.
   */
  forward(ids: Tensor): Tensor {
    return scope(() =>
      castForCompute(this.weightScale ? embeddingInt8(this.weight, this.weightScale, ids) : embedding(this.weight, ids)),
    );
  }
}

/** Normalises the last axis to zero mean and unit variance, then scales (weight) and shifts (bias). */
export class LayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(readonly dim: number, opts: { bias?: boolean; eps?: number } = {}) {
    super();
    // checked here, so that errors name the layer rather than full, or come at the first forward
    checkInteger('LayerNorm', 'dim', dim, 0, Number.MAX_SAFE_INTEGER, 'an integer >= 0');
    checkOptionKeys('LayerNorm', opts, ['bias', 'eps']);
    const bias = flag('LayerNorm', 'bias', opts.bias, true);
    this.eps = opts.eps === undefined ? 1e-5 : checkFloat32('LayerNorm', 'eps', checkNonNegative('LayerNorm', 'eps', opts.eps));
    this.weight = this.param('weight', full([dim], 1));
    try {
      this.bias = bias ? this.param('bias', full([dim], 0)) : null;
    } catch (e) {
      throw this.abandon(e);
    }
  }
  private readonly eps: number;

  /** In the compute dtype; float16 keeps the statistics and every sum float32 (the kernels do). */
  forward(x: Tensor): Tensor {
    checkWidth('LayerNorm.forward', x, 'dim', this.dim);
    return scope(() => layerNorm(castForCompute(x), castForCompute(this.weight), this.bias && castForCompute(this.bias), this.eps));
  }
}
