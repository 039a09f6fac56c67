// Model FLOPs per token, as nanoGPT's estimate_mfu and PaLM (Chowdhery et al. 2022, appendix B)
// count them for MFU, from a GPT's config alone (no device). Counted, at 2 FLOPs a multiply-add:
//   - every Linear weight a token multiplies, in each layer that runs it (a shared block's once per
//     layer: nanoGPT's 6N counts each parameter once, and has no sharing), and the tied LM head;
//   - attention's two products, q·kᵀ and weights·v, over all T keys (the causal kernels skip the
//     masked half; nanoGPT and PaLM count it): 2·T·A multiply-adds a token in each layer, A = NH·HS;
//   - the backward: twice the forward (each product's input gradient and weight gradient); a frozen
//     weight (a LoRA run's base weights) takes no weight gradient, so 4 FLOPs a multiply-add, not 6.
// Left out: LayerNorm, GELU, softmax, dropout, residual adds, embedding lookups, cross-entropy and
// the optimizer (O(C) a token a layer, against the products' O(C²)); the LayerNorm gains and biases
// nanoGPT's N includes, which no product multiplies (0.02% of GPT-2's N, 0.1% with biases); work
// done again (--recompute's second forward, the chunked LM head's and FlashAttention's recomputed
// products: model FLOPs, not hardware FLOPs); the backward a LoRA run skips before its first
// adapter, whose input needs no gradient (block 0's c_attn input gradient, with c_attn adapted).
import { isTargeted } from './lora.js';
import { blockLinearShapes, type GPTConfig } from './model.js';

/** Multiply-adds per token of one forward pass over T positions: by the weights, by LoRA adapters, by attention. */
function forwardMacs(cfg: GPTConfig, T: number): { weights: number; adapters: number; attention: number } {
  let weights = cfg.vocabSize * cfg.nEmbd; // the tied LM head (the embedding itself is a lookup)
  let adapters = 0;
  let attention = 0;
  // shareLayers 1: one entry per layer that runs, whatever weights it shares
  for (const [name, outputs, inputs] of blockLinearShapes({ ...cfg, shareLayers: 1 })) {
    weights += outputs * inputs;
    if (cfg.lora && isTargeted(name, cfg.lora.targets)) adapters += cfg.lora.rank * (inputs + outputs); // x·Aᵀ, then ·Bᵀ
    if (name === 'attn.c_attn') attention += 2 * T * (outputs / 3); // q·kᵀ and weights·v, A = outputs / 3 channels
  }
  return { weights, adapters, attention };
}

/** FLOPs per token of a forward pass over T positions (a distillation teacher's share of a step). */
export function forwardFlopsPerToken(cfg: GPTConfig, T = cfg.blockSize): number {
  const { weights, adapters, attention } = forwardMacs(cfg, T);
  return 2 * (weights + adapters + attention);
}

/**
 * Model FLOPs per token of training (forward and backward) at context T: nanoGPT's
 * 6N + 12·L·H·Q·T, with N the weights a token multiplies (see the header for what is counted and
 * what is left out). Tokens per optimizer step are batchSize·blockSize·gradAccum.
 */
export function trainingFlopsPerToken(cfg: GPTConfig, T = cfg.blockSize): number {
  const { weights, adapters, attention } = forwardMacs(cfg, T);
  return (cfg.lora ? 4 : 6) * weights + 6 * (adapters + attention);
}
