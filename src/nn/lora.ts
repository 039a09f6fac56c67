// LoRA (Hu et al. 2021, "Low-Rank Adaptation"; Hugging Face peft's LoraLayer): a frozen Linear
// W [out, in] learns through a low-rank update, y = x·Wᵀ + b + (alpha/r)·dropout(x)·Aᵀ·Bᵀ, with
// A [r, in] drawn as peft draws it (kaiming_uniform_ with a = sqrt(5): U(±1/sqrt(in))) and
// B [out, r] zeros, so that an adapted layer starts as its base. Only A and B are trained: their
// gradients and AdamW moments are r·(in + out) values where W's are in·out. merge() folds
// (alpha/r)·B·A into W for inference and export. Linear.addLoRA attaches one (src/nn/layers.ts).
import { noGrad } from '../autograd/mode.js';
import { matmul, rand, zeros, type Tensor } from '../ops/index.js';
import { checkInteger, checkNumber, checkOptionKeys, describeValue } from '../tensor/check.js';
import type { Generator } from '../tensor/generator.js';
import { scope } from '../tensor/scope.js';
import { castForCompute } from './autocast.js';
import { Dropout } from './dropout.js';
import { Module } from './module.js';

/** A LoRA adapter's settings (peft's LoraConfig: r, lora_alpha, lora_dropout). */
export interface LoRAOptions {
  /** r: the update's rank, in [1, min(in, out)]. */
  rank: number;
  /** The update is scaled by alpha / rank (peft's default alpha 8). */
  alpha?: number;
  /** Dropout on the adapter's input while training, in [0, 1) (default 0). */
  dropout?: number;
  /** Draws A and the dropout masks. */
  rng: Generator;
}

/** Whether a parameter's dotted name is a LoRA adapter's (`h.0.attn.c_attn.lora.A`: Linear registers its adapter as `lora`). */
export const isLoRAName = (name: string) => /(^|\.)lora\.[AB]$/.test(name);

/** peft's LoraConfig defaults: lora_alpha 8, lora_dropout 0. */
export const LORA_DEFAULTS = { alpha: 8, dropout: 0 };

/** Throws a one-line error naming `op` for settings an adapter of a [out, in] layer cannot have. */
function checkLoRAOptions(op: string, opts: LoRAOptions, inFeatures: number, outFeatures: number): Required<Omit<LoRAOptions, 'rng'>> {
  if (opts === null || typeof opts !== 'object') throw new TypeError(`${op}: argument 'opts' must be { rank, alpha?, dropout?, rng }, got ${describeValue(opts)}`);
  checkOptionKeys(op, opts, ['rank', 'alpha', 'dropout', 'rng']);
  const most = Math.min(inFeatures, outFeatures);
  const rank = checkInteger(op, 'rank', opts.rank, 1, most, `an integer in [1, ${most}] (min of in ${inFeatures} and out ${outFeatures})`);
  const alpha = checkNumber(op, 'alpha', opts.alpha ?? LORA_DEFAULTS.alpha, true);
  if (!(alpha > 0)) throw new RangeError(`${op}: argument 'alpha' must be a finite number > 0, got ${alpha}`);
  const dropout = checkNumber(op, 'dropout', opts.dropout ?? LORA_DEFAULTS.dropout);
  if (!(dropout >= 0 && dropout < 1)) throw new RangeError(`${op}: argument 'dropout' must be a number in [0, 1), got ${dropout}`);
  if (typeof opts.rng?.nextSeed !== 'function') throw new TypeError(`${op}: argument 'rng' must be a Generator, got ${describeValue(opts.rng)}`);
  return { rank, alpha, dropout };
}

/** The low-rank update of a [out, in] Linear: parameters A [r, in] and B [out, r], scale alpha / r. */
export class LoRA extends Module {
  readonly A: Tensor;
  readonly B: Tensor;
  readonly rank: number;
  readonly alpha: number;
  /** alpha / rank, peft's `scaling`. */
  readonly scale: number;
  private readonly drop: Dropout;

  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: LoRAOptions) {
    super();
    const { rank, alpha, dropout } = checkLoRAOptions('LoRA', opts, inFeatures, outFeatures);
    [this.rank, this.alpha, this.scale] = [rank, alpha, alpha / rank];
    const bound = 1 / Math.sqrt(inFeatures); // kaiming_uniform_(a = sqrt(5)): gain sqrt(1/3) · sqrt(3 / fan_in)
    this.A = this.param('A', rand([rank, inFeatures], { seed: opts.rng.nextSeed(), low: -bound, high: bound }));
    try {
      this.B = this.param('B', zeros([outFeatures, rank]));
    } catch (e) {
      throw this.abandon(e);
    }
    this.drop = this.module('dropout', new Dropout(dropout, opts.rng));
  }

  /** x [..., in] -> scale · dropout(x)·Aᵀ·Bᵀ [..., out], in the compute dtype. */
  forward(x: Tensor): Tensor {
    return scope(() => {
      const h = matmul(castForCompute(this.drop.forward(x)), castForCompute(this.A), { transB: true }); // [..., r]
      return matmul(h.mul(this.scale), castForCompute(this.B), { transB: true }); // [..., out]
    });
  }

  /** scale · B·A [out, in], float32, outside autograd: what merging adds to the weight. */
  delta(): Tensor {
    return noGrad(() => scope(() => matmul(this.B, this.A).mul(this.scale)));
  }
}
