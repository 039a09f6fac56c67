// A pruned checkpoint opened for inference (sample, eval, serve, a distillation's teacher): its
// masks, which only an optimizer step uses, never all on the GPU at once. The oracle is the device's
// own count of live bytes (the peak of the load against the model it leaves), and the weights are
// checked against the file's, parsed here and multiplied by its masks in plain TS.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openModel } from '../src/cli/inference-model.js';
import { device } from '../src/index.js';
import { parseSafetensors, serializeSafetensors } from '../src/io/safetensors.js';
import { linearLayers } from '../src/nn/prune.js';
import { readCheckpointHead } from '../src/node/checkpoint-head.js';
import { corpusText, gpt, tempDir, TINY } from './cli-helpers.js';
import { setupDevice } from './helpers.js';

const dir = tempDir('prune-load-memory');
const corpus = join(dir, 'corpus.txt');
const pruned = join(dir, 'pruned');

beforeAll(async () => {
  await setupDevice();
  writeFileSync(corpus, corpusText(3000));
  const dense = join(dir, 'dense');
  const t = await gpt('train', '--data', corpus, ...TINY, '--n-layer', '2', '--max-iters', '1', '--eval-interval', '1', '--out-dir', dense);
  expect(t.code, t.err).toBe(0);
  const p = await gpt('prune', '--sparsity', '0.5', '--init-from', dense, '--out-dir', pruned);
  expect(p.code, p.err).toBe(0);
});

describe('a pruned checkpoint opened for inference', () => {
  it('peaks at its weights and one mask at most, keeps no mask, and holds the file weights times their masks', async () => {
    const manifest = JSON.parse(readFileSync(join(pruned, 'checkpoint.json'), 'utf8')) as { weights: string };
    const { tensors } = parseSafetensors(readFileSync(join(pruned, manifest.weights)));
    const maskBytes = Object.entries(tensors).filter(([name]) => name.endsWith('.weight_mask')).map(([, t]) => t.data.length * 4);
    expect(maskBytes.length).toBe(8); // 4 Linear layers a block, 2 blocks

    await device().sync();
    const before = device().memory().liveBytes;
    device().resetPeakMemory();
    const { model } = await openModel(await readCheckpointHead(pruned), { dtype: 'float32', batch: 1, flag: '--batch-size' });
    try {
      await device().sync();
      const kept = device().memory().liveBytes - before; // the model's weights, as the pool counts them
      const excess = device().memory().peakBytes - before - kept;
      // one mask at a time (a buffer of up to twice its bytes, the pool's size classes), where all of them were uploaded before
      expect(excess).toBeLessThanOrEqual(2 * Math.max(...maskBytes));
      expect(excess).toBeLessThan(maskBytes.reduce((a, b) => a + b, 0));
      for (const [path, layer] of linearLayers(model)) {
        expect(layer.weightMask, path).toBeNull();
        const w = tensors[`${path}.weight`]!.data;
        const m = tensors[`${path}.weight_mask`]!.data;
        expect([...(await layer.weight.toArray())], path).toEqual([...w].map((x, i) => x * m[i]!));
      }
    } finally {
      model.dispose();
    }
  });

  it('zeroes the pruned weights whichever comes first in the file, the weight or its mask', async () => {
    const manifest = JSON.parse(readFileSync(join(pruned, 'checkpoint.json'), 'utf8')) as { weights: string };
    const { tensors, metadata } = parseSafetensors(readFileSync(join(pruned, manifest.weights)));
    // a weight that is not zero where its mask is (a file written by hand): loading must zero it
    const entries = Object.entries(tensors).map(([name, t]): [string, typeof t] => {
      const m = tensors[`${name}_mask`];
      return [name, m ? { ...t, data: Float32Array.from(t.data, (x, i) => (m.data[i] === 0 ? 0.5 : x)) } : t];
    });
    const masksFirst = [...entries].sort(([a], [b]) => Number(b.endsWith('_mask')) - Number(a.endsWith('_mask')));
    const masksLast = [...entries].sort(([a], [b]) => Number(a.endsWith('_mask')) - Number(b.endsWith('_mask')));
    for (const [order, list] of [['masks first', masksFirst], ['masks last', masksLast]] as const) {
      const file = join(dir, `${order.replace(' ', '-')}.safetensors`);
      writeFileSync(file, serializeSafetensors(Object.fromEntries(list), metadata));
      const { model } = await openModel(await readCheckpointHead(file), { dtype: 'float32', batch: 1, flag: '--batch-size' });
      try {
        for (const [path, layer] of linearLayers(model)) {
          const w = tensors[`${path}.weight`]!.data;
          const m = tensors[`${path}.weight_mask`]!.data;
          expect([...(await layer.weight.toArray())], `${order}: ${path}`).toEqual([...w].map((x, i) => x * m[i]!));
        }
      } finally {
        model.dispose();
      }
    }
  });
});
