// An export replaces a set of files no manifest commits (nanoGPT's ckpt.pt and the meta.pkl its
// sample.py decodes with; a Hugging Face directory's model.safetensors, tokenizer.json and
// config.json). A process killed at any moment must leave the old set, the new one, or one its
// readers refuse as incomplete: never new weights beside the old vocabulary (a character model
// then decodes into other characters, silently). A kill is simulated by failing the k-th rename
// (each file lands by one), for every k.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it, vi } from 'vitest';
import { saveNanoGptFile } from '../src/node/nanogpt-file.js';
import { tempDir } from './cli-helpers.js';

const renames = vi.hoisted(() => ({ failAt: 0, count: 0 }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const rename = (...args: Parameters<typeof fs.rename>) => {
    if (++renames.count === renames.failAt) return Promise.reject(Object.assign(new Error('killed here'), { code: 'EIO' }));
    return fs.rename(...args);
  };
  return { ...fs, rename };
});

async function* pieces(text: string) {
  yield new TextEncoder().encode(text);
}

it("a kill at any rename of a nanoGPT export leaves ckpt.pt and meta.pkl of one export, or ckpt.pt without meta.pkl (an error for a character model): never new weights with the old vocabulary", async () => {
  const seen = new Set<string>();
  for (let k = 1; k <= 4; k++) {
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
    expect(['old weights, old vocabulary', 'new weights, new vocabulary', 'old weights, none vocabulary', 'new weights, none vocabulary'], `killed at rename ${k}`).toContain(state);
  }
  expect(seen).toContain('new weights, new vocabulary'); // past the last rename: the export done
});
