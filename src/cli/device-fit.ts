// Whether a model's largest buffers fit the adapter, checked once the device is open and before
// anything is allocated, so that an oversized --n-embd is an error naming the sizes and the limit
// rather than a createBuffer failure deep inside the first step. Rough on purpose: the biggest
// single buffers of a step (f32), each against the largest buffer a kernel can bind.
import type { GPTConfig } from '../gpt/model.js';

const F32 = 4;

export function checkModelFits(
  m: Pick<GPTConfig, 'vocabSize' | 'blockSize' | 'nLayer' | 'nEmbd'>,
  batchSize: number,
  opts: { training: boolean; limits: Record<string, number> },
): void {
  const { vocabSize: V, blockSize: T, nLayer: L, nEmbd: C } = m;
  const B = batchSize;
  // weights: 12·C² per block (qkv 3C², projection C², MLP 8C²), C-sized biases and norms, embeddings
  const params = L * (12 * C * C + 13 * C) + (V + T + 2) * C;
  const buffers: [string, number][] = [
    [`the token embedding (vocab ${V} x n-embd ${C})`, V * C],
    [`an MLP weight (n-embd ${C} x 4·n-embd)`, 4 * C * C],
    [`the logits (batch-size ${B} x block-size ${T} x vocab ${V})`, B * T * V],
    [`the MLP activations (batch-size ${B} x block-size ${T} x 4·n-embd ${C})`, B * T * 4 * C],
    ...(opts.training ? [[`AdamW's moments (one buffer for all ${params.toExponential(2)} parameters; n-layer ${L}, n-embd ${C})`, params] as [string, number]] : []),
  ];
  const [limitName, limit] = (['maxStorageBufferBindingSize', 'maxBufferSize'] as const)
    .map((k) => [k, opts.limits[k] ?? Infinity] as const)
    .reduce((a, b) => (b[1] < a[1] ? b : a));
  const over = buffers.find(([, floats]) => floats * F32 > limit);
  if (over) throw new Error(`the model does not fit this adapter: ${over[0]} takes ${bytes(over[1] * F32)}, over its ${limitName} of ${bytes(limit)}`);
}

const bytes = (n: number) => (n >= 2 ** 30 ? `${(n / 2 ** 30).toPrecision(3)} GiB` : `${(n / 2 ** 20).toPrecision(3)} MiB`);
