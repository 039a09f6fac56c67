// `gpt sample --num-beams N`: beam search's sequences printed best first (those of generateBeams,
// which test/beam-search.test.ts checks against a float64 reference), and its flags refused in one
// line where they do not go together.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateBeams } from '../src/gpt/beam-search.js';
import { GPT } from '../src/gpt/model.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { saveCheckpoint } from '../src/node/checkpoint-dir.js';
import { expectOneLine, gpt, tempDir } from './cli-helpers.js';
import { setupDevice } from './helpers.js';

const dir = join(tempDir('cli-beams'), 'ckpt');
const tokenizer = CharTokenizer.train('to be, or not to be: that is the question.\n');
let model: GPT;
beforeAll(async () => {
  await setupDevice();
  model = new GPT({ vocabSize: tokenizer.vocabSize, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 16, dropout: 0, bias: true }, { seed: 3 });
  await saveCheckpoint(dir, model, tokenizer);
});

describe('gpt sample --num-beams', () => {
  it("prints generateBeams' sequences, best first, with their scores", async () => {
    const r = await gpt('sample', '--out-dir', dir, '--start', 'to ', '--num-beams', '3', '--num-return-sequences', '2', '--max-new-tokens', '6', '--length-penalty', '0.5', '--early-stopping', 'never');
    expect(r.code, r.err).toBe(0);
    const want = await generateBeams(model, tokenizer.encode('to '), { numBeams: 3, numReturnSequences: 2, maxNewTokens: 6, lengthPenalty: 0.5, earlyStopping: 'never' });
    // (the in-process runner joins each write to stdout with a newline)
    const printed = want.map(({ tokens, score }, i) => `--- sequence ${i + 1} of 2 (score ${score.toFixed(4)})\nto ${tokenizer.decode(tokens)}`);
    expect(r.out.split('\n').filter(Boolean)).toEqual(printed.join('\n').split('\n').filter(Boolean));
    expect(r.err).toMatch(/^--- beam search, 3 beams: up to 6 tokens in .* s \(float(32|16)\)$/m);
  });

  it.each([
    [['--num-beams', '2', '--temperature', '0.5'], /^gpt sample: flag --num-beams 2 runs beam search, which draws nothing: --temperature is a setting of sampling/],
    [['--num-beams', '2', '--num-samples', '2'], /^gpt sample: flag --num-beams 2 runs beam search, which draws nothing: --num-samples is a setting of sampling/],
    [['--num-beams', '2', '--draft', dir], /--draft is a setting of sampling/],
    [['--length-penalty', '2'], /^gpt sample: flag --length-penalty is a setting of beam search: give --num-beams N with N > 1/],
    [['--num-beams', '2', '--num-return-sequences', '3'], /^gpt sample: flag --num-return-sequences 3 must be at most --num-beams 2$/],
    [['--num-beams', '2', '--early-stopping', 'yes'], /--early-stopping must be one of false, true, never/],
    [['--num-beams', '2', '--kv-cache', 'false'], /--kv-cache false is not offered with it/],
  ])('refuses %j in one line', async (args, message) => {
    expectOneLine(await gpt('sample', '--out-dir', dir, ...args), 2, message);
  });
});
