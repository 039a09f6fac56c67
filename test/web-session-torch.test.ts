// The demo page's loads of PyTorch's torch.save files, as a user picks them (browser Files, read by
// pickedSource a range at a time), without a browser: nanoGPT's ckpt.pt with its meta.pkl, and a
// Hugging Face GPT-2 model with pytorch_model.bin for model.safetensors. The oracle is PyTorch:
// test/fixtures/torch/make_fixtures.py wrote the files and torch's float64 logits for them
// (logits.json); the page's model must agree within 1e-4. Also: the one-line errors where the
// tokenizer's files are not picked, and a checkpoint larger than one read never read whole.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { device } from '../src/device/device.js';
import { noGrad, scope, tensor } from '../src/index.js';
import { gpt3EncoderDir } from '../src/node/gpt2-vocab.js';
import { toHuggingFaceJSON } from '../src/gpt/tokenizer/index.js';
import { pickedSource } from '../src/web/picked-file.js';
import { Session } from '../src/web/session.js';
import { setupDevice, withMemoryBound } from './helpers.js';
import { miniGpt2Tokenizer } from './hf-reference.js';
import { paddedNanoGptCheckpoint } from './torch-writer.js';

beforeAll(setupDevice);

const FIXTURES = join(import.meta.dirname, 'fixtures/torch');
const torchLogits: Record<string, { ids: number[][]; logits: number[][][] }> = JSON.parse(readFileSync(join(FIXTURES, 'logits.json'), 'utf8'));
/** A fixture as the page's file input gives it. */
const picked = (path: string, name: string) => pickedSource(new File([readFileSync(join(FIXTURES, path))], name));
const CHARS = "\n !',.:;?abcdehilnot"; // make_fixtures.py's meta.pkl

/** Largest |the session model's logits - torch's float64 ones| for the fixture `which`'s ids, at every position. */
async function worstError(session: Session, which: string): Promise<number> {
  const { ids, logits } = torchLogits[which]!;
  const model = session.model!;
  model.eval();
  const ours = await noGrad(() => scope(async () => (await model.forward(tensor(Int32Array.from(ids.flat()), [ids.length, ids[0]!.length])).logits.toArray()) as Float32Array));
  const want = logits.flat(2);
  expect(ours.length).toBe(want.length);
  return Math.max(...want.map((w, i) => Math.abs(ours[i]! - w)));
}

const maxDiff = (a: ArrayLike<number>, b: number[]) => Math.max(...b.map((w, i) => Math.abs(a[i]! - w)));

describe("the page opens nanoGPT's ckpt.pt", () => {
  it("with its meta.pkl: torch's logits within 1e-4 (a prompt's too); without it, one line saying to pick it, the model before it kept", async () => {
    const session = new Session();
    const meta = new Uint8Array(readFileSync(join(FIXTURES, 'nanogpt-meta.pkl')));
    const summary = await session.loadNanoGpt({ checkpoint: picked('nanogpt-ckpt.pt', 'ckpt.pt'), meta }, 'ckpt.pt');
    expect(summary).toMatchObject({ source: 'ckpt.pt', tokenizer: 'char', vocabSize: 20, loaded: true, step: 0 });
    expect(summary.config).toMatchObject({ nLayer: 2, nHead: 2, nEmbd: 8, blockSize: 16, bias: false, activation: 'gelu' });
    expect(summary.note).toBeUndefined();
    expect(await worstError(session, 'nanogpt')).toBeLessThan(1e-4);
    // the page's prompt path: each row's characters, the next token's logits
    const { ids, logits } = torchLogits.nanogpt!;
    for (const [row, rowIds] of ids.entries()) expect(maxDiff(await session.logits(rowIds.map((id) => CHARS[id]).join('')), logits[row]!.at(-1)!)).toBeLessThan(1e-4);

    const live = device().memory().liveBytes;
    const failures: [() => Promise<unknown>, string][] = [
      [() => session.loadNanoGpt({ checkpoint: picked('nanogpt-ckpt.pt', 'ckpt.pt') }, 'ckpt.pt'),
        "ckpt.pt: no meta.pkl picked, and vocab_size 20 is not GPT-2's: a character model's vocabulary is its dataset's meta.pkl; pick it (data/shakespeare_char/meta.pkl) together with ckpt.pt"],
      // GPT-2's vocabulary picked for a character model is no fallback
      [() => session.loadNanoGpt({ checkpoint: picked('nanogpt-ckpt.pt', 'ckpt.pt'), tokenizer: JSON.stringify(toHuggingFaceJSON(miniGpt2Tokenizer())) }, 'ckpt.pt'),
        "ckpt.pt: no meta.pkl picked, and vocab_size 20 is not GPT-2's: a character model's vocabulary is its dataset's meta.pkl; pick it (data/shakespeare_char/meta.pkl) together with ckpt.pt"],
      // a Hugging Face model's weights picked as nanoGPT's checkpoint
      [() => session.loadNanoGpt({ checkpoint: picked('hf/pytorch_model.bin', 'model.pt'), meta }, 'model.pt'),
        "model.pt: a torch.save file that is not nanoGPT's checkpoint (a dict with 'model' and 'model_args', as its train.py saves); got a dict of"],
    ];
    for (const [load, message] of failures) {
      await expect(load()).rejects.toThrow(message);
      expect(session.source).toBe('ckpt.pt');
      expect(device().memory().liveBytes).toBe(live);
    }
    expect(await worstError(session, 'nanogpt')).toBeLessThan(1e-4);
    session.dispose();
  });

  it("padded past GPT-2's vocabulary, with GPT-2's vocab files picked: cut to them, with a note, read a range at a time; without them, one line saying to pick them", async () => {
    const { bytes, wte } = paddedNanoGptCheckpoint(''); // nanoGPT's GPT-2 run (vocab_size 50304): 3.2 MB
    const C = wte.shape[1]!;
    // the picked File, each slice the page reads counted, and reading it whole refused
    const reads: number[] = [];
    const file = new File([new Uint8Array(bytes)], 'ckpt.pt');
    const slice = file.slice.bind(file);
    file.slice = (start = 0, end = file.size) => (reads.push(end - start), slice(start, end));
    file.arrayBuffer = () => Promise.reject(new Error('ckpt.pt read whole'));
    const watched = pickedSource(file);
    const vocabDir = gpt3EncoderDir()!;
    const [vocab, merges] = ['encoder.json', 'vocab.bpe'].map((name) => readFileSync(join(vocabDir, name), 'utf8'));

    const session = new Session();
    await expect(session.loadNanoGpt({ checkpoint: watched }, 'ckpt.pt')).rejects.toThrow(
      /^ckpt\.pt: no meta\.pkl picked, so its tokenizer is GPT-2's, as nanoGPT's sample\.py assumes, whose vocabulary this page does not ship: pick GPT-2's vocab\.json and merges\.txt \(or tokenizer\.json\) together with ckpt\.pt$/,
    );
    reads.length = 0;
    const summary = await session.loadNanoGpt({ checkpoint: watched, vocab, merges }, 'ckpt.pt');
    expect(summary).toMatchObject({ tokenizer: 'gpt2', vocabSize: 50257, note: "ckpt.pt: vocab_size 50304 is GPT-2's 50257 padded (nanoGPT pads it for speed); the 47 padded rows, ids no text encodes to, are dropped" });
    // never the file in one read: the largest is the token embedding's bytes
    expect(Math.max(...reads)).toBe(50304 * C * 4);
    expect(bytes.length).toBeGreaterThan(50304 * C * 4);
    // a logit for each of GPT-2's tokens, the padded rows dropped
    expect((await session.logits(' Hello')).length).toBe(50257);
    session.dispose();
  });

  it("of a model past the adapter's memory is refused from its pickle, no weight read (every weight was read to the host before the check)", async () => {
    const { bytes, wte } = paddedNanoGptCheckpoint('', [], NaN); // read, its weights would be refused as holding NaN
    const reads: number[] = [];
    const file = new File([new Uint8Array(bytes)], 'ckpt.pt');
    const slice = file.slice.bind(file);
    file.slice = (start = 0, end = file.size) => (reads.push(end - start), slice(start, end));
    const vocabDir = gpt3EncoderDir()!;
    const [vocab, merges] = ['encoder.json', 'vocab.bpe'].map((name) => readFileSync(join(vocabDir, name), 'utf8'));
    const session = new Session();
    const live = device().memory().liveBytes;
    // its weights (GPT-2's 50257 rows of 4, after the padding's cut) take 0.77 MiB: an adapter of 64 KiB
    await withMemoryBound(2 ** 16, () =>
      expect(session.loadNanoGpt({ checkpoint: pickedSource(file), vocab, merges }, 'ckpt.pt')).rejects.toThrow(
        /^ckpt\.pt: the model does not fit this adapter: its weights alone take 0\.768 MiB \([\d,]+ parameters: n-layer 1, n-embd 4, vocab 50257\), more than 0\.0625 MiB, the test bound$/,
      ),
    );
    // its zip directory and pickle read, less than the token embedding's bytes (its storage unread)
    expect(reads.reduce((a, b) => a + b, 0)).toBeLessThan(wte.data.byteLength);
    expect(device().memory().liveBytes).toBe(live);
    session.dispose();
  });
});

describe("the page opens a Hugging Face GPT-2 model with pytorch_model.bin", () => {
  it("torch's logits within 1e-4; a damaged one is refused in one line naming it, the model before it kept", async () => {
    const session = new Session();
    const config = readFileSync(join(FIXTURES, 'hf/config.json'), 'utf8');
    const tokenizer = JSON.stringify(toHuggingFaceJSON(miniGpt2Tokenizer()));
    const files = { config, tokenizer, weights: [{ file: 'pytorch_model.bin', source: picked('hf/pytorch_model.bin', 'pytorch_model.bin') }] };
    const summary = await session.loadHF(files, 'Hugging Face model');
    expect(summary).toMatchObject({ tokenizer: 'gpt2', vocabSize: 260 });
    expect(summary.config).toMatchObject({ nLayer: 2, nHead: 2, nEmbd: 8, blockSize: 16, bias: true, activation: 'gelu_tanh' });
    expect(await worstError(session, 'hf')).toBeLessThan(1e-4);

    const live = device().memory().liveBytes;
    const legacy = pickedSource(new File([Uint8Array.of(0x80, 2, 0x7d, 0x2e)], 'pytorch_model.bin'));
    await expect(session.loadHF({ ...files, weights: [{ file: 'pytorch_model.bin', source: legacy }] }, 'old')).rejects.toThrow(/^old\/pytorch_model\.bin: a torch\.save file of PyTorch before 1\.6 \(a bare pickle\), which is not read: re-save it with torch >= 1\.6/);
    // the same file named model.safetensors is read as safetensors, and refused as one
    await expect(session.loadHF({ ...files, weights: [{ ...files.weights[0]!, file: 'model.safetensors' }] }, 'named')).rejects.toThrow(/^named\/model\.safetensors: not a readable safetensors file/);
    expect(session.source).toBe('Hugging Face model');
    expect(device().memory().liveBytes).toBe(live);
    expect(await worstError(session, 'hf')).toBeLessThan(1e-4);
    session.dispose();
  });
});
