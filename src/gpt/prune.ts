// Structured pruning of a GPT: whole attention heads or MLP neurons are removed, so the model
// physically shrinks (fewer rows in c_attn / c_fc, fewer columns in the c_proj after them) and
// runs faster. Both are "units" of a block: a producer Linear writes `parts` slices of each unit
// (q, k and v of a head: 3 slices of HS rows; a neuron: 1 row of c_fc) and a consumer Linear reads
// the unit's columns (c_proj). A unit's score is the L2 norm of all its weights, rows and columns
// together; each block loses the round(sparsity * n) lowest-scoring of its n units (ties: the lower
// index goes first), keeping at least one. Per block rather than across blocks, since weight norms
// are not comparable between layers. Removing a unit computes exactly what zeroing its output
// would, since its columns of the consumer are gone with it (test/prune.test.ts holds it to that).
// The pruned shape goes in the config as per-block nHeads / mlpWidths (src/gpt/model.ts).
import { checkFiniteWeights, checkSparsity, linearLayers, prunedCount } from '../nn/prune.js';
import { checkOptionKeys } from '../tensor/check.js';
import type { TensorData } from '../nn/module.js';
import { blockConfig, GPT, type GPTConfig } from './model.js';

/** What structured pruning removes: whole attention heads, or MLP neurons. */
export const STRUCTURES = ['heads', 'neurons'] as const;
/** One of STRUCTURES. */
export type Structure = (typeof STRUCTURES)[number];

/** The smaller model, and the units (head or neuron indices of the original) each block lost. */
export interface StructuredPrune {
  model: GPT;
  removed: number[][];
}

/** One block's units: the Linear writing them (`parts` slices of `width` rows each) and the one reading them. */
interface Units {
  producer: string;
  consumer: string;
  count: number;
  width: number;
  parts: number;
}

function unitsOf(cfg: GPTConfig, i: number, structure: Structure): Units {
  const b = blockConfig(cfg, i);
  return structure === 'heads'
    ? { producer: `h.${i}.attn.c_attn`, consumer: `h.${i}.attn.c_proj`, count: b.nHead, width: b.headSize, parts: 3 }
    : { producer: `h.${i}.mlp.c_fc`, consumer: `h.${i}.mlp.c_proj`, count: b.mlpWidth, width: 1, parts: 1 };
}

/** Each block's count of heads (or MLP neurons) in `cfg`. */
export const unitCounts = (cfg: GPTConfig, structure: Structure): number[] => Array.from({ length: cfg.nLayer }, (_, i) => unitsOf(cfg, i, structure).count);

/** How many of a block's `count` units pruning at `sparsity` removes: round(sparsity * count) as unstructured pruning rounds (halves to even), keeping at least one. */
export const unitsRemoved = (count: number, sparsity: number): number => Math.min(count - 1, prunedCount(sparsity, count));

/** Row indices of the producer that belong to `units` (each part's slices, in order). */
const producerRows = (u: Units, units: number[]) =>
  Array.from({ length: u.parts }, (_, part) => units.flatMap((k) => Array.from({ length: u.width }, (_, d) => (part * u.count + k) * u.width + d))).flat();
/** Column indices of the consumer that read `units`. */
const consumerCols = (u: Units, units: number[]) => units.flatMap((k) => Array.from({ length: u.width }, (_, d) => k * u.width + d));

/** Rows `rows` of a row-major [R, cols] matrix (or of a vector, cols = 1). */
function takeRows(t: TensorData, rows: number[]): TensorData {
  const cols = t.shape[1] ?? 1;
  const data = new Float32Array(rows.length * cols);
  rows.forEach((r, i) => data.set(t.data.subarray(r * cols, (r + 1) * cols), i * cols));
  return { shape: t.shape.length === 2 ? [rows.length, cols] : [rows.length], data };
}

/** Columns `cols` of a row-major [R, C] matrix. */
function takeCols(t: TensorData, cols: number[]): TensorData {
  const [R, C] = t.shape as [number, number];
  const data = new Float32Array(R * cols.length);
  for (let r = 0; r < R; r++) cols.forEach((c, j) => (data[r * cols.length + j] = t.data[r * C + c]!));
  return { shape: [R, cols.length], data };
}

/** The units of one block to remove: the lowest L2 norms of their producer rows and consumer columns together. */
function unitsToRemove(u: Units, producer: TensorData, consumer: TensorData, sparsity: number): number[] {
  const sumsq = (xs: ArrayLike<number>) => {
    let sum = 0;
    for (let i = 0; i < xs.length; i++) sum += xs[i]! * xs[i]!;
    return sum;
  };
  const scores = Array.from({ length: u.count }, (_, k) => sumsq(takeRows(producer, producerRows(u, [k])).data) + sumsq(takeCols(consumer, consumerCols(u, [k])).data));
  const drop = unitsRemoved(u.count, sparsity);
  const order = scores.map((s, k) => [s, k] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return order.slice(0, drop).map(([, k]) => k).sort((a, b) => a - b);
}

/**
 * Removes round(sparsity * n) of the n heads (or MLP neurons) of every block, those of smallest
 * weight norm (see the header), keeping at least one per block: a new, smaller model (the original
 * is left as it was; the caller disposes both). Refuses a model with unstructured masks (prune
 * structurally first, then by magnitude), and NaN or infinite weights among those it ranks.
 */
export async function pruneStructured(model: GPT, opts: { structure: Structure; sparsity: number }): Promise<StructuredPrune> {
  checkOptionKeys('pruneStructured', opts, ['structure', 'sparsity']);
  const { structure, sparsity } = opts;
  if (!STRUCTURES.includes(structure)) throw new RangeError(`pruneStructured: structure must be one of ${STRUCTURES.join(', ')}, got ${JSON.stringify(structure)}`);
  checkSparsity('pruneStructured', sparsity);
  if (linearLayers(model).some(([, l]) => l.weightMask)) {
    throw new Error('pruneStructured: the model has unstructured pruning masks; prune heads or neurons first, then by magnitude');
  }
  if (model.config.quantization) throw new Error(`pruneStructured: a quantized (${model.config.quantization}) model cannot be pruned; prune the float32 model, then quantize it`);
  if ((model.config.shareLayers ?? 1) > 1) throw new Error('pruneStructured: a model with shared layers (shareLayers) cannot be pruned structurally');
  const weights = new Map<string, TensorData>();
  for (const [name, p] of model.namedParameters()) weights.set(name, { shape: [...p.shape], data: (await p.toArray()) as Float32Array });
  const cfg = model.config;
  const removed: number[][] = [];
  const counts: number[] = [];
  for (let i = 0; i < cfg.nLayer; i++) {
    const u = unitsOf(cfg, i, structure);
    const get = (name: string) => weights.get(name)!;
    for (const name of [`${u.producer}.weight`, `${u.consumer}.weight`]) checkFiniteWeights(`pruneStructured: '${name}'`, get(name).data as Float32Array, 'ranked by norm');
    const drop = unitsToRemove(u, get(`${u.producer}.weight`), get(`${u.consumer}.weight`), sparsity);
    const kept = Array.from({ length: u.count }, (_, k) => k).filter((k) => !drop.includes(k));
    const rows = producerRows(u, kept);
    weights.set(`${u.producer}.weight`, takeRows(get(`${u.producer}.weight`), rows));
    if (weights.has(`${u.producer}.bias`)) weights.set(`${u.producer}.bias`, takeRows(get(`${u.producer}.bias`), rows));
    weights.set(`${u.consumer}.weight`, takeCols(get(`${u.consumer}.weight`), consumerCols(u, kept)));
    removed.push(drop);
    counts.push(kept.length);
  }
  const config: GPTConfig = { ...cfg, [structure === 'heads' ? 'nHeads' : 'mlpWidths']: counts };
  const pruned = new GPT(config);
  try {
    pruned.loadStateDict(weights);
  } catch (e) {
    pruned.dispose();
    throw e;
  }
  return { model: pruned, removed };
}
