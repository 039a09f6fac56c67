// transformers' GPT-2 config.json variants against PyTorch: each is honoured (our logits within
// 1e-4 of the float64 forward test/fixtures/torch/make_hf_config_fixture.py computes as
// modeling_gpt2.py does, from the pytorch_model.bin it saved) or refused in one line naming the
// field and its value; read to the host (loadCheckpoint) and uploaded as read (loadCheckpointModel)
// alike. A vocabulary padded past the tokenizer's is cut to it: the rows kept are PyTorch's.
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { device } from '../src/device/device.js';
import { decodeCheckpoint, modelFromCheckpoint } from '../src/gpt/checkpoint.js';
import { validateConfig, type GPT, type GPTConfig } from '../src/gpt/model.js';
import { nanoGptLayoutProblem } from '../src/gpt/nanogpt-save.js';
import { toHuggingFaceJSON } from '../src/gpt/tokenizer/index.js';
import { noGrad, scope, tensor } from '../src/index.js';
import { loadCheckpoint, loadCheckpointModel, saveCheckpoint, saveHFModel } from '../src/node/checkpoint-dir.js';
import { readCheckpointHeader } from '../src/node/checkpoint-header.js';
import { openHFCheckpointFile } from '../src/node/hf-checkpoint-file.js';
import { bytesSource } from '../src/io/safetensors-source.js';
import { Session } from '../src/web/session.js';
import { describeCheckpoint } from '../src/cli/info.js';
import { gpt, tempDir } from './cli-helpers.js';
import { setupDevice, withWarnings } from './helpers.js';
import { miniGpt2Tokenizer, writeVocabFiles } from './hf-reference.js';

beforeAll(setupDevice);

const FIXTURE = 'test/fixtures/torch/hf-config';
const fixture = JSON.parse(readFileSync(join(FIXTURE, 'logits.json'), 'utf8')) as {
  ids: number[];
  rows: number[];
  variants: { name: string; weights: string; config: Record<string, unknown>; logits: number[][] }[];
};
const dir = tempDir('hf-config');
/** The padded model's tokenizer: the mini one and two added tokens (a fine-tune's), 262 of its 264 rows. */
const ADDED = ['<|user|>', '<|bot|>'];

/** Those refused, with their one line: our GPT computes another function for them. */
const REFUSED: Record<string, RegExp> = {
  relu: /config\.json: activation_function "relu" is not supported \(only gelu_new, gelu_pytorch_tanh, gelu_fast, gelu_accurate, gelu, gelu_python\)$/,
  'scale_attn_weights false': /config\.json: scale_attn_weights false is not supported \(only true\)$/,
  scale_attn_by_inverse_layer_idx: /config\.json: scale_attn_by_inverse_layer_idx true is not supported \(only false\)$/,
  'both scalings, reordered and upcast': /config\.json: scale_attn_by_inverse_layer_idx true is not supported \(only false\)$/,
  'tie_word_embeddings false': /config\.json: tie_word_embeddings false is not supported \(only true\)$/,
};

/** The variant's directory as transformers saves it: config.json, the fixture's pytorch_model.bin, tokenizer.json. */
function variantDir(v: (typeof fixture.variants)[number]): string {
  const path = join(dir, v.name.replace(/\W+/g, '-'));
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, 'config.json'), JSON.stringify(v.config));
  copyFileSync(join(FIXTURE, v.weights, 'pytorch_model.bin'), join(path, 'pytorch_model.bin'));
  const tokenizer = miniGpt2Tokenizer(v.weights === 'padded' ? ADDED : []);
  writeFileSync(join(path, 'tokenizer.json'), JSON.stringify(toHuggingFaceJSON(tokenizer)));
  return path;
}

/** Largest |ours - PyTorch's| over the fixture's rows, our vocabulary's columns (all PyTorch's, or the first of a cut one). */
async function worstError(model: GPT, want: number[][]): Promise<number> {
  model.eval();
  const V = model.config.vocabSize;
  const T = fixture.ids.length;
  const got = (await noGrad(() => scope(async () => model.forward(tensor(Int32Array.from(fixture.ids), [1, T])).logits.toArray()))) as Float32Array;
  return Math.max(...fixture.rows.flatMap((t, r) => want[r]!.slice(0, V).map((w, v) => Math.abs(got[t * V + v]! - w))));
}

const honoured = fixture.variants.filter((v) => !(v.name in REFUSED));
const refused = fixture.variants.filter((v) => v.name in REFUSED);

describe("transformers' GPT-2 configs against PyTorch", () => {
  it('the fixture holds every variant the test names', () => {
    expect(refused.map((v) => v.name).sort()).toEqual(Object.keys(REFUSED).sort());
  });

  it.each(honoured)('honours $name: logits within 1e-4 of PyTorch float64, read to the host and uploaded as read', async (v) => {
    const path = variantDir(v);
    const read = modelFromCheckpoint(await loadCheckpoint(path), { dropout: 0 }).model;
    expect(await worstError(read, v.logits)).toBeLessThan(1e-4);
    read.dispose();
    const { model } = await loadCheckpointModel(path, { dropout: 0 });
    expect(await worstError(model, v.logits)).toBeLessThan(1e-4);
    model.dispose();
  });

  it.each(refused)('refuses $name in one line naming the field and its value', async (v) => {
    const path = variantDir(v);
    const message = REFUSED[v.name]!;
    await expect(loadCheckpoint(path)).rejects.toThrow(message);
    const live = device().memory().liveBytes;
    await expect(loadCheckpointModel(path)).rejects.toThrow(message);
    expect(device().memory().liveBytes).toBe(live);
  });

  it.each([
    { name: 'n_inner 16', written: { n_embd: 8, n_inner: 16, layer_norm_epsilon: 1e-5 } },
    { name: 'layer_norm_epsilon 1e-3', written: { n_inner: null, layer_norm_epsilon: 1e-3 } },
  ])('writes $name back: gpt export of such a model, and our checkpoint of it, load with the same logits', async ({ name, written }) => {
    const v = fixture.variants.find((x) => x.name === name)!;
    const { model, tokenizer } = await loadCheckpointModel(variantDir(v));
    const exported = join(dir, `${v.name.replace(/\W+/g, '-')}-exported`);
    await saveHFModel(exported, model, tokenizer);
    const ours = join(dir, `${v.name.replace(/\W+/g, '-')}-ours`);
    await saveCheckpoint(ours, model, tokenizer);
    model.dispose();
    expect(JSON.parse(readFileSync(join(exported, 'config.json'), 'utf8'))).toMatchObject(written);
    for (const path of [exported, ours]) {
      const back = modelFromCheckpoint(await loadCheckpoint(path), { dropout: 0 }).model;
      expect(await worstError(back, v.logits)).toBeLessThan(1e-4);
      back.dispose();
    }
  });

  it("layerNormEps: GPTConfig refuses one no kernel takes; nanoGPT's layout, whose LayerNorm's is 1e-5, refuses another", () => {
    const cfg: GPTConfig = { vocabSize: 260, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 8, dropout: 0, bias: true };
    for (const eps of [0, -1, 1e-50, Infinity, '1e-5']) {
      expect(() => validateConfig({ ...cfg, layerNormEps: eps } as GPTConfig)).toThrow(/^GPT config: layerNormEps must be a number > 0 within float32's range \(or absent: 1e-5\), got /);
    }
    expect(nanoGptLayoutProblem({ ...cfg, layerNormEps: 1e-3 })).toBe("nanoGPT's LayerNorm's epsilon is 1e-5, and this model's is 0.001");
    expect(nanoGptLayoutProblem({ ...cfg, layerNormEps: 1e-5 })).toBeNull();
  });

  it("cuts a vocabulary padded past the tokenizer's (added tokens kept) to it, with a note, wherever the directory is read", async () => {
    const path = variantDir(fixture.variants.find((v) => v.weights === 'padded')!);
    const note = 'config.json: vocab_size 264 is 2 more than the tokenizer\'s 262 tokens (padding: no text encodes to those ids); the 2 rows past them are dropped';
    const { result: ckpt, warnings } = await withWarnings(() => loadCheckpoint(path));
    expect(warnings).toEqual([`${path}/${note}`]);
    expect(ckpt.meta.model.vocabSize).toBe(262);
    expect(ckpt.weights.get('wte.weight')!.shape).toEqual([262, 8]);
    const { result: uploaded, warnings: again } = await withWarnings(() => loadCheckpointModel(path));
    const { model, tokenizer } = uploaded;
    expect([model.config.vocabSize, tokenizer.vocabSize, tokenizer.decode([261]), again]).toEqual([262, 262, '<|bot|>', [`${path}/${note}`]]);
    model.dispose();
    // gpt info and gpt sample's header, and gpt serve's converted file, say what the load makes
    const header = await readCheckpointHeader(path);
    expect([header.meta.model.vocabSize, header.loadNote]).toEqual([262, note]);
    expect(describeCheckpoint(path, header).parameters).toMatchObject({ matches: true, problem: null });
    const sampled = await gpt('sample', '--init-from', path, '--start', 'the', '--max-new-tokens', '40', '--seed', '3');
    expect([sampled.code, sampled.err]).toEqual([0, expect.stringContaining(note)]);
    const served = await openHFCheckpointFile(path);
    try {
      const bytes = new Uint8Array(served.size);
      let at = 0;
      for (const part of served.parts) {
        bytes.set(await part.bytes(), at);
        at += part.size;
      }
      const ckpt = decodeCheckpoint(bytes);
      expect(ckpt.meta.model.vocabSize).toBe(262);
      expect(ckpt.weights.get('wte.weight')).toEqual((await loadCheckpoint(path)).weights.get('wte.weight'));
    } finally {
      await served.close();
    }
    // the page's Open of the directory's files says it on the model's line
    const session = new Session();
    const text = (file: string) => readFileSync(join(path, file), 'utf8');
    const bin = { file: 'pytorch_model.bin', source: bytesSource(new Uint8Array(readFileSync(join(path, 'pytorch_model.bin')))) };
    const summary = await session.loadHF({ config: text('config.json'), tokenizer: text('tokenizer.json'), weights: [bin] }, 'padded');
    expect([summary.vocabSize, summary.note]).toEqual([262, note]);
    session.model!.dispose();
  });

  it('refuses the cut where the tokenizer is vocab.json + merges.txt: the rows past it may be added tokens (added_tokens.json), which are not read', async () => {
    const path = variantDir(fixture.variants.find((v) => v.weights === 'padded')!);
    rmSync(join(path, 'tokenizer.json'));
    writeVocabFiles(path, miniGpt2Tokenizer());
    writeFileSync(join(path, 'added_tokens.json'), JSON.stringify(Object.fromEntries(ADDED.map((t, i) => [t, 260 + i]))));
    const message = /: the tokenizer has 260 tokens, config\.json says vocab_size 264, and vocab\.json \+ merges\.txt list no added tokens that may be the rows past them: save the tokenizer as tokenizer\.json \(transformers' AutoTokenizer\.from_pretrained\(DIR\)\.save_pretrained\(DIR\)\)$/;
    await expect(loadCheckpoint(path)).rejects.toThrow(message);
    await expect(loadCheckpointModel(path)).rejects.toThrow(message);
    await expect(readCheckpointHeader(path)).rejects.toThrow(message);
    await expect(openHFCheckpointFile(path)).rejects.toThrow(message); // gpt serve's
  });
});
