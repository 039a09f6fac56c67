// The demo page's model loading without a browser (src/web/session.ts is platform-free): a Hugging
// Face GPT-2 model's files give GPT-2's logits (an independent float64 forward), a failed load
// leaves the model before it loaded and usable, nothing left on the GPU, and a replacement that
// would lose training steps not saved is asked about only once every check before a read passed.
// (Which files picked together make a model: test/web-picked-model.test.ts.)
// Also: prompts with characters the tokenizer lacks, saving a loaded model, a diverged run, and the
// loss chart of a long run (drawn on a stand-in canvas).
// The page's file input itself is driven in test/browser.test.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { device } from '../src/device/device.js';
import { decodeCheckpoint, encodeCheckpoint, modelFromCheckpoint, restoreOptimizer, type Checkpoint } from '../src/gpt/checkpoint.js';
import type { MomentTensors } from '../src/gpt/checkpoint-upload.js';
import { readHF } from '../src/gpt/hf/index.js';
import { readHFModel } from '../src/gpt/hf/upload.js';
import { isMaskBuffer } from '../src/gpt/hf/weights.js';
import { GPT } from '../src/gpt/model.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { TRAIN_DEFAULTS, Trainer } from '../src/gpt/trainer.js';
import { layoutPendingSafetensors, parseSafetensors, serializeSafetensors, type SafetensorsTensor } from '../src/io/safetensors.js';
import { bytesSource, type ByteSource } from '../src/io/safetensors-source.js';
import { setProfile } from '../src/kernels/profile.js';
import { scope, tensor } from '../src/index.js';
import { AdamW } from '../src/optim/adamw.js';
import { LossChart } from '../src/web/chart.js';
import { loadReads, READ_AHEAD_BYTES, ReplaceDeclined, Session } from '../src/web/session.js';
import { tempDir } from './cli-helpers.js';
import { joinPieces, setupDevice } from './helpers.js';
import { gpt2Config, gpt2Logits, miniGpt2Tokenizer, randomGPT2, writeGPT2Dir } from './hf-reference.js';

beforeAll(setupDevice);

/** Frees what a session holds on the GPU. */
const release = (session: Session) => session.dispose();

/** Safetensors `bytes` less the tensor `name`. */
/**
 * A checkpoint saved in Node: a 1-layer GPT trained `steps` steps on `text` (its character
 * vocabulary, the first 500 ids to train on), with its optimizer moments, run settings and state.
 */
async function trainedCheckpoint(text: string, steps: number, bestVal?: number): Promise<Uint8Array> {
  const tokenizer = CharTokenizer.train(text);
  const ids = Int32Array.from(tokenizer.encode(text));
  const cfg = { ...TRAIN_DEFAULTS, nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16, batchSize: 2, evalIters: 1 };
  const trainer = new Trainer(cfg, { train: ids.slice(0, 500), val: ids.slice(500), vocabSize: tokenizer.vocabSize });
  try {
    for (let i = 0; i < steps; i++) await trainer.trainStep(false);
    return await encodeCheckpoint(trainer.model, tokenizer, { optimizer: trainer.optimizer, train: cfg, trainer: await trainer.state(), ...(bestVal !== undefined && { bestVal }) });
  } finally {
    trainer.dispose();
    trainer.model.dispose();
  }
}

/**
 * A safetensors file of tensors of `shapes` (float32) and `metadata` whose header alone can be read:
 * a read past it fails. `furthest`: the end of the furthest read asked for; `head`: the header's bytes.
 */
function headerOnly(shapes: [string, number[]][], metadata: Record<string, string>): ByteSource & { furthest: number; head: number } {
  const never = () => Promise.reject(new Error('no tensor is read'));
  const { head, size } = layoutPendingSafetensors(shapes.map(([name, shape]) => ({ name, dtype: 'F32', shape, read: never })), metadata);
  const file = {
    size,
    head: head.length,
    furthest: 0,
    read: async (offset: number, length: number) => {
      file.furthest = Math.max(file.furthest, offset + length);
      if (offset + length > head.length) throw new Error(`read past the header: ${length} bytes at ${offset}`);
      return head.slice(offset, offset + length);
    },
  };
  return file;
}

function withoutTensor(bytes: Uint8Array, name: string): Uint8Array {
  const { tensors, metadata } = parseSafetensors(bytes);
  delete tensors[name];
  return serializeSafetensors(tensors, metadata);
}

describe('Session loads a Hugging Face GPT-2 model', () => {
  const dir = tempDir('web-session');
  const params = randomGPT2(11);
  writeGPT2Dir(dir, params, { prefix: false, head: true });
  const file = (name: string) => readFileSync(join(dir, name));
  const weights = new Uint8Array(file('model.safetensors'));
  const files = { config: file('config.json').toString('utf8'), weights: [{ file: 'model.safetensors', source: bytesSource(weights) }], tokenizer: file('tokenizer.json').toString('utf8') };
  const prompt = 'the model reads';

  it("of a model past any adapter's memory is refused from its headers, its weights unread (a hub's gigabytes were read over the network to end in the refusal)", async () => {
    const [L, C] = [1000, 12288]; // 7 TB of float32 weights, past 1 TiB (the bound of an adapter whose memory WebGPU does not tell)
    const { V, T } = { V: 260, T: 16 };
    const shapes: [string, number[]][] = [['wte.weight', [V, C]], ['wpe.weight', [T, C]]];
    for (let i = 0; i < L; i++) {
      for (const [name, shape] of [['ln_1', [C]], ['attn.c_attn', [C, 3 * C]], ['attn.c_proj', [C, C]], ['ln_2', [C]], ['mlp.c_fc', [C, 4 * C]], ['mlp.c_proj', [4 * C, C]]] as const) {
        shapes.push([`h.${i}.${name}.weight`, [...shape]], [`h.${i}.${name}.bias`, [shape.at(-1)!]]);
      }
    }
    shapes.push(['ln_f.weight', [C]], ['ln_f.bias', [C]]);
    const file = headerOnly(shapes, { format: 'pt' });
    const session = new Session();
    const config = JSON.stringify(gpt2Config({ vocab_size: V, n_positions: T, n_ctx: T, n_layer: L, n_embd: C, n_head: 96 }));
    await expect(session.loadHF({ ...files, config, weights: [{ file: 'model.safetensors', source: file }] }, 'org/huge')).rejects.toThrow(
      /^org\/huge: the model does not fit this adapter: its weights alone take [\d.]+ TiB \([\d,]+ parameters: n-layer 1000, n-embd 12288, vocab 260\), more than /,
    );
    expect(file.furthest, 'read no further than the header').toBeLessThanOrEqual(file.head);
  });

  it("gives GPT-2's logits; failed loads keep it, usable, and leave nothing on the GPU", async () => {
    const session = new Session();
    expect((await session.loadHF(files, 'Hugging Face model')).source).toBe('Hugging Face model');
    const logits = await session.logits(prompt);
    const want = gpt2Logits(params, miniGpt2Tokenizer().encode(prompt)).at(-1)!;
    expect(Math.max(...want.map((w, i) => Math.abs(logits[i]! - w)))).toBeLessThan(1e-4);

    const ours = await joinPieces(session.save()); // this model as a webgpu-gpt checkpoint
    const live = device().memory().liveBytes;
    const failures: [() => Promise<unknown>, RegExp][] = [
      [() => session.loadHF({ ...files, config: '{' }, 'bad'), /^bad\/config\.json: not valid JSON/],
      [() => session.loadHF({ config: files.config, weights: files.weights }, 'no tokenizer'), /^no tokenizer: no tokenizer\.json/],
      // weights of another shape than config.json says: refused before a model is made
      [() => session.loadHF({ ...files, config: JSON.stringify(gpt2Config({ n_embd: 48 })) }, 'wider'), /^wider\/config\.json: .*model\.safetensors.*wte\.weight.*\[260, 24\].*n_embd 48$/],
      // a tensor missing: refused after the new model was made (it is disposed)
      [() => session.loadHF({ ...files, weights: [{ file: 'model.safetensors', source: bytesSource(withoutTensor(weights, 'ln_f.bias')) }] }, 'cut'), /^cut: loadStateDict: missing ln_f\.bias$/],
      // and one of ours picked with a config.json (GPT-2's names without the prefix, most of them)
      [() => session.loadHF({ ...files, weights: [{ file: 'model.safetensors', source: bytesSource(ours) }] }, 'picked'), /^picked\/model\.safetensors: a webgpu-gpt checkpoint, not a Hugging Face model's weights: load it on its own, without config\.json$/],
      // a lone Hugging Face model.safetensors opened as a checkpoint says what it needs
      [() => session.load(files.weights[0]!.source, 'model.safetensors'), /^model\.safetensors: safetensors file without webgpu-gpt metadata .*; PyTorch weights, such as a Hugging Face GPT-2 model's model\.safetensors, load together with the model's config\.json and tokenizer\.json$/],
    ];
    for (const [load, message] of failures) {
      await expect(load()).rejects.toThrow(message);
      expect(session.source).toBe('Hugging Face model');
      expect(device().memory().liveBytes).toBe(live);
    }
    expect(Array.from(await session.logits(prompt))).toEqual(Array.from(logits));
    session.model!.dispose();
  });

  it("uploads each weight before the next is read, the model readHF's; files readHF refuses give its error, leaving nothing on the GPU", async () => {
    const held: WeakRef<ArrayBuffer>[] = [];
    let mostHeld = 0;
    const gc = (globalThis as { gc?: () => void }).gc!;
    const watched = {
      size: weights.length,
      read: async (offset: number, length: number) => {
        await new Promise((r) => setTimeout(r, 0)); // a WeakRef's target is kept until the task that made it ends
        gc();
        mostHeld = Math.max(mostHeld, held.filter((r) => r.deref()).length);
        const out = weights.slice(offset, offset + length);
        if (length > 64) held.push(new WeakRef(out.buffer)); // a weight, not the 8-byte length (nor a bias of 16 floats)
        return out;
      },
    };
    const values = async (m: GPT) => Promise.all([...m.namedParameters()].map(async ([name, p]) => [name, Array.from(await p.toArray())]));
    const { model, ckpt } = await readHFModel({ ...files, weights: [{ file: 'model.safetensors', source: watched }] }, 'hf');
    const { model: want } = modelFromCheckpoint(await readHF(files, 'hf'));
    expect(held.length).toBeGreaterThan(8);
    expect(mostHeld, 'weights read before, still on the host').toBeLessThanOrEqual(2);
    expect(await values(model)).toEqual(await values(want));
    expect(ckpt.meta).toEqual((await readHF(files, 'hf')).meta);
    model.dispose();
    want.dispose();

    const edited = (edit: (t: Record<string, SafetensorsTensor>) => void) => {
      const { tensors, metadata } = parseSafetensors(weights);
      edit(tensors);
      return bytesSource(serializeSafetensors(tensors, metadata));
    };
    const wte = parseSafetensors(weights).tensors['wte.weight']!;
    const damaged = [
      edited((t) => void (t['lm_head.weight'] = { ...wte, data: wte.data.map((x, i) => (i === 5 ? x + 1 : x)) as Float32Array })),
      edited((t) => void (t['lm_head.weight'] = { ...wte, shape: [...wte.shape].reverse() })),
      edited((t) => void (t['h.0.mlp.c_fc.weight']!.data[3] = NaN)),
      edited((t) => void (t['transformer.ln_f.bias'] = t['ln_f.bias']!)),
      edited((t) => void (t['h.0.ln_1.bias'] = { dtype: 'I32', shape: t['h.0.ln_1.bias']!.shape, data: new Int32Array(t['h.0.ln_1.bias']!.data.length) })),
      edited((t) => void (t['h.0.attn.c_attn.weight'] = { ...t['h.0.attn.c_attn.weight']!, shape: [...t['h.0.attn.c_attn.weight']!.shape].reverse() })),
    ];
    const live = device().memory().liveBytes;
    for (const [i, weights] of damaged.entries()) {
      const error = (load: () => Promise<{ model: GPT }>) => load().then(({ model }) => (model.dispose(), 'loaded'), (e: Error) => e.message);
      const want = await error(async () => modelFromCheckpoint(await readHF({ ...files, weights: [{ file: 'model.safetensors', source: weights }] }, 'hf')));
      expect(want, `file ${i}`).not.toBe('loaded');
      expect(await error(() => readHFModel({ ...files, weights: [{ file: 'model.safetensors', source: weights }] }, 'hf')), `file ${i}`).toBe(want);
      expect(device().memory().liveBytes, `file ${i}`).toBe(live);
    }
  });

  it("gives readHF's error for files it refuses from one read, a tensor at a time (a refused gpt2-xl was read again whole: 6 GB in the tab); files only loading refuses are read again", async () => {
    const { tensors, metadata } = parseSafetensors(weights);
    const variant = (edit: (t: Record<string, SafetensorsTensor>, m: Record<string, string>) => void) => {
      const [t, m] = [structuredClone(tensors), { ...metadata }];
      edit(t, m);
      return serializeSafetensors(t, m);
    };
    const wte = tensors['wte.weight']!;
    const cases: [string, Uint8Array, string?][] = [
      ['head differs', variant((t) => void (t['lm_head.weight'] = { ...wte, data: wte.data.map((x, i) => (i === 5 ? x + 1 : x)) as Float32Array }))],
      ['NaN, and a config.json of other widths', variant((t) => void (t['h.0.mlp.c_fc.weight']!.data[3] = NaN)), JSON.stringify(gpt2Config({ n_embd: 48 }))],
      ['a name twice', variant((t) => void (t['transformer.ln_f.bias'] = t['ln_f.bias']!))],
      ['a dtype', variant((t) => void (t['h.0.ln_1.bias'] = { dtype: 'I32', shape: t['h.0.ln_1.bias']!.shape, data: new Int32Array(t['h.0.ln_1.bias']!.data.length) }))],
      ['a config.json of other widths', weights, JSON.stringify(gpt2Config({ n_embd: 48 }))],
      ['another vocabulary size', weights, JSON.stringify(gpt2Config({ vocab_size: 300 }))],
      ['ours', variant((_, m) => void (m.webgpu_gpt = '{}'))],
      // no model to compare the head in (the config refused first from the headers): the embedding kept on the host for it
      ['head differs, and a config.json of other widths', variant((t) => void (t['lm_head.weight'] = { ...wte, data: wte.data.map((x, i) => (i === 5 ? x + 1 : x)) as Float32Array })), JSON.stringify(gpt2Config({ n_embd: 48 }))],
      // two tensors refused: the first one's error, as readHF's
      ['NaN, and a dtype', variant((t) => {
        t['h.0.mlp.c_fc.weight']!.data[3] = NaN;
        t['h.0.ln_1.bias'] = { dtype: 'I32', shape: t['h.0.ln_1.bias']!.shape, data: new Int32Array(t['h.0.ln_1.bias']!.data.length) };
      })],
    ];
    const live = device().memory().liveBytes;
    const error = (load: () => Promise<{ model: GPT }>) => load().then(({ model }) => (model.dispose(), 'loaded'), (e: Error) => e.message);
    const onePass = (bytes: Uint8Array) => 2 + Object.keys(parseSafetensors(bytes).tensors).filter((name) => !isMaskBuffer(name)).length;
    for (const [what, bytes, config = files.config] of cases) {
      let reads = 0;
      const counted = { size: bytes.length, read: async (offset: number, length: number) => (reads++, bytes.slice(offset, offset + length)) };
      const want = await error(async () => modelFromCheckpoint(await readHF({ ...files, config, weights: [{ file: 'model.safetensors', source: bytesSource(bytes) }] }, 'hf')));
      expect(want, what).not.toBe('loaded');
      expect(await error(() => readHFModel({ ...files, config, weights: [{ file: 'model.safetensors', source: counted }] }, 'hf')), what).toBe(want);
      expect(reads, `${what}: the header's two reads and one per tensor (not the causal-mask buffers)`).toBe(onePass(bytes));
      expect(device().memory().liveBytes, what).toBe(live);
    }
    // a tensor missing: loadStateDict's refusal, whose error comes from reading the file again its way
    const cut = withoutTensor(weights, 'ln_f.bias');
    let reads = 0;
    const counted = { size: cut.length, read: async (offset: number, length: number) => (reads++, cut.slice(offset, offset + length)) };
    await expect(readHFModel({ ...files, weights: [{ file: 'model.safetensors', source: counted }] }, 'cut')).rejects.toThrow(/^cut: loadStateDict: missing ln_f\.bias$/);
    expect(reads).toBe(2 * onePass(cut));
    expect(device().memory().liveBytes).toBe(live);
  });
});

describe('Session prompts', () => {
  // a character model whose text has no newline, "é" or "Z"
  const text = 'hello world, a small text on one line. '.repeat(20);
  const session = new Session();
  const greedy = async (prompt: string) => {
    let out = '';
    for await (const piece of session.generate(prompt, { maxNewTokens: 6, temperature: 0 })) out += piece.text;
    return out;
  };
  afterAll(() => release(session));

  it('leaves characters the tokenizer does not know out of the prompt (as gpt sample does) and says which', async () => {
    session.newModel(text, { nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16 }, { batchSize: 2 });
    const want = await greedy('hello wo');
    expect(session.promptNote).toBe('');
    expect(await greedy('Zhéllo wo')).toBe(want);
    expect(session.promptNote).toBe('2 characters the tokenizer does not know were left out: "Z" (U+005A), "é" (U+00E9)');
    expect(session.promptText).toBe('hllo wo'); // what the model continues: 'Zhéllo wo' less Z and é, for the page to show
    expect(Array.from(await session.logits('hello woé'))).toEqual(Array.from(await session.logits('hello wo')));
  });

  it('logits() and a generation at once: the one ending first leaves the model in eval for the other', async () => {
    session.newModel(text, { nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16 }, { batchSize: 2 });
    const want = await greedy('hello wo');
    const logits = session.logits('hello'); // not awaited: still reading back while the generation starts
    let out = '';
    const stream = session.generate('hello wo', { maxNewTokens: 6, temperature: 0 });
    out += (await stream.next()).value!.text;
    await logits;
    for await (const piece of { [Symbol.asyncIterator]: () => stream }) out += piece.text;
    expect(out).toBe(want);
  });

  it('refuses a prompt with nothing to start from in one line saying so', async () => {
    await expect(greedy('')).rejects.toThrow(/^the prompt is empty and this model's tokenizer has no newline to start from: type a prompt$/);
    await expect(greedy('ZZé')).rejects.toThrow(/^the prompt holds no character this model's tokenizer knows \(3 characters the tokenizer does not know were left out: "Z" \(U\+005A\) x2, "é" \(U\+00E9\)\)$/);
  });

  it('starts an empty prompt from a newline, and says that is the prompt the model continues', async () => {
    session.newModel(`${text}\n`.repeat(3), { nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16 }, { batchSize: 2 });
    expect(await greedy('')).toBe(await greedy('\n'));
    expect(session.promptText).toBe('\n');
    await greedy('');
    expect(session.promptText).toBe('\n');
  });
});

describe('Session training text', () => {
  it("too little of it that the model's tokenizer knows says which characters were left out, and not to make the block smaller: the model's is fixed", () => {
    const session = new Session();
    session.newModel('some english text.\n'.repeat(20), { nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16 }, { batchSize: 2 });
    try {
      expect(() => session.trainerFor('日本語'.repeat(100))).toThrow(
        /^the text gives 0 tokens, too few for block 16: .*; use a longer text \(\d+ tokens or more\): this model's block is fixed, a new model may have a smaller one \(300 characters the tokenizer does not know were left out: "日" \(U\+65E5\) x100, "本" \(U\+672C\) x100, "語" \(U\+8A9E\) x100\)$/,
      );
    } finally {
      release(session);
    }
  });
});

describe('Session new model', () => {
  const shape = { nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16 };
  it.each([
    ['', /^there is no text to train on: paste a text or open a text file$/],
    ['abcabc', /^the text gives 6 tokens, too few for block 16: each of its training 90% and validation 10% needs at least 17; use a longer text \(161 tokens or more\) or a smaller block$/],
  ])('from %j is refused in one line saying what to do; the model before it stays', (text, message) => {
    const session = new Session();
    session.newModel('some english text.\n'.repeat(20), shape);
    const model = session.model;
    expect(() => session.newModel(text, shape)).toThrow(message);
    expect(session.model).toBe(model);
    release(session);
  });

  it('with a setting out of its range is refused in one line naming it, as a trainer would be; the model before it stays', () => {
    const session = new Session();
    session.newModel('some english text.\n'.repeat(20), shape);
    const [model, live] = [session.model, device().memory().liveBytes];
    expect(() => session.newModel('some english text.\n'.repeat(20), shape, { batchSize: 0 })).toThrow(/^Session\.newModel: batchSize must be an integer >= 1, got 0$/);
    expect(session.model).toBe(model);
    expect(device().memory().liveBytes).toBe(live);
    release(session);
  });

  it('needs as many tokens as it says: one fewer is refused, that many train', () => {
    const session = new Session();
    const text = (n: number) => 'abcdefghij'.repeat(20).slice(0, n);
    const need = Number(/\((\d+) tokens or more\)/.exec((() => { try { session.newModel('ab', shape); } catch (e) { return (e as Error).message; } return ''; })())![1]);
    // each split needs blockSize + 1 tokens (a block and its targets): counted here apart from the code
    const fits = (n: number) => Math.floor(n * 0.9) >= 17 && n - Math.floor(n * 0.9) >= 17;
    expect(fits(need) && !fits(need - 1)).toBe(true);
    expect(() => session.newModel(text(need - 1), shape)).toThrow(/too few for block 16/);
    expect(session.newModel(text(need), shape).source).toBe('new model');
    release(session);
  });

  it("from a text of more characters than a JavaScript array holds (about 134M, in a text file the page reads: it was refused as 'Invalid array length')", async () => {
    const session = new Session();
    const text = 'ab'.repeat(75_000_000);
    const t0 = performance.now();
    session.newModel(text, shape, { batchSize: 2 });
    console.log(`Session.newModel: ${text.length.toLocaleString('en-US')} characters in ${(performance.now() - t0).toFixed(0)} ms`);
    const trainer = session.trainerFor(text);
    expect(trainer.data.train.length + trainer.data.val.length).toBe(150_000_000);
    expect(Array.from(trainer.data.val.subarray(trainer.data.val.length - 2, trainer.data.val.length))).toEqual([0, 1]); // 'a', 'b': the text's last characters
    expect(Number.isFinite(await session.trainStep(trainer))).toBe(true);
    release(session);
  });
});

describe("Session refuses a run past the adapter's buffer limits", () => {
  const text = 'some english text.\n'.repeat(20);
  const shape = { nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16 };
  const maxBuffer = () => device().info.limits.maxBufferSize!;

  it('a new model whose MLP weight is past the largest buffer, in one line naming its embd, before any of it is made: the model before it stays', () => {
    const session = new Session();
    session.newModel(text, shape);
    const [model, live] = [session.model, device().memory().liveBytes];
    // an MLP weight holds embd x 4·embd float32s: the smallest even embd whose weight is past the
    // limit (a float weight past a binding is taken a window at a time)
    const embd = 2 * Math.ceil((Math.sqrt(maxBuffer() / 16) + 1) / 2);
    expect(() => session.newModel(text, { ...shape, nEmbd: embd })).toThrow(
      new RegExp(`^the model does not fit this adapter: an MLP weight \\(n-embd ${embd} x 4·n-embd\\) takes [\\d.]+ [MG]iB, over its maxBufferSize of [\\d.]+ [MG]iB$`),
    );
    expect(session.model).toBe(model);
    expect(device().memory().liveBytes).toBe(live);
    release(session);
  });

  it('a block so large that no text could hold it: refused at once (the count of the text it needs went on for ever)', () => {
    const session = new Session();
    expect(() => session.newModel(text, { ...shape, blockSize: 2 ** 50 })).toThrow(/^the model does not fit this adapter: .*block 1125899906842624/);
    expect(session.model).toBeNull();
  });

  it('a batch for the model on the page, naming it; the trainer and its settings stay', () => {
    const session = new Session();
    session.newModel(text, shape, { batchSize: 2 });
    const trainer = session.trainerFor(text);
    // the MLP activations, batch x block 16 x 4·embd 16 float32s, past the limit
    const batch = Math.ceil(maxBuffer() / (16 * 64 * 4)) + 1;
    const refused = new RegExp(`^the model does not fit this adapter: the MLP activations \\(batch ${batch} x block 16 x 4·n-embd 16\\) takes`);
    expect(() => session.trainerFor(text, { batchSize: batch })).toThrow(refused);
    expect(() => session.trainerFor(text + 'more', { batchSize: batch })).toThrow(refused);
    expect(session.trainerFor(text)).toBe(trainer);
    expect(trainer.cfg.batchSize).toBe(2);
    release(session);
  });
});

describe('Session replacing its model', () => {
  it("gives the old one's GPU buffers back (the device's pool kept them for reuse: a replaced GPT-2's 2 GB for good)", async () => {
    const text = 'some english text for a model replaced by another.\n'.repeat(20);
    const session = new Session();
    session.newModel(text, { nLayer: 2, nHead: 2, nEmbd: 64, blockSize: 32 }, { batchSize: 4 });
    for (let i = 0; i < 2; i++) await session.trainStep(session.trainerFor(text));
    const bytes = await joinPieces(session.save());
    const trained = device().memory();
    session.newModel(text, { nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16 });
    expect(device().memory().pooledBytes, 'pooled after a new model').toBeLessThan(trained.liveBytes / 4);
    await session.load(bytesSource(bytes), 'trained.safetensors');
    session.newModel(text, { nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16 });
    expect(device().memory().pooledBytes, 'pooled after a load and a new model').toBeLessThan(trained.liveBytes / 4);
    // a file refused after its model was made and filled (a NaN in its last tensor): that model's buffers too
    const nan = bytes.slice();
    nan.set([0x00, 0x00, 0xc0, 0x7f], nan.length - 4);
    await expect(session.load(bytesSource(nan), 'nan.safetensors')).rejects.toThrow(/holds NaN/);
    expect(device().memory().pooledBytes, 'pooled after a refused load').toBeLessThan(trained.liveBytes / 4);
    release(session);
    expect(device().memory()).toMatchObject({ liveBytes: 0, pooledBytes: 0 });
  });
});

describe('Session through rounds of what the page does', () => {
  it('holds the same GPU bytes after each round of train, stop, other settings, a generation stopped, a save given up and one taken, a load and a resume', async () => {
    const text = 'some english text for rounds of training, stopping and loading.\n'.repeat(20);
    const session = new Session();
    const live: number[] = [];
    for (let round = 0; round < 3; round++) {
      session.newModel(text, { nLayer: 2, nHead: 2, nEmbd: 32, blockSize: 16 }, { batchSize: 4 });
      for (let i = 0; i < 2; i++) await session.trainStep(session.trainerFor(text));
      await session.trainerFor(text).evaluate();
      // Stop, then Resume with other fields: a setting read at each step, then one a new trainer takes
      await session.trainStep(session.trainerFor(text, { batchSize: 2, learningRate: 1e-3 }));
      await session.trainStep(session.trainerFor(text, { weightDecay: 0 }));
      const stream = session.generate('some', { maxNewTokens: 50, temperature: 1, seed: round });
      for (let i = 0; i < 3; i++) await stream.next();
      await stream.return(undefined); // Stop mid-stream
      const abandoned = session.save();
      await abandoned.next();
      await abandoned.return(undefined);
      await session.load(bytesSource(await joinPieces(session.save())), 'saved.safetensors');
      await session.trainStep(session.trainerFor(text));
      await session.trainStep(session.trainerFor(`${text}and other text`));
      live.push(device().memory().liveBytes);
    }
    expect(live[1], 'after the second round').toBe(live[0]);
    expect(live[2], 'after the third round').toBe(live[0]);
    release(session);
    expect(device().memory()).toMatchObject({ liveBytes: 0, pooledBytes: 0 });
  });
});

describe('Session training on other text', () => {
  it('while a step is in flight is refused in one line, leaving nothing on the GPU; the step ends and training goes on', async () => {
    const text = 'some english text.\n'.repeat(20);
    const session = new Session();
    session.newModel(text, { nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16 }, { batchSize: 2 });
    const trainer = session.trainerFor(text);
    await session.trainStep(trainer); // a step's lasting allocations made
    const live = device().memory().liveBytes;
    const step = session.trainStep(trainer);
    expect(() => session.trainerFor('other english text.\n'.repeat(20))).toThrow(/^Trainer\.continueFrom \(the trainer it continues\): Trainer\.trainStep\(\) is still running; /);
    expect(Number.isFinite(await step)).toBe(true);
    expect(device().memory().liveBytes).toBe(live);
    expect(session.trainerFor(text)).toBe(trainer);
    expect(Number.isFinite(await session.trainStep(trainer))).toBe(true);
    release(session);
  });

  it("new settings for the same text are checked as a new Trainer's config, and a refused one leaves the settings as they were", async () => {
    const text = 'some english text.\n'.repeat(20);
    const session = new Session();
    session.newModel(text, { nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16 }, { batchSize: 2 });
    const trainer = session.trainerFor(text);
    expect(() => session.trainerFor(text, { learningRate: 1e-4, minLr: 1e-3 })).toThrow(/^Session\.trainerFor: minLr \(0\.001\) must not exceed learningRate \(0\.0001\)/);
    expect(() => session.trainerFor(text, { batchSize: 0 })).toThrow(/^Session\.trainerFor: batchSize must be an integer >= 1, got 0$/);
    expect([trainer.cfg.learningRate, trainer.cfg.batchSize]).toEqual([TRAIN_DEFAULTS.learningRate, 2]);
    expect(session.trainerFor(text, { learningRate: 3e-4 }).cfg.learningRate).toBe(3e-4);
    release(session);
  });
});

describe('Session loads a damaged file', () => {
  it.each([
    ['empty', new Uint8Array(0)],
    ['text', new TextEncoder().encode('not a checkpoint at all, just some text')],
  ])('(%s) in one line saying what went wrong and what to open instead; the model stays', async (_, bytes) => {
    const session = new Session();
    session.newModel('some english text.\n'.repeat(20), { nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16 });
    await expect(session.load(bytesSource(bytes), 'bad.safetensors')).rejects.toThrow(
      /^bad\.safetensors: not a readable safetensors file \(safetensors: .+\): open a checkpoint saved by this page, or a gpt train run's model-\*\.safetensors$/,
    );
    expect(session.source).toBe('new model');
    release(session);
  });

  it('of ours, a NaN in its last tensor or cut short, refused when read, before anything replaces the model', async () => {
    const session = new Session();
    session.newModel('some english text.\n'.repeat(20), { nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16 });
    const good = await joinPieces(session.save());
    const logits = Array.from(await session.logits('some'));
    const live = device().memory().liveBytes;
    const nan = good.slice();
    nan.set([0x00, 0x00, 0xc0, 0x7f], good.length - 4);
    await expect(session.load(bytesSource(nan), 'nan.safetensors')).rejects.toThrow(/^nan\.safetensors: tensor 'optim\.v\.[^']+' holds NaN \(at index \d+\); a checkpoint must hold finite values only$/);
    await expect(session.load(bytesSource(good.subarray(0, -1)), 'cut.safetensors')).rejects.toThrow(
      /^cut\.safetensors: not a readable safetensors file \(safetensors: tensor "[^"]+" data_offsets \[\d+, \d+\] run past the end of the \d+-byte data \(truncated\?\)\): open a checkpoint saved by this page/,
    );
    expect(session.source).toBe('new model');
    expect(device().memory().liveBytes).toBe(live);
    expect(Array.from(await session.logits('some'))).toEqual(logits);
    await session.load(bytesSource(good), 'good.safetensors');
    expect(Array.from(await session.logits('some'))).toEqual(logits);
    release(session);
  });

  it("of a model past any adapter's memory is refused from its header, its weights unread (a 75 GB file was read whole for the verdict, for minutes, then read again)", async () => {
    const session = new Session();
    session.newModel('some english text.\n'.repeat(20), { nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16 });
    const { metadata } = parseSafetensors(await joinPieces(session.save()));
    // the same tokenizer in a GPT of 1000 layers of 12288: 7 TB of float32 weights, past 1 TiB (the bound of an adapter whose memory WebGPU does not tell)
    const [L, C] = [1000, 12288];
    const { train: _, trainer: __, ...meta } = JSON.parse(metadata!.webgpu_gpt!);
    meta.model = { ...meta.model, nLayer: L, nHead: 96, nEmbd: C };
    const V = meta.model.vocabSize as number;
    const shapes: [string, number[]][] = [['wte.weight', [V, C]], ['wpe.weight', [16, C]]];
    for (let i = 0; i < L; i++) {
      shapes.push([`h.${i}.ln_1.weight`, [C]], [`h.${i}.attn.c_attn.weight`, [3 * C, C]], [`h.${i}.attn.c_proj.weight`, [C, C]]);
      shapes.push([`h.${i}.ln_2.weight`, [C]], [`h.${i}.mlp.c_fc.weight`, [4 * C, C]], [`h.${i}.mlp.c_proj.weight`, [C, 4 * C]]);
    }
    shapes.push(['ln_f.weight', [C]]);
    const file = headerOnly(shapes, { webgpu_gpt: JSON.stringify(meta) });
    const live = device().memory().liveBytes;
    await expect(session.load(file, 'huge.safetensors')).rejects.toThrow(/^huge\.safetensors: the model does not fit this adapter: its weights alone take [\d.]+ TiB \([\d,]+ parameters: n-layer 1000, n-embd 12288, vocab \d+\), more than /);
    expect(file.furthest, 'read no further than the header').toBeLessThanOrEqual(file.head);
    expect(session.source).toBe('new model');
    expect(device().memory().liveBytes).toBe(live);
    release(session);
  });
});

describe('Session saves', () => {
  it("a model loaded and not trained since with its checkpoint's step, run settings and optimizer moments", async () => {
    const bytes = await trainedCheckpoint('a checkpoint saved in Node, loaded and saved again in the page. '.repeat(10), 3, 2.5);
    const session = new Session();
    await session.load(bytesSource(bytes), 'gpt-step3.safetensors');
    const want = decodeCheckpoint(bytes);
    const got = decodeCheckpoint(await joinPieces(session.save()));
    release(session); // its moments too: the checkpoint's, never trained
    expect(got.meta).toEqual(want.meta);
    expect(got.optimizer, 'the optimizer moments').toBeDefined();
    for (const k of ['m', 'v'] as const) {
      expect([...got.optimizer![k].keys()]).toEqual([...want.optimizer![k].keys()]);
      for (const [name, data] of want.optimizer![k]) expect(Array.from(got.optimizer![k].get(name)!), `${k} of ${name}`).toEqual(Array.from(data));
    }
    for (const [name, w] of want.weights) expect(Array.from(got.weights.get(name)!.data), name).toEqual(Array.from(w.data));
  });
});

describe('Session while a save is in progress', () => {
  it('refuses to train or replace the model until its last piece is taken: the file is one moment of the run, whole', async () => {
    const text = 'some english text.\n'.repeat(20);
    const shape = { nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16 };
    const session = new Session();
    session.newModel(text, shape, { batchSize: 2 });
    const trainer = session.trainerFor(text);
    await session.trainStep(trainer);
    const pieces = session.save();
    const head = await pieces.next();
    const busy = /^Session\.\w+: a checkpoint is being saved \(its pieces are read from the model as they are taken\); take its last piece first$/;
    await expect(session.trainStep(trainer)).rejects.toThrow(busy);
    expect(() => session.trainerFor('other english text.\n'.repeat(20))).toThrow(busy);
    expect(() => session.newModel(text, shape)).toThrow(busy);
    await expect(session.load(bytesSource(new Uint8Array(0)), 'x.safetensors')).rejects.toThrow(busy);
    const saved = decodeCheckpoint(await joinPieces((async function* () {
      yield head.value as Uint8Array;
      yield* pieces;
    })()));
    expect(saved.meta.trainer?.step).toBe(trainer.step);
    for (const [name, p] of session.model!.namedParameters()) expect(Array.from(saved.weights.get(name)!.data), name).toEqual(Array.from(await p.toArray()));
    expect(Number.isFinite(await session.trainStep(trainer)), 'trains again once the save is done').toBe(true);

    // a load begun before the save, read while it goes on, is refused then (its new model freed): the save's model stays
    const file = await joinPieces(session.save());
    let go = () => {};
    const gate = new Promise<void>((r) => (go = r));
    const slow = { size: file.length, read: async (offset: number, length: number) => (await gate, file.slice(offset, offset + length)) };
    const loading = session.load(slow, 'slow.safetensors');
    const during = session.save();
    const first = await during.next();
    const live = device().memory().liveBytes;
    go();
    await expect(loading).rejects.toThrow(busy);
    expect(device().memory().liveBytes).toBe(live);
    expect(session.source).toBe('new model');
    expect(decodeCheckpoint(await joinPieces((async function* () {
      yield first.value as Uint8Array;
      yield* during;
    })())).meta.trainer?.step).toBe(trainer.step);

    // a save given up halfway (its consumer stopped: return()) lets training go on too
    const abandoned = session.save();
    await abandoned.next();
    await abandoned.return(undefined);
    expect(Number.isFinite(await session.trainStep(trainer))).toBe(true);
    release(session);
  });
});

describe('Session saves a checkpoint whose metadata holds a field it does not know', () => {
  it('(written by another version, or by hand) as it loaded it, less that field: it was refused as an unknown encodeCheckpoint option', async () => {
    const text = 'some english text.\n'.repeat(20);
    const session = new Session();
    session.newModel(text, { nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16 });
    const { tensors, metadata } = parseSafetensors(await joinPieces(session.save()));
    const meta = { ...JSON.parse(metadata.webgpu_gpt!), val: 2.5, notes: 'fine-tuned on the tale' };
    await session.load(bytesSource(serializeSafetensors(tensors, { webgpu_gpt: JSON.stringify(meta) })), 'notes.safetensors');
    const saved = decodeCheckpoint(await joinPieces(session.save()));
    const { notes: _, ...known } = meta;
    expect(saved.meta).toEqual(known);
    release(session);
  });
});

describe('Session training a loaded checkpoint', () => {
  it("lets go of the checkpoint's optimizer moments once a trainer holds them (GPT-2 124M's: 1 GB, held twice otherwise)", async () => {
    const text = 'a checkpoint saved with its moments, loaded and trained on. '.repeat(10);
    const bytes = await trainedCheckpoint(text, 1);
    const session = new Session();
    await session.load(bytesSource(bytes), 'gpt-step1.safetensors');
    // white-box: the moments uploaded from the file are the session's (on the GPU, none on the host) until a trainer copies them
    const loaded = session as unknown as { loaded: Checkpoint; loadedMoments: MomentTensors };
    expect(loaded.loaded.optimizer, 'moments on the host').toBeUndefined();
    const moments = [...loaded.loadedMoments.m.values(), ...loaded.loadedMoments.v.values()];
    expect(moments.length).toBeGreaterThan(0);
    expect(moments.some((t) => t.isDisposed)).toBe(false);
    await session.trainStep(session.trainerFor(text));
    expect(moments.every((t) => t.isDisposed), 'the moments uploaded from the file, once the trainer has them').toBe(true);
    expect(decodeCheckpoint(await joinPieces(session.save())).optimizer, "the trainer's moments are saved").toBeDefined();
    release(session);
  });
  /** A checkpoint saved by a hand-written loop of 3 AdamW steps: { optimizer }, no trainer state. */
  async function handWrittenCheckpoint(text: string): Promise<Uint8Array> {
    const tokenizer = CharTokenizer.train(text);
    const ids = Int32Array.from(tokenizer.encode(text));
    const config = { vocabSize: tokenizer.vocabSize, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 16, dropout: 0, bias: true };
    const handWritten = new GPT(config, { seed: 1 });
    const handOptimizer = new AdamW(handWritten.parameters(), { lr: 1e-2 });
    for (let i = 0; i < 3; i++) {
      await scope(async () => {
        const { loss } = handWritten.forward(tensor(ids.slice(i * 16, i * 16 + 16), [1, 16]), { targets: tensor(ids.slice(i * 16 + 1, i * 16 + 17), [1, 16]) });
        loss.backward();
        handOptimizer.step();
        handOptimizer.zeroGrad();
      });
    }
    const bytes = await encodeCheckpoint(handWritten, tokenizer, { optimizer: handOptimizer });
    handWritten.dispose();
    handOptimizer.dispose();
    return bytes;
  }
  // saveCheckpoint(dir, model, tok, { optimizer }) from a hand-written loop: the page adopted its
  // moments but started AdamW's step count at 0, so its bias correction started over
  it("of a hand-written loop goes on with AdamW's step count too: the losses of restoreOptimizer's resume", async () => {
    const text = 'a hand-written loop saved its model and AdamW, not a trainer. '.repeat(10);
    const bytes = await handWrittenCheckpoint(text);
    const ckpt = decodeCheckpoint(bytes);
    expect(ckpt.meta.optimizerSteps).toBe(3);
    const session = new Session();
    await session.load(bytesSource(bytes), 'hand-written.safetensors');
    const trainer = session.trainerFor(text);
    // the reference: the same run settings and data in Node, its moments and step count put back by restoreOptimizer
    const reference = new Trainer({ ...trainer.cfg }, trainer.data, modelFromCheckpoint(ckpt).model);
    restoreOptimizer(ckpt, reference.model, reference.optimizer);
    const page: number[] = [];
    const resumed: number[] = [];
    for (let i = 0; i < 3; i++) {
      page.push(await session.trainStep(trainer));
      resumed.push((await reference.trainStep()).loss);
    }
    expect(page).toEqual(resumed);
    reference.dispose();
    reference.model.dispose();
    release(session);
  });
  // the count the page restored went back to the page's own steps: a new text's trainer (continueFrom)
  // and a reload of the page's save (restore) set AdamW's count from the trainer's step alone
  it("of a hand-written loop keeps AdamW's step count (3 + the page's steps) on a new text and through the page's save", async () => {
    const text = 'a hand-written loop saved its model and AdamW, not a trainer. '.repeat(10);
    const session = new Session();
    await session.load(bytesSource(await handWrittenCheckpoint(text)), 'hand-written.safetensors');
    await session.trainStep(session.trainerFor(text));
    const other = session.trainerFor(`${text} `);
    expect(other.optimizer.stepCount, 'a new text: 3 steps by hand, 1 in the page').toBe(4);
    await session.trainStep(other);
    const saved = await joinPieces(session.save());
    expect(decodeCheckpoint(saved).meta.optimizerSteps).toBe(5);
    const reloaded = new Session();
    await reloaded.load(bytesSource(saved), 'page.safetensors');
    expect(reloaded.trainerFor(text).optimizer.stepCount, "the page's save loaded again: 3 by hand, 2 in the page").toBe(5);
    release(session);
    release(reloaded);
  });
});

describe('Session training a loaded checkpoint, its trainer refused partway through adopting the moments', () => {
  it('frees what is left of them and says so in one line: training and saving go on, with fresh moments, and nothing stays on the GPU', async () => {
    const text = 'a checkpoint whose moments fill several shards of a small buffer limit. '.repeat(10);
    const bytes = await trainedCheckpoint(text, 1);
    const live = device().memory().liveBytes;
    const session = new Session();
    await session.load(bytesSource(bytes), 'gpt-step1.safetensors');
    const params = session.model!.parameters().length;
    setProfile({ bufferLimit: 4 * 1100 }); // AdamW's moments in several shards (its largest parameter, 1024 values, alone)
    const copy = device().copy.bind(device());
    let copies = 0;
    // a failure past the first shard's copies: the moments of the shards before it are freed, the rest not yet
    const failing = vi.spyOn(device(), 'copy').mockImplementation((...args) => {
      if (++copies === params) throw new Error('copy failed');
      copy(...args);
    });
    try {
      expect(() => session.trainerFor(text)).toThrow(/^copy failed; the checkpoint's optimizer moments were freed as they were copied, so training goes on with fresh ones: load the checkpoint again to resume with its own$/);
      failing.mockRestore();
      expect(copies, 'failed partway').toBe(params);
      const trainer = session.trainerFor(text);
      expect(trainer.optimizer.shards.length).toBeGreaterThan(2);
      expect(Number.isFinite(await session.trainStep(trainer))).toBe(true);
      expect(decodeCheckpoint(await joinPieces(session.save())).optimizer).toBeDefined();
    } finally {
      failing.mockRestore();
      setProfile(null);
      release(session);
    }
    expect(device().memory().liveBytes).toBe(live);
  });
});

describe("Session summary of a loaded run", () => {
  it("gives the learning rate the run's schedule has reached and its batch, to go on from (the page's default rate may be 30x it)", async () => {
    const text = 'a run stopped halfway through its decay. '.repeat(15);
    const tokenizer = CharTokenizer.train(text);
    const ids = Int32Array.from(tokenizer.encode(text));
    const cfg = { ...TRAIN_DEFAULTS, nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16, batchSize: 3, learningRate: 2e-3, minLr: 1e-4, warmupIters: 2, lrDecayIters: 10 };
    const trainer = new Trainer(cfg, { train: ids.slice(0, 500), val: ids.slice(500), vocabSize: tokenizer.vocabSize });
    for (let i = 0; i < 7; i++) await trainer.trainStep(false);
    const bytes = await encodeCheckpoint(trainer.model, tokenizer, { optimizer: trainer.optimizer, train: cfg, trainer: await trainer.state() });
    trainer.dispose();
    trainer.model.dispose();
    const session = new Session();
    const summary = await session.load(bytesSource(bytes), 'gpt-step7.safetensors');
    // nanoGPT's get_lr at step 7 of warmup 2, decay to step 10, in float64
    const cosine = 1e-4 + 0.5 * (1 + Math.cos((Math.PI * (7 - 2)) / (10 - 2))) * (2e-3 - 1e-4);
    expect(summary.run?.batchSize).toBe(3);
    expect(summary.run?.learningRate).toBeCloseTo(cosine, 12);
    session.newModel(text, { nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16 });
    expect(session.summary().run, 'a new model has no run to go on from').toBeUndefined();

    // a run decayed to minLr 0 has no rate to go on at (the page refuses 0): only its batch
    const done = new Trainer({ ...cfg, minLr: 0, lrDecayIters: 3 }, { train: ids.slice(0, 500), val: ids.slice(500), vocabSize: tokenizer.vocabSize });
    for (let i = 0; i < 4; i++) await done.trainStep(false);
    const finished = await encodeCheckpoint(done.model, tokenizer, { train: { ...cfg, minLr: 0, lrDecayIters: 3 }, trainer: await done.state() });
    done.dispose();
    done.model.dispose();
    expect((await session.load(bytesSource(finished), 'gpt-step4.safetensors')).run).toEqual({ batchSize: 3 });
    release(session);
  });
});

describe('Session after a diverged run', () => {
  it('refuses the model, whose weights hold NaN now, in one line saying what to do; a new model replaces it', async () => {
    const text = 'a run with far too high a learning rate.\n'.repeat(20);
    const shape = { nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16 };
    const session = new Session();
    session.newModel(text, shape, { batchSize: 2, learningRate: 1e30, minLr: 1e30, warmupIters: 0 });
    const trainer = session.trainerFor(text);
    const broken = /^training diverged at step \d+ \(the loss or the gradient norm is not finite\), so the model's weights are no longer usable: start a new model \(with a lower learning rate\) or load a checkpoint$/;
    await expect((async () => {
      for (let i = 0; i < 5; i++) await session.trainStep(trainer);
    })()).rejects.toThrow(broken);
    // NaN weights would give text from NaN logits, and lowering the rate would not bring them back
    await expect(session.generate('a run', { maxNewTokens: 3 }).next()).rejects.toThrow(broken);
    await expect(session.logits('a run')).rejects.toThrow(broken);
    await expect(joinPieces(session.save())).rejects.toThrow(broken);
    expect(() => session.trainerFor(text, { learningRate: 1e-3, minLr: 1e-3 })).toThrow(broken);
    expect(session.summary().step).toBeGreaterThan(0);
    expect(session.diverged, 'why, for the page to say on what it disables').toMatch(broken);

    session.newModel(text, shape, { batchSize: 2 });
    expect(session.diverged).toBe('');
    expect(Number.isFinite(await session.trainStep(session.trainerFor(text)))).toBe(true);
    release(session);
  });
});

describe('LossChart', () => {
  /** `draw` given a chart of W x H px on the stand-in context `g`, outside a page (its ResizeObserver, frames and window stubbed meanwhile). */
  function onStandIn(W: number, H: number, g: object, draw: (chart: LossChart) => void): void {
    vi.stubGlobal('ResizeObserver', class { observe() {} });
    vi.stubGlobal('requestAnimationFrame', () => 0);
    vi.stubGlobal('window', { devicePixelRatio: 1 });
    try {
      draw(new LossChart({ clientWidth: W, clientHeight: H, getContext: () => g } as unknown as HTMLCanvasElement));
    } finally {
      vi.unstubAllGlobals();
    }
  }

  it("draws a long run's 200,000 steps inside the plot area", () => {
    const [W, H] = [600, 300];
    const points: [number, number][] = [];
    const g = new Proxy({}, {
      get: (_, key) => (key === 'measureText' ? () => ({ width: 50 }) : key === 'moveTo' || key === 'lineTo' ? (x: number, y: number) => points.push([x, y]) : () => undefined),
      set: () => true,
    });
    onStandIn(W, H, g, (chart) => {
      for (let step = 1; step <= 200_000; step++) chart.addStep(step, 2 + Math.sin(step / 1000));
      chart.addEval(200_000, 1.5, 3.5);
      chart.draw();
    });
    expect(points.length).toBeGreaterThan(400_000);
    const outside = points.filter(([x, y]) => !(x >= 0 && x <= W && y >= 0 && y <= H));
    expect(outside.slice(0, 3)).toEqual([]);
  });

  it("labels the step axis with whole steps, each where its step is drawn (a short run's half steps read '2' at 1.5)", () => {
    const [W, H] = [600, 300];
    const labels: [string, number][] = [];
    const moves: number[] = [];
    let faint = false; // the raw loss line, a point per step, is the one drawn faint
    const g = new Proxy({}, {
      get: (_, key) =>
        key === 'measureText' ? () => ({ width: 50 })
        : key === 'fillText' ? (text: string, x: number, y: number) => void (y === H - 6 && text !== 'step' && labels.push([text, x]))
        : key === 'moveTo' || key === 'lineTo' ? (x: number) => void (faint && moves.push(x))
        : () => undefined,
      set: (_, key, value) => ((key === 'globalAlpha' && (faint = value < 1)), true),
    });
    const drawn: { steps: number[]; labels: [string, number][]; xs: number[] }[] = [];
    onStandIn(W, H, g, (chart) => {
      for (const steps of [[1], [1, 2], [1, 2, 3], [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]]) {
        chart.clear();
        for (const step of steps) chart.addStep(step, 3 - step / 100);
        [labels.length, moves.length] = [0, 0];
        chart.draw();
        drawn.push({ steps, labels: [...labels], xs: [...moves] });
      }
    });
    for (const { steps, labels, xs } of drawn) {
      expect(labels.length).toBeGreaterThan(0);
      expect(labels.every(([text]) => /^\d+$/.test(text)), `whole steps: ${labels.map(([t]) => t)}`).toBe(true);
      expect(new Set(labels.map(([text]) => text)).size, `each once: ${labels.map(([t]) => t)}`).toBe(labels.length);
      if (steps.length < 2) continue;
      // where step s is drawn, from two drawn steps (a label is drawn 8 px left of its place; a step's loss at the step before it, its weights')
      const xOf = (step: number) => xs[0]! + ((step - steps[0]! + 1) * (xs[1]! - xs[0]!)) / (steps[1]! - steps[0]!);
      for (const [text, x] of labels) expect(x + 8, `label ${text}`).toBeCloseTo(xOf(Number(text)), 6);
    }
  });

  it("names its step axis, and fits its legend at a phone's width: an entry that does not fit its row goes on the next (the val loss's was cut off)", () => {
    const H = 220;
    const CHAR = 5.5; // px a character of the 11 px font takes: 263 px the train loss's 48 (Chromium, DejaVu Sans)
    for (const W of [900, 328]) { // 328: the chart on a phone 390 px wide
      const texts: { text: string; x: number; y: number }[] = [];
      const g = new Proxy({}, {
        get: (_, key) =>
          key === 'measureText' ? (text: string) => ({ width: text.length * CHAR })
          : key === 'fillText' ? (text: string, x: number, y: number) => void texts.push({ text, x, y })
          : () => undefined,
        set: () => true,
      });
      onStandIn(W, H, g, (chart) => {
        for (let step = 0; step <= 20; step++) chart.addStep(step, 3 - step / 20);
        chart.addEval(20, 2, 2.1);
        chart.draw();
      });
      const legend = texts.filter(({ text }) => /loss/.test(text));
      expect(legend.map(({ text }) => text.split(' (')[0]), `W ${W}`).toEqual(['train loss', 'val loss']);
      for (const { text, x } of legend) expect(x + text.length * CHAR, `W ${W}: '${text}' ends inside the chart`).toBeLessThanOrEqual(W);
      // a legend of two rows (at 328 px) pushes the plot down: its highest y label stays below the legend
      const yLabels = texts.filter(({ text, x }) => x === 4 && /^[\d.]+$/.test(text));
      expect(Math.min(...yLabels.map(({ y }) => y)) - 11, `W ${W}`).toBeGreaterThan(Math.max(...legend.map(({ y }) => y)));
      expect(texts.some(({ text, y }) => text === 'step' && y === H - 6), `W ${W}: the step axis named`).toBe(true);
    }
  });

  type Stroke = { color: string; width: number; alpha: number; points: [number, number][] };
  /** The lines (each with its style) and dots `fill` has the chart draw on a stand-in context of 600 x 300 px. */
  function drawn(fill: (chart: LossChart) => void): { raw: Stroke; smooth: Stroke; dots: { x: number; y: number; color: string }[] } {
    const lines: Stroke[] = [];
    const dots: { x: number; y: number; color: string }[] = [];
    const style = { strokeStyle: '', lineWidth: 1, globalAlpha: 1, fillStyle: '' };
    let points: [number, number][] = [];
    let arc: [number, number] | null = null;
    const g = new Proxy(style, {
      get: (target, key) =>
        key in target ? target[key as keyof typeof style]
        : key === 'measureText' ? () => ({ width: 50 })
        : key === 'beginPath' ? () => void ((points = []), (arc = null))
        : key === 'moveTo' || key === 'lineTo' ? (x: number, y: number) => void points.push([x, y])
        : key === 'stroke' ? () => void lines.push({ color: style.strokeStyle, width: style.lineWidth, alpha: style.globalAlpha, points })
        : key === 'arc' ? (x: number, y: number) => void (arc = [x, y])
        : key === 'fill' ? () => void (arc && dots.push({ x: arc[0], y: arc[1], color: style.fillStyle }))
        : () => undefined,
      set: (target, key, value) => ((target as Record<string | symbol, unknown>)[key] = value, true),
    });
    onStandIn(600, 300, g, (chart) => {
      fill(chart);
      chart.draw();
    });
    const train = lines.filter((l) => l.points.length > 2 && l.color === lines.find((m) => m.alpha < 1)!.color);
    return { raw: train.find((l) => l.alpha < 1)!, smooth: train.find((l) => l.alpha === 1 && l.width === 2)!, dots };
  }

  it("draws a step's loss at the step its weights had reached, where their evaluation is drawn, and smooths it without lag: a short run's falling loss was drawn ~9 steps late, above its val line", () => {
    const { raw, smooth, dots } = drawn((chart) => {
      chart.addEval(0, 4, 4.2);
      // the loss of each step, computed with the weights of the step before (a Trainer's step after it is `step`)
      for (let step = 1; step <= 200; step++) chart.addStep(step, 4 - (step - 1) / 100);
    });
    expect(raw.points).toHaveLength(200);
    const evalTrain = dots.find((d) => d.color === raw.color)!;
    expect(raw.points[0]![0], "step 1's loss, of the weights at step 0, where their evaluation is").toBeCloseTo(evalTrain.x, 9);
    expect(raw.points[0]![1], 'the same loss').toBeCloseTo(evalTrain.y, 9);
    // a straight fall smoothed is itself, at every step: no lag
    expect(smooth.points).toHaveLength(raw.points.length);
    const off = smooth.points.map(([x, y], i) => Math.max(Math.abs(x - raw.points[i]![0]), Math.abs(y - raw.points[i]![1])));
    expect(Math.max(...off), 'px between the smoothed and the raw line').toBeLessThan(1e-6);
  });

  it("smooths a long run's noise over a window its length sets, level where the loss is level", () => {
    let seed = 1;
    const noise = () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5); // uniform in (-0.5, 0.5)
    const { raw, smooth } = drawn((chart) => {
      for (let step = 1; step <= 5000; step++) chart.addStep(step, 2 + noise());
    });
    const spread = (s: Stroke, from: number) => {
      const ys = s.points.slice(from, -from).map(([, y]) => y);
      return Math.max(...ys) - Math.min(...ys);
    };
    // away from the ends (where the window narrows to stay centred): 201 steps averaged
    expect(spread(smooth, 100)).toBeLessThan(spread(raw, 100) / 5);
  });
});

describe('Session settings fixed when a trainer is made', () => {
  it("AdamW's betas and weight decay, and the dtype, changed for the same text take effect: the run goes on from its step", async () => {
    const text = 'some english text.\n'.repeat(20);
    const session = new Session();
    session.newModel(text, { nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16 }, { batchSize: 2 });
    const trainer = session.trainerFor(text);
    await session.trainStep(trainer);
    const changed = session.trainerFor(text, { weightDecay: 0, beta1: 0.8, beta2: 0.95 });
    expect([changed.optimizer.weightDecay, ...changed.optimizer.betas]).toEqual([0, 0.8, 0.95]);
    expect([changed.cfg.weightDecay, changed.cfg.beta1, changed.cfg.beta2]).toEqual([0, 0.8, 0.95]);
    expect(changed.step).toBe(1);
    expect(Number.isFinite(await session.trainStep(changed))).toBe(true);
    expect(session.trainerFor(text, { learningRate: 5e-4 }), 'a setting read at each step keeps the trainer').toBe(changed);
    if (device().info.features.includes('shader-f16')) expect(session.trainerFor(text, { dtype: 'float16' }).dtype).toBe('float16');
    else expect(() => session.trainerFor(text, { dtype: 'float16' })).toThrow(/shader-f16/);
    release(session);
  });
});

describe("a load's reads (loadReads)", () => {
  /** A source of `size` bytes whose reads give nothing (the lengths asked for are what is counted). */
  const nothing = (size: number): ByteSource => ({ size, read: async () => new Uint8Array(0) });
  /** Whether `p` is still pending after the tasks queued now have run. */
  const pending = async (p: Promise<unknown>) => !(await Promise.race([p.then(() => true, () => true), new Promise((r) => setTimeout(() => r(false), 20))]));

  it('wait for the GPU to catch up once READ_AHEAD_BYTES were read since it last did, across the files of a load (a slow GPU was outrun by the whole file, held in staging copies)', async () => {
    let waits = 0;
    let caughtUp!: () => void;
    const reads = loadReads(undefined, () => (waits++, new Promise<void>((r) => (caughtUp = r))));
    const [a, b] = [reads(nothing(2 * READ_AHEAD_BYTES)), reads(nothing(2 * READ_AHEAD_BYTES))];
    await a.read(0, READ_AHEAD_BYTES - 1);
    await b.read(0, 1); // READ_AHEAD_BYTES read: the next read waits
    expect(waits).toBe(0);
    const next = a.read(READ_AHEAD_BYTES, 8);
    expect(await pending(next), 'waits for the GPU').toBe(true);
    expect(waits).toBe(1);
    caughtUp();
    await next;
    await b.read(1, READ_AHEAD_BYTES - 9);
    expect(waits, 'counted again from the wait').toBe(1);
  });

  it('a cancel ends the wait at once with its reason (Cancel waited for the GPU to run what was read ahead), and refuses every read after it', async () => {
    const cancel = new AbortController();
    const file = loadReads(cancel.signal, () => new Promise<void>(() => {}))(nothing(2 * READ_AHEAD_BYTES)); // a GPU that never catches up
    await file.read(0, READ_AHEAD_BYTES);
    const waiting = file.read(READ_AHEAD_BYTES, 8);
    expect(await pending(waiting)).toBe(true);
    cancel.abort(new Error('load cancelled'));
    await expect(waiting).rejects.toThrow(/^load cancelled$/);
    await expect(file.read(0, 8)).rejects.toThrow(/^load cancelled$/);
  });
});

describe('Session load cancelled (its signal aborted)', () => {
  /** `file` counting its reads, the signal aborted as read `at` is made (-1: never); `reads()` says how many were made. */
  function cancelling(file: ByteSource, at: number, cancel: AbortController) {
    let n = 0;
    const source: ByteSource = {
      size: file.size,
      read: (offset, length) => {
        if (n++ === at) cancel.abort(new Error('load cancelled'));
        return file.read(offset, length);
      },
    };
    return { source, reads: () => n };
  }

  /** Cancels `load` at its first read, one in the middle, and its last (all of it read by then): each fails with the cancel's reason, leaving the model, usable, and nothing on the GPU. */
  async function cancelledAtEveryStage(file: ByteSource, load: (session: Session, file: ByteSource, signal: AbortSignal) => Promise<unknown>) {
    const session = new Session();
    session.newModel('some english text.\n'.repeat(20), { nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16 });
    const logits = Array.from(await session.logits('some'));
    const live = device().memory().liveBytes;
    const counted = cancelling(file, -1, new AbortController());
    const probe = new Session();
    await load(probe, counted.source, new AbortController().signal); // the reads a whole load makes
    release(probe);
    const total = counted.reads();
    expect(total).toBeGreaterThan(4);
    for (const at of [0, 2, Math.floor(total / 2), total - 1]) {
      const cancel = new AbortController();
      const { source, reads } = cancelling(file, at, cancel);
      await expect(load(session, source, cancel.signal), `read ${at}`).rejects.toThrow(/^load cancelled$/);
      expect(reads(), `read ${at}`).toBe(at + 1); // none after the cancel
      expect(session.source).toBe('new model');
      expect(device().memory(), `read ${at}`).toMatchObject({ liveBytes: live, pooledBytes: 0 }); // the pool kept none of the load's buffers
      expect(Array.from(await session.logits('some'))).toEqual(logits);
    }
    release(session);
  }

  it('a checkpoint of ours with its optimizer moments, read a tensor at a time', async () => {
    const file = bytesSource(await trainedCheckpoint('a text to train on, long enough for its splits. '.repeat(30), 2));
    await cancelledAtEveryStage(file, (session, source, signal) => session.load(source, 'ckpt.safetensors', signal));
  });

  it("a Hugging Face model's files", async () => {
    const dir = tempDir('web-session-cancel');
    writeGPT2Dir(dir, randomGPT2(3), { prefix: false, head: true });
    const file = (name: string) => readFileSync(join(dir, name));
    const files = { config: file('config.json').toString('utf8'), tokenizer: file('tokenizer.json').toString('utf8') };
    await cancelledAtEveryStage(bytesSource(new Uint8Array(file('model.safetensors'))), (session, weights, signal) => session.loadHF({ ...files, weights: [{ file: 'model.safetensors', source: weights }] }, 'hf', signal));
  });
});

describe('Session unsaved work (what the page asks about before it is closed)', () => {
  it('is training steps past the last save taken whole, or a save being taken; not a model made, loaded or evaluated, nor one that diverged', async () => {
    const text = 'some english text.\n'.repeat(20);
    const session = new Session();
    session.newModel(text, { nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16 }, { batchSize: 2 });
    expect(session.hasUnsavedWork(), 'a new model').toBe(false);
    const trainer = session.trainerFor(text);
    await trainer.evaluate();
    expect(session.hasUnsavedWork(), 'evaluated').toBe(false);
    await session.trainStep(trainer);
    expect(session.hasUnsavedWork(), 'trained a step').toBe(true);

    const pieces = session.save();
    await pieces.next();
    expect(session.hasUnsavedWork(), 'a save being taken').toBe(true);
    await pieces.return(undefined);
    expect(session.hasUnsavedWork(), 'a save given up halfway').toBe(true);

    const file = await joinPieces(session.save());
    expect(session.hasUnsavedWork(), 'saved whole').toBe(false);
    const again = session.save();
    await again.next();
    expect(session.hasUnsavedWork(), 'saved whole, and a save of it being taken').toBe(true);
    await again.return(undefined);
    await session.trainStep(session.trainerFor(text, { learningRate: 1e-3 }));
    expect(session.hasUnsavedWork(), 'trained on after the save').toBe(true);

    await session.load(bytesSource(file), 'saved.safetensors');
    expect(session.hasUnsavedWork(), 'loaded').toBe(false);
    const resumed = session.trainerFor(text);
    expect(resumed.step).toBe(1);
    expect(session.hasUnsavedWork(), 'resumed at its step, not trained yet').toBe(false);
    await session.trainStep(resumed);
    expect(session.hasUnsavedWork(), 'trained the loaded model').toBe(true);
    await joinPieces(session.save());
    expect(session.hasUnsavedWork(), 'saved at step 2').toBe(false);
    session.newModel(text, { nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16 }, { batchSize: 2 });
    for (let i = 0; i < 2; i++) await session.trainStep(session.trainerFor(text));
    expect(session.hasUnsavedWork(), "a new model trained to the step the old one's save had").toBe(true);

    const diverging = session.trainerFor(text, { learningRate: 1e9, gradClip: 0 });
    await expect((async () => {
      for (let i = 0; i < 20; i++) await session.trainStep(diverging);
    })()).rejects.toThrow(/^training diverged/);
    expect(session.hasUnsavedWork(), 'diverged: nothing to save').toBe(false);
    release(session);
  });
});

describe('Session asks before it replaces training steps not saved (the page: window.confirm)', () => {
  const text = 'some english text.\n'.repeat(20);
  const shape = { nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16 };

  /** A session with a model trained a step and not saved, its confirmReplace answering `answer.yes` and recording each step it is asked about. */
  async function unsaved() {
    const asked: number[] = [];
    const answer = { yes: false };
    const session = new Session((step) => (asked.push(step), answer.yes));
    session.newModel(text, shape, { batchSize: 2 });
    await session.trainStep(session.trainerFor(text));
    const logits = Array.from(await session.logits('some'));
    const live = device().memory().liveBytes;
    /** The model, its run and GPU memory as they were. */
    const kept = async () => {
      expect([session.source, session.summary().step, session.hasUnsavedWork()]).toEqual(['new model', 1, true]);
      expect(device().memory().liveBytes).toBe(live);
      expect(Array.from(await session.logits('some'))).toEqual(logits);
    };
    return { session, asked, answer, kept };
  }

  /** `file` counting its reads. */
  const counting = (file: ByteSource) => {
    const counted = { reads: 0, source: { size: file.size, read: (offset: number, length: number) => (counted.reads++, file.read(offset, length)) } };
    return counted;
  };

  it('New model: its text and settings checked first (a refusal asks nothing); declined, nothing is made and the run stays', async () => {
    const { session, asked, answer, kept } = await unsaved();
    const refusals: [() => unknown, RegExp][] = [
      [() => session.newModel('', shape), /^there is no text to train on/],
      [() => session.newModel(text, shape, { batchSize: 0 }), /^Session\.newModel: batchSize/],
      [() => session.newModel(text, { ...shape, nEmbd: 2 ** 20 }), /^the model does not fit this adapter/],
      [() => session.newModel('too short', shape), /^the text gives 9 tokens, too few for block 16/],
    ];
    for (const [make, message] of refusals) expect(make).toThrow(message);
    expect(asked, 'refused before asking').toEqual([]);
    expect(() => session.newModel('another text.\n'.repeat(20), shape)).toThrow(ReplaceDeclined);
    expect(asked).toEqual([1]);
    await kept();
    answer.yes = true;
    expect(session.newModel('another text.\n'.repeat(20), shape).step).toBe(0);
    expect(asked).toEqual([1, 1]);
    expect(session.hasUnsavedWork()).toBe(false);
    release(session);
  });

  it("a load: a Hugging Face model's config.json checked first; declined, no weights read; accepted and then refused, the run stays", async () => {
    const { session, asked, answer, kept } = await unsaved();
    const dir = tempDir('web-session-ask');
    writeGPT2Dir(dir, randomGPT2(3), { prefix: false, head: true });
    const file = (name: string) => readFileSync(join(dir, name));
    const weights = new Uint8Array(file('model.safetensors'));
    const hf = (source: ByteSource, config = file('config.json').toString('utf8')) => ({ config, tokenizer: file('tokenizer.json').toString('utf8'), weights: [{ file: 'model.safetensors', source }] });
    const bert = counting(bytesSource(weights));
    await expect(session.loadHF(hf(bert.source, JSON.stringify(gpt2Config({ model_type: 'bert' }))), 'bert')).rejects.toThrow(/^bert\/config\.json: model_type "bert" is not supported/);
    expect([asked, bert.reads]).toEqual([[], 0]);
    // declined: each load asks before it reads a byte
    const ours = counting(bytesSource(await trainedCheckpoint('a text to train on, long enough for its splits. '.repeat(30), 1)));
    const gpt2 = counting(bytesSource(weights));
    const nano = counting(bytesSource(readFileSync(join(import.meta.dirname, 'fixtures/torch/nanogpt-ckpt.pt'))));
    await expect(session.load(ours.source, 'ours.safetensors')).rejects.toThrow(ReplaceDeclined);
    await expect(session.loadHF(hf(gpt2.source), 'gpt2')).rejects.toThrow(ReplaceDeclined);
    await expect(session.loadNanoGpt({ checkpoint: nano.source }, 'ckpt.pt')).rejects.toThrow(ReplaceDeclined);
    expect([asked, ours.reads, gpt2.reads, nano.reads]).toEqual([[1, 1, 1], 0, 0, 0]);
    await kept();
    // accepted, then refused as it is read: the model before it stays
    answer.yes = true;
    await expect(session.loadHF(hf(bytesSource(withoutTensor(weights, 'ln_f.bias'))), 'cut')).rejects.toThrow(/^cut: loadStateDict: missing ln_f\.bias$/);
    expect(asked).toEqual([1, 1, 1, 1]);
    await kept();
    expect((await session.loadHF(hf(bytesSource(weights)), 'gpt2')).source).toBe('gpt2');
    // nothing to lose: not asked
    await session.load(ours.source, 'ours.safetensors');
    expect(asked).toHaveLength(5);
    release(session);
  });
});
