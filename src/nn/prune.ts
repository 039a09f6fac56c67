// Unstructured pruning: global magnitude pruning of the weight matrices of every Linear layer, as
// 0/1 masks kept with the model (each Linear's `weight_mask` buffer). Only Linear weights count
// (in a GPT: attention c_attn and c_proj, MLP c_fc and c_proj); biases, LayerNorm gains and
// embeddings are never pruned (a GPT's token embedding is also its tied LM head, where zeroed rows
// would remove words from the output). Training keeps pruned weights at exactly zero: the
// gradients are masked before clipping and the optimizer step (so the norm counts the live weights
// only, and fresh AdamW moments of pruned weights stay zero), and the weights are masked again
// after the step (so moments carried over from before pruning cannot revive them).
import { maskInPlace, tensor } from '../ops/index.js';
import { Linear } from './layers.js';
import { describeValue, showValue } from '../tensor/check.js';
import { Module, type TensorData } from './module.js';

/** What pruneGlobal did: weights pruned (zero and masked) out of the Linear weights' total, and the magnitude at the cut. */
export interface PruneReport {
  pruned: number;
  total: number;
  /** The largest |w| pruned (0 when nothing was pruned). */
  threshold: number;
}

/** Every Linear layer of `model` with its dotted path (`h.0.attn.c_attn`), in module order; a layer that several paths reach (shared blocks) once, under the first. */
export function linearLayers(model: Module): [string, Linear][] {
  const seen = new Set<Module>();
  return [...model.namedModules()].filter((e): e is [string, Linear] => e[1] instanceof Linear && !seen.has(e[1]) && !!seen.add(e[1]));
}

/**
 * Masks (1 keep, 0 prune) for global magnitude pruning of `weights` taken together: exactly
 * k = round(sparsity * total) weights are pruned, those of smallest |w|; among weights of equal |w|
 * at the cut, the earlier ones (in the order given, row-major within each) are pruned first. Exact
 * in two counting passes over the bit patterns of |w| (non-negative floats order as their bits).
 */
export function magnitudeMasks(weights: Float32Array[], sparsity: number): { masks: Float32Array[]; threshold: number } {
  checkSparsity('magnitudeMasks', sparsity);
  const bits = weights.map((w) => new Uint32Array(w.buffer, w.byteOffset, w.length));
  const total = weights.reduce((n, w) => n + w.length, 0);
  const k = Math.round(sparsity * total);
  const masks = weights.map((w) => new Float32Array(w.length).fill(1));
  if (k === 0) return { masks, threshold: 0 };
  // the k-th smallest |w| bit pattern: its high 16 bits from one histogram, its low 16 from another
  const count = (select: (b: number) => number | null) => {
    const hist = new Float64Array(65536);
    for (const arr of bits) for (const b of arr) {
      const bin = select(b & 0x7fffffff);
      if (bin !== null) hist[bin]!++;
    }
    return hist;
  };
  const find = (hist: Float64Array, rank: number) => {
    let below = 0;
    for (let bin = 0; ; bin++) {
      if (below + hist[bin]! >= rank) return { bin, below };
      below += hist[bin]!;
    }
  };
  const high = find(count((b) => b >>> 16), k);
  const low = find(count((b) => (b >>> 16 === high.bin ? b & 0xffff : null)), k - high.below);
  const cut = ((high.bin << 16) | low.bin) >>> 0;
  let ties = k - high.below - low.below; // weights at the cut to prune, first ones first
  bits.forEach((arr, i) => {
    const mask = masks[i]!;
    for (let j = 0; j < arr.length; j++) {
      const b = arr[j]! & 0x7fffffff;
      if (b < cut || (b === cut && ties-- > 0)) mask[j] = 0;
    }
  });
  return { masks, threshold: new Float32Array(new Uint32Array([cut]).buffer)[0]! };
}

/**
 * Global magnitude pruning of every Linear weight of `model` (see magnitudeMasks for the rule and
 * its ties): sets each layer's mask and zeroes its pruned weights. Weights pruned before are zero,
 * so they are pruned again first; a sparsity that would prune fewer than they are is refused (their
 * new masks would let fine-tuning revive them). Sparsity in [0, 1).
 */
export async function pruneGlobal(model: Module, sparsity: number): Promise<PruneReport> {
  if (!(model instanceof Module)) throw new TypeError(`pruneGlobal: argument 'model' must be a Module, got ${describeValue(model)}`);
  checkSparsity('pruneGlobal', sparsity);
  const layers = linearLayers(model);
  if (!layers.length) throw new Error('pruneGlobal: the model has no Linear layer to prune');
  if (layers.some(([, l]) => l.weightScale)) throw new Error('pruneGlobal: int8 weights cannot be pruned; prune the float32 model, then quantize it');
  const weights = await Promise.all(layers.map(([, l]) => l.weight.toArray() as Promise<Float32Array>));
  const before = await Promise.all(masked(model).map(([, l]) => l.weightMask!.toArray() as Promise<Float32Array>));
  const problem = repruneProblem(before.reduce((n, m) => n + m.filter((x) => x === 0).length, 0), weights.reduce((n, w) => n + w.length, 0), sparsity);
  if (problem) throw new RangeError(`pruneGlobal: ${problem}`);
  const { masks, threshold } = magnitudeMasks(weights, sparsity);
  let pruned = 0;
  layers.forEach(([, layer], i) => {
    const mask = masks[i]!;
    for (const m of mask) pruned += 1 - m;
    layer.setWeightMask(tensor(mask, layer.weight.shape));
  });
  return { pruned, total: weights.reduce((n, w) => n + w.length, 0), threshold };
}

/** sparsity as the pruning functions take it (typeof first: '0.5' would pass the comparisons by coercion). */
export function checkSparsity(fn: string, sparsity: unknown): void {
  if (!(typeof sparsity === 'number' && sparsity >= 0 && sparsity < 1)) throw new RangeError(`${fn}: sparsity must be in [0, 1), got ${showValue(sparsity)}`);
}

/**
 * Why pruning `total` Linear weights of which `pruned` are already masked to `sparsity` would unprune
 * some of them (it would mask fewer), or null. The least sparsity it takes is rounded up, so it is enough.
 */
export function repruneProblem(pruned: number, total: number, sparsity: number): string | null {
  if (Math.round(sparsity * total) >= pruned) return null;
  const least = Math.ceil((pruned / total) * 1e4) / 1e4;
  return `sparsity ${sparsity} would prune ${Math.round(sparsity * total)} of ${total} Linear weights, fewer than the ${pruned} already pruned (their masks would be lost): give a sparsity of at least ${least}`;
}

/** The Linear layers of `model` that hold a mask. */
const masked = (model: Module) => linearLayers(model).filter(([, l]) => l.weightMask);

/** Zeroes the pruned weights of `model` (after an optimizer step); one fused update, nothing when no layer is masked. */
export function maskWeights(model: Module): void {
  const layers = masked(model).map(([, l]) => l);
  if (layers.length) maskInPlace(layers.map((l) => l.weight), layers.map((l) => l.weightMask!));
}

/** Zeroes the gradients of the pruned weights of `model` (before clipping and the optimizer step). */
export function maskGradients(model: Module): void {
  const layers = masked(model).map(([, l]) => l).filter((l) => l.weight.grad);
  if (layers.length) maskInPlace(layers.map((l) => l.weight.grad!), layers.map((l) => l.weightMask!));
}

/** The name a Linear's mask has among a model's buffers (and in a checkpoint). */
const MASK_SUFFIX = '.weight_mask';

/**
 * Sets the masks of `masks` (a checkpoint's, named `<Linear path>.weight_mask`), each checked for
 * its layer, shape and 0/1 values, and zeroes the weights they prune.
 */
export function loadMasks(model: Module, masks: Map<string, TensorData>): void {
  const layers = new Map(linearLayers(model));
  for (const [name, m] of masks) {
    const layer = name.endsWith(MASK_SUFFIX) ? layers.get(name.slice(0, -MASK_SUFFIX.length)) : undefined;
    if (!layer) throw new Error(`loadMasks: '${name}' is not the weight mask of a Linear layer of the model`);
    if (m.shape.length !== 2 || m.shape[0] !== layer.outFeatures || m.shape[1] !== layer.inFeatures) {
      throw new Error(`loadMasks: '${name}' has shape [${m.shape.join(', ')}], its layer's weight is [${layer.outFeatures}, ${layer.inFeatures}]`);
    }
    const bad = m.data.findIndex((x) => x !== 0 && x !== 1);
    if (bad >= 0) throw new Error(`loadMasks: '${name}' holds ${m.data[bad]} at index ${bad}; a mask holds only 0 and 1`);
    layer.setWeightMask(tensor(m.data, m.shape));
  }
}

/** Whether a state entry's name is a Linear weight mask's (checkpoints keep them beside the weights). */
export const isMaskName = (name: string) => name.endsWith(MASK_SUFFIX);

/** The weights the masks among `state` (a checkpoint's tensors) prune, of all they cover; 0 of 0 without masks. */
export function maskedCount(state: Map<string, TensorData>): { pruned: number; total: number } {
  const masks = [...state].filter(([name]) => isMaskName(name)).map(([, m]) => m.data);
  return { pruned: masks.reduce((n, m) => n + m.filter((x) => x === 0).length, 0), total: masks.reduce((n, m) => n + m.length, 0) };
}
