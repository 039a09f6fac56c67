// A model's mean loss over random batches of each split, the same batches every time: the
// trainer's periodic evaluation and `gpt eval` (any model, quantized too).
import { noGrad } from '../autograd/mode.js';
import { device } from '../device/device.js';
import { autocast, CastCache, type ComputeDtype } from '../nn/autocast.js';
import { enterEval, leaveEval } from '../nn/eval-mode.js';
import { concat, tensor, type Tensor } from '../ops/index.js';
import { Generator } from '../tensor/generator.js';
import { scope } from '../tensor/scope.js';
import { checkSplits, drawBatch, type TokenSplits } from './batches.js';
import type { GPT } from './model.js';

/**
 * Mean loss of `model` over evalIters random batches of each split (batches drawn from `seed`, the
 * same ones every time): what the trainer evaluates, and `gpt eval` for any model, quantized too.
 * `onBatch` hears of each batch queued (1 to 2 evalIters, train's first; the GPU runs a few behind).
 */
export async function evaluateModel(
  model: GPT,
  data: TokenSplits,
  opts: { batchSize: number; blockSize: number; evalIters: number; seed: number; dtype?: ComputeDtype; onBatch?: (queued: number) => void },
): Promise<{ train: number; val: number }> {
  const { batchSize: B, blockSize: T, evalIters, seed, dtype = 'float32', onBatch } = opts;
  checkSplits(data, T);
  // float16 copies of the weights made once for every batch (before eval mode: a cast that throws
  // leaves the model's mode as it was); each batch's loss stays on the GPU until all are recorded,
  // so the GPU never waits on a readback between batches
  const casts = dtype === 'float16' ? new CastCache([...model.parameters()]) : undefined;
  enterEval(model); // shared with generations (and evaluations) in progress on the model
  const result = { train: 0, val: 0 };
  try {
    for (const split of ['train', 'val'] as const) {
      const rng = new Generator(seed, split === 'train' ? 2 : 3);
      const losses = await noGrad(() =>
        scope(async () => {
          const batches: Tensor[] = [];
          for (let i = 0; i < evalIters; i++) {
            const { x, y } = drawBatch(data[split], B, T, rng);
            batches.push(scope(() => autocast(dtype, () => model.forward(tensor(x, [B, T]), { targets: tensor(y, [B, T]) }).loss!.reshape([1]), casts)));
            await device().breathe();
            onBatch?.((split === 'train' ? 0 : evalIters) + i + 1);
          }
          return Array.from(await concat(batches, 0).toArray());
        }),
      );
      result[split] = losses.reduce((sum, l) => sum + l, 0) / evalIters; // in batch order, in float64
    }
  } finally {
    casts?.dispose();
    leaveEval(model);
  }
  return result;
}
