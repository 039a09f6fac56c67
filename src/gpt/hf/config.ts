// Hugging Face GPT-2's config.json (transformers' GPT2Config) and our GPTConfig, both ways. Only
// configs our GPT computes the same function for are accepted: a setting that would change it
// (attention scaled otherwise, cross-attention, an untied head, another activation) is refused with
// a one-line error naming the field, rather than loaded into a model that silently computes
// something else. n_inner (the MLP's width) is every block's mlpWidths, layer_norm_epsilon every
// LayerNorm's layerNormEps.
import { POSITIVE, POSITIVE_INT, rangeProblem, show, UNIT_INTERVAL, type Range } from '../../io/value-ranges.js';
import type { Activation } from '../../nn/transformer.js';
import { blockConfig, hasPrunedShapes, type GPTConfig } from '../model.js';

/** GPT2Config's layer_norm_epsilon, and our LayerNorm's (src/nn/layers.ts) where GPTConfig gives none. */
const LAYER_NORM_EPSILON = 1e-5;

/**
 * transformers' activation_function names (its ACT2CLS) for the GELUs our MLP has: gelu_fast and
 * gelu_accurate are the tanh approximation as gelu_new is, gelu_python the exact one as gelu is.
 */
const ACTIVATION_FROM_HF: Record<string, Activation> = {
  gelu_new: 'gelu_tanh', gelu_pytorch_tanh: 'gelu_tanh', gelu_fast: 'gelu_tanh', gelu_accurate: 'gelu_tanh',
  gelu: 'gelu', gelu_python: 'gelu',
};
const ACTIVATION_TO_HF: Record<Activation, string> = { gelu_tanh: 'gelu_new', gelu: 'gelu' };

/**
 * Settings that change what GPT-2 computes, with the only value (GPT2Config's default) our GPT
 * computes. Not reorder_and_upcast_attn: it scales before the product and computes it in float32,
 * the same function in float32 as ours.
 */
const FIXED: Record<string, unknown> = {
  model_type: 'gpt2',
  scale_attn_weights: true,
  scale_attn_by_inverse_layer_idx: false,
  add_cross_attention: false,
  tie_word_embeddings: true,
};

/**
 * GPT2Config's attribute_map: the other names transformers reads four sizes under. Written
 * alongside the GPT-2 name, such a name wins there (it is set last), so it wins here too.
 */
const ALIASES: Record<string, string> = { n_embd: 'hidden_size', n_positions: 'max_position_embeddings', n_head: 'num_attention_heads', n_layer: 'num_hidden_layers' };

/** GPT2Config's sizes where config.json leaves them out (GPT-2 124M's): transformers builds that model. */
const SIZE_DEFAULTS: Record<string, number> = { vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 12, n_head: 12 };

/** The most blocks a config with n_inner may have (gpt2-xl has 48): each block's MLP width is listed. */
const MAX_LAYERS = 10_000;

/** config.json's names of the sizes in our GPTConfig. */
export const HF_NAMES: Partial<Record<keyof GPTConfig, string>> = { vocabSize: 'vocab_size', blockSize: 'n_positions', nLayer: 'n_layer', nHead: 'n_head', nEmbd: 'n_embd' };

/** Our model config from a GPT-2 config.json's contents; `source` names the file in errors. */
export function gptConfigFromHF(json: unknown, source = 'config.json'): GPTConfig {
  const error = (problem: string) => new Error(`${source}: ${problem}`);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw error(`expected a JSON object, got ${show(json)}`);
  const hf = json as Record<string, unknown>;
  for (const [field, supported] of Object.entries(FIXED)) {
    if (hf[field] !== undefined && hf[field] !== supported) throw error(`${field} ${show(hf[field])} is not supported (only ${show(supported)})`);
  }
  // GPT2Config's default where a field is absent; an explicit null is no default (transformers fails on it)
  const orDefault = (field: string, value: unknown) => (hf[field] === undefined ? value : hf[field]);
  /** A size (or `value`) in `range`; a size left out is GPT2Config's default (an alias is read only where given). */
  const number = (field: string, range: Range, value = orDefault(field, SIZE_DEFAULTS[field])): number => {
    const problem = rangeProblem(field, value, range);
    if (problem) throw error(problem);
    return value as number;
  };
  /** The field transformers reads `name` from. */
  const spelled = (name: string) => (hf[ALIASES[name]!] === undefined ? name : ALIASES[name]!);
  const positions = spelled('n_positions');
  const nEmbd = number(spelled('n_embd'), POSITIVE_INT);
  const name = orDefault('activation_function', 'gelu_new');
  // own names only: 'toString' is in every object
  const activation = typeof name === 'string' && Object.hasOwn(ACTIVATION_FROM_HF, name) ? ACTIVATION_FROM_HF[name] : undefined;
  if (!activation) throw error(`activation_function ${show(name)} is not supported (only ${Object.keys(ACTIVATION_FROM_HF).join(', ')})`);
  const config: GPTConfig = {
    vocabSize: number('vocab_size', POSITIVE_INT),
    // older configs name the context n_ctx only
    blockSize: number(hf[positions] === undefined && hf.n_ctx !== undefined ? 'n_ctx' : positions, POSITIVE_INT),
    nLayer: number(spelled('n_layer'), POSITIVE_INT),
    nHead: number(spelled('n_head'), POSITIVE_INT),
    nEmbd,
    // one rate for GPT-2's three dropouts, as in nanoGPT; only fine-tuning uses it
    dropout: number('resid_pdrop', UNIT_INTERVAL, orDefault('resid_pdrop', 0.1)),
    bias: true, // GPT-2's Conv1D and LayerNorm layers all have one
    activation,
  };
  if (nEmbd % config.nHead) throw error(`${spelled('n_embd')} (${nEmbd}) must be divisible by ${spelled('n_head')} (${config.nHead})`);
  const eps = number('layer_norm_epsilon', POSITIVE, orDefault('layer_norm_epsilon', LAYER_NORM_EPSILON));
  // a value float32 rounds to 0 or infinity is no epsilon our kernels can take
  if (!(Math.fround(eps) > 0 && Number.isFinite(Math.fround(eps)))) throw error(`layer_norm_epsilon ${show(eps)} is not supported (only a number float32 holds, > 0)`);
  if (eps !== LAYER_NORM_EPSILON) config.layerNormEps = eps;
  // GPT2MLP's width: n_inner, or 4 * n_embd where it is null or left out; another is every block's mlpWidths
  const inner = hf.n_inner == null ? 4 * nEmbd : number('n_inner', POSITIVE_INT, hf.n_inner);
  if (inner === 4 * nEmbd) return config;
  // a list of n_layer widths is made before the weights are read: a layer count no file holds is refused first
  if (config.nLayer > MAX_LAYERS) throw error(`${spelled('n_layer')} ${config.nLayer} with n_inner ${inner} is not supported (at most ${MAX_LAYERS} blocks)`);
  return { ...config, mlpWidths: Array<number>(config.nLayer).fill(inner) };
}

/** Every block's MLP width where they are all one (GPT-2's n_inner), else null. */
const uniformMlpWidth = (config: GPTConfig): number | null => {
  const widths = new Set(Array.from({ length: config.nLayer }, (_, i) => blockConfig(config, i).mlpWidth));
  return widths.size === 1 ? [...widths][0]! : null;
};

/** Why GPT-2's layout cannot hold a model of `config` (one head count and MLP width, n_inner, for every block), or null. */
export function hfLayoutProblem(config: GPTConfig): string | null {
  if (!hasPrunedShapes(config)) return null;
  const { nHead, nLayer } = config;
  const blocks = Array.from({ length: nLayer }, (_, i) => blockConfig(config, i));
  if (blocks.every((b) => b.nHead === nHead) && uniformMlpWidth(config) !== null) return null;
  const heads = JSON.stringify(blocks.map((b) => b.nHead));
  const widths = JSON.stringify(blocks.map((b) => b.mlpWidth));
  return `Hugging Face's GPT-2 layout cannot hold this structurally pruned model (heads per block ${heads}, MLP widths ${widths}): every block must have n_head ${nHead} heads and one MLP width (n_inner)`;
}

/**
 * A GPT-2 config.json's contents for our model config (transformers' GPT2LMHeadModel loads it).
 * `endOfText`: the tokenizer's <|endoftext|> id, written as bos_token_id and eos_token_id; null
 * where it has none (GPT2Config's default, 50256, would name no token of a smaller vocabulary).
 * Refuses a structurally pruned model: GPT-2's layout has one head count (of width n_embd / n_head)
 * and one MLP width for every block.
 */
export function hfConfigFromGPT(config: GPTConfig, endOfText: number | null = null): Record<string, unknown> {
  const { vocabSize, blockSize, nLayer, nHead, nEmbd, dropout } = config;
  const problem = hfLayoutProblem(config);
  if (problem) throw new Error(problem);
  return {
    architectures: ['GPT2LMHeadModel'],
    ...FIXED,
    vocab_size: vocabSize,
    n_positions: blockSize,
    n_ctx: blockSize,
    n_embd: nEmbd,
    n_layer: nLayer,
    n_head: nHead,
    n_inner: uniformMlpWidth(config) === 4 * nEmbd ? null : uniformMlpWidth(config),
    activation_function: ACTIVATION_TO_HF[config.activation ?? 'gelu'],
    resid_pdrop: dropout,
    embd_pdrop: dropout,
    attn_pdrop: dropout,
    layer_norm_epsilon: config.layerNormEps ?? LAYER_NORM_EPSILON,
    initializer_range: 0.02,
    bos_token_id: endOfText,
    eos_token_id: endOfText,
    torch_dtype: 'float32',
  };
}
