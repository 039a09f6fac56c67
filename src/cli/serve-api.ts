// `gpt serve --api`: generation on this machine's GPU through OpenAI's legacy completions API, as
// llama.cpp's server, vLLM and Ollama offer it: POST /v1/completions (src/cli/completion-request.ts
// has the fields) and GET /v1/models. The checkpoint is loaded once, as `gpt sample` loads it (a peft
// adapter, --adapter, merged into it), and generates as `gpt sample` does (generateBatch; choice i of
// a prompt draws with seed + i), so that a seed and settings give `gpt sample`'s text, within the
// block: a prompt and its max_tokens past it are refused, as vLLM refuses them past max_model_len,
// not slid past as `gpt sample` slides (context-window.ts: truncate_prompt_tokens, max_tokens
// null; an echo of a truncated prompt gives it whole, its logprobs the tokens kept). With `logprobs`, a drawn
// token's come from the model's raw logits it was drawn at, before penalties (generateBatch's `logprobs`), an echoed prompt's
// from scoring it before the generation (src/gpt/score.ts, once a prompt whatever n);
// completion-logprobs.ts gives OpenAI's shape, streamed too: a chunk carries the tokens whose text
// it sends (the prompt's, with echo, in its echo chunk), as vLLM's chunks do. Until the model is
// loaded (load()), every request answers 503 with Retry-After. One generation runs at a time:
// requests wait their turn in arrival order, at most maxQueue of them (429 with Retry-After past
// it); one whose client is gone stops at its next token (or never starts, and leaves the queue), one
// whose client reads its stream slowly waits for it, and one whose client has read nothing for
// STALLED_CLIENT_MS is cut off, as gone.
// serve.ts checks the Host header first (DNS rebinding). A page of another origin could still send a
// "simple" request with the browser's own Host; so a POST must carry JSON (which a browser sends
// cross-origin only after a preflight, OPTIONS, which is refused: no CORS headers are ever sent)
// and no Origin header naming another server. Given a key (--api-key), every request under /v1/
// must carry it (src/cli/api-key.ts) before anything else is looked at.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { device } from '../device/device.js';
import type { DeviceLostError } from '../device/lost.js';
import { generateBatch, LogitsNotFiniteError, type DrawnLogprobs } from '../gpt/generate.js';
import { samplingPlan } from '../gpt/memory-plan.js';
import { deviceRoom } from '../gpt/model.js';
import { scoreSequences, ScoresNotFiniteError } from '../gpt/score.js';
import { encodePrompt, Gpt2Tokenizer, listUnknown, tokenizerFromJSON, type Tokenizer } from '../gpt/tokenizer/index.js';
import type { TrainDtype } from '../gpt/trainer.js';
import { autocast } from '../nn/autocast.js';
import { readCheckpointHead } from '../node/checkpoint-head.js';
import { readAdapterFlag } from './adapter-flag.js';
import { apiKeyCheck } from './api-key.js';
import { ChoiceLogprobsStream, scoredAt } from './completion-logprobs.js';
import { CompletionText } from './completion-text.js';
import { ApiError, modelNotServed, parseCompletionRequest, shown, type CompletionRequest } from './completion-request.js';
import { fitContext } from './context-window.js';
import { checkModelFits, generationExtent } from './device-fit.js';
import { openGenerator, type GeneratingModel } from './inference-model.js';

/** Requests under this path go to the API. */
export const API_PATH = '/v1/';
/** The most bytes of a request body read: a prompt past the block is refused anyway. */
export const MAX_BODY_BYTES = 1 << 20;
/** The status logged for a request whose client left before its answer (nginx's). */
const CLIENT_GONE = 499;
/** --max-queue's default: the most requests that wait while one generates (TGI refuses past 128 at once; ours run one at a time). */
export const MAX_QUEUE = 64;
/**
 * How long a streaming client may leave unread what was sent to it (the server's buffer past its
 * high-water mark, no 'drain') before it is dropped as gone: every request queued waits for it, so
 * no more than this (nginx's send_timeout is 60 s). Clients read as the text comes, and a slow one
 * drains now and then: only one that stopped reading meets it.
 */
export const STALLED_CLIENT_MS = 30_000;
/** The Retry-After, in seconds, of a 503 while the model loads and of a 429 while the queue is full. */
export const RETRY_AFTER_S = 5;

export interface CompletionsApi {
  /** The model's name in requests and in GET /v1/models: --adapter as given where there is one (vLLM names a LoRA model by the adapter's name), else --checkpoint as given. */
  readonly modelId: string;
  /** Answers a request for a path under /v1/ whose Host the server has checked (`host`: that authority, `name:port`, as the client reached it); its status, for the log. */
  handle(req: IncomingMessage, res: ServerResponse, path: string, host: string): Promise<number>;
  /**
   * Loads the model of `checkpoint` (a path: a hub id is fetched before) in `dtype`, the peft adapter
   * directory `adapter` (--adapter; '' none) merged into it; until it has, a request (with its key) answers 503 with Retry-After.
   */
  load(checkpoint: string, dtype: TrainDtype, adapter?: string): Promise<void>;
  /** Resolves when the GPU device is lost (never, while it works, or before the model is loaded): every generation would fail. */
  readonly lost: Promise<DeviceLostError>;
  /** Waits for the generations queued (each stops once its client is gone) and frees the model. */
  close(): Promise<void>;
}

export interface ApiSettings {
  modelId: string;
  /** With an adapter (modelId its name): the checkpoint it is merged into, GET /v1/models's `parent` (vLLM's); a request naming it is refused, the base alone not being served. */
  parent?: string;
  /** Only requests carrying it are answered (--api-key). */
  apiKey?: string;
  /** The most requests waiting while one generates, past which a request is refused (429): MAX_QUEUE unless given. */
  maxQueue?: number;
  /** STALLED_CLIENT_MS unless given (a test's short one). */
  stallMs?: number;
}

/** The model of a checkpoint on the device, and what answering with it needs. */
interface Loaded {
  tokenizer: Tokenizer;
  generator: GeneratingModel;
  endToken: number | undefined;
  modelObject: { id: string; object: 'model'; created: number; owned_by: string; max_model_len: number; parent?: string };
}

/** The API, its model not loaded yet: load() loads it (openCompletionsApi does both). */
export function completionsApi({ modelId, parent, apiKey, maxQueue = MAX_QUEUE, stallMs = STALLED_CLIENT_MS }: ApiSettings): CompletionsApi {
  const checkKey = apiKey === undefined ? undefined : apiKeyCheck(apiKey);
  let loaded: Loaded | null = null;
  let deviceOpened!: (lost: Promise<DeviceLostError>) => void;
  const lost = new Promise<DeviceLostError>((resolve) => (deviceOpened = (l) => void l.then(resolve)));

  let line: Promise<unknown> = Promise.resolve();
  let inLine = 0; // requests generating or waiting to, their clients still there
  /** Runs `fn` once the generations before it are done; a 429 where maxQueue requests wait already. */
  const inTurn = (res: ServerResponse, fn: () => Promise<number>): Promise<number> => {
    if (inLine > maxQueue) throw new ApiError(429, `the queue is full (one request generating, ${maxQueue} waiting, the most --max-queue lets wait): try again later`, null, 'queue_full', 'server_error');
    inLine++;
    let counted = true;
    const leave = () => {
      if (counted) inLine--;
      counted = false;
    };
    res.once('close', leave); // a client gone while it waits leaves the line (its turn, when it comes, ends at once)
    const turn = line.then(fn).finally(leave);
    line = turn.catch(() => undefined);
    return turn;
  };

  /** Token ids of each prompt (as given, for a token-id one); an ApiError naming characters a character model does not know (gpt sample leaves them out, with a note a client would not see). */
  const encode = ({ tokenizer }: Loaded, r: CompletionRequest): Int32Array[] =>
    r.prompts.map((prompt, p) => {
      if (typeof prompt !== 'string') return prompt;
      const known = encodePrompt(tokenizer, prompt);
      const name = r.prompts.length > 1 ? `prompt[${p}]` : 'prompt';
      if (known.dropped) throw new ApiError(400, `${name} holds characters this model's vocabulary lacks: ${listUnknown(known.unknown)}`, 'prompt');
      return known.ids;
    });

  /** Refuses a request whose generation's buffers do not fit; else the most tokens its forwards take, which its scoring's then keep to. */
  const checkFits = ({ generator: { model, dtype } }: Loaded, r: CompletionRequest, ids: Int32Array[], maxTokens: number[]): number => {
    const batch = ids.length * r.bestOf;
    const longest = ids.reduce((n, p, i) => Math.max(n, p.length + maxTokens[i]!), 0); // not Math.max(...): a 1 MiB body holds more prompts than a call takes arguments
    const { positions, forwardPositions } = generationExtent(model.config.blockSize, longest, 0);
    try {
      // generateBatch decodes with KV caches
      // with its penalties', logit bias' and logprobs' tensors, [batch, V] each
      checkModelFits({ ...model.config, blockSize: positions }, batch, { training: false, ...deviceRoom(), kvCache: true, forwardPositions, dtype, sampling: samplingPlan(r, r.logprobs) });
    } catch (e) {
      const asked = r.bestOf > r.n ? 'best_of' : 'n';
      throw new ApiError(400, `${asked} ${r.bestOf} x ${ids.length} prompts = ${batch} sequences do not fit this GPU: ${(e as Error).message}`, asked);
    }
    return batch * forwardPositions; // a scoring window is forwardPositions long at most
  };

  /** Runs one request's generation and sends its answer (`encoded`: its prompts' tokens, `ids`: those kept of them); `gone`: whether its client has left. */
  const generate = async ({ tokenizer, generator: { model, dtype, casts }, endToken }: Loaded, res: ServerResponse, r: CompletionRequest, encoded: Int32Array[], ids: Int32Array[], maxTokens: number[], tokensPerForward: number, gone: () => boolean): Promise<number> => {
    const head = { id: `cmpl-${randomUUID()}`, object: 'text_completion', created: Math.floor(Date.now() / 1000), model: modelId };
    const choices = r.prompts.flatMap((given, p) => {
      const prompt = typeof given === 'string' ? given : tokenizer.decode(given); // what echo gives: whole, truncated or not (vLLM's)
      return Array.from({ length: r.bestOf }, (_, i) => ({
        index: p * r.bestOf + i,
        prompt,
        /** The tokens truncate_prompt_tokens cut off the prompt's front: echoed, without logprobs (vLLM scores those it keeps). */
        cut: encoded[p]!.subarray(0, encoded[p]!.length - ids[p]!.length),
        ids: ids[p]!,
        maxTokens: maxTokens[p]!,
        seed: r.seeds[p]! + i,
        text: new CompletionText(tokenizer, r.stop, endToken, r.ignoreEos),
        logprobs: r.logprobs === null ? null : new ChoiceLogprobsStream(tokenizer, r.logprobs, endToken),
        drawn: { logprob: 0, tokens: 0 }, // its drawn tokens' logprobs summed, for best_of
      }));
    });
    const ranked = r.bestOf > r.n;
    /** Prompt p's choices: its best_of candidates (n, without best_of). */
    const ofPrompt = (p: number) => choices.slice(p * r.bestOf, (p + 1) * r.bestOf);
    /** A drawn token of choice `c`, with its logprob: summed for best_of, kept where asked for. */
    const took = (c: (typeof choices)[number], id: number, lp: DrawnLogprobs) => {
      c.drawn.logprob += lp.logprob;
      c.drawn.tokens++;
      c.logprobs?.add(id, lp);
    };
    try {
      // with echo, each prompt's logprobs (once, whatever n), first: they come before the drawn tokens'
      const prompts = r.echo && r.logprobs !== null ? await autocast(dtype, () => scoreSequences(model, ids, r.logprobs!, { tokensPerForward, cancelled: gone }), casts) : [];
      if (!prompts) return CLIENT_GONE; // its scoring stopped, the client gone
      prompts.forEach((scores, p) => {
        for (const c of ofPrompt(p)) {
          c.logprobs!.precede(c.cut);
          ids[p]!.forEach((id, j) => c.logprobs!.add(id, j ? scoredAt(scores, j - 1, r.logprobs!) : null, true));
        }
      });
    } catch (e) {
      if (e instanceof ScoresNotFiniteError) fail(res, new ApiError(500, `scoring failed: ${e.describe(`choices[${e.sequence * r.n}]`)}`));
      throw e; // logged by the server
    }
    /** A streamed chunk of choice `c`: `text` released, with its tokens' logprobs where asked for; none where neither text, tokens nor finish is new. */
    const chunk = (c: (typeof choices)[number], text: string, finish: string | null) => {
      const part = c.logprobs?.chunk(text, finish !== null);
      if (!(text || finish || part?.logprobs.tokens.length)) return;
      const body = { ...head, choices: [{ text: part?.text ?? text, index: c.index, logprobs: part?.logprobs ?? null, finish_reason: finish }], ...(r.includeUsage && { usage: null }) };
      res.write(`data: ${JSON.stringify(body)}\n\n`);
    };
    if (r.stream) {
      res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8' });
      // a prompt at a time, each taken before the next as a token's chunks are: n long prompts at once
      // went out in one write, which a client reading all along, but slowly, took past the stall limit
      if (r.echo) {
        for (const c of choices) {
          chunk(c, c.prompt, null);
          await drained(res, gone, stallMs);
        }
        if (gone()) return CLIENT_GONE;
      }
    }
    const options = {
      maxNewTokens: maxTokens.reduce((a, b) => Math.max(a, b), 0), // each choice stops at its own (max_tokens null: the rest of its prompt's context)
      temperature: r.temperature,
      topK: r.topK,
      topP: r.topP,
      minP: r.minP,
      logitBias: r.logitBias,
      presencePenalty: r.presencePenalty,
      frequencyPenalty: r.frequencyPenalty,
      repetitionPenalty: r.repetitionPenalty,
      seed: choices.map((c) => c.seed),
      stopAfter: (k: number, id: number) => choices[k]!.text.take(id) || choices[k]!.text.tokens === choices[k]!.maxTokens,
      ...((r.logprobs !== null || ranked) && { logprobs: { topN: r.logprobs ?? 0, take: (k: number, id: number, lp: DrawnLogprobs) => took(choices[k]!, id, lp) } }),
    };
    try {
      await autocast(
        dtype,
        async () => {
          // max_tokens 0 (with echo): the prompt alone, scored before
          const steps = r.maxTokens !== 0 ? generateBatch(model, choices.map((c) => c.ids), options) : [];
          for await (const step of steps) {
            // a client that reads slowly holds its generation (its answer is not buffered ahead without bound); one that stopped reading is dropped
            if (r.stream) await drained(res, gone, stallMs);
            if (gone()) return; // leaving the loop ends the generator: its rows are freed
            step.forEach((id, k) => {
              const c = choices[k]!;
              if (id === null) return;
              if (!c.text.finish && c.text.tokens === c.maxTokens) c.text.end();
              const piece = c.text.release();
              if (r.stream) chunk(c, piece, c.text.finish);
            });
          }
          for (const c of choices.filter((c) => !c.text.finish)) {
            c.text.end(); // max_tokens 0: no step ended it
            if (r.stream) chunk(c, '', c.text.finish);
          }
        },
        casts,
      );
    } catch (e) {
      // a model whose logits are not finite is the client's to know (its text stops there); other failures are the server's
      // a row of the batch is a choice; with best_of, a candidate of its prompt's, which the answer's choices need not hold
      const rowName = (k: number) => (ranked ? `prompt[${Math.floor(k / r.bestOf)}]'s best_of candidate ${k % r.bestOf}` : `choices[${k}]`);
      const failure = e instanceof LogitsNotFiniteError
        ? new ApiError(500, `generation failed: ${e.describe(e.sequence === null ? null : rowName(e.sequence))}`)
        : new ApiError(500, "generation failed: the reason is in gpt serve's output");
      if (r.stream) res.end(`data: ${JSON.stringify(failure.body)}\n\n`);
      else if (e instanceof LogitsNotFiniteError) fail(res, failure);
      throw e; // logged by the server
    }
    if (gone()) return CLIENT_GONE;
    const completionTokens = choices.reduce((n, c) => n + c.text.tokens, 0); // every best_of choice's (OpenAI bills them)
    const promptTokens = ids.reduce((n, p) => n + p.length, 0); // each prompt once, whatever n (OpenAI's count)
    const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
    if (r.stream) {
      if (r.includeUsage) res.write(`data: ${JSON.stringify({ ...head, choices: [], usage })}\n\n`);
      res.end('data: [DONE]\n\n');
      return 200;
    }
    const returned = ranked ? r.prompts.flatMap((_, p) => best(ofPrompt(p), r.n)) : choices;
    const answer = returned.map(({ prompt, text, logprobs }, index) => {
      const all = (r.echo ? prompt : '') + text.all;
      return { text: all, index, logprobs: logprobs?.chunk(all, true).logprobs ?? null, finish_reason: text.finish };
    });
    return sendJson(res, 200, { ...head, choices: answer, usage });
  };

  const complete = async (m: Loaded, req: IncomingMessage, res: ServerResponse, host: string): Promise<number> => {
    let left = false; // heard from the start: a client may leave while its body is read or its prompt encoded
    res.once('close', () => (left = !res.writableFinished));
    checkSameOrigin(req, host);
    const type = (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
    if (type !== 'application/json') {
      throw new ApiError(415, `Content-Type must be application/json (curl: -H 'Content-Type: application/json'), got ${type ? shown(type) : 'none'}`, null, 'unsupported_media_type');
    }
    const body = await readBody(req);
    if (body === null) return CLIENT_GONE;
    const r = parseCompletionRequest(parseJson(body), { modelId, parent, vocabSize: m.tokenizer.vocabSize });
    const encoded = encode(m, r);
    const { ids, maxTokens } = fitContext(encoded, r.maxTokens, r.truncatePromptTokens, m.generator.model.config.blockSize);
    const tokensPerForward = checkFits(m, r, ids, maxTokens);
    return inTurn(res, () => (left ? Promise.resolve(CLIENT_GONE) : generate(m, res, r, encoded, ids, maxTokens, tokensPerForward, () => left)));
  };

  const models = ({ modelObject }: Loaded, res: ServerResponse, route: string): number => {
    if (route === '/v1/models') return sendJson(res, 200, { object: 'list', data: [modelObject] });
    const asked = route.slice('/v1/models/'.length);
    if (decoded(asked) === modelId) return sendJson(res, 200, modelObject);
    return fail(res, modelNotServed(decoded(asked), modelId, parent));
  };

  return {
    modelId,
    lost,
    async load(checkpoint, dtype, adapterDir = '') {
      const head = await readCheckpointHead(checkpoint);
      const adapter = await readAdapterFlag(adapterDir, head); // refused before the device opens
      const tokenizer = tokenizerFromJSON(head.meta.tokenizer);
      const generator = await openGenerator(head, { dtype, batch: 1, flag: '--api' }, adapter);
      const endToken = tokenizer instanceof Gpt2Tokenizer ? tokenizer.specialId('<|endoftext|>') : undefined;
      const modelObject = { id: modelId, object: 'model' as const, created: Math.floor(Date.now() / 1000), owned_by: 'webgpu-gpt', max_model_len: generator.model.config.blockSize, ...(parent !== undefined && { parent }) };
      loaded = { tokenizer, generator, endToken, modelObject };
      deviceOpened(device().lost);
    },
    async handle(req, res, path, host) {
      const route = path.split(/[?#]/, 1)[0]!;
      const method = req.method ?? '';
      try {
        checkKey?.(req.headers.authorization);
        // as llama.cpp's server answers while it loads: OpenAI's clients retry a 503, after Retry-After
        if (!loaded) throw new ApiError(503, `model ${shown(modelId)} is loading: this server answers once it is loaded; try again in a few seconds`, null, 'model_loading');
        if (route === '/v1/completions') {
          if (method !== 'POST') throw new ApiError(405, `${method} ${route}: only POST is served here`, null, 'method_not_allowed');
          return await complete(loaded, req, res, host);
        }
        if (route === '/v1/models' || route.startsWith('/v1/models/')) {
          if (method !== 'GET' && method !== 'HEAD') throw new ApiError(405, `${method} ${route}: only GET is served here`, null, 'method_not_allowed');
          return models(loaded, res, route);
        }
        throw new ApiError(404, `no endpoint ${method} ${route}: this server serves POST /v1/completions and GET /v1/models`, null, 'unknown_url');
      } catch (e) {
        if (e instanceof ApiError) return fail(res, e, e.status === 405 ? { Allow: route === '/v1/completions' ? 'POST' : 'GET, HEAD' } : {});
        if (!res.headersSent) fail(res, new ApiError(500, "internal error: the reason is in gpt serve's output"));
        throw e; // logged by the server
      }
    },
    async close() {
      await line;
      loaded?.generator.dispose();
    },
  };
}

/**
 * The `n` of a prompt's best_of `choices` with the highest mean logprob per drawn token (OpenAI's
 * rule; logprobs of the raw logits, as returned), best first, ties in their order; a choice that drew
 * nothing (max_tokens 0) ranks last. vLLM's (vllm/outputs.py, before V1 dropped best_of) ranks by the
 * summed logprob instead, which favours choices that stop early.
 */
function best<C extends { drawn: { logprob: number; tokens: number } }>(choices: C[], n: number): C[] {
  const mean = ({ drawn }: C) => (drawn.tokens ? drawn.logprob / drawn.tokens : -Infinity);
  return [...choices].sort((a, b) => mean(b) - mean(a) || 0).slice(0, n);
}

/** The API of the checkpoint at `checkpoint` (a path: a hub id is fetched before), the adapter directory `adapter` merged into it, its model loaded (completionsApi, then load). */
export async function openCompletionsApi({ checkpoint, dtype, adapter, ...settings }: ApiSettings & { checkpoint: string; dtype: TrainDtype; adapter?: string }): Promise<CompletionsApi> {
  const api = completionsApi(settings);
  await api.load(checkpoint, dtype, adapter);
  return api;
}

/**
 * Refuses a request from a page of another origin (a browser names the page's in Origin; programs
 * send none): its origin must be the server's as the client reached it, `host` (the checked Host),
 * port included. The Host check takes any port (a tunnel's), but a page on another port of this
 * machine is another origin, and this API sends no CORS headers to let one in.
 */
function checkSameOrigin(req: IncomingMessage, host: string): void {
  const origin = req.headers.origin;
  if (origin === undefined) return;
  let same = false;
  try {
    const url = new URL(origin);
    same = url.protocol === 'http:' && url.host === new URL(`http://${host}`).host; // URL's: lowercase, port 80 left out
  } catch {
    // 'null' (a sandboxed page, a file), or not a URL: another origin
  }
  if (!same) {
    throw new ApiError(403, `Origin ${shown(origin)}: pages of another origin may not use this API (it sends no CORS headers); call it from a program, or from the page this server serves`, null, 'cross_origin');
  }
}

/** The request's body as text, at most MAX_BODY_BYTES; null when its client left before sending all of it. */
async function readBody(req: IncomingMessage): Promise<string | null> {
  const tooLarge = () => new ApiError(413, `the request body is over ${MAX_BODY_BYTES} bytes, the most this server reads`, null, 'request_too_large');
  if (Number(req.headers['content-length']) > MAX_BODY_BYTES) throw tooLarge();
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const part of req as AsyncIterable<Buffer>) {
      size += part.length;
      if (size > MAX_BODY_BYTES) throw tooLarge();
      parts.push(part);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ECONNRESET') return null; // Node's 'aborted': the client, not the server, failed
    throw e;
  }
  try {
    // JSON's encoding, a byte-order mark skipped: bytes read as U+FFFD would change the prompt unseen
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(parts));
  } catch {
    throw new ApiError(400, "the body is not valid JSON: its bytes are not UTF-8 text, JSON's encoding");
  }
}

/**
 * Resolves once `res` has sent what it buffered past its high-water mark, or its client is gone; at
 * once where it is not past it. A client that drains nothing for `stallMs` is cut off: gone.
 */
async function drained(res: ServerResponse, gone: () => boolean, stallMs: number): Promise<void> {
  if (!res.writableNeedDrain || gone()) return;
  await new Promise<void>((done) => {
    const stalled = setTimeout(() => res.destroy(), stallMs); // its 'close' settles this
    const settle = () => {
      clearTimeout(stalled);
      res.off('drain', settle).off('close', settle);
      done();
    };
    res.on('drain', settle).on('close', settle);
  });
}

/** A path segment decoded, or as it is where its escapes are malformed (%E0). */
function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, `the body is not valid JSON: ${(e as Error).message.replace(/\r?\n/g, '\\n')}`);
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): number {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', ...headers }).end(`${JSON.stringify(body)}\n`);
  return status;
}

/** An ApiError as OpenAI sends one; a 413's connection is closed (the rest of its body is not read), a 503 or 429 says when to try again. */
function fail(res: ServerResponse, e: ApiError, headers: Record<string, string> = {}): number {
  const more: Record<string, string> = e.status === 413 ? { Connection: 'close' } : e.status === 503 || e.status === 429 ? { 'Retry-After': String(RETRY_AFTER_S) } : {};
  return sendJson(res, e.status, e.body, { ...headers, ...more });
}
