// A file on the server read a range at a time (RFC 9110 range requests, one request per read: a
// tensor's bytes), never whole in one buffer. Every read is pinned to the version of the file the
// first one saw: its strong ETag goes back in If-Match, so a file saved again mid-read (`gpt serve`
// beside a training run) is a 412, and the read starts over on the new version, never mixing two.
// A server that answers without ranges, or without a strong ETag to pin them to, is read whole in
// one fetch.
import { bytesSource, type ByteSource } from '../io/safetensors-source.js';

type Fetch = (url: string, init: RequestInit) => Promise<Response>;

/** A read of a file that was saved again meanwhile (If-Match failed, or another ETag came back). */
export class ChangedWhileReadError extends Error {}

/** A ByteSource over a URL; `failure` is the error a read failed with (a reader may wrap it in its own). */
export interface UrlSource extends ByteSource {
  failure: Error | null;
}

/**
 * `read` of the file at `url`, started over on the file's new version where it is saved again
 * meanwhile, `attempts` times in all; a failed read is its own one-line error.
 */
export async function readUrl<T>(url: string, read: (source: ByteSource) => Promise<T>, fetcher: Fetch = fetch, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const source = await openUrl(url, fetcher);
    try {
      return await read(source);
    } catch (e) {
      if (!(source.failure instanceof ChangedWhileReadError)) throw source.failure ?? e;
      if (attempt === attempts) throw new Error(`cannot load ${url}: it was saved again while it was read, ${attempts} times; load it again`);
    }
  }
}

/** The file at `url` as a source of ranges, its size and version taken from a first request of its first byte. */
export async function openUrl(url: string, fetcher: Fetch = fetch): Promise<UrlSource> {
  const get = (headers: Record<string, string> = {}) => fetcher(url, { cache: 'no-store', headers }).catch((e) => Promise.reject(noAnswer(url, e)));
  const first = await get({ Range: 'bytes=0-0' });
  const size = first.status === 206 ? contentRangeSize(first.headers.get('Content-Range')) : null;
  const etag = first.headers.get('ETag');
  if (first.status !== 206 && first.status !== 416) {
    if (!first.ok) throw await httpError(url, first);
    return wholeSource(url, first); // no ranges: the whole file came
  }
  await first.body?.cancel();
  if (size === null || !etag?.startsWith('"')) {
    // an empty file (416), or ranges without a version to pin them to
    const whole = await get();
    if (!whole.ok) throw await httpError(url, whole);
    return wholeSource(url, whole);
  }
  const source: UrlSource = {
    size,
    failure: null,
    async read(offset, length) {
      if (length === 0) return new Uint8Array(0);
      const range = `bytes ${offset}-${offset + length - 1}/${size}`;
      try {
        const res = await get({ Range: `bytes=${offset}-${offset + length - 1}`, 'If-Match': etag });
        if (res.status === 412 || (res.status === 206 && res.headers.get('ETag') !== etag)) {
          await res.body?.cancel();
          throw new ChangedWhileReadError(`cannot load ${url}: it was saved again while it was read`);
        }
        if (!res.ok) throw await httpError(url, res);
        const got = res.status === 206 ? res.headers.get('Content-Range') : `HTTP ${res.status} without a range`;
        if (got !== range) {
          await res.body?.cancel();
          throw new Error(`cannot load ${url}: asked for ${range}, the server sent ${got}`);
        }
        const bytes = await body(url, res);
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

const wholeSource = async (url: string, res: Response): Promise<UrlSource> => ({ ...bytesSource(await body(url, res)), failure: null });

/** An answer's bytes; a body cut off (the connection lost) is one line naming the URL. */
const body = (url: string, res: Response): Promise<Uint8Array> => res.arrayBuffer().then((b) => new Uint8Array(b), (e) => Promise.reject(noAnswer(url, e)));

/** A request that got no answer, or not all of it: fetch's bare TypeError ('Failed to fetch') names neither the URL nor what to check. */
const noAnswer = (url: string, e: unknown) =>
  new Error(`cannot load ${url}: no answer (${(e as Error).message}): is the server still running? One of another origin must allow this page's by CORS`);

/** The file size a 206's Content-Range (bytes a-b/size) gives; null where it gives none. */
function contentRangeSize(header: string | null): number | null {
  const m = header && /^bytes \d+-\d+\/(\d+)$/.exec(header);
  return m ? Number(m[1]) : null;
}

/** A failed response as one line: its status and the server's one-line reason, when it sent one (gpt serve's: where to look). */
async function httpError(url: string, res: Response): Promise<Error> {
  const reason = res.headers.get('Content-Type')?.startsWith('text/plain') ? (await res.text()).trim().split('\n')[0] : (await res.body?.cancel(), '');
  return new Error(`cannot load ${url}: HTTP ${res.status}${reason ? ` (${reason})` : ''}`);
}
