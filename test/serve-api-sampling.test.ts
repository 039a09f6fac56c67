// `gpt serve --api`'s min_p (vLLM's), logit_bias and best_of (OpenAI's) over real HTTP, against an
// in-process server on a tiny character model built here. Oracles: plain facts of the settings (a
// +100 bias draws its token alone, -100 never; min_p 1 draws the likeliest token: greedy's text),
// `gpt sample` with the same flags (the library's draws are checked against the float64 reference
// in test/generate-bias-min-p.test.ts), and OpenAI's best_of rule applied here to the n = best_of
// choices' own token logprobs; each refusal a 400 naming its field.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sample } from '../src/cli/sample.js';
import { startServer, type StaticServer } from '../src/cli/serve.js';
import { openCompletionsApi, type CompletionsApi } from '../src/cli/serve-api.js';
import { GPT } from '../src/gpt/model.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { saveCheckpoint } from '../src/node/checkpoint-dir.js';
import { tempDir } from './cli-helpers.js';
import { setupDevice } from './helpers.js';

const dir = tempDir('serve-api-sampling');
const ckpt = join(dir, 'ckpt');
const TEXT = 'to be, or not to be: that is the question.\n';
const tokenizer = CharTokenizer.train(TEXT);
let api: CompletionsApi;
let server: StaticServer;

beforeAll(async () => {
  await setupDevice();
  mkdirSync(join(dir, 'web'));
  writeFileSync(join(dir, 'web', 'index.html'), '<!doctype html><title>t</title>');
  const model = new GPT({ vocabSize: tokenizer.vocabSize, blockSize: 32, nLayer: 1, nHead: 2, nEmbd: 16, dropout: 0, bias: true }, { seed: 3 });
  await saveCheckpoint(ckpt, model, tokenizer);
  model.dispose();
  api = await openCompletionsApi({ checkpoint: ckpt, modelId: 'tiny', dtype: 'auto' });
  server = await startServer({ root: join(dir, 'web'), port: 0, checkpoint: ckpt, api });
});
afterAll(async () => {
  await server?.close();
  await api?.close();
});

/** An answer: its choices (with their token logprobs where asked for) and its usage. */
type Completion = { choices: { text: string; index: number; logprobs: { token_logprobs: number[] } | null }[]; usage: Record<string, number> };
type Choice = Completion['choices'][number];

const post = (body: unknown) => fetch(new URL('/v1/completions', server.url), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

async function complete(body: Record<string, unknown>): Promise<Completion> {
  const res = await post(body);
  const json = (await res.json()) as Completion;
  expect(res.status, JSON.stringify(json)).toBe(200);
  return json;
}

/** `gpt sample`'s stdout for these flags, in process. */
async function gptSample(...args: string[]): Promise<string> {
  const out: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
  try {
    expect(await sample(['--init-from', ckpt, ...args], { write: () => true } as unknown as NodeJS.WritableStream)).toBe(0);
  } finally {
    write.mockRestore();
  }
  return out.join('');
}

const SETTINGS = { temperature: 1.5, top_k: 0, max_tokens: 16 };
const id = (ch: string) => tokenizer.encode(ch)[0]!;

describe('POST /v1/completions: min_p, logit_bias, best_of', () => {
  it("honours logit_bias (+100 draws its token alone, -100 never) and min_p (1: the likeliest token, greedy's text), as `gpt sample`'s flags", async () => {
    const forced = await complete({ prompt: 'to', seed: 4, ...SETTINGS, logit_bias: { [id('q')]: 100 } });
    expect(forced.choices[0]!.text).toBe('q'.repeat(16));
    const plain = await complete({ prompt: 'to', seed: 4, ...SETTINGS });
    const banned = [...new Set(plain.choices[0]!.text)].slice(0, 3);
    const without = await complete({ prompt: 'to', seed: 4, ...SETTINGS, logit_bias: Object.fromEntries(banned.map((c) => [id(c), -100])) });
    for (const c of banned) expect(without.choices[0]!.text).not.toContain(c);
    const greedy = await complete({ prompt: 'to', ...SETTINGS, temperature: 0 });
    expect((await complete({ prompt: 'to', seed: 4, ...SETTINGS, min_p: 1 })).choices[0]!.text).toBe(greedy.choices[0]!.text);
    // the same settings through gpt sample's flags
    const bias = { [id('e')]: 3, [id(' ')]: -2 };
    const both = await complete({ prompt: 'to', seed: 4, ...SETTINGS, min_p: 0.1, logit_bias: bias });
    expect(both.choices[0]!.text, 'the settings change the text').not.toBe(plain.choices[0]!.text);
    const flags = ['--temperature', '1.5', '--top-k', '0', '--max-new-tokens', '16', '--min-p', '0.1', '--logit-bias', `${id('e')}:3,${id(' ')}:-2`];
    expect(await gptSample('--start', 'to', '--seed', '4', ...flags)).toBe(`to${both.choices[0]!.text}\n`);
  });

  it('best_of returns the n of best_of choices with the highest mean token logprob, best first; usage counts all of them', async () => {
    const prompts = ['to', 'the q'];
    const all = await complete({ prompt: prompts, n: 5, seed: 9, ...SETTINGS, logprobs: 0 });
    const picked = await complete({ prompt: prompts, n: 2, best_of: 5, seed: 9, ...SETTINGS, logprobs: 0 });
    const mean = (c: Choice) => c.logprobs!.token_logprobs.reduce((s, x) => s + x, 0) / c.logprobs!.token_logprobs.length;
    const want = prompts.flatMap((_, p) => all.choices.slice(5 * p, 5 * p + 5).sort((a, b) => mean(b) - mean(a)).slice(0, 2));
    expect(picked.choices.map((c) => c.text)).toEqual(want.map((c) => c.text));
    expect(picked.choices.map((c) => c.index)).toEqual([0, 1, 2, 3]);
    expect(new Set(all.choices.map(mean)).size, 'the choices rank apart').toBe(10);
    expect(picked.usage).toEqual(all.usage); // 10 completions drawn either way
    // without logprobs asked for, the same choices
    const bare = await complete({ prompt: prompts, n: 2, best_of: 5, seed: 9, ...SETTINGS });
    expect(bare.choices.map((c) => [c.text, c.logprobs])).toEqual(want.map((c) => [c.text, null]));
  });

  it('best_of equal to n streams, as n alone does (every choice is returned: nothing to rank; vLLM streams it)', async () => {
    const streamed = async (fields: Record<string, unknown>) => {
      const res = await post({ prompt: 'to', n: 2, seed: 9, ...SETTINGS, stream: true, ...fields });
      const text = await res.text();
      expect(res.status, text).toBe(200);
      return text.replace(/"(id|created)":"?[^,"]*"?/g, '');
    };
    expect(await streamed({ best_of: 2 })).toBe(await streamed({}));
  });

  it('refuses bad values with a 400 naming the field', async () => {
    const V = tokenizer.vocabSize;
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ min_p: 1.5 }, 'min_p', /^min_p must be a finite number in \[0, 1\], got 1\.5 \(vLLM's; 0: off\)$/],
      [{ logit_bias: { [V]: 1 } }, 'logit_bias', new RegExp(`^logit_bias key '${V}' is not a token id in \\[0, ${V}\\)$`)],
      [{ logit_bias: { '-1': 1 } }, 'logit_bias', new RegExp(`^logit_bias key '-1' is not a token id in \\[0, ${V}\\)$`)],
      [{ logit_bias: { 3: 101 } }, 'logit_bias', /^logit_bias\[3\] must be a number in \[-100, 100\], got 101$/],
      [{ logit_bias: { 3: '1' } }, 'logit_bias', /^logit_bias\[3\] must be a number in \[-100, 100\], got "1"$/],
      [{ logit_bias: [1] }, 'logit_bias', /^logit_bias must be an object \{ tokenId: bias \}, got \[1\]$/],
      [{ logit_bias: Object.fromEntries(Array.from({ length: 301 }, (_, i) => [i, 1])) }, 'logit_bias', /^logit_bias holds 301 entries, more than the 300 allowed/],
      [{ n: 3, best_of: 2 }, 'best_of', /^best_of must be at least n \(3\): the n best of best_of choices are returned, got 2$/],
      [{ best_of: 2, stream: true }, 'best_of', /^best_of 2 cannot be streamed/],
      [{ best_of: 0 }, 'best_of', /^best_of must be an integer in \[1, 128\], got 0/],
    ];
    for (const [fields, param, message] of cases) {
      const res = await post({ prompt: 'to', max_tokens: 2, ...fields });
      const body = (await res.json()) as { error: { message: string; param: string } };
      expect(res.status, JSON.stringify(fields)).toBe(400);
      expect(body.error.param).toBe(param);
      expect(body.error.message).toMatch(message);
    }
  });
});

describe('gpt sample --logit-bias', () => {
  it('refuses a bad value in one line naming the flag', async () => {
    const V = tokenizer.vocabSize;
    const cases: [string, string][] = [
      ['3', "flag --logit-bias takes ID:BIAS[,ID:BIAS...] (a token id, a bias in [-100, 100]), got '3' in '3'"],
      ['3:1,4:x', "flag --logit-bias takes ID:BIAS[,ID:BIAS...] (a token id, a bias in [-100, 100]), got '4:x' in '3:1,4:x'"],
      ['3:0x10', "flag --logit-bias takes ID:BIAS[,ID:BIAS...] (a token id, a bias in [-100, 100]), got '3:0x10' in '3:0x10'"], // a decimal number, as every flag's
      ['3: 5', "flag --logit-bias takes ID:BIAS[,ID:BIAS...] (a token id, a bias in [-100, 100]), got '3: 5' in '3: 5'"],
      ['3:1,3:2', "flag --logit-bias gives token id 3 twice in '3:1,3:2'"],
      [`${V}:1`, `flag --logit-bias key '${V}' is not a token id in [0, ${V})`],
      ['3:-101', 'flag --logit-bias[3] must be a number in [-100, 100], got number -101'],
    ];
    for (const [value, message] of cases) await expect(sample(['--init-from', ckpt, '--logit-bias', value]), value).rejects.toThrow(message);
  });
});
