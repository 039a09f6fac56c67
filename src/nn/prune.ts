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
 * k = prunedCount(sparsity, total) weights are pruned, those of smallest |w|; among weights of equal |w|
 * at the cut, the earlier ones (in the order given, row-major within each) are pruned first. Exact
 * in two counting passes over the bit patterns of |w| (rankKeys).
 */
export function magnitudeMasks(weights: Float32Array[], sparsity: number): { masks: Float32Array[]; threshold: number } {
  checkSparsity('magnitudeMasks', sparsity);
  const cut = new MagnitudeCut(prunedCount(sparsity, weights.reduce((n, w) => n + w.length, 0)));
  const keysOf = (w: Float32Array, i: number) => rankKeys(w, `magnitudeMasks: weights[${i}]`);
  for (const count of cut.passes()) weights.forEach((w, i) => count(keysOf(w, i)));
  return { masks: weights.map((w, i) => cut.mask(keysOf(w, i))), threshold: cut.threshold };
}

/**
 * The order magnitude pruning takes weights in, as integers: |w|'s bit pattern plus one
 * (non-negative floats order as their bits), and 0 where `mask` (an earlier pruning's) is 0. A
 * weight pruned before (zeroed) is thus pruned again ahead of a live weight that is zero too, which
 * would otherwise take its place among equal |w| (earlier first) and leave it unmasked. A NaN or
 * infinite weight, which has no place in that order, is refused (`what` names the array).
 */
function rankKeys(w: Float32Array, what: string, mask?: Float32Array): Uint32Array {
  checkFiniteWeights(what, w, 'pruned by magnitude');
  return new Uint32Array(w.buffer, w.byteOffset, w.length).map((b, j) => (mask?.[j] === 0 ? 0 : (b & 0x7fffffff) + 1));
}

/** Throws unless every weight of `w` is finite (`what` starts the error, `how` says what needs it): a NaN has no place in an order by size. */
export function checkFiniteWeights(what: string, w: Float32Array, how: string): void {
  const bad = w.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) throw new RangeError(`${what} holds ${w[bad]} at index ${bad}; only finite weights can be ${how}`);
}

/**
 * magnitudeMasks' cut for pruning `k` weights, found in passes over their rank keys (rankKeys) in
 * one order (each pass may read them afresh, a layer at a time: pruneGlobal reads them from the GPU
 * so, the host never holding them all): its high bits from one histogram, its low 16 from another.
 * Then each array's mask, in the same order.
 */
class MagnitudeCut {
  private readonly hist = new Float64Array(65536);
  private high: { bin: number; below: number } | null = null;
  private cut = 0;
  private ties = 0; // weights at the cut still to prune, first ones first
  /** Whether another counting pass is needed (one when nothing is pruned: it reads every weight, refusing any non-finite one, before a mask is set). */
  private counting = true;

  constructor(private readonly k: number) {}

  /** The counting passes (two; one when nothing is pruned): each a function to count every array's rank keys with, in one order. */
  *passes(): Generator<(keys: Uint32Array) => void> {
    while (this.counting) {
      yield (keys) => this.count(keys);
      this.endPass();
    }
  }

  /** Counts one array's rank keys into this pass's histogram. */
  private count(keys: Uint32Array): void {
    const { hist, high } = this;
    for (const key of keys) {
      if (!high) hist[key >>> 16]!++;
      else if (key >>> 16 === high.bin) hist[key & 0xffff]!++;
    }
  }

  /** Ends a counting pass: the first finds the cut's high bits, the second its low bits. */
  private endPass(): void {
    if (this.k === 0) return void (this.counting = false);
    const rank = this.k - (this.high?.below ?? 0);
    let below = 0;
    let bin = 0;
    while (below + this.hist[bin]! < rank) below += this.hist[bin++]!;
    this.hist.fill(0);
    if (!this.high) {
      this.high = { bin, below };
      return;
    }
    this.cut = ((this.high.bin << 16) | bin) >>> 0;
    this.ties = rank - below;
    this.counting = false;
  }

  /** The mask of the next array (its rank keys), in the order counted. */
  mask(keys: Uint32Array): Float32Array {
    const mask = new Float32Array(keys.length).fill(1);
    if (this.k === 0) return mask;
    keys.forEach((key, j) => {
      if (key < this.cut || (key === this.cut && this.ties-- > 0)) mask[j] = 0;
    });
    return mask;
  }

  /** The largest |w| pruned (0 when none is, or only weights pruned before). */
  get threshold(): number {
    return this.cut === 0 ? 0 : new Float32Array(new Uint32Array([this.cut - 1]).buffer)[0]!;
  }
}

/**
 * Global magnitude pruning of every Linear weight of `model` (see magnitudeMasks for the rule and
 * its ties): sets each layer's mask and zeroes its pruned weights. Weights pruned before (masked)
 * are pruned again first, ahead of live weights of |w| 0; a sparsity that would prune fewer than
 * they are is refused (their new masks would let fine-tuning revive them), and so are NaN or infinite
 * weights, before any mask is set. Sparsity in [0, 1). The weights are read back a layer at a time,
 * in three passes (two counting, one masking): the host holds one layer and its mask, not every
 * Linear weight (gpt2-xl's are 5 GB).
 */
export async function pruneGlobal(model: Module, sparsity: number): Promise<PruneReport> {
  if (!(model instanceof Module)) throw new TypeError(`pruneGlobal: argument 'model' must be a Module, got ${describeValue(model)}`);
  checkSparsity('pruneGlobal', sparsity);
  const named = linearLayers(model);
  if (!named.length) throw new Error('pruneGlobal: the model has no Linear layer to prune');
  const quantized = named.find(([, l]) => l.quantization);
  if (quantized) throw quantizedRefusal('pruneGlobal', ...quantized);
  const layers = named.map(([, l]) => l);
  if (layers.some((l) => l.lora)) throw new Error('pruneGlobal: LoRA-adapted weights cannot be pruned (the update would fill the masked zeros); merge the adapters first');
  const total = layers.reduce((n, l) => n + l.weight.size, 0);
  let before = 0;
  for (const l of masked(model).map(([, m]) => m)) before += ((await l.weightMask!.toArray()) as Float32Array).filter((x) => x === 0).length;
  const problem = repruneProblem(before, total, sparsity);
  if (problem) throw new RangeError(`pruneGlobal: ${problem}`);
  const keysOf = async ([name, l]: [string, Linear]) =>
    rankKeys((await l.weight.toArray()) as Float32Array, `pruneGlobal: '${name}.weight'`, (await l.weightMask?.toArray()) as Float32Array | undefined);
  const cut = new MagnitudeCut(prunedCount(sparsity, total));
  for (const count of cut.passes()) for (const layer of named) count(await keysOf(layer));
  let pruned = 0;
  for (const [name, l] of named) {
    const mask = cut.mask(await keysOf([name, l]));
    for (const m of mask) pruned += 1 - m;
    l.setWeightMask(tensor(mask, l.weight.shape));
  }
  return { pruned, total, threshold: cut.threshold };
}

/**
 * How many of `total` weights pruning at `sparsity` prunes: round(sparsity * total), a half to even
 * as PyTorch's prune rounds (Python's round: 0.5 of 13 weights prunes 6, as global_unstructured does).
 */
export function prunedCount(sparsity: number, total: number): number {
  const x = sparsity * total;
  const r = Math.round(x); // halves up
  return r - x === 0.5 && r % 2 === 1 ? r - 1 : r;
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
  if (prunedCount(sparsity, total) >= pruned) return null;
  const least = Math.ceil((pruned / total) * 1e4) / 1e4;
  return `sparsity ${sparsity} would prune ${prunedCount(sparsity, total)} of ${total} Linear weights, fewer than the ${pruned} already pruned (their masks would be lost): give a sparsity of at least ${least}`;
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

/**
 * Frees the masks of `model`, for inference: its pruned weights are zero and stay so while it is not
 * trained, and the masks (float32, as many as the Linear weights) would double their memory.
 */
export function dropMasks(model: Module): void {
  for (const [, l] of masked(model)) l.setWeightMask(null);
}

/** `fn`'s refusal of the Linear layer at `path`: its weights are quantized. */
const quantizedRefusal = (fn: string, path: string, layer: Linear) => new Error(`${fn}: Linear '${path}' holds ${layer.quantization} weights, which cannot be pruned; prune the float32 model, then quantize it`);

/** The name a Linear's mask has among a model's buffers (and in a checkpoint). */
const MASK_SUFFIX = '.weight_mask';

/**
 * Sets the masks of `masks` (a checkpoint's, named `<Linear path>.weight_mask`), each checked for
 * its layer, shape and 0/1 values, and zeroes the weights they prune. All are checked before any is
 * set: a refused set leaves the weights (which a mask zeroes for good) as they were.
 */
export function loadMasks(model: Module, masks: Map<string, TensorData>): void {
  for (const [layer, m] of checkedMasks('loadMasks', model, masks)) layer.setWeightMask(tensor(m.data, m.shape));
}

/**
 * Zeroes the weights `masks` prune, as loadMasks does, keeping no mask: for a model that runs no
 * optimizer step (inference, a teacher), which is all masks are kept for. Each is on the GPU only
 * while its weight is masked, never all of them beside the weights (they are as many).
 */
export function applyMasks(model: Module, masks: Map<string, TensorData>): void {
  for (const [layer, m] of checkedMasks('applyMasks', model, masks)) {
    const mask = tensor(m.data, m.shape);
    try {
      maskInPlace([layer.weight], [mask]);
    } finally {
      mask.dispose(); // a lost device's throw too: the mask is this function's alone
    }
  }
}

/** Each of `masks` with its Linear layer of `model`, every one checked for its layer, shape and 0/1 values before any is used (`fn`'s errors). */
function checkedMasks(fn: string, model: Module, masks: Map<string, TensorData>): (readonly [Linear, TensorData])[] {
  const layers = new Map(linearLayers(model));
  return [...masks].map(([name, m]) => {
    const layer = name.endsWith(MASK_SUFFIX) ? layers.get(name.slice(0, -MASK_SUFFIX.length)) : undefined;
    if (!layer) throw new Error(`${fn}: '${name}' is not the weight mask of a Linear layer of the model`);
    if (layer.quantization) throw quantizedRefusal(fn, name.slice(0, -MASK_SUFFIX.length), layer);
    if (layer.lora) throw new Error(`${fn}: Linear '${name.slice(0, -MASK_SUFFIX.length)}' is LoRA-adapted, which cannot be pruned; merge the adapter first (mergeLoRA)`);
    if (m.shape.length !== 2 || m.shape[0] !== layer.outFeatures || m.shape[1] !== layer.inFeatures) {
      throw new Error(`${fn}: '${name}' has shape [${m.shape.join(', ')}], its layer's weight is [${layer.outFeatures}, ${layer.inFeatures}]`);
    }
    const bad = m.data.findIndex((x) => x !== 0 && x !== 1);
    if (bad >= 0) throw new Error(`${fn}: '${name}' holds ${m.data[bad]} at index ${bad}; a mask holds only 0 and 1`);
    return [layer, m] as const;
  });
}

/** Whether a state entry's name is a Linear weight mask's (checkpoints keep them beside the weights). */
export const isMaskName = (name: string) => name.endsWith(MASK_SUFFIX);

/** The weights the masks among `state` (a checkpoint's tensors; masks as float32, or as stored, BOOL bytes) prune, of all they cover; 0 of 0 without masks. */
export function maskedCount(state: ReadonlyMap<string, { data: ArrayLike<number> }>): { pruned: number; total: number } {
  let [pruned, total] = [0, 0];
  for (const [name, { data }] of state) {
    if (!isMaskName(name)) continue;
    total += data.length;
    for (let i = 0; i < data.length; i++) if (data[i] === 0) pruned++;
  }
  return { pruned, total };
}
