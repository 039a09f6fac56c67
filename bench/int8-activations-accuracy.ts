// Accuracy of int8 activations (int8 weights' prompt processing on int8 tensor cores) on a
// checkpoint: per layer, a host float64 emulation of int8 x int8 (activations quantized per row,
// ties to even) against the float32-activation int8 path (float64 of x · dequantized W), on the
// activations each Linear and the LM head receive for one val batch of 8 x 64; then the val loss of
// the float32 model, its int8-weight copy, and that copy with every int8 product's activations
// rounded on the device by the real quantization kernel (int8-quantize-rows, dequantized with
// embeddingInt8: the numbers the tensor cores' i32 sums times the scales give, up to the float32
// summation order). Runs anywhere (no tensor cores needed).
// Usage: node scripts/run-ts.mjs bench/int8-activations-accuracy.ts CHECKPOINT_DIR TEXT_FILE
import { quantizeRef } from '../src/check/reference/int8.js';
import { loadTokens } from '../src/cli/data.js';
import { initDevice } from '../src/device/device.js';
import { launchQuantizeRows } from '../src/kernels/wgsl/int8.js';
import { arange, embeddingInt8, noGrad, scope, tensor, Tensor } from '../src/index.js';
import { modelFromCheckpoint } from '../src/gpt/checkpoint.js';
import { quantizeModel } from '../src/gpt/quantize.js';
import { evaluateModel } from '../src/gpt/evaluate.js';
import { loadCheckpoint } from '../src/node/checkpoint-dir.js';

const [dir, text] = process.argv.slice(2);
if (!dir || !text) throw new Error('usage: bench/int8-activations-accuracy.ts CHECKPOINT_DIR TEXT_FILE');
await initDevice();
const { model, tokenizer } = modelFromCheckpoint(await loadCheckpoint(dir), { dropout: 0 });
const data = await loadTokens(text, { tokenizer: tokenizer.kind, vocabSize: tokenizer.vocabSize, existing: tokenizer, note: () => {} });
const q8 = await quantizeModel(model);

/** What is read of an int8 layer here: its product (replaced below to see or change its input), Q and scales. */
type Int8Layer = { project: (x: Tensor) => Tensor; weight: Tensor; weightScale: Tensor | null };
const layers: [string, Int8Layer][] = [['wte (LM head)', q8.wte]];
q8.h.items.forEach((b, i) => {
  const named = { 'attn.c_attn': b.attn.c_attn, 'attn.c_proj': b.attn.c_proj, 'mlp.c_fc': b.mlp.c_fc, 'mlp.c_proj': b.mlp.c_proj };
  for (const [n, l] of Object.entries(named)) layers.push([`h.${i}.${n}`, l]);
});
const originals = layers.map(([, l]) => l.project.bind(l));

/** x [..., K] with every row rounded to int8 by the kernel and scaled back. */
function int8Rounded(x: Tensor): Tensor {
  const K = x.shape.at(-1)!;
  const rows = x.size / K;
  const q = Tensor.empty([rows, K], 'int8', 'int8 activations');
  const xs = Tensor.empty([rows], 'float32', 'int8 activation scales');
  launchQuantizeRows(x.buffer(), q.buffer(), xs.buffer(), rows, K);
  return embeddingInt8(q, xs, arange(0, rows)).reshape(x.shape);
}

/** Error of int8 activations against float32 ones for one layer's input x [M, K] and weights Q [N, K], scales [N] (float64). */
function layerError(x: Float32Array, K: number, q: Int8Array, scale: Float32Array) {
  const [M, N] = [x.length / K, scale.length];
  const xq = quantizeRef({ shape: [M, K], data: Float64Array.from(x) }, 'even');
  const e = { errSq: 0, refSq: 0, maxErr: 0, maxRef: 0, ofBound: 0 };
  for (let m = 0; m < M; m++) {
    const xScale = xq.scale32.data[m]!;
    for (let n = 0; n < N; n++) {
      let [float, int, absQ] = [0, 0, 0];
      for (let k = 0; k < K; k++) {
        const w = q[n * K + k]!;
        float += x[m * K + k]! * w;
        int += xq.q.data[m * K + k]! * w;
        absQ += Math.abs(w);
      }
      const [yf, yi] = [float * scale[n]!, int * xScale * scale[n]!];
      const err = Math.abs(yi - yf);
      e.errSq += err * err;
      e.refSq += yf * yf;
      e.maxErr = Math.max(e.maxErr, err);
      e.maxRef = Math.max(e.maxRef, Math.abs(yf));
      e.ofBound = Math.max(e.ofBound, err / ((xScale / 2) * absQ * scale[n]! || 1)); // the bound: x_scale / 2 · sum|W|
    }
  }
  return e;
}

// 1. each layer's input on one val batch, then float64 emulation
const [B, T] = [8, model.config.blockSize];
const captured: { name: string; x: Promise<Float32Array>; K: number }[] = [];
layers.forEach(([name, l], i) => (l.project = (x: Tensor) => {
  captured.push({ name, x: x.toArray() as Promise<Float32Array>, K: x.shape.at(-1)! });
  return originals[i]!(x);
}));
await noGrad(() => scope(() => void q8.forward(tensor(data.val.subarray(1000, 1000 + B * T), [B, T]))));
const weights = new Map<string, { q: Int8Array; scale: Float32Array }>();
for (const [name, l] of layers) weights.set(name, { q: (await l.weight.toArray()) as Int8Array, scale: (await l.weightScale!.toArray()) as Float32Array });
const total = { errSq: 0, refSq: 0, ofBound: 0 };
for (const c of captured) {
  const { q, scale } = weights.get(c.name)!;
  const x = await c.x;
  const e = layerError(x, c.K, q, scale);
  [total.errSq, total.refSq, total.ofBound] = [total.errSq + e.errSq, total.refSq + e.refSq, Math.max(total.ofBound, e.ofBound)];
  const pct = (v: number) => `${(v * 100).toFixed(3)}%`;
  console.log(`${c.name.padEnd(16)} [${x.length / c.K}x${c.K}]·[${scale.length}x${c.K}]ᵀ  RMS error ${pct(Math.sqrt(e.errSq / e.refSq))} of RMS |y|, max |err| ${e.maxErr.toExponential(2)} (${pct(e.maxErr / e.maxRef)} of max |y| ${e.maxRef.toFixed(2)}), at most ${e.ofBound.toFixed(3)} of the bound`);
}
console.log(`all layers: RMS error ${((Math.sqrt(total.errSq / total.refSq)) * 100).toFixed(3)}% of RMS |y|; the largest error ${total.ofBound.toFixed(3)} of its bound x_scale / 2 · sum|W|`);

// 2. loss: float32, int8 weights, int8 weights with int8 activations (evaluation rows are prompt processing)
const cfg = { blockSize: T, batchSize: 12, evalIters: 20, seed: 1337 };
layers.forEach(([, l], i) => (l.project = originals[i]!));
const float32 = await evaluateModel(model, data, cfg);
const weights8 = await evaluateModel(q8, data, cfg);
layers.forEach(([, l], i) => (l.project = (x: Tensor) => originals[i]!(int8Rounded(x))));
const both8 = await evaluateModel(q8, data, cfg);
const rel = (v: number) => `${v.toFixed(5)} (${((v / float32.val - 1) * 100).toFixed(3)}%)`;
console.log(`val loss, ${cfg.evalIters} batches of ${cfg.batchSize}x${T} (seed ${cfg.seed}): float32 ${float32.val.toFixed(5)}, int8 weights ${rel(weights8.val)}, int8 weights and activations ${rel(both8.val)}`);
model.dispose();
q8.dispose();
