// The body of a `POST /v1/completions` to `gpt serve --api`, checked: OpenAI's legacy completions
// fields that a GPT-2-style model can honour, with OpenAI's defaults, vLLM's top_k, min_p, ignore_eos
// and repetition_penalty as extensions (presence_penalty, frequency_penalty: OpenAI's, applied as
// vLLM applies them, src/ops/penalty.ts; logit_bias as vLLM, before them: src/gpt/logit-bias.ts;
// best_of: the n best of best_of choices by mean token logprob, OpenAI's rule); a field OpenAI has
// that this server cannot honour (suffix) is accepted only at its neutral value, any other refused,
// so that no setting is silently ignored.
// A bad value is an ApiError: HTTP 400 with one line naming the field, the value and what is allowed.
import { randomInt } from 'node:crypto';
import { logitBiasProblem, type LogitBias } from '../gpt/logit-bias.js';
import { isRecord, rangeProblem, show, type Range } from '../io/value-ranges.js';

/** An answer of OpenAI's error shape: `{ error: { message, type, param, code } }` with `status`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | number | null = null,
    readonly type = status >= 500 ? 'server_error' : 'invalid_request_error',
  ) {
    super(message);
  }

  get body() {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export interface CompletionRequest {
  /** Each prompt as its text, or as the token ids given for it (OpenAI's "array of tokens"), checked against the vocabulary. */
  prompts: (string | Int32Array)[];
  /** null (sent as null): the rest of the context, each prompt its own (vLLM's); checked against the context by context-window.ts. */
  maxTokens: number | null;
  /** null: the prompts whole; else each cut to its last N tokens, -1: as many as max_tokens leaves room for (vLLM's). */
  truncatePromptTokens: number | null;
  temperature: number;
  topP: number;
  /** 0: off. */
  topK: number;
  /** 0: off. */
  minP: number;
  /** Token id -> bias, checked against the vocabulary; undefined: none. */
  logitBias: LogitBias | undefined;
  /** 0, 0 and 1: off. */
  presencePenalty: number;
  frequencyPenalty: number;
  repetitionPenalty: number;
  n: number;
  /** Choices generated per prompt (>= n), of which the n with the highest mean token logprob are returned. */
  bestOf: number;
  /** Prompt p's choice i (of bestOf) draws with seeds[p] + i (`gpt sample --num-samples`' seeds). */
  seeds: number[];
  stop: string[];
  stream: boolean;
  includeUsage: boolean;
  echo: boolean;
  ignoreEos: boolean;
  /** null: none; else each token's logprob and the top `logprobs` at its position (src/cli/completion-logprobs.ts). */
  logprobs: number | null;
}

/**
 * OpenAI's limit of n, 128; stop sequences: OpenAI takes 4, vLLM any number, and lm-evaluation-harness's
 * local-completions sends a task's `until` and the end of text (humaneval's: 6), so 16 (each is looked
 * for in each token's text); vLLM's default max_logprobs (OpenAI's is 5).
 */
const MAX_N = 128;
const MAX_STOPS = 16;
const MAX_LOGPROBS = 20;
const NUMBERS: Record<string, Range & { default: number; note?: string }> = {
  max_tokens: { int: true, min: 0, default: 16 }, // 0: with echo, the prompt scored only
  temperature: { min: 0, default: 1, note: '0: greedy' },
  top_p: { min: 0, max: 1, default: 1 },
  top_k: { int: true, min: -1, default: 0, note: "-1 or 0: off, as vLLM's" },
  min_p: { min: 0, max: 1, default: 0, note: "vLLM's; 0: off" },
  n: { int: true, min: 1, max: MAX_N, default: 1 },
  presence_penalty: { min: -2, max: 2, default: 0 },
  frequency_penalty: { min: -2, max: 2, default: 0 },
  repetition_penalty: { above: 0, default: 1, note: "vLLM's; 1: off" },
};
const BOOLEANS = ['stream', 'echo', 'ignore_eos'] as const;
/** OpenAI's fields this server has no use for, each taken at its neutral value only. */
const NEUTRAL: Record<string, { ok: (v: unknown) => boolean; allowed: string }> = {
  suffix: { ok: (v) => v === null || v === '', allowed: 'null (a GPT-2-style model does not insert text)' },
  user: { ok: (v) => v === null || typeof v === 'string', allowed: 'a string (it is not used)' },
};
const FIELDS = ['model', 'prompt', ...Object.keys(NUMBERS), 'truncate_prompt_tokens', 'best_of', 'logit_bias', 'seed', 'stop', ...BOOLEANS, 'stream_options', 'logprobs', ...Object.keys(NEUTRAL)];

/** The most characters of a value a message shows. */
const SHOWN = 60;

/** A value (parsed JSON) as JSON spells it (value-ranges' show), cut short: for messages. */
export const shown = (v: unknown): string => {
  const json = show(outline(v, SHOWN));
  return json.length > SHOWN ? `${json.slice(0, SHOWN - 3)}...` : json;
};

/**
 * `v` without what its first `chars` characters of JSON cannot reach: arrays and objects nested
 * deeper (null in their place) and entries past the first `chars`. JSON.stringify recurses a level at
 * a time, and a 1 MiB body nests 500,000 deep, past the stack (a 500 where a 400 was due).
 */
function outline(v: unknown, chars: number): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (chars === 0) return null;
  if (Array.isArray(v)) return v.slice(0, chars).map((x) => outline(x, chars - 1));
  return Object.fromEntries(Object.entries(v).slice(0, chars).map(([k, x]) => [k, outline(x, chars - 1)]));
}

const refuse = (param: string | null, message: string) => new ApiError(400, message, param);

/**
 * The refusal of a request naming `asked`, a model this server does not serve: it serves `modelId`;
 * where that is an adapter merged into `parent`, the base alone is not served (vLLM would answer its
 * name with the base unadapted: this text would not be the base's).
 */
export function modelNotServed(asked: unknown, modelId: string, parent?: string): ApiError {
  const why = asked === parent ? `is not served alone here: the adapter ${shown(modelId)} is merged into it, served as model ${shown(modelId)}` : `does not exist here: this server serves ${shown(modelId)}`;
  return new ApiError(404, `model ${shown(asked)} ${why} (GET /v1/models)`, 'model', 'model_not_found');
}

/** The model a server serves, as a request is checked against it. */
export interface ServedModel {
  modelId: string;
  /** Where modelId is an adapter: the checkpoint it is merged into. */
  parent?: string | undefined;
  /** Token ids run from 0 to vocabSize - 1. */
  vocabSize: number;
}

/** The request `body` asks for, of the model served; an ApiError when it cannot be served. */
export function parseCompletionRequest(body: unknown, { modelId, parent, vocabSize }: ServedModel): CompletionRequest {
  if (!isRecord(body)) throw refuse(null, `the body must be a JSON object of completion fields, got ${shown(body)}`);
  const unknown = Object.keys(body).find((k) => !FIELDS.includes(k));
  if (unknown !== undefined) throw refuse(unknown, `unknown field '${unknown}': the fields served are ${FIELDS.join(', ')}`);
  const given = (k: string) => body[k] !== undefined && body[k] !== null; // null is OpenAI's "default" too
  if (given('model') && body.model !== modelId) throw modelNotServed(body.model, modelId, parent);
  for (const [k, { ok, allowed }] of Object.entries(NEUTRAL)) if (body[k] !== undefined && !ok(body[k])) throw refuse(k, `${k} must be ${allowed}, got ${shown(body[k])}`);
  const number = (k: string): number => {
    const { default: fallback, note, ...range } = NUMBERS[k]!;
    if (!given(k)) return fallback;
    const problem = rangeProblem(k, body[k], range, shown(body[k]));
    if (problem) throw refuse(k, note ? `${problem} (${note})` : problem);
    return body[k] as number;
  };
  const flag = (k: (typeof BOOLEANS)[number]): boolean => {
    if (given(k) && typeof body[k] !== 'boolean') throw refuse(k, `${k} must be true or false, got ${shown(body[k])}`);
    return body[k] === true;
  };
  const n = number('n');
  const stream = flag('stream');
  const bestOf = bestOfOf(body.best_of, n, stream);
  const prompts = promptsOf(body.prompt, vocabSize);
  const echo = flag('echo');
  const maxTokens = body.max_tokens === null ? null : number('max_tokens'); // null: the rest of the context, as vLLM's
  if (maxTokens === 0 && !echo) throw refuse('max_tokens', 'max_tokens 0 draws no token: it is allowed only with echo: true (the prompt scored, with logprobs), got echo false');
  return {
    prompts,
    maxTokens,
    truncatePromptTokens: truncateOf(body.truncate_prompt_tokens),
    temperature: number('temperature'),
    topP: number('top_p'),
    topK: Math.max(0, number('top_k')),
    minP: number('min_p'),
    logitBias: logitBiasOf(body.logit_bias, vocabSize),
    presencePenalty: number('presence_penalty'),
    frequencyPenalty: number('frequency_penalty'),
    repetitionPenalty: number('repetition_penalty'),
    n,
    bestOf,
    seeds: seedsOf(body.seed, bestOf, prompts.length),
    stop: stopsOf(body.stop),
    stream,
    includeUsage: includeUsageOf(body.stream_options, stream),
    echo,
    ignoreEos: flag('ignore_eos'),
    logprobs: logprobsOf(body.logprobs, vocabSize),
  };
}

/**
 * The prompts of `prompt`, in OpenAI's four forms: a string, an array of strings, an array of token
 * ids (one prompt), an array of such arrays; the form of an array is its first entry's.
 */
function promptsOf(prompt: unknown, vocabSize: number): (string | Int32Array)[] {
  const allowed = 'a non-empty string, an array of them, an array of token ids or an array of such arrays';
  if (prompt === undefined || prompt === null) throw refuse('prompt', `prompt is required: ${allowed}`);
  if (typeof prompt === 'string' && prompt) return [prompt];
  const first: unknown = Array.isArray(prompt) ? prompt[0] : undefined;
  if (typeof first === 'string') {
    const bad = (prompt as unknown[]).findIndex((p) => typeof p !== 'string' || !p);
    if (bad >= 0) throw refuse('prompt', `prompt[${bad}] must be a non-empty string, as prompt[0] is, got ${shown((prompt as unknown[])[bad])}`);
    return prompt as string[];
  }
  if (typeof first === 'number') return [tokenIds(prompt as unknown[], 'prompt', vocabSize)];
  if (Array.isArray(first)) {
    return (prompt as unknown[]).map((p, i) => {
      if (!Array.isArray(p) || !p.length) throw refuse('prompt', `prompt[${i}] must be a non-empty array of token ids, as prompt[0] is, got ${shown(p)}`);
      return tokenIds(p as unknown[], `prompt[${i}]`, vocabSize);
    });
  }
  throw refuse('prompt', `prompt must be ${allowed}, got ${shown(prompt)}`);
}

/** `ids` (the prompt at `name`) as token ids of a vocabulary of `vocabSize`. */
function tokenIds(ids: unknown[], name: string, vocabSize: number): Int32Array {
  const id = 'a token id (an integer >= 0)';
  ids.forEach((x, i) => {
    const form = name === 'prompt' && i ? ', as prompt[0] is' : ''; // a flat array's form is its first entry's
    if (!Number.isInteger(x) || (x as number) < 0) throw refuse('prompt', `${name}[${i}] must be ${id}${form}, got ${shown(x)}`);
    if ((x as number) >= vocabSize) throw refuse('prompt', `${name}[${i}] is token id ${x as number}, past this model's vocabulary (ids 0 to ${vocabSize - 1})`);
  });
  return Int32Array.from(ids as number[]);
}

/**
 * Each prompt's seed: the one given, or a random one each (OpenAI's: without a seed, each request
 * draws anew, and each prompt of a batch as a request of its own: a prompt sent twice gives two
 * samples); choice n - 1 draws with seed + n - 1.
 */
function seedsOf(seed: unknown, n: number, prompts: number): number[] {
  if (seed === undefined || seed === null) return Array.from({ length: prompts }, () => randomInt(2 ** 47));
  const problem = rangeProblem('seed', seed, { int: true, min: 0, max: Number.MAX_SAFE_INTEGER - (n - 1) }, shown(seed));
  if (problem) throw refuse('seed', n > 1 ? `${problem} (choice i draws with seed + i)` : problem);
  return new Array<number>(prompts).fill(seed as number);
}

/** How many choices each prompt generates: best_of (null: n), at least n; past n they are not streamed (only the best are returned: OpenAI's rule; vLLM streams best_of n). */
function bestOfOf(bestOf: unknown, n: number, stream: boolean): number {
  if (bestOf === undefined || bestOf === null) return n;
  const problem = rangeProblem('best_of', bestOf, { int: true, min: 1, max: MAX_N }, shown(bestOf));
  if (problem) throw refuse('best_of', `${problem} (the choices generated per prompt, of which the n best are returned)`);
  if ((bestOf as number) < n) throw refuse('best_of', `best_of must be at least n (${n}): the n best of best_of choices are returned, got ${bestOf as number}`);
  if (stream && (bestOf as number) > n) throw refuse('best_of', `best_of ${bestOf as number} cannot be streamed (only the n best choices are returned, once all are done), as OpenAI: give stream false, or best_of n (${n})`);
  return bestOf as number;
}

/** logit_bias checked against the vocabulary (OpenAI's map of token id to a bias in [-100, 100]); undefined for none. */
function logitBiasOf(bias: unknown, vocabSize: number): LogitBias | undefined {
  if (bias === undefined || bias === null) return undefined;
  const problem = logitBiasProblem(bias, vocabSize, 'logit_bias', shown);
  if (problem) throw refuse('logit_bias', problem);
  return bias as LogitBias;
}

function stopsOf(stop: unknown): string[] {
  if (stop === undefined || stop === null) return [];
  const stops = typeof stop === 'string' ? [stop] : stop;
  const allowed = `a non-empty string or an array of up to ${MAX_STOPS} of them`;
  if (!Array.isArray(stops) || stops.length > MAX_STOPS || stops.some((s) => typeof s !== 'string' || !s)) throw refuse('stop', `stop must be ${allowed}, got ${shown(stop)}`);
  return stops as string[];
}

/** How many top logprobs a position gets: null for none; a vocabulary smaller than asked gives all its tokens. */
function logprobsOf(logprobs: unknown, vocabSize: number): number | null {
  if (logprobs === undefined || logprobs === null) return null;
  const problem = rangeProblem('logprobs', logprobs, { int: true, min: 0, max: MAX_LOGPROBS }, shown(logprobs));
  if (problem) throw refuse('logprobs', `${problem} (the top logprobs at each position; null: none)`);
  return Math.min(logprobs as number, vocabSize);
}

/** vLLM's truncate_prompt_tokens: null, -1, or N >= 1 (0 would leave no prompt to continue). */
function truncateOf(truncate: unknown): number | null {
  if (truncate === undefined || truncate === null) return null;
  if (truncate !== -1 && rangeProblem('truncate_prompt_tokens', truncate, { int: true, min: 1 })) throw refuse('truncate_prompt_tokens', `truncate_prompt_tokens must be -1 (as many of the prompt's last tokens as max_tokens leaves room for), an integer >= 1 (its last N tokens) or null, got ${shown(truncate)}`);
  return truncate as number;
}

function includeUsageOf(options: unknown, stream: boolean): boolean {
  if (options === undefined || options === null) return false;
  if (!stream) throw refuse('stream_options', `stream_options is only allowed with stream: true, got ${shown(options)}`);
  const keys = isRecord(options) ? Object.keys(options) : [];
  if (!isRecord(options) || keys.some((k) => k !== 'include_usage') || (options.include_usage !== undefined && typeof options.include_usage !== 'boolean')) {
    throw refuse('stream_options', `stream_options must be { "include_usage": true or false }, got ${shown(options)}`);
  }
  return options.include_usage === true;
}
