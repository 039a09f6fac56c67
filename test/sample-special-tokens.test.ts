// `gpt sample --start` as nanoGPT's sample.py encodes it (`allowed_special={"<|endoftext|>"}`, its
// documented way to sample unconditionally from GPT-2): "<|endoftext|>" in the prompt is GPT-2's
// document-boundary token, not the text's 6 tokens. Checked on a small GPT-2 directory against
// greedy decoding of GPT-2's float64 logits (test/hf-reference.ts) from the ids the prompt means.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { gpt, tempDir } from './cli-helpers.js';
import { setupDevice } from './helpers.js';
import { gpt2Logits, miniGpt2Tokenizer, randomGPT2, SMALL, writeGPT2Dir } from './hf-reference.js';

const dir = join(tempDir('sample-special'), 'gpt2');
const params = randomGPT2(5);
const tokenizer = miniGpt2Tokenizer();
const END = SMALL.V - 1; // the mini tokenizer's <|endoftext|>, its last token as in GPT-2
beforeAll(async () => {
  await setupDevice();
  writeGPT2Dir(dir, params, { prefix: false, head: false });
});

/** `n` greedy tokens after `ids`, by GPT-2's float64 logits. */
function greedy(ids: number[], n: number): number[] {
  const out = [...ids];
  for (let i = 0; i < n; i++) {
    const last = gpt2Logits(params, out.slice(-SMALL.T)).at(-1)!;
    out.push(last.indexOf(Math.max(...last)));
  }
  return out.slice(ids.length);
}

describe('gpt sample --start with <|endoftext|>', () => {
  it.each([
    ['<|endoftext|>', [END]],
    ['the<|endoftext|> the', [...tokenizer.encode('the'), END, ...tokenizer.encode(' the')]],
  ])('%j conditions on GPT-2\'s end-of-text token', async (start, ids) => {
    expect(tokenizer.decode([END])).toBe('<|endoftext|>');
    const r = await gpt('sample', '--init-from', dir, '--start', start, '--max-new-tokens', '6', '--temperature', '0');
    expect(r.code, r.err).toBe(0);
    const joined = (text: string) => text.replace(/\n/g, ''); // the captured writes are joined by newlines
    expect(joined(r.out)).toBe(joined(start + tokenizer.decode(greedy(ids, 6))));
  });
});
