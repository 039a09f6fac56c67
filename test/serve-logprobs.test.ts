// Log probabilities: scoreSequences (src/gpt/score.ts) and generateBatch's drawn tokens' against a
// float64 forward (prune-reference's gptLogitsRef) with a window of at most blockSize tokens before
// each token, prompts past blockSize included; and `gpt serve --api`'s `logprobs` over real HTTP,
// parsed as lm-evaluation-harness's local-completions model parses it (loglik, is_greedy), against
// the same reference, streamed chunks against the whole answer; its refusals.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { choiceLogprobs, ChoiceLogprobsStream } from '../src/cli/completion-logprobs.js';
import { startServer, type StaticServer } from '../src/cli/serve.js';
import { openCompletionsApi, type CompletionsApi } from '../src/cli/serve-api.js';
import { generateBatch, type DrawnLogprobs } from '../src/gpt/generate.js';
import { GPT, type GPTConfig } from '../src/gpt/model.js';
import { scoreSequences } from '../src/gpt/score.js';
import { CharTokenizer, type Tokenizer } from '../src/gpt/tokenizer/index.js';
import { autocast } from '../src/nn/autocast.js';
import { saveCheckpoint } from '../src/node/checkpoint-dir.js';
import { device } from '../src/device/device.js';
import { cast, noGrad, scope, tensor } from '../src/index.js';
import { tempDir } from './cli-helpers.js';
import { setupDevice } from './helpers.js';
import { miniGpt2Tokenizer } from './hf-reference.js';
import { gptLogitsRef } from './prune-reference.js';

const TEXT = 'to be, or not to be: that is the question.\n';
const tokenizer = CharTokenizer.train(TEXT);
const CFG: GPTConfig = { vocabSize: tokenizer.vocabSize, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 16, dropout: 0, bias: true };
type Weights = Parameters<typeof gptLogitsRef>[1];
let model: GPT;
let weights: Weights;

beforeAll(async () => {
  await setupDevice();
  model = new GPT(CFG, { seed: 5 });
  weights = new Map(await Promise.all([...model.namedParameters()].map(async ([n, p]) => [n, { shape: [...p.shape], data: await p.toArray() }] as const)));
});
afterAll(() => model?.dispose());

/** Float64 log_softmax of the reference logits for the token after `context` (its last blockSize tokens, as generation sees them). */
function nextLogprobsRef(context: number[]): number[] {
  const window = context.slice(-CFG.blockSize);
  const logits = gptLogitsRef(CFG, weights, window);
  const V = CFG.vocabSize;
  const row = Array.from(logits.data.subarray((window.length - 1) * V, window.length * V));
  const top = Math.max(...row);
  const lse = top + Math.log(row.reduce((s, x) => s + Math.exp(x - top), 0));
  return row.map((x) => x - lse);
}

/** Each token's reference logprob given those before it (none for the first), and each position's logprobs. */
function scoresRef(ids: number[]): { logprobs: number[]; rows: number[][] } {
  const rows = ids.slice(1).map((_, i) => nextLogprobsRef(ids.slice(0, i + 1)));
  return { logprobs: rows.map((row, i) => row[ids[i + 1]!]!), rows };
}

/** The ids of a row's top n, likeliest first, ties lower id first. */
const topOf = (row: number[], n: number) => row.map((lp, id) => ({ lp, id })).sort((a, b) => b.lp - a.lp || a.id - b.id).slice(0, n);

const ids = (text: string) => Array.from(tokenizer.encode(text));
/** Distinct test sequences: one token, within the block, the block exactly, one past, well past it. */
const SEQUENCES = ['t', 'to be, or', 'to be, or not to', 'to be, or not to ', 'to be, or not to be: that is the'].map(ids);

/** Runs `fn` with a server of `model` (saved with `tok`, then disposed) and a POST of a completion body to it. */
async function servingModel(model: GPT, tok: Tokenizer, fn: (post: (body: unknown) => Promise<Response>) => Promise<void>): Promise<void> {
  const dir = tempDir('serve-logprobs-model');
  try {
    await saveCheckpoint(join(dir, 'ckpt'), model, tok);
  } finally {
    model.dispose();
  }
  const api = await openCompletionsApi({ checkpoint: join(dir, 'ckpt'), modelId: 'other', dtype: 'float32' });
  const server = await startServer({ root: dir, port: 0, checkpoint: join(dir, 'ckpt'), api });
  try {
    await fn((body) => fetch(new URL('/v1/completions', server.url), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }));
  } finally {
    await server.close();
    await api.close();
  }
}

describe('scoreSequences', () => {
  it('gives each token the float64 logprob given the blockSize tokens before it, and the top N, sequences of any length batched', async () => {
    expect(SEQUENCES.map((s) => s.length)).toEqual([1, 9, 16, 17, 32]);
    const N = 4;
    const got = await scoreSequences(model, SEQUENCES, N);
    SEQUENCES.forEach((s, k) => {
      const want = scoresRef(s);
      expect(got[k]!.logprobs.length).toBe(s.length - 1);
      got[k]!.logprobs.forEach((lp, i) => expect(Math.abs(lp - want.logprobs[i]!), `sequence ${k} token ${i + 1}`).toBeLessThan(1e-4));
      want.rows.forEach((row, i) => {
        const top = topOf(row, N);
        expect(Array.from(got[k]!.topIds.subarray(i * N, (i + 1) * N)), `sequence ${k} position ${i}`).toEqual(top.map((t) => t.id));
        top.forEach((t, j) => expect(Math.abs(got[k]!.topLogprobs[i * N + j]! - t.lp)).toBeLessThan(1e-4));
      });
    });
  });

  it('under autocast float16 scores the float16 logits cast to float32', async () => {
    const s = SEQUENCES[3]!;
    const got = await autocast('float16', () => scoreSequences(model, [s], 1));
    // the first blockSize tokens' logits from one float16 forward, cast, then log_softmax in float64 here
    const logits = await autocast('float16', () => noGrad(() => scope(() => cast(model.eval().forward(tensor(Int32Array.from(s.slice(0, -1)), [1, s.length - 1])).logits, 'float32').toArray())));
    const V = CFG.vocabSize;
    for (let i = 0; i < CFG.blockSize; i++) {
      const row = Array.from(logits.subarray(i * V, (i + 1) * V));
      const top = Math.max(...row);
      const lse = top + Math.log(row.reduce((acc, x) => acc + Math.exp(x - top), 0));
      expect(Math.abs(got[0]!.logprobs[i]! - (row[s[i + 1]!]! - lse)), `position ${i}`).toBeLessThan(2e-6);
    }
    // float16 logits are not float32's: the float64 reference differs by more than float32 rounding somewhere
    const want = scoresRef(s).logprobs;
    expect(Math.max(...want.map((w, i) => Math.abs(w - got[0]!.logprobs[i]!)))).toBeGreaterThan(1e-5);
  });

  it('refuses a topN outside [0, V], an empty sequence and one holding a number that is not a token id', async () => {
    await expect(scoreSequences(model, [[1, 2]], CFG.vocabSize + 1)).rejects.toThrow(`scoreSequences: topN must be an integer in [0, ${CFG.vocabSize}], got ${CFG.vocabSize + 1}`);
    await expect(scoreSequences(model, [[1], []], 1)).rejects.toThrow('scoreSequences: sequences[1] is empty');
    await expect(scoreSequences(model, [[1], [2, CFG.vocabSize]], 1)).rejects.toThrow(`scoreSequences: sequences[1][1] = number ${CFG.vocabSize} is not a token id in [0, ${CFG.vocabSize})`);
    await expect(scoreSequences(model, [[1.5, 2]], 1)).rejects.toThrow(`scoreSequences: sequences[0][0] = number 1.5 is not a token id in [0, ${CFG.vocabSize})`);
  });

  it('scores windows in forwards of at most tokensPerForward tokens, and stops at the next forward once cancelled (null)', async () => {
    const long = ids('to be, or not to be: that is the question. to be'); // 48 tokens: a window of 16, then 32 of a token each
    const hidden = vi.spyOn(GPT.prototype, 'hidden');
    try {
      expect(await scoreSequences(model, [long], 1, { tokensPerForward: 2 * CFG.blockSize })).toHaveLength(1);
      expect(hidden.mock.calls.map(([idx]) => idx.shape)).toEqual(new Array(16).fill([2, CFG.blockSize]));
      hidden.mockClear();
      let asked = 0;
      expect(await scoreSequences(model, [long], 1, { tokensPerForward: 2 * CFG.blockSize, cancelled: () => ++asked > 3 })).toBeNull();
      expect(hidden).toHaveBeenCalledTimes(3);
    } finally {
      hidden.mockRestore();
    }
  });
});

describe('generateBatch: logprobs', () => {
  // with penalties the token is drawn from the penalized logits, its logprobs stay the raw ones' (vLLM's raw_logprobs)
  it.each([
    ['', {}],
    [', with penalties: the raw logits\'', { repetitionPenalty: 1.8, presencePenalty: 1, frequencyPenalty: 0.7 }],
  ])("gives each drawn token the float64 reference's logprob and top N from the logits it was drawn from%s, past the block too, its tokens unchanged", async (_name, penalties) => {
    const prompts = [SEQUENCES[1]!, SEQUENCES[4]!]; // 9 tokens: slides past the block at its 8th; 32: cropped to the block
    const opts = { maxNewTokens: 10, temperature: 1, seed: 7, ...penalties };
    const N = 3;
    const told: { sequence: number; id: number; lp: DrawnLogprobs }[] = [];
    const drawn: number[][] = [[], []];
    for await (const step of generateBatch(model, prompts, { ...opts, logprobs: { topN: N, take: (sequence, id, lp) => told.push({ sequence, id, lp }) } })) step.forEach((id, k) => id !== null && drawn[k]!.push(id));
    const plain: number[][] = [[], []];
    for await (const step of generateBatch(model, prompts, opts)) step.forEach((id, k) => id !== null && plain[k]!.push(id));
    expect(drawn).toEqual(plain);
    expect(told.map((t) => t.id)).toEqual(told.map((t, i) => drawn[t.sequence]![told.slice(0, i).filter((u) => u.sequence === t.sequence).length]));
    expect(told.length).toBe(20);
    for (const [k, prompt] of prompts.entries()) {
      const mine = told.filter((t) => t.sequence === k);
      mine.forEach(({ id, lp }, i) => {
        const row = nextLogprobsRef([...prompt, ...drawn[k]!.slice(0, i)]);
        expect(Math.abs(lp.logprob - row[id]!), `sequence ${k} token ${i}`).toBeLessThan(1e-4);
        const top = topOf(row, N);
        expect(Array.from(lp.topIds), `sequence ${k} token ${i}`).toEqual(top.map((t) => t.id));
        top.forEach((t, j) => expect(Math.abs(lp.topLogprobs[j]! - t.lp)).toBeLessThan(1e-4));
      });
    }
    await expect(generateBatch(model, [[1]], { maxNewTokens: 1, logprobs: { topN: CFG.vocabSize + 1, take: () => undefined } }).next()).rejects.toThrow(
      `generateBatch: logprobs must be { topN: an integer in [0, ${CFG.vocabSize}], take: (sequence, id, logprobs) => void }, got { topN: number ${CFG.vocabSize + 1}, take: function }`,
    );
  });
});

describe('choiceLogprobs', () => {
  it("counts text_offset in code points, as vLLM's (Python's len) and a Python client's slicing: an emoji is one, not two UTF-16 units", () => {
    const emoji = CharTokenizer.train('a😀b');
    const chosen = emoji.encode('a😀ba');
    const scores = { logprobs: new Float32Array(3).fill(-1), topIds: new Int32Array(0), topLogprobs: new Float32Array(0) };
    // Python: [len('a😀ba'[:k]) for k in range(4)] is [0, 1, 2, 3]; a text cut to 'a😀' (a stop sequence) ends the offsets at 2
    expect(choiceLogprobs(emoji, chosen, scores, 0, true, 'a😀ba').text_offset).toEqual([0, 1, 2, 3]);
    expect(choiceLogprobs(emoji, chosen, scores, 0, true, 'a😀').text_offset).toEqual([0, 1, 2, 2]);
  });

  it("gives a byte token's text as vLLM's incremental detokenizer does: '' where it leaves a character unfinished, the character on the byte that ends it, candidates alike", () => {
    const gpt2 = miniGpt2Tokenizer();
    const chosen = gpt2.encode(' café!'); // é: bytes C3 A9, a token each
    const [, grave] = gpt2.encode('è'); // C3 A8
    expect(chosen.length).toBe(7);
    const [topN, L] = [2, chosen.length - 1];
    // position 4 (scoring A9, after C3): the candidates are A9 (é) and A8 (è); elsewhere the chosen token and A8
    const topIds = Int32Array.from({ length: L * topN }, (_, k) => (k % topN === 0 ? chosen[Math.floor(k / topN) + 1]! : grave!));
    const scores = { logprobs: new Float32Array(L).fill(-0.5), topIds, topLogprobs: Float32Array.from(topIds, (_, k) => (k % topN === 0 ? -0.5 : -2)) };
    const got = choiceLogprobs(gpt2, chosen, scores, topN, true, ' café!');
    expect(got.tokens).toEqual([' ', 'c', 'a', 'f', '', 'é', '!']);
    expect(got.text_offset).toEqual([0, 1, 2, 3, 4, 4, 5]);
    expect(got.top_logprobs[5]).toEqual({ é: -0.5, è: -2 }); // after C3: each candidate's character, not U+FFFD for both
    expect(got.top_logprobs[4]).toEqual({ '': -0.5 }); // C3 and A8 alike leave a character unfinished: one key
  });

  it('streamed, sends a token with its whole text: text released short of a token (held back for a stop sequence) waits for the rest', () => {
    const gpt2 = miniGpt2Tokenizer();
    const [the, space, c, a, f, c3, a9, bang] = gpt2.encode(' the café!'); // ' the' is one token
    const stream = new ChoiceLogprobsStream(gpt2, 0);
    const lp = { logprob: -1, topIds: new Int32Array(0), topLogprobs: new Float32Array(0) };
    const sent = (text: string, all = false) => {
      const { text: out, logprobs } = stream.chunk(text, all);
      return [out, logprobs.tokens, logprobs.text_offset];
    };
    stream.add(the!, lp);
    expect(sent(' th')).toEqual(['', [], []]); // 'e' held back: ' the' waits
    stream.add(space!, lp);
    expect(sent('e ')).toEqual([' the ', [' the', ' '], [0, 4]]);
    [c, a, f, c3].forEach((id) => stream.add(id!, lp));
    expect(sent('caf')).toEqual(['caf', ['c', 'a', 'f', ''], [5, 6, 7, 8]]); // C3 adds no text yet
    stream.add(a9!, lp);
    stream.add(bang!, lp);
    expect(sent('é', true)).toEqual(['é', ['é', '!'], [8, 9]]); // the end, '!' cut (a stop sequence): at the text's end
  });

  it("gives <|endoftext|> its text in an echoed prompt, as the echo holds it, and '' drawn, as the text leaves it out", () => {
    const gpt2 = miniGpt2Tokenizer();
    const eot = gpt2.specialId('<|endoftext|>')!;
    const [the] = gpt2.encode(' the');
    const stream = new ChoiceLogprobsStream(gpt2, 1, eot);
    const lp = (top: number) => ({ logprob: -1, topIds: Int32Array.of(top), topLogprobs: Float32Array.of(-0.5) });
    stream.add(eot, null, true);
    stream.add(the!, lp(eot), true);
    stream.add(eot, lp(eot));
    const { text, logprobs } = stream.chunk('<|endoftext|> the', true);
    expect(logprobs.tokens.join('')).toBe(text);
    expect([logprobs.tokens, logprobs.text_offset]).toEqual([['<|endoftext|>', ' the', ''], [0, 13, 17]]);
    expect(logprobs.top_logprobs.slice(1)).toEqual([{ '<|endoftext|>': -0.5, ' the': -1 }, { '': -0.5 }]);
  });
});

interface Logprobs {
  tokens: string[];
  token_logprobs: (number | null)[];
  top_logprobs: (Record<string, number> | null)[];
  text_offset: number[];
}
interface Completion {
  choices: { text: string; index: number; logprobs: Logprobs | null; finish_reason: string }[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

describe('gpt serve --api: logprobs', () => {
  let api: CompletionsApi;
  let server: StaticServer;
  beforeAll(async () => {
    const dir = tempDir('serve-logprobs');
    await saveCheckpoint(join(dir, 'ckpt'), model, tokenizer);
    api = await openCompletionsApi({ checkpoint: join(dir, 'ckpt'), modelId: 'tiny', dtype: 'float32' });
    server = await startServer({ root: dir, port: 0, checkpoint: join(dir, 'ckpt'), api });
  });
  afterAll(async () => {
    await server?.close();
    await api?.close();
  });

  const post = async (body: Record<string, unknown>) => {
    const res = await fetch(new URL('/v1/completions', server.url), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as Completion & { error: { message: string; param: string } } };
  };

  it("answers lm-evaluation-harness's loglikelihood request: its loglik and is_greedy are the float64 reference's", async () => {
    // [context, continuation]: the greedy continuation of the reference, and a token it is not
    const long = ids('not to be: th'); // with its continuation and max_tokens 1, 15 of the block's 16 (the server refuses past it)
    const greedyAfter = (context: number[]) => topOf(nextLogprobsRef(context), 1)[0]!.id;
    const secondAfter = (context: number[]) => topOf(nextLogprobsRef(context), 2)[1]!.id;
    const pairs: [number[], number[]][] = [
      [ids('be, or no'), ids('t to')],
      [long, [greedyAfter(long)]],
      [ids('that is'), [greedyAfter(ids('that is')), secondAfter([...ids('that is'), greedyAfter(ids('that is'))])]],
    ];
    for (const [context] of pairs) {
      // greedyAfter chose the continuation's first token: its reference must not be within rounding of a tie
      const top2 = topOf(nextLogprobsRef(context), 2);
      expect(top2[0]!.lp - top2[1]!.lp).toBeGreaterThan(1e-3);
    }
    const greedy = pairs.map(([context, continuation]) => continuation.every((id, i) => greedyAfter([...context, ...continuation.slice(0, i)]) === id));
    expect(greedy, 'greedy and not').toEqual([false, true, false]);
    for (const max_tokens of [1, 0]) {
      const { status, json } = await post({ model: 'tiny', prompt: pairs.map(([c, x]) => [...c, ...x]), temperature: 0, max_tokens, logprobs: 1, seed: 1234, echo: true });
      expect(status, JSON.stringify(json)).toBe(200);
      const choices = [...json.choices].sort((a, b) => a.index - b.index);
      pairs.forEach(([context, continuation], k) => {
        // lm-eval's parse_logprobs (its models/openai_completions.py), with max_tokens 1: the drawn token is the last, left out
        const { logprobs } = choices[k]!;
        const ctxlen = context.length;
        const end = max_tokens ? -1 : undefined;
        const lp = logprobs!.token_logprobs.slice(ctxlen, end) as number[];
        const top = logprobs!.top_logprobs.slice(ctxlen, end) as Record<string, number>[];
        expect(lp.length).toBe(continuation.length);
        const loglik = lp.reduce((a, b) => a + b, 0);
        const isGreedy = lp.every((t, i) => t === Math.max(...Object.values(top[i]!)));
        const want = scoresRef([...context, ...continuation]).logprobs.slice(ctxlen - 1);
        expect(Math.abs(loglik - want.reduce((a, b) => a + b, 0)), `pair ${k}`).toBeLessThan(1e-4);
        expect(isGreedy, `pair ${k}`).toBe(greedy[k]);
      });
      expect(choices.map((c) => c.finish_reason)).toEqual(['length', 'length', 'length']);
    }
  });

  it("gives OpenAI's shape: each token's text and offset in the choice's text, the prompt's first with echo, the top N plus the chosen token", async () => {
    const prompt = 'or not to b'; // with its 5 tokens, the block
    const body = { prompt, max_tokens: 5, temperature: 1, seed: 3, n: 2, logprobs: 2 };
    for (const echo of [true, false]) {
      const { status, json } = await post({ ...body, echo });
      expect(status, JSON.stringify(json)).toBe(200);
      for (const { text, logprobs } of json.choices) {
        const { tokens, token_logprobs, top_logprobs, text_offset } = logprobs!;
        const drawn = text.slice(echo ? prompt.length : 0);
        expect(drawn.length).toBe(5); // a character model: a token a character, no end token to stop at
        expect(tokens.join('')).toBe(text);
        expect(text_offset).toEqual(tokens.map((_, i) => i));
        expect(token_logprobs.length).toBe(tokens.length);
        const all = ids((echo ? '' : prompt) + text);
        const want = scoresRef(all);
        const first = all.length - tokens.length; // the first token reported, in all
        if (echo) expect([token_logprobs[0], top_logprobs[0]]).toEqual([null, null]);
        tokens.forEach((t, i) => {
          if (first + i === 0) return;
          const row = want.rows[first + i - 1]!;
          expect(Math.abs(token_logprobs[i]! - want.logprobs[first + i - 1]!)).toBeLessThan(1e-4);
          const top = topOf(row, 2).map((e) => tokenizer.decode([e.id]));
          const keys = Object.keys(top_logprobs[i]!);
          expect(keys.sort()).toEqual([...new Set([...top, t])].sort()); // N, or N + 1 with the chosen token
          expect(Math.abs(top_logprobs[i]![t]! - token_logprobs[i]!)).toBeLessThan(1e-6);
        });
      }
    }
  });

  it('leaves the text and usage as they are without logprobs; max_tokens 0 with echo scores the prompt alone', async () => {
    const body = { prompt: ['to be', 'not'], max_tokens: 4, temperature: 0.8, seed: 9, echo: true };
    const plain = await post(body);
    const scored = await post({ ...body, logprobs: 0 });
    expect(scored.json.usage).toEqual(plain.json.usage);
    expect(scored.json.usage).toEqual({ prompt_tokens: 8, completion_tokens: 8, total_tokens: 16 });
    expect(scored.json.choices.map((c) => c.text)).toEqual(plain.json.choices.map((c) => c.text));
    expect(plain.json.choices.map((c) => c.logprobs)).toEqual([null, null]);
    const only = await post({ prompt: 'to be', max_tokens: 0, echo: true, logprobs: 0 });
    expect(only.status).toBe(200);
    expect(only.json.usage).toEqual({ prompt_tokens: 5, completion_tokens: 0, total_tokens: 5 });
    expect(only.json.choices[0]).toMatchObject({ text: 'to be', finish_reason: 'length', logprobs: { tokens: ['t', 'o', ' ', 'b', 'e'] } });
    // one token: nothing to score (vLLM's answer too)
    const one = await post({ prompt: 't', max_tokens: 0, echo: true, logprobs: 2 });
    expect(one.json.choices[0]!.logprobs).toEqual({ tokens: ['t'], token_logprobs: [null], top_logprobs: [null], text_offset: [0] });
    // streamed (without logprobs): the echo, then the choice's end
    const res = await fetch(new URL('/v1/completions', server.url), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ prompt: 'to be', max_tokens: 0, echo: true, stream: true }) });
    const events = (await res.text()).split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => (JSON.parse(e.slice(6)) as Completion).choices[0]!);
    expect(events.map((c) => [c.text, c.finish_reason])).toEqual([['to be', null], ['', 'length']]);
  });

  it("streams each chunk's tokens' logprobs, which join to its text and, all chunks', to the whole answer's (the echoed prompt's in its echo chunk)", async () => {
    // 'e' held back for 'e\n' until the next token: its token waits with its text; one choice ends at ' q'
    const body = { prompt: [': th', 'is'], max_tokens: 12, temperature: 1, seed: 11, n: 2, logprobs: 2, stop: [' q', 'e\n'] };
    for (const echo of [false, true]) {
      const whole = await post({ ...body, echo });
      expect(whole.status, JSON.stringify(whole.json)).toBe(200);
      const res = await fetch(new URL('/v1/completions', server.url), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ ...body, echo, stream: true }) });
      const chunks = (await res.text()).split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => (JSON.parse(e.slice(6)) as Completion).choices[0]!);
      for (const want of whole.json.choices) {
        const mine = chunks.filter((c) => c.index === want.index);
        if (echo) expect([mine[0]!.text, mine[0]!.logprobs!.tokens.join(''), mine[0]!.logprobs!.token_logprobs[0]]).toEqual([body.prompt[Math.floor(want.index / 2)], mine[0]!.text, null]);
        for (const c of mine.filter((c) => !c.finish_reason)) expect(c.logprobs!.tokens.join(''), `choice ${want.index}`).toBe(c.text);
        expect(mine.map((c) => c.text).join('')).toBe(want.text);
        const joined = (k: keyof Logprobs) => mine.flatMap((c): unknown[] => c.logprobs![k]);
        expect({ tokens: joined('tokens'), token_logprobs: joined('token_logprobs'), top_logprobs: joined('top_logprobs'), text_offset: joined('text_offset') }).toEqual(want.logprobs);
      }
      // a token held back, then sent with the next one's (a token a character: one a step otherwise); a stop sequence's, cut
      expect(chunks.filter((c) => !c.finish_reason && c.text.length === 2 && c.logprobs!.tokens.length === 2).length).toBeGreaterThan(0);
      expect(whole.json.choices.map((c) => c.finish_reason)).toContain('stop');
    }
  });

  it("scores a prompt once whatever n, in one forward (the server refuses a prompt past the block)", async () => {
    const hidden = vi.spyOn(GPT.prototype, 'hidden');
    try {
      const prompt = ids('to be, or not to'); // the block's 16 tokens
      expect((await post({ prompt, max_tokens: 0, echo: true, logprobs: 1 })).status).toBe(200);
      expect((await post({ prompt, max_tokens: 0, echo: true, logprobs: 1, n: 2 })).status).toBe(200);
      expect(hidden.mock.calls.map(([idx]) => idx.shape)).toEqual([[1, CFG.blockSize - 1], [1, CFG.blockSize - 1]]); // the last token is scored by the forward before it
    } finally {
      hidden.mockRestore();
    }
  });

  it("echoes a prompt truncated inside a character with the kept tokens' texts and offsets where they are in the echo, streamed or not", async () => {
    // ' café!' is ' ', 'c', 'a', 'f', C3, A9, '!' (é: two byte tokens); keeping 2 cuts between é's bytes: A9 ends é, at 4
    const gpt2 = miniGpt2Tokenizer();
    const body = { prompt: ' café!', max_tokens: 1, echo: true, logprobs: 0, temperature: 0, truncate_prompt_tokens: 2 };
    await servingModel(new GPT({ ...CFG, vocabSize: gpt2.vocabSize }, { seed: 5 }), gpt2, async (post) => {
      const whole = (await (await post(body)).json()) as Completion;
      const { text, logprobs } = whole.choices[0]!;
      expect(text.startsWith(' café!')).toBe(true);
      expect(logprobs!.tokens.slice(0, 2)).toEqual(['é', '!']);
      expect(logprobs!.text_offset).toEqual([4, 5, 6]);
      const chunks = (await (await post({ ...body, stream: true })).text()).split('\n\n').filter((c) => c.startsWith('data: {'));
      const echo = (JSON.parse(chunks[0]!.slice(6)) as Completion).choices[0]!;
      expect([echo.text, echo.logprobs!.tokens, echo.logprobs!.text_offset]).toEqual([' café!', ['é', '!'], [4, 5]]);
    });
  });

  it('holds no more GPU memory after scoring requests than before them', async () => {
    const bodies = [
      { prompt: ['to be, or not to be: that is', 'not'], truncate_prompt_tokens: 12, max_tokens: 3, echo: true, logprobs: 3, n: 2, seed: 1 },
      { prompt: 'that is the question', truncate_prompt_tokens: -1, max_tokens: 2, logprobs: 0, seed: 2 },
      { prompt: 'to be', max_tokens: 0, echo: true, logprobs: 5 },
    ];
    for (const body of bodies) expect((await post(body)).status).toBe(200); // what the first of each makes and keeps (pools, caches)
    const before = device().memory().liveBytes;
    for (const body of [...bodies, ...bodies]) expect((await post(body)).status).toBe(200);
    expect(device().memory().liveBytes).toBe(before);
  });

  it("answers a 500 naming the choice and token where the scored logits are not finite, as generation's are (not null logprobs)", async () => {
    const overflowing = new GPT(CFG, { seed: 5 });
    const w = overflowing.h.items[1]!.attn.c_proj.bias!; // past float32: the next LayerNorm's mean is Inf, its output NaN
    scope(() => w.assign(tensor(new Float32Array(w.size).fill(3e38), [...w.shape])));
    await servingModel(overflowing, tokenizer, async (post) => {
      const res = await post({ prompt: ['to', 'to be'], max_tokens: 0, echo: true, logprobs: 1 });
      expect(res.status).toBe(500);
      const { error } = (await res.json()) as { error: { message: string; type: string } };
      expect(error).toEqual({
        message: "scoring failed: the model's logits are not finite before choices[0]'s token 1 (from 0): a NaN or +Inf, or every one -Inf, so it has no log-probability (its weights hold NaN or overflow float32 in the forward)",
        type: 'server_error', param: null, code: null,
      });
    });
  });

  it('gives a vocabulary smaller than logprobs all its tokens as the top, not a 500', async () => {
    const tiny = CharTokenizer.train('abc');
    await servingModel(new GPT({ ...CFG, vocabSize: tiny.vocabSize }, { seed: 6 }), tiny, async (post) => {
      const res = await post({ prompt: 'abca', max_tokens: 0, echo: true, logprobs: 20 });
      expect(res.status).toBe(200);
      const { choices } = (await res.json()) as { choices: { logprobs: { top_logprobs: (Record<string, number> | null)[] } }[] };
      const tops = choices[0]!.logprobs.top_logprobs;
      expect(tops[0]).toBeNull();
      for (const top of tops.slice(1)) {
        expect(Object.keys(top!).sort()).toEqual(['a', 'b', 'c']);
        expect(Object.values(top!).reduce((p, lp) => p + Math.exp(lp), 0)).toBeCloseTo(1, 5); // every token: the whole distribution
      }
    });
  });

  it('refuses logprobs outside 0..20 or not an integer, and max_tokens 0 without echo: 400 naming the field', async () => {
    const cases: [Record<string, unknown>, string, string][] = [
      [{ logprobs: 21 }, 'logprobs', 'logprobs must be an integer in [0, 20], got 21 (the top logprobs at each position; null: none)'],
      [{ logprobs: -1 }, 'logprobs', 'logprobs must be an integer in [0, 20], got -1 (the top logprobs at each position; null: none)'],
      [{ logprobs: 1.5 }, 'logprobs', 'logprobs must be an integer in [0, 20], got 1.5 (the top logprobs at each position; null: none)'],
      [{ logprobs: true }, 'logprobs', 'logprobs must be an integer in [0, 20], got true (the top logprobs at each position; null: none)'],
      [{ max_tokens: 0 }, 'max_tokens', 'max_tokens 0 draws no token: it is allowed only with echo: true (the prompt scored, with logprobs), got echo false'],
    ];
    for (const [fields, param, message] of cases) {
      const { status, json } = await post({ prompt: 'to', ...fields });
      expect(status, message).toBe(400);
      expect(json.error).toMatchObject({ message, param });
    }
  });
});
