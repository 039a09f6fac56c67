// gpt export of a structurally pruned model names each block's shape: a model pruned in one
// dimension only said "heads per block []" for the dimension left whole.
import { describe, expect, it } from 'vitest';
import { hfConfigFromGPT, hfLayoutProblem } from '../src/gpt/hf/config.js';
import type { GPTConfig } from '../src/gpt/model.js';

const dense: GPTConfig = { vocabSize: 65, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 32, dropout: 0, bias: false };

describe("Hugging Face's layout and per-block shapes", () => {
  it('a dense model fits it', () => {
    expect(hfLayoutProblem(dense)).toBeNull();
  });

  it("one MLP width in every block is GPT-2's n_inner", () => {
    expect(hfLayoutProblem({ ...dense, mlpWidths: [64, 64] })).toBeNull();
    expect(hfConfigFromGPT({ ...dense, mlpWidths: [64, 64] })).toMatchObject({ n_embd: 32, n_inner: 64 });
    expect(hfConfigFromGPT(dense)).toMatchObject({ n_inner: null });
  });

  it('names the heads and MLP width of every block, the dimension left whole too', () => {
    const tail = 'every block must have n_head 2 heads and one MLP width (n_inner)';
    expect(hfLayoutProblem({ ...dense, mlpWidths: [64, 128] })).toBe(
      `Hugging Face's GPT-2 layout cannot hold this structurally pruned model (heads per block [2,2], MLP widths [64,128]): ${tail}`,
    );
    expect(hfLayoutProblem({ ...dense, nHeads: [1, 2] })).toBe(
      `Hugging Face's GPT-2 layout cannot hold this structurally pruned model (heads per block [1,2], MLP widths [128,128]): ${tail}`,
    );
  });
});
