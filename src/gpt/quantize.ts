// quantizeModel: a float32 GPT as a quantized one, for inference (`gpt quantize`), weight-only:
//   int8: the token embedding (also the tied LM head) and every Linear's weight int8 with per-row
//     scales (symmetric, per output channel: src/ops/int8.ts); about 4x smaller.
//   int4: every Linear's weight int4 with a scale per group of `groupSize` inputs (src/ops/int4.ts),
//     the token embedding int8 as above: int4 in groups of 32 too, it took the reference model's
//     val loss from 1.9286 to 1.9441 (float32: 1.9233; emulated with dequantized weights), three
//     times what int4 Linears cost, for 4 KiB. About 6x smaller.
// Position embeddings, LayerNorms and biases stay float32. The model cannot be trained (Trainer refuses it).
import { quantizeGroupsInt4, quantizeRowsInt8 } from '../ops/index.js';
import type { TensorData } from '../nn/module.js';
import { checkInteger, checkOptionKeys, describeValue, showValue } from '../tensor/check.js';
import { GPT, groupSizeProblem } from './model.js';

/** int4's group size by default (`gpt quantize --bits 4`): of 32, 64 and 128, the lowest val loss on the reference model (README). */
export const INT4_GROUP_SIZE = 32;

/** How quantizeModel stores the weights: int8 (the default), or int4 in groups of groupSize inputs (INT4_GROUP_SIZE by default). */
export type QuantizeSettings = { bits?: 8 } | { bits: 4; groupSize?: number };

/** A new GPT with `model`'s weights quantized (`model` is left as it was; dispose both). */
export async function quantizeModel(model: GPT, settings: QuantizeSettings = {}): Promise<GPT> {
  if (!(model instanceof GPT)) throw new TypeError(`quantizeModel: argument 'model' must be a GPT, got ${describeValue(model)}`);
  if (model.config.quantization) throw new Error(`quantizeModel: the model is already quantized (${model.config.quantization})`);
  model.checkAdapters('quantizeModel');
  const storage = storageOf(model, settings);
  if (model.config.lora) throw new Error(`quantizeModel: the model has LoRA adapters, which ${storage.quantization} weights cannot hold; merge them first (model.mergeLoRA())`);
  const quantized = new GPT({ ...model.config, ...storage });
  try {
    const shapes = new Map([...quantized.namedParameters()].map(([name, p]) => [name, p.shape]));
    const state = new Map<string, TensorData>();
    for (const [name, p] of model.namedParameters()) {
      const data = (await p.toArray()) as Float32Array;
      const scaleShape = shapes.get(`${name}_scale`);
      if (!scaleShape) {
        state.set(name, { shape: p.shape, data });
        continue;
      }
      const [rows, cols] = p.shape as [number, number];
      const what = `quantizeModel: '${name}'`;
      // a Linear's int4 scales are [rows, groups], the int8 ones [rows]
      const { q, scale } = scaleShape.length === 2 ? quantizeGroupsInt4(data, rows, cols, cols / scaleShape[1]!, what) : quantizeRowsInt8(data, rows, cols, what);
      state.set(name, { shape: shapes.get(name)!, data: q });
      state.set(`${name}_scale`, { shape: scaleShape, data: scale });
    }
    quantized.loadStateDict(state);
    return quantized;
  } catch (e) {
    quantized.dispose();
    throw e;
  }
}

/** The config keys of `settings`' storage for `model`, every setting checked here, so that errors name quantizeModel's options rather than the new model's config. */
function storageOf(model: GPT, settings: QuantizeSettings): { quantization: 'int8' } | { quantization: 'int4'; groupSize: number } {
  checkOptionKeys('quantizeModel', settings, ['bits', 'groupSize']);
  const { bits = 8, groupSize } = settings as { bits?: unknown; groupSize?: unknown };
  if (bits !== 8 && bits !== 4) throw new RangeError(`quantizeModel: bits must be 8 or 4, got ${showValue(bits)}`);
  if (bits === 8) {
    if (groupSize !== undefined) throw new RangeError(`quantizeModel: groupSize is int4's setting (bits 4; int8 scales whole rows), got groupSize ${showValue(groupSize)} with bits 8`);
    return { quantization: 'int8' };
  }
  const G = checkInteger('quantizeModel', 'groupSize', groupSize ?? INT4_GROUP_SIZE, 1, Number.MAX_SAFE_INTEGER, "a multiple of 8 dividing every Linear's input width");
  const problem = groupSizeProblem({ ...model.config, quantization: 'int4', groupSize: G }, () => 'groupSize');
  if (problem) throw new RangeError(`quantizeModel: ${problem}`);
  return { quantization: 'int4', groupSize: G };
}
