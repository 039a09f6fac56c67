// `gpt quantize` end to end on a tiny model trained here: the int8 checkpoint's bytes read with a
// parser of our own (u64 header length, JSON header, raw little-endian data) against the float64
// quantization of the float32 checkpoint's weights; then sample, eval and its refusals.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { dequantizeInt4Ref, dequantizeRef, quantizeInt4Ref, quantizeRef, ref } from '../src/check/reference/index.js';
import { decodeCheckpoint, modelFromCheckpoint } from '../src/gpt/checkpoint.js';
import { GPT } from '../src/gpt/model.js';
import { noGrad, scope, tensor } from '../src/index.js';
import { loadCheckpoint } from '../src/node/checkpoint-dir.js';
import { corpusText, expectOneLine, gpt, nanWeightCopy, tempDir, TINY } from './cli-helpers.js';
import { readCheckpointFiles, setupDevice } from './helpers.js';

const dir = tempDir('cli-quantize');
const corpus = join(dir, 'corpus.txt');
const float = join(dir, 'float32');
const int8 = join(dir, 'int8');
const int4 = join(dir, 'int4');

/** A safetensors file read by hand: each tensor's dtype, shape and raw bytes, and the metadata. */
function readSafetensors(bytes: Uint8Array): { tensors: Map<string, { dtype: string; shape: number[]; raw: Uint8Array }>; metadata: Record<string, string> } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const data = bytes.subarray(8 + n);
  const tensors = new Map<string, { dtype: string; shape: number[]; raw: Uint8Array }>();
  for (const [name, t] of Object.entries(header)) {
    if (name !== '__metadata__') tensors.set(name, { dtype: t.dtype, shape: t.shape, raw: data.subarray(...t.data_offsets) });
  }
  return { tensors, metadata: header.__metadata__ as unknown as Record<string, string> };
}

beforeAll(async () => {
  await setupDevice();
  writeFileSync(corpus, corpusText(6000));
  const r = await gpt('train', '--data', corpus, ...TINY, '--max-iters', '10', '--out-dir', float);
  expect(r.code, r.err).toBe(0);
});

describe('gpt quantize', () => {
  it('writes int8 weights (I8) with float32 scales, the float64 quantization of the float32 ones, ~4x fewer bytes per weight', async () => {
    const r = await gpt('quantize', '--bits', '8', '--init-from', float, '--out-dir', int8);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^float32 [\d.]+ MiB -> int8 [\d.]+ MiB \([\d.]+x smaller\)/);

    const source = await loadCheckpoint(float);
    const file = readSafetensors((await readCheckpointFiles(int8)).weights);
    const meta = JSON.parse(file.metadata.webgpu_gpt!) as { model: Record<string, unknown>; train?: unknown };
    expect(meta.model).toMatchObject({ ...source.meta.model, quantization: 'int8', dropout: 0 });
    expect(meta.train).toBeUndefined();
    const quantized = ['wte.weight', 'h.0.attn.c_attn.weight', 'h.0.attn.c_proj.weight', 'h.0.mlp.c_fc.weight', 'h.0.mlp.c_proj.weight'];
    for (const [name, w] of source.weights) {
      const t = file.tensors.get(name)!;
      expect(t.shape, name).toEqual(w.shape);
      if (!quantized.includes(name)) {
        expect(t.dtype, name).toBe('F32');
        expect([...new Float32Array(Uint8Array.from(t.raw).buffer)], name).toEqual([...w.data]);
        continue;
      }
      const want = quantizeRef(ref(w.shape, w.data));
      expect(t.dtype, name).toBe('I8');
      expect(t.raw.length, name).toBe(w.data.length); // one byte a weight
      expect([...new Int8Array(Uint8Array.from(t.raw).buffer)], name).toEqual([...want.q.data]);
      const s = file.tensors.get(`${name}_scale`)!;
      expect([s.dtype, s.shape], name).toEqual(['F32', [w.shape[0]]]);
      expect([...new Float32Array(Uint8Array.from(s.raw).buffer)], name).toEqual([...want.scale32.data]);
    }
    expect([...file.tensors.keys()].filter((n) => n.startsWith('optim.'))).toEqual([]);
  });

  it('compares a pruned model with its float32 weights, not with its pruning masks too', async () => {
    // the size reported for the float32 model: a pruned copy has the same weights (half of them zero)
    const float32MiB = async (from: string, to: string) => {
      const r = await gpt('quantize', '--init-from', from, '--out-dir', to);
      expect(r.code, r.err).toBe(0);
      return Number(/^float32 ([\d.]+) MiB/.exec(r.out)![1]);
    };
    const pruned = join(dir, 'pruned-float32');
    expect((await gpt('prune', '--sparsity', '0.5', '--init-from', float, '--out-dir', pruned)).code).toBe(0);
    const [dense, sparse] = [await float32MiB(float, join(dir, 'dense-int8')), await float32MiB(pruned, join(dir, 'pruned-int8'))];
    expect(Math.abs(sparse - dense) / dense).toBeLessThan(0.02); // the masks would add ~80%
  });

  it('loads back as an int8 model whose logits are those of the model it saved', async () => {
    const ckpt = await loadCheckpoint(int8);
    const { model } = modelFromCheckpoint(ckpt);
    expect(model.config.quantization).toBe('int8');
    expect(model.h.items[0]!.mlp.c_fc.weight.describe()).toBe('int8[64, 16]');
    // the same bytes decoded again give bit-identical logits
    const again = modelFromCheckpoint(decodeCheckpoint(readFileSync(join(int8, (JSON.parse(readFileSync(join(int8, 'checkpoint.json'), 'utf8')) as { weights: string }).weights)))).model;
    const ids = tensor(Int32Array.from({ length: 16 }, (_, i) => i % model.config.vocabSize), [1, 16]);
    const logits = await noGrad(() => scope(async () => [await model.eval().forward(ids).logits.toArray(), await again.eval().forward(ids).logits.toArray()]));
    expect(logits[0]).toEqual(logits[1]);
    expect(logits[0]!.every(Number.isFinite)).toBe(true);
    ids.dispose();
    model.dispose();
    again.dispose();
  });

  it('samples and evaluates like any checkpoint, the loss close to the float32 one', async () => {
    const sampled = await gpt('sample', '--out-dir', int8, '--max-new-tokens', '8', '--start', 'the ');
    expect(sampled.code, sampled.err).toBe(0);
    expect(sampled.out.startsWith('the ') && sampled.err).toMatch(/8 tokens in/);
    const evaluated = new Map<string, string>();
    const loss = async (out: string) => {
      const r = await gpt('eval', '--out-dir', out, '--eval-iters', '2', '--batch-size', '2');
      expect(r.code, r.err).toBe(0);
      evaluated.set(out, r.out);
      return Number(/val loss (\d+\.\d+)/.exec(r.out)![1]);
    };
    const [f32, q8] = [await loss(float), await loss(int8)];
    expect(evaluated.get(int8), 'gpt eval says what the checkpoint is').toMatch(/^model: int8 weights \(gpt quantize\)$/m);
    expect(evaluated.get(float), 'and says nothing of a plain one').not.toMatch(/^model:/m);
    expect(Math.abs(q8 - f32) / f32).toBeLessThan(0.02);
  });

  it('refuses what it cannot do, in one line', async () => {
    expectOneLine(await gpt('quantize', '--bits', '6', '--init-from', float, '--out-dir', join(dir, 'q6')), 2, /^gpt quantize: --bits 6: allowed are 8 \(int8\) and 4 \(int4\)$/);
    expectOneLine(await gpt('quantize', '--init-from', float), 2, /^gpt quantize: --out-dir DIR is required: where the quantized checkpoint goes$/);
    expectOneLine(await gpt('quantize', '--init-from', int8, '--out-dir', join(dir, 'twice')), 2, /is already quantized \(int8\)/);
    expectOneLine(await gpt('quantize', '--init-from', float, '--out-dir', int8), 2, /already holds a checkpoint/);
    expectOneLine(await gpt('train', '--init-from', int8, '--data', corpus, ...TINY, '--out-dir', join(dir, 'ft')), 2, /is a quantized \(int8\) checkpoint, for inference only/);
    expectOneLine(await gpt('train', '--init-from', 'resume', '--out-dir', int8), 2, /is a quantized \(int8\) checkpoint/);
    // what changes a model needs its float32 weights: bad usage, refused before anything is written
    expectOneLine(await gpt('export', '--out-dir', int8, '--to', join(dir, 'hf')), 2, /is a quantized \(int8\) checkpoint, for inference only: export the float32 checkpoint it was made from$/);
    expectOneLine(await gpt('prune', '--init-from', int8, '--out-dir', join(dir, 'pruned')), 2, /is a quantized \(int8\) checkpoint, for inference only: prune the float32 checkpoint it was made from$/);
    expect(existsSync(join(dir, 'hf')) || existsSync(join(dir, 'pruned'))).toBe(false);
    // refused once the new --out-dir and its missing parents are made (the weights refused as loaded): none of them is left
    const nan = join(dir, 'nan.safetensors');
    await nanWeightCopy(float, nan);
    expectOneLine(await gpt('quantize', '--init-from', nan, '--out-dir', join(dir, 'made', 'for', 'int8')), 1, /tensor 'h\.0\.mlp\.c_fc\.weight' holds NaN/);
    expect(existsSync(join(dir, 'made')), 'no new directory left').toBe(false);
    expect(existsSync(dir), "the user's own directory kept").toBe(true);
    const help = await gpt('quantize', '--help');
    expect(help.out).toMatch(/^usage: gpt quantize --bits 8\|4 --init-from DIR --out-dir DIR2/);
    expect(help.out).toMatch(/^  --bits +bits per weight: 8 \(int8, .* or 4 \(int4 /m);
    expect((await gpt('--help')).out).toMatch(/quantize +write an int8 copy/);
  });
});

describe('gpt quantize --bits 4', () => {
  it('writes int4 Linear weights packed two a byte (U8) with a scale per group, the float64 quantization of the float32 ones; the token embedding int8', async () => {
    const r = await gpt('quantize', '--bits', '4', '--group-size', '8', '--init-from', float, '--out-dir', int4);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^float32 [\d.]+ MiB -> int4 [\d.]+ MiB \([\d.]+x smaller\)/);
    const source = await loadCheckpoint(float);
    const file = readSafetensors((await readCheckpointFiles(int4)).weights);
    const meta = JSON.parse(file.metadata.webgpu_gpt!) as { model: Record<string, unknown> };
    expect(meta.model).toMatchObject({ quantization: 'int4', groupSize: 8 });
    for (const name of ['h.0.attn.c_attn.weight', 'h.0.attn.c_proj.weight', 'h.0.mlp.c_fc.weight', 'h.0.mlp.c_proj.weight']) {
      const w = source.weights.get(name)!;
      const [rows, cols] = w.shape as [number, number];
      const want = quantizeInt4Ref(ref(w.shape, w.data), 8);
      const [t, s] = [file.tensors.get(name)!, file.tensors.get(`${name}_scale`)!];
      expect([t.dtype, t.shape], name).toEqual(['U8', [rows, cols / 2]]);
      expect([...new Int8Array(Uint8Array.from(t.raw).buffer)], name).toEqual([...want.packed.data]);
      expect([s.dtype, s.shape], name).toEqual(['F32', [rows, cols / 8]]);
      expect([...new Float32Array(Uint8Array.from(s.raw).buffer)], name).toEqual([...want.scale32.data]);
    }
    expect(file.tensors.get('wte.weight')!.dtype).toBe('I8');
    expect((await gpt('info', int4)).out).toMatch(/^compression +int4 weights, a scale per 8 inputs \(token embedding int8\) \(gpt quantize\)$/m);
  });

  it('loads back as an int4 model whose logits are those of a float32 model of its dequantized weights', async () => {
    const { model } = modelFromCheckpoint(await loadCheckpoint(int4));
    expect(model.h.items[0]!.mlp.c_fc.weight.describe()).toBe('int8[64, 8]'); // 16 inputs, two a byte
    const source = modelFromCheckpoint(await loadCheckpoint(float)).model;
    expect(model.numParams()).toBe(source.numParams());
    source.dispose();
    const state = new Map<string, { shape: number[]; data: Float32Array }>();
    const params = new Map([...model.namedParameters()].map(([name, p]) => [name, p]));
    for (const [name, p] of params) {
      if (name.endsWith('_scale')) continue;
      const [data, scale] = [await p.toArray(), params.get(`${name}_scale`)];
      const s = scale && ref([...scale.shape], await scale.toArray());
      const w = !s ? ref([...p.shape], data) : s.shape.length === 2 ? dequantizeInt4Ref(ref([...p.shape], data), s) : dequantizeRef(ref([...p.shape], data), s);
      state.set(name, { shape: [...w.shape], data: Float32Array.from(w.data) });
    }
    const plain = new GPT({ ...model.config, quantization: undefined, groupSize: undefined });
    plain.loadStateDict(state);
    const ids = tensor(Int32Array.from({ length: 16 }, (_, i) => (i * 5) % model.config.vocabSize), [1, 16]);
    const [got, want] = await noGrad(() => scope(async () => [await model.eval().forward(ids).logits.toArray(), await plain.eval().forward(ids).logits.toArray()]));
    expect(Math.max(...got!.map((v, i) => Math.abs(v - want![i]!)))).toBeLessThan(1e-4);
    for (const t of [ids, model, plain]) t.dispose();
  });

  it('samples and evaluates like any checkpoint; refuses a group size that does not fit, training and export', async () => {
    const sampled = await gpt('sample', '--out-dir', int4, '--max-new-tokens', '8', '--start', 'the ');
    expect(sampled.code, sampled.err).toBe(0);
    expect(sampled.err).toMatch(/8 tokens in/);
    const evaluated = await gpt('eval', '--out-dir', int4, '--eval-iters', '2', '--batch-size', '2');
    expect(evaluated.out).toMatch(/^model: int4 weights, a scale per 8 inputs/m);
    expectOneLine(await gpt('quantize', '--bits', '4', '--group-size', '32', '--init-from', float, '--out-dir', join(dir, 'g32')), 2, /^gpt quantize: --group-size: group size 32 does not divide rows of 16 weights \(attn\.c_attn's input\)$/);
    expectOneLine(await gpt('quantize', '--bits', '4', '--group-size', '12', '--init-from', float, '--out-dir', join(dir, 'g12')), 2, /^gpt quantize: --group-size: a group size must be a multiple of 8 .*got 12$/);
    expectOneLine(await gpt('quantize', '--group-size', '8', '--init-from', float, '--out-dir', join(dir, 'g8')), 2, /^gpt quantize: --group-size 8 is int4's setting: give it with --bits 4/);
    expectOneLine(await gpt('train', '--init-from', int4, '--data', corpus, ...TINY, '--out-dir', join(dir, 'ft4')), 2, /is a quantized \(int4\) checkpoint, for inference only/);
    expectOneLine(await gpt('export', '--out-dir', int4, '--to', join(dir, 'hf4')), 2, /is a quantized \(int4\) checkpoint, for inference only: export the float32 checkpoint/);
  });
});
