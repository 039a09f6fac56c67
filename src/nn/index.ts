/// <reference types="@webgpu/types" preserve="true" />
// webgpu-gpt/nn: modules (named parameters, state dicts), layers and the GPT-2 transformer pieces.
export { autocast, CastCache, computeDtype, COMPUTE_DTYPES, type ComputeDtype } from './autocast.js';
export { Module, ModuleList, type TensorData } from './module.js';
export { Linear, Embedding, LayerNorm, type InitOptions, type QuantizeOptions } from './layers.js';
export { Dropout } from './dropout.js';
export { LoRA, LORA_DEFAULTS, type LoRAOptions } from './lora.js';
export {
  CausalSelfAttention, MLP, Block, disposeCache, QUANTIZATIONS, type Quantization, type TransformerConfig, type KVCache,
} from './transformer.js';
export { Generator } from '../tensor/generator.js';
export { pruneGlobal, type PruneReport } from './prune.js';
