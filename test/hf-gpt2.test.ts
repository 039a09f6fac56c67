// Hugging Face GPT-2 weights (src/gpt/hf; loadCheckpoint and saveHFModel in webgpu-gpt/node): a
// small random model in transformers' layout loads into our GPT and computes GPT-2's logits (an
// independent float64 forward), whichever way it was saved; unsupported configs are refused with
// one line naming the field; export -> import is bit-exact and reproduces transformers' layout; and
// `gpt sample|eval|train --init-from DIR` take such a directory. Nothing is downloaded.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { device } from '../src/device/device.js';
import { modelFromCheckpoint } from '../src/gpt/checkpoint.js';
import { encodeHF } from '../src/gpt/hf/index.js';
import { GPT, type GPTConfig } from '../src/gpt/model.js';
import { CharTokenizer, tokenizerFromHuggingFace, toHuggingFaceJSON } from '../src/gpt/tokenizer/index.js';
import { noGrad, scope, tensor } from '../src/index.js';
import { parseSafetensors, serializeSafetensors, type SafetensorsTensor } from '../src/io/safetensors.js';
import { loadCheckpoint, loadCheckpointModel, saveCheckpoint, saveHFModel } from '../src/node/checkpoint-dir.js';
import { describeCheckpoint } from '../src/cli/info.js';
import { readCheckpointHead } from '../src/node/checkpoint-head.js';
import { readCheckpointHeader } from '../src/node/checkpoint-header.js';
import { corpusText, gpt, tempDir } from './cli-helpers.js';
import { setupDevice } from './helpers.js';
import { gpt2Config, gpt2Logits, miniGpt2Tokenizer, randomGPT2, SMALL, writeGPT2Dir, type GPT2Activation, type GPT2DirOptions, type GPT2Params } from './hf-reference.js';

beforeAll(setupDevice);

const dir = tempDir('hf');
const params = randomGPT2();
const tokenizer = miniGpt2Tokenizer();
const sequences = ['the model reads the text', 'a line of text, the end.'].map((s) => tokenizer.encode(s).slice(0, SMALL.T)); // B = 2, T = 16

/** Our model's logits [B, T, V] for `batch` (B sequences of T ids), dropout off. */
async function logitsOf(model: GPT, batch = sequences): Promise<Float32Array> {
  model.eval();
  return noGrad(() => scope(async () => (await model.forward(tensor(Int32Array.from(batch.flat()), [batch.length, SMALL.T])).logits.toArray()) as Float32Array));
}

/** Largest |ours - GPT-2's float64 logits| over the batch. */
function worstError(ours: Float32Array, p: GPT2Params): number {
  const want = sequences.flatMap((ids) => gpt2Logits(p, ids).flatMap((row) => [...row]));
  return Math.max(...want.map((w, i) => Math.abs(ours[i]! - w)));
}

/** Expects loadCheckpoint (weights read to the host) and loadCheckpointModel (each uploaded as read) to refuse `path` with `message`, the latter leaving nothing on the GPU. */
async function refusedByBoth(path: string, message: RegExp): Promise<void> {
  await expect(loadCheckpoint(path)).rejects.toThrow(message);
  const live = device().memory().liveBytes;
  await expect(loadCheckpointModel(path)).rejects.toThrow(message);
  expect(device().memory().liveBytes, path).toBe(live);
}

const allBitsEqual = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((x, i) => Object.is(x, b[i]));

describe('Hugging Face GPT-2 weights', () => {
  it.each([
    { saved: 'the hub way (bare names, lm_head, mask buffers)', prefix: false, head: true },
    { saved: 'by GPT2LMHeadModel.save_pretrained (transformer. prefix, no lm_head)', prefix: true, head: false },
  ])("load with GPT-2's logits within 1e-4, saved $saved", async ({ prefix, head }) => {
    const path = join(dir, `gpt2-${prefix}-${head}`);
    writeGPT2Dir(path, params, { prefix, head });
    const ckpt = await loadCheckpoint(path);
    expect(ckpt.meta.tokenizer).toEqual(tokenizer.toJSON());
    expect(ckpt.meta.model).toEqual({ vocabSize: 260, blockSize: 16, nLayer: 2, nHead: 3, nEmbd: 24, dropout: 0.1, bias: true, activation: 'gelu_tanh' });
    const { model } = modelFromCheckpoint(ckpt, { dropout: 0 });
    expect(worstError(await logitsOf(model), params)).toBeLessThan(1e-4);
    model.dispose();
    // the same weights with nanoGPT's exact GELU are measurably another function
    const exact = modelFromCheckpoint({ ...ckpt, meta: { ...ckpt.meta, model: { ...ckpt.meta.model, activation: 'gelu' } } }, { dropout: 0 }).model;
    expect(worstError(await logitsOf(exact), params)).toBeGreaterThan(1e-3);
    exact.dispose();
  });

  // every variant transformers may save of a GPT-2 we compute: other GELU names, fields at their
  // defaults spelled out or left out, half-precision weights, old saves' mask buffers, shards
  it.each<{ variant: string; config?: Record<string, unknown>; activation?: GPT2Activation; heads?: number } & Partial<GPT2DirOptions>>([
    { variant: "activation_function 'gelu' (exact)", config: { activation_function: 'gelu' }, activation: 'gelu' },
    { variant: "activation_function 'gelu_pytorch_tanh'", config: { activation_function: 'gelu_pytorch_tanh' } },
    { variant: "activation_function 'gelu_fast'", config: { activation_function: 'gelu_fast' } },
    { variant: "activation_function 'gelu_accurate'", config: { activation_function: 'gelu_accurate' } },
    { variant: "activation_function 'gelu_python' (exact)", config: { activation_function: 'gelu_python' }, activation: 'gelu' },
    { variant: 'reorder_and_upcast_attn (the same function in float32)', config: { reorder_and_upcast_attn: true } },
    { variant: 'n_inner 4 * n_embd, layer_norm_epsilon 1e-05 spelled out', config: { n_inner: 96, layer_norm_epsilon: 1e-5 } },
    { variant: 'n_ctx without n_positions (older configs)', config: { n_positions: undefined } },
    // GPT2Config's default where the field is left out (a hand-written config): 12 heads, of 2 here
    { variant: "n_head left out (GPT2Config's 12)", config: { n_head: undefined }, heads: 12 },
    {
      variant: "GPT2Config's other names for the sizes",
      config: { hidden_size: 24, n_embd: undefined, num_hidden_layers: 2, n_layer: undefined, max_position_embeddings: 16, n_positions: undefined, n_ctx: undefined, num_attention_heads: 3, n_head: undefined },
    },
    // no shape tells the head count: 6 heads of 4 would load and compute another function
    { variant: 'num_attention_heads 3 beside n_head 6 (transformers reads 3)', config: { num_attention_heads: 3, n_head: 6 } },
    { variant: 'F16 weights (torch_dtype float16)', dtype: 'F16', config: { torch_dtype: 'float16' } },
    { variant: 'BF16 weights (torch_dtype bfloat16)', dtype: 'BF16', config: { torch_dtype: 'bfloat16' } },
    { variant: 'uint8 causal-mask buffers', mask: 'U8' },
    { variant: 'bool causal-mask buffers', mask: 'BOOL' },
    { variant: 'sharded (model.safetensors.index.json and 3 files)', shards: 3 },
    { variant: 'the tokenizer as vocab.json + merges.txt', tokenizer: 'vocab+merges' },
  ])('loads $variant, computing its logits within 1e-4', async ({ variant, config, activation, heads, ...saved }) => {
    const path = join(dir, `variant-${variant.replace(/\W+/g, '-')}`);
    // values exact in F16 and BF16 alike (multiples of 1/32 below 8), so that the file holds what the reference reads
    const exact = new Map([...params].map(([n, t]) => [n, { ...t, data: t.data.map((x) => Math.round(x * 32) / 32) }]));
    writeGPT2Dir(path, exact, { prefix: true, head: false, ...saved, config: gpt2Config(config) });
    const ckpt = await loadCheckpoint(path);
    expect(ckpt.meta.tokenizer).toEqual(tokenizer.toJSON());
    const { model } = modelFromCheckpoint(ckpt, { dropout: 0 });
    const want = sequences.flatMap((ids) => gpt2Logits(exact, ids, activation, heads).flatMap((row) => [...row]));
    const got = await logitsOf(model);
    expect(Math.max(...want.map((w, i) => Math.abs(got[i]! - w)))).toBeLessThan(1e-4);
    model.dispose();
  });

  it("loads the tied embedding saved as lm_head.weight alone (safetensors' save_model keeps that name of the two), read to the host or uploaded as read", async () => {
    const path = join(dir, 'head-only');
    writeGPT2Dir(path, params, { prefix: true, head: 'only' });
    const read = modelFromCheckpoint(await loadCheckpoint(path), { dropout: 0 }).model;
    expect(worstError(await logitsOf(read), params)).toBeLessThan(1e-4);
    read.dispose();
    const { model } = await loadCheckpointModel(path, { dropout: 0 });
    expect(worstError(await logitsOf(model), params)).toBeLessThan(1e-4);
    model.dispose();
    // gpt sample's and gpt info's header check: the head is the embedding's parameter, not a tied copy beside a missing one
    expect((await readCheckpointHead(path)).meta.model.vocabSize).toBe(SMALL.V);
    const { parameters, tensors } = describeCheckpoint(path, await readCheckpointHeader(path));
    expect(parameters).toMatchObject({ matches: true, problem: null });
    expect(tensors.tiedHeadCopy).toBeUndefined();
  });

  it('refuses what our GPT does not compute, in one line naming the field', async () => {
    const refused: [Record<string, unknown>, RegExp][] = [
      [{ scale_attn_by_inverse_layer_idx: true }, /config\.json: scale_attn_by_inverse_layer_idx true is not supported \(only false\)$/],
      [{ scale_attn_weights: false }, /config\.json: scale_attn_weights false is not supported \(only true\)$/],
      [{ add_cross_attention: true }, /config\.json: add_cross_attention true/],
      [{ tie_word_embeddings: false }, /config\.json: tie_word_embeddings false/],
      // layer_norm_epsilon is honoured (every LayerNorm's layerNormEps): one no LayerNorm can take is refused
      [{ layer_norm_epsilon: 0 }, /config\.json: layer_norm_epsilon must be .*, got 0$/],
      [{ layer_norm_epsilon: 1e-50 }, /config\.json: layer_norm_epsilon 1e-50 is not supported \(only a number float32 holds, > 0\)$/],
      [{ activation_function: 'relu' }, /config\.json: activation_function "relu" is not supported \(only gelu_new, gelu_pytorch_tanh, gelu_fast, gelu_accurate, gelu, gelu_python\)$/],
      // null is no default: transformers fails on it (ACT2FN[None], nn.Dropout(None))
      [{ activation_function: null }, /config\.json: activation_function null is not supported \(only gelu_new, .*\)$/],
      // names every object has: no activation either (it was loaded as Object.prototype's function, refused later with no file or field named)
      [{ activation_function: 'toString' }, /config\.json: activation_function "toString" is not supported \(only gelu_new, .*\)$/],
      [{ activation_function: '__proto__' }, /config\.json: activation_function "__proto__" is not supported \(only gelu_new, .*\)$/],
      [{ resid_pdrop: null }, /config\.json: resid_pdrop must be a finite number in \[0, 1\), got null$/],
      // n_inner is honoured (every block's MLP width): one the weights do not have is named with the tensor
      [{ n_inner: 64 }, /model\.safetensors: GPT-2's h\.0\.mlp\.c_fc\.weight has shape \[24, 96\], where config\.json's n_embd 24 and n_inner 64 gives it \[24, 64\]$/],
      [{ n_inner: 0 }, /config\.json: n_inner must be an integer >= 1, got 0$/],
      [{ n_inner: 64, n_layer: 1e9 }, /config\.json: n_layer 1000000000 with n_inner 64 is not supported \(at most 10000 blocks\)$/],
      [{ model_type: 'gpt_neo' }, /config\.json: model_type "gpt_neo" is not supported/],
      [{ n_head: 5 }, /config\.json: n_embd \(24\) must be divisible by n_head \(5\)$/],
      // transformers reads the size under its other name where that is given: so is it named
      [{ hidden_size: 25 }, /config\.json: hidden_size \(25\) must be divisible by n_head \(3\)$/],
      [{ num_attention_heads: 5 }, /config\.json: n_embd \(24\) must be divisible by num_attention_heads \(5\)$/],
      [{ n_layer: 0 }, /config\.json: n_layer must be an integer >= 1, got 0$/],
      // left out: GPT2Config's default (50257, 1024), which the weights do not have
      [{ vocab_size: undefined }, /config\.json: model\.safetensors holds wte\.weight of shape \[260, 24\], which disagrees with vocab_size 50257 and n_embd 24$/],
      [{ n_positions: undefined, n_ctx: undefined }, /config\.json: .*model\.safetensors.*wpe\.weight.*\[16, 24\].*n_positions 1024/],
      // an integer too large to count exactly: the message names the whole range, not just its floor
      [{ vocab_size: 1e300 }, /config\.json: vocab_size must be an integer in \[1, 2\^53 - 1\], got 1e\+300$/],
      // sizes the weights do not have, refused before a model of that size is allocated
      [{ n_layer: 1e9 }, /config\.json: n_layer 1000000000 .*model\.safetensors.* 2 blocks/],
      [{ vocab_size: 300 }, /config\.json: model\.safetensors holds wte\.weight of shape \[260, 24\], which disagrees with vocab_size 300 and n_embd 24$/],
      [{ n_embd: 3000, n_head: 3 }, /config\.json: .*model\.safetensors.*wte\.weight.*\[260, 24\].*n_embd 3000/],
      [{ n_positions: 1e6 }, /config\.json: .*model\.safetensors.*wpe\.weight.*\[16, 24\].*n_positions 1000000/],
    ];
    for (const [change, message] of refused) {
      const path = join(dir, `refused-${Object.keys(change)[0]}`);
      writeGPT2Dir(path, params, { prefix: false, head: false, config: gpt2Config(change) });
      await refusedByBoth(path, message);
    }
    // NaN or Inf weights (a diverged fine-tune saved by transformers) are refused as our own checkpoints' are
    const fc = params.get('h.0.mlp.c_fc.weight')!;
    const diverged = join(dir, 'diverged');
    writeGPT2Dir(diverged, new Map([...params, ['h.0.mlp.c_fc.weight', { ...fc, data: fc.data.map((x, i) => (i === 7 ? NaN : x)) }]]), { prefix: true, head: false });
    await refusedByBoth(diverged, /diverged\/model\.safetensors: tensor 'transformer\.h\.0\.mlp\.c_fc\.weight' holds NaN \(at index 7\)/);
    const untied = join(dir, 'untied');
    writeGPT2Dir(untied, new Map([...params, ['lm_head.weight', { ...params.get('wte.weight')!, data: params.get('wte.weight')!.data.map((x) => x + 1) }]]), { prefix: true, head: false });
    await refusedByBoth(untied, /model\.safetensors: lm_head\.weight differs from wte\.weight; only a head tied to the token embedding is supported$/);
  });

  it('refuses weights it cannot use, in one line naming the file, the tensor and what is read', async () => {
    /** A GPT-2 directory whose model.safetensors's tensors `edit` changed. */
    const edited = (label: string, edit: (tensors: Record<string, SafetensorsTensor>) => Record<string, SafetensorsTensor>) => {
      const path = join(dir, `edited-${label}`);
      writeGPT2Dir(path, params, { prefix: true, head: false });
      const file = join(path, 'model.safetensors');
      writeFileSync(file, serializeSafetensors(edit(parseSafetensors(new Uint8Array(readFileSync(file))).tensors), { format: 'pt' }));
      return path;
    };
    const renamed = (rename: (name: string) => string) => (t: Record<string, SafetensorsTensor>) => Object.fromEntries(Object.entries(t).map(([n, v]) => [rename(n), v]));
    const refused: [string, RegExp][] = [
      // saved from a wrapper module: every name would be "unexpected", and no block found
      [edited('prefix', renamed((n) => `model.${n}`)), /edited-prefix\/model\.safetensors: tensor 'model\.transformer\.wte\.weight' is not one of GPT2LMHeadModel's \(.*optionally prefixed 'transformer\.'\)$/],
      // GPT2ForSequenceClassification's head
      [edited('score', (t) => ({ ...t, 'score.weight': { dtype: 'F32', shape: [2, 24], data: new Float32Array(48) } })), /edited-score\/model\.safetensors: tensor 'score\.weight' is not one of GPT2LMHeadModel's/],
      // the same weight under both spellings: which one would be used?
      [edited('twice', (t) => ({ ...t, 'wpe.weight': t['transformer.wpe.weight']! })), /model\.safetensors: tensor '(transformer\.)?wpe\.weight' is GPT-2's wpe\.weight, which model\.safetensors holds already$/],
    ];
    for (const [path, message] of refused) await refusedByBoth(path, message);
    // a weight of another shape than config.json's sizes give it: refused naming the file that holds it (a shard's, where there are several), as that file holds it
    const misshapen = edited('misshapen', (t) => ({ ...t, 'transformer.h.1.mlp.c_proj.weight': { dtype: 'F32', shape: [96, 23], data: new Float32Array(96 * 23) } }));
    await refusedByBoth(misshapen, /edited-misshapen\/model\.safetensors: GPT-2's h\.1\.mlp\.c_proj\.weight has shape \[96, 23\], where config\.json's n_embd 24 gives it \[96, 24\]$/);
    // a download cut short: read a tensor at a time, still checked against the header
    const cut = join(dir, 'edited-twice', 'model.safetensors');
    truncateSync(cut, statSync(cut).size - 4);
    await refusedByBoth(dirname(cut), /edited-twice\/model\.safetensors: not a readable safetensors file \(safetensors: tensor "[^"]+" data_offsets \[\d+, \d+\] run past the end of the \d+-byte data \(truncated\?\)\)$/);

    // TensorFlow's weights only: what to run to get safetensors (pytorch_model.bin is read: test/torch-checkpoints.test.ts)
    const pickled = join(dir, 'pickled');
    writeGPT2Dir(pickled, params, { prefix: true, head: false });
    renameSync(join(pickled, 'model.safetensors'), join(pickled, 'tf_model.h5'));
    await refusedByBoth(
      pickled,
      /pickled: no model\.safetensors \(nor model\.safetensors\.index\.json, pytorch_model\.bin, pytorch_model\.bin\.index\.json\); its tf_model\.h5 is not read here: convert it with transformers, GPT2LMHeadModel\.from_pretrained\(DIR\)\.save_pretrained\(DIR, safe_serialization=True\), which writes model\.safetensors$/,
    );
    // a pytorch_model.bin that is no torch.save file
    renameSync(join(pickled, 'tf_model.h5'), join(pickled, 'pytorch_model.bin'));
    await refusedByBoth(pickled, /pickled\/pytorch_model\.bin: not a zip archive \(no end-of-central-directory record in its last \d+ bytes; truncated\?\)$/);

    // a sharded model whose index disagrees with its files
    const sharded = (label: string, edit: (map: Record<string, string>) => void) => {
      const path = join(dir, `sharded-${label}`);
      writeGPT2Dir(path, params, { prefix: true, head: false, shards: 2 });
      const index = JSON.parse(readFileSync(join(path, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
      edit(index.weight_map);
      writeFileSync(join(path, 'model.safetensors.index.json'), JSON.stringify(index));
      return path;
    };
    const wte = 'transformer.wte.weight';
    const shardRefused: [string, RegExp][] = [
      [sharded('missing', (m) => (m[wte] = 'model-00003-of-00003.safetensors')), /sharded-missing: no model-00003-of-00003\.safetensors \(a shard model\.safetensors\.index\.json names\)$/],
      [sharded('outside', (m) => (m[wte] = '../model.safetensors')), /sharded-outside\/model\.safetensors\.index\.json: weight_map\["transformer\.wte\.weight"\] must name a file in the model's directory, got "\.\.\/model\.safetensors"$/],
      [sharded('misplaced', (m) => (m[wte] = m[wte]!.endsWith('1-of-00002.safetensors') ? 'model-00002-of-00002.safetensors' : 'model-00001-of-00002.safetensors')), /sharded-misplaced\/model\.safetensors\.index\.json: weight_map places 'transformer\.wte\.weight' in model-0000\d-of-00002\.safetensors, which does not hold it$/],
      [sharded('empty', (m) => Object.keys(m).forEach((k) => delete m[k])), /model\.safetensors\.index\.json: expected an object whose weight_map maps tensor names to shard files, got weight_map \{\}$/],
    ];
    for (const [path, message] of shardRefused) await refusedByBoth(path, message);

    // a hand-edited file's fault in one line: V8 quotes the text around it, newlines and all
    const broken = join(dir, 'broken-json');
    writeGPT2Dir(broken, params, { prefix: true, head: false, shards: 2 });
    writeFileSync(join(broken, 'model.safetensors.index.json'), '{"weight_map": {\n"a":\n[1,\n2,,3]}}');
    await refusedByBoth(broken, /broken-json\/model\.safetensors\.index\.json: not valid JSON \(Unexpected token ',', .*\\n2,,3.*\)$/);
    rmSync(join(broken, 'model.safetensors.index.json'));
    writeGPT2Dir(broken, params, { prefix: true, head: false });
    writeFileSync(join(broken, 'tokenizer.json'), '{"model": {\n"vocab":\n[1,\n2,,3]}}');
    await refusedByBoth(broken, /broken-json\/tokenizer\.json: not valid JSON \(Unexpected token ',', .*\\n2,,3.*\)$/);
    writeFileSync(join(broken, 'config.json'), '{\n"n_embd":\n[1,\n2,,3]}');
    await refusedByBoth(broken, /broken-json\/config\.json: not valid JSON \(Unexpected token ',', .*\\n2,,3.*\)$/);
  });

  it('reads a model.safetensors past 2 GiB (gpt2-large\'s is 3.2 GB) a tensor at a time, leaving mask buffers unread', async () => {
    // the same small model, with a 2.15 GB causal-mask buffer last in the file: sparse on disk, and
    // never read, where reading the whole file fails (Node reads at most 2 GiB at once)
    const path = join(dir, 'past-2gib');
    writeGPT2Dir(path, params, { prefix: false, head: false, mask: 'U8' });
    const file = join(path, 'model.safetensors');
    // the file as written with h.1.attn.bias empty, then that buffer's header entry moved past the data, N * N bytes long
    const N = 46_400; // N * N > 2 ** 31
    const { tensors } = parseSafetensors(new Uint8Array(readFileSync(file)));
    const bytes = serializeSafetensors({ ...tensors, 'h.1.attn.bias': { dtype: 'U8', shape: [0], data: new Uint8Array(0) } }, { format: 'pt' });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<string, unknown>;
    const data = bytes.subarray(8 + headerLength);
    header['h.1.attn.bias'] = { dtype: 'U8', shape: [1, 1, N, N], data_offsets: [data.length, data.length + N * N] };
    const json = Buffer.from(JSON.stringify(header).padEnd(Math.ceil(JSON.stringify(header).length / 8) * 8));
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(json.length));
    writeFileSync(file, Buffer.concat([length, json, data]));
    truncateSync(file, 8 + json.length + data.length + N * N); // a hole: no disk used
    try {
      const { model } = modelFromCheckpoint(await loadCheckpoint(path), { dropout: 0 });
      expect(worstError(await logitsOf(model), params)).toBeLessThan(1e-4);
      model.dispose();
    } finally {
      rmSync(file);
    }
  });

  it('names the missing file of a directory with config.json only', async () => {
    const path = join(dir, 'config-only');
    mkdirSync(path);
    writeFileSync(join(path, 'config.json'), JSON.stringify(gpt2Config()));
    await refusedByBoth(path, /config-only: no model\.safetensors \(nor model\.safetensors\.index\.json, pytorch_model\.bin, pytorch_model\.bin\.index\.json\): a GPT-2 model directory holds config\.json and model\.safetensors$/);
  });

  it('names the missing config.json of a directory with a Hugging Face model\'s weights only (an export that did not finish)', async () => {
    const path = join(dir, 'weights-only');
    writeGPT2Dir(path, params, { prefix: false, head: false });
    rmSync(join(path, 'config.json'));
    await refusedByBoth(path, /weights-only is missing: there is no checkpoint\.json, nor the config\.json that a Hugging Face model's model\.safetensors needs beside it \(an export that did not finish\?\)$/);
  });

  it('exports in transformers\' layout and imports back bit-exact, tokenizer included', async () => {
    const source = join(dir, 'gpt2-source');
    writeGPT2Dir(source, params, { prefix: false, head: true });
    const { model } = modelFromCheckpoint(await loadCheckpoint(source));
    const out = join(dir, 'exported');
    await saveHFModel(out, model, tokenizer);
    // the files transformers reads: its names, its Conv1D layout, the metadata it requires
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    // every GPT2Config field that decides the function, at the value transformers must read for this model
    expect(config).toMatchObject({
      architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', activation_function: 'gelu_new', n_positions: 16, n_embd: 24, n_layer: 2, n_head: 3, vocab_size: 260,
      n_inner: null, layer_norm_epsilon: 1e-5, tie_word_embeddings: true, scale_attn_weights: true, scale_attn_by_inverse_layer_idx: false, add_cross_attention: false,
    });
    expect(config.reorder_and_upcast_attn ?? false).toBe(false);
    // <|endoftext|> is the last of the mini tokenizer's 260 tokens, as GPT-2's 50256 is of its 50257
    expect([config.bos_token_id, config.eos_token_id]).toEqual([259, 259]);
    expect(tokenizerFromHuggingFace(readFileSync(join(out, 'tokenizer.json'), 'utf8')).toJSON()).toEqual(tokenizer.toJSON());
    const written = new Uint8Array(readFileSync(join(out, 'model.safetensors')));
    expect(written).toEqual((await encodeHF(model, tokenizer)).weights); // streamed a tensor at a time, the same bytes
    const saved = parseSafetensors(written);
    expect(saved.metadata.format).toBe('pt');
    expect(Object.keys(saved.tensors).sort()).toEqual([...params.keys()].map((n) => `transformer.${n}`).sort());
    for (const [name, t] of params) {
      const written = saved.tensors[`transformer.${name}`]!;
      expect([written.dtype, written.shape], name).toEqual(['F32', t.shape]); // Conv1D's [in, out]
      expect(allBitsEqual(written.data as Float32Array, t.data), name).toBe(true);
    }
    // and back, through the directory reader every command uses
    const back = await loadCheckpoint(out);
    expect(back.meta.model).toEqual(model.config);
    expect(back.meta.tokenizer).toEqual(tokenizer.toJSON());
    for (const [name, p] of model.namedParameters()) expect(allBitsEqual(back.weights.get(name)!.data as Float32Array, (await p.toArray()) as Float32Array), name).toBe(true);
    model.dispose();
  });

  it('exports a model without biases (nanoGPT-style) as zero biases, computing the same; a char tokenizer rides along', async () => {
    const chars = new CharTokenizer([...'abcdefghijklmnopqrstuvwxyz0123456789 ']);
    const config: GPTConfig = { vocabSize: 37, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 16, dropout: 0, bias: false };
    const model = new GPT(config, { seed: 3 });
    const out = join(dir, 'no-bias');
    // an earlier export's tokenizer.json there, which transformers would read as this model's, and a
    // hub download's vocab.json + merges.txt, which its AutoTokenizer reads where there is no tokenizer.json
    mkdirSync(out);
    writeFileSync(join(out, 'tokenizer.json'), JSON.stringify(toHuggingFaceJSON(tokenizer)));
    writeFileSync(join(out, 'vocab.json'), '{"a": 0, "b": 1}');
    writeFileSync(join(out, 'merges.txt'), '#version: 0.2\na b\n');
    await saveHFModel(out, model, chars);
    expect(['tokenizer.json', 'vocab.json', 'merges.txt'].filter((f) => existsSync(join(out, f)))).toEqual([]); // a char tokenizer has no such form
    // nor an end-of-text token: GPT2Config's default, 50256, would name none of its 37
    const hfConfig = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect([hfConfig.bos_token_id, hfConfig.eos_token_id]).toEqual([null, null]);
    expect(hfConfig.activation_function).toBe('gelu'); // transformers' 'gelu' is the exact one, nanoGPT's
    const back = await loadCheckpoint(out);
    expect(back.meta.tokenizer).toEqual(chars.toJSON());
    expect(back.meta.model).toEqual({ ...config, bias: true, activation: 'gelu' });
    expect([...back.weights].filter(([n]) => n.endsWith('.bias')).every(([, t]) => t.data.every((x) => x === 0))).toBe(true);
    const loaded = modelFromCheckpoint(back).model;
    const batch = ['the model reads the text', 'a line of text 0 the end'].map((text) => chars.encode(text).slice(0, SMALL.T));
    const [want, got] = [await logitsOf(model, batch), await logitsOf(loaded, batch)];
    expect(Math.max(...got.map((x, i) => Math.abs(x - want[i]!)))).toBeLessThan(1e-5);
    model.dispose();
    loaded.dispose();
  });

  it("refuses to export into a training run's directory, --overwrite or not: its checkpoint.json would hide the export from every reader here", async () => {
    const source = join(dir, 'into-run-source');
    writeGPT2Dir(source, params, { prefix: false, head: false });
    const run = join(dir, 'into-run');
    const { model, tokenizer: bpe } = modelFromCheckpoint(await loadCheckpoint(source));
    try {
      await saveCheckpoint(run, model, bpe);
      const before = readdirSync(run).sort();
      for (const overwrite of [[], ['--overwrite']]) {
        const refused = await gpt('export', '--init-from', source, '--to', run, ...overwrite);
        expect([refused.code, refused.err.trim()]).toEqual([2, `gpt export: --to ${run} holds a training run's checkpoint (checkpoint.json), which every reader here would take instead of the export: export to another directory`]);
      }
      await expect(saveHFModel(run, model, bpe)).rejects.toThrow(`saveHFModel: ${run} holds a training run's checkpoint (checkpoint.json), which every reader here would take instead of the export: save into another directory`);
      expect(readdirSync(run).sort()).toEqual(before);
    } finally {
      model.dispose();
    }
  });

  it('refuses a Hugging Face model directory as the --out-dir of train, prune and quantize, --overwrite or not: the run\'s checkpoint.json would hide the model', async () => {
    const source = join(dir, 'out-dir-source');
    writeGPT2Dir(source, params, { prefix: false, head: false });
    const hf = join(dir, 'out-dir-hf');
    writeGPT2Dir(hf, params, { prefix: false, head: false });
    const corpus = join(dir, 'out-dir-corpus.txt');
    writeFileSync(corpus, corpusText(2000));
    const before = readdirSync(hf).sort();
    const problem = `${hf} holds a Hugging Face model (config.json, model.safetensors), which a checkpoint written there would hide from every reader here: choose another --out-dir (--init-from ${hf} reads the model)`;
    for (const overwrite of [[], ['--overwrite']]) {
      for (const [command, ...args] of [
        ['train', '--data', corpus, '--max-iters', '1'],
        ['train', '--init-from', source, '--data', corpus, '--max-iters', '1'],
        ['prune', '--init-from', source, '--sparsity', '0.5'],
        ['quantize', '--init-from', source, '--bits', '8'],
      ]) {
        const refused = await gpt(command!, ...args, '--out-dir', hf, ...overwrite);
        expect([refused.code, refused.err.trim()], `${command} ${overwrite}`).toEqual([2, `gpt ${command}: ${problem}`]);
      }
    }
    expect(readdirSync(hf).sort()).toEqual(before);
  });

  it('refuses to export NaN or Inf weights (a diverged model), as a checkpoint save does: what loadCheckpoint would refuse is not written', async () => {
    const model = new GPT({ vocabSize: 37, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 16, dropout: 0, bias: true }, { seed: 3 });
    const fc = model.stateDict().get('h.0.mlp.c_fc.weight')!;
    const values = (await fc.toArray()) as Float32Array;
    values[5] = NaN; // row 0 of our [64, 16]: element 5 * 64 of the file's transposed [16, 64]
    scope(() => fc.assign(tensor(values, [...fc.shape])));
    const out = join(dir, 'diverged-export', 'model');
    const previous = join(dir, 'previous-export'); // an earlier export's files, GPT-2's tokenizer.json among them
    writeGPT2Dir(previous, params, { prefix: true, head: false });
    const before = () => new Map(readdirSync(previous).map((f) => [f, readFileSync(join(previous, f))]));
    const kept = before();
    try {
      await expect(saveHFModel(out, model)).rejects.toThrow(/tensor 'transformer\.h\.0\.mlp\.c_fc\.weight' holds NaN \(at index 320\); a checkpoint must hold finite values only$/);
      await expect(encodeHF(model)).rejects.toThrow(/tensor 'transformer\.h\.0\.mlp\.c_fc\.weight' holds NaN/);
      // a failed export leaves no directory behind, nor the parents it made
      expect(existsSync(join(dir, 'diverged-export'))).toBe(false);
      // nor a previous export changed: its tokenizer.json kept (a char tokenizer's export removes it once it commits)
      await expect(saveHFModel(previous, model, new CharTokenizer([...'abcdefghijklmnopqrstuvwxyz0123456789 ']))).rejects.toThrow(/holds NaN/);
      expect(before()).toEqual(kept);
    } finally {
      model.dispose();
    }
  });

  it('gpt sample, eval and train take such a directory as --init-from; gpt export writes one', async () => {
    const hf = join(dir, 'cli-gpt2');
    writeGPT2Dir(hf, params, { prefix: true, head: false });

    // greedy decoding follows GPT-2's float64 logits
    const start = ' the';
    const ids = tokenizer.encode(start);
    for (let i = 0; i < 8; i++) {
      const last = gpt2Logits(params, ids).at(-1)!;
      ids.push(last.indexOf(Math.max(...last)));
    }
    const sampled = await gpt('sample', '--init-from', hf, '--start', start, '--max-new-tokens', '8', '--temperature', '0');
    expect(sampled.code, sampled.err).toBe(0);
    const lines = (text: string) => text.replace(/\n/g, ''); // the captured writes are joined by newlines
    expect(lines(sampled.out)).toBe(lines(start + tokenizer.decode(ids.slice(1))));

    const corpus = join(dir, 'corpus.txt');
    writeFileSync(corpus, corpusText(4000));
    const evaluated = await gpt('eval', '--init-from', hf, '--data', corpus, '--eval-iters', '1', '--batch-size', '2');
    expect(evaluated.code, evaluated.err).toBe(0);
    expect(evaluated.out).toMatch(/train loss \d+\.\d+, val loss \d+\.\d+/);

    const ft = join(dir, 'fine-tuned');
    const trained = await gpt('train', '--init-from', hf, '--data', corpus, '--max-iters', '2', '--eval-iters', '1', '--batch-size', '2', '--out-dir', ft);
    expect(trained.code, trained.err).toBe(0);
    expect(trained.out).toContain(`fine-tuning from ${hf}`);
    expect((await loadCheckpoint(ft)).meta.model).toMatchObject({ nEmbd: 24, bias: true, activation: 'gelu_tanh' });

    // gpt export writes the fine-tuned run back in the HF layout; sampling from it gives the run's tokens
    const exported = join(dir, 'exported-run');
    const ex = await gpt('export', '--out-dir', ft, '--to', exported);
    expect(ex.code, ex.err).toBe(0);
    expect(existsSync(join(exported, 'config.json')) && existsSync(join(exported, 'model.safetensors'))).toBe(true);
    const fromRun = await gpt('sample', '--out-dir', ft, '--start', start, '--max-new-tokens', '6', '--temperature', '0');
    const fromExport = await gpt('sample', '--init-from', exported, '--start', start, '--max-new-tokens', '6', '--temperature', '0');
    expect(fromExport.code, fromExport.err).toBe(0);
    expect(fromExport.out).toBe(fromRun.out);
    expect((await gpt('export', '--out-dir', ft)).err).toMatch(/--to DIR is required/);
    // an export there already is replaced only when asked
    const again = await gpt('export', '--out-dir', ft, '--to', exported);
    expect([again.code, again.err.trim()]).toEqual([2, `gpt export: --to ${exported} already holds a model (config.json, model.safetensors): choose another --to, or replace it with --overwrite`]);
    expect((await gpt('export', '--out-dir', ft, '--to', exported, '--overwrite')).code).toBe(0);

    const untokenized = join(dir, 'no-tokenizer');
    writeGPT2Dir(untokenized, params, { prefix: true, head: false, tokenizer: false });
    const missing = await gpt('sample', '--init-from', untokenized);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/no-tokenizer: no tokenizer\.json, nor vocab\.json with merges\.txt \(the model's tokenizer\)$/);
    // a tokenizer.json that cannot be read: the error names the file, not only the directory
    writeFileSync(join(untokenized, 'tokenizer.json'), 'null');
    const broken = await gpt('sample', '--init-from', untokenized);
    expect([broken.code, broken.err]).toEqual([1, `gpt sample: ${join(untokenized, 'tokenizer.json')}: expected an object`]);
  });
});
