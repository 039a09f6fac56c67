// Model files made hostile by hand (a config that disagrees with its tensors, a scale no quantizer
// writes, a pickle entry gigabytes long) given to the commands that read them, each as a real
// process with a deadline: every one answers in one line naming the file, soon, without reading or
// allocating what the damage claims.
import { cpSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { corpusText, gpt, runGpt, tempDir, TINY } from './cli-helpers.js';
import { readCheckpointFiles, setupDevice } from './helpers.js';
import { parseSafetensors, serializeSafetensors } from '../src/io/safetensors.js';

const dir = tempDir('cli-hostile');
const corpus = join(dir, 'corpus.txt');
const run = join(dir, 'run');
const hf = join(dir, 'hf');
const text = corpusText(6000);
/** The value of `gpt info`'s field line ("parameters   ..."), the label's padding dropped. */
const field = (out: string, label: string) => new RegExp(`^${label} +(.*)$`, 'm').exec(out)?.[1];

beforeAll(async () => {
  await setupDevice();
  writeFileSync(corpus, text);
  const r = await gpt('train', '--data', corpus, ...TINY, '--max-iters', '2', '--eval-interval', '2', '--dtype', 'float32', '--out-dir', run);
  expect(r.code, r.err).toBe(0);
  const e = await gpt('export', '--out-dir', run, '--to', hf);
  expect(e.code, e.err).toBe(0);
});

/** The run's weights as a bare .safetensors file `name` whose checkpoint metadata `edit` changed. */
async function withMeta(name: string, edit: (meta: { model: Record<string, unknown> }) => void): Promise<string> {
  const { tensors, metadata } = parseSafetensors((await readCheckpointFiles(run)).weights);
  const meta = JSON.parse(metadata.webgpu_gpt!) as { model: Record<string, unknown> };
  edit(meta);
  const file = join(dir, name);
  writeFileSync(file, serializeSafetensors(tensors, { webgpu_gpt: JSON.stringify(meta) }));
  return file;
}

/** Runs `gpt ...args` as a process killed after 30 s, expecting one line on stderr matching `message` and exit status `code`. */
async function expectRefused(args: string[], code: number, message: RegExp): Promise<void> {
  const r = await runGpt(args, 30_000, 'launcher'); // as bin/gpt.js runs it: Dawn's notices filtered
  expect(r.timedOut, `gpt ${args.join(' ')} ran past 30 s`).toBe(false);
  expect(r.code, r.err).toBe(code);
  expect(r.err.trimEnd()).toMatch(message);
  expect(r.err.trimEnd()).not.toContain('\n');
}

describe('a config that disagrees with its tensors', () => {
  // 1e9 layers: sized layer by layer (the parameter count, the memory plan) before the tensors were compared, it hung and took gigabytes
  it("nLayer 1e9 in a checkpoint's metadata: info describes it at once, sample refuses it in one line naming the file", async () => {
    const file = await withMeta('layers.safetensors', (meta) => (meta.model.nLayer = 1e9));
    const info = await runGpt(['info', file], 30_000);
    expect(info.timedOut).toBe(false);
    expect(info.code, info.err).toBe(0);
    expect(field(info.out, 'parameters')).toMatch(/the config makes [\d,]+: config nLayer 1000000000 disagrees with the header, which holds 1 block$/);
    const refusal = new RegExp(`^gpt sample: ${file}: metadata field model\\.nLayer 1000000000 disagrees with the file, which holds 1 block$`);
    await expectRefused(['sample', '--out-dir', file, '--max-new-tokens', '2'], 1, refusal);
  });

  it("n_layer 1e9 in a Hugging Face directory's config.json is refused in one line naming the file, before its model is sized", async () => {
    const bad = join(dir, 'hf-layers');
    cpSync(hf, bad, { recursive: true });
    const config = JSON.parse(readFileSync(join(bad, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(bad, 'config.json'), JSON.stringify({ ...config, n_layer: 1e9 }));
    await expectRefused(['eval', '--out-dir', bad, '--data', corpus, '--eval-iters', '1'], 1, new RegExp(`^gpt eval: ${bad}/config\\.json: n_layer 1000000000 disagrees with model\\.safetensors, which holds 1 block$`));
  });
});

describe('a config that no model can have', () => {
  it("LoRA settings out of range in a checkpoint's metadata are refused in one line naming the file and the field, by info too, before the device opens", async () => {
    const lora = { rank: 2, alpha: 8, dropout: 0, targets: ['c_attn'] };
    const alpha = await withMeta('lora-alpha.safetensors', (meta) => (meta.model.lora = { ...lora, alpha: -1 }));
    await expectRefused(['info', alpha], 1, new RegExp(`^gpt info: ${alpha}: metadata field model: lora\\.alpha must be a finite number > 0, got -1$`));
    const rank = await withMeta('lora-rank.safetensors', (meta) => (meta.model.lora = { ...lora, rank: 1e9 }));
    await expectRefused(['sample', '--out-dir', rank], 1, new RegExp(`^gpt sample: ${rank}: metadata field model: lora\\.rank 1000000000 exceeds 16, the smaller side of attn\\.c_attn \\[48, 16\\]: a rank is at most min\\(in, out\\)$`));
  });
});

describe('values no writer makes', () => {
  it("an int8 checkpoint's negative scale (which flips its row's sign) is refused in one line; a zero one (a row of zeros) loads", async () => {
    const int8 = join(dir, 'int8');
    const q = await gpt('quantize', '--init-from', run, '--out-dir', int8);
    expect(q.code, q.err).toBe(0);
    const { tensors, metadata } = parseSafetensors((await readCheckpointFiles(int8)).weights);
    /** The quantized weights as a bare file `name`, the first scale of c_attn's weight set to `scale`. */
    const withScale = (name: string, scale: number) => {
      const scales = tensors['h.0.attn.c_attn.weight_scale']!;
      const data = Float32Array.from(scales.data);
      data[0] = scale;
      const file = join(dir, name);
      writeFileSync(file, serializeSafetensors({ ...tensors, 'h.0.attn.c_attn.weight_scale': { ...scales, data } }, metadata));
      return file;
    };
    const negative = withScale('negative-scale.safetensors', -0.5);
    await expectRefused(['sample', '--out-dir', negative, '--max-new-tokens', '2'], 1, new RegExp(`^gpt sample: ${negative}: tensor 'h\\.0\\.attn\\.c_attn\\.weight_scale' holds -0\\.5 \\(at index 0\\); an int8 scale \\(its row's largest \\|weight\\| / 127\\) is never negative$`));
    const zero = await gpt('sample', '--out-dir', withScale('zero-scale.safetensors', 0), '--max-new-tokens', '2', '--start', text[0]!);
    expect(zero.code, zero.err).toBe(0);
  });

  it("nanoGPT's model_args with n_embd not divisible by n_head is refused in one line naming the file, by info too", async () => {
    const pt = join(dir, 'nano', 'ckpt.pt');
    const e = await gpt('export', '--out-dir', run, '--to', pt);
    expect(e.code, e.err).toBe(0);
    const bytes = readFileSync(pt);
    // model_args' n_head 2 (BININT1 2 after its key) made 3, in the stored (uncompressed) pickle
    const key = Buffer.from('n_headK\x02', 'latin1');
    const at = bytes.indexOf(key);
    expect(at).toBeGreaterThan(0);
    bytes[at + key.length - 1] = 3;
    writeFileSync(pt, bytes);
    await expectRefused(['info', pt], 1, new RegExp(`^gpt info: ${pt}: model_args: n_embd \\(16\\) must be divisible by n_head \\(3\\)$`));
  });
});

describe('files that cannot be opened', () => {
  it("a run directory's weights file that is a symbolic link to itself is refused in one line saying so, not with Node's errno text", async () => {
    const looped = join(dir, 'looped');
    cpSync(run, looped, { recursive: true });
    const { weights } = JSON.parse(readFileSync(join(looped, 'checkpoint.json'), 'utf8')) as { weights: string };
    rmSync(join(looped, weights));
    symlinkSync(weights, join(looped, weights));
    const refusal = (cmd: string) => new RegExp(`^gpt ${cmd}: ${join(looped, weights)} cannot be read \\(a loop of symbolic links\\)$`);
    await expectRefused(['info', looped], 1, refusal('info'));
    await expectRefused(['sample', '--out-dir', looped, '--max-new-tokens', '2'], 1, refusal('sample'));
  });

  it("a model's side file gigabytes long (a sparse config.json) is refused in one line naming it, unread: not read whole to fail in JSON.parse, nor Node's 'File size is greater than 2 GiB'", async () => {
    for (const gib of [1, 3]) {
      const big = join(dir, `hf-config-${gib}g`);
      cpSync(hf, big, { recursive: true });
      truncateSync(join(big, 'config.json'), gib * 2 ** 30); // a hole: nothing on disk
      const size = gib * 2 ** 30;
      await expectRefused(['info', big], 1, new RegExp(`^gpt info: ${big}/config\\.json is ${size} bytes, past the 268435456 a file read whole may be \\(a config, tokenizer, vocabulary or manifest takes far less\\): not the file expected\\?$`));
    }
  });
});

