// `gpt serve --api`: OpenAI's completions API over real HTTP, against an in-process server on a
// tiny character model built here. The text is checked against `gpt sample` with the same seed
// and settings, streamed against not, stop sequences against the text without them, usage against
// the character counts (a character model: one token a character), each refusal's one-line
// message; a client that leaves stops its generation, and GPU live bytes stay flat.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { opensAdapter } from '../src/cli/main.js';
import { sample } from '../src/cli/sample.js';
import { startServer, WEB_DIST, type StaticServer } from '../src/cli/serve.js';
import { completionsApi, MAX_BODY_BYTES, openCompletionsApi, type CompletionsApi } from '../src/cli/serve-api.js';
import { generateBatch } from '../src/gpt/generate.js';
import { GPT } from '../src/gpt/model.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { device, scope, tensor } from '../src/index.js';
import { profile } from '../src/kernels/profile.js';
import { saveCheckpoint } from '../src/node/checkpoint-dir.js';
import { savePeftAdapter } from '../src/node/peft-adapter-dir.js';
import { expectOneLine, gpt, spawnGpt, tempDir } from './cli-helpers.js';
import { setupDevice, withLimits } from './helpers.js';
import { miniGpt2Tokenizer } from './hf-reference.js';

const dir = tempDir('serve-api');
const ckpt = join(dir, 'ckpt');
/** A checkpoint of the same sizes but a block of 16 (SMALL), which prompts reach. */
const smallCkpt = join(dir, 'small');
const SMALL = 16;
const root = join(dir, 'web');
const TEXT = 'to be, or not to be: that is the question.\n';
const tokenizer = CharTokenizer.train(TEXT);
/** The model's block, max_model_len: a prompt and its max_tokens must fit it; max_tokens null draws the rest of it (thousands of tokens: a generation that lasts). */
const BLOCK = 1024;
let api: CompletionsApi;
let server: StaticServer;
const logged: string[] = [];

beforeAll(async () => {
  await setupDevice();
  mkdirSync(root);
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>t</title>');
  const model = new GPT({ vocabSize: tokenizer.vocabSize, blockSize: BLOCK, nLayer: 1, nHead: 2, nEmbd: 16, dropout: 0, bias: true }, { seed: 3 });
  await saveCheckpoint(ckpt, model, tokenizer);
  model.dispose();
  const small = new GPT({ ...model.config, blockSize: SMALL }, { seed: 3 });
  await saveCheckpoint(smallCkpt, small, tokenizer);
  small.dispose();
  api = await openCompletionsApi({ checkpoint: ckpt, modelId: 'tiny', dtype: 'auto' });
  server = await startServer({ root, port: 0, checkpoint: ckpt, api, onRequest: (m, u, s, e) => logged.push(`${s} ${m} ${u}${e ? `: ${e}` : ''}`) });
});
afterAll(async () => {
  await server?.close();
  await api?.close();
});

interface Choice {
  text: string;
  index: number;
  finish_reason: string | null;
}
interface Completion {
  id: string;
  object: string;
  created: number;
  model: string;
  choices: Choice[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

const post = (body: unknown, headers: Record<string, string> = {}, path = '/v1/completions', signal?: AbortSignal) =>
  fetch(new URL(path, server.url), { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body), signal });

async function complete(body: Record<string, unknown>): Promise<Completion> {
  const res = await post(body);
  const json = (await res.json()) as Completion;
  expect(res.status, JSON.stringify(json)).toBe(200);
  return json;
}

/** A streamed completion: its chunks (data lines before [DONE]) and each choice's text joined. */
async function streamed(body: Record<string, unknown>): Promise<{ chunks: Completion[]; texts: string[]; finish: (string | null)[]; raw: string }> {
  const res = await post({ ...body, stream: true });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
  const raw = await res.text();
  const events = raw.split('\n\n');
  expect(events.pop(), 'ends in a blank line').toBe('');
  expect(events.pop()).toBe('data: [DONE]');
  const chunks = events.map((e) => {
    expect(e.startsWith('data: ')).toBe(true);
    return JSON.parse(e.slice(6)) as Completion;
  });
  const texts: string[] = [];
  const finish: (string | null)[] = [];
  for (const c of chunks) {
    for (const ch of c.choices) {
      texts[ch.index] = (texts[ch.index] ?? '') + ch.text;
      expect(finish[ch.index] ?? null, 'nothing comes after a choice finished').toBeNull();
      finish[ch.index] = ch.finish_reason;
    }
  }
  return { chunks, texts, finish, raw };
}

/** POST to `at` (a server's URL): the response. */
const postAt = (at: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal) =>
  fetch(new URL('/v1/completions', at), { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body), signal });

/** A request to `at` for 13 MB of stream (105 kB echoed by each of 128 choices at once, past what the sockets buffer), on a socket that reads none of it. */
async function notReading(at: string): Promise<Socket> {
  // truncated to fit the block, echoed whole (vLLM's)
  const body = JSON.stringify({ prompt: 'to be, or not to be: '.repeat(5000), truncate_prompt_tokens: 8, n: 128, echo: true, stream: true, max_tokens: 3, seed: 1 });
  const { hostname, port, host } = new URL(at);
  const socket = connect(Number(port), hostname);
  await new Promise((r) => socket.once('connect', r));
  socket.pause();
  socket.write(`POST /v1/completions HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  return socket;
}

/** POST to `at` (a server's URL): status and JSON. */
const postTo = async (at: string, body: unknown, headers: Record<string, string> = {}) => {
  const res = await fetch(new URL('/v1/completions', at), { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, body: res.headers.get('content-type')?.startsWith('text/event-stream') ? await res.text() : ((await res.json()) as Completion) };
};

/** `gpt sample` run in this process: its stdout as written. */
async function gptSample(...args: string[]): Promise<string> {
  const out: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
  const error = vi.spyOn(console, 'error').mockImplementation(() => undefined);
  try {
    const stats = { write: () => true } as unknown as NodeJS.WritableStream;
    expect(await sample(['--init-from', ckpt, ...args], stats)).toBe(0);
  } finally {
    write.mockRestore();
    error.mockRestore();
  }
  return out.join('');
}

const SETTINGS = { temperature: 1.3, top_k: 0, top_p: 0.95, max_tokens: 24 };
const SAMPLE_FLAGS = ['--temperature', '1.3', '--top-k', '0', '--top-p', '0.95', '--max-new-tokens', '24'];

describe('POST /v1/completions', () => {
  it("gives `gpt sample`'s text for the same seed and settings, choice i of n that of sample i + 1 (seed + i), streamed or not", async () => {
    const one = await complete({ model: 'tiny', prompt: 'to be', seed: 7, ...SETTINGS });
    expect(one).toMatchObject({ object: 'text_completion', model: 'tiny', id: expect.stringMatching(/^cmpl-/) });
    expect(Math.abs(one.created - Date.now() / 1000)).toBeLessThan(60);
    expect(one.choices).toEqual([{ text: expect.any(String), index: 0, logprobs: null, finish_reason: 'length' }]);
    expect(`to be${one.choices[0]!.text}\n`).toBe(await gptSample('--start', 'to be', '--seed', '7', ...SAMPLE_FLAGS));

    const three = await complete({ prompt: 'to be', seed: 7, n: 3, ...SETTINGS });
    const printed = await gptSample('--start', 'to be', '--seed', '7', '--num-samples', '3', ...SAMPLE_FLAGS);
    expect(printed).toBe(three.choices.map((c, i) => `${i ? '\n' : ''}--- sample ${i + 1} of 3\nto be${c.text}`).join('') + '\n');
    expect(three.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    expect(three.choices[0]!.text).toBe(one.choices[0]!.text);
    expect(new Set(three.choices.map((c) => c.text)).size, 'each choice draws its own').toBe(3);

    const s = await streamed({ prompt: 'to be', seed: 7, n: 3, ...SETTINGS });
    expect(s.texts).toEqual(three.choices.map((c) => c.text));
    expect(s.finish).toEqual(['length', 'length', 'length']);
    expect(s.chunks.length, 'a chunk per token or so, not one at the end').toBeGreaterThan(3 * 10);
    for (const c of s.chunks) expect(c).toMatchObject({ id: s.chunks[0]!.id, object: 'text_completion', model: 'tiny', created: s.chunks[0]!.created });
  });

  it("applies presence_penalty, frequency_penalty and repetition_penalty (vLLM's) as `gpt sample`'s penalty flags", async () => {
    const penalties = { presence_penalty: 0.7, frequency_penalty: -0.4, repetition_penalty: 1.6 };
    const got = await complete({ prompt: 'to be', seed: 7, ...SETTINGS, ...penalties });
    const flags = ['--presence-penalty', '0.7', '--frequency-penalty', '-0.4', '--repetition-penalty', '1.6'];
    expect(`to be${got.choices[0]!.text}\n`).toBe(await gptSample('--start', 'to be', '--seed', '7', ...SAMPLE_FLAGS, ...flags));
    expect(got.choices[0]!.text, 'the penalties change the text').not.toBe((await complete({ prompt: 'to be', seed: 7, ...SETTINGS })).choices[0]!.text);
  });

  it('takes an array of prompts as one batch: choice p * n + i is what prompt p alone gives with seed + i', async () => {
    const prompts = ['to', 'not to be: th', 'q'];
    const batch = await complete({ prompt: prompts, n: 2, seed: 11, ...SETTINGS });
    expect(batch.choices.map((c) => c.index)).toEqual([0, 1, 2, 3, 4, 5]);
    for (const [p, prompt] of prompts.entries()) {
      const alone = await complete({ prompt, n: 2, seed: 11, ...SETTINGS });
      expect(batch.choices.slice(2 * p, 2 * p + 2).map((c) => c.text), prompt).toEqual(alone.choices.map((c) => c.text));
    }
    // a character model: one token a character, counted here from the texts
    const promptChars = prompts.join('').length;
    expect(batch.usage).toEqual({ prompt_tokens: promptChars, completion_tokens: 6 * 24, total_tokens: promptChars + 6 * 24 });
    for (const c of batch.choices) expect(c.text).toHaveLength(24);
  });

  it("takes token-id prompts (OpenAI's array of tokens, or array of token arrays) as the text they encode would be taken; echo gives their text", async () => {
    const ids = (text: string) => tokenizer.encode(text); // the test's own tokenizer: the ids a client's would give
    const asText = await complete({ prompt: 'to be', seed: 7, n: 2, ...SETTINGS });
    const asIds = await complete({ prompt: ids('to be'), seed: 7, n: 2, ...SETTINGS });
    expect(asIds.choices).toEqual(asText.choices);
    expect(asIds.usage).toEqual(asText.usage);
    const prompts = ['to', 'not to be: th'];
    const batch = await complete({ prompt: prompts.map(ids), n: 2, seed: 11, ...SETTINGS });
    expect(batch.choices).toEqual((await complete({ prompt: prompts, n: 2, seed: 11, ...SETTINGS })).choices);
    const echoed = await complete({ prompt: ids('to'), seed: 3, echo: true });
    expect(echoed.choices[0]!.text).toBe(`to${(await complete({ prompt: 'to', seed: 3 })).choices[0]!.text}`);
    expect((await streamed({ prompt: [ids('to')], seed: 3, echo: true })).texts).toEqual([echoed.choices[0]!.text]);
  });

  it('stop sequences cut the text before the first of them and end that choice (its tokens counted up to the one completing it); streamed alike', async () => {
    const base = { prompt: 'to be', seed: 5, n: 4, ...SETTINGS, max_tokens: 40 };
    const free = (await complete(base)).choices.map((c) => c.text);
    // a three-character piece of choice 0's text, which cuts it (streamed, its first characters must
    // wait for the third), and a character of choice 1 that choice 0 has not before it
    const stop = [free[0]!.slice(10, 13), [...free[1]!].find((ch) => !free[0]!.slice(0, 13).includes(ch))!];
    expect(stop[1]).toBeDefined();
    const cut = free.map((t) => {
      const found = stop.map((s) => t.indexOf(s)).filter((at) => at >= 0);
      if (!found.length) return { text: t, finish: 'length', tokens: 40 };
      const at = Math.min(...found);
      const s = stop.find((x) => t.indexOf(x) === at)!;
      return { text: t.slice(0, at), finish: 'stop', tokens: at + s.length };
    });
    expect(cut.filter((c) => c.finish === 'stop').length, 'some choices stop').toBeGreaterThanOrEqual(2);
    expect(free[0]!.indexOf(stop[0]!), 'choice 0 ends at the three characters').toBe(cut[0]!.text.length);
    const r = await complete({ ...base, stop });
    expect(r.choices.map((c) => ({ text: c.text, finish: c.finish_reason }))).toEqual(cut.map(({ text, finish }) => ({ text, finish })));
    // lm-evaluation-harness's local-completions sends a task's `until` and the end of text (humaneval's: 6 in all; vLLM takes any number): more, never met here, change nothing
    const lmEval = await complete({ ...base, stop: [...stop, '\nclasS', '\ndeF', '\n#', '\nprinT', '<|endoftext|>'] });
    expect(lmEval.choices.map((c) => c.text)).toEqual(cut.map((c) => c.text));
    const tokens = cut.reduce((n, c) => n + c.tokens, 0);
    expect(r.usage).toEqual({ prompt_tokens: 5, completion_tokens: tokens, total_tokens: 5 + tokens });
    const s = await streamed({ ...base, stop, stream_options: { include_usage: true } });
    expect(s.texts, 'no piece of a stop sequence was sent ahead').toEqual(cut.map((c) => c.text));
    expect(s.finish).toEqual(cut.map((c) => c.finish));
    expect(s.chunks.at(-1)).toMatchObject({ choices: [], usage: r.usage });
    expect(s.chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    // a single string, as OpenAI takes it too
    expect((await complete({ ...base, n: 1, stop: stop[0] })).choices[0]).toMatchObject({ text: free[0]!.slice(0, free[0]!.indexOf(stop[0]!)), finish_reason: 'stop' });
  });

  it('echo puts the prompt before the text; defaults are OpenAI\'s (16 tokens, temperature 1), a missing seed a random one', async () => {
    const seeded = await complete({ prompt: 'to', seed: 3 });
    expect(seeded.choices[0]!.text).toHaveLength(16);
    expect(seeded.choices[0]!.text).toBe((await complete({ prompt: 'to', seed: 3, temperature: 1, top_p: 1, max_tokens: 16 })).choices[0]!.text);
    const echoed = await complete({ prompt: 'to', seed: 3, echo: true });
    expect(echoed.choices[0]!.text).toBe(`to${seeded.choices[0]!.text}`);
    expect((await streamed({ prompt: 'to', seed: 3, echo: true })).texts).toEqual([`to${seeded.choices[0]!.text}`]);
    const unseeded = await Promise.all([1, 2, 3].map(() => complete({ prompt: 'to', max_tokens: 40 })));
    expect(new Set(unseeded.map((r) => r.choices[0]!.text)).size).toBeGreaterThan(1);
  });

  it("without a seed, each prompt of a batch draws its own (OpenAI's: each is a request of its own), so a prompt given twice gives two samples; with one, the same text", async () => {
    const twice = { prompt: ['to be', 'to be'], n: 2, ...SETTINGS };
    const texts = (await complete(twice)).choices.map((c) => c.text);
    expect(new Set(texts).size, texts.join(' | ')).toBe(4);
    const seeded = (await complete({ ...twice, seed: 4 })).choices.map((c) => c.text);
    expect(seeded.slice(2), 'choice p * n + i draws with seed + i').toEqual(seeded.slice(0, 2));
  });

  it('serves requests one generation at a time, in turn: one waits while another generates; concurrent ones give what each gives alone', async () => {
    const first = new AbortController();
    const long = await post({ prompt: 'to', max_tokens: null, stream: true }, {}, '/v1/completions', first.signal);
    await long.body!.getReader().read(); // generating
    let answered = false;
    const next = complete({ prompt: 'to', max_tokens: 1 }).then((r) => ((answered = true), r));
    await new Promise((r) => setTimeout(r, 1500));
    expect(answered, 'waits for its turn').toBe(false);
    first.abort();
    expect((await next).choices[0]!.text).toHaveLength(1);

    const bodies = [1, 2, 3, 4].map((seed) => ({ prompt: 'that', seed, ...SETTINGS }));
    const alone: string[] = [];
    for (const b of bodies) alone.push((await complete(b)).choices[0]!.text);
    const together = await Promise.all(bodies.map((b, i) => (i % 2 ? streamed(b).then((s) => s.texts[0]!) : complete(b).then((r) => r.choices[0]!.text))));
    expect(together).toEqual(alone);
  });
});

describe('a bounded queue, and the model loading', () => {
  it("past maxQueue (--max-queue) requests waiting, a request is a 429 of OpenAI's shape with Retry-After; a client gone while it waits leaves the line", async () => {
    const bounded = await openCompletionsApi({ checkpoint: ckpt, modelId: 'tiny', dtype: 'auto', maxQueue: 1 });
    const srv = await startServer({ root, port: 0, api: bounded });
    const at = srv.url;
    const generating = new AbortController();
    try {
      const long = await postAt(at, { prompt: 'to', max_tokens: null, stream: true }, {}, generating.signal);
      await long.body!.getReader().read(); // generating
      const leaves = new AbortController();
      const waiting = postAt(at, { prompt: 'to', max_tokens: 1 }, {}, leaves.signal).catch((e: Error) => e.name);
      await new Promise((r) => setTimeout(r, 500)); // in line
      const refused = await postAt(at, { prompt: 'to', max_tokens: 1 }, {}, AbortSignal.timeout(10_000)); // not queued behind a million tokens
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('5');
      const message = 'the queue is full (one request generating, 1 waiting, the most --max-queue lets wait): try again later';
      expect(await refused.json()).toEqual({ error: { message, type: 'server_error', param: null, code: 'queue_full' } });
      leaves.abort();
      expect(await waiting).toBe('AbortError');
      await new Promise((r) => setTimeout(r, 500)); // its connection closed
      const next = postAt(at, { prompt: 'to', max_tokens: 1 });
      await new Promise((r) => setTimeout(r, 500)); // in line, where the one that left was
      generating.abort();
      expect((await next).status).toBe(200);
    } finally {
      generating.abort();
      await srv.close();
      await bounded.close();
    }
  });

  it("before load() has loaded the model, every request under /v1/ is a 503 of OpenAI's shape with Retry-After (its key checked first), then answered", async () => {
    const loading = completionsApi({ modelId: 'tiny', apiKey: 'sk-load' });
    const at = await startServer({ root, port: 0, api: loading });
    const key = { Authorization: 'Bearer sk-load' };
    try {
      const message = 'model "tiny" is loading: this server answers once it is loaded; try again in a few seconds';
      for (const res of [await fetch(new URL('/v1/models', at.url), { headers: key }), await postAt(at.url, { prompt: 'to' }, key), await fetch(new URL('/v1/nowhere', at.url), { headers: key })]) {
        expect(res.status, res.url).toBe(503);
        expect(res.headers.get('retry-after')).toBe('5');
        expect(await res.json()).toEqual({ error: { message, type: 'server_error', param: null, code: 'model_loading' } });
      }
      expect((await fetch(new URL('/v1/models', at.url))).status, 'no key').toBe(401);
      expect((await fetch(at.url)).status, 'the page').toBe(200);
      await loading.load(ckpt, 'auto');
      const got = await postTo(at.url, { prompt: 'to be', seed: 7, ...SETTINGS }, key);
      expect(got.status).toBe(200);
      expect((got.body as Completion).choices[0]!.text).toBe((await complete({ prompt: 'to be', seed: 7, ...SETTINGS })).choices[0]!.text);
    } finally {
      await at.close();
      await loading.close();
    }
  });
});

describe('GET /v1/models', () => {
  it('lists the one model', async () => {
    const res = await fetch(new URL('/v1/models', server.url));
    expect(res.status).toBe(200);
    const model = { id: 'tiny', object: 'model', created: expect.any(Number), owned_by: 'webgpu-gpt', max_model_len: BLOCK };
    expect(await res.json()).toEqual({ object: 'list', data: [model] });
    expect(await (await fetch(new URL('/v1/models/tiny', server.url))).json()).toEqual(model);
  });

  it("with a peft adapter merged: named by the adapter (vLLM's LoRA model id), the checkpoint its parent; a request naming the checkpoint is refused, the base alone not being served", async () => {
    const lora = new GPT({ vocabSize: tokenizer.vocabSize, blockSize: BLOCK, nLayer: 1, nHead: 2, nEmbd: 16, dropout: 0, bias: true }, { seed: 3 });
    lora.addLoRA({ rank: 2 });
    const adapter = join(dir, 'adapter');
    await savePeftAdapter(adapter, lora);
    lora.dispose();
    const adapted = await openCompletionsApi({ checkpoint: ckpt, adapter, modelId: 'my-lora', parent: 'tiny', dtype: 'auto' });
    const at = await startServer({ root, port: 0, api: adapted });
    try {
      const model = { id: 'my-lora', object: 'model', created: expect.any(Number), owned_by: 'webgpu-gpt', max_model_len: BLOCK, parent: 'tiny' };
      expect(await (await fetch(new URL('/v1/models', at.url))).json()).toEqual({ object: 'list', data: [model] });
      expect(await (await fetch(new URL('/v1/models/my-lora', at.url))).json()).toEqual(model);
      const done = await postAt(at.url, { prompt: 'to', max_tokens: 2, model: 'my-lora' });
      expect(((await done.json()) as Completion).model).toBe('my-lora');
      const notAlone = 'model "tiny" is not served alone here: the adapter "my-lora" is merged into it, served as model "my-lora" (GET /v1/models)';
      for (const res of [await postAt(at.url, { prompt: 'to', model: 'tiny' }), await fetch(new URL('/v1/models/tiny', at.url))]) {
        expect(res.status).toBe(404);
        expect(await res.json()).toEqual({ error: { message: notAlone, type: 'invalid_request_error', param: 'model', code: 'model_not_found' } });
      }
    } finally {
      await at.close();
      await adapted.close();
    }
  });
});

describe('refusals, as OpenAI sends them: a status and { error: { message (one line), type, param, code } }', () => {
  const refused = async (res: Response, status: number, param: string | null, message: string, code: string | null = null) => {
    expect(res.status, message).toBe(status);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('access-control-allow-origin'), 'no CORS').toBeNull();
    const body = (await res.json()) as { error: { message: string } };
    expect(body).toEqual({ error: { message, type: 'invalid_request_error', param, code } });
    expect(body.error.message).not.toMatch(/\n/);
  };
  const ALLOWED_PROMPT = 'a non-empty string, an array of them, an array of token ids or an array of such arrays';
  const TOKEN_ID = 'a token id (an integer >= 0)';

  it('a field out of its range, of the wrong type, unknown or unsupported: 400 naming the field, the value and what is allowed', async () => {
    const cases: [Record<string, unknown>, string, string][] = [
      [{ max_tokens: -1 }, 'max_tokens', 'max_tokens must be an integer >= 0, got -1'],
      [{ temperature: -1 }, 'temperature', 'temperature must be a finite number >= 0, got -1 (0: greedy)'],
      [{ top_p: 1.5 }, 'top_p', 'top_p must be a finite number in [0, 1], got 1.5'],
      [{ top_k: 2.5 }, 'top_k', "top_k must be an integer >= -1, got 2.5 (-1 or 0: off, as vLLM's)"],
      [{ n: 129 }, 'n', 'n must be an integer in [1, 128], got 129'],
      [{ seed: '7' }, 'seed', 'seed must be an integer in [0, 2^53 - 1], got "7"'],
      [{ seed: Number.MAX_SAFE_INTEGER, n: 2 }, 'seed', 'seed must be an integer in [0, 9007199254740990], got 9007199254740991 (choice i draws with seed + i)'],
      [{ stop: [...'abcdefghijklmnopq'] }, 'stop', 'stop must be a non-empty string or an array of up to 16 of them, got ["a","b","c","d","e","f","g","h","i","j","k","l","m","n",...'],
      [{ stop: '' }, 'stop', 'stop must be a non-empty string or an array of up to 16 of them, got ""'],
      [{ stream: 'yes' }, 'stream', 'stream must be true or false, got "yes"'],
      [{ stream_options: { include_usage: true } }, 'stream_options', 'stream_options is only allowed with stream: true, got {"include_usage":true}'],
      [{ stream: true, stream_options: { usage: true } }, 'stream_options', 'stream_options must be { "include_usage": true or false }, got {"usage":true}'],
      [{ prompt: undefined }, 'prompt', `prompt is required: ${ALLOWED_PROMPT}`],
      [{ prompt: '' }, 'prompt', `prompt must be ${ALLOWED_PROMPT}, got ""`],
      [{ prompt: 5 }, 'prompt', `prompt must be ${ALLOWED_PROMPT}, got 5`],
      [{ prompt: [] }, 'prompt', `prompt must be ${ALLOWED_PROMPT}, got []`],
      [{ prompt: [true] }, 'prompt', `prompt must be ${ALLOWED_PROMPT}, got [true]`],
      [{ prompt: ['to', ''] }, 'prompt', 'prompt[1] must be a non-empty string, as prompt[0] is, got ""'],
      [{ prompt: ['to', 3] }, 'prompt', 'prompt[1] must be a non-empty string, as prompt[0] is, got 3'],
      [{ prompt: [1, 'to'] }, 'prompt', `prompt[1] must be ${TOKEN_ID}, as prompt[0] is, got "to"`],
      [{ prompt: [1.5] }, 'prompt', `prompt[0] must be ${TOKEN_ID}, got 1.5`],
      [{ prompt: [[1], []] }, 'prompt', 'prompt[1] must be a non-empty array of token ids, as prompt[0] is, got []'],
      [{ prompt: [[1], 2] }, 'prompt', 'prompt[1] must be a non-empty array of token ids, as prompt[0] is, got 2'],
      [{ prompt: [[1, -1]] }, 'prompt', `prompt[0][1] must be ${TOKEN_ID}, got -1`],
      [{ prompt: [0, tokenizer.vocabSize] }, 'prompt', `prompt[1] is token id ${tokenizer.vocabSize}, past this model's vocabulary (ids 0 to ${tokenizer.vocabSize - 1})`],
      [{ prompt: [[0], [2 ** 40]] }, 'prompt', `prompt[1][0] is token id ${2 ** 40}, past this model's vocabulary (ids 0 to ${tokenizer.vocabSize - 1})`],
      [{ messages: [] }, 'messages', "unknown field 'messages': the fields served are model, prompt, max_tokens, temperature, top_p, top_k, min_p, n, presence_penalty, frequency_penalty, repetition_penalty, truncate_prompt_tokens, best_of, logit_bias, seed, stop, stream, echo, ignore_eos, stream_options, logprobs, suffix, user"],
      [{ best_of: 1.5 }, 'best_of', 'best_of must be an integer in [1, 128], got 1.5 (the choices generated per prompt, of which the n best are returned)'],
      [{ presence_penalty: 2.5 }, 'presence_penalty', 'presence_penalty must be a finite number in [-2, 2], got 2.5'],
      [{ frequency_penalty: '1' }, 'frequency_penalty', 'frequency_penalty must be a finite number in [-2, 2], got "1"'],
      [{ repetition_penalty: 0 }, 'repetition_penalty', "repetition_penalty must be a finite number > 0, got 0 (vLLM's; 1: off)"],
      [{ logit_bias: { 3: 100.5 } }, 'logit_bias', 'logit_bias[3] must be a number in [-100, 100], got 100.5'],
      [{ suffix: 'x' }, 'suffix', 'suffix must be null (a GPT-2-style model does not insert text), got "x"'],
      // a character model's vocabulary: gpt sample leaves such characters out with a note; a client would not see one
      [{ prompt: 'to be!? yes!' }, 'prompt', 'prompt holds characters this model\'s vocabulary lacks: "!" (U+0021) x2, "?" (U+003F), "y" (U+0079)'],
      [{ prompt: ['to', 'be!'] }, 'prompt', 'prompt[1] holds characters this model\'s vocabulary lacks: "!" (U+0021)'],
    ];
    for (const [fields, param, message] of cases) await refused(await post({ prompt: 'to', ...fields }), 400, param, message);
    // checked against the adapter's limits (past any adapter's 4 GiB binding): the figures are this adapter's
    const huge = (await (await post({ prompt: new Array(200_000).fill('t'), n: 128 })).json()) as { error: { message: string; param: string } };
    expect(huge.error).toMatchObject({ param: 'n', message: expect.stringMatching(/^n 128 x 200000 prompts = 25600000 sequences do not fit this GPU: the model does not fit this adapter: [^\n]* over its max\w+ of [\d.]+ [MG]iB$/) });
    // neutral values of OpenAI's fields are taken
    await complete({ prompt: 'to', logprobs: null, best_of: 1, presence_penalty: 0, frequency_penalty: 0, logit_bias: {}, suffix: null, user: 'me', model: null, max_tokens: 1 });
  });

  it('n whose KV caches are past a binding: 400 naming a layer\'s KV cache (generateBatch decodes with them; its forwards, of 8 positions, would fit)', async () => {
    // n 8 of a 2-character prompt and 6 new tokens reach the whole block: a layer's cache [8, 16 slots, 3·16], 4 bytes less than a binding
    const bytes = 8 * 16 * 48 * (profile().trainingDtype === 'float16' ? 2 : 4); // the dtype --dtype auto computes in
    const res = await withLimits({ maxStorageBufferBindingSize: bytes - 4 }, () => post({ prompt: 'to', n: 8, max_tokens: 6 }));
    const size = `${(bytes / 2 ** 20).toPrecision(3)} MiB, over its maxStorageBufferBindingSize of ${((bytes - 4) / 2 ** 20).toPrecision(3)} MiB`;
    await refused(res, 400, 'n', `n 8 x 1 prompts = 8 sequences do not fit this GPU: the model does not fit this adapter: a layer's KV cache (batch 8 x block 16 x 3·n-embd 16) takes ${size}`);
  });

  it('another model, a body that is not a JSON object, not JSON, or too large', async () => {
    await refused(await post({ prompt: 'to', model: 'gpt-4' }), 404, 'model', 'model "gpt-4" does not exist here: this server serves "tiny" (GET /v1/models)', 'model_not_found');
    await refused(await post('{"prompt": '), 400, null, 'the body is not valid JSON: Unexpected end of JSON input');
    await refused(await post('{"prompt":\n x}'), 400, null, 'the body is not valid JSON: Unexpected token \'x\', "{"prompt":\\n x}" is not valid JSON');
    await refused(await post([]), 400, null, 'the body must be a JSON object of completion fields, got []');
    const tooLarge = `the request body is over ${MAX_BODY_BYTES} bytes, the most this server reads`;
    await refused(await post({ prompt: 'to'.repeat(MAX_BODY_BYTES / 2) }), 413, null, tooLarge, 'request_too_large');
    // sent in chunks, no length declared: refused once past the limit
    const raw = await rawExchange(`POST /v1/completions HTTP/1.1\r\nHost: ${new URL(server.url).host}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`, 'x'.repeat(MAX_BODY_BYTES + 10));
    expect(raw).toMatch(/^HTTP\/1.1 413 /);
    expect(raw).toContain(tooLarge);
  });

  it('a body nested past the stack: 400 showing its first characters (JSON.stringify of the value shown overflowed the stack: a 500)', async () => {
    const arrays = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    const deepArrays = `${'['.repeat(57)}...`;
    await refused(await post(arrays), 400, null, `the body must be a JSON object of completion fields, got ${deepArrays}`);
    await refused(await post(`{"prompt": ${arrays}}`), 400, 'prompt', `prompt[0][0] must be a token id (an integer >= 0), got ${deepArrays}`);
    await refused(await post(`{"prompt": "to", "stop": ${arrays}}`), 400, 'stop', `stop must be a non-empty string or an array of up to 16 of them, got ${deepArrays}`);
    await refused(await post(`{"prompt": "to", "max_tokens": ${arrays}}`), 400, 'max_tokens', `max_tokens must be an integer >= 0, got ${deepArrays}`);
    const objects = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`; // 700 kB
    await refused(await post(`{"prompt": "to", "logit_bias": {"3": ${objects}}}`), 400, 'logit_bias', `logit_bias[3] must be a number in [-100, 100], got ${objects.slice(0, 57)}...`);
    // wide, not deep: as JSON spells it, cut
    await refused(await post({ prompt: 'to', stop: new Array(100_000).fill('ab') }), 400, 'stop', `stop must be a non-empty string or an array of up to 16 of them, got ${JSON.stringify(new Array(20).fill('ab')).slice(0, 57)}...`);
  });

  it("a body that is not UTF-8 (JSON's encoding) is refused, not read with U+FFFD for its bad bytes; a byte-order mark is skipped", async () => {
    const bytes = Buffer.concat([Buffer.from('{"prompt": "to'), Buffer.from([0xff]), Buffer.from('", "max_tokens": 1}')]);
    const res = await fetch(new URL('/v1/completions', server.url), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: bytes });
    await refused(res, 400, null, "the body is not valid JSON: its bytes are not UTF-8 text, JSON's encoding");
    expect((await post('\ufeff{"prompt": "to", "max_tokens": 1}')).status).toBe(200);
  });

  it("a page of another origin cannot use it: no JSON without a preflight (refused), no Origin but the server's", async () => {
    await refused(await post('{"prompt": "to"}', { 'Content-Type': 'text/plain' }), 415, null, `Content-Type must be application/json (curl: -H 'Content-Type: application/json'), got "text/plain"`, 'unsupported_media_type');
    for (const origin of ['http://evil.example', 'null', `https://${new URL(server.url).host}`]) {
      const message = `Origin ${JSON.stringify(origin)}: pages of another origin may not use this API (it sends no CORS headers); call it from a program, or from the page this server serves`;
      await refused(await post({ prompt: 'to' }, { Origin: origin }), 403, null, message, 'cross_origin');
    }
    expect((await post({ prompt: 'to', max_tokens: 1 }, { Origin: new URL(server.url).origin })).status, 'the page this server serves').toBe(200);
    // a page on another port of this machine is another origin; through a tunnel (ssh -L 9000:localhost:PORT) the page's origin is the Host its requests name
    await refused(await post({ prompt: 'to' }, { Origin: 'http://localhost:9000' }), 403, null, `Origin "http://localhost:9000": pages of another origin may not use this API (it sends no CORS headers); call it from a program, or from the page this server serves`, 'cross_origin');
    const tunnelled = (origin: string) =>
      new Promise<number>((done, fail) => {
        const body = JSON.stringify({ prompt: 'to', max_tokens: 1 });
        const { hostname, port } = new URL(server.url);
        request({ hostname, port, path: '/v1/completions', method: 'POST', headers: { Host: 'localhost:9000', Origin: origin, 'Content-Type': 'application/json' } }, (res) => done(res.resume().statusCode!)).on('error', fail).end(body);
      });
    expect(await tunnelled('http://localhost:9000'), 'the page through a tunnel').toBe(200);
    expect(await tunnelled(new URL(server.url).origin), 'the bound port, reached as port 9000').toBe(403);
    const preflight = await fetch(new URL('/v1/completions', server.url), { method: 'OPTIONS', headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' } });
    expect(preflight.status).toBe(405);
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('another path under /v1/ is a 404, another method a 405 naming those allowed; POST elsewhere a 405', async () => {
    await refused(await post({ prompt: 'to' }, {}, '/v1/chat/completions'), 404, null, 'no endpoint POST /v1/chat/completions: this server serves POST /v1/completions and GET /v1/models', 'unknown_url');
    await refused(await fetch(new URL('/v1/models/gpt-4', server.url)), 404, 'model', 'model "gpt-4" does not exist here: this server serves "tiny" (GET /v1/models)', 'model_not_found');
    await refused(await fetch(new URL('/v1/models/%E0', server.url)), 404, 'model', 'model "%E0" does not exist here: this server serves "tiny" (GET /v1/models)', 'model_not_found');
    const get = await fetch(new URL('/v1/completions', server.url));
    expect(get.headers.get('allow')).toBe('POST');
    await refused(get, 405, null, 'GET /v1/completions: only POST is served here', 'method_not_allowed');
    const postModels = await post({}, {}, '/v1/models');
    expect(postModels.headers.get('allow')).toBe('GET, HEAD');
    await refused(postModels, 405, null, 'POST /v1/models: only GET is served here', 'method_not_allowed');
    const page = await post({ prompt: 'to' }, {}, '/');
    expect([page.status, page.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    // a client given the server's URL without /v1 as its base URL posts here: told where the API is
    const base = `http://${new URL(server.url).host}/v1`;
    for (const path of ['/', '/completions']) {
      expect(await (await post({ prompt: 'to' }, {}, path)).text()).toBe(`method not allowed: POST is served under /v1/ only (OpenAI's clients: base URL ${base})\n`);
    }
    expect((await fetch(server.url)).status, 'the page is served as before').toBe(200);
  });
});

/** What the server sends back to `head` and then `body` in one chunk of chunked encoding, written on a raw socket. */
function rawExchange(head: string, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(server.url);
    const socket = connect(Number(port), hostname, () => {
      socket.write(head);
      socket.write(`${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`);
    });
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('close', () => resolve(text));
    socket.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? resolve(text) : reject(e)));
  });
}

describe('--api-key: every request under /v1/ carries Authorization: Bearer KEY, else a 401 of OpenAI\'s shape', () => {
  const KEY = 'sk-test-0123456789';
  const WRONG = `${KEY.slice(0, -1)}8`; // as long, one character off
  let keyed: { api: CompletionsApi; server: StaticServer };
  const keyedLog: string[] = [];
  beforeAll(async () => {
    const api = await openCompletionsApi({ checkpoint: ckpt, modelId: 'tiny', dtype: 'auto', apiKey: KEY });
    keyed = { api, server: await startServer({ root, port: 0, checkpoint: ckpt, api, onRequest: (m, u, s, e) => keyedLog.push(`${s} ${m} ${u}${e ? `: ${e}` : ''}`) }) };
  });
  afterAll(async () => {
    await keyed?.server.close();
    await keyed?.api.close();
  });
  const unauthorized = async (res: Response, message: string) => {
    expect(res.status, message).toBe(401);
    expect(await res.json()).toEqual({ error: { message, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
  };
  const NO_KEY = "no API key: this server asks for one, in an 'Authorization: Bearer KEY' header (OpenAI's clients: api_key)";
  const BAD_KEY = 'incorrect API key provided (it is not shown)';

  it('refuses a request without the header, or with another key; takes the key, the scheme in any case', async () => {
    const at = keyed.server.url;
    const models = (authorization?: string) => fetch(new URL('/v1/models', at), { headers: authorization === undefined ? {} : { Authorization: authorization } });
    await unauthorized(await models(), NO_KEY);
    await unauthorized(await fetch(new URL('/v1/completions', at), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"prompt": "to"}' }), NO_KEY);
    await unauthorized(await fetch(new URL('/v1/nowhere', at)), NO_KEY); // before the path is looked at
    await unauthorized(await models(KEY), NO_KEY); // no scheme
    await unauthorized(await models(`Basic ${KEY}`), NO_KEY);
    for (const wrong of [WRONG, `${KEY}x`, 'k', `${KEY} `.repeat(2).trim()]) await unauthorized(await models(`Bearer ${wrong}`), BAD_KEY);
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) expect((await models(`${scheme} ${KEY}`)).status, scheme).toBe(200);
    const got = await postTo(at, { prompt: 'to be', seed: 7, ...SETTINGS }, { Authorization: `Bearer ${KEY}` });
    expect(got.status).toBe(200);
    expect((got.body as Completion).choices[0]!.text, "the unkeyed server's text").toBe((await complete({ prompt: 'to be', seed: 7, ...SETTINGS })).choices[0]!.text);
    expect((await fetch(at)).status, 'the page asks for no key').toBe(200);
    expect((await fetch(new URL('/checkpoint.safetensors', at))).status, 'nor does the checkpoint').toBe(200);
    expect(keyedLog.join('\n')).not.toContain(KEY.slice(3));
  });

  it('refuses --api-key without --api, an empty key, and one no header carries, in one line that never shows it', async () => {
    expectOneLine(await gpt('serve', '--api-key', KEY), 2, /^gpt serve: flag --api-key is the key --api asks for: it applies with --api only$/);
    expectOneLine(await gpt('serve', '--api', '--checkpoint', ckpt, '--api-key', ''), 2, /^gpt serve: flag --api-key must not be empty$/);
    const spaced = await gpt('serve', '--api', '--checkpoint', ckpt, '--api-key', 'sk secret');
    expectOneLine(spaced, 2, /^gpt serve: flag --api-key: a key must be printable ASCII without spaces, as an Authorization header carries it; the one given is not \(it is not shown\)$/);
    expect(spaced.err).not.toContain('secret');
    const saved = process.env.GPT_API_KEY;
    try {
      for (const [value, message] of [['', /^gpt: GPT_API_KEY is empty: give the key --api asks for, or leave it unset$/], ['é-secret', /^gpt: GPT_API_KEY: a key must be printable ASCII/]] as const) {
        process.env.GPT_API_KEY = value;
        for (const args of [['serve', '--api', '--checkpoint', ckpt], ['info', ckpt]]) {
          const r = await gpt(...args);
          expectOneLine(r, 2, message);
          expect(r.err).not.toContain('secret');
        }
      }
    } finally {
      if (saved === undefined) delete process.env.GPT_API_KEY;
      else process.env.GPT_API_KEY = saved;
    }
    expect((await gpt('serve', '--help')).out).toMatch(/--api-key .*'Authorization: Bearer KEY' \(else \$GPT_API_KEY; where neither is set, none is asked for\)/);
  });
});

describe('a client that leaves, and GPU memory', () => {
  /** Resolves once the server has logged `count` lines (a request's handler returns once its generation stopped). */
  const loggedLines = async (count: number, ms = 30_000) => {
    for (const t0 = Date.now(); Date.now() - t0 < ms; await new Promise((r) => setTimeout(r, 20))) if (logged.length >= count) return;
    throw new Error(`not ${count} log lines; logged: ${logged.join(' | ')}`);
  };

  it('stops its generation at the next token, streamed or not (the next request is served at once); live bytes as before', async () => {
    await complete({ prompt: 'to', max_tokens: 2 }); // kernels compiled
    const live = device().memory().liveBytes;
    // a million tokens, the window sliding past the block: hours if it ran on
    const forever = { prompt: 'to be', max_tokens: null, seed: 1 };
    const streaming = new AbortController();
    const res = await post({ ...forever, stream: true }, {}, '/v1/completions', streaming.signal);
    const reader = res.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toMatch(/^data: \{/);
    logged.length = 0;
    streaming.abort();
    await loggedLines(1);
    const waiting = new AbortController();
    const pending = post(forever, {}, '/v1/completions', waiting.signal).catch((e: Error) => e.name);
    await new Promise((r) => setTimeout(r, 500)); // under way
    waiting.abort();
    expect(await pending).toBe('AbortError');
    await loggedLines(2);
    expect(logged).toEqual(['499 POST /v1/completions', '499 POST /v1/completions']);
    const t0 = performance.now();
    await complete({ prompt: 'to', max_tokens: 2 });
    expect(performance.now() - t0, 'nothing else is generating').toBeLessThan(10_000);
    expect(device().memory().liveBytes).toBe(live);
  });

  it('a streaming client that does not read holds its generation until it reads (its answer is not buffered ahead without bound); one that leaves meanwhile is gone', async () => {
    await complete({ prompt: 'to', max_tokens: 2 }); // kernels compiled
    const live = device().memory().liveBytes;
    logged.length = 0;
    const slow = await notReading(server.url);
    await new Promise((r) => setTimeout(r, 3000)); // its 3 tokens take well under a second
    expect(logged, 'its generation waits for it').toEqual([]);
    let answer = '';
    slow.on('data', (d: Buffer) => (answer += d.toString('latin1'))).resume();
    await new Promise((r) => slow.once('close', r));
    expect(answer).toMatch(/^HTTP\/1.1 200 [^]*data: \[DONE\]\r?\n\r?\n/);
    expect(logged).toEqual(['200 POST /v1/completions']);
    const gone = await notReading(server.url);
    await new Promise((r) => setTimeout(r, 1000));
    gone.destroy();
    await loggedLines(2);
    expect(logged[1]).toBe('499 POST /v1/completions');
    const t0 = performance.now();
    await complete({ prompt: 'to', max_tokens: 2 });
    expect(performance.now() - t0, 'nothing else is generating').toBeLessThan(10_000);
    expect(device().memory().liveBytes).toBe(live);
  });

  it('a streaming client that reads nothing for the stall limit is dropped as gone (499, as one that left): its generation stops, the next is served, live bytes as before', async () => {
    const stalling = await openCompletionsApi({ checkpoint: ckpt, modelId: 'tiny', dtype: 'auto', stallMs: 1000 });
    const log: string[] = [];
    const at = await startServer({ root, port: 0, api: stalling, onRequest: (m, u, s, e) => log.push(`${s} ${m} ${u}${e ? `: ${e}` : ''}`) });
    try {
      expect((await postTo(at.url, { prompt: 'to', max_tokens: 2 })).status).toBe(200); // kernels compiled
      const live = device().memory().liveBytes;
      log.length = 0;
      const t0 = performance.now();
      const stalled = await notReading(at.url);
      for (const t = performance.now(); !log.length && performance.now() - t < 20_000; ) await new Promise((r) => setTimeout(r, 20));
      const dropped = performance.now() - t0;
      expect(log).toEqual(['499 POST /v1/completions']);
      expect(dropped, 'after the stall limit, not before').toBeGreaterThan(1000);
      await new Promise((r) => stalled.once('close', r).resume()); // its connection closed
      const t1 = performance.now();
      expect((await postTo(at.url, { prompt: 'to', max_tokens: 2 })).status).toBe(200);
      expect(performance.now() - t1, 'nothing else is generating').toBeLessThan(10_000);
      expect(device().memory().liveBytes).toBe(live);
    } finally {
      await at.close();
      await stalling.close();
    }
  });

  it('a streaming client that reads all along, if too slowly to take all that was sent within the stall limit, is not dropped: served whole', async () => {
    const stalling = await openCompletionsApi({ checkpoint: ckpt, modelId: 'tiny', dtype: 'auto', stallMs: 2000 });
    const log: string[] = [];
    const at = await startServer({ root, port: 0, api: stalling, onRequest: (m, u, s, e) => log.push(`${s} ${m} ${u}${e ? `: ${e}` : ''}`) });
    try {
      const slow = await notReading(at.url);
      // at most 64 kB a read, a read each 20 ms: the 13 MB in ~6.5 s, far past the stall limit (the sockets'
      // buffers let what was sent go a few MB at a time: some 0.6 s between drains, at most; one write of
      // all of it is dropped). Half the limit and pace of 4 s and 40 ms (1.2 s between drains): the same margin.
      let answer = '';
      slow.on('data', (piece: Buffer) => {
        answer += piece.toString('latin1');
        slow.pause();
        setTimeout(() => slow.resume(), 20);
      });
      slow.resume();
      await new Promise((r) => slow.once('close', r));
      expect(log).toEqual(['200 POST /v1/completions']);
      expect(/^HTTP\/1.1 200 [^]*data: \[DONE\]\r?\n\r?\n/.test(answer), 'the answer whole').toBe(true);
    } finally {
      await at.close();
      await stalling.close();
    }
  });

  it('a client that leaves while sending its body is logged as gone (499), not as a failure of the server (500, on stderr)', async () => {
    logged.length = 0;
    const { hostname, port, host } = new URL(server.url);
    const socket = connect(Number(port), hostname);
    await new Promise((r) => socket.once('connect', r));
    socket.write(`POST /v1/completions HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"prompt": "to`);
    await new Promise((r) => setTimeout(r, 500)); // its head read, the rest of its body awaited
    socket.destroy();
    await loggedLines(1);
    expect(logged).toEqual(['499 POST /v1/completions']);
  });

  it('GPU live bytes stay flat over many requests of every kind', async () => {
    const bodies: Record<string, unknown>[] = [
      { prompt: 'to', max_tokens: 5 },
      { prompt: ['to be, or not to be: that', 'q'], n: 3, max_tokens: 20, stop: ['e', 'th'] },
      { prompt: 'that', max_tokens: 12, stream: true, echo: true },
      { prompt: 'not', max_tokens: 4, n: 2, stream: true, stop: 'o', stream_options: { include_usage: true } },
      { prompt: 'to be!' }, // refused
    ];
    await Promise.all(bodies.map((b) => post(b).then((r) => r.text())));
    const live: number[] = [];
    for (let round = 0; round < 4; round++) {
      for (const b of bodies) await (await post(b)).text();
      live.push(device().memory().liveBytes);
    }
    expect(new Set(live), `live bytes after each round: ${live.join(', ')}`).toEqual(new Set([live[0]]));
  });
});

describe("the model's context (max_model_len: its block), as vLLM keeps to it", () => {
  let small: { api: CompletionsApi; server: StaticServer };
  beforeAll(async () => {
    const smallApi = await openCompletionsApi({ checkpoint: smallCkpt, modelId: 'small', dtype: 'float32' });
    small = { api: smallApi, server: await startServer({ root, port: 0, api: smallApi }) };
  });
  afterAll(async () => {
    await small?.server.close();
    await small?.api.close();
  });
  const ask = async (body: Record<string, unknown>) => postTo(small.server.url, { seed: 4, temperature: 1.3, ...body });

  it("refuses a prompt and max_tokens past it: 400 with vLLM's message, param and code, never cropped", async () => {
    const vllm = (param: string, message: string) => ({ status: 400, body: { error: { message, type: 'invalid_request_error', param, code: 400 } } });
    // 10 + 7 = 17 tokens: one past the block (a character model: a token a character)
    expect(await ask({ prompt: 'to be, or ', max_tokens: 7 })).toEqual(vllm('input_tokens', "You passed 10 input tokens and requested 7 output tokens. However, the model's context length is only 16 tokens, resulting in a maximum input length of 9 tokens. Please reduce the length of the input prompt."));
    expect((await ask({ prompt: 'to be, or ', max_tokens: 6 })).status, 'exactly the block').toBe(200);
    expect(await ask({ prompt: 'to', max_tokens: 17 })).toEqual(vllm('max_tokens', 'max_tokens=17 cannot be greater than max_model_len=16. Please request fewer output tokens.'));
    expect(await ask({ prompt: 'to be, or not to be', max_tokens: 4, truncate_prompt_tokens: 13 })).toEqual(vllm('truncate_prompt_tokens', 'truncate_prompt_tokens=13 cannot be greater than max_model_len - max_tokens = 12. Please request a smaller truncation size.'));
    // max_tokens 0 (echo, scored): the whole block; max_tokens null: a prompt that fills it leaves no token to draw
    expect((await ask({ prompt: 'to be, or not to', max_tokens: 0, echo: true, logprobs: 0 })).status).toBe(200);
    expect(await ask({ prompt: 'to be, or not to', max_tokens: null })).toEqual(vllm('input_tokens', "This model's maximum context length is 16 tokens. However, your request has 16 input tokens. Please reduce the length of the input messages."));
    // one prompt of a batch past it refuses the request; streamed, before the stream starts
    expect((await ask({ prompt: ['to', 'to be, or not'], max_tokens: 4, stream: true })).status).toBe(400);
    for (const bad of [0, -2, 1.5, '4']) expect((await ask({ prompt: 'to', truncate_prompt_tokens: bad })).body).toMatchObject({ error: { param: 'truncate_prompt_tokens' } });
  });

  it('truncate_prompt_tokens keeps the last N prompt tokens (-1: what max_tokens leaves): the text of that prompt sent alone; echo gives the prompt whole, logprobs the tokens kept', async () => {
    const long = 'to be, or not to be: that is the question.';
    const alone = (await ask({ prompt: long.slice(-8), max_tokens: 6, n: 2 })).body as Completion;
    const cut = (await ask({ prompt: long, truncate_prompt_tokens: 8, max_tokens: 6, n: 2 })).body as Completion;
    expect(cut.choices).toEqual(alone.choices);
    expect(cut.usage).toEqual(alone.usage); // vLLM counts the prompt tokens it kept
    const fill = (await ask({ prompt: long, truncate_prompt_tokens: -1, max_tokens: 6 })).body as Completion;
    expect(fill.choices[0]!.text).toBe(((await ask({ prompt: long.slice(-10), max_tokens: 6 })).body as Completion).choices[0]!.text);
    expect((await ask({ prompt: [...long].map((ch) => tokenizer.encode(ch)[0]), truncate_prompt_tokens: 8, max_tokens: 6, n: 2 })).body).toMatchObject({ choices: alone.choices });
    // echo: the prompt as sent; logprobs: the 8 tokens kept (the first unscored), offsets past the cut front
    const echoed = (await ask({ prompt: long, truncate_prompt_tokens: 8, max_tokens: 2, echo: true, logprobs: 1 })).body as unknown as { choices: { text: string; logprobs: { tokens: string[]; token_logprobs: (number | null)[]; text_offset: number[] } }[] };
    const [c] = echoed.choices;
    expect(c!.text.startsWith(long)).toBe(true);
    expect(c!.logprobs.tokens.join('')).toBe(c!.text.slice(long.length - 8));
    expect(c!.logprobs.token_logprobs[0]).toBeNull();
    expect(c!.logprobs.text_offset.slice(0, 8)).toEqual([...Array(8).keys()].map((i) => long.length - 8 + i));
    const s = await ask({ prompt: long, truncate_prompt_tokens: 8, max_tokens: 2, echo: true, logprobs: 1, stream: true });
    const chunks = (s.body as string).split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)) as { choices: { text: string; logprobs: { tokens: string[] } }[] });
    expect(chunks.map((k) => k.choices[0]!.text).join(''), 'streamed alike').toBe(c!.text);
    expect(chunks.flatMap((k) => k.choices[0]!.logprobs.tokens)).toEqual(c!.logprobs.tokens);
  });

  it('max_tokens null draws to the end of the context, each prompt its own; absent, 16 (OpenAI\'s default)', async () => {
    const r = (await ask({ prompt: ['to be', 'to be, or not'], max_tokens: null })).body as Completion;
    expect(r.choices.map((c) => [c.text.length, c.finish_reason])).toEqual([[SMALL - 5, 'length'], [SMALL - 13, 'length']]);
    expect(r.usage.completion_tokens).toBe(SMALL - 5 + SMALL - 13);
    expect(r.choices[1]!.text).toBe(((await ask({ prompt: 'to be, or not', max_tokens: 3 })).body as Completion).choices[0]!.text);
    expect((await ask({ prompt: 'to' })).status, '2 + 16 tokens: past the block').toBe(400);
  });
});

describe('a model whose logits are not finite (a diverged checkpoint)', () => {
  it("answers 500 naming the choice and the position where its logits are not finite, streamed or not; the next request is served", async () => {
    const poisoned = join(dir, 'poisoned');
    const model = new GPT({ vocabSize: tokenizer.vocabSize, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 16, dropout: 0, bias: true }, { seed: 3 });
    const wpe = await model.wpe.weight.toArray();
    wpe.fill(3e38, 6 * 16, 7 * 16); // position 6's embedding overflows float32 in LayerNorm
    scope(() => model.wpe.weight.assign(tensor(wpe, [16, 16])));
    await saveCheckpoint(poisoned, model, tokenizer);
    model.dispose();
    const bad = await openCompletionsApi({ checkpoint: poisoned, modelId: 'poisoned', dtype: 'float32' });
    const srv = await startServer({ root, port: 0, api: bad });
    try {
      const ask = (body: Record<string, unknown>) =>
        fetch(new URL('/v1/completions', srv.url), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model: 'poisoned', seed: 1, ...body }) });
      const plain = await ask({ prompt: ['to be,', 'to'], max_tokens: 4 }); // choice 0 reaches position 6 (its second token's logits) first
      expect(plain.status).toBe(500);
      const { error } = (await plain.json()) as { error: { message: string } };
      expect(error.message).toMatch(/^generation failed: the model's logits are not finite at choices\[0\], generated token 2 \(position 7\)/);
      const stream = await (await ask({ prompt: 'to be,', max_tokens: 4, stream: true })).text();
      expect(stream).toMatch(/"message":"generation failed: the model's logits are not finite at choices\[0\], generated token 2 \(position 7\)/);
      expect(stream).not.toContain('[DONE]');
      // best_of: the candidates are not the choices returned (prompt 1's first is row 2 of the batch, choices[1] if it were kept)
      const ranked = await ask({ prompt: ['to', 'to be,'], max_tokens: 4, best_of: 2 });
      expect(ranked.status).toBe(500);
      expect(((await ranked.json()) as { error: { message: string } }).error.message).toMatch(/^generation failed: the model's logits are not finite at prompt\[1\]'s best_of candidate 0, generated token 2 \(position 7\)/);
      expect((await ask({ prompt: 'to', max_tokens: 3 })).status, 'positions 2-4 are finite').toBe(200);
    } finally {
      await srv.close();
      await bad.close();
    }
  });
});

describe('--dtype float16', () => {
  it('checks a request in the dtype it generates in: n whose float32 KV caches are past a binding but whose float16 ones are not is taken', async (ctx) => {
    if (!profile().f16) ctx.skip();
    const opened = await Promise.all((['float16', 'float32'] as const).map(async (dtype) => {
      const dtypeApi = await openCompletionsApi({ checkpoint: smallCkpt, modelId: 'tiny', dtype });
      return { api: dtypeApi, server: await startServer({ root, port: 0, api: dtypeApi }) };
    }));
    try {
      // n 8 of a 2-character prompt and 6 new tokens reach the whole block: a layer's cache [8, 16 slots, 3·16]
      const body = { prompt: 'to', n: 8, max_tokens: 6, temperature: 0 };
      const [half, full] = await withLimits({ maxStorageBufferBindingSize: 8 * 16 * 48 * 2 }, () => Promise.all(opened.map((o) => postTo(o.server.url, body))));
      expect(half.status, JSON.stringify(half.body)).toBe(200);
      expect((half.body as Completion).choices.map((c) => c.text.length)).toEqual(new Array(8).fill(6));
      expect(full).toMatchObject({
        status: 400,
        body: { error: { param: 'n', message: "n 8 x 1 prompts = 8 sequences do not fit this GPU: the model does not fit this adapter: a layer's KV cache (batch 8 x block 16 x 3·n-embd 16) takes 0.0234 MiB, over its maxStorageBufferBindingSize of 0.0117 MiB" } },
      });
    } finally {
      for (const o of opened) {
        await o.server.close();
        await o.api.close();
      }
    }
  });
});

describe('a byte-level BPE model (GPT-2-style: 256 byte tokens, 3 merges, <|endoftext|>)', () => {
  it('ends a choice at <|endoftext|> (finish stop, its text left out) unless ignore_eos (its text left out still: vLLM skips special tokens); streamed text adds up to the whole, split characters included', async () => {
    const gpt2 = miniGpt2Tokenizer();
    const eot = gpt2.specialId('<|endoftext|>')!;
    const bpe = join(dir, 'bpe');
    const model = new GPT({ vocabSize: gpt2.vocabSize, blockSize: 128, nLayer: 1, nHead: 2, nEmbd: 16, dropout: 0, bias: true }, { seed: 4 });
    const base = { prompt: ' the café', n: 16, max_tokens: 64, temperature: 2, seed: 9 };
    // the tokens each choice draws (seed + i), generated here: which are <|endoftext|>
    const drawn: number[][] = Array.from({ length: base.n }, () => []);
    const prompts = drawn.map(() => gpt2.encode(base.prompt));
    for await (const step of generateBatch(model, prompts, { maxNewTokens: 64, temperature: 2, seed: drawn.map((_, i) => base.seed + i) })) step.forEach((id, k) => id !== null && drawn[k]!.push(id));
    await saveCheckpoint(bpe, model, gpt2);
    model.dispose();
    const bpeApi = await openCompletionsApi({ checkpoint: bpe, modelId: 'bpe', dtype: 'float32' });
    const bpeServer = await startServer({ root, port: 0, api: bpeApi });
    try {
      const on = (await postTo(bpeServer.url, { ...base, ignore_eos: true })).body as Completion;
      expect(drawn.filter((ids) => ids.includes(eot)).length, 'some choices draw <|endoftext|> within 64 tokens').toBeGreaterThan(0);
      expect(on.choices.map((c) => c.text)).toEqual(drawn.map((ids) => gpt2.decode(ids.filter((id) => id !== eot))));
      expect(on.choices.every((c) => c.finish_reason === 'length')).toBe(true);
      expect(on.usage.completion_tokens).toBe(16 * 64);
      // with logprobs, <|endoftext|>'s token text is '' too: the tokens join to the text (but a U+FFFD
      // that ends it, a character max_tokens cut short, which no token's text holds)
      const scored = (await postTo(bpeServer.url, { ...base, ignore_eos: true, logprobs: 0 })).body as unknown as { choices: { logprobs: { tokens: string[] } }[] };
      scored.choices.forEach((c, k) => expect([0, 1].map((cut) => c.logprobs.tokens.join('') + '\uFFFD'.repeat(cut)), `choice ${k}`).toContain(on.choices[k]!.text));
      const stopped = (await postTo(bpeServer.url, base)).body as Completion;
      for (const c of on.choices) {
        const at = drawn[c.index]!.indexOf(eot);
        expect(stopped.choices[c.index], `choice ${c.index}`).toMatchObject(at >= 0 ? { text: gpt2.decode(drawn[c.index]!.slice(0, at)), finish_reason: 'stop' } : { text: c.text, finish_reason: 'length' });
      }
      expect(on.choices.some((c) => c.text.includes('\uFFFD')), 'random bytes: some are not UTF-8').toBe(true);
      expect(stopped.usage.prompt_tokens).toBe(gpt2.encode(base.prompt).length);
      const raw = (await postTo(bpeServer.url, { ...base, ignore_eos: true, stream: true })).body as string;
      const texts: string[] = [];
      for (const e of raw.split('\n\n').filter((e) => e.startsWith('data: {'))) for (const ch of (JSON.parse(e.slice(6)) as Completion).choices) texts[ch.index] = (texts[ch.index] ?? '') + ch.text;
      expect(texts).toEqual(on.choices.map((c) => c.text));
    } finally {
      await bpeServer.close();
      await bpeApi.close();
    }
  });
});

describe('gpt serve --api (the command)', () => {
  it('serves the page, the checkpoint and the API in one process, the key from GPT_API_KEY asked for (never printed); Ctrl-C ends it', async () => {
    const KEY = 'sk-from-the-environment';
    const saved = process.env.GPT_API_KEY;
    process.env.GPT_API_KEY = KEY; // the child's environment
    const srv = await spawnGpt(['serve', '--api', '--checkpoint', ckpt, '--root', root, '--port', '0'], 120_000).finally(() => {
      if (saved === undefined) delete process.env.GPT_API_KEY;
      else process.env.GPT_API_KEY = saved;
    });
    try {
      const out = await srv.printed(/open \S+/, 110_000);
      const url = out.match(/open (\S+)/)![1]!;
      expect(out).toContain(`API: POST ${url}v1/completions, GET ${url}v1/models (model ${JSON.stringify(ckpt)}; one generation at a time, up to 64 waiting; the key of GPT_API_KEY asked for)`);
      expect((await postTo(url, { model: ckpt, prompt: 'to be', max_tokens: 1 })).status, 'no key').toBe(401);
      expect((await postTo(url, { model: ckpt, prompt: 'to be', max_tokens: 1 }, { Authorization: 'Bearer sk-from-the-environmenT' })).status, 'another key').toBe(401);
      const got = await postTo(url, { model: ckpt, prompt: 'to be', seed: 7, ...SETTINGS }, { Authorization: `Bearer ${KEY}` });
      expect(got.status).toBe(200);
      expect((got.body as Completion).choices[0]!.text).toBe((await complete({ prompt: 'to be', seed: 7, ...SETTINGS })).choices[0]!.text);
      expect((await fetch(`${url}checkpoint.safetensors`)).status).toBe(200);
      expect((await fetch(url)).status).toBe(200);
    } finally {
      srv.child.kill('SIGINT');
    }
    const done = await srv.done;
    expect([done.code, done.timedOut], done.err).toEqual([0, false]);
    expect(done.out, 'requests logged').toMatch(/^401 POST \/v1\/completions$/m);
    expect(done.out + done.err).not.toContain(KEY);
  });

  // the page is built into web-dist/ by `npm run build:web`: the API is served alone only where it has not been
  it.skipIf(existsSync(WEB_DIST))('without the page built (no web-dist/) serves the API alone, the page a 404 saying how to build it', async () => {
    const srv = await spawnGpt(['serve', '--api', '--checkpoint', ckpt, '--port', '0', '--quiet'], 120_000);
    try {
      const out = await srv.printed(/open \S+/, 110_000);
      const opened = out.match(/open (\S+)/)![1]!; // the API's list of models: the root is a 404
      expect(opened).toMatch(/\/v1\/models$/);
      expect((await fetch(opened)).status).toBe(200);
      const url = opened.slice(0, -'v1/models'.length);
      const noPage = `no page is served: ${WEB_DIST} does not exist (\`npm run build:web\` builds the page into web-dist/)`;
      expect(out).toContain(`${noPage}: the API alone is served, and ${ckpt} at /checkpoint.safetensors, on `);
      const got = await postTo(url, { prompt: 'to be', seed: 7, ...SETTINGS });
      expect((got.body as Completion).choices[0]!.text).toBe((await complete({ prompt: 'to be', seed: 7, ...SETTINGS })).choices[0]!.text);
      for (const path of ['', 'index.html']) {
        const page = await fetch(`${url}${path}`);
        expect([page.status, await page.text()]).toEqual([404, `not found: ${noPage} (the API is under /v1/)\n`]);
      }
    } finally {
      srv.child.kill('SIGINT');
    }
    const done = await srv.done;
    expect([done.code, done.timedOut], done.err).toEqual([0, false]);
  });

  it('refuses --api without --checkpoint, and --dtype without --api, in one line; --help tells of the API', async () => {
    expectOneLine(await gpt('serve', '--api'), 2, /^gpt serve: flag --api generates with the model of --checkpoint: give --checkpoint PATH \(or a hub id such as gpt2\)$/);
    expectOneLine(await gpt('serve', '--dtype', 'float32'), 2, /^gpt serve: flag --dtype float32 is the dtype --api generates in: it applies with --api only$/);
    expectOneLine(await gpt('serve', '--max-queue', '3'), 2, /^gpt serve: flag --max-queue 3 bounds the requests --api queues: it applies with --api only$/);
    expectOneLine(await gpt('serve', '--api', '--checkpoint', ckpt, '--max-queue', '-1'), 2, /^gpt serve: flag --max-queue must be an integer >= 0, got '-1'$/);
    // its Dawn notices are filtered as other commands' that open the adapter (launch.ts); plain gpt serve opens none
    expect([['serve', '--api'], ['serve', '--api=true'], ['serve'], ['serve', '--api', '--help']].map(opensAdapter)).toEqual([true, true, false, false]);
    const help = await gpt('serve', '--help');
    expect(help.out).toMatch(/--api .*POST \/v1\/completions/);
    expect(help.out).toMatch(/--max-queue .*429 Too Many Requests \(Retry-After: 5\).*64/);
    expect(help.out).toContain(`curl http://127.0.0.1:8080/v1/completions -H 'Content-Type: application/json' -d`);
  });
});
