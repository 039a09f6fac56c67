// peft's LoRA adapter files (src/gpt/hf/peft.ts, src/node/peft-adapter-dir.ts): a directory laid
// out as PeftModel.save_pretrained writes one (written here from plain arrays, not by our encoder)
// loads onto a Hugging Face GPT-2 and gives the logits of an independent float64 GPT-2 forward of
// the merged weights W + (alpha/r)·(B·A)ᵀ in Conv1D's [in, out] layout; our save -> load -> save is
// bit-identical; what our LoRA cannot honour is refused in one line.
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { modelFromCheckpoint } from '../src/gpt/checkpoint.js';
import { attachPeftAdapter, decodePeftAdapter, PEFT_FILES } from '../src/gpt/hf/peft.js';
import type { GPT } from '../src/gpt/model.js';
import { noGrad, randn, scope, tensor, type Tensor } from '../src/index.js';
import { show } from '../src/io/value-ranges.js';
import { pruneGlobal } from '../src/nn/prune.js';
import { serializeSafetensors, type SafetensorsTensor } from '../src/io/safetensors.js';
import { loadCheckpoint } from '../src/node/checkpoint-dir.js';
import { readPeftAdapter, savePeftAdapter } from '../src/node/peft-adapter-dir.js';
import { tempDir } from './cli-helpers.js';
import { seededValues, setupDevice } from './helpers.js';
import { gpt2Logits, miniGpt2Tokenizer, randomGPT2, SMALL, writeGPT2Dir, type GPT2Params } from './hf-reference.js';

beforeAll(setupDevice);

const dir = tempDir('peft');
const params = randomGPT2();
const base = join(dir, 'base');
writeGPT2Dir(base, params, { prefix: true, head: false });
const tokenizer = miniGpt2Tokenizer();
const sequences = ['the model reads the text', 'a line of text, the end.'].map((s) => tokenizer.encode(s).slice(0, SMALL.T));

/** Each block layer's [in, out] as GPT-2's Conv1D holds it. */
const LAYERS: Record<string, [number, number]> = { 'attn.c_attn': [SMALL.C, 3 * SMALL.C], 'attn.c_proj': [SMALL.C, SMALL.C], 'mlp.c_fc': [SMALL.C, 4 * SMALL.C], 'mlp.c_proj': [4 * SMALL.C, SMALL.C] };

interface Adapter {
  config: Record<string, unknown>;
  /** peft's keys (base_model.model.transformer.h.0.attn.c_attn.lora_A.weight) to row-major arrays. */
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
}

/** peft's adapter for `layers` of every block, A [r, in] and B [out, r] drawn at random (B not zero: the update shows), config as LoraConfig.to_dict writes it. */
function peftAdapter(r: number, alpha: number, layers: string[], targets: unknown, prefix = 'transformer.'): Adapter {
  const tensors: Adapter['tensors'] = new Map();
  let seed = 100;
  for (let l = 0; l < SMALL.L; l++) {
    for (const layer of layers) {
      const [I, O] = LAYERS[layer]!;
      const key = (ab: string) => `base_model.model.${prefix}h.${l}.${layer}.lora_${ab}.weight`;
      tensors.set(key('A'), { shape: [r, I], data: Float32Array.from(seededValues(r * I, seed++, -0.3, 0.3)) });
      tensors.set(key('B'), { shape: [O, r], data: Float32Array.from(seededValues(O * r, seed++, -0.3, 0.3)) });
    }
  }
  const config = {
    alpha_pattern: {}, auto_mapping: null, base_model_name_or_path: 'gpt2', bias: 'none', fan_in_fan_out: true, inference_mode: true,
    init_lora_weights: true, layers_pattern: null, layers_to_transform: null, lora_alpha: alpha, lora_dropout: 0.05, modules_to_save: null,
    peft_type: 'LORA', r, rank_pattern: {}, revision: null, target_modules: targets, task_type: 'CAUSAL_LM', use_dora: false, use_rslora: false,
  };
  return { config, tensors };
}

/** Writes `a` as PeftModel.save_pretrained would: adapter_config.json and adapter_model.safetensors. */
function writePeftDir(path: string, a: Adapter, dtype: 'F32' | 'F16' | 'BF16' = 'F32'): string {
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, 'adapter_config.json'), JSON.stringify(a.config, null, 2));
  const tensors: Record<string, SafetensorsTensor> = {};
  for (const [k, t] of a.tensors) tensors[k] = { dtype, ...t };
  writeFileSync(join(path, 'adapter_model.safetensors'), serializeSafetensors(tensors, { format: 'pt' }));
  return path;
}

/**
 * Adds the biases peft's save_pretrained writes for bias `mode` (its _get_learnable_bias_state_dict):
 * all, every state-dict key ending `.bias` (a tuner layer's under its base_layer); lora_only, the
 * tuner layers' base_layer.bias. Drawn at random, so that they show in the logits.
 */
function withBiases(a: Adapter, mode: 'all' | 'lora_only', layers: string[]): Adapter {
  const tensors = new Map(a.tensors);
  let seed = 900;
  const put = (name: string, n: number) => tensors.set(`base_model.model.transformer.${name}.bias`, { shape: [n], data: Float32Array.from(seededValues(n, seed++, -0.5, 0.5)) });
  for (let l = 0; l < SMALL.L; l++) {
    for (const [layer, [, O]] of Object.entries(LAYERS)) {
      if (layers.includes(layer)) put(`h.${l}.${layer}.base_layer`, O);
      else if (mode === 'all') put(`h.${l}.${layer}`, O);
    }
    if (mode === 'all') for (const ln of ['ln_1', 'ln_2']) put(`h.${l}.${ln}`, SMALL.C);
  }
  if (mode === 'all') put('ln_f', SMALL.C);
  return { config: { ...a.config, bias: mode }, tensors };
}

/** GPT-2's tensors with each adapted Conv1D weight W [in, out] + (alpha/r)·(B·A)ᵀ, in float64 (rounded to float32 once), and each bias the adapter holds in place of the base's. */
function mergedParams(a: Adapter, prefix = 'transformer.'): GPT2Params {
  const scale = (a.config.lora_alpha as number) / (a.config.r as number);
  const out: GPT2Params = new Map();
  for (const [name, t] of params) {
    const bias = a.tensors.get(`base_model.model.${prefix}${name}`) ?? a.tensors.get(`base_model.model.${prefix}${name.replace(/\.bias$/, '.base_layer.bias')}`);
    if (name.endsWith('.bias') && bias) {
      out.set(name, bias);
      continue;
    }
    const A = a.tensors.get(`base_model.model.${prefix}${name.replace(/weight$/, 'lora_A.weight')}`);
    const B = a.tensors.get(`base_model.model.${prefix}${name.replace(/weight$/, 'lora_B.weight')}`);
    if (!A || !B) {
      out.set(name, t);
      continue;
    }
    const [I, O] = t.shape as [number, number];
    const r = A.shape[0]!;
    const w = Float64Array.from(t.data);
    for (let i = 0; i < I; i++) for (let o = 0; o < O; o++) for (let k = 0; k < r; k++) w[i * O + o]! += scale * B.data[o * r + k]! * A.data[k * I + i]!;
    out.set(name, { shape: t.shape, data: Float32Array.from(w) });
  }
  return out;
}

function assignDisposing(p: Tensor, t: Tensor): void {
  p.assign(t);
  t.dispose();
}

async function baseModel(): Promise<GPT> {
  return modelFromCheckpoint(await loadCheckpoint(base), { dropout: 0 }).model;
}

async function logitsOf(model: GPT): Promise<Float32Array> {
  model.eval();
  return noGrad(() => scope(async () => (await model.forward(tensor(Int32Array.from(sequences.flat()), [sequences.length, SMALL.T])).logits.toArray()) as Float32Array));
}

function worstError(ours: Float32Array, p: GPT2Params): number {
  const want = sequences.flatMap((ids) => gpt2Logits(p, ids).flatMap((row) => [...row]));
  return Math.max(...want.map((w, i) => Math.abs(ours[i]! - w)));
}

describe("peft's adapter directory onto a GPT-2", () => {
  const cases = [
    { name: 'c_attn (peft\'s GPT-2 default), GPT2LMHeadModel keys', layers: ['attn.c_attn'], targets: ['c_attn'], prefix: 'transformer.' },
    { name: 'every block layer (c_proj: both projections), GPT2Model keys (no transformer.)', layers: Object.keys(LAYERS), targets: ['c_fc', 'c_proj', 'c_attn'], prefix: '' },
    // peft's shorthand for every Linear and Conv1D but the output layer: GPT-2's block layers (a config saved by hand; peft saves the names)
    // peft matches a target by the end of a module's dotted name (attn.c_attn is c_attn, mlp.c_fc is c_fc), and holds them as a set
    { name: 'block-qualified names', layers: ['attn.c_attn', 'mlp.c_fc'], targets: ['attn.c_attn', 'mlp.c_fc', 'c_attn'], read: ['c_attn', 'c_fc'], prefix: 'transformer.' },
    { name: '"all-linear"', layers: Object.keys(LAYERS), targets: 'all-linear', read: ['c_attn', 'c_proj', 'c_fc'], prefix: 'transformer.' },
    // a string is a Python pattern matched against each module's full name (peft's re.fullmatch)
    { name: 'a pattern of full names', layers: ['attn.c_attn'], targets: 'transformer\\.h\\.\\d+\\.attn\\.c_attn', read: ['c_attn'], prefix: 'transformer.' },
    { name: 'a pattern with a group, GPT2Model keys', layers: ['attn.c_attn', 'mlp.c_fc', 'mlp.c_proj'], targets: '.*\\.(c_attn|mlp\\.c_(fc|proj))', read: ['c_attn', 'mlp.c_proj', 'c_fc'], prefix: '' },
    // a list entry selects the module it names in full, or those whose names end with "." + it
    { name: "every block's module named in full", layers: ['attn.c_proj'], targets: ['transformer.h.0.attn.c_proj', 'h.1.attn.c_proj'], read: ['attn.c_proj'], prefix: 'transformer.' },
    // layers_to_transform: every block's, found by layers_pattern
    { name: 'layers_to_transform of every block', layers: ['mlp.c_fc'], targets: ['c_fc'], read: ['c_fc'], prefix: 'transformer.', more: { layers_to_transform: [0, 1], layers_pattern: 'h' } },
  ];
  for (const { name, layers, targets, read, prefix, more } of cases) {
    it(`${name}: merged and unmerged logits equal GPT-2's float64 forward of the merged weights`, async () => {
      const made = peftAdapter(4, 16, layers, targets, prefix);
      const a = { ...made, config: { ...made.config, ...more } };
      const path = writePeftDir(join(dir, `in-${name.replace(/\W+/g, '-')}`), a);
      const adapter = await readPeftAdapter(path);
      expect(adapter.lora).toEqual({ rank: 4, alpha: 16, dropout: 0.05, targets: read ?? targets });
      expect(adapter.base).toBe('gpt2');
      const want = mergedParams(a, prefix);
      const model = await baseModel();
      const plain = worstError(await logitsOf(model), want);
      attachPeftAdapter(model, adapter, path);
      expect(worstError(await logitsOf(model), want)).toBeLessThan(1e-4); // the adapters computed beside W
      model.mergeLoRA();
      const merged = worstError(await logitsOf(model), want);
      expect(merged).toBeLessThan(1e-4);
      expect(plain).toBeGreaterThan(100 * merged); // the update matters: the base alone is far off
      model.dispose();
    });
  }

  it('a list entry that selects no module of GPT-2 is left out, as peft leaves it (a name of Object.prototype\'s too)', async () => {
    const a = peftAdapter(2, 4, ['attn.c_attn'], ['c_attn', 'constructor', 'q_proj']);
    expect((await readPeftAdapter(writePeftDir(join(dir, 'unmatched-entries'), a))).lora).toEqual({ rank: 2, alpha: 4, dropout: 0.05, targets: ['c_attn'] });
  });

  it("reads a config as the newest peft writes it: every LoraConfig field at its default, fan_in_fan_out false (peft sets it true for GPT-2's Conv1D), an initialisation that leaves the base weights as they are", async () => {
    const a = peftAdapter(2, 4, ['attn.c_attn'], ['c_attn']);
    // LoraConfig.to_dict of peft 0.18 (runtime_config popped), its defaults but those of a GPT-2 adapter
    const newest = {
      ...a.config, peft_version: '0.18.1', exclude_modules: null, fan_in_fan_out: false, megatron_config: null, megatron_core: 'megatron.core', trainable_token_indices: null,
      loftq_config: {}, eva_config: null, corda_config: null, lora_ga_config: null, velora_config: null, alora_invocation_tokens: null, use_qalora: false, qalora_group_size: 16,
      monteclora_config: null, layer_replication: null, lora_bias: false, target_parameters: null, use_bdlora: null, arrow_config: null, kasa_config: null, ensure_weight_tying: false,
    };
    // peft 0.2's fields: merge_weights merged at eval time, enable_lora unset is plain LoRA
    const oldest = { ...a.config, enable_lora: null, merge_weights: true };
    const configs = [newest, oldest, ...['gaussian', 'orthogonal', 'eva', 'mica', false].map((init) => ({ ...a.config, init_lora_weights: init }))];
    for (const [i, config] of configs.entries()) {
      const read = await readPeftAdapter(writePeftDir(join(dir, `config-${i}`), { ...a, config }));
      expect(read.lora, show(config)).toEqual({ rank: 2, alpha: 4, dropout: 0.05, targets: ['c_attn'] });
    }
  });

  it.for([
    { mode: 'all' as const, layers: ['attn.c_attn'], targets: ['c_attn'] },
    { mode: 'lora_only' as const, layers: ['attn.c_proj', 'mlp.c_proj'], targets: ['c_proj'] },
    // every block layer adapted: each Linear's bias under its base_layer, the LayerNorms' as they are
    { mode: 'all' as const, layers: Object.keys(LAYERS), targets: 'all-linear', read: ['c_attn', 'c_proj', 'c_fc'] },
  ])("bias $mode on $targets (peft's base_layer.bias keys for the adapted layers): the biases replace the base's; logits equal GPT-2's float64 forward; save -> load -> save is bit-identical", async ({ mode, layers, targets, read }) => {
    const a = withBiases(peftAdapter(2, 4, layers, targets), mode, layers);
    const path = writePeftDir(join(dir, `bias-${mode}-${layers.length}`), a);
    const adapter = await readPeftAdapter(path);
    expect(adapter.lora).toEqual({ rank: 2, alpha: 4, dropout: 0.05, targets: read ?? targets, bias: mode });
    const model = await baseModel();
    attachPeftAdapter(model, adapter, path);
    // trainable as PeftModel.from_pretrained(is_trainable=True) leaves them: the adapters and the biases bias names
    const names = new Map([...model.namedParameters()].map(([n, p]) => [p, n]));
    const keyOf = (n: string) => `base_model.model.transformer.${n.replace(/lora\.([AB])$/, 'lora_$1.weight')}`;
    const trainable = model.trainableParameters().map((p) => keyOf(names.get(p)!).replace(/(c_attn|c_proj|c_fc)\.bias$/, (m, l) => (a.tensors.has(keyOf(names.get(p)!).replace(/\.bias$/, '.base_layer.bias')) ? `${l}.base_layer.bias` : m)));
    expect(trainable.sort()).toEqual([...a.tensors.keys()].sort());
    const want = mergedParams(a);
    expect(worstError(await logitsOf(model), want)).toBeLessThan(1e-4);
    const first = join(dir, `bias-${mode}-${layers.length}-1`);
    await savePeftAdapter(first, model, 'gpt2');
    model.mergeLoRA();
    expect(worstError(await logitsOf(model), want)).toBeLessThan(1e-4);
    model.dispose();
    // written under peft's own keys, the values read
    const written = await readPeftAdapter(first);
    expect(written.tensors).toEqual(adapter.tensors);
    expect(JSON.parse(readFileSync(join(first, PEFT_FILES.config), 'utf8')).bias).toBe(mode);
    const again = await baseModel();
    attachPeftAdapter(again, written, first);
    const second = join(dir, `bias-${mode}-${layers.length}-2`);
    await savePeftAdapter(second, again, 'gpt2');
    again.dispose();
    for (const file of [PEFT_FILES.config, PEFT_FILES.weights]) expect(readFileSync(join(second, file)).equals(readFileSync(join(first, file))), file).toBe(true);
    const keys = Object.keys(JSON.parse(readFileSync(join(first, PEFT_FILES.weights)).subarray(8, 8 + Number(readFileSync(join(first, PEFT_FILES.weights)).readBigUInt64LE(0))).toString('utf8'))).filter((k) => k !== '__metadata__');
    expect(keys.sort()).toEqual([...a.tensors.keys()].sort());
  });

  it("reads an adapter of bias lora_only without biases (older peft saved none) and of older peft's layer.bias keys", async () => {
    const plain = peftAdapter(2, 4, ['attn.c_attn'], ['c_attn']);
    const none = await readPeftAdapter(writePeftDir(join(dir, 'bias-missing'), { config: { ...plain.config, bias: 'lora_only' }, tensors: plain.tensors }));
    const model = await baseModel();
    attachPeftAdapter(model, none, 'bias-missing');
    expect(worstError(await logitsOf(model), mergedParams(plain))).toBeLessThan(1e-4); // the base's biases kept
    model.dispose();
    const a = withBiases(plain, 'lora_only', ['attn.c_attn']);
    const old = { config: a.config, tensors: new Map([...a.tensors].map(([k, t]) => [k.replace('.base_layer.bias', '.bias'), t])) };
    const read = await readPeftAdapter(writePeftDir(join(dir, 'bias-old'), old));
    expect(read.tensors).toEqual((await readPeftAdapter(writePeftDir(join(dir, 'bias-new'), a))).tensors);
  });

  it('reads float16 and bfloat16 adapters (peft saves a half-precision model\'s so) as their float32 values', async () => {
    const a = peftAdapter(2, 4, ['mlp.c_fc'], ['c_fc']);
    for (const t of a.tensors.values()) t.data = t.data.map((x) => Math.round(x * 64) / 64); // exact in both
    for (const dtype of ['F16', 'BF16'] as const) {
      const read = await readPeftAdapter(writePeftDir(join(dir, `half-${dtype}`), a, dtype));
      expect(read.tensors.get('h.1.mlp.c_fc.lora.B')!.data).toEqual(a.tensors.get('base_model.model.transformer.h.1.mlp.c_fc.lora_B.weight')!.data);
    }
  });

  it("reads older peft's adapter_model.bin (torch.save's, written by PyTorch: test/fixtures/torch/make_peft_bin_fixture.py)", async () => {
    const path = fileURLToPath(new URL('./fixtures/torch/peft-bin', import.meta.url));
    const adapter = await readPeftAdapter(path);
    expect(adapter.weightsFile).toBe('adapter_model.bin');
    expect(adapter.lora).toEqual({ rank: 2, alpha: 8, dropout: 0.1, targets: ['c_attn'] });
    // the fixture's formula, recomputed: A[k, i] = ((k·in + i) % 7 - 3) / 8, B[o, k] = ((o·r + k) % 5 - 2) / 4
    const a = peftAdapter(2, 8, ['attn.c_attn'], ['c_attn']);
    for (const [key, t] of a.tensors) t.data = t.data.map((_, j) => (key.includes('lora_A') ? ((j % 7) - 3) / 8 : ((j % 5) - 2) / 4));
    for (const [key, t] of a.tensors) {
      const ours = adapter.tensors.get(key.replace('base_model.model.transformer.', '').replace(/lora_([AB])\.weight$/, 'lora.$1'))!;
      expect(ours.shape).toEqual(t.shape);
      expect(ours.data).toEqual(t.data);
    }
    const model = await baseModel();
    attachPeftAdapter(model, adapter, path);
    model.mergeLoRA();
    expect(worstError(await logitsOf(model), mergedParams(a))).toBeLessThan(1e-4);
    model.dispose();
  });

  it("reads the Hugging Face cache's layout (files symlinked to blobs), and with both weights files the safetensors one, as peft's load_peft_weights", async () => {
    const a = peftAdapter(2, 8, ['attn.c_attn'], ['c_attn']);
    writePeftDir(join(dir, 'cache', 'blobs'), a);
    const snapshot = join(dir, 'cache', 'snapshots', 'abc');
    mkdirSync(snapshot, { recursive: true });
    for (const file of [PEFT_FILES.config, PEFT_FILES.weights]) symlinkSync(join('..', '..', 'blobs', file), join(snapshot, file));
    copyFileSync(fileURLToPath(new URL('./fixtures/torch/peft-bin/adapter_model.bin', import.meta.url)), join(snapshot, PEFT_FILES.torchWeights)); // other values, same shapes
    const read = await readPeftAdapter(snapshot);
    expect(read.weightsFile).toBe(PEFT_FILES.weights);
    expect(read.tensors.get('h.0.attn.c_attn.lora.A')!.data).toEqual(a.tensors.get('base_model.model.transformer.h.0.attn.c_attn.lora_A.weight')!.data);
  });

  it('save -> load -> save is bit-identical, and the tensors written are those read', async () => {
    const a = peftAdapter(3, 6, ['attn.c_attn', 'mlp.c_fc'], ['c_attn', 'c_fc']);
    const model = await baseModel();
    attachPeftAdapter(model, await readPeftAdapter(writePeftDir(join(dir, 'rt-in'), a)));
    const first = join(dir, 'rt-1');
    await savePeftAdapter(first, model, 'gpt2');
    model.dispose();
    const again = await baseModel();
    const rng = again.rng.getState();
    attachPeftAdapter(again, await readPeftAdapter(first), first);
    expect(again.rng.getState()).toEqual(rng); // the A addLoRA drew is replaced: no draw is spent
    const second = join(dir, 'rt-2');
    await savePeftAdapter(second, again, 'gpt2');
    again.dispose();
    for (const file of [PEFT_FILES.config, PEFT_FILES.weights]) expect(readFileSync(join(second, file)).equals(readFileSync(join(first, file))), file).toBe(true);
    const saved = await readPeftAdapter(first);
    for (const [key, t] of a.tensors) {
      const ours = key.replace('base_model.model.transformer.', '').replace(/lora_([AB])\.weight$/, 'lora.$1');
      expect(saved.tensors.get(ours)?.shape).toEqual(t.shape);
      expect(Buffer.from(saved.tensors.get(ours)!.data.buffer).equals(Buffer.from(t.data.buffer)), key).toBe(true);
    }
    const config = JSON.parse(readFileSync(join(first, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM', base_model_name_or_path: 'gpt2', r: 3, lora_alpha: 6, lora_dropout: 0.05, target_modules: ['c_attn', 'c_fc'], fan_in_fan_out: true, bias: 'none' });
  });

  it("a model's own trained adapters (GPT.addLoRA) save and load onto the base bit-identically", async () => {
    const model = await baseModel();
    model.addLoRA({ rank: 2, targets: ['c_proj'] });
    for (const [name, p] of model.namedParameters()) if (name.endsWith('lora.B')) assignDisposing(p, randn(p.shape, { seed: 5, std: 0.2 }));
    const path = join(dir, 'own');
    await savePeftAdapter(path, model);
    const before = await logitsOf(model);
    model.dispose();
    const loaded = await baseModel();
    attachPeftAdapter(loaded, await readPeftAdapter(path), path);
    expect(Buffer.from((await logitsOf(loaded)).buffer).equals(Buffer.from(before.buffer))).toBe(true);
    loaded.dispose();
  });

  it('refuses a model with non-finite adapters, writing nothing', async () => {
    const model = await baseModel();
    model.addLoRA({ rank: 2 });
    for (const [name, p] of model.namedParameters()) if (name === 'h.1.attn.c_attn.lora.B') assignDisposing(p, tensor(new Float32Array(p.size).fill(NaN), p.shape));
    const path = join(dir, 'nan', 'out');
    await expect(savePeftAdapter(path, model)).rejects.toThrow(/adapters not written: tensor 'h\.1\.attn\.c_attn\.lora\.B' holds NaN/);
    expect(existsSync(join(dir, 'nan'))).toBe(false);
    model.mergeLoRA();
    await expect(savePeftAdapter(path, model)).rejects.toThrow(/the model has no LoRA adapters to write/);
    model.dispose();
  });
});

describe('what cannot be honoured is refused in one line', () => {
  const good = () => peftAdapter(2, 4, ['attn.c_attn'], ['c_attn']);
  const configCases: [string, Record<string, unknown>, RegExp][] = [
    ['rsLoRA', { use_rslora: true }, /use_rslora true cannot be honoured/],
    ['DoRA', { use_dora: true }, /use_dora true cannot be honoured/],
    ['a rank pattern', { rank_pattern: { 'h.0.attn.c_attn': 4 } }, /rank_pattern \{"h\.0\.attn\.c_attn":4\} cannot be honoured/],
    ['an alpha pattern', { alpha_pattern: { c_attn: 4 } }, /alpha_pattern .* cannot be honoured/],
    ['modules to save', { modules_to_save: ['lm_head'] }, /modules_to_save \["lm_head"\] cannot be honoured/],
    ['a subset of blocks', { layers_to_transform: [0] }, /target_modules \["c_attn"\] with layers_to_transform \[0\] selects attn\.c_attn in transformer\.h\.0 of 2 blocks only: an adapter on some blocks cannot be honoured here/],
    ['a subset of blocks by full names', { target_modules: ['transformer.h.0.attn.c_attn'] }, /target_modules \["transformer\.h\.0\.attn\.c_attn"\] selects attn\.c_attn in transformer\.h\.0 of 2 blocks only/],
    ['layers_to_transform not an index', { layers_to_transform: ['0'] }, /layers_to_transform \["0"\] must be a block index or a list of them/],
    ['layers_to_transform with a pattern', { target_modules: '.*c_attn', layers_to_transform: [0, 1] }, /layers_to_transform \[0,1\] applies to a target_modules list, and target_modules ".\*c_attn" is a string/],
    ['a layers_pattern outside the subset', { layers_to_transform: [0, 1], layers_pattern: '(?P<n>h)' }, /layers_pattern "\(\?P<n>h\)" is a pattern this reader does not translate from Python's re: \(\?P at 0/],
    ['another bias setting', { bias: 'boft_only' }, /bias must be one of none, all, lora_only, got "boft_only"/],
    ['another model\'s modules', { target_modules: ['q_proj', 'v_proj'] }, /target_modules \["q_proj","v_proj"\] selects none of GPT-2's modules/],
    // lora_bias (peft 0.14) is another field than bias: a bias on lora_B itself, which W += (alpha/r)·B·A has no place for
    ['a LoRA-B bias (lora_bias)', { lora_bias: true, bias: 'all' }, /lora_bias true cannot be honoured here/],
    ['a pattern selecting the output layer', { target_modules: '.*c_attn|lm_head' }, /target_modules ".\*c_attn\|lm_head" selects lm_head, which LoRA cannot adapt here/],
    ['a pattern selecting a block module that is no Linear', { target_modules: '.*attn' }, /target_modules ".\*attn" selects transformer\.h\.0\.attn, which LoRA cannot adapt here/],
    ['a pattern Python and JavaScript read apart', { target_modules: '(?i).*C_ATTN' }, /target_modules "\(\?i\)\.\*C_ATTN" is a pattern this reader does not translate from Python's re: \(\?i at 0/],
    ['target_modules not a pattern nor a list', { target_modules: 3 }, /target_modules 3 must be a pattern or a non-empty list of module names/],
    ['another tuner', { peft_type: 'IA3' }, /peft_type "IA3" is not a LoRA adapter/],
    ['another task', { task_type: 'SEQ_CLS' }, /task_type "SEQ_CLS" adapts another head/],
    ['a rank of 0', { r: 0 }, /: r must be /],
    // initialisations that change the base weights: the adapter is trained against those, not the base it is given
    ...['pissa', 'pissa_niter_4', 'olora', 'corda', 'lora_ga', 'loftq'].map((init): [string, Record<string, unknown>, RegExp] => [`init_lora_weights ${init}`, { init_lora_weights: init }, new RegExp(`init_lora_weights "${init}" changes the base weights`)]),
    ['KaSA, a LoRA variant of a newer peft', { kasa_config: { beta: 1 } }, /kasa_config \{"beta":1\} cannot be honoured/],
    ['Megatron\'s parallel layers', { megatron_config: { tensor_model_parallel_size: 2 } }, /megatron_config .* cannot be honoured/],
    ['a field this reader does not know, set', { use_future_variant: true }, /use_future_variant true cannot be honoured here \(plain LoRA only/],
  ];
  for (const [what, change, message] of configCases) {
    it(what, async () => {
      const a = good();
      const path = writePeftDir(join(dir, `bad-${what.replace(/\W+/g, '-')}`), { ...a, config: { ...a.config, ...change } });
      const error = await readPeftAdapter(path).then(() => null, (e: Error) => e.message);
      expect(error).toMatch(message);
      expect(error).toContain(`${path}/adapter_config.json: `);
      expect(error).not.toContain('\n');
    });
  }

  const tensorCases: [string, (t: Adapter['tensors']) => void, RegExp][] = [
    ['a bias tensor under bias none', (t) => t.set('base_model.model.transformer.h.0.attn.c_attn.base_layer.bias', { shape: [72], data: new Float32Array(72) }), /tensor 'base_model\.model\.transformer\.h\.0\.attn\.c_attn\.base_layer\.bias' is a bias that bias "none" does not train/],
    ['a lora_B bias tensor', (t) => t.set('base_model.model.transformer.h.0.attn.c_attn.lora_B.bias', { shape: [72], data: new Float32Array(72) }), /tensor 'base_model\.model\.transformer\.h\.0\.attn\.c_attn\.lora_B\.bias' is not a LoRA A or B or a bias of a GPT-2 layer/],
    ['another module', (t) => t.set('base_model.model.lm_head.weight', { shape: [2], data: new Float32Array(2) }), /tensor 'base_model\.model\.lm_head\.weight' is not a LoRA A or B or a bias of a GPT-2 layer/],
    ['a shape that disagrees with r', (t) => t.set('base_model.model.transformer.h.0.attn.c_attn.lora_A.weight', { shape: [3, SMALL.C], data: new Float32Array(3 * SMALL.C) }), /has shape \[3, 24\], where r 2 gives lora_A \[r, in\]/],
  ];
  it("a bias lora_only does not train: an untargeted layer's, a LayerNorm's", async () => {
    for (const key of ['base_model.model.transformer.h.0.attn.c_proj.bias', 'base_model.model.transformer.ln_f.bias']) {
      const a = good();
      a.tensors.set(key, { shape: [SMALL.C], data: new Float32Array(SMALL.C) });
      const path = writePeftDir(join(dir, `bad-lora-only-${key.length}`), { ...a, config: { ...a.config, bias: 'lora_only' } });
      await expect(readPeftAdapter(path)).rejects.toThrow(`tensor '${key}' is a bias that bias "lora_only" does not train`);
    }
  });

  it("a base_layer bias of a layer target_modules do not adapt (peft wraps only the adapted ones: its load would leave this key out)", async () => {
    const a = good();
    const key = 'base_model.model.transformer.h.0.attn.c_proj.base_layer.bias';
    a.tensors.set(key, { shape: [SMALL.C], data: new Float32Array(SMALL.C).fill(1) });
    const path = writePeftDir(join(dir, 'bad-unadapted-base-layer'), { ...a, config: { ...a.config, bias: 'all' } });
    await expect(readPeftAdapter(path)).rejects.toThrow(`tensor '${key}' is a base_layer bias of attn.c_proj, a layer target_modules ["c_attn"] do not adapt`);
  });

  it('a pattern adapter whose tensor names a block past any GPT (the rule is resolved on the blocks the tensors reach: one per block, made before the tensors are checked)', async () => {
    const a = good();
    const key = 'base_model.model.transformer.h.4294967295.attn.c_attn.lora_A.weight';
    a.tensors.set(key, { shape: [2, SMALL.C], data: new Float32Array(2 * SMALL.C) });
    const path = writePeftDir(join(dir, 'bad-far-block'), { ...a, config: { ...a.config, target_modules: '.*c_attn' } });
    const error = await readPeftAdapter(path).then(() => null, (e: Error) => e.message);
    expect(error).toBe(`${path}/adapter_model.safetensors: tensor '${key}' is of block h.4294967295, past the 1000 blocks a GPT may have`);
  });

  for (const [what, change, message] of tensorCases) {
    it(what, async () => {
      const a = good();
      change(a.tensors);
      const path = writePeftDir(join(dir, `bad-${what.replace(/\W+/g, '-')}`), a);
      await expect(readPeftAdapter(path)).rejects.toThrow(message);
    });
  }

  const baseCases: [string, (t: Adapter['tensors']) => void, RegExp][] = [
    ['an adapter of a wider base', (t) => t.set('base_model.model.transformer.h.1.attn.c_attn.lora_A.weight', { shape: [2, 32], data: new Float32Array(64) }), /tensor base_model\.model\.transformer\.h\.1\.attn\.c_attn\.lora_A\.weight has shape \[2, 32\], where the base model's layer gives it \[2, 24\]/],
    ['a layer missing', (t) => t.delete('base_model.model.transformer.h.1.attn.c_attn.lora_B.weight'), /no tensor base_model\.model\.transformer\.h\.1\.attn\.c_attn\.lora_B\.weight, which target_modules \["c_attn"\] on the base's 2 layers need/],
    ['a layer past the base\'s', (t) => t.set('base_model.model.transformer.h.2.attn.c_attn.lora_A.weight', { shape: [2, SMALL.C], data: new Float32Array(2 * SMALL.C) }), /tensor base_model\.model\.transformer\.h\.2\.attn\.c_attn\.lora_A\.weight adapts a layer that target_modules \["c_attn"\] on the base's 2 layers do not select/],
  ];
  for (const [what, change, message] of baseCases) {
    it(`${what}, leaving the model as it was`, async () => {
      const a = good();
      change(a.tensors);
      const path = writePeftDir(join(dir, `bad-${what.replace(/\W+/g, '-')}`), a);
      const adapter = await readPeftAdapter(path);
      const model = await baseModel();
      expect(() => attachPeftAdapter(model, adapter, path)).toThrow(message);
      expect(model.config.lora).toBeUndefined();
      expect(worstError(await logitsOf(model), params)).toBeLessThan(1e-4);
      model.dispose();
    });
  }

  it("target_modules selecting every block the file has, and not all the base's: refused by the rule on the base's blocks, the model left as it was", async () => {
    const a = good();
    for (const key of [...a.tensors.keys()]) if (key.includes('.h.1.')) a.tensors.delete(key);
    const path = writePeftDir(join(dir, 'fewer-blocks'), { ...a, config: { ...a.config, target_modules: 'transformer\\.h\\.0\\.attn\\.c_attn' } });
    const adapter = await readPeftAdapter(path); // its one block: every block it has
    expect(adapter.lora.targets).toEqual(['c_attn']);
    const model = await baseModel();
    expect(() => attachPeftAdapter(model, adapter, path)).toThrow(`${path}/adapter_config.json: target_modules "transformer\\\\.h\\\\.0\\\\.attn\\\\.c_attn" selects attn.c_attn in transformer.h.0 of 2 blocks only`);
    expect(model.config.lora).toBeUndefined();
    model.dispose();
  });

  it('a magnitude-pruned base (its masks would drop part of the update) is refused naming the adapter, the model left as it was', async () => {
    const path = writePeftDir(join(dir, 'onto-pruned'), good());
    const adapter = await readPeftAdapter(path);
    const model = await baseModel();
    await pruneGlobal(model, 0.5);
    const before = await logitsOf(model);
    expect(() => attachPeftAdapter(model, adapter, path)).toThrow(`${path}: a LoRA adapter cannot be merged into a pruned model (h.0.attn.c_attn.weight_mask), whose masks keep its pruned weights zero (allowed: a dense float32 base model)`);
    expect(model.config.lora).toBeUndefined();
    expect(Buffer.from((await logitsOf(model)).buffer).equals(Buffer.from(before.buffer))).toBe(true);
    model.dispose();
  });

  it("a hostile file's names and values stay one readable line (control characters escaped, megabytes cut)", async () => {
    const cases: [string, Adapter][] = [
      ['field', { ...good(), config: { ...good().config, 'use_x\nforged line': 'v'.repeat(1e6) } }],
      ['key', (() => {
        const a = good();
        a.tensors.set(`base_model.model.transformer.h.0.attn.c_attn.lora_A.weight\n${'x'.repeat(1e5)}`, { shape: [1], data: new Float32Array(1) });
        return a;
      })()],
    ];
    for (const [what, a] of cases) {
      const error = await readPeftAdapter(writePeftDir(join(dir, `hostile-${what}`), a)).then(() => '', (e: Error) => e.message);
      expect(error, what).toMatch(/\\x0a/);
      expect(error, what).not.toContain('\n');
      expect(error.length, what).toBeLessThan(1300);
    }
  });

  it("a config that is not JSON is named in one readable line (the parser's quote of it has its control characters escaped)", async () => {
    const path = writePeftDir(join(dir, 'hostile-json'), good());
    writeFileSync(join(path, PEFT_FILES.config), '{"r": 2, "x":\n\u001b[2J\u0007}');
    const error = await readPeftAdapter(path).then(() => '', (e: Error) => e.message);
    expect(error).toMatch(new RegExp(`^${path}/adapter_config\\.json: .*\\\\x1b\\[2J`));
    expect(error).not.toMatch(/[\u0000-\u001f]/);
  });

  it("a refused config is said before the weights are read (a weights file of gigabytes is not read for nothing)", async () => {
    const path = join(dir, 'config-first');
    mkdirSync(join(path, PEFT_FILES.weights), { recursive: true }); // no weights file can be read here
    writeFileSync(join(path, PEFT_FILES.config), JSON.stringify({ ...good().config, use_dora: true }));
    await expect(readPeftAdapter(path)).rejects.toThrow(`${path}/adapter_config.json: use_dora true cannot be honoured here`);
  });

  it('a missing file names it', async () => {
    const path = join(dir, 'no-weights');
    mkdirSync(path, { recursive: true });
    writeFileSync(join(path, 'adapter_config.json'), JSON.stringify(good().config));
    await expect(readPeftAdapter(path)).rejects.toThrow(`${path}/adapter_model.safetensors: cannot be read as a peft adapter's file (it does not exist)`);
    await expect(decodePeftAdapter({ config: '{', weights: new Uint8Array() }, 'x')).rejects.toThrow(/^x\/adapter_config\.json: /);
  });
});
