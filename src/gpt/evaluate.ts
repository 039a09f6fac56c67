// A model's mean loss over random batches of each split, the same batches every time: the
// trainer's periodic evaluation and `gpt eval` (any model, quantized too). Where a batch's loss is
// not finite, the first stage of the forward whose outputs are not is found on that batch again.
import { noGrad } from '../autograd/mode.js';
import { device } from '../device/device.js';
import { autocast, CastCache, type ComputeDtype } from '../nn/autocast.js';
import { enterEval, leaveEval } from '../nn/eval-mode.js';
import { arange, concat, tensor, type Tensor } from '../ops/index.js';
import { Generator } from '../tensor/generator.js';
import { scope } from '../tensor/scope.js';
import { checkSplits, drawBatch, type TokenSplits } from './batches.js';
import type { GPT } from './model.js';

const SPLITS = ['train', 'val'] as const;

/** Where an evaluation's loss was first not finite: the split, the batch (from 0) and the forward's first stage whose outputs were not. */
export interface NotFinite {
  split: (typeof SPLITS)[number];
  batch: number;
  stage: string;
}

/** The batches of a split an evaluation draws from `seed`, in order: the same ones every time. */
function* splitBatches(data: TokenSplits, split: NotFinite['split'], B: number, T: number, seed: number): IterableIterator<{ x: Int32Array; y: Int32Array }> {
  const rng = new Generator(seed, split === 'train' ? 2 : 3);
  for (;;) yield drawBatch(data[split], B, T, rng);
}

/**
 * Mean loss of `model` over evalIters random batches of each split (batches drawn from `seed`, the
 * same ones every time): what the trainer evaluates, and `gpt eval` for any model, quantized too.
 * `onBatch` hears of each batch queued (1 to 2 evalIters, train's first; the GPU runs a few behind).
 * `notFinite` says where a loss was first NaN or infinite (null where none was).
 */
export async function evaluateModel(
  model: GPT,
  data: TokenSplits,
  opts: { batchSize: number; blockSize: number; evalIters: number; seed: number; dtype?: ComputeDtype; onBatch?: (queued: number) => void },
): Promise<{ train: number; val: number; notFinite: NotFinite | null }> {
  const { batchSize: B, blockSize: T, evalIters, seed, dtype = 'float32', onBatch } = opts;
  checkSplits(data, T);
  // float16 copies of the weights made once for every batch (before eval mode: a cast that throws
  // leaves the model's mode as it was); each batch's loss stays on the GPU until all are recorded,
  // so the GPU never waits on a readback between batches
  const casts = dtype === 'float16' ? new CastCache([...model.parameters()]) : undefined;
  enterEval(model); // shared with generations (and evaluations) in progress on the model
  const result = { train: 0, val: 0, notFinite: null as NotFinite | null };
  try {
    for (const split of SPLITS) {
      const batches = splitBatches(data, split, B, T, seed);
      const losses = await noGrad(() =>
        scope(async () => {
          const queued: Tensor[] = [];
          for (let i = 0; i < evalIters; i++) {
            const { x, y } = batches.next().value!;
            queued.push(scope(() => autocast(dtype, () => model.forward(tensor(x, [B, T]), { targets: tensor(y, [B, T]) }).loss!.reshape([1]), casts)));
            await device().breathe();
            onBatch?.((split === 'train' ? 0 : evalIters) + i + 1);
          }
          return Array.from(await concat(queued, 0).toArray());
        }),
      );
      result[split] = losses.reduce((sum, l) => sum + l, 0) / evalIters; // in batch order, in float64
      const batch = losses.findIndex((l) => !Number.isFinite(l));
      if (batch >= 0 && !result.notFinite) {
        const again = splitBatches(data, split, B, T, seed);
        for (let i = 0; i < batch; i++) again.next();
        const stage = await firstNonFiniteStage(model, again.next().value!.x, B, T, dtype, casts);
        result.notFinite = { split, batch, stage };
      }
    }
  } finally {
    casts?.dispose();
    leaveEval(model);
  }
  return result;
}

/**
 * The first stage of `model`'s forward (in eval mode) on ids x [B, T] whose outputs hold a NaN or an
 * infinity, named as the model's modules are (h.2: the third block); past ln_f, the LM head (its
 * logits, B T V of them, are not made here: the loss's forward fuses them a chunk at a time).
 * Told by max |y| (abs clears the sign bit; max compares order-preserving keys, NaN the largest).
 * One stage's outputs are held at a time.
 */
async function firstNonFiniteStage(model: GPT, x: Int32Array, B: number, T: number, dtype: ComputeDtype, casts?: CastCache): Promise<string> {
  const stages: [string, (h: Tensor) => Tensor][] = [
    ['the embeddings wte + wpe', () => model.wte.forward(tensor(x, [B, T])).add(model.wpe.forward(arange(0, T)))],
    ...model.h.items.map((block, i): [string, (h: Tensor) => Tensor] => [`block h.${i}`, (h) => block.forward(h)]),
    ['ln_f', (h) => model.ln_f.forward(h)],
  ];
  let h: Tensor | null = null;
  try {
    for (const [name, run] of stages) {
      const next: Tensor = noGrad(() => scope(() => autocast(dtype, () => run(h!), casts)));
      h?.dispose();
      h = next;
      const largest = await scope(async () => (await next.abs().max().toArray())[0]!);
      if (!Number.isFinite(largest)) return name;
    }
  } finally {
    h?.dispose();
  }
  return 'the LM head (wte) or the loss';
}
