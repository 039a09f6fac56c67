// A file on the server read a range at a time (RFC 9110 range requests, one request per read: a
// tensor's bytes), never whole in one buffer. Every read is pinned to the version of the file the
// first one saw: its strong ETag goes back in If-Match, so a file saved again mid-read (`gpt serve`
// beside a training run) is a 412, and the read starts over on the new version, never mixing two.
// A server that answers without ranges, or without a strong ETag to pin them to, is read whole in
// one fetch. A URL that names one version for good (the Hugging Face hub's resolve URL at a commit)
// needs no pinning: its ranges are read as they come (`immutable`). A read may be cancelled (its
// signal), and one that stalls is given up on (STALL_MS).
import { bytesSource, type ByteSource } from '../io/safetensors-source.js';

type Fetch = (url: string, init: RequestInit) => Promise<Response>;

/**
 * How long a request may go without a byte (its answer's head, or its body's next chunk) before the
 * load gives up: a range is one tensor (gpt serve answers in well under a second, a slow link sends
 * some bytes every few), while a server that has stopped or hung (a process paused, a Wi-Fi gone)
 * was otherwise waited on forever, the page saying only "loading".
 */
export const STALL_MS = 30_000;

/** How the page reads a URL: its fetch (a test's fake), and the signal that cancels the read. */
export interface UrlReadOptions {
  fetcher?: Fetch;
  signal?: AbortSignal;
  /** The URL's bytes never change (a hub's file at a commit): its ranges need no ETag to pin them to. */
  immutable?: boolean;
}

/** A read of a file that was saved again meanwhile (If-Match failed, or another ETag came back). */
export class ChangedWhileReadError extends Error {}

/** A ByteSource over a URL; `failure` is the error a read failed with (a reader may wrap it in its own). */
export interface UrlSource extends ByteSource {
  failure: Error | null;
}

/** Reads of a file that keeps being saved again while it is read, at most. */
const ATTEMPTS = 3;

/**
 * `read` of the file at `url`, started over on the file's new version where it is saved again
 * meanwhile, ATTEMPTS times in all; a failed read is its own one-line error.
 */
export const readUrl = <T>(url: string, read: (source: ByteSource) => Promise<T>, opts: UrlReadOptions = {}): Promise<T> =>
  readUrls([url], ([source]) => read(source!), opts);

/** readUrl of the files at `urls` read together (a sharded model's): started over, all of them, where one is saved again meanwhile. */
export async function readUrls<T>(urls: string[], read: (sources: ByteSource[]) => Promise<T>, opts: UrlReadOptions = {}): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const sources: UrlSource[] = [];
    for (const url of urls) sources.push(await openUrl(url, opts));
    try {
      return await read(sources);
    } catch (e) {
      const failed = sources.findIndex((s) => s.failure);
      const failure = sources[failed]?.failure;
      if (!(failure instanceof ChangedWhileReadError)) throw failure ?? e;
      if (attempt === ATTEMPTS) throw new Error(`cannot load ${urls[failed]}: it was saved again while it was read, ${ATTEMPTS} times; load it again`);
    }
  }
}

/** The file at `url` as a source of ranges, its size and version taken from a first request of its first byte. */
async function openUrl(url: string, opts: UrlReadOptions = {}): Promise<UrlSource> {
  const get = (headers: Record<string, string> = {}) => fetchWatched(url, opts, headers);
  const first = await get({ Range: 'bytes=0-0' });
  const size = first.status === 206 ? contentRangeSize(first.headers.get('Content-Range')) : null;
  // an immutable URL's version is its own: no ETag sent or compared (a CDN's may be weak, or other per edge)
  const etag = opts.immutable ? null : first.headers.get('ETag');
  if (first.status !== 206 && first.status !== 416) {
    if (!first.ok) throw await httpError(url, first);
    return wholeSource(first); // no ranges: the whole file came
  }
  await first.cancel();
  if (size === null || (!opts.immutable && !etag?.startsWith('"'))) {
    // an empty file (416), or ranges without a version to pin them to
    const whole = await get();
    if (!whole.ok) throw await httpError(url, whole);
    return wholeSource(whole);
  }
  const source: UrlSource = {
    size,
    failure: null,
    async read(offset, length) {
      if (length === 0) return new Uint8Array(0);
      const range = `bytes ${offset}-${offset + length - 1}/${size}`;
      try {
        const res = await get({ Range: `bytes=${offset}-${offset + length - 1}`, ...(etag && { 'If-Match': etag }) });
        if (etag && (res.status === 412 || (res.status === 206 && res.headers.get('ETag') !== etag))) {
          await res.cancel();
          throw new ChangedWhileReadError(`cannot load ${url}: it was saved again while it was read`);
        }
        if (!res.ok) throw await httpError(url, res);
        const got = res.status === 206 ? res.headers.get('Content-Range') : `HTTP ${res.status} without a range`;
        if (got !== range) {
          await res.cancel();
          throw new Error(`cannot load ${url}: asked for ${range}, the server sent ${got}`);
        }
        const bytes = await res.bytes();
        if (bytes.length !== length) throw new Error(`cannot load ${url}: asked for ${range}, the server sent ${bytes.length} bytes`);
        return bytes;
      } catch (e) {
        source.failure = e as Error;
        throw e;
      }
    },
  };
  return source;
}

const wholeSource = async (res: WatchedResponse): Promise<UrlSource> => ({ ...bytesSource(await res.bytes()), failure: null });

/** An answer whose body is read (or let go) under its request's watch (fetchWatched). */
export interface WatchedResponse {
  status: number;
  ok: boolean;
  headers: Headers;
  /** Its body's bytes; a body cut off (the connection lost) is one line naming the URL. */
  bytes(): Promise<Uint8Array>;
  text(): Promise<string>;
  /** Lets its body go unread. */
  cancel(): Promise<void>;
}

/**
 * A GET of `url` and its answer's body, cancelled with opts.signal (failing with its reason) and
 * given up on where STALL_MS pass without a byte (one line naming the URL and the wait); one that
 * got no answer, or not all of it, is a NoAnswerError.
 */
export async function fetchWatched(url: string, { fetcher = fetch, signal }: UrlReadOptions, headers: Record<string, string> = {}): Promise<WatchedResponse> {
  signal?.throwIfAborted();
  const request = new AbortController();
  const cancelled = () => request.abort(signal!.reason);
  signal?.addEventListener('abort', cancelled);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const waitAgain = () => {
    clearTimeout(timer);
    timer = setTimeout(() => request.abort(new Error(`cannot load ${url}: the server sent nothing for ${STALL_MS / 1000} s, so the load was given up: is it still running? Load it again`)), STALL_MS);
  };
  const done = () => {
    clearTimeout(timer);
    signal?.removeEventListener('abort', cancelled);
  };
  // whatever fetch or the body's stream fails with once the request is stopped, its reason is the error
  const watched = <T>(p: Promise<T>): Promise<T> => Promise.race([p, abortedWith(request.signal)]).catch((e) => Promise.reject(request.signal.aborted ? request.signal.reason : noAnswer(url, e)));
  const thenDone = async <T>(p: Promise<T>): Promise<T> => {
    try {
      return await watched(p);
    } finally {
      done();
    }
  };
  waitAgain();
  let res: Response;
  try {
    res = await watched(fetcher(url, { cache: 'no-store', headers, signal: request.signal }));
  } catch (e) {
    done();
    throw e;
  }
  waitAgain(); // its head came: the body's first chunk has as long
  const body = async () => {
    const bytes = new BodyBytes(Number(res.headers.get('Content-Length') ?? NaN));
    const reader = res.body?.getReader();
    for (;;) {
      waitAgain();
      const next = await reader?.read();
      if (!next || next.done) return bytes.all();
      bytes.add(next.value);
    }
  };
  return {
    status: res.status,
    ok: res.ok,
    headers: res.headers,
    bytes: () => thenDone(body()),
    text: () => thenDone(body()).then((b) => new TextDecoder().decode(b)),
    cancel: () => thenDone(res.body?.cancel() ?? Promise.resolve()),
  };
}

/** A promise that fails with `signal`'s reason once it is aborted (and never settles otherwise). */
const abortedWith = (signal: AbortSignal) =>
  new Promise<never>((_, reject) => (signal.aborted ? reject(signal.reason) : signal.addEventListener('abort', () => reject(signal.reason), { once: true })));

/**
 * A body's chunks, written into one buffer of its Content-Length as they come (a whole file sent
 * without ranges is held once, not as chunks and then their copy); chunks past it (a length that
 * counts compressed bytes) are kept apart and joined at the end.
 */
class BodyBytes {
  private readonly parts: Uint8Array[] = [];
  private buffer: Uint8Array | null;
  private at = 0;

  constructor(length: number) {
    this.buffer = Number.isSafeInteger(length) && length > 0 ? new Uint8Array(length) : null;
  }

  add(chunk: Uint8Array): void {
    if (this.buffer && this.at + chunk.length <= this.buffer.length) {
      this.buffer.set(chunk, this.at);
      this.at += chunk.length;
      return;
    }
    if (this.buffer) this.parts.push(this.buffer.subarray(0, this.at));
    this.buffer = null;
    this.parts.push(chunk);
  }

  all(): Uint8Array {
    if (this.buffer) return this.buffer.subarray(0, this.at);
    if (this.parts.length === 1) return this.parts[0]!;
    const out = new Uint8Array(this.parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

/** A request that got no answer, or not all of it (the network down, the server gone, a CORS refusal: a browser tells them apart to no page); `fetchMessage` is fetch's message. */
export class NoAnswerError extends Error {
  readonly #fetchMessage: string;

  constructor(url: string, fetchMessage: string) {
    super(`cannot load ${url}: no answer (${fetchMessage}): is the server still running? One of another origin must allow this page's by CORS`);
    this.#fetchMessage = fetchMessage;
  }

  get fetchMessage(): string {
    return this.#fetchMessage;
  }
}

/** fetch's bare TypeError ('Failed to fetch') names neither the URL nor what to check. */
const noAnswer = (url: string, e: unknown) => new NoAnswerError(url, (e as Error).message);

/** The file size a 206's Content-Range (bytes a-b/size) gives; null where it gives none. */
function contentRangeSize(header: string | null): number | null {
  const m = header && /^bytes \d+-\d+\/(\d+)$/.exec(header);
  return m ? Number(m[1]) : null;
}

/** A failed response as one line: its status and the server's one-line reason, when it sent one (gpt serve's: where to look). */
async function httpError(url: string, res: WatchedResponse): Promise<Error> {
  const reason = res.headers.get('Content-Type')?.startsWith('text/plain') ? (await res.text()).trim().split('\n')[0] : (await res.cancel(), '');
  return new Error(`cannot load ${url}: HTTP ${res.status}${reason ? ` (${reason})` : ''}`);
}
