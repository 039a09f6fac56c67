// HTTP range requests (RFC 9110 §14) and the preconditions that pin them to one version of a file
// (§13): what `gpt serve` needs for the page to read a checkpoint a tensor at a time, every read from
// the same save, and If-None-Match, which an origin server must evaluate too (§13.2.1). One range
// per request: a Range of several is ignored and the whole file sent (200), as §14.2 allows any
// server to do; no multipart/byteranges bodies.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';

/** Bytes start..end of a file, both included (RFC 9110's int-range, resolved against the file's size). */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * The range a Range header asks of a file of `size` bytes: null where the header is to be ignored
 * (absent, another unit, malformed or backwards, several ranges, a suffix of an empty file),
 * 'unsatisfiable' where the one range starts past the end (or is an empty suffix), else the range
 * (its end cut to the file's).
 */
function requestedRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | null {
  const set = header === undefined ? null : /^bytes=(.*)$/i.exec(header.trim());
  if (!set) return null;
  const specs = set[1]!.split(',').map((s) => s.trim()).filter((s) => s !== ''); // a list may hold empty elements (§5.6.1)
  if (specs.length !== 1) return null;
  const spec = specs[0]!;
  const suffix = /^-(\d+)$/.exec(spec);
  if (suffix) {
    const n = Number(suffix[1]);
    if (n === 0) return 'unsatisfiable';
    // of an empty file, satisfiable (§14.1.2) but no 206 can say so: the Range is ignored (§14.2 allows it)
    return size === 0 ? null : { start: Math.max(0, size - n), end: size - 1 };
  }
  const span = /^(\d+)-(\d*)$/.exec(spec);
  if (!span) return null;
  const start = Number(span[1]);
  const last = span[2] === '' ? Infinity : Number(span[2]);
  if (last < start) return null; // invalid (§14.1.1)
  return start >= size ? 'unsatisfiable' : { start, end: Math.min(last, size - 1) };
}

/** The entity tags a precondition lists; a weak one keeps its W/, so that it never matches strongly. */
const entityTags = (header: string): string[] => header.match(/(W\/)?"[^"]*"/g) ?? [];

/** If-Match (§13.1.1): absent, '*', or listing `etag`. */
const ifMatchHolds = (header: string | undefined, etag: string) => header === undefined || header.trim() === '*' || entityTags(header).includes(etag);

/** If-None-Match (§13.1.2): absent, or neither '*' nor listing `etag`, weak or strong (the weak comparison). */
const ifNoneMatchHolds = (header: string | undefined, etag: string) =>
  header === undefined || !(header.trim() === '*' || entityTags(header).some((tag) => tag.replace(/^W\//, '') === etag));

/** If-Range (§13.1.5): absent, or `etag` itself (a date never matches: this server sends no Last-Modified). */
const ifRangeHolds = (header: string | undefined, etag: string) => header === undefined || header.trim() === etag;

/** A file to send: its size, type, a strong ETag naming its version, and its bytes `range` as a stream. */
export interface Representation {
  size: number;
  type: string;
  etag: string;
  body(range: ByteRange): Readable;
  /** Throws where the file is no longer the version the ETag names (written in place): called once the body is read, before the response ends. */
  unchanged?(): Promise<void>;
}

/**
 * Answers a GET or HEAD for `file`: 412 where If-Match names another version, 304 where
 * If-None-Match names this one (the client has it: no body), 416 for a range past
 * its end, 206 with the range a Range header asks for (GET only, and only while If-Range names this
 * version), else 200 with the whole file. The status sent.
 */
export async function sendRepresentation(req: IncomingMessage, res: ServerResponse, file: Representation): Promise<number> {
  const { size, etag } = file;
  const text = { 'Content-Type': 'text/plain; charset=utf-8', ETag: etag };
  if (!ifMatchHolds(req.headers['if-match'], etag)) {
    res.writeHead(412, text).end('precondition failed: the file is no longer the version If-Match names (saved again?)\n');
    return 412;
  }
  if (!ifNoneMatchHolds(req.headers['if-none-match'], etag)) {
    res.writeHead(304, { ETag: etag }).end();
    return 304;
  }
  const ifRange = req.headers['if-range'];
  const range = req.method === 'GET' && ifRangeHolds(Array.isArray(ifRange) ? ifRange.join(', ') : ifRange, etag) ? requestedRange(req.headers.range, size) : null;
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...text, 'Content-Range': `bytes */${size}` }).end('range not satisfiable\n');
    return 416;
  }
  const status = range ? 206 : 200;
  const sent = range ?? { start: 0, end: size - 1 };
  const length = sent.end - sent.start + 1;
  res.writeHead(status, {
    'Content-Type': file.type,
    'Content-Length': length,
    'Accept-Ranges': 'bytes',
    ETag: etag,
    ...(range && { 'Content-Range': `bytes ${range.start}-${range.end}/${size}` }),
  });
  if (req.method === 'HEAD' || length === 0) res.end();
  else await sendBody(res, file.body(sent), length, file.unchanged);
  return status;
}

/**
 * Sends `body`, which should hold `length` bytes (the Content-Length sent). A client gone midway is
 * no error. A body that ends short (a file truncated in place while sent), fails to read, or was
 * read from a file written in place meanwhile (`unchanged` throws) throws, the connection cut
 * before the response ends: the client sees a failed download, not a short one it waits on for
 * ever (kept alive), nor one of two versions' bytes under one ETag.
 */
async function sendBody(res: ServerResponse, body: Readable, length: number, unchanged?: () => Promise<void>): Promise<void> {
  async function* whole(source: AsyncIterable<Uint8Array>) {
    let read = 0;
    let last: Uint8Array | null = null; // held back until the rest is known good: a response cut off lacks it, and looks so
    for await (const chunk of source) {
      if (last) yield last;
      read += chunk.length;
      last = chunk;
    }
    if (read < length) throw new Error(`the body ended after ${read} of the ${length} bytes sent as its Content-Length (the file shrank while it was sent?)`);
    await unchanged?.();
    if (last) yield last;
  }
  // pipeline, not pipe: a client gone mid-download ends the body too (pipe only unpiped: the file
  // stayed open and the request never ended); on a read error or a client gone both are closed
  await pipeline(body, whole, res).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ERR_STREAM_PREMATURE_CLOSE') throw e; // else the client went away
  });
}

/** One part of a file sent in parts: its size, and its bytes, made only when asked for. */
export interface FilePart {
  size: number;
  bytes(): Uint8Array | Promise<Uint8Array>;
}

/** Bytes start..end (included) of the file that `parts` make in order, as they come: only the parts the range overlaps are made. */
export async function* partsBetween(parts: Iterable<FilePart>, { start, end }: ByteRange): AsyncGenerator<Uint8Array> {
  let at = 0; // the file offset of the part's first byte
  for (const part of parts) {
    const [from, to] = [Math.max(start - at, 0), Math.min(end + 1 - at, part.size)];
    if (from < to) yield (await part.bytes()).subarray(from, to);
    at += part.size;
    if (at > end) return;
  }
}
