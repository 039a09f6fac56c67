// The model line of gpt train / distill / bench-generate / eval: a tiny model read "0.00M
// parameters", two layers sharing one block "sharing 1 blocks", one layer "1 layers".
import { describe, expect, it } from 'vitest';
import { sharedBlocks } from '../src/cli/compression.js';
import { formatParams } from '../src/cli/progress.js';
import { gpt } from './cli-helpers.js';

describe('the model line', () => {
  it("counts parameters as nanoGPT does (millions, 2 decimals), in full where that would read 0.00M", () => {
    expect(formatParams(795_904)).toBe('0.80M');
    expect(formatParams(124_439_808)).toBe('124.44M');
    expect(formatParams(5_000)).toBe('0.01M');
    expect(formatParams(4_999)).toBe('4,999');
    expect(formatParams(3_520)).toBe('3,520');
  });

  it('says block for one shared block, blocks for more', () => {
    expect(sharedBlocks(2, 2)).toBe('2 layers sharing 1 block of weights');
    expect(sharedBlocks(4, 2)).toBe('4 layers sharing 2 blocks of weights');
  });

  // 1,312 = token embedding 65 x 8 (tied LM head) + LayerNorms 3 x 8 + c_attn 8 x 24 + attn c_proj 8 x 8 + MLP 2 x 8 x 32 (no biases)
  it('gpt bench-generate names a one-layer, one-head model in the singular', async () => {
    const r = await gpt('bench-generate', '--n-layer', '1', '--n-head', '1', '--n-embd', '8', '--block-size', '8', '--prompt-tokens', '2', '--new-tokens', '2', '--batch', '1', '--repeats', '1');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('model: random (1 layer, 1 head, 8 wide, block 8, vocab 65; 1,312 parameters); prompts of 2 tokens, 2 new tokens each, greedy, float32; median of 1 run');
  });
});
