// GPT-2: token + learned position embeddings, nLayer pre-LN blocks, a final LayerNorm, and an LM
// head tied to the token embedding. Reads like nanoGPT's model.py; parameter names follow GPT-2
// (`wte.weight`, `h.0.attn.c_attn.weight`, ...). Shapes: B batch, T time, C = nEmbd, V = vocab.
// A structurally pruned GPT (src/gpt/prune.ts) has its own head count and MLP width per block.
import { profile } from '../kernels/profile.js';
import { add, arange, crossEntropy, div, full, int4GroupProblem, linearCrossEntropy, maximum, mul, ne, sum, tensor, type Tensor } from '../ops/index.js';
import { checkpoint } from '../autograd/checkpoint.js';
import { castForCompute } from '../nn/autocast.js';
import { Dropout } from '../nn/dropout.js';
import { Embedding, LayerNorm, Linear } from '../nn/layers.js';
import { Module, ModuleList } from '../nn/module.js';
import { ACTIVATIONS, Block, cachedLength, QUANTIZATIONS, type Activation, type KVCache, type Quantization } from '../nn/transformer.js';
import { Generator } from '../tensor/generator.js';
import { scope } from '../tensor/scope.js';
import { elementBytes, Tensor as TensorClass } from '../tensor/tensor.js';
import { checkBoolean, checkOptionKeys, checkTensor, describeValue } from '../tensor/check.js';
import { settingProblem, show } from '../io/value-ranges.js';
import { formatShape, sameShape } from '../tensor/shape.js';
import { isMaskName } from '../nn/prune.js';
import { GPT_LORA_DEFAULTS, isTargeted, trainsBias, loraConfigProblem, loraRankProblem, targetedLinears, type LinearShape, type LoRAConfig } from './lora.js';
import type { MemoryBound } from '../device/adapter.js';
import { device } from '../device/device.js';
import { bufferFitProblem, formatBytes, formatCount, type PlannedBuffer } from './buffer-fit.js';

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
   * ALBERT-style parameter sharing: each group of shareLayers consecutive blocks runs one block's
   * weights (1 or absent: none shared). Must divide nLayer.
   */
  shareLayers?: number;
  /**
   * 'int8': the token embedding (and so the tied LM head) and every Linear hold int8 weights with
   * per-row scales (quantizeModel makes such a model; inference only). 'int4': every Linear holds
   * int4 weights with a scale per groupSize inputs, the token embedding int8 as above. float32 when absent.
   */
  quantization?: Quantization;
  /** int4's group size, with quantization 'int4' only: a multiple of 8 dividing every Linear's input width. */
  groupSize?: number;
  /**
   * Attention heads of each block, when they differ (structured pruning removes some); nHead in
   * every block when absent. A head is nEmbd / nHead wide in every block.
   */
  nHeads?: number[];
  /** The MLP's hidden width in each block, when it differs (pruned neurons); 4 * nEmbd when absent. */
  mlpWidths?: number[];
  /** Every LayerNorm's epsilon (a Hugging Face GPT-2's layer_norm_epsilon); 1e-5 (nanoGPT's and GPT-2's) when absent. */
  layerNormEps?: number;
  /** LoRA adapters on the block layers `lora.targets` names, every other parameter frozen (src/gpt/lora.ts); none when absent. */
  lora?: LoRAConfig;
}

/** Every key a GPTConfig may have: another one (nEmbed for nEmbd) would be silently ignored. */
const CONFIG_KEYS: readonly (keyof GPTConfig)[] = [
  'vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd', 'dropout', 'bias', 'activation', 'shareLayers', 'quantization', 'groupSize', 'nHeads', 'mlpWidths', 'layerNormEps', 'lora',
];

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

/** What is wrong with a config's groupSize (`name` spells a key), or null: given with quantization 'int4' only, a multiple of 8 dividing every Linear's input width. */
export function groupSizeProblem(cfg: GPTConfig, name: (k: keyof GPTConfig) => string): string | null {
  const { quantization, groupSize } = cfg;
  if ((quantization === 'int4') !== (groupSize !== undefined)) return `${name('groupSize')} comes with ${name('quantization')} 'int4' and only with it, got ${show(groupSize)} with ${show(quantization)}`;
  if (groupSize === undefined) return null;
  const multiple = int4GroupProblem(groupSize, 0); // of 8, whatever the widths
  if (multiple) return `${name('groupSize')}: ${multiple}`;
  for (const [layer, , inputs] of blockLinearShapes(cfg)) {
    const problem = int4GroupProblem(groupSize, inputs);
    if (problem) return `${name('groupSize')}: ${problem} (${layer}'s input)`;
  }
  return null;
}

/** The Linear layers of each block that holds weights (a shared one once), as [name in the block, out, in]. */
export function blockLinearShapes(cfg: GPTConfig): LinearShape[] {
  const C = cfg.nEmbd;
  const K = cfg.shareLayers ?? 1;
  return Array.from({ length: cfg.nLayer / K }, (_, j): LinearShape[] => {
    const { nHead, headSize, mlpWidth: F } = blockConfig(cfg, j * K);
    const A = nHead * headSize;
    return [['attn.c_attn', 3 * A, C], ['attn.c_proj', C, A], ['mlp.c_fc', F, C], ['mlp.c_proj', C, F]];
  }).flat();
}

/**
 * The parameters a GPT of `cfg` holds, from its config alone, in the order the model lists them
 * (each shared block once, the LM head tied to the token embedding, wpe at blockSize rows, a
 * targeted Linear's LoRA A and B after its weight and bias), each a shape [rows, cols] or [n];
 * `matrix`: the token embedding or a Linear weight, which int8 quantizes; `trained`: what a LoRA
 * model trains, its adapters' A and B and the biases its lora.bias names.
 */
export function configParameterShapes(cfg: GPTConfig): { shape: number[]; matrix: boolean; trained?: boolean }[] {
  const C = cfg.nEmbd;
  const vector = (n: number) => ({ shape: [n], matrix: false });
  const lora = cfg.lora;
  const layerNorm = () => (cfg.bias ? [vector(C), { ...vector(C), ...(lora?.bias === 'all' && { trained: true }) }] : [vector(C)]);
  // what a LoRA run trains beside its adapters (peft's bias: all, or the adapted Linears' for lora_only)
  const trainedBias = (n: number, adapted: boolean) => ({ ...vector(n), ...((lora?.bias === 'all' || (lora?.bias === 'lora_only' && adapted)) && { trained: true }) });
  const linear = ([name, outputs, inputs]: LinearShape) => {
    const adapted = !!lora && isTargeted(name, lora.targets);
    return [
      { shape: [outputs, inputs], matrix: true },
      ...(cfg.bias ? [trainedBias(outputs, adapted)] : []),
      ...(lora && adapted ? [{ shape: [lora.rank, inputs], matrix: false, trained: true }, { shape: [outputs, lora.rank], matrix: false, trained: true }] : []),
    ];
  };
  const shapes = [{ shape: [cfg.vocabSize, C], matrix: true }, { shape: [cfg.blockSize, C], matrix: false }];
  // each block: ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj (blockLinearShapes lists its four Linears in that order)
  const linears = blockLinearShapes(cfg);
  for (let j = 0; j < linears.length; j += 4) {
    const [attn, proj, fc, mlpProj] = linears.slice(j, j + 4).map(linear);
    shapes.push(...layerNorm(), ...attn!, ...proj!, ...layerNorm(), ...fc!, ...mlpProj!);
  }
  shapes.push(...layerNorm());
  return shapes;
}

/**
 * `cfg` cut to its first group of blocks (shareLayers of them, one block's weights) where all its
 * blocks are alike, else `cfg` (a pruned model's blocks, each of its own shape, listed as long as
 * its lists are): what is counted or checked per block is done once, not nLayer times (a damaged
 * header's nLayer of 1e9, listed layer by layer, took minutes and gigabytes).
 */
export const firstBlockGroup = (cfg: GPTConfig): GPTConfig => (cfg.nHeads || cfg.mlpWidths ? cfg : { ...cfg, nLayer: cfg.shareLayers ?? 1 });

/** How many parameters a GPT of `cfg` holds (configParameterShapes): what a checkpoint's tensors should add up to, known without building the model (`gpt info` reads a header only). */
export function configParameterCount(cfg: GPTConfig): number {
  const count = (c: GPTConfig) => configParameterShapes(c).reduce((n, { shape }) => n + shape.reduce((a, b) => a * b, 1), 0);
  const group = firstBlockGroup(cfg);
  const outside = count({ ...cfg, nLayer: 0 });
  return outside + (cfg.nLayer / group.nLayer) * (count(group) - outside); // alike groups: one counted, times their number
}

/**
 * The most layers a GPT may have: each is made on its own (its modules, its weights' buffers:
 * ~0.7 ms and ~20 KB of the host's memory apiece on lavapipe) and then run, checked and planned
 * one by one, so a model's work per layer is bounded by this (GPT-3 has 96).
 */
export const MAX_LAYERS = 1000;

/** What an adapter can hold: its limits (per buffer, per binding) and its memory in all. */
export interface AdapterRoom {
  limits: Record<string, number>;
  memoryBound: MemoryBound;
}

/** The open device's room. */
export const deviceRoom = (): AdapterRoom => ({ limits: device().info.limits, memoryBound: device().memoryBound });

/**
 * The largest weights of a GPT of `cfg`, each one buffer: the token and position embeddings, an MLP
 * weight. An int8 table is bound whole, by the embedding and by the LM head, and an int8 or int4
 * weight by linearInt8 or linearInt4 (int4's two a byte); a float weight's products (matmul-blocks),
 * gradient and update take a window at a time.
 */
export function weightBuffers(cfg: GPTConfig): PlannedBuffer[] {
  const { vocabSize: V, blockSize: T, nEmbd: C } = cfg;
  const int8 = cfg.quantization !== undefined; // int4 models' token embedding is int8 too
  const matrix = (name: string, elements: number, bytesEach = int8 ? 1 : 4): PlannedBuffer => ({ name, bytes: elements * bytesEach, elements, bound: int8 ? 'whole' : 'windowed' });
  return [
    matrix(`the token embedding (vocab ${V} x n-embd ${C})`, V * C),
    { name: `the position embedding (block ${T} x n-embd ${C})`, bytes: T * C * 4, elements: T * C, bound: 'windowed' },
    matrix(`an MLP weight (n-embd ${C} x 4·n-embd)`, 4 * C * C, cfg.quantization === 'int4' ? 0.5 : undefined),
  ];
}

/**
 * Why no GPT of `cfg` can be made, from its sizes alone and in a time that does not grow with its
 * layers (so before anything is made, planned or checked layer by layer), or null: a weight past
 * the elements kernels index; on `adapter`, a weight past its largest buffer, or its weights alone
 * past its memory; more than MAX_LAYERS layers.
 */
export function modelSizeProblem(cfg: GPTConfig, adapter?: AdapterRoom): string | null {
  const weights = bufferFitProblem(weightBuffers(cfg), adapter?.limits ?? {});
  if (weights) return weights;
  const memory = adapter && weightsMemoryProblem(cfg, adapter.memoryBound);
  if (memory) return memory;
  return cfg.nLayer > MAX_LAYERS ? `n-layer ${cfg.nLayer} is past the ${MAX_LAYERS} layers a GPT may have: each is made, run and checked on its own (GPT-3 has 96)` : null;
}

/** Why the weights of a GPT of `cfg` alone cannot be in memory of `bound` (their float32 bytes, an int8 model's at least a byte each), or null. */
function weightsMemoryProblem(cfg: GPTConfig, bound: MemoryBound): string | null {
  const parameters = configParameterCount(cfg);
  const bytes = parameters * (cfg.quantization === 'int8' ? 1 : cfg.quantization === 'int4' ? 0.5 : 4);
  if (bytes <= bound.bytes) return null;
  const shape = `${formatCount(parameters)} parameters: n-layer ${cfg.nLayer}, n-embd ${cfg.nEmbd}, vocab ${cfg.vocabSize}`;
  return `the model does not fit this adapter: its weights alone take ${cfg.quantization ? 'at least ' : ''}${formatBytes(bytes)} (${shape}), more than ${formatBytes(bound.bytes)}, ${bound.what}`;
}

/** nanoGPT's GPTConfig defaults for what `new GPT` may be given without: no dropout, biases in the Linears and LayerNorms. */
export const GPT_CONFIG_DEFAULTS = { dropout: 0, bias: true } as const;

/** A GPTConfig as `new GPT` takes it: dropout and bias may be left out (GPT_CONFIG_DEFAULTS, nanoGPT's). */
export type GPTConfigInput = Omit<GPTConfig, 'dropout' | 'bias'> & Partial<Pick<GPTConfig, 'dropout' | 'bias'>>;

/** `cfg` with GPT_CONFIG_DEFAULTS where it leaves dropout or bias out (undefined); anything else as it is, for validateConfig to judge. */
function withDefaults(cfg: GPTConfigInput): GPTConfig {
  if (cfg === null || typeof cfg !== 'object' || (cfg.dropout !== undefined && cfg.bias !== undefined)) return cfg as GPTConfig;
  return { ...cfg, dropout: cfg.dropout ?? GPT_CONFIG_DEFAULTS.dropout, bias: cfg.bias ?? GPT_CONFIG_DEFAULTS.bias };
}

/** Whether some block's shape differs from the dense one (nHead heads, a 4 * nEmbd MLP). */
export const hasPrunedShapes = (cfg: GPTConfig) =>
  !!cfg.nHeads?.some((n) => n !== cfg.nHead) || !!cfg.mlpWidths?.some((w) => w !== 4 * cfg.nEmbd);

/** Throws a one-line error naming the first setting of `cfg` that is out of range. */
export function validateConfig(cfg: GPTConfig): void {
  if (cfg === null || typeof cfg !== 'object') throw new TypeError(`GPT config: must be an object { vocabSize, blockSize, nLayer, nHead, nEmbd, dropout, bias, ... }, got ${describeValue(cfg)}`);
  checkOptionKeys('GPT config', cfg, CONFIG_KEYS);
  for (const k of ['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd'] as const) {
    if (!Number.isInteger(cfg[k]) || cfg[k] < 1) throw new Error(`GPT config: ${k} must be a positive integer, got ${show(cfg[k])}`);
  }
  const bias = settingProblem('bias', cfg.bias, false); // undefined or 'yes' would pass for true in the layers
  if (bias) throw new TypeError(`GPT config: ${bias}`);
  if (cfg.nEmbd % cfg.nHead) throw new Error(`GPT config: nEmbd (${cfg.nEmbd}) must be divisible by nHead (${cfg.nHead})`);
  const problem = shareLayersProblem(cfg, (k) => k);
  if (problem) throw new Error(`GPT config: ${problem}`);
  if (!(typeof cfg.dropout === 'number' && cfg.dropout >= 0 && cfg.dropout < 1)) throw new Error(`GPT config: dropout must be in [0, 1), got ${show(cfg.dropout)}`);
  if (cfg.activation !== undefined && !ACTIVATIONS.includes(cfg.activation)) {
    throw new Error(`GPT config: activation must be one of ${ACTIVATIONS.join(', ')}, got ${JSON.stringify(cfg.activation)}`);
  }
  const eps = cfg.layerNormEps;
  if (eps !== undefined && !(typeof eps === 'number' && eps > 0 && Math.fround(eps) > 0 && Number.isFinite(Math.fround(eps)))) {
    throw new Error(`GPT config: layerNormEps must be a number > 0 within float32's range (or absent: 1e-5), got ${show(eps)}`);
  }
  if (cfg.quantization !== undefined && !QUANTIZATIONS.includes(cfg.quantization)) {
    throw new Error(`GPT config: quantization must be one of ${QUANTIZATIONS.join(', ')} (or absent: float32), got ${JSON.stringify(cfg.quantization)}`);
  }
  const perLayer = perLayerProblem(cfg as unknown as Record<string, unknown>, (k) => k) ?? groupSizeProblem(cfg, (k) => k);
  if (perLayer) throw new Error(`GPT config: ${perLayer}`);
  if ((cfg.shareLayers ?? 1) > 1 && hasPrunedShapes(cfg)) {
    throw new Error('GPT config: per-block shapes (nHeads, mlpWidths: a structurally pruned model) cannot be combined with shareLayers');
  }
  if (cfg.lora !== undefined) {
    const problem = loraConfigProblem(cfg.lora, (k) => `lora.${k}`) ?? loraRankProblem(cfg.lora, blockLinearShapes(firstBlockGroup(cfg)), 'lora.rank');
    if (problem) throw new Error(`GPT config: ${problem}`);
    if (cfg.quantization) throw new Error(`GPT config: lora cannot adapt ${cfg.quantization} weights (allowed: float32 weights; merge the adapters, then quantize)`);
  }
}

/** What is wrong with a config's shareLayers (absent is 1), or null; `name` spells a key as the caller's user knows it. */
export function shareLayersProblem(c: Pick<GPTConfig, 'nLayer' | 'shareLayers'>, name: (key: string) => string): string | null {
  const k = c.shareLayers ?? 1;
  if (!Number.isInteger(k) || k < 1) return `${name('shareLayers')} must be a positive integer, got ${k}`;
  return c.nLayer % k ? `${name('shareLayers')} (${k}) must divide ${name('nLayer')} (${c.nLayer}): each group of ${k} consecutive blocks shares one block's weights` : null;
}

/** Left-padding offsets: one integer per row, each leaving the row at least one real slot of `slots`. */
function checkStarts(starts: readonly number[], B: number, slots: number): void {
  if (!Array.isArray(starts) || starts.length !== B) throw new Error(`GPT.forward: starts must hold one slot per row (${B}), got ${String(starts)}`);
  const bad = starts.findIndex((s) => !(Number.isInteger(s) && s >= 0 && s < slots));
  if (bad >= 0) throw new Error(`GPT.forward: starts[${bad}] = ${starts[bad]} is not a slot in [0, ${slots})`);
}

/** GPT-2 (nanoGPT's model.py): token and position embeddings, nLayer blocks, a final LayerNorm, a tied LM head. */
export class GPT extends Module {
  readonly wte: Embedding;
  readonly wpe: Embedding;
  readonly h: ModuleList<Block>;
  readonly ln_f: LayerNorm;
  private readonly drop: Dropout;
  /** Host randomness for dropout seeds (and LoRA's initial A); saved in checkpoints so resumed runs match. */
  readonly rng: Generator;
  /** The shape, its `lora` changed by addLoRA and mergeLoRA. */
  private currentConfig: GPTConfig;

  constructor(given: GPTConfigInput, opts: { seed?: number } = {}) {
    super();
    const config = withDefaults(given);
    validateConfig(config);
    const size = modelSizeProblem(config, deviceRoom()); // before a layer is made
    if (size) throw new RangeError(`GPT config: ${size}`);
    this.currentConfig = config;
    checkOptionKeys('GPT', opts, ['seed']);
    const rng = (this.rng = new Generator(opts.seed ?? 1337));
    const { vocabSize, blockSize, nLayer, nEmbd } = config;
    this.wte = this.module('wte', new Embedding(vocabSize, nEmbd, { rng, int8: config.quantization !== undefined })); // int4 models keep it int8 (quantize.ts says why)
    const blocks: Block[] = [];
    try {
      this.wpe = this.module('wpe', new Embedding(blockSize, nEmbd, { rng }));
      this.drop = this.module('drop', new Dropout(config.dropout, rng));
      // with shareLayers K, layer i runs block floor(i / K): a shared block's parameters are listed
      // (and saved) once, under the name of the first layer of its group (h.0, h.K, h.2K, ...)
      const K = config.shareLayers ?? 1;
      for (let j = 0; j < nLayer / K; j++) blocks.push(new Block(blockConfig(config, j * K), rng));
      this.h = this.module('h', new ModuleList(Array.from({ length: nLayer }, (_, i) => blocks[Math.floor(i / K)]!)));
      this.ln_f = this.module('ln_f', new LayerNorm(nEmbd, { bias: config.bias, eps: config.layerNormEps }));
      if (config.lora) this.attachLoRA(config.lora);
    } catch (e) {
      for (const b of blocks) b.dispose(); // made, and perhaps not yet registered
      throw this.abandon(e);
    }
  }

  get config(): GPTConfig {
    return this.currentConfig;
  }

  /**
   * Adapts the layers `targets` names with LoRA adapters (A drawn from the model's generator) and
   * freezes every other parameter, as peft's get_peft_model: only the adapters train. What `opts`
   * leaves out is GPT_LORA_DEFAULTS' (peft's: alpha 8, dropout 0, targets c_attn). Refused
   * for an int8 or pruned model, an adapted one, or a rank past a targeted layer's min(in, out).
   */
  addLoRA(opts: Pick<LoRAConfig, 'rank'> & Partial<LoRAConfig>): this {
    if (this.currentConfig.lora) throw new Error('GPT.addLoRA: the model already has LoRA adapters; merge them first (mergeLoRA)');
    const { rank, alpha = GPT_LORA_DEFAULTS.alpha, dropout = GPT_LORA_DEFAULTS.dropout, targets = [...GPT_LORA_DEFAULTS.targets], bias = 'none', ...unknown } = opts;
    // unknown keys stay, for validateConfig to name; bias none is left out, as in the configs made before it
    const lora: LoRAConfig = { rank, alpha, dropout, targets, ...(bias !== 'none' && { bias }), ...unknown };
    const config = { ...this.currentConfig, lora };
    validateConfig(config);
    const pruned = this.prunedMask();
    if (pruned) throw new Error(`GPT.addLoRA: a pruned model (${pruned}) cannot take LoRA adapters, whose update would fill its masked zeros; allowed: a dense float32 model`);
    this.checkAdapters('GPT.addLoRA');
    this.attachLoRA(lora);
    this.currentConfig = config;
    return this;
  }

  /** The name of the model's first pruning mask, or undefined where it is not pruned (LoRA adapters would fill its masked zeros). */
  prunedMask(): string | undefined {
    return [...this.namedBuffers()].find(([name]) => isMaskName(name))?.[0];
  }

  /**
   * Throws, naming `op` and the layer, where the Linear layers' LoRA adapters are not those
   * config.lora records: one made by a layer's own addLoRA, or one its removeLoRA took off. A
   * checkpoint or export of the config would miss it, or name one the model does not hold.
   */
  checkAdapters(op: string): void {
    const lora = this.currentConfig.lora;
    const recorded = new Set<Module>(lora ? targetedLinears(this.h.items, lora.targets) : []);
    for (const [name, m] of this.namedModules()) {
      if (!(m instanceof Linear) || (m.lora !== null) === recorded.has(m)) continue;
      throw new Error(m.lora
        ? `${op}: ${name} has a LoRA adapter the model's config does not record (Linear.addLoRA made it; GPT.addLoRA records its own): merge or remove it first (its mergeLoRA or removeLoRA)`
        : `${op}: ${name} lost the LoRA adapter the model's config records (its removeLoRA or mergeLoRA took it; GPT.mergeLoRA merges them all)`);
    }
  }

  /** All or nothing: refused partway (an allocation failing), it leaves the model as it was. */
  private attachLoRA(lora: LoRAConfig): void {
    const { rank, alpha, dropout, targets } = lora;
    const [trainable, rngState] = [this.trainableParameters(), this.rng.getState()];
    const added: Linear[] = [];
    this.requiresGrad_(false);
    try {
      for (const linear of targetedLinears(this.h.items, targets)) {
        linear.addLoRA({ rank, alpha, dropout, rng: this.rng });
        added.push(linear);
      }
      // peft's LoraConfig.bias: these train beside the adapters (_mark_only_adapters_as_trainable)
      for (const [name, p] of this.namedParameters()) if (trainsBias(lora, name)) p.requiresGrad_(true);
    } catch (e) {
      for (const linear of added) linear.removeLoRA();
      for (const p of trainable) p.requiresGrad_(true);
      this.rng.setState(rngState);
      throw e;
    }
  }

  /** Folds the LoRA adapters into their weights (W += (alpha/r)·B·A) and frees them: a plain GPT again, every parameter trainable. */
  mergeLoRA(): this {
    const lora = this.currentConfig.lora;
    if (!lora) throw new Error('GPT.mergeLoRA: the model has no LoRA adapters (addLoRA, or a config with lora, makes them)');
    this.checkAdapters('GPT.mergeLoRA');
    for (const linear of targetedLinears(this.h.items, lora.targets)) linear.mergeLoRA();
    const { lora: _, ...plain } = this.currentConfig;
    this.currentConfig = plain;
    return this.requiresGrad_(true);
  }

  /**
   * Parameters excluding position embeddings, as nanoGPT reports (the LM head is tied, so not
   * counted twice); a quantized model's scales are not among them, and an int4 weight's bytes count
   * two each (those of the float32 model).
   */
  numParams(nonEmbedding = true): number {
    const layers = new Set([...this.namedModules()].flatMap(([, m]) => (m instanceof Linear || m instanceof Embedding ? [m] : [])));
    const scaleCount = [...layers].reduce((n, l) => n + (l.weightScale?.size ?? 0), 0);
    const packedInt4 = [...layers].reduce((n, l) => n + (l.int4GroupSize ? l.weight.size : 0), 0); // a second weight per byte
    return this.parameterCount() - scaleCount + packedInt4 - (nonEmbedding ? this.wpe.weight.size : 0);
  }

  /**
   * Every parameter under its own layer's name (h.0 ... h.{nLayer - 1}), a shared block's once for
   * each layer that runs it: the layout of a model without sharing (GPT-2's, for export).
   */
  *layerParameters(): IterableIterator<[string, Tensor]> {
    yield* this.wte.namedParameters('wte.');
    yield* this.wpe.namedParameters('wpe.');
    for (const [i, block] of this.h.items.entries()) yield* block.namedParameters(`h.${i}.`);
    yield* this.ln_f.namedParameters('ln_f.');
  }

  /**
   * idx: int32 [B, T] token ids. Returns logits [B, T, V] (only the last position's, [B, 1, V],
   * with `lastOnly`: all that generation needs), or with targets (int32 [B, T]; -1 = ignore) the
   * mean cross-entropy. When the logits would not fit one binding (a large vocabulary times B*T
   * rows), the LM head and loss run fused a chunk of rows at a time and no logits are returned.
   * With a cache (one per layer), positions continue after the cached ones and the cache grows by T.
   * With `starts` (inference only), the rows are sequences of different lengths, left-padded: row b's
   * tokens start at slot starts[b] (of the cached slots and idx's together) and are at positions
   * 0, 1, ... from there; the padding before is never attended to, and its outputs are meaningless.
   * Under autocast('float16') (src/nn/autocast.ts) the model computes in float16 from its float32
   * parameters: the residual stream and the logits are float16, the loss float32; the tied LM head
   * casts wte's weight (the embedding casts only the rows it gathers).
   * With `recompute` (training: llm.c's recompute, PyTorch's checkpointing), each block keeps only its
   * input for the backward, which runs the block again (src/autograd/checkpoint.ts): the same
   * gradients, dropout's masks included, for one more forward and one block's activations at a time.
   */
  forward(idx: Tensor, opts: { targets: Tensor; caches?: KVCache[]; recompute?: boolean }): { loss: Tensor; logits?: Tensor };
  forward(idx: Tensor, opts?: { caches?: KVCache[]; lastOnly?: boolean; starts?: readonly number[]; recompute?: boolean }): { logits: Tensor };
  forward(
    idx: Tensor,
    opts: { targets?: Tensor; caches?: KVCache[]; lastOnly?: boolean; starts?: readonly number[]; recompute?: boolean } = {},
  ): { logits?: Tensor; loss?: Tensor } {
    checkTensor('GPT.forward', 'idx', idx);
    // nanoGPT's model(idx, targets)
    if (opts instanceof TensorClass) throw new TypeError(`GPT.forward: the second argument is an options object, got the tensor ${describeValue(opts)}: pass the targets as forward(idx, { targets })`);
    checkOptionKeys('GPT.forward', opts, ['targets', 'caches', 'lastOnly', 'starts', 'recompute']); // { target } would return no loss
    if (opts.lastOnly !== undefined) checkBoolean('GPT.forward', 'lastOnly', opts.lastOnly);
    if (opts.recompute !== undefined) checkBoolean('GPT.forward', 'recompute', opts.recompute);
    // a block run again would append to its cache twice
    if (opts.recompute && (opts.caches || opts.starts)) throw new Error('GPT.forward: recompute is for training: it takes no caches or starts');
    if (opts.caches !== undefined && !Array.isArray(opts.caches)) throw new TypeError(`GPT.forward: argument 'caches' must be an array of KV caches, got ${describeValue(opts.caches)}`);
    const [B, T] = idx.shape as [number, number];
    const past = cachedLength(opts.caches?.[0]);
    if (idx.rank !== 2 || idx.dtype !== 'int32') throw new Error(`GPT.forward: idx must be int32 [B, T], got ${idx.describe()}`);
    const { targets } = opts;
    // a mismatch would surface as a reshape error that names neither the model nor the targets
    if (targets != null && (checkTensor('GPT.forward', 'targets', targets).dtype !== 'int32' || !sameShape(targets.shape, idx.shape))) {
      throw new Error(`GPT.forward: targets must be int32 shaped like idx ${formatShape(idx.shape)}, got ${targets.describe()}`);
    }
    const { starts } = opts;
    if (starts) checkStarts(starts, B, past + T);
    const longest = past + T - (starts ? Math.min(...starts) : 0);
    if (longest > this.config.blockSize) {
      throw new Error(`GPT.forward: sequence of ${longest} positions exceeds blockSize ${this.config.blockSize}`);
    }
    return scope(() => {
      let x = this.trunk(idx, opts, past); // [B, T, C]
      const { vocabSize: V, nEmbd: C } = this.config;
      if (opts.targets && elementBytes(x.dtype) * B * T * V > profile().bindingLimit) {
        const [rows, targets] = [x.reshape([B * T, C]), opts.targets.reshape([B * T])];
        if (this.wte.weightScale) return { loss: this.chunkedLoss(rows, targets) };
        return { loss: linearCrossEntropy(rows, castForCompute(this.wte.weight), targets, { ignoreIndex: -1 }) }; // tied LM head + loss, chunked
      }
      if (opts.lastOnly) x = x.slice(1, T - 1); // [B, 1, C]
      const logits = this.wte.project(x); // [B, T, V], tied LM head
      if (!opts.targets) return { logits };
      const loss = crossEntropy(logits.reshape([B * T, -1]), opts.targets.reshape([B * T]), { ignoreIndex: -1 });
      return { logits, loss };
    });
  }

  /**
   * The LM head's input [B, T, C] for idx [B, T] (the final layer norm's output; inference, from
   * position 0): logitsOf a slice of its rows gives their logits, for a caller that needs every
   * position's logits a chunk at a time ([T, V] may pass a binding: src/gpt/score.ts).
   */
  hidden(idx: Tensor): Tensor {
    const T = idx.shape[1]!;
    if (idx.rank !== 2 || idx.dtype !== 'int32' || T > this.config.blockSize) throw new Error(`GPT.hidden: idx must be int32 [B, T] with T <= blockSize ${this.config.blockSize}, got ${idx.describe()}`);
    return scope(() => this.trunk(idx, {}, 0));
  }

  /** The logits [..., V] of hidden states [..., C] (hidden's): the tied LM head. */
  logitsOf(x: Tensor): Tensor {
    return this.wte.project(x);
  }

  /** Embeddings, blocks and the final layer norm of forward: [B, T, C], positions from `past` (or per row from `starts`). */
  private trunk(idx: Tensor, opts: { caches?: KVCache[]; starts?: readonly number[]; recompute?: boolean }, past: number): Tensor {
    const [B, T] = idx.shape as [number, number];
    const { starts } = opts;
    // positions [T], or per row [B, T] when padded (0 in the padding)
    const pos = starts
      ? tensor(Int32Array.from({ length: B * T }, (_, k) => Math.max(0, past + (k % T) - starts[Math.floor(k / T)]!)), [B, T])
      : arange(past, past + T);
    const startsT = starts ? tensor(Int32Array.from(starts), [B]) : undefined;
    let x = this.drop.forward(this.wte.forward(idx).add(this.wpe.forward(pos))); // [B, T, C]
    this.h.items.forEach((block, i) => {
      x = opts.recompute
        ? checkpoint((x) => block.forward(x), [x]) // dropout's generator replayed in the recompute
        : block.forward(x, opts.caches?.[i], startsT);
    });
    return this.ln_f.forward(x);
  }

  /**
   * The mean cross-entropy of an int8 LM head whose logits would not fit one binding: rows a chunk
   * at a time (inference: linearCrossEntropy is the trainable float32 form), each chunk's mean
   * times its count of targets other than -1, summed, over the whole count.
   */
  private chunkedLoss(x: Tensor, targets: Tensor): Tensor {
    const [N, V] = [x.shape[0]!, this.config.vocabSize];
    const R = Math.max(1, Math.floor(profile().bindingLimit / (4 * V)));
    let [total, count] = [full([], 0), full([], 0)];
    for (let r0 = 0; r0 < N; r0 += R) {
      const t = targets.slice(0, r0, Math.min(N, r0 + R));
      const n = sum(ne(t, full(t.shape, -1, 'int32'))); // rows that count
      const mean = crossEntropy(this.wte.project(x.slice(0, r0, r0 + t.size)), t, { ignoreIndex: -1 });
      [total, count] = [add(total, mul(mean, maximum(n, 1))), add(count, n)];
    }
    return div(total, maximum(count, 1));
  }
}
