// `gpt info` on checkpoints this file makes: every printed field against what the test set (flags,
// corpus) or counts itself (parameters from the shapes' arithmetic, the CRC-32 and size of the file
// on disk, the val loss in log.jsonl), never against the code's own helpers. A 13 GB sparse file
// proves that no tensor is read.
import { cpSync, mkdirSync, openSync, readFileSync, statSync, closeSync, writeSync, ftruncateSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { crc32 } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { opensAdapter } from '../src/cli/main.js';
import { corpusText, expectOneLine, gpt, tempDir, TINY } from './cli-helpers.js';
import { readCheckpointFiles, setupDevice } from './helpers.js';
import { parseSafetensors, serializeSafetensors } from '../src/io/safetensors.js';
import { gpt2Config, randomGPT2, SMALL, writeGPT2Dir } from './hf-reference.js';
import { torchSave, type TorchValue } from './torch-writer.js';

const dir = tempDir('cli-info');
const corpus = join(dir, 'corpus.txt');
const run = join(dir, 'run');
const text = corpusText(6000);
/** The char tokenizer's vocabulary: the corpus's distinct characters. */
const V = new Set(text).size;
const C = 16; // TINY: 1 layer, 2 heads, 16 wide, block 16, no biases
const T = 16;
/** TINY's parameters: wte V x C, wpe T x C, ln_f C, and one block: two LayerNorms, c_attn 3C x C, c_proj C x C, c_fc 4C x C, c_proj C x 4C. */
const P = V * C + T * C + C + (2 * C + 3 * C * C + C * C + 4 * C * C + 4 * C * C);
const count = (n: number) => n.toLocaleString('en-US');
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** The value of a field's line ("step         10 of 10"), the label's padding dropped. */
const field = (out: string, label: string) => new RegExp(`^${label} +(.*)$`, 'm').exec(out)?.[1];
const manifestOf = (d: string) => JSON.parse(readFileSync(join(d, 'checkpoint.json'), 'utf8')) as { weights: string; weightsCrc32: string };
/** The zero entries of a run directory's pruning masks, counted from its weights file parsed here, and how many entries they have. */
function maskZeros(d: string): { zeros: number; entries: number } {
  const { tensors } = parseSafetensors(readFileSync(join(d, manifestOf(d).weights)));
  const masks = Object.entries(tensors).filter(([name]) => name.endsWith('.weight_mask')).map(([, t]) => [...t.data]);
  return { zeros: masks.flat().filter((x) => x === 0).length, entries: masks.flat().length };
}

/** A student distilled from `run` (at temperature 3, alpha 0.25, float16): made once, for the tests that need one. */
let student: Promise<string> | undefined;
const distilled = () =>
  (student ??= (async () => {
    const out = join(dir, 'student');
    const d = await gpt('distill', '--teacher', run, '--data', corpus, ...TINY, '--max-iters', '4', '--dtype', 'float16', '--temperature', '3', '--alpha', '0.25', '--out-dir', out);
    expect(d.code, d.err).toBe(0);
    return out;
  })());

beforeAll(async () => {
  await setupDevice();
  writeFileSync(corpus, text);
  const schedule = ['--learning-rate', '0.002', '--min-lr', '0.0002', '--warmup-iters', '3', '--lr-decay-iters', '8'];
  const r = await gpt('train', '--data', corpus, ...TINY, ...schedule, '--max-iters', '10', '--dtype', 'float32', '--out-dir', run);
  expect(r.code, r.err).toBe(0);
});

describe('gpt info', () => {
  it('describes a training run: model, parameters, tensors, size, tokenizer, training state, data, files', async () => {
    const r = await gpt('info', run);
    expect(r.code, r.err).toBe(0);
    const { weights, weightsCrc32 } = manifestOf(run);
    const file = readFileSync(join(run, weights));
    const evals = readFileSync(join(run, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; val?: number }).filter((l) => l.type === 'eval');
    const val = evals.at(-1)!.val!.toFixed(4);
    expect(field(r.out, 'checkpoint')).toBe(`${run} (run directory)`);
    expect(field(r.out, 'model')).toBe(`1 layer, 2 heads, 16 wide, block 16, vocab ${V}; bias no, gelu, tied LM head, dropout 0, no shared layers`);
    expect(field(r.out, 'parameters')).toBe(`${count(P)} (${count(P - T * C)} excluding position embeddings); the header matches the config`);
    expect(field(r.out, 'tensors')).toBe(`parameters: F32, 9 tensors, ${count(4 * P)} bytes`);
    expect(r.out).toMatch(new RegExp(`^ +AdamW moments: F32, 18 tensors, ${count(8 * P)} bytes$`, 'm'));
    expect(field(r.out, 'on disk')).toBe(`${count(file.length)} bytes (${weights})`);
    expect(field(r.out, 'compression')).toBe('none');
    expect(field(r.out, 'tokenizer')).toBe(`char, ${V} tokens`);
    expect(field(r.out, 'step')).toBe('10 of 10 (max iters)');
    expect(field(r.out, 'val loss')).toBe(`${val} at save, best ${val}`);
    expect(field(r.out, 'lr schedule')).toBe('0.002 after 3 warmup steps, cosine to 0.0002 by step 8');
    expect(field(r.out, 'precision')).toBe('float32');
    expect(field(r.out, 'resume')).toMatch(/^exact: AdamW moments/);
    expect(field(r.out, 'data')).toBe(`${corpus} (5,400 train + 600 val tokens)`); // 90/10 of 6,000 characters
    // 10 steps of TINY's 4 sequences of 16 tokens: 640 tokens, 640 / 5,400 of an epoch
    expect(field(r.out, 'tokens')).toBe('640 trained on (10 steps of 64: batch 4 x block 16 x grad accum 1; 0.12 epochs of the train split)');
    expect(field(r.out, 'saved')).toMatch(/^the best val loss so far/);
    expect(crc32(file).toString(16).padStart(8, '0')).toBe(weightsCrc32);
    expect(field(r.out, 'checksum')).toBe(`CRC-32 ${weightsCrc32} not verified (--verify reads the weights and checks it)`);
    expect(field(r.out, 'teacher')).toBeUndefined();
    const verified = await gpt('info', '--out-dir', run, '--verify');
    expect(verified.code, verified.err).toBe(0);
    expect(field(verified.out, 'checksum')).toBe(`CRC-32 ${weightsCrc32} verified`);
  });

  it('counts the tokens each step trained on, where a resume changed the batch', async () => {
    const resumed = join(dir, 'resumed-smaller-batch');
    cpSync(run, resumed, { recursive: true });
    // 10 steps of 4 x 16, then 2 of 2 x 16: 640 + 64 tokens, not 12 steps of the batch now
    const r = await gpt('train', '--init-from', 'resume', '--out-dir', resumed, '--data', corpus, '--batch-size', '2', '--max-iters', '12', '--eval-interval', '2', '--always-save');
    expect(r.code, r.err).toBe(0);
    const info = await gpt('info', resumed);
    expect(info.code, info.err).toBe(0);
    expect(field(info.out, 'step')).toBe('12 of 12 (max iters)');
    expect(field(info.out, 'tokens')).toBe('704 trained on (12 steps, not all of the batch now: 32 a step, batch 2 x block 16 x grad accum 1; 0.13 epochs of the train split)');
  });

  it('--json prints one object with the same description', async () => {
    const r = await gpt('info', '--out-dir', run, '--json');
    expect(r.code, r.err).toBe(0);
    const info = JSON.parse(r.out);
    expect(info.model).toEqual({ vocabSize: V, blockSize: T, nLayer: 1, nHead: 2, nEmbd: C, dropout: 0, bias: false, activation: 'gelu', shareLayers: 1, tiedHead: true });
    expect(info.parameters).toEqual({ header: P, config: P, nonEmbedding: P - T * C, matches: true, problem: null });
    expect(info.tensors.adamwMoments).toEqual({ tensors: 18, elements: 2 * P, bytes: 8 * P, dtypes: ['F32'] });
    expect(info.bytesOnDisk).toBe(statSync(join(run, manifestOf(run).weights)).size);
    expect(info.tokenizer).toEqual({ kind: 'char', vocabSize: V });
    expect(info.training).toMatchObject({ step: 10, maxIters: 10, schedule: { learningRate: 0.002, minLr: 0.0002, warmupIters: 3, lrDecayIters: 8 }, dtype: 'float32', adamwMoments: true, exactResume: true });
    expect(info.training.tokens).toEqual({ batchSize: 4, blockSize: 16, gradAccum: 1, perStep: 64, seen: 640 });
    expect(info.data).toEqual({ source: corpus, tokens: { train: 5400, val: 600 } });
    expect(info.checksum).toEqual({ crc32: manifestOf(run).weightsCrc32, verified: false, stalePresent: [] });
  });

  it('describes a distilled float16 run: its teacher, mixed precision and loss scaler', async () => {
    const r = await gpt('info', await distilled());
    expect(r.code, r.err).toBe(0);
    expect(field(r.out, 'teacher')).toBe(`${run} (temperature 3, alpha 0.25)`);
    expect(field(r.out, 'compression')).toBe('none'); // the teacher is told once, on its own line
    expect(field(r.out, 'precision')).toBe('float16 mixed precision (float32 master weights)');
    // 4 clean steps at the initial scale 2^16 (PyTorch's GradScaler's, which grows it only after 2,000)
    expect(field(r.out, 'loss scaler')).toBe('scale 65536, 4 clean steps since it changed, 0 skipped');
    expect(field(r.out, 'step')).toBe('4 of 4 (max iters)');
  });

  it('describes a quantized checkpoint: int8 weights with their scales, no training state', async () => {
    const q = join(dir, 'int8');
    expect((await gpt('quantize', '--bits', '8', '--init-from', run, '--out-dir', q)).code).toBe(0);
    const r = await gpt('info', q, '--json');
    expect(r.code, r.err).toBe(0);
    const info = JSON.parse(r.out);
    // int8: wte and the four Linear weights; the LayerNorms and wpe stay float32
    const int8 = V * C + 12 * C * C;
    expect(info.parameters).toMatchObject({ header: P, matches: true });
    expect(info.tensors.parameters.bytes).toBe(int8 + 4 * (P - int8));
    expect(info.tensors.int8Scales).toEqual({ tensors: 5, elements: V + 3 * C + C + 4 * C + C, bytes: 4 * (V + 9 * C), dtypes: ['F32'] });
    expect(info.compression).toEqual(['int8 weights (gpt quantize)']);
    expect(info.training).toMatchObject({ adamwMoments: false, exactResume: false });
    expect(field((await gpt('info', q)).out, 'training')).toBe('no step, settings or AdamW moments saved (a quantized checkpoint is for inference only)');
  });

  it('describes pruned checkpoints: masked weights, and heads removed', async () => {
    const masked = join(dir, 'masked');
    expect((await gpt('prune', '--sparsity', '0.3', '--init-from', run, '--out-dir', masked)).code).toBe(0);
    const m = await gpt('info', masked);
    expect(m.code, m.err).toBe(0);
    expect(field(m.out, 'compression')).toBe(`pruning masks on 4 Linear weights (${count(12 * C * C)} entries; their sparsity is in the masks' values, not read)`);
    expect(field(m.out, 'parameters')).toMatch(/the header matches the config$/);
    // --verify reads the weights: the masks' values with them
    const { zeros, entries } = maskZeros(masked);
    expect(entries).toBe(12 * C * C);
    const verified = await gpt('info', masked, '--verify');
    expect(verified.code, verified.err).toBe(0);
    expect(field(verified.out, 'compression')).toBe(`${count(zeros)} of ${count(entries)} Linear weights pruned, sparsity ${(zeros / entries).toFixed(4)} (gpt prune)`);
    expect(field(verified.out, 'checksum')).toMatch(/ verified$/);

    const heads = join(dir, 'heads');
    expect((await gpt('prune', '--sparsity', '0.5', '--structured', 'heads', '--init-from', run, '--out-dir', heads)).code).toBe(0);
    const h = await gpt('info', heads);
    expect(h.code, h.err).toBe(0);
    // one head of 8 left: c_attn loses 3 x 8 rows of 16, c_proj 8 columns of 16
    expect(field(h.out, 'parameters')).toBe(`${count(P - 4 * 8 * C)} (${count(P - 4 * 8 * C - T * C)} excluding position embeddings); the header matches the config`);
    expect(field(h.out, 'compression')).toBe('heads per block 1 of 2 (gpt prune --structured heads)');
    expect(field(h.out, 'model')).toMatch(/^1 layer, heads 1, 16 wide/);
  });

  it("a distilled model pruned, then quantized, keeps its ancestors' records: info and eval tell its teacher, its sparsity and its int8 weights", async () => {
    const teacher = `${run} (temperature 3, alpha 0.25)`;
    const pruned = join(dir, 'student-pruned');
    expect((await gpt('prune', '--sparsity', '0.4', '--init-from', await distilled(), '--out-dir', pruned)).code).toBe(0);
    expect(field((await gpt('info', pruned)).out, 'teacher')).toBe(teacher);
    // its teacher recorded does not make it a distillation run to resume: it has no run's training state
    expectOneLine(await gpt('train', '--init-from', 'resume', '--data', corpus, '--out-dir', pruned), 2, /^gpt train: --init-from resume continues the run in --out-dir, and \S+ holds a checkpoint without a run's training state/);
    const { zeros, entries } = maskZeros(pruned);
    const sparsity = `${count(zeros)} of ${count(entries)} Linear weights pruned, sparsity ${(zeros / entries).toFixed(4)} (gpt prune)`;

    const int8 = join(dir, 'student-pruned-int8');
    expect((await gpt('quantize', '--init-from', pruned, '--out-dir', int8)).code).toBe(0);
    const r = await gpt('info', int8);
    expect(r.code, r.err).toBe(0);
    expect(r.out).not.toMatch(/pruning masks/); // an int8 checkpoint holds none: its record of them says it
    expect(field(r.out, 'compression')).toBe(`int8 weights (gpt quantize); ${sparsity}`);
    expect(field(r.out, 'teacher')).toBe(teacher);
    const e = await gpt('eval', '--out-dir', int8, '--eval-iters', '1', '--batch-size', '2');
    expect(e.code, e.err).toBe(0);
    expect(e.out).toMatch(new RegExp(`^model: int8 weights \\(gpt quantize\\); ${escape(sparsity)}; distilled from ${escape(teacher)}$`, 'm'));
  });

  it('describes shared layers: two layers running one block hold one block of parameters', async () => {
    const shared = join(dir, 'shared');
    const t = await gpt('train', '--data', corpus, ...TINY, '--n-layer', '2', '--share-layers', '2', '--max-iters', '2', '--out-dir', shared);
    expect(t.code, t.err).toBe(0);
    const r = await gpt('info', shared);
    expect(r.code, r.err).toBe(0);
    expect(field(r.out, 'model')).toBe(`2 layers, 2 heads, 16 wide, block 16, vocab ${V}; bias no, gelu, tied LM head, dropout 0, layers shared in groups of 2`);
    expect(field(r.out, 'parameters')).toBe(`${count(P)} (${count(P - T * C)} excluding position embeddings); the header matches the config`);
    expect(field(r.out, 'compression')).toBe('2 layers sharing 1 block of weights (--share-layers 2)');
  });

  it("describes nanoGPT's ckpt.pt: its iter_num, and the tokens its config's batch_size x gradient_accumulation_steps x block_size took", async () => {
    const file = join(dir, 'nano', 'ckpt.pt');
    const e = await gpt('export', '--out-dir', run, '--to', file);
    expect(e.code, e.err).toBe(0);
    const r = await gpt('info', file);
    expect(r.code, r.err).toBe(0);
    expect(field(r.out, 'checkpoint')).toBe(`${file} (nanoGPT checkpoint)`);
    expect(field(r.out, 'step')).toBe('10 (iter_num) of 10 (max_iters)');
    expect(field(r.out, 'tokens')).toBe('640 trained on (10 steps of 64: batch 4 x block 16 x grad accum 1)');
    expect(JSON.parse((await gpt('info', file, '--json')).out).training).toMatchObject({ step: 10, tokens: { batchSize: 4, blockSize: 16, gradAccum: 1, perStep: 64, seen: 640 } });
    // nanoGPT's out_dir, as sample, eval and export take it: its ckpt.pt described, by PATH or --out-dir
    for (const args of [[dirname(file)], ['--out-dir', dirname(file)]]) {
      const d = await gpt('info', ...args);
      expect(d.code, d.err).toBe(0);
      expect(d.out).toBe(r.out);
    }
    // a run of ours there too: ours described, and a note of how to give nanoGPT's
    cpSync(run, dirname(file), { recursive: true });
    const both = await gpt('info', dirname(file));
    expect(field(both.out, 'checkpoint')).toBe(`${dirname(file)} (run directory)`);
    expect(both.err.trim()).toBe(`note: ${dirname(file)} holds both a checkpoint of ours (checkpoint.json) and nanoGPT's ckpt.pt: ours was read; to read nanoGPT's, give PATH ${file}`);
    // as nanoGPT's train.py saves a GPT-2 run (config/train_gpt2.py: 12 x 1024 x 40 tokens an iteration, bfloat16), written here by hand
    const gpt2Run = join(dir, 'nano-gpt2', 'ckpt.pt');
    mkdirSync(dirname(gpt2Run), { recursive: true });
    const config = new Map<string, TorchValue>([['batch_size', 12], ['block_size', 1024], ['gradient_accumulation_steps', 40], ['max_iters', 600000], ['dtype', 'bfloat16'], ['dataset', 'openwebtext']]);
    const args = new Map<string, TorchValue>([['n_layer', 1], ['n_head', 1], ['n_embd', 2], ['block_size', 1024], ['vocab_size', 50304], ['bias', false]]);
    const model = new Map<string, TorchValue>([['transformer.wte.weight', { shape: [50304, 2], data: new Float32Array(50304 * 2) }]]);
    writeFileSync(gpt2Run, torchSave(new Map<string, TorchValue>([['model', model], ['model_args', args], ['iter_num', 2000], ['config', config]])));
    const g = await gpt('info', gpt2Run);
    expect(g.code, g.err).toBe(0);
    expect(field(g.out, 'step')).toBe('2000 (iter_num) of 600000 (max_iters)');
    expect(field(g.out, 'tokens')).toBe('983,040,000 trained on (2,000 steps of 491,520: batch 12 x block 1024 x grad accum 40)'); // nanoGPT's ~0.5M tokens an iteration
    expect(field(g.out, 'precision')).toBe("bfloat16 (config dtype: train.py's autocast)");
  });

  it('describes a Hugging Face GPT-2 directory: its config, buffers and tied head told apart, no training state', async () => {
    const hf = join(dir, 'hf');
    writeGPT2Dir(hf, randomGPT2(), { prefix: true, head: true });
    const r = await gpt('info', hf);
    expect(r.code, r.err).toBe(0);
    const { V: v, T: t, C: c, NH, L } = SMALL;
    // GPT-2 has biases everywhere: LayerNorms 2c, c_attn 3c x c + 3c, c_proj c x c + c, c_fc 4c x c + 4c, c_proj c x 4c + c
    const params = v * c + t * c + 2 * c + L * (4 * c + 3 * c * c + 3 * c + c * c + c + 4 * c * c + 4 * c + 4 * c * c + c);
    expect(field(r.out, 'checkpoint')).toBe(`${hf} (Hugging Face directory)`);
    expect(field(r.out, 'model')).toBe(`${L} layers, ${NH} heads, ${c} wide, block ${t}, vocab ${v}; bias yes, gelu_tanh, tied LM head, dropout 0.1, no shared layers`);
    expect(field(r.out, 'parameters')).toBe(`${count(params)} (${count(params - t * c)} excluding position embeddings); the header matches the config`);
    expect(r.out).toMatch(new RegExp(`^ +causal-mask buffers: F32, ${2 * L} tensors, ${count(4 * L * (t * t + 1))} bytes$`, 'm'));
    expect(r.out).toMatch(new RegExp(`^ +LM head \\(tied copy\\): F32, 1 tensor, ${count(4 * v * c)} bytes$`, 'm'));
    expect(field(r.out, 'on disk')).toBe(`${count(statSync(join(hf, 'model.safetensors')).size)} bytes (model.safetensors)`);
    expect(field(r.out, 'tokenizer')).toMatch(new RegExp(`^\\w+, ${v} tokens$`));
    expect(field(r.out, 'training')).toMatch(/^none recorded/);
    const other = join(dir, 'hf-vocab');
    writeGPT2Dir(other, randomGPT2(), { prefix: false, head: false, config: gpt2Config({ vocab_size: v + 1 }) });
    expectOneLine(await gpt('info', other), 1, new RegExp(`^gpt info: ${other}: the tokenizer has ${v} tokens, config.json says vocab_size ${v + 1}$`));
    expectOneLine(await gpt('info', hf, '--verify'), 2, /^gpt info: flag --verify: .* is a Hugging Face directory, which records no checksum/);
  });

  it("a bare file's saved training state offers no --init-from resume, which takes a run directory only", async () => {
    const bare = join(dir, 'copied.safetensors');
    cpSync(join(run, manifestOf(run).weights), bare);
    const r = await gpt('info', bare);
    expect(r.code, r.err).toBe(0);
    expect(field(r.out, 'resume')).toMatch(/^exact: AdamW moments, step and generator states saved \(the page continues it/);
    expect(field(r.out, 'resume')).not.toMatch(/--init-from resume/);
    expectOneLine(await gpt('train', '--data', corpus, '--init-from', 'resume', '--out-dir', bare), 2, /^gpt train: flag --out-dir takes a directory to write into, got the file /);
  });

  it("names a config's bias setting that the tensors disagree with: what the config asks for, and what the file holds", async () => {
    /** `from`'s checkpoint as a bare file whose config says `bias`, its tensors unchanged. */
    async function claimingBias(from: string, bias: boolean): Promise<string> {
      const { tensors, metadata } = parseSafetensors((await readCheckpointFiles(from)).weights);
      const meta = JSON.parse(metadata.webgpu_gpt!) as { model: { bias: boolean } };
      expect(meta.model.bias).toBe(!bias);
      meta.model.bias = bias;
      const file = join(dir, `claims-bias-${bias}.safetensors`);
      writeFileSync(file, serializeSafetensors(tensors, { webgpu_gpt: JSON.stringify(meta) }));
      return file;
    }
    const none = await claimingBias(run, true); // TINY: no biases
    const r = await gpt('info', none);
    expect(r.code, r.err).toBe(0);
    expect(field(r.out, 'parameters')).toMatch(/; the config makes [\d,]+: config bias true asks for a bias beside each LayerNorm and Linear weight, but the header holds no bias tensor \(no ln_f\.bias\)$/);
    expectOneLine(await gpt('sample', '--out-dir', none, '--start', text[0]!), 1, /: metadata field model\.bias true asks for a bias beside each LayerNorm and Linear weight, but the file holds no bias tensor \(no ln_f\.bias\)$/);
    const biased = join(dir, 'biased');
    expect((await gpt('train', '--data', corpus, ...TINY, '--bias', 'true', '--max-iters', '1', '--out-dir', biased)).code).toBe(0);
    const some = await gpt('info', await claimingBias(biased, false));
    // 2 LayerNorms and 4 Linears in the one block, and ln_f
    expect(field(some.out, 'parameters')).toMatch(/: config bias false asks for no biases, but the header holds 7 bias tensors \(h\.0\.ln_1\.bias, .*\)$/);
  });

  it('describes a damaged weights file from its intact header; --verify refuses it in one line', async () => {
    const damaged = join(dir, 'damaged');
    cpSync(run, damaged, { recursive: true });
    const path = join(damaged, manifestOf(damaged).weights);
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.from([0x7f]), 0, 1, statSync(path).size - 3); // inside the last tensor's bytes
    closeSync(fd);
    const r = await gpt('info', damaged);
    expect(r.code, r.err).toBe(0);
    expect(field(r.out, 'parameters')).toMatch(new RegExp(`^${count(P)} `));
    expect(field(r.out, 'checksum')).toMatch(/not verified/);
    expectOneLine(await gpt('info', damaged, '--verify'), 1, /^gpt info: checkpoint at .*damaged is corrupt: weights checksum mismatch/);
  });

  it('names the argument or flag of a path that does not exist', async () => {
    const nowhere = join(dir, 'nowhere');
    expectOneLine(await gpt('info', nowhere), 2, new RegExp(`^gpt info: argument PATH names ${nowhere}, which does not exist$`));
    expectOneLine(await gpt('info', '--out-dir', nowhere), 2, new RegExp(`^gpt info: flag --out-dir names ${nowhere}, which does not exist$`));
    expectOneLine(await gpt('info', run, '--out-dir', run), 2, /^gpt info: give PATH or --out-dir, not both$/);
  });

  it("refuses a peft adapter directory in one line naming what to give, as the commands that take a model do", async () => {
    const peft = join(dir, 'peft');
    mkdirSync(peft);
    writeFileSync(join(peft, 'adapter_config.json'), '{"peft_type": "LORA"}');
    const hint = "it is a peft adapter \\(adapter_config\\.json\\), not a model: give its base model, and the adapter as --adapter \\(gpt sample, eval, train\\)";
    expectOneLine(await gpt('info', peft), 2, new RegExp(`^gpt info: argument PATH names ${escape(peft)}, which holds no checkpoint \\(.*\\); ${hint}$`));
    expectOneLine(await gpt('sample', '--init-from', peft), 2, new RegExp(`^gpt sample: flag --init-from names ${escape(peft)}, which holds no checkpoint \\(.*\\); ${hint}$`));
  });

  it('does not open the adapter, and has --help', async () => {
    expect(opensAdapter(['info', run])).toBe(false);
    const r = await gpt('info', '--help');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^usage: gpt info \[flags\] \[PATH\]/);
  });

  it('reads no tensor: a 13 GB sparse checkpoint (never written past its header) is described at once', async () => {
    // 4 layers 8192 wide: 12 x 8192^2 per block, 3.2 billion parameters; reading them would take minutes and 13 GB of memory
    const [c, t, L] = [8192, 16, 4];
    const chars = [...new Set(text)];
    const shapes: [string, number[]][] = [['wte.weight', [chars.length, c]], ['wpe.weight', [t, c]]];
    for (let l = 0; l < L; l++) {
      shapes.push([`h.${l}.ln_1.weight`, [c]], [`h.${l}.attn.c_attn.weight`, [3 * c, c]], [`h.${l}.attn.c_proj.weight`, [c, c]]);
      shapes.push([`h.${l}.ln_2.weight`, [c]], [`h.${l}.mlp.c_fc.weight`, [4 * c, c]], [`h.${l}.mlp.c_proj.weight`, [c, 4 * c]]);
    }
    shapes.push(['ln_f.weight', [c]]);
    const model = { vocabSize: chars.length, blockSize: t, nLayer: L, nHead: 64, nEmbd: c, dropout: 0, bias: false };
    const header: Record<string, unknown> = { __metadata__: { webgpu_gpt: JSON.stringify({ format: 'webgpu-gpt-checkpoint/1', model, tokenizer: { kind: 'char', chars } }) } };
    let offset = 0;
    for (const [name, shape] of shapes) {
      const bytes = 4 * shape.reduce((a, b) => a * b, 1);
      header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + bytes] };
      offset += bytes;
    }
    const json = Buffer.from(JSON.stringify(header));
    const big = join(dir, 'big.safetensors');
    const fd = openSync(big, 'w');
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(json.length));
    writeSync(fd, length, 0, 8, 0);
    writeSync(fd, json, 0, json.length, 8);
    ftruncateSync(fd, 8 + json.length + offset); // a hole: no data written
    closeSync(fd);
    const params = offset / 4;
    const t0 = performance.now();
    const r = await gpt('info', big);
    expect(r.code, r.err).toBe(0);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(field(r.out, 'checkpoint')).toBe(`${big} (safetensors file)`);
    expect(field(r.out, 'parameters')).toBe(`${count(params)} (${count(params - t * c)} excluding position embeddings); the header matches the config`);
    expect(field(r.out, 'on disk')).toBe(`${((8 + json.length + offset) / 2 ** 30).toPrecision(3)} GiB (big.safetensors)`);
  });
});
