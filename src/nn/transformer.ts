// Transformer pieces, GPT-2 style: causal multi-head self-attention, the GELU MLP, and the pre-LN
// block with residuals. Shapes use the legend B (batch), T (time), C (channels), NH (heads),
// HS (head size, C / NH unless set), A = NH * HS (the attention's inner width: C unless heads were
// pruned away), F (the MLP's hidden width, 4C unless set).
import { biasGelu, causalAttention, embedding, slice, sliceAssign, tensor, type Tensor, zeros } from '../ops/index.js';
import { checkBoolean, checkInteger, describeValue } from '../tensor/check.js';
import type { Generator } from '../tensor/generator.js';
import { keep, scope } from '../tensor/scope.js';
import { castForCompute } from './autocast.js';
import { Dropout } from './dropout.js';
import { LayerNorm, Linear, type QuantizeOptions } from './layers.js';
import { Module } from './module.js';

/** The transformer's shape and regularisation (a subset of GPTConfig). */
export interface TransformerConfig {
  nEmbd: number;
  nHead: number;
  nLayer: number;
  dropout: number;
  bias: boolean;
  /** The MLP's GELU; 'gelu' when absent. */
  activation?: Activation;
  /** 'int8': every Linear's weight int8 with per-row scales, 'int4': int4 with a scale per groupSize inputs (inference only); float32 when absent. */
  quantization?: Quantization;
  /** int4's group size (with quantization 'int4' only): a multiple of 8 dividing every Linear's input width. */
  groupSize?: number;
  /** Each head's width; nEmbd / nHead when absent (a block that lost heads to pruning keeps their size). */
  headSize?: number;
  /** The MLP's hidden width; 4 * nEmbd when absent. */
  mlpWidth?: number;
  /** The LayerNorms' epsilon; 1e-5 (nanoGPT's and GPT-2's) when absent. */
  layerNormEps?: number;
}

/**
 * Throws a one-line error naming `piece` and the setting of `cfg` its layers could not be built
 * from: a missing nLayer made the projections' std NaN, nHead 3 of nEmbd 8 a fractional head size,
 * an unknown activation ran the exact GELU and an unknown quantization float32. A piece that
 * `attends` takes a dropout below 1: the fused attention kernel cannot drop every weight (an
 * nn.Dropout may, and the MLP's is one), and refused it only at the first forward, as its own.
 */
function checkConfig(piece: string, cfg: TransformerConfig, attends: boolean): void {
  for (const k of ['nEmbd', 'nHead', 'nLayer'] as const) checkInteger(piece, `cfg.${k}`, cfg?.[k], 1, Number.MAX_SAFE_INTEGER, 'an integer >= 1');
  checkBoolean(piece, 'cfg.bias', cfg.bias); // undefined would give every layer a bias
  const oneOf = (key: 'activation' | 'quantization', allowed: readonly string[], absent: string) => {
    const value: unknown = cfg[key];
    if (value !== undefined && !allowed.includes(value as string)) {
      throw new RangeError(`${piece}: argument 'cfg.${key}' must be one of ${allowed.join(', ')} (or absent: ${absent}), got ${describeValue(value)}`);
    }
  };
  oneOf('activation', ACTIVATIONS, 'gelu');
  oneOf('quantization', QUANTIZATIONS, 'float32');
  if ((cfg.quantization === 'int4') !== (cfg.groupSize !== undefined)) {
    throw new RangeError(`${piece}: argument 'cfg.groupSize' comes with quantization 'int4' and only with it, got groupSize ${describeValue(cfg.groupSize)} with quantization ${describeValue(cfg.quantization)}`);
  }
  if (cfg.mlpWidth !== undefined) checkInteger(piece, 'cfg.mlpWidth', cfg.mlpWidth, 1, Number.MAX_SAFE_INTEGER, 'an integer >= 1 (or absent: 4 * cfg.nEmbd)');
  if (attends && !(typeof cfg.dropout === 'number' && cfg.dropout >= 0 && cfg.dropout < 1)) {
    throw new RangeError(`${piece}: argument 'cfg.dropout' must be a number in [0, 1) (attention's dropout cannot drop every weight), got ${describeValue(cfg.dropout)}`);
  }
  const headSize = cfg.headSize ?? cfg.nEmbd / cfg.nHead;
  if (!Number.isInteger(headSize) || headSize < 1) throw new RangeError(`${piece}: the head size (cfg.headSize, else cfg.nEmbd / cfg.nHead) must be an integer >= 1, got ${headSize}`);
}

/** The ways weights may be stored other than float32: 'int8' (src/ops/int8.ts), 'int4' (src/ops/int4.ts). */
export const QUANTIZATIONS = ['int8', 'int4'] as const;
/** How a model's weights are stored when not float32: 'int8', weight-only with per-row scales; 'int4', with a scale per group of inputs. */
export type Quantization = (typeof QUANTIZATIONS)[number];

/** A Linear's storage under `cfg`: float32, int8, or int4 in groups of cfg.groupSize. */
export const linearStorage = (cfg: Pick<TransformerConfig, 'quantization' | 'groupSize'>): QuantizeOptions =>
  cfg.quantization === 'int4' ? { int4: cfg.groupSize! } : { int8: cfg.quantization === 'int8' };

/** The MLP's GELU: exact (erf, nanoGPT's choice) or GPT-2's tanh approximation ('gelu_new' in Hugging Face). */
export const ACTIVATIONS = ['gelu', 'gelu_tanh'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

/**
 * The packed q | k | v rows of the positions decoded so far (attention reads their keys and
 * values), for incremental decoding: `qkv` [B, R, 3A] holds them in the first `length` slots of
 * each row, with room for more. A step writes its positions into that room; when there is none,
 * the cache moves to twice the slots it needs (at most `capacity`), so over a generation it is
 * copied about once, not at every step. Owned by the cache; dispose with disposeCache.
 */
export interface KVCache {
  qkv: Tensor | null;
  /** The slots filled in each row of qkv (all of them when absent). */
  length?: number;
  /** The most slots worth allocating (a model's block size); unbounded when absent. */
  capacity?: number;
}

/** Positions a KV cache holds (0 for none). */
export const cachedLength = (cache?: KVCache): number => (cache?.qkv ? (cache.length ?? cache.qkv.shape[1]!) : 0);

/** Frees a KV cache's tensors; the cache can be filled again. */
export function disposeCache(cache: KVCache): void {
  cache.qkv?.dispose();
  cache.qkv = null;
  cache.length = 0;
}

/**
 * Keeps only the batch rows `rows` of a cache (in that order) and its slots from `fromSlot` on: for
 * a batch whose other sequences stopped, and the left padding none of the rest needs. The room to
 * grow stays: the next steps write into it rather than move the cache again.
 */
export function keepCacheRows(cache: KVCache, rows: readonly number[], fromSlot: number): void {
  const { qkv } = cache;
  if (!qkv) return;
  const length = cachedLength(cache);
  const [B, slots, W] = qkv.shape as [number, number, number];
  // one gather of the rows (a row a table entry): the cache and one copy live while it runs, not slices and their concat
  cache.qkv = keep(
    scope(() => {
      const picked = embedding(qkv.reshape([B, slots * W]), tensor(Int32Array.from(rows), [rows.length])).reshape([rows.length, slots, W]);
      return fromSlot ? slice(picked, 1, fromSlot, slots) : picked;
    }),
  );
  cache.length = length - fromSlot;
  qkv.dispose();
}

/**
 * Writes the new positions into the cache (moving it to a larger one first if it is full); returns
 * its rows, filled up to cache.length. A step the cache cannot take is refused before anything
 * changes: rows, width or dtype other than the cache's, or one recording gradients (causalAttention
 * lets none flow through a cache).
 */
function extendCache(cache: KVCache, qkv: Tensor): Tensor {
  const [B, T, W] = qkv.shape as [number, number, number];
  let store = cache.qkv;
  if (store && (store.shape[0] !== B || store.shape[2] !== W || store.dtype !== qkv.dtype)) {
    throw new Error(`CausalSelfAttention: the KV cache holds ${store.describe()}, this step's qkv is ${qkv.describe()}: a step needs the cache's rows, width and dtype`);
  }
  if (qkv.requiresGrad) throw new Error('CausalSelfAttention: no gradient through a KV cache; decode under noGrad()');
  const filled = cachedLength(cache);
  const length = filled + T;
  if (!store || store.shape[1]! < length) {
    const slots = Math.max(length, Math.min(2 * length, cache.capacity ?? Infinity));
    const grown = keep(zeros([B, slots, W], qkv.dtype));
    if (store) sliceAssign(grown, store, 1, 0); // its slots past `filled` too: fewer than grown's
    store?.dispose();
    cache.qkv = store = grown;
  }
  sliceAssign(store, qkv, 1, filled);
  cache.length = length;
  return store;
}

/** Multi-head causal self-attention: one fused q|k|v projection, attention over earlier positions, an output projection. */
export class CausalSelfAttention extends Module {
  readonly c_attn: Linear;
  readonly c_proj: Linear;
  private readonly attnDropout: Dropout;
  private readonly residDropout: Dropout;
  private readonly nHead: number;

  constructor(cfg: TransformerConfig, rng: Generator) {
    super();
    checkConfig('CausalSelfAttention', cfg, true);
    this.nHead = cfg.nHead;
    const A = cfg.nHead * (cfg.headSize ?? cfg.nEmbd / cfg.nHead);
    const storage = linearStorage(cfg);
    this.c_attn = this.module('c_attn', new Linear(cfg.nEmbd, 3 * A, { rng, bias: cfg.bias, ...storage }));
    try {
      // GPT-2: residual projections scaled by 1/sqrt(2 nLayer)
      this.c_proj = this.module('c_proj', new Linear(A, cfg.nEmbd, { rng, bias: cfg.bias, ...storage, std: 0.02 / Math.sqrt(2 * cfg.nLayer) }));
    } catch (e) {
      throw this.abandon(e);
    }
    this.attnDropout = this.module('attn_dropout', new Dropout(cfg.dropout, rng));
    this.residDropout = this.module('resid_dropout', new Dropout(cfg.dropout, rng));
  }

  /**
   * x [B, T, C]; with a cache, x's positions follow the cached ones. `starts` (int32 [B]): the rows
   * are left-padded sequences, row b's real tokens starting at slot starts[b] of the cache and x
   * together; attention never reads the padding (inference only, see causalAttention).
   */
  forward(x: Tensor, cache?: KVCache, starts?: Tensor): Tensor {
    // before the cache is touched: a refused call leaves it as it was
    if (this.attnDropout.active && (starts || cache)) {
      throw new Error(`CausalSelfAttention: ${starts ? 'left-padded rows (starts)' : 'decoding with a KV cache'} runs in eval mode only (model.eval()), without attention dropout`);
    }
    return scope(() => {
      const qkv = this.c_attn.forward(x); // [B, T, 3A]
      const context = cache ? extendCache(cache, qkv) : undefined; // [B, R, 3A], its first Tk slots filled
      // dropout on the attention weights happens inside the fused kernel (training only)
      const { p, seed } = this.attnDropout.draw();
      const y = causalAttention(qkv, this.nHead, context ?? null, starts, p, seed, cache && cachedLength(cache));
      return this.residDropout.forward(this.c_proj.forward(y)); // [B, T, C]
    });
  }
}

/** The feed-forward part of a block: Linear C -> F (4C unless set), GELU, Linear F -> C, dropout. */
export class MLP extends Module {
  readonly c_fc: Linear;
  readonly c_proj: Linear;
  private readonly drop: Dropout;
  private readonly activation: Activation;

  constructor(cfg: TransformerConfig, rng: Generator) {
    super();
    checkConfig('MLP', cfg, false);
    this.activation = cfg.activation ?? 'gelu';
    const F = cfg.mlpWidth ?? 4 * cfg.nEmbd;
    const storage = linearStorage(cfg);
    this.c_fc = this.module('c_fc', new Linear(cfg.nEmbd, F, { rng, bias: cfg.bias, ...storage }));
    try {
      this.c_proj = this.module('c_proj', new Linear(F, cfg.nEmbd, { rng, bias: cfg.bias, ...storage, std: 0.02 / Math.sqrt(2 * cfg.nLayer) }));
    } catch (e) {
      throw this.abandon(e);
    }
    this.drop = this.module('dropout', new Dropout(cfg.dropout, rng));
  }

  forward(x: Tensor): Tensor {
    return scope(() => {
      const { c_fc } = this;
      // the exact GELU has a kernel fused with the bias add; the tanh one (GPT-2's weights) follows it
      let h: Tensor; // [B, T, F]
      if (this.activation === 'gelu_tanh') h = c_fc.forward(x).geluTanh();
      else h = c_fc.bias ? biasGelu(c_fc.project(x), castForCompute(c_fc.bias)) : c_fc.forward(x).gelu();
      return this.drop.forward(this.c_proj.forward(h)); // [B, T, C]
    });
  }
}

/** A pre-LayerNorm transformer block: x + attn(ln_1(x)), then h + mlp(ln_2(h)). */
export class Block extends Module {
  readonly ln_1: LayerNorm;
  readonly attn: CausalSelfAttention;
  readonly ln_2: LayerNorm;
  readonly mlp: MLP;

  constructor(cfg: TransformerConfig, rng: Generator) {
    super();
    checkConfig('Block', cfg, true);
    this.ln_1 = this.module('ln_1', new LayerNorm(cfg.nEmbd, { bias: cfg.bias, eps: cfg.layerNormEps }));
    try {
      this.attn = this.module('attn', new CausalSelfAttention(cfg, rng));
      this.ln_2 = this.module('ln_2', new LayerNorm(cfg.nEmbd, { bias: cfg.bias, eps: cfg.layerNormEps }));
      this.mlp = this.module('mlp', new MLP(cfg, rng));
    } catch (e) {
      throw this.abandon(e);
    }
  }

  /** x [B, T, C]; `cache` and `starts` as CausalSelfAttention.forward takes them. */
  forward(x: Tensor, cache?: KVCache, starts?: Tensor): Tensor {
    return scope(() => {
      const h = x.add(this.attn.forward(this.ln_1.forward(x), cache, starts)); // x + attn(ln_1(x))
      return h.add(this.mlp.forward(this.ln_2.forward(h))); // h + mlp(ln_2(h))
    });
  }
}
