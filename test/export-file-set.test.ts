// An export replaces a set of files no manifest commits (nanoGPT's ckpt.pt and the meta.pkl its
// sample.py decodes with; a Hugging Face directory's model.safetensors, tokenizer.json and
// config.json). An export that fails at any moment must leave the old set whole or the new one:
// never new weights beside the old vocabulary (a character model then decodes into other
// characters, silently), nor weights without their config.json (a half-written export that looks
// like a model, and the earlier one gone). A failure is injected at the k-th rename (each file
// lands by one, and is set aside by one), for every k.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it, vi } from 'vitest';
import { GPT } from '../src/gpt/model.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { saveHFModel } from '../src/node/checkpoint-dir.js';
import { saveNanoGptFile } from '../src/node/nanogpt-file.js';
import { tempDir } from './cli-helpers.js';
import { setupDevice } from './helpers.js';
import { miniGpt2Tokenizer } from './hf-reference.js';

beforeAll(setupDevice);

const renames = vi.hoisted(() => ({ failAt: 0, count: 0 }));
const failHere = () => ++renames.count === renames.failAt;
const injected = () => Object.assign(new Error('failed here'), { code: 'EIO' });
vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const rename = (...args: Parameters<typeof fs.rename>) => (failHere() ? Promise.reject(injected()) : fs.rename(...args));
  return { ...fs, rename };
});
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const renameSync = (...args: Parameters<typeof fs.renameSync>) => {
    if (failHere()) throw injected();
    fs.renameSync(...args);
  };
  return { ...fs, renameSync };
});

/** The names in `dir` that are not hidden (a failed export's temporary files, removed by the next, start with a dot). */
const visible = (dir: string) => readdirSync(dir).filter((name) => !name.startsWith('.'));

async function* pieces(text: string) {
  yield new TextEncoder().encode(text);
}

it("a failure at any rename of a nanoGPT export leaves ckpt.pt and meta.pkl of one export: never new weights with the old vocabulary, nor without one", async () => {
  const seen = new Set<string>();
  for (let k = 1; k <= 6; k++) {
    const dir = join(tempDir('export-file-set'), 'out');
    mkdirSync(dir);
    writeFileSync(join(dir, 'ckpt.pt'), 'old weights');
    writeFileSync(join(dir, 'meta.pkl'), 'old vocabulary');
    Object.assign(renames, { failAt: k, count: 0 });
    await saveNanoGptFile(join(dir, 'ckpt.pt'), pieces('new weights'), new TextEncoder().encode('new vocabulary')).catch(() => undefined);
    renames.failAt = 0;
    const read = (name: string) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), 'utf8').split(' ')[0] : 'none');
    const state = `${read('ckpt.pt')} weights, ${read('meta.pkl')} vocabulary`;
    seen.add(state);
    expect(['old weights, old vocabulary', 'new weights, new vocabulary'], `failed at rename ${k}`).toContain(state);
    expect(visible(dir).sort(), `failed at rename ${k}`).toEqual(['ckpt.pt', 'meta.pkl']);
  }
  expect(seen).toContain('new weights, new vocabulary'); // past the last rename: the export done
});

it("a failure at any rename of a Hugging Face export over another leaves the earlier export whole or the new one: never weights without their config.json and tokenizer", async () => {
  const root = tempDir('export-file-set-hf');
  const bpe = miniGpt2Tokenizer(); // the earlier export's: it has a tokenizer.json
  const chars = new CharTokenizer([...'abcdefghij ']); // this one's travels in the weights' metadata
  const earlier = new GPT({ vocabSize: bpe.vocabSize, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8, dropout: 0, bias: false }, { seed: 1 });
  const model = new GPT({ vocabSize: chars.vocabSize, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8, dropout: 0, bias: false }, { seed: 2 });
  const [oldRef, newRef] = [join(root, 'old'), join(root, 'new')];
  await saveHFModel(oldRef, earlier, bpe);
  await saveHFModel(newRef, model, chars);
  const files = ['model.safetensors', 'tokenizer.json', 'config.json'];
  const bytes = (dir: string, name: string) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name)) : null);
  const whose = (dir: string, name: string) => {
    const b = bytes(dir, name);
    if (b === null) return 'none';
    return b.equals(bytes(oldRef, name) ?? Buffer.alloc(0)) ? 'old' : b.equals(bytes(newRef, name) ?? Buffer.alloc(0)) ? 'new' : 'other';
  };
  const complete = (ref: string, label: string) => files.map((f) => (bytes(ref, f) === null ? 'none' : label)).join(' ');
  try {
    const seen = new Set<string>();
    for (let k = 1; k <= 8; k++) {
      const dir = join(root, `k${k}`);
      await saveHFModel(dir, earlier, bpe);
      Object.assign(renames, { failAt: k, count: 0 });
      await saveHFModel(dir, model, chars).catch(() => undefined);
      renames.failAt = 0;
      const state = files.map((f) => whose(dir, f)).join(' ');
      seen.add(state);
      expect([complete(oldRef, 'old'), complete(newRef, 'new')], `failed at rename ${k}: ${files.join(' ')}`).toContain(state);
      expect(visible(dir).sort(), `failed at rename ${k}`).toEqual(files.filter((f) => state.split(' ')[files.indexOf(f)] !== 'none').sort());
    }
    expect(seen).toContain(complete(newRef, 'new')); // past the last rename: the export done
  } finally {
    earlier.dispose();
    model.dispose();
  }
});

it("an export removes the temporary files a killed export of the same files left (as large as the weights), and keeps a live writer's and others'", async () => {
  const dir = join(tempDir('export-file-set-temps'), 'out');
  mkdirSync(dir);
  const dead = spawnSync(process.execPath, ['-e', '']).pid!; // exited: as a killed export
  const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  try {
    const killed = [`.ckpt.pt.tmp-${dead}-abc123`, `.meta.pkl.tmp-${dead}-abc123`];
    const kept = [`.ckpt.pt.tmp-${live.pid}-abc123`, `.notes.txt.tmp-${dead}-abc123`];
    for (const name of [...killed, ...kept]) writeFileSync(join(dir, name), 'half');
    await saveNanoGptFile(join(dir, 'ckpt.pt'), pieces('new weights'), new TextEncoder().encode('new vocabulary'));
    expect(readdirSync(dir).sort()).toEqual([...kept, 'ckpt.pt', 'meta.pkl'].sort());
  } finally {
    live.kill();
  }
});

it("an export goes on where a killed export's temporary file cannot be removed (another user's, in a sticky directory; here a directory under such a name)", async () => {
  const dir = join(tempDir('export-file-set-stuck'), 'out');
  mkdirSync(dir);
  const dead = spawnSync(process.execPath, ['-e', '']).pid!;
  const stuck = `.ckpt.pt.tmp-${dead}-abc123`;
  mkdirSync(join(dir, stuck));
  await saveNanoGptFile(join(dir, 'ckpt.pt'), pieces('new weights'), null);
  expect(readdirSync(dir).sort()).toEqual([stuck, 'ckpt.pt'].sort());
});

it('an export where a directory stands in place of one of its files fails in one line naming it, and leaves that directory and the rest as they were', async () => {
  const dir = join(tempDir('export-file-set-dir'), 'out');
  mkdirSync(join(dir, 'meta.pkl', 'inside'), { recursive: true });
  writeFileSync(join(dir, 'ckpt.pt'), 'old weights');
  await expect(saveNanoGptFile(join(dir, 'ckpt.pt'), pieces('new weights'), new TextEncoder().encode('new vocabulary'))).rejects.toThrow(`cannot write ${join(dir, 'meta.pkl')}: a directory is there`);
  expect(readdirSync(dir).sort()).toEqual(['ckpt.pt', 'meta.pkl']);
  expect(readdirSync(join(dir, 'meta.pkl'))).toEqual(['inside']);
  expect(readFileSync(join(dir, 'ckpt.pt'), 'utf8')).toBe('old weights');
});

it('a first export into a new directory that fails at any rename leaves no directory, or the whole export', async () => {
  const root = tempDir('export-file-set-new');
  const bpe = miniGpt2Tokenizer();
  const model = new GPT({ vocabSize: bpe.vocabSize, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8, dropout: 0, bias: false }, { seed: 3 });
  try {
    for (let k = 1; k <= 4; k++) {
      const dir = join(root, `k${k}`, 'out');
      Object.assign(renames, { failAt: k, count: 0 });
      const failed = await saveHFModel(dir, model, bpe).then(() => false, () => true);
      renames.failAt = 0;
      if (failed) expect(existsSync(join(root, `k${k}`)), `failed at rename ${k}`).toBe(false);
      else expect(readdirSync(dir).sort(), `rename ${k}: past the last`).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
    }
  } finally {
    model.dispose();
  }
});
