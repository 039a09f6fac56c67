// The page's reader of the served checkpoint (src/web/url-source.ts) in Node, over Node's fetch:
// against `gpt serve` it reads a range per tensor (every request a Range, none sending the whole
// file) and gets the tensors a parse of the whole file gives; a checkpoint saved again mid-read
// (a directory's save, a file renamed over) starts the read over on the new save, never a mix of
// both, and one saved at every read is one line. Over a fake fetch: a server answering 200 without
// ranges is read from that one response, one without a strong ETag whole in a second fetch, a
// wrong Content-Range, fewer bytes than the range, no answer or an HTTP error mid-read is one line
// of its own naming the URL (not the reader's wrap of it).
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startServer, type StaticServer } from '../src/cli/serve.js';
import { parseSafetensors } from '../src/io/safetensors.js';
import { openSafetensors, type ByteSource } from '../src/io/safetensors-source.js';
import { writeCheckpointFiles } from '../src/node/checkpoint-files.js';
import { readUrl, STALL_MS } from '../src/web/url-source.js';
import { tempDir, tinyCheckpoint } from './cli-helpers.js';

const dir = tempDir('web-url-source');
const root = join(dir, 'web');
mkdirSync(root);

type Fetch = (url: string, init: RequestInit) => Promise<Response>;
interface Sent {
  range: string | null;
  ifMatch: string | null;
  status: number;
  bytes: number;
}

/** Node's fetch, each request and the size of its answer recorded; `before(n)` runs before the n-th request (from 0). */
function recordingFetch(sent: Sent[], before?: (n: number) => Promise<void>): Fetch {
  return async (url, init) => {
    await before?.(sent.length);
    const headers = new Headers(init.headers);
    const res = await fetch(url, init);
    const body = new Uint8Array(await res.arrayBuffer());
    sent.push({ range: headers.get('Range'), ifMatch: headers.get('If-Match'), status: res.status, bytes: body.length });
    return new Response(body, { status: res.status, headers: res.headers });
  };
}

/** The tensors a safetensors file's source gives, a read per tensor (the page's reader). */
const tensorsOf = async (source: ByteSource) => (await openSafetensors(source)).readTensors();

/** The tensors of the whole file, parsed at once. */
const wholeTensors = (bytes: Uint8Array) => parseSafetensors(bytes).tensors;

async function serving<T>(checkpoint: string, use: (url: string) => Promise<T>): Promise<T> {
  const server: StaticServer = await startServer({ root, port: 0, checkpoint });
  try {
    return await use(new URL('checkpoint.safetensors', server.url).href);
  } finally {
    await server.close();
  }
}

describe("the page's reader of gpt serve's checkpoint", () => {
  it('reads a range per tensor, pinned by If-Match, and gets the tensors of the whole file', async () => {
    const bytes = tinyCheckpoint();
    const file = join(dir, 'ck.safetensors');
    writeFileSync(file, bytes);
    const sent: Sent[] = [];
    const tensors = await serving(file, (url) => readUrl(url, tensorsOf, { fetcher: recordingFetch(sent) }));
    expect(tensors).toEqual(wholeTensors(bytes));
    const count = Object.keys(tensors).length;
    expect(sent.length, 'a first byte, the header length and header, a request per tensor').toBe(3 + count);
    expect(sent.every((s) => s.status === 206 && s.range !== null)).toBe(true);
    expect(sent[0]).toMatchObject({ range: 'bytes=0-0', ifMatch: null });
    expect(sent.slice(1).every((s) => s.ifMatch === sent[1]!.ifMatch && /^"[^"]+"$/.test(s.ifMatch!))).toBe(true);
    const headerLength = Number(Buffer.from(bytes).readBigUInt64LE(0));
    const largest = Math.max(headerLength, ...Object.values(tensors).map((t) => t.data.byteLength));
    expect(Math.max(...sent.map((s) => s.bytes)), 'the largest answer: the header or a tensor').toBe(largest);
    expect(largest).toBeLessThan(bytes.length);
  });

  it('a directory saved again mid-read: the read starts over on the new save, with its tensors only', async () => {
    const run = join(dir, 'run');
    const [v1, v2] = [tinyCheckpoint(), tinyCheckpoint(8)];
    await writeCheckpointFiles(run, v1);
    const sent: Sent[] = [];
    // after the first byte, the header's length and the header: before the first tensor
    const tensors = await serving(run, (url) => readUrl(url, tensorsOf, { fetcher: recordingFetch(sent, async (n) => void (n === 3 && (await writeCheckpointFiles(run, v2)))) }));
    expect(tensors).toEqual(wholeTensors(v2));
    expect(sent[3]!.status, 'the read after the save').toBe(412);
    expect(sent[4], 'started over').toMatchObject({ range: 'bytes=0-0', ifMatch: null, status: 206 });
  });

  it('a checkpoint file renamed over mid-read: the new file, read whole from its start', async () => {
    const file = join(dir, 'renamed.safetensors');
    const [v1, v2] = [tinyCheckpoint(), tinyCheckpoint(8)];
    writeFileSync(file, v1);
    const save = () => (writeFileSync(`${file}.new`, v2), renameSync(`${file}.new`, file));
    const tensors = await serving(file, (url) => readUrl(url, tensorsOf, { fetcher: recordingFetch([], async (n) => void (n === 4 && save())) }));
    expect(tensors).toEqual(wholeTensors(v2));
  });

  it('saved again during every try: one line, no tensors', async () => {
    const run = join(dir, 'busy');
    await writeCheckpointFiles(run, tinyCheckpoint());
    const everyRead = async (n: number) => void (n % 3 === 2 && (await writeCheckpointFiles(run, tinyCheckpoint(n))));
    await serving(run, async (url) => {
      await expect(readUrl(url, tensorsOf, { fetcher: recordingFetch([], everyRead) })).rejects.toThrow(new Error(`cannot load ${url}: it was saved again while it was read, 3 times; load it again`));
    });
  });
});

describe("the page's reader over other servers (a fake fetch)", () => {
  const bytes = new Uint8Array(tinyCheckpoint());
  const URL_ = 'http://test/checkpoint.safetensors';

  /** A server of `bytes`: `answer` may replace its answer to a request (by its Range header and index). */
  function fakeServer(answer: (range: string | null, n: number) => Response | null, etag: string | null = '"v1"') {
    const ranges: (string | null)[] = [];
    const fetcher: Fetch = async (_url, init) => {
      const range = new Headers(init.headers).get('Range');
      ranges.push(range);
      const replaced = answer(range, ranges.length - 1);
      if (replaced) return replaced;
      const m = range && /^bytes=(\d+)-(\d+)$/.exec(range);
      if (!m) return new Response(bytes, { status: 200, headers: etag ? { ETag: etag } : {} });
      const [start, end] = [Number(m[1]), Number(m[2])];
      return new Response(bytes.subarray(start, end + 1), { status: 206, headers: { 'Content-Range': `bytes ${start}-${end}/${bytes.length}`, ...(etag && { ETag: etag }) } });
    };
    return { fetcher, ranges };
  }

  it('a server without ranges (200 to the first request): that one answer, read as the whole file', async () => {
    const { fetcher, ranges } = fakeServer(() => new Response(bytes, { status: 200 }));
    expect(await readUrl(URL_, tensorsOf, { fetcher })).toEqual(wholeTensors(bytes));
    expect(ranges).toEqual(['bytes=0-0']);
  });

  it('a body in chunks is read whole whatever its Content-Length says (one that counts compressed bytes is fewer)', async () => {
    const chunked = (length?: number) => {
      const chunks = [bytes.subarray(0, 100), bytes.subarray(100, 1000), bytes.subarray(1000)];
      const body = new ReadableStream<Uint8Array>({ pull: (c) => void (chunks.length ? c.enqueue(chunks.shift()!.slice()) : c.close()) });
      return new Response(body, { status: 200, headers: length === undefined ? {} : { 'Content-Length': String(length) } });
    };
    for (const length of [undefined, bytes.length, 500, 50]) {
      const { fetcher } = fakeServer(() => chunked(length));
      expect(await readUrl(URL_, tensorsOf, { fetcher }), String(length)).toEqual(wholeTensors(bytes));
    }
  });

  it('ranges with no strong ETag to pin them to: the whole file, in one more fetch', async () => {
    for (const etag of [null, 'W/"v1"']) {
      const { fetcher, ranges } = fakeServer(() => null, etag);
      expect(await readUrl(URL_, tensorsOf, { fetcher })).toEqual(wholeTensors(bytes));
      expect(ranges, String(etag)).toEqual(['bytes=0-0', null]);
    }
  });

  it('an answer of another range, the whole file mid-read, or another ETag is refused', async () => {
    const wrongRange = fakeServer((_range, n) => (n === 2 ? new Response(bytes.subarray(0, 4), { status: 206, headers: { 'Content-Range': `bytes 0-3/${bytes.length}`, ETag: '"v1"' } }) : null));
    await expect(readUrl(URL_, tensorsOf, { fetcher: wrongRange.fetcher })).rejects.toThrow(/^cannot load http:\/\/test\/checkpoint\.safetensors: asked for bytes 8-\d+\/\d+, the server sent bytes 0-3\/\d+$/);
    const whole = fakeServer((_range, n) => (n === 3 ? new Response(bytes, { status: 200, headers: { ETag: '"v1"' } }) : null));
    await expect(readUrl(URL_, tensorsOf, { fetcher: whole.fetcher })).rejects.toThrow(/: asked for bytes \d+-\d+\/\d+, the server sent HTTP 200 without a range$/);
    // a server that ignores If-Match but sends the new version's ETag: three tries, then one line
    let version = 0;
    const ignoresIfMatch = fakeServer((range) => {
      const m = /^bytes=(\d+)-(\d+)$/.exec(range!)!;
      const [start, end] = [Number(m[1]), Number(m[2])];
      return new Response(bytes.subarray(start, end + 1), { status: 206, headers: { 'Content-Range': `bytes ${start}-${end}/${bytes.length}`, ETag: `"v${version++}"` } });
    });
    await expect(readUrl(URL_, tensorsOf, { fetcher: ignoresIfMatch.fetcher })).rejects.toThrow(/: it was saved again while it was read, 3 times; load it again$/);
    expect(ignoresIfMatch.ranges.filter((r) => r === 'bytes=0-0')).toHaveLength(3);
  });

  it('an answer of the range asked for, but fewer bytes than it says, is refused naming the server', async () => {
    const short = fakeServer((range, n) => {
      if (n !== 3) return null;
      const [start, end] = /^bytes=(\d+)-(\d+)$/.exec(range!)!.slice(1).map(Number) as [number, number];
      return new Response(bytes.subarray(start, end), { status: 206, headers: { 'Content-Range': `bytes ${start}-${end}/${bytes.length}`, ETag: '"v1"' } });
    });
    await expect(readUrl(URL_, tensorsOf, { fetcher: short.fetcher })).rejects.toThrow(/^cannot load http:\/\/test\/checkpoint\.safetensors: asked for bytes (\d+)-(\d+)\/\d+, the server sent \d+ bytes$/);
  });

  it('no answer at all (a server stopped, another origin without CORS), as the first request or mid-read, or a body cut off: one line naming the URL', async () => {
    const noAnswer = (at: number) => {
      const { fetcher } = fakeServer(() => null);
      let n = 0;
      return (url: string, init: RequestInit) => (n++ === at ? Promise.reject(new TypeError('Failed to fetch')) : fetcher(url, init));
    };
    const said = `cannot load ${URL_}: no answer (Failed to fetch): is the server still running? One of another origin must allow this page's by CORS`;
    // its own class (NoAnswerError: the hub's reader says it in the hub's terms), its message exactly this
    for (const at of [0, 4]) await expect(readUrl(URL_, tensorsOf, { fetcher: noAnswer(at) }), `request ${at}`).rejects.toMatchObject({ message: said });
    const cutOff = fakeServer((range, n) => {
      if (n !== 4) return null;
      const [start, end] = /^bytes=(\d+)-(\d+)$/.exec(range!)!.slice(1);
      const failing = new ReadableStream({ pull: (c) => c.error(new TypeError('network error')) });
      return new Response(failing, { status: 206, headers: { 'Content-Range': `bytes ${start}-${end}/${bytes.length}`, ETag: '"v1"' } });
    });
    await expect(readUrl(URL_, tensorsOf, { fetcher: cutOff.fetcher })).rejects.toThrow(/^cannot load http:\/\/test\/checkpoint\.safetensors: no answer \(network error\): /);
  });

  it("an HTTP error is one line with the server's reason, as the first answer or mid-read (not the reader's wrap of it)", async () => {
    const failing = (at: number) =>
      fakeServer((_range, n) => (n === at ? new Response("internal error: the reason is in gpt serve's output\n", { status: 500, headers: { 'Content-Type': 'text/plain; charset=utf-8' } }) : null));
    const wrapping = (source: ByteSource) => tensorsOf(source).catch((e: Error) => Promise.reject(new Error(`checkpoint: not readable (${e.message})`)));
    for (const at of [0, 4]) {
      await expect(readUrl(URL_, wrapping, { fetcher: failing(at).fetcher }), `request ${at}`).rejects.toThrow(
        new Error(`cannot load ${URL_}: HTTP 500 (internal error: the reason is in gpt serve's output)`),
      );
    }
  });
});

describe("the page's reader, stalled or cancelled (a fake fetch, fake timers)", () => {
  const bytes = new Uint8Array(tinyCheckpoint());
  const URL_ = 'http://test/checkpoint.safetensors';
  const ranged = (range: string, body: BodyInit) => {
    const [start, end] = /^bytes=(\d+)-(\d+)$/.exec(range)!.slice(1);
    return new Response(body, { status: 206, headers: { 'Content-Range': `bytes ${start}-${end}/${bytes.length}`, ETag: '"v1"' } });
  };
  const slice = (range: string) => {
    const [start, end] = /^bytes=(\d+)-(\d+)$/.exec(range)!.slice(1).map(Number) as [number, number];
    return bytes.subarray(start, end + 1);
  };
  /** A body sending `parts` of `data`, one every `every` ms, then (unless `hang`) ending. */
  const trickle = (data: Uint8Array, parts: number, every: number, hang = false) => {
    let sent = 0;
    const size = Math.ceil(data.length / parts);
    return new ReadableStream<Uint8Array>({
      pull: async (c) => {
        if (sent >= data.length) return hang ? new Promise<void>(() => {}) : c.close();
        await new Promise((r) => setTimeout(r, every));
        c.enqueue(data.slice(sent, sent + size));
        sent += size;
      },
    });
  };
  /** A server of `bytes` whose n-th answer `answer` may replace; it records each request's signal. */
  function server(answer: (range: string, n: number) => Promise<Response> | null) {
    const signals: AbortSignal[] = [];
    const fetcher = async (_url: string, init: RequestInit) => {
      signals.push(init.signal!);
      const range = new Headers(init.headers).get('Range')!;
      return (await answer(range, signals.length - 1)) ?? ranged(range, slice(range));
    };
    return { fetcher, signals };
  }
  const never = () => new Promise<Response>(() => {}); // a server that took the request and hung, deaf to its signal
  const stalled = new Error(`cannot load ${URL_}: the server sent nothing for ${STALL_MS / 1000} s, so the load was given up: is it still running? Load it again`);

  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  /** How `p` settled once `ms` of fake time have passed: 'pending', or its value or error. */
  async function after<T>(p: Promise<T>, ms: number): Promise<{ value?: T; error?: Error } | 'pending'> {
    let settled: { value?: T; error?: Error } | 'pending' = 'pending';
    p.then((value) => (settled = { value }), (error: Error) => (settled = { error }));
    await vi.advanceTimersByTimeAsync(ms);
    return settled;
  }

  it(`no answer's head for STALL_MS (${STALL_MS / 1000} s), as the first request or mid-read: one line naming the URL and the wait, the request aborted`, async () => {
    for (const at of [0, 3]) {
      const { fetcher, signals } = server((_range, n) => (n === at ? never() : null));
      const read = readUrl(URL_, tensorsOf, { fetcher });
      expect(await after(read, STALL_MS - 1), `request ${at}`).toBe('pending');
      expect(await after(read, 1), `request ${at}`).toEqual({ error: stalled });
      expect(signals[at]!.aborted).toBe(true);
      expect(signals).toHaveLength(at + 1);
    }
  });

  it('a body that stops sending for STALL_MS is given up on; one sending a little every few seconds is read, however long it takes', async () => {
    const stops = server((range, n) => (n === 3 ? Promise.resolve(ranged(range, trickle(slice(range), 2, 1000, true))) : null));
    const read = readUrl(URL_, tensorsOf, { fetcher: stops.fetcher });
    expect(await after(read, 2000 + STALL_MS - 1)).toBe('pending');
    expect(await after(read, 1)).toEqual({ error: stalled });

    const slow = server((range) => Promise.resolve(ranged(range, trickle(slice(range), 4, STALL_MS - 1))));
    const tensors = readUrl(URL_, tensorsOf, { fetcher: slow.fetcher });
    const settled = await after(tensors, 100 * STALL_MS);
    expect(settled).toEqual({ value: wholeTensors(bytes) });
  });

  it("cancelled (its signal aborted) mid-request or between requests: fails with the signal's reason at once, its request aborted, nothing more asked", async () => {
    for (const at of [0, 3]) {
      const cancel = new AbortController();
      const { fetcher, signals } = server((_range, n) => (n === at ? never() : null));
      const read = readUrl(URL_, tensorsOf, { fetcher, signal: cancel.signal });
      await vi.advanceTimersByTimeAsync(10);
      const reason = new Error('cancelled');
      cancel.abort(reason);
      expect(await after(read, 0), `request ${at}`).toEqual({ error: reason });
      expect(signals[at]!.aborted).toBe(true);
      expect(signals).toHaveLength(at + 1);
    }
    const cancel = new AbortController();
    const { fetcher, signals } = server(() => null);
    const read = readUrl(URL_, async (source) => (await source.read(0, 8), cancel.abort(new Error('cancelled')), source.read(8, 8)), { fetcher, signal: cancel.signal });
    expect(await after(read, 0)).toEqual({ error: new Error('cancelled') });
    expect(signals).toHaveLength(2); // the first byte's, and the first read's
  });

  it("a read done or failed leaves no stall timer running and no listener on the caller's signal (each request's removed as it ends)", async () => {
    for (const at of [-1, 3]) {
      const cancel = new AbortController();
      const added = vi.spyOn(cancel.signal, 'addEventListener');
      const removed = vi.spyOn(cancel.signal, 'removeEventListener');
      const { fetcher } = server((_range, n) => (n === at ? Promise.resolve(new Response('gone', { status: 500 })) : null));
      const settled = await after(readUrl(URL_, tensorsOf, { fetcher, signal: cancel.signal }), 0);
      expect(settled, `request ${at} fails`).toHaveProperty(at < 0 ? 'value' : 'error');
      expect(vi.getTimerCount(), `request ${at} fails`).toBe(0);
      expect(added.mock.calls.length, `request ${at} fails`).toBeGreaterThan(1);
      expect(removed.mock.calls.map((c) => c[1]), `request ${at} fails`).toEqual(added.mock.calls.map((c) => c[1]));
    }
  });
});
