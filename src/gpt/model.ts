// GPT-2: token + learned position embeddings, nLayer pre-LN blocks, a final LayerNorm, and an LM
// head tied to the token embedding. Reads like nanoGPT's model.py; parameter names follow GPT-2
// (`wte.weight`, `h.0.attn.c_attn.weight`, ...). Shapes: B batch, T time, C = nEmbd, V = vocab.
// A structurally pruned GPT (src/gpt/prune.ts) has its own head count and MLP width per block.
import { profile } from '../kernels/profile.js';
import { arange, crossEntropy, linearCrossEntropy, matmul, type Tensor } from '../ops/index.js';
import { Dropout, Embedding, LayerNorm } from '../nn/layers.js';
import { Module, ModuleList } from '../nn/module.js';
import { ACTIVATIONS, Block, cachedLength, type Activation, type KVCache } from '../nn/transformer.js';
import { Generator } from '../tensor/generator.js';
import { scope } from '../tensor/scope.js';

/** A GPT's shape: vocabulary, context length (blockSize), layers, heads, width (nEmbd), dropout, biases, MLP activation. */
export interface GPTConfig {
  vocabSize: number;
  blockSize: number;
  nLayer: number;
  nHead: number;
  nEmbd: number;
  dropout: number;
  bias: boolean;
  /** The MLP's GELU: 'gelu' (exact, erf; nanoGPT's, the default) or 'gelu_tanh' (GPT-2's tanh approximation). */
  activation?: Activation;
  /**
   * Attention heads of each block, when they differ (structured pruning removes some); nHead in
   * every block when absent. A head is nEmbd / nHead wide in every block.
   */
  nHeads?: number[];
  /** The MLP's hidden width in each block, when it differs (pruned neurons); 4 * nEmbd when absent. */
  mlpWidths?: number[];
}

/** The per-block shapes: each block's head count and MLP width. */
const PER_LAYER = ['nHeads', 'mlpWidths'] as const;

/** What is wrong with the per-block shapes of `cfg` (nHeads, mlpWidths), or null; `name` spells a key for the reader. */
export function perLayerProblem(cfg: Record<string, unknown>, name: (key: string) => string): string | null {
  for (const key of PER_LAYER) {
    const list = cfg[key];
    if (list === undefined) continue;
    if (!Array.isArray(list) || list.length !== cfg.nLayer) return `${name(key)} must be an array of nLayer (${cfg.nLayer}) positive integers, got ${JSON.stringify(list)}`;
    const bad = list.findIndex((n) => !Number.isInteger(n) || n < 1);
    if (bad >= 0) return `${name(key)}[${bad}] must be a positive integer, got ${JSON.stringify(list[bad])}`;
  }
  return null;
}

/** Block i's shape: its head count (head size nEmbd / nHead throughout) and MLP width. */
export function blockConfig(cfg: GPTConfig, i: number): GPTConfig & { headSize: number; mlpWidth: number } {
  return { ...cfg, nHead: cfg.nHeads?.[i] ?? cfg.nHead, headSize: cfg.nEmbd / cfg.nHead, mlpWidth: cfg.mlpWidths?.[i] ?? 4 * cfg.nEmbd };
}

/** Whether some block's shape differs from the dense one (nHead heads, a 4 * nEmbd MLP). */
export const hasPrunedShapes = (cfg: GPTConfig) =>
  !!cfg.nHeads?.some((n) => n !== cfg.nHead) || !!cfg.mlpWidths?.some((w) => w !== 4 * cfg.nEmbd);

/** Throws a one-line error naming the first setting of `cfg` that is out of range. */
export function validateConfig(cfg: GPTConfig): void {
  for (const k of ['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd'] as const) {
    if (!Number.isInteger(cfg[k]) || cfg[k] < 1) throw new Error(`GPT config: ${k} must be a positive integer, got ${cfg[k]}`);
  }
  if (cfg.nEmbd % cfg.nHead) throw new Error(`GPT config: nEmbd (${cfg.nEmbd}) must be divisible by nHead (${cfg.nHead})`);
  if (!(cfg.dropout >= 0 && cfg.dropout < 1)) throw new Error(`GPT config: dropout must be in [0, 1), got ${cfg.dropout}`);
  if (cfg.activation !== undefined && !ACTIVATIONS.includes(cfg.activation)) {
    throw new Error(`GPT config: activation must be one of ${ACTIVATIONS.join(', ')}, got ${JSON.stringify(cfg.activation)}`);
  }
  const problem = perLayerProblem(cfg as unknown as Record<string, unknown>, (k) => k);
  if (problem) throw new Error(`GPT config: ${problem}`);
}

/** GPT-2 (nanoGPT's model.py): token and position embeddings, nLayer blocks, a final LayerNorm, a tied LM head. */
export class GPT extends Module {
  readonly wte: Embedding;
  readonly wpe: Embedding;
  readonly h: ModuleList<Block>;
  readonly ln_f: LayerNorm;
  private readonly drop: Dropout;
  /** Host randomness for dropout seeds; saved in checkpoints so resumed runs match. */
  readonly rng: Generator;

  constructor(readonly config: GPTConfig, opts: { seed?: number } = {}) {
    super();
    validateConfig(config);
    const rng = (this.rng = new Generator(opts.seed ?? 1337));
    const { vocabSize, blockSize, nLayer, nEmbd } = config;
    this.wte = this.module('wte', new Embedding(vocabSize, nEmbd, { rng }));
    this.wpe = this.module('wpe', new Embedding(blockSize, nEmbd, { rng }));
    this.drop = this.module('drop', new Dropout(config.dropout, rng));
    this.h = this.module('h', new ModuleList(Array.from({ length: nLayer }, (_, i) => new Block(blockConfig(config, i), rng))));
    this.ln_f = this.module('ln_f', new LayerNorm(nEmbd, { bias: config.bias }));
  }

  /** Parameters excluding position embeddings, as nanoGPT reports (the LM head is tied, so not counted twice). */
  numParams(nonEmbedding = true): number {
    return this.parameterCount() - (nonEmbedding ? this.wpe.weight.size : 0);
  }

  /**
   * idx: int32 [B, T] token ids. Returns logits [B, T, V] (only the last position's, [B, 1, V],
   * with `lastOnly`: all that generation needs), or with targets (int32 [B, T]; -1 = ignore) the
   * mean cross-entropy. When the logits would not fit one binding (a large vocabulary times B*T
   * rows), the LM head and loss run fused a chunk of rows at a time and no logits are returned.
   * With a cache (one per layer), positions continue after the cached ones and the cache grows by T.
   */
  forward(idx: Tensor, opts: { targets: Tensor; caches?: KVCache[] }): { loss: Tensor; logits?: Tensor };
  forward(idx: Tensor, opts?: { caches?: KVCache[]; lastOnly?: boolean }): { logits: Tensor };
  forward(idx: Tensor, opts: { targets?: Tensor; caches?: KVCache[]; lastOnly?: boolean } = {}): { logits?: Tensor; loss?: Tensor } {
    const [B, T] = idx.shape as [number, number];
    const past = cachedLength(opts.caches?.[0]);
    if (idx.rank !== 2) throw new Error(`GPT.forward: idx must be int32 [B, T], got ${idx.describe()}`);
    if (past + T > this.config.blockSize) {
      throw new Error(`GPT.forward: sequence of ${past + T} positions exceeds blockSize ${this.config.blockSize}`);
    }
    return scope(() => {
      const pos = arange(past, past + T); // [T]
      let x = this.drop.forward(this.wte.forward(idx).add(this.wpe.forward(pos))); // [B, T, C]
      this.h.items.forEach((block, i) => (x = block.forward(x, opts.caches?.[i])));
      x = this.ln_f.forward(x);
      const { vocabSize: V, nEmbd: C } = this.config;
      if (opts.targets && 4 * B * T * V > profile().bindingLimit) {
        const loss = linearCrossEntropy(x.reshape([B * T, C]), this.wte.weight, opts.targets.reshape([B * T]), -1); // tied LM head + loss, chunked
        return { loss };
      }
      if (opts.lastOnly) x = x.slice(1, T - 1); // [B, 1, C]
      const logits = matmul(x, this.wte.weight, { transB: true }); // [B, T, V], tied LM head
      if (!opts.targets) return { logits };
      const loss = crossEntropy(logits.reshape([B * T, -1]), opts.targets.reshape([B * T]), { ignoreIndex: -1 });
      return { logits, loss };
    });
  }
}
