// `gpt sample --draft DIR`: speculative decoding from the CLI. Greedy text equals the text of
// `gpt sample` without a draft; the acceptance rate closes stderr; a draft whose tokenizer is not
// the target's, several samples, or penalties, are refused with one line.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { GPT } from '../src/gpt/model.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { saveCheckpoint } from '../src/node/checkpoint-dir.js';
import { expectOneLine, gpt, tempDir } from './cli-helpers.js';
import { setupDevice } from './helpers.js';
import { device } from '../src/index.js';

const root = tempDir('cli-sample-draft');
const [targetDir, draftDir, otherDir, shortDir] = ['target', 'draft', 'other', 'short'].map((d) => join(root, d));
const tokenizer = CharTokenizer.train('to be, or not to be: that is the question.\n');
let draftWeights = 0;
beforeAll(async () => {
  await setupDevice();
  const config = (nEmbd: number, vocabSize = tokenizer.vocabSize, blockSize = 16) => ({ vocabSize, blockSize, nLayer: 1, nHead: 2, nEmbd, dropout: 0, bias: true });
  const save = async (dir: string, model: GPT, t: CharTokenizer) => {
    await saveCheckpoint(dir, model, t);
    model.dispose();
  };
  await save(targetDir, new GPT(config(16), { seed: 3 }), tokenizer);
  const draft = new GPT(config(8), { seed: 4 });
  draftWeights = [...draft.parameters()].length;
  await save(draftDir, draft, tokenizer);
  const other = CharTokenizer.train('abc');
  await save(otherDir, new GPT(config(8, other.vocabSize), { seed: 4 }), other);
  await save(shortDir, new GPT(config(8, tokenizer.vocabSize, 8), { seed: 4 }), tokenizer);
});

describe('gpt sample --draft', () => {
  it('a prompt longer than the draft\'s block size: a note says nothing is drafted; the text is the target\'s', async () => {
    const args = ['sample', '--init-from', targetDir, '--start', 'to be, or not', '--max-new-tokens', '3', '--temperature', '0'];
    const plain = await gpt(...args);
    const drafted = await gpt(...args, '--draft', shortDir);
    expect(drafted.code, drafted.err).toBe(0);
    expect(drafted.out).toBe(plain.out);
    expect(drafted.err).toMatch(/^note: --draft .*short: the prompt \(13 tokens\) is longer than the draft's block size \(8\): nothing is drafted, the target samples alone$/m);
    expect(drafted.err).toMatch(/^--- draft: nothing drafted: the prompt \(13 tokens\) is longer than the draft's block size \(8\)$/m);
    expect(drafted.err).not.toMatch(/0 of 0/);
  });

  // the target checks k drafted tokens in one forward of the context and them: a context at its block leaves none room
  it("a prompt that fills the target's block, or --max-new-tokens 1: no draft runs, and the note and the closing line say why", async () => {
    const fills = 'to be, or not to'; // 16 characters: the block of both models
    const cases: [string[], string][] = [
      [['--start', fills, '--max-new-tokens', '3'], "the prompt \\(16 tokens\\) fills the block size \\(16\\) of the model sampled: no drafted token fits beside it"],
      [['--start', `${fills} be`, '--max-new-tokens', '3'], "the prompt \\(19 tokens\\) fills the block size \\(16\\) of the model sampled: no drafted token fits beside it"],
      [['--start', 'to ', '--max-new-tokens', '1'], "--max-new-tokens 1: a round's last token is the model's own, so drafting needs 2 or more"],
    ];
    for (const [args, why] of cases) {
      const run = ['sample', '--init-from', targetDir, '--temperature', '0', ...args];
      const plain = await gpt(...run);
      const drafted = await gpt(...run, '--draft', draftDir);
      expect(drafted.code, drafted.err).toBe(0);
      expect(drafted.out).toBe(plain.out);
      expect(drafted.err).toMatch(new RegExp(`^note: --draft \\S+draft: ${why}: nothing is drafted, the target samples alone$`, 'm'));
      expect(drafted.err).toMatch(new RegExp(`^--- draft: nothing drafted: ${why}$`, 'm'));
      expect(drafted.err).not.toMatch(/0 of 0/);
    }
  });

  it('greedy text is that of gpt sample without a draft; the acceptance rate is printed to stderr', async () => {
    const args = ['sample', '--init-from', targetDir, '--start', 'to ', '--max-new-tokens', '20', '--temperature', '0'];
    const plain = await gpt(...args);
    const drafted = await gpt(...args, '--draft', draftDir, '--draft-tokens', '3');
    expect(drafted.code, drafted.err).toBe(0);
    expect(drafted.out).toBe(plain.out);
    expect(drafted.err).toMatch(/^--- draft: \d+ of \d+ drafted tokens accepted \(\d+\.\d%\)$/m);
    expect(drafted.err).not.toMatch(/ 0 drafted tokens/);
  });

  // each cast of a weight is a dispatch: cast at every draft forward, float16 added drafted x weights of them
  it("under --dtype float16 casts the draft's weights once, as the target's, not at every draft forward", async () => {
    const run = async (dtype: string) => {
      const before = device().stats.dispatches;
      const r = await gpt('sample', '--init-from', targetDir, '--start', 'to ', '--max-new-tokens', '12', '--temperature', '0', '--draft', draftDir, '--dtype', dtype);
      expect(r.code, r.err).toBe(0);
      return { dispatches: device().stats.dispatches - before, drafted: Number(/ of (\d+) drafted/.exec(r.err)![1]) };
    };
    const [f32, f16] = [await run('float32'), await run('float16')];
    expect(f16.drafted).toBe(f32.drafted);
    expect(f16.dispatches - f32.dispatches).toBeLessThan((f16.drafted * draftWeights) / 2);
  });

  it("refuses a draft whose tokenizer is not the target's, and several samples", async () => {
    expectOneLine(await gpt('sample', '--init-from', targetDir, '--draft', otherDir), 2, /--draft .*other: the draft's tokenizer \(char, 3 tokens\) is not the target's \(char, \d+ tokens\)/);
    expectOneLine(await gpt('sample', '--init-from', targetDir, '--draft', draftDir, '--num-samples', '2'), 2, /flag --draft decodes one sample at a time: --num-samples must be 1 with it, got 2/);
    expectOneLine(await gpt('sample', '--init-from', targetDir, '--draft', draftDir, '--draft-tokens', '0'), 2, /--draft-tokens/);
    expectOneLine(await gpt('sample', '--init-from', targetDir, '--draft', draftDir, '--presence-penalty', '0.5'), 2, /flag --draft decodes without penalties: --presence-penalty 0.5 cannot be applied with it/);
    expectOneLine(await gpt('sample', '--init-from', targetDir, '--draft-tokens', '3'), 2, /flag --draft-tokens 3 counts a draft model's tokens: give the draft with --draft DIR/);
  });
});
