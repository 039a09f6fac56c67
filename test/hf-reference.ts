// For the Hugging Face GPT-2 tests: a small randomly initialised model written as transformers
// lays it out (config.json + model.safetensors: Conv1D weights [in, out], causal-mask buffers,
// optionally the `transformer.` prefix and the tied lm_head; tokenizer.json of GPT-2's tokenizer in
// miniature), and an independent float64 forward of GPT-2 that reads those tensors as they are
// stored (no conversion shared with src/gpt/hf).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Gpt2Tokenizer, toHuggingFaceJSON } from '../src/gpt/tokenizer/index.js';
import { serializeSafetensors, type SafetensorsTensor } from '../src/io/safetensors.js';

/** GPT-2's tokenizer in miniature: its 256 byte tokens, the merges that make ' the', and <|endoftext|> (and `added` tokens after it, a fine-tune's). */
export function miniGpt2Tokenizer(added: string[] = []): Gpt2Tokenizer {
  const [space, t, h, e] = new Gpt2Tokenizer([]).encode(' the');
  return new Gpt2Tokenizer([[t!, h!], [256, e!], [space!, 257]], ['<|endoftext|>', ...added]);
}

/** The small model's shape, in GPT2Config's names: V vocab (the mini tokenizer's), T positions, C width, NH heads, L layers. */
export const SMALL = { V: 260, T: 16, C: 24, NH: 3, L: 2 };

/** GPT-2 tensors by their names without prefix, as stored: Conv1D weights [in, out]. */
export type GPT2Params = Map<string, { shape: number[]; data: Float32Array }>;

/** Deterministic normal draws (mulberry32 + Box-Muller), rounded to float32 as the file holds them. */
function normals(seed: number) {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  return (n: number, mean: number, std: number) =>
    Float32Array.from({ length: n }, () => mean + std * Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform()));
}

/**
 * Random GPT-2 weights large enough that every part matters (pre-activations of order 1, so the
 * tanh GELU and the exact one differ visibly; LayerNorm gains and biases away from 1 and 0).
 */
export function randomGPT2(seed = 7): GPT2Params {
  const { V, T, C, L } = SMALL;
  const draw = normals(seed);
  const p: GPT2Params = new Map();
  const put = (name: string, shape: number[], mean: number, std: number) => p.set(name, { shape, data: draw(shape.reduce((a, b) => a * b), mean, std) });
  const conv1d = (n: string, I: number, O: number, std: number, biasStd: number) => {
    put(`${n}.weight`, [I, O], 0, std);
    put(`${n}.bias`, [O], 0, biasStd);
  };
  const norm = (n: string) => {
    put(`${n}.weight`, [C], 1, 0.2);
    put(`${n}.bias`, [C], 0, 0.2);
  };
  put('wte.weight', [V, C], 0, 0.5);
  put('wpe.weight', [T, C], 0, 0.3);
  for (let l = 0; l < L; l++) {
    norm(`h.${l}.ln_1`);
    conv1d(`h.${l}.attn.c_attn`, C, 3 * C, 0.3, 0.2);
    conv1d(`h.${l}.attn.c_proj`, C, C, 0.2, 0.1);
    norm(`h.${l}.ln_2`);
    conv1d(`h.${l}.mlp.c_fc`, C, 4 * C, 0.3, 0.3);
    conv1d(`h.${l}.mlp.c_proj`, 4 * C, C, 0.1, 0.1);
  }
  norm('ln_f');
  return p;
}

/** GPT2Config as transformers writes it for the small model; `changes` override or add fields. */
export function gpt2Config(changes: Record<string, unknown> = {}): Record<string, unknown> {
  const { V, T, C, NH, L } = SMALL;
  return {
    architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', activation_function: 'gelu_new',
    vocab_size: V, n_positions: T, n_ctx: T, n_embd: C, n_layer: L, n_head: NH, n_inner: null,
    attn_pdrop: 0.1, embd_pdrop: 0.1, resid_pdrop: 0.1, layer_norm_epsilon: 1e-5, initializer_range: 0.02,
    scale_attn_weights: true, scale_attn_by_inverse_layer_idx: false, reorder_and_upcast_attn: false,
    bos_token_id: V - 1, eos_token_id: V - 1, summary_type: 'cls_index', use_cache: true, ...changes,
  };
}

/** How writeGPT2Dir saves: names prefixed `transformer.` or bare, lm_head or not, and what else. */
export interface GPT2DirOptions {
  prefix: boolean;
  /** Write lm_head.weight (the token embedding, tied) beside wte.weight, or in its place ('only', as safetensors' save_model keeps the first of tied names). */
  head: boolean | 'only';
  /** Write the mini tokenizer's tokenizer.json (default true), or GPT-2's own pair vocab.json + merges.txt, as older saves hold it. */
  tokenizer?: boolean | 'vocab+merges';
  config?: Record<string, unknown>;
  /** The weights' dtype (default F32); the values must be exact in it, as the serializer rounds. */
  dtype?: 'F32' | 'F16' | 'BF16';
  /** The causal-mask buffers' dtype, as transformers versions saved them (default F32). */
  mask?: 'F32' | 'U8' | 'BOOL';
  /** Split the weights over this many files named by model.safetensors.index.json, as save_pretrained does a big model. */
  shards?: number;
}

/**
 * Writes `params` into `dir` as transformers would: config.json and model.safetensors (or its
 * shards and their index), with HF's causal-mask buffers; and the mini tokenizer's files.
 */
export function writeGPT2Dir(dir: string, params: GPT2Params, opts: GPT2DirOptions): void {
  const { T, L } = SMALL;
  const tensors: Record<string, SafetensorsTensor> = {};
  const name = (n: string) => (opts.prefix ? `transformer.${n}` : n);
  for (const [n, { shape, data }] of params) if (!(n === 'wte.weight' && opts.head === 'only')) tensors[name(n)] = { dtype: opts.dtype ?? 'F32', shape, data };
  const mask = Float32Array.from({ length: T * T }, (_, i) => (i % T <= Math.floor(i / T) ? 1 : 0));
  for (let l = 0; l < L; l++) {
    const maskDtype = opts.mask ?? 'F32';
    tensors[name(`h.${l}.attn.bias`)] = { dtype: maskDtype, shape: [1, 1, T, T], data: maskDtype === 'F32' ? mask : Uint8Array.from(mask) };
    tensors[name(`h.${l}.attn.masked_bias`)] = { dtype: 'F32', shape: [], data: Float32Array.of(-1e4) };
  }
  if (opts.head) tensors['lm_head.weight'] = { dtype: opts.dtype ?? 'F32', ...params.get('wte.weight')! };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(opts.config ?? gpt2Config(), null, 2));
  if (opts.shards === undefined) writeFileSync(join(dir, 'model.safetensors'), serializeSafetensors(tensors, { format: 'pt' }));
  else writeShards(dir, tensors, opts.shards);
  if (opts.tokenizer === 'vocab+merges') writeVocabFiles(dir, miniGpt2Tokenizer());
  else if (opts.tokenizer ?? true) writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(toHuggingFaceJSON(miniGpt2Tokenizer())));
}

/** `tokenizer` as GPT-2's own pair of files, vocab.json + merges.txt, in `dir` (older saves hold only these). */
export function writeVocabFiles(dir: string, tokenizer: Gpt2Tokenizer): void {
  const { vocab, merges } = (toHuggingFaceJSON(tokenizer) as { model: { vocab: Record<string, number>; merges: (string | string[])[] } }).model;
  writeFileSync(join(dir, 'vocab.json'), JSON.stringify(vocab));
  writeFileSync(join(dir, 'merges.txt'), ['#version: 0.2', ...merges.map((m) => (Array.isArray(m) ? m.join(' ') : m))].join('\n') + '\n');
}

/** `tensors` dealt round-robin into `n` files model-0000i-of-0000n.safetensors, and the index naming each one's file. */
function writeShards(dir: string, tensors: Record<string, SafetensorsTensor>, n: number): void {
  const file = (i: number) => `model-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;
  const shards = Array.from({ length: n }, () => ({}) as Record<string, SafetensorsTensor>);
  const weightMap: Record<string, string> = {};
  Object.entries(tensors).forEach(([name, t], i) => {
    shards[i % n]![name] = t;
    weightMap[name] = file(i % n);
  });
  shards.forEach((shard, i) => writeFileSync(join(dir, file(i)), serializeSafetensors(shard, { format: 'pt' })));
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }, null, 2));
}

/** GPT2Config's activation_function names and their float64 definitions. */
const ACTIVATIONS = {
  gelu_new: (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  gelu: (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
};
export type GPT2Activation = keyof typeof ACTIVATIONS;

/** erf by Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7: far under the tests' tolerances). */
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return Math.sign(x) * (1 - poly * Math.exp(-x * x));
}

/** x [T, I] @ W [I, O] + b [O] (Conv1D), in float64. */
function conv1d(x: Float64Array[], w: { shape: number[]; data: Float32Array }, b: { data: Float32Array }): Float64Array[] {
  const [I, O] = w.shape as [number, number];
  return x.map((row) => {
    const y = Float64Array.from(b.data);
    for (let i = 0; i < I; i++) for (let o = 0; o < O; o++) y[o]! += row[i]! * w.data[i * O + o]!;
    return y;
  });
}

function layerNorm(x: Float64Array[], w: { data: Float32Array }, b: { data: Float32Array }): Float64Array[] {
  return x.map((row) => {
    const mean = row.reduce((a, v) => a + v, 0) / row.length;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / row.length;
    return row.map((v, i) => ((v - mean) / Math.sqrt(variance + 1e-5)) * w.data[i]! + b.data[i]!);
  });
}

/** Causal multi-head attention of one sequence's packed q|k|v rows [T, 3C]: y [T, C]. */
function attention(qkv: Float64Array[], C: number, NH: number): Float64Array[] {
  const HS = C / NH;
  return qkv.map((row, t) => {
    const y = new Float64Array(C);
    for (let h = 0; h < NH; h++) {
      const scores = qkv.slice(0, t + 1).map((other) => {
        let dot = 0;
        for (let d = 0; d < HS; d++) dot += row[h * HS + d]! * other[C + h * HS + d]!;
        return dot / Math.sqrt(HS);
      });
      const max = Math.max(...scores);
      const e = scores.map((s) => Math.exp(s - max));
      const sum = e.reduce((a, v) => a + v, 0);
      e.forEach((w, s) => {
        for (let d = 0; d < HS; d++) y[h * HS + d]! += (w / sum) * qkv[s]![2 * C + h * HS + d]!;
      });
    }
    return y;
  });
}

const addInPlace = (x: Float64Array[], y: Float64Array[]) => x.forEach((row, t) => row.forEach((_, i) => (row[i]! += y[t]![i]!)));

/** GPT-2's logits [T, V] for one sequence of token ids, in float64: embeddings, pre-LN blocks (MLP activation `activation`, `NH` heads), final LN, tied head. */
export function gpt2Logits(p: GPT2Params, ids: number[], activation: GPT2Activation = 'gelu_new', NH = SMALL.NH): Float64Array[] {
  const { C, L } = SMALL;
  const get = (n: string) => p.get(n)!;
  const wte = get('wte.weight').data;
  const wpe = get('wpe.weight').data;
  const x = ids.map((id, t) => Float64Array.from({ length: C }, (_, i) => wte[id * C + i]! + wpe[t * C + i]!));
  for (let l = 0; l < L; l++) {
    const w = (n: string) => get(`h.${l}.${n}`);
    const qkv = conv1d(layerNorm(x, w('ln_1.weight'), w('ln_1.bias')), w('attn.c_attn.weight'), w('attn.c_attn.bias'));
    addInPlace(x, conv1d(attention(qkv, C, NH), w('attn.c_proj.weight'), w('attn.c_proj.bias')));
    const hidden = conv1d(layerNorm(x, w('ln_2.weight'), w('ln_2.bias')), w('mlp.c_fc.weight'), w('mlp.c_fc.bias')).map((r) => r.map(ACTIVATIONS[activation]));
    addInPlace(x, conv1d(hidden, w('mlp.c_proj.weight'), w('mlp.c_proj.bias')));
  }
  const V = wte.length / C;
  return layerNorm(x, get('ln_f.weight'), get('ln_f.bias')).map((row) =>
    Float64Array.from({ length: V }, (_, v) => row.reduce((a, xi, i) => a + xi * wte[v * C + i]!, 0)),
  );
}
