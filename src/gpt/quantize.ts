// quantizeModel: a float32 GPT as an int8 one, for inference (`gpt quantize`). The token embedding
// (also the tied LM head) and every Linear's weight become int8 with per-row scales (weight-only,
// symmetric, per output channel: src/ops/int8.ts); position embeddings, LayerNorms and biases stay
// float32. About 4x smaller; the model it makes cannot be trained (Trainer refuses it).
import { quantizeRowsInt8 } from '../ops/index.js';
import type { TensorData } from '../nn/module.js';
import { describeValue } from '../tensor/check.js';
import { GPT } from './model.js';

/** A new GPT with `model`'s weights quantized to int8 (`model` is left as it was; dispose both). */
export async function quantizeModel(model: GPT): Promise<GPT> {
  if (!(model instanceof GPT)) throw new TypeError(`quantizeModel: argument 'model' must be a GPT, got ${describeValue(model)}`);
  if (model.config.quantization) throw new Error(`quantizeModel: the model is already quantized (${model.config.quantization})`);
  model.checkAdapters('quantizeModel');
  if (model.config.lora) throw new Error('quantizeModel: the model has LoRA adapters, which int8 weights cannot hold; merge them first (model.mergeLoRA())');
  const quantized = new GPT({ ...model.config, quantization: 'int8' });
  try {
    const int8 = new Set([...quantized.namedParameters()].filter(([, p]) => p.dtype === 'int8').map(([name]) => name));
    const state = new Map<string, TensorData>();
    for (const [name, p] of model.namedParameters()) {
      const data = (await p.toArray()) as Float32Array;
      if (!int8.has(name)) {
        state.set(name, { shape: p.shape, data });
        continue;
      }
      const [rows, cols] = p.shape as [number, number];
      const { q, scale } = quantizeRowsInt8(data, rows, cols, `quantizeModel: '${name}'`);
      state.set(name, { shape: p.shape, data: q });
      state.set(`${name}_scale`, { shape: [rows], data: scale });
    }
    quantized.loadStateDict(state);
    return quantized;
  } catch (e) {
    quantized.dispose();
    throw e;
  }
}
