// Transformer pieces, GPT-2 style: causal multi-head self-attention, the GELU MLP, and the pre-LN
// block with residuals. Shapes use the legend B (batch), T (time), C (channels), NH (heads),
// HS (head size = C / NH).
import { matmul } from '../ops/matmul.js';
import { concat, permute, slice } from '../ops/shape.js';
import { softmax } from '../ops/softmax.js';
import { where } from '../ops/elementwise.js';
import { arange } from '../tensor/create.js';
import type { Generator } from '../tensor/generator.js';
import { keep, scope } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { Dropout, LayerNorm, Linear } from './layers.js';
import { Module } from './module.js';

export interface TransformerConfig {
  nEmbd: number;
  nHead: number;
  nLayer: number;
  dropout: number;
  bias: boolean;
}

/** Causal mask [Tq, Tk] for queries at the last Tq of Tk positions: 1 where key j <= query i. */
function causalMask(Tq: number, Tk: number): Tensor {
  return scope(() => {
    const queryPos = arange(Tk - Tq, Tk).reshape([Tq, 1]).astype('float32');
    const keyPos = arange(Tk).reshape([1, Tk]).astype('float32');
    return queryPos.ge(keyPos);
  });
}

/** Keys and values of the positions seen so far, [B, NH, Tc, HS] each, for incremental decoding. */
export interface KVCache {
  k: Tensor | null;
  v: Tensor | null;
}

/** Appends the new keys/values to a cache (which owns them) and returns the full ones. */
function extendCache(cache: KVCache, k: Tensor, v: Tensor): [Tensor, Tensor] {
  const kAll = cache.k ? concat([cache.k, k], 2) : k;
  const vAll = cache.v ? concat([cache.v, v], 2) : v;
  cache.k?.dispose();
  cache.v?.dispose();
  cache.k = keep(kAll.detach());
  cache.v = keep(vAll.detach());
  return [kAll, vAll];
}

export class CausalSelfAttention extends Module {
  readonly c_attn: Linear;
  readonly c_proj: Linear;
  private readonly attnDropout: Dropout;
  private readonly residDropout: Dropout;
  private readonly nHead: number;

  constructor(cfg: TransformerConfig, rng: Generator) {
    super();
    this.nHead = cfg.nHead;
    this.c_attn = this.module('c_attn', new Linear(cfg.nEmbd, 3 * cfg.nEmbd, { rng, bias: cfg.bias }));
    // GPT-2: residual projections scaled by 1/sqrt(2 nLayer)
    this.c_proj = this.module('c_proj', new Linear(cfg.nEmbd, cfg.nEmbd, { rng, bias: cfg.bias, std: 0.02 / Math.sqrt(2 * cfg.nLayer) }));
    this.attnDropout = this.module('attn_dropout', new Dropout(cfg.dropout, rng));
    this.residDropout = this.module('resid_dropout', new Dropout(cfg.dropout, rng));
  }

  forward(x: Tensor, cache?: KVCache): Tensor {
    const [B, T, C] = x.shape as [number, number, number];
    const NH = this.nHead;
    const HS = C / NH;
    return scope(() => {
      const qkv = this.c_attn.forward(x); // [B, T, 3C]
      const heads = (i: number) => permute(slice(qkv, 2, i * C, (i + 1) * C).reshape([B, T, NH, HS]), [0, 2, 1, 3]); // [B, NH, T, HS]
      const q = heads(0);
      const [k, v] = cache ? extendCache(cache, heads(1), heads(2)) : [heads(1), heads(2)]; // [B, NH, Tk, HS]
      const Tk = k.shape[2]!;
      const scores = matmul(q, k, { transB: true }).mul(1 / Math.sqrt(HS)); // [B, NH, T, Tk]
      // a single new query may attend to every cached key: no mask needed
      const masked = T === 1 ? scores : where(causalMask(T, Tk), scores, -1e9);
      const att = this.attnDropout.forward(softmax(masked, -1));
      const y = matmul(att, v); // [B, NH, T, HS]
      const merged = permute(y, [0, 2, 1, 3]).reshape([B, T, C]);
      return this.residDropout.forward(this.c_proj.forward(merged)); // [B, T, C]
    });
  }
}

export class MLP extends Module {
  readonly c_fc: Linear;
  readonly c_proj: Linear;
  private readonly drop: Dropout;

  constructor(cfg: TransformerConfig, rng: Generator) {
    super();
    this.c_fc = this.module('c_fc', new Linear(cfg.nEmbd, 4 * cfg.nEmbd, { rng, bias: cfg.bias }));
    this.c_proj = this.module('c_proj', new Linear(4 * cfg.nEmbd, cfg.nEmbd, { rng, bias: cfg.bias, std: 0.02 / Math.sqrt(2 * cfg.nLayer) }));
    this.drop = this.module('dropout', new Dropout(cfg.dropout, rng));
  }

  forward(x: Tensor): Tensor {
    return scope(() => this.drop.forward(this.c_proj.forward(this.c_fc.forward(x).gelu()))); // [B, T, C]
  }
}

export class Block extends Module {
  readonly ln_1: LayerNorm;
  readonly attn: CausalSelfAttention;
  readonly ln_2: LayerNorm;
  readonly mlp: MLP;

  constructor(cfg: TransformerConfig, rng: Generator) {
    super();
    this.ln_1 = this.module('ln_1', new LayerNorm(cfg.nEmbd, { bias: cfg.bias }));
    this.attn = this.module('attn', new CausalSelfAttention(cfg, rng));
    this.ln_2 = this.module('ln_2', new LayerNorm(cfg.nEmbd, { bias: cfg.bias }));
    this.mlp = this.module('mlp', new MLP(cfg, rng));
  }

  forward(x: Tensor, cache?: KVCache): Tensor {
    return scope(() => {
      const h = x.add(this.attn.forward(this.ln_1.forward(x), cache)); // x + attn(ln_1(x))
      return h.add(this.mlp.forward(this.ln_2.forward(h))); // h + mlp(ln_2(h))
    });
  }
}
