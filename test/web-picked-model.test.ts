// The page's file dialog without a browser (src/web/picked-model.ts; Files in Node as in the
// browser): which files picked together make a model (pickModelFiles, by name: any case, a
// one-line error saying what to pick otherwise), and a Hugging Face model's pick opened
// (openPickedModel): a sharded model's config.json + model.safetensors.index.json + its shards
// (or pytorch_model.bin.index.json + its .bin shards) loads in the page's Session with the logits
// of the same model picked as one model.safetensors, bit for bit (and float64 GPT-2's within
// 1e-4); a shard the index names that the pick lacks, an index without its shards, shards without
// their index, a weights file the index does not name: one line each, before any weights are read,
// and before the page asks to replace a model whose training steps are not saved.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openPickedModel, pickModelFiles } from '../src/web/picked-model.js';
import { Session } from '../src/web/session.js';
import { tempDir } from './cli-helpers.js';
import { setupDevice } from './helpers.js';
import { gpt2Logits, miniGpt2Tokenizer, randomGPT2, writeGPT2Dir } from './hf-reference.js';
import { torchSave, type TorchValue } from './torch-writer.js';

const WHAT = /: open a checkpoint \(one \.safetensors file alone\), nanoGPT's ckpt\.pt \(with its meta\.pkl, or GPT-2's vocab\.json and merges\.txt\), or a Hugging Face GPT-2 model's config\.json, model\.safetensors \(or pytorch_model\.bin, or a sharded model's index with all its shards\) and tokenizer\.json \(or vocab\.json and merges\.txt\) together$/;

describe('pickModelFiles', () => {
  const shards = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  it.each([
    [['gpt-step500.safetensors'], { checkpoint: 'gpt-step500.safetensors' }],
    [['README.md', 'config.json', 'model.safetensors', 'vocab.json', 'tokenizer.json'], { config: 'config.json', weights: ['model.safetensors'], tokenizer: 'tokenizer.json' }],
    [['config.json', 'model.safetensors'], { config: 'config.json', weights: ['model.safetensors'] }],
    // a save with GPT-2's own tokenizer pair instead of tokenizer.json (decodeHF reads either)
    [['config.json', 'merges.txt', 'model.safetensors', 'vocab.json'], { config: 'config.json', weights: ['model.safetensors'], vocab: 'vocab.json', merges: 'merges.txt' }],
    // file systems that ignore case may show other cases: the names are kept as picked
    [['CONFIG.JSON', 'Model.SafeTensors', 'Tokenizer.json'], { config: 'CONFIG.JSON', weights: ['Model.SafeTensors'], tokenizer: 'Tokenizer.json' }],
    // torch.save's weights in place of model.safetensors
    [['config.json', 'pytorch_model.bin', 'tokenizer.json'], { config: 'config.json', weights: ['pytorch_model.bin'], tokenizer: 'tokenizer.json' }],
    // a sharded model: its index and the weights files picked with it (openPickedModel checks them against it)
    [['config.json', 'model.safetensors.index.json', ...shards, 'tokenizer.json'], { config: 'config.json', index: 'model.safetensors.index.json', weights: shards, tokenizer: 'tokenizer.json' }],
    [['config.json', 'pytorch_model.bin.index.json', 'pytorch_model-00001-of-00002.bin'], { config: 'config.json', index: 'pytorch_model.bin.index.json', weights: ['pytorch_model-00001-of-00002.bin'] }],
    [['config.json', 'model.safetensors.index.json'], { config: 'config.json', index: 'model.safetensors.index.json', weights: [] }],
    // nanoGPT's ckpt.pt, alone or with its tokenizer's files: meta.pkl, GPT-2's pair
    [['ckpt.pt'], { nanogpt: 'ckpt.pt' }],
    [['META.PKL', 'ckpt.pt', 'notes.txt'], { nanogpt: 'ckpt.pt', meta: 'META.PKL' }],
    [['merges.txt', 'ckpt.pt', 'vocab.json'], { nanogpt: 'ckpt.pt', vocab: 'vocab.json', merges: 'merges.txt' }],
  ])('%j -> %j', (names, want) => expect(pickModelFiles(names)).toEqual(want));

  it.each([
    [[], /^no file picked/],
    [['a.safetensors', 'b.safetensors'], /^several weights files picked \(a\.safetensors, b\.safetensors\)/],
    [['config.json', 'model.safetensors', 'model-2.safetensors', 'tokenizer.json'], /^several weights files picked/],
    [['config.json', 'model.safetensors', 'pytorch_model.bin', 'tokenizer.json'], /^several weights files picked \(model\.safetensors, pytorch_model\.bin\)/],
    [['ckpt.pt', 'model.safetensors'], /^several weights files picked \(model\.safetensors, ckpt\.pt\)/],
    [['README.md', 'config.json'], /^config\.json without its weights \(model\.safetensors or pytorch_model\.bin\)/],
    // a Hugging Face model's torch weights alone are not a checkpoint
    [['pytorch_model.bin'], /^no config\.json among "pytorch_model\.bin"/],
    [['meta.pkl'], /^no model in "meta\.pkl"/],
    [['tokenizer.json'], /^no model in "tokenizer\.json"/],
    [['model.safetensors', 'tokenizer.json'], /^no config\.json among "model\.safetensors", "tokenizer\.json"/],
    [['gpt.safetensors', 'notes.txt'], /^no config\.json among "gpt\.safetensors", "notes\.txt"/],
    [['model.safetensors.index.json', ...shards], /^no config\.json among "model\.safetensors\.index\.json", "model-00001-of-00002\.safetensors", "model-00002-of-00002\.safetensors"/],
  ])('%j is refused in one line saying what to pick', (names, message) => {
    expect(() => pickModelFiles(names)).toThrow(message);
    expect(() => pickModelFiles(names)).toThrow(WHAT);
  });

  it.each([
    [['config.json', ...shards, 'tokenizer.json'], 'model-00001-of-00002.safetensors, model-00002-of-00002.safetensors', 'model.safetensors.index.json'],
    [['config.json', 'model-00002-of-00002.safetensors'], 'model-00002-of-00002.safetensors', 'model.safetensors.index.json'],
    [['config.json', 'pytorch_model-00001-of-00002.bin', 'pytorch_model-00002-of-00002.bin'], 'pytorch_model-00001-of-00002.bin, pytorch_model-00002-of-00002.bin', 'pytorch_model.bin.index.json'],
    [shards, shards.join(', '), 'model.safetensors.index.json'],
  ])('shards without their index %j: one line naming them and the index to pick', (names, listed, index) => {
    expect(() => pickModelFiles(names)).toThrow(`shards picked without their index (${listed}): pick ${index} with them (a sharded model's config.json, index, every shard and tokenizer open together)`);
  });
});

/** A File whose bytes may not be read: a pick refused from names and small files alone never touches its weights. */
class Unread extends File {
  override slice(): Blob {
    throw new Error(`${this.name} was read`);
  }
}

describe('openPickedModel of a Hugging Face GPT-2 model', () => {
  const params = randomGPT2(5);
  const prompt = 'the model reads';
  /** A model directory as writeGPT2Dir writes it with `opts`, its files by name. */
  const written = (name: string, opts: Parameters<typeof writeGPT2Dir>[2]) => {
    const dir = tempDir(`web-pick-${name}`);
    writeGPT2Dir(dir, params, opts);
    return Object.fromEntries(readdirSync(dir).map((f) => [f, new Uint8Array(readFileSync(join(dir, f)))]));
  };
  const single = written('single', { prefix: true, head: false });
  const sharded = written('sharded', { prefix: true, head: false, shards: 3 });
  const shardNames = Object.keys(sharded).filter((f) => f.endsWith('.safetensors')).sort();
  // torch.save's: pytorch_model.bin, and the same state dict in 2 shards with pytorch_model.bin.index.json
  const state = new Map([...params].map(([name, t]) => [`transformer.${name}`, t] as [string, TorchValue]));
  const names = [...state.keys()];
  const torchShard = (i: number) => `pytorch_model-0000${i + 1}-of-00002.bin`;
  const half = (i: number) => new Map(names.filter((_, j) => j % 2 === i).map((n) => [n, state.get(n)!]));
  const torchIndex = JSON.stringify({ metadata: {}, weight_map: Object.fromEntries(names.map((n, j) => [n, torchShard(j % 2)])) });
  const { 'model.safetensors': _, ...noWeights } = single;
  const torchSingle = { ...noWeights, 'pytorch_model.bin': torchSave(state) };
  const torchSharded = { ...noWeights, [torchShard(0)]: torchSave(half(0)), [torchShard(1)]: torchSave(half(1)), 'pytorch_model.bin.index.json': new TextEncoder().encode(torchIndex) };

  /** `files`' named ones as the file input gives them (weights files in `unread`: Unread). */
  const pick = (files: Record<string, Uint8Array>, chosen = Object.keys(files), unread = false) =>
    chosen.map((name) => {
      const bytes = [files[name]! as Uint8Array<ArrayBuffer>]; // none is a SharedArrayBuffer's
      return unread && /\.(safetensors|bin)$/.test(name) ? new Unread(bytes, name) : new File(bytes, name);
    });
  /** What the page's pick does: openPickedModel, then the Hugging Face model it opened loaded in `session`. */
  async function pickAndLoad(session: Session, files: File[]) {
    const opened = await openPickedModel(files);
    if (!('hf' in opened)) throw new Error('not a Hugging Face model');
    await session.loadHF(opened.hf, opened.name);
    return opened.hf;
  }
  const refusal = (files: File[]) =>
    openPickedModel(files).then(
      () => 'opened',
      (e: Error) => e.message,
    );

  let want: Float32Array; // the logits of the model picked as one model.safetensors
  beforeAll(async () => {
    await setupDevice();
    const session = new Session();
    await pickAndLoad(session, pick(single));
    want = await session.logits(prompt);
    session.dispose();
    // float64 GPT-2 on the same weights (an independent forward, no conversion shared with the loader)
    const f64 = gpt2Logits(params, miniGpt2Tokenizer().encode(prompt)).at(-1)!;
    expect(Math.max(...f64.map((w, i) => Math.abs(want[i]! - w)))).toBeLessThan(1e-4);
  });

  it.each([
    ['3 safetensors shards with model.safetensors.index.json', () => sharded, shardNames],
    ['pytorch_model.bin', () => torchSingle, ['pytorch_model.bin']],
    ['2 torch.save shards with pytorch_model.bin.index.json', () => torchSharded, [torchShard(0), torchShard(1)]],
  ])("%s: the logits of model.safetensors bit for bit, every weights file read", async (_, files, weightsFiles) => {
    const session = new Session();
    const hf = await pickAndLoad(session, pick(files()));
    expect(hf.weights.map((w) => w.file)).toEqual(weightsFiles);
    expect(Array.from(await session.logits(prompt))).toEqual(Array.from(want));
    session.dispose();
  });

  it('of shards picked in any order and case: read in the order the index names them, each from the file picked under its name', async () => {
    const upper = Object.fromEntries(Object.entries(sharded).map(([name, bytes]) => [name.endsWith('.safetensors') ? name.toUpperCase() : name, bytes]));
    const session = new Session();
    const hf = await pickAndLoad(session, pick(upper, Object.keys(upper).reverse()));
    expect(hf.weights.map((w) => w.file)).toEqual(shardNames);
    expect(hf.index?.file).toBe('model.safetensors.index.json');
    expect(Array.from(await session.logits(prompt))).toEqual(Array.from(want));
    session.dispose();
  });

  it('refuses in one line, before any weights are read: a shard the index names and the pick lacks, an index without its shards, a weights file the index does not name, a damaged index', async () => {
    const all = Object.keys(sharded);
    const without = (...left: string[]) => all.filter((f) => !left.includes(f));
    expect(await refusal(pick(sharded, without(shardNames[1]!), true))).toBe(`${shardNames[1]} not picked: a shard model.safetensors.index.json names (1 of its 3 shards missing); pick all 3 shards together with it`);
    expect(await refusal(pick(sharded, without(shardNames[0]!, shardNames[2]!), true))).toBe(`${shardNames[0]} not picked: a shard model.safetensors.index.json names (2 of its 3 shards missing); pick all 3 shards together with it`);
    expect(await refusal(pick(sharded, without(...shardNames), true))).toBe(`model.safetensors.index.json picked without its shards: it names 3 shards (${shardNames.join(', ')}); pick them all together with it`);
    expect(await refusal(pick(torchSharded, ['config.json', 'pytorch_model.bin.index.json', 'tokenizer.json'], true))).toBe(`pytorch_model.bin.index.json picked without its shards: it names 2 shards (${torchShard(0)}, ${torchShard(1)}); pick them all together with it`);
    // model.safetensors picked too: the index's model is read, and the lone file is not one of its weights
    expect(await refusal(pick({ ...sharded, 'model.safetensors': single['model.safetensors']! }, undefined, true))).toBe(`model.safetensors picked with model.safetensors.index.json, which does not name it: pick the shards it names (${shardNames.join(', ')}) and no other weights`);
    expect(await refusal(pick({ ...sharded, 'model.safetensors.index.json': new TextEncoder().encode('{"weight_map": {"wte.weight": "../x"}}') }, undefined, true))).toBe(
      'Hugging Face model/model.safetensors.index.json: weight_map["wte.weight"] must name a file in the model\'s directory, got "../x"',
    );
  });

  it("a pick refused before the page asks to replace a model whose training steps are not saved; one that opens is asked about before its weights are read", async () => {
    const asked: number[] = [];
    let answer = false;
    const session = new Session((step) => (asked.push(step), answer));
    const text = 'some english text.\n'.repeat(20);
    session.newModel(text, { nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16 }, { batchSize: 2 });
    await session.trainStep(session.trainerFor(text));
    const logits = Array.from(await session.logits('some'));
    await expect(openPickedModel(pick(sharded, Object.keys(sharded).filter((f) => f !== shardNames[2]), true))).rejects.toThrow(/not picked/);
    expect(asked, 'a refused pick asks nothing').toEqual([]);
    // declined: nothing read of the weights (Unread), the model and its run kept
    await expect(pickAndLoad(session, pick(sharded, undefined, true))).rejects.toThrow(/^the model on the page is kept/);
    expect(asked).toEqual([1]);
    expect([session.source, session.summary().step, session.hasUnsavedWork()]).toEqual(['new model', 1, true]);
    expect(Array.from(await session.logits('some'))).toEqual(logits);
    answer = true;
    await pickAndLoad(session, pick(sharded));
    expect(asked).toEqual([1, 1]);
    expect(session.source).toBe('Hugging Face model');
    expect(Array.from(await session.logits(prompt))).toEqual(Array.from(want));
    session.dispose();
  });
});

