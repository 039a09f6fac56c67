// `gpt bench-generate` (prefill and decoding tokens/s per batch size) and `gpt sample --num-samples`
// (its samples generated as one batch) and `gpt sample --num-beams` (beam search): what they print,
// and their usage errors; --stop (each sample cut before it, and ended there) and
// --no-repeat-ngram-size (passed on to generate and generateBeams). The samples are checked against the library's single-prompt generate,
// seeded as the help says (seed + n - 1); the beams against generateBeams (which
// test/beam-search.test.ts checks against a float64 reference).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { generateBeams } from '../src/gpt/beam-search.js';
import { generate } from '../src/gpt/generate.js';
import { timeGeneration } from '../src/gpt/generate-timing.js';
import { GPT } from '../src/gpt/model.js';
import { profile, setProfile } from '../src/kernels/profile.js';
import { device, scope, tensor } from '../src/index.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { saveCheckpoint } from '../src/node/checkpoint-dir.js';
import { Progress } from '../src/cli/progress.js';
import { expectOneLine, gpt, runGpt, tempDir, type Result } from './cli-helpers.js';
import { setupDevice, withLimits } from './helpers.js';

const dir = join(tempDir('cli-generate'), 'ckpt');
const tokenizer = CharTokenizer.train('to be, or not to be: that is the question.\n');
let model: GPT;
beforeAll(async () => {
  await setupDevice();
  model = new GPT({ vocabSize: tokenizer.vocabSize, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 16, dropout: 0, bias: true }, { seed: 3 });
  await saveCheckpoint(dir, model, tokenizer);
});

describe('gpt bench-generate', () => {
  it('prints a row of prefill and decoding tokens/s per batch size', async () => {
    const r = await gpt('bench-generate', '--init-from', dir, '--batch', '1,3', '--prompt-tokens', '4', '--new-tokens', '3', '--repeats', '1');
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toMatch(/^model: .*ckpt \(1 layer, 2 heads, 16 wide, block 16, vocab \d+; .*prompts of 4 tokens, 3 new tokens each, greedy, float32; median of 1 run$/);
    expect(lines.slice(1, 2)).toEqual([expect.stringMatching(/^batch +prefill tok\/s +decode tok\/s +decode ms\/step$/)]);
    const rows = lines.slice(2).map((l) => l.split(/ +/).map(Number));
    expect(rows.map((row) => row[0])).toEqual([1, 3]);
    for (const row of rows) {
      expect(row.slice(1).every((x) => x > 0 && Number.isFinite(x)), String(row)).toBe(true);
      // equal but for the printing: tok/s to 0.1, ms/step to 0.01
      const [tokPerSec, msPerStep] = [row[2]!, row[3]!];
      expect(Math.abs(tokPerSec * msPerStep - row[0]! * 1000), 'decode tok/s x ms/step = batch x 1000').toBeLessThanOrEqual(tokPerSec * 0.005 + msPerStep * 0.05 + 0.00025);
    }
  });

  it('times a random model of the shape the flags give, and refuses what it cannot do in one line', async () => {
    const r = await gpt('bench-generate', '--n-layer', '1', '--n-head', '1', '--n-embd', '8', '--block-size', '8', '--vocab-size', '5', '--batch', '2', '--prompt-tokens', '2', '--new-tokens', '2', '--repeats', '1');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^model: random \(1 layer, 1 head, 8 wide, block 8, vocab 5;/);
    const refused: [string[], string][] = [
      [['--batch', '1,0'], "gpt bench-generate: flag --batch expects batch sizes in [1, 4096], comma-separated (e.g. 1,8), got '1,0'"],
      [['--batch', '8;'], "gpt bench-generate: flag --batch expects batch sizes in [1, 4096], comma-separated (e.g. 1,8), got '8;'"],
      [['--init-from', dir, '--n-layer', '2'], 'gpt bench-generate: --n-layer shapes the random model; it does not apply with --init-from'],
      [['--n-embd', '30'], 'gpt bench-generate: --n-embd (30) must be divisible by --n-head (4)'],
      [['--init-from', dir, '--prompt-tokens', '10', '--new-tokens', '7'], "gpt bench-generate: --prompt-tokens (10) + --new-tokens (7) must not exceed the model's block size (16)"],
    ];
    for (const [args, message] of refused) expect(await gpt('bench-generate', ...args)).toMatchObject({ code: 2, err: message });
  });
});

describe('timeGeneration', () => {
  it('gives each figure from the median of the timed runs: the mean of the middle two for an even count', async () => {
    const [batch, promptTokens, newTokens] = [2, 3, 4];
    const t = await timeGeneration(model, { batch, promptTokens, newTokens, repeats: 2 });
    const mean = (xs: number[]) => (xs[0]! + xs[1]!) / 2;
    expect(t.prefillMs).toHaveLength(2);
    expect(t.prefillTokensPerSec).toBeCloseTo((batch * promptTokens * 1000) / mean(t.prefillMs), 9);
    expect(t.decodeTokensPerSec).toBeCloseTo((batch * (newTokens - 1) * 1000) / mean(t.decodeMs), 9);
    expect(t.decodeMsPerStep).toBeCloseTo(mean(t.decodeMs) / (newTokens - 1), 9);
  });

  it('refuses repeats or a seed it cannot use in one line (repeats 0 gave NaN figures, 1.5 two runs)', async () => {
    const o = { batch: 1, promptTokens: 2, newTokens: 2 };
    for (const repeats of [0, 1.5, -1]) await expect(timeGeneration(model, { ...o, repeats })).rejects.toThrow(`timeGeneration: repeats must be a positive integer, got ${repeats}`);
    await expect(timeGeneration(model, { ...o, seed: 0.5 })).rejects.toThrow('timeGeneration: seed must be an integer, got 0.5');
  });
});

describe('gpt sample output', () => {
  it('is the prompt and its continuation, ending in a newline, the stats line alone on stderr (a real process: the bytes as the shell sees them)', async () => {
    const ids: number[] = [];
    for await (const id of generate(model, tokenizer.encode('to '), { maxNewTokens: 6, temperature: 0 })) ids.push(id);
    const one = await runGpt(['sample', '--out-dir', dir, '--start', 'to ', '--max-new-tokens', '6', '--temperature', '0'], 60_000, 'launcher');
    expect(one.code, one.err).toBe(0);
    expect(one.out).toBe(`to ${tokenizer.decode(ids)}\n`);
    expect(one.err).toMatch(/^--- 6 tokens in [\d.]+ s \([\d.]+ tok\/s, float32\)\n$/);
    const two = await runGpt(['sample', '--out-dir', dir, '--start', 'to ', '--max-new-tokens', '6', '--temperature', '0', '--num-samples', '2'], 60_000, 'launcher');
    expect(two.code, two.err).toBe(0);
    const sample = `to ${tokenizer.decode(ids)}`; // greedy: both alike
    expect(two.out).toBe(`--- sample 1 of 2\n${sample}\n--- sample 2 of 2\n${sample}\n`);
  });
});

describe('gpt sample --num-samples', () => {
  it('draws the samples as one batch, each what generate gives its prompt with seed + n - 1', async () => {
    const r = await gpt('sample', '--out-dir', dir, '--start', 'to ', '--num-samples', '3', '--max-new-tokens', '12', '--temperature', '1', '--seed', '40');
    expect(r.code, r.err).toBe(0);
    // (the in-process runner joins each write to stdout with a newline)
    const samples = r.out.split(/^--- sample \d of 3\nto \n/m).slice(1).map((s) => s.replace(/\n\n?$/, ''));
    expect(samples).toHaveLength(3);
    for (let n = 0; n < 3; n++) {
      const ids: number[] = [];
      for await (const id of generate(model, tokenizer.encode('to '), { maxNewTokens: 12, temperature: 1, topK: 200, seed: 40 + n })) ids.push(id);
      expect(samples[n], `sample ${n + 1}`).toBe(tokenizer.decode(ids));
    }
    expect(r.err).toMatch(/--- 36 tokens in .* s \(.* tok\/s, 3 samples in one batch, float(32|16)\)/);
  });

  it('says how far the batch is on stderr while it runs (its samples print only when done): a line each 10 s, here each step', async () => {
    const report = Progress.prototype.report;
    const spy = vi.spyOn(Progress.prototype, 'report').mockImplementation(function (this: Progress, done, status) {
      return report.call(this, done, status, 0); // a line at every report, not after 10 s
    });
    try {
      const r = await gpt('sample', '--out-dir', dir, '--start', 'to ', '--num-samples', '2', '--max-new-tokens', '4');
      expect(r.code, r.err).toBe(0);
      const lines = r.err.trimEnd().split('\n');
      expect(lines.slice(0, 4)).toEqual([1, 2, 3, 4].map((k) => expect.stringMatching(new RegExp(`^generating 2 samples, tokens each: ${k}/4, eta (\\?|\\d+s)$`))));
      expect(lines.slice(4)).toEqual([expect.stringMatching(/^--- 8 tokens in /)]);
      expect(r.out).not.toMatch(/generating/);
    } finally {
      spy.mockRestore();
    }
  });

  it('at the largest --seed, each sample still draws from its own seed (seed + n - 1 is not rounded onto its neighbour)', async () => {
    const r = await gpt('sample', '--out-dir', dir, '--start', 'to ', '--num-samples', '3', '--max-new-tokens', '24', '--temperature', '2', '--top-k', '0', '--seed', String(Number.MAX_SAFE_INTEGER));
    expect(r.code, r.err).toBe(0);
    const samples = r.out.split(/^--- sample \d of 3\nto \n/m).slice(1).map((s) => s.replace(/\n\n?$/, ''));
    expect(new Set(samples).size, samples.join(' | ')).toBe(3);
  });

  it('is checked against the adapter at the positions the generation reaches, not always the whole block; a refusal names the KV cache and the flag (bench-generate too)', async () => {
    // a long block, narrow: a layer's KV cache of --num-samples N rows over the whole block is past one binding
    const long = join(tempDir('cli-generate-long'), 'ckpt');
    const small = new GPT({ vocabSize: tokenizer.vocabSize, blockSize: 4096, nLayer: 1, nHead: 1, nEmbd: 8, dropout: 0, bias: true }, { seed: 1 });
    await saveCheckpoint(long, small, tokenizer);
    small.dispose();
    const { maxStorageBufferBindingSize: binding, maxBufferSize } = device().info.limits;
    const n = Math.ceil(Math.min(binding!, maxBufferSize!) / (4096 * 3 * 8 * 4)) + 1;
    // a prompt of 1 token and 2 new ones: a KV cache of at most 6 positions a sample
    const r = await gpt('sample', '--out-dir', long, '--num-samples', String(n), '--max-new-tokens', '2', '--temperature', '0');
    expect(r.code, r.err).toBe(0);
    expect(r.out.match(/^--- sample \d+ of \d+$/gm)).toHaveLength(n);
    // past half the block the cache may grow to all of it
    const full = await gpt('sample', '--out-dir', long, '--num-samples', String(n), '--max-new-tokens', '2048');
    expect(full.code).toBe(2);
    expect(full.err).toMatch(new RegExp(`^gpt sample: flag --num-samples ${n}: the model does not fit this adapter: a layer's KV cache \\(batch ${n} x block 4096 x .*; a smaller --num-samples fits$`));
    // gpt bench-generate alike: its batch at the positions its prompts and new tokens reach
    const bench = await gpt('bench-generate', '--init-from', long, '--batch', `1,${n}`, '--prompt-tokens', '1', '--new-tokens', '2', '--repeats', '1');
    expect(bench.code, bench.err).toBe(0);
    expect(bench.out).toMatch(new RegExp(`^${n} `, 'm'));
    const benchFull = await gpt('bench-generate', '--init-from', long, '--batch', `1,${n}`, '--prompt-tokens', '1024', '--new-tokens', '1024');
    expect(benchFull.code).toBe(2);
    expect(benchFull.err).toMatch(new RegExp(`^gpt bench-generate: flag --batch ${n}: the model does not fit this adapter: a layer's KV cache \\(batch ${n} x block 4096 x .*; a smaller --batch fits$`));
  });
});

describe('gpt sample, gpt eval and gpt bench-generate --dtype', () => {
  it('check the batch in the dtype it computes in: one whose float32 KV cache is past a binding but whose float16 one is not runs in float16 (bench-generate too)', async (ctx) => {
    if (!profile().f16) ctx.skip();
    // 8 sequences of a 2-token prompt and 6 new tokens reach the whole block: a layer's cache [8, 16 slots, 3·16]
    const sampling = ['sample', '--init-from', dir, '--start', 'to', '--num-samples', '8', '--max-new-tokens', '6'];
    const timing = ['bench-generate', '--init-from', dir, '--batch', '1,8', '--prompt-tokens', '2', '--new-tokens', '6', '--repeats', '1'];
    const ran = await withLimits({ maxStorageBufferBindingSize: 8 * 16 * 48 * 2 }, async () => {
      const each = [];
      for (const args of [sampling, timing]) for (const dtype of ['float16', 'float32']) each.push(await gpt(...args, '--dtype', dtype));
      return each;
    });
    const [sampled, sampleRefused, timed, timeRefused] = ran as [Result, Result, Result, Result];
    const refusal = (command: string, flag: string) =>
      `gpt ${command}: flag ${flag} 8: the model does not fit this adapter: a layer's KV cache (batch 8 x block 16 x 3·n-embd 16) takes 0.0234 MiB, over its maxStorageBufferBindingSize of 0.0117 MiB; a smaller ${flag} fits`;
    expect(sampled.code, sampled.err).toBe(0);
    expect(sampled.err).toMatch(/, 8 samples in one batch, float16\)\n$/);
    expect(sampleRefused).toMatchObject({ code: 2, err: refusal('sample', '--num-samples') });
    expect(timed.code, timed.err).toBe(0);
    expect(timed.out).toMatch(/greedy, float16; median of 1 run\n[^]*^8 /m);
    expect(timeRefused).toMatchObject({ code: 2, err: refusal('bench-generate', '--batch') });
  });

  it('compute in float16 when asked (eval within 1% of float32), and refuse it in one line where float16 cannot run', async (ctx) => {
    if (!profile().f16) ctx.skip();
    const text = join(dir, '..', 'eval.txt');
    writeFileSync(text, 'to be, or not to be: that is the question.\n'.repeat(30));
    const evalLoss = async (dtype: string) => {
      const r = await gpt('eval', '--init-from', dir, '--data', text, '--eval-iters', '4', '--batch-size', '4', '--dtype', dtype);
      expect(r.code, r.err).toBe(0);
      const [, train, val, shown] = /train loss ([\d.]+), val loss ([\d.]+) \(4 batches of 4x16, (\w+)\)/.exec(r.out)!;
      expect(shown).toBe(dtype);
      return [Number(train), Number(val)];
    };
    const [full, half] = [await evalLoss('float32'), await evalLoss('float16')];
    half.forEach((loss, i) => expect(Math.abs(loss - full[i]!) / full[i]!).toBeLessThan(0.01));
    const sampled = await gpt('sample', '--init-from', dir, '--max-new-tokens', '12', '--dtype', 'float16', '--start', 'to be');
    expect(sampled.code, sampled.err).toBe(0);
    expect(sampled.err).toMatch(/--- 12 tokens in [\d.]+ s \([\d.]+ tok\/s, float16\)/);
    setProfile({ f16: false }); // as on an adapter without shader-f16
    try {
      const rest: Record<string, string[]> = { sample: [], eval: ['--data', text, '--eval-iters', '1'], 'bench-generate': ['--prompt-tokens', '2', '--new-tokens', '2'] };
      for (const command of ['sample', 'eval', 'bench-generate']) {
        const r = await gpt(command, '--init-from', dir, '--dtype', 'float16', ...rest[command]!);
        expect(r.code).toBe(2);
        expect(r.err).toMatch(new RegExp(`^gpt ${command}: flag --dtype float16 needs WebGPU's shader-f16 feature, and float16 is turned off in the kernel profile; use --dtype float32 or auto$`));
      }
    } finally {
      setProfile(null);
    }
  });
});

// A model whose outputs overflow float32 from its second block on (h.1's attention output adds 3e38
// to every feature, and the mean of its ln_2 overflows):
// nanoGPT's estimate_loss would print nan and go on, torch.multinomial refuses the logits. Here
// eval prints the losses, then one line naming where the outputs stop being finite, and exits 1;
// sample stops at the first draw with the sample, the token and its position.
describe('a model whose outputs are not finite', () => {
  it('gpt eval prints the losses and says from which stage on, exiting 1; gpt sample refuses the draw in one line', async () => {
    const overflowing = join(tempDir('cli-generate-overflow'), 'ckpt');
    const m = new GPT({ vocabSize: tokenizer.vocabSize, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 16, dropout: 0, bias: true }, { seed: 3 });
    try {
      const w = m.h.items[1]!.attn.c_proj.bias!;
      scope(() => w.assign(tensor(new Float32Array(w.size).fill(3e38), [...w.shape])));
      await saveCheckpoint(overflowing, m, tokenizer);
    } finally {
      m.dispose();
    }
    const text = join(overflowing, '..', 'eval.txt');
    writeFileSync(text, 'to be, or not to be: that is the question.\n'.repeat(30));
    const evaluated = await gpt('eval', '--init-from', overflowing, '--data', text, '--eval-iters', '3', '--batch-size', '2');
    expect(evaluated.out).toMatch(/^train loss NaN, val loss NaN \(3 batches of 2x16, float32\)$/m);
    expectOneLine(evaluated, 1, /^gpt eval: the model's outputs are not finite \(the train loss is NaN, the val loss is NaN\): first at block h\.1, on batch 1 of train; its weights hold NaN or overflow float32 in the forward$/);
    const one = await gpt('sample', '--init-from', overflowing, '--max-new-tokens', '5', '--start', 'to be');
    expectOneLine(one, 1, /^gpt sample: the model's logits are not finite at generated token 1 \(position 5\): a NaN or \+Inf, or every one -Inf, so there is no distribution to draw from \(its weights hold NaN or overflow float32 in the forward\); no token was drawn there$/);
    const two = await gpt('sample', '--init-from', overflowing, '--max-new-tokens', '5', '--start', 'to be', '--num-samples', '2');
    expectOneLine(two, 1, /^gpt sample: the model's logits are not finite at sample 1, generated token 1 \(position 5\)/);
    const beams = await gpt('sample', '--init-from', overflowing, '--max-new-tokens', '5', '--start', 'to be', '--num-beams', '2');
    expectOneLine(beams, 1, /^gpt sample: the model's logits are not finite at generated token 1 \(position 5\): a NaN/);
  });
});

/** What generate gives the prompt 'to ' (seed `seed`, `maxNewTokens` 12), as text. */
async function generated(opts: { temperature: number; seed?: number; noRepeatNgramSize?: number }): Promise<string> {
  const ids: number[] = [];
  for await (const id of generate(model, tokenizer.encode('to '), { maxNewTokens: 12, topK: 200, ...opts })) ids.push(id);
  return tokenizer.decode(ids);
}

describe('gpt sample --stop', () => {
  it('streams the text up to the stop string, ending the sample there (a real process: the bytes as the shell sees them)', async () => {
    const text = await generated({ temperature: 0 });
    const stop = text.slice(4, 6);
    const upTo = text.indexOf(stop);
    const r = await runGpt(['sample', '--out-dir', dir, '--start', 'to ', '--max-new-tokens', '12', '--temperature', '0', '--stop', stop], 60_000, 'launcher');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe(`to ${text.slice(0, upTo)}\n`);
    expect(r.err).toMatch(new RegExp(`^--- ${upTo + stop.length} tokens in `)); // a character a token: it stopped where the stop string ended
  });

  it('with --num-samples, each sample stops on its own', async () => {
    const texts = await Promise.all([0, 1, 2].map((n) => generated({ temperature: 1, seed: 40 + n })));
    // a stop string that ends the samples at different places (or not at all)
    const candidates = texts.flatMap((t) => [...t].flatMap((_, k) => [t.slice(k, k + 1), t.slice(k, k + 2)])).filter((c) => c && c.trim() === c);
    const stop = candidates.find((c) => new Set(texts.map((t) => t.indexOf(c))).size === 3)!;
    expect(stop, 'a stop string that tells the samples apart').toBeDefined();
    const r = await gpt('sample', '--out-dir', dir, '--start', 'to ', '--num-samples', '3', '--max-new-tokens', '12', '--temperature', '1', '--seed', '40', '--stop', stop);
    expect(r.code, r.err).toBe(0);
    // (the in-process runner joins each write to stdout with a newline)
    const samples = r.out.split(/^--- sample \d of 3\nto \n/m).slice(1).map((s) => s.replace(/\n\n?$/, ''));
    const ends = texts.map((t) => (t.includes(stop) ? t.indexOf(stop) : t.length));
    expect(samples).toEqual(texts.map((t, n) => t.slice(0, ends[n])));
    const drawn = texts.map((t, n) => (t.includes(stop) ? ends[n]! + stop.length : 12)).reduce((a, b) => a + b);
    expect(r.err).toMatch(new RegExp(`--- ${drawn} tokens in `));
  });
});

describe('gpt sample --no-repeat-ngram-size', () => {
  it("samples as generate does with noRepeatNgramSize, and beam search as generateBeams does", async () => {
    const want = await generated({ temperature: 0, noRepeatNgramSize: 2 });
    expect(want, 'the bans change the text').not.toBe(await generated({ temperature: 0 }));
    const r = await gpt('sample', '--out-dir', dir, '--start', 'to ', '--num-samples', '2', '--max-new-tokens', '12', '--temperature', '0', '--no-repeat-ngram-size', '2');
    expect(r.code, r.err).toBe(0);
    expect(r.out.split(/^--- sample \d of 2\nto \n/m).slice(1).map((s) => s.replace(/\n\n?$/, ''))).toEqual([want, want]);
    const beams = await gpt('sample', '--out-dir', dir, '--start', 'to ', '--num-beams', '2', '--max-new-tokens', '8', '--no-repeat-ngram-size', '1');
    expect(beams.code, beams.err).toBe(0);
    const [best] = await generateBeams(model, tokenizer.encode('to '), { numBeams: 2, maxNewTokens: 8, noRepeatNgramSize: 1 });
    expect(beams.out.replace(/\n/g, '')).toBe(`to ${tokenizer.decode(best!.tokens)}`.replace(/\n/g, ''));
  });

  it.each([
    [['--no-repeat-ngram-size', '2', '--draft', dir], /^gpt sample: flag --draft decodes without n-gram bans: --no-repeat-ngram-size 2 cannot be applied with it/],
    [['--logit-bias', '3:5', '--draft', dir], /^gpt sample: flag --draft decodes without a logit bias: --logit-bias 3:5 cannot be applied with it \(sample without --draft\)$/],
    [['--num-beams', '2', '--stop', 'x'], /^gpt sample: flag --num-beams 2 runs beam search, which draws nothing: --stop is a setting of sampling/],
  ])('refuses %j in one line', async (args, message) => {
    expectOneLine(await gpt('sample', '--out-dir', dir, ...args), 2, message);
  });
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
    [['--num-beams', '2', '--min-p', '0.1'], /--min-p is a setting of sampling/],
    [['--num-beams', '2', '--logit-bias', '1:5'], /--logit-bias is a setting of sampling/],
    [['--length-penalty', '2'], /^gpt sample: flag --length-penalty is a setting of beam search: give --num-beams N with N > 1/],
    [['--num-beams', '2', '--num-return-sequences', '3'], /^gpt sample: flag --num-return-sequences 3 must be at most --num-beams 2$/],
    [['--num-beams', '2', '--early-stopping', 'yes'], /--early-stopping must be one of false, true, never/],
    [['--num-beams', '2', '--kv-cache', 'false'], /--kv-cache false is not offered with it/],
    [['--num-beams', '1000'], /^gpt sample: flag --num-beams 1000 is more than this checkpoint's vocabulary of \d+ tokens allows, \d+ \(/],
  ])('refuses %j in one line', async (args, message) => {
    expectOneLine(await gpt('sample', '--out-dir', dir, ...args), 2, message);
  });
});
