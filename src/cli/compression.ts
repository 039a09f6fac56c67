// What was done to a checkpoint to make it smaller, as `gpt eval` and `gpt info` tell it: read from
// what the checkpoint holds (its config, its pruning masks or, once quantized, their recorded count,
// its recorded teacher), not from flags.
import type { Checkpoint, CheckpointMeta, PrunedWeights } from '../gpt/checkpoint.js';
import { maskedCount } from '../nn/prune.js';
import { plural } from './progress.js';

export const count = (n: number) => n.toLocaleString('en-US');

/** "4 layers sharing 2 blocks of weights" (--share-layers 2). */
export function sharedBlocks(nLayer: number, shareLayers: number): string {
  return `${nLayer} layers sharing ${plural(nLayer / shareLayers, 'block')} of weights`;
}

/** "1,229 of 3,072 Linear weights pruned, sparsity 0.4001 (gpt prune)". */
export const prunedWeightsPart = ({ pruned, total }: PrunedWeights) => `${count(pruned)} of ${count(total)} Linear weights pruned, sparsity ${(pruned / total).toFixed(4)} (gpt prune)`;

/** "int8 weights (gpt quantize); ..." for a quantized, pruned, layer-sharing or distilled checkpoint; null for a plain one. */
export function describeCompression(ckpt: Checkpoint): string | null {
  const masks = maskedCount(ckpt.weights);
  const pruned = masks.total ? masks : ckpt.meta.prunedWeights;
  const parts = compressionParts(ckpt.meta, pruned ? prunedWeightsPart(pruned) : null);
  return parts.length ? parts.join('; ') : null;
}

/**
 * What describeCompression lists, from the metadata and `masks`, the pruning masks told by the
 * caller (counted from their values, or only from the header's shapes): one part each.
 */
export function compressionParts({ model, distill }: Pick<CheckpointMeta, 'model' | 'distill'>, masks: string | null): string[] {
  const parts: string[] = [];
  if (model.quantization) parts.push(`${model.quantization} weights${model.groupSize ? `, a scale per ${model.groupSize} inputs (token embedding int8)` : ''} (gpt quantize)`);
  if (model.nHeads?.some((n) => n !== model.nHead)) parts.push(`heads per block ${model.nHeads.join(', ')} of ${model.nHead} (gpt prune --structured heads)`);
  if (model.mlpWidths?.some((w) => w !== 4 * model.nEmbd)) parts.push(`MLP neurons per block ${model.mlpWidths.join(', ')} of ${4 * model.nEmbd} (gpt prune --structured neurons)`);
  if (masks) parts.push(masks);
  const k = model.shareLayers ?? 1;
  if (k > 1) parts.push(`${sharedBlocks(model.nLayer, k)} (--share-layers ${k})`);
  if (distill) parts.push(`distilled from ${distill.teacher} (temperature ${distill.temperature}, alpha ${distill.alpha})`);
  return parts;
}
