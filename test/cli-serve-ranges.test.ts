// `gpt serve` answers range requests as RFC 9110 has them (§14: one range a request, 206 with its
// bytes and Content-Range; past the end 416 with `bytes */size`; a malformed header, another unit or
// several ranges ignored, the whole file sent with 200; HEAD sizes the whole file), each body
// compared byte for byte with slices of the file read here; and pins them to a version (§13): a
// strong ETag per version, If-Match failing with 412 and If-Range sending the whole file once the
// file, the checkpoint file or the checkpoint directory's weights is another (renamed over, saved
// again, written in place); If-None-Match naming the version is 304. A checkpoint directory damaged
// after a range was served from it still answers 500.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startServer, type StaticServer } from '../src/cli/serve.js';
import { checkpointBytes } from '../src/gpt/checkpoint.js';
import { loadCheckpoint } from '../src/node/checkpoint-dir.js';
import { writeCheckpointFiles } from '../src/node/checkpoint-files.js';
import { tempDir, tinyCheckpoint } from './cli-helpers.js';
import { randomGPT2, writeGPT2Dir } from './hf-reference.js';

const dir = tempDir('cli-serve-ranges');
const root = join(dir, 'web');
mkdirSync(root);
const data = randomBytes(100_003);
writeFileSync(join(root, 'data.bin'), data);
writeFileSync(join(root, 'empty.bin'), '');

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One request with these headers, sent as given (no client of ours in between). */
function ask(server: StaticServer, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, method, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** `answer` is a 206 of bytes first..last (included) of `file`, sized as the file. */
function expectPartial(answer: Answer, file: Uint8Array, first: number, last: number, what: string): void {
  expect(answer.status, what).toBe(206);
  expect(answer.headers['content-range'], what).toBe(`bytes ${first}-${last}/${file.length}`);
  expect(answer.headers['content-length'], what).toBe(String(last - first + 1));
  expect(answer.headers['accept-ranges'], what).toBe('bytes');
  expect(answer.body.equals(file.subarray(first, last + 1)), what).toBe(true);
}

/** `answer` is the whole of `file` with 200. */
function expectWhole(answer: Answer, file: Uint8Array, what: string): void {
  expect(answer.status, what).toBe(200);
  expect(answer.headers['content-range'], what).toBeUndefined();
  expect(answer.headers['content-length'], what).toBe(String(file.length));
  expect(answer.headers['accept-ranges'], what).toBe('bytes');
  expect(answer.body.equals(file), what).toBe(true);
}

const range = (spec: string) => ({ Range: spec });

describe('gpt serve, range requests of a static file', () => {
  let server: StaticServer;
  beforeAll(async () => void (server = await startServer({ root, port: 0 })));
  afterAll(() => server.close());
  const n = data.length;

  it('sends one range with 206: first-last, first- (to the end), -suffix, an end past the file cut to it', async () => {
    const cases: [string, number, number][] = [
      ['bytes=0-0', 0, 0],
      ['bytes=10-19', 10, 19],
      [`bytes=${n - 1}-${n - 1}`, n - 1, n - 1],
      [`bytes=${n - 10}-`, n - 10, n - 1],
      ['bytes=7-', 7, n - 1],
      ['bytes=-7', n - 7, n - 1],
      [`bytes=-${n + 5}`, 0, n - 1],
      [`bytes=5-${n + 100}`, 5, n - 1],
      ['bytes=5-99999999999999999999999', 5, n - 1],
      ['BYTES=3-4', 3, 4], // units are case-insensitive
      ['bytes=3-4, ,', 3, 4], // a list's empty elements do not count
    ];
    for (const [spec, first, last] of cases) expectPartial(await ask(server, '/data.bin', range(spec)), data, first, last, spec);
  });

  it('refuses a range wholly past the end, or an empty suffix, with 416 and bytes */size (a suffix of an empty file is the whole file)', async () => {
    for (const spec of [`bytes=${n}-`, `bytes=${n}-${n + 10}`, `bytes=${n + 5}-${n + 10}`, 'bytes=-0', 'bytes=99999999999999999999999-']) {
      const r = await ask(server, '/data.bin', range(spec));
      expect(r.status, spec).toBe(416);
      expect(r.headers['content-range'], spec).toBe(`bytes */${n}`);
    }
    for (const spec of ['bytes=0-0', 'bytes=0-', 'bytes=-0']) {
      const r = await ask(server, '/empty.bin', range(spec));
      expect([r.status, r.headers['content-range']], spec).toEqual([416, 'bytes */0']);
    }
    expectWhole(await ask(server, '/empty.bin'), new Uint8Array(0), 'an empty file whole');
    // a suffix of an empty file is satisfiable (RFC 9110 §14.1.2), so no 416; no 206 can carry it: the whole, empty, file
    expectWhole(await ask(server, '/empty.bin', range('bytes=-1')), new Uint8Array(0), 'a suffix of an empty file');
  });

  it('ignores a malformed Range, another unit, or several ranges: the whole file with 200', async () => {
    for (const spec of ['bytes=5-2', 'bytes=0-1,5-6', 'bytes=-1,0-0', 'items=0-1', 'bytes=abc', 'bytes=1-2-3', 'bytes 0-1', 'bytes=', 'bytes=--1', 'bytes=+1-2']) {
      expectWhole(await ask(server, '/data.bin', range(spec)), data, spec);
    }
    expectWhole(await ask(server, '/data.bin'), data, 'no Range');
  });

  it('HEAD sizes the whole file, with Accept-Ranges and the ETag a GET has (a Range is for GET only)', async () => {
    const get = await ask(server, '/data.bin', range('bytes=0-0'));
    for (const headers of [{}, range('bytes=0-9')]) {
      const head = await ask(server, '/data.bin', headers, 'HEAD');
      expect(head.status).toBe(200);
      expect(head.headers['content-length']).toBe(String(n));
      expect(head.headers['accept-ranges']).toBe('bytes');
      expect(head.headers['content-range']).toBeUndefined();
      expect(head.headers.etag).toBe(get.headers.etag);
      expect(head.body.length).toBe(0);
    }
  });

  it('If-Match: the ETag, a list holding it or * sends the range; another, or the same made weak, is 412', async () => {
    const etag = (await ask(server, '/data.bin', range('bytes=0-0'))).headers.etag as string;
    expect(etag).toMatch(/^"[^"]+"$/); // strong
    for (const ifMatch of [etag, `"other", ${etag}`, '*']) expectPartial(await ask(server, '/data.bin', { ...range('bytes=1-2'), 'If-Match': ifMatch }), data, 1, 2, ifMatch);
    for (const ifMatch of ['"other"', `W/${etag}`]) {
      const r = await ask(server, '/data.bin', { ...range('bytes=1-2'), 'If-Match': ifMatch });
      expect([r.status, r.headers.etag], ifMatch).toEqual([412, etag]);
    }
  });

  it('If-None-Match (§13.1.2): the ETag, weak or strong, in a list or *, is 304 with the ETag and no body, before any Range; another tag sends as without it', async () => {
    const etag = (await ask(server, '/data.bin', range('bytes=0-0'))).headers.etag as string;
    for (const method of ['GET', 'HEAD']) {
      for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
        const r = await ask(server, '/data.bin', { ...range('bytes=1-2'), 'If-None-Match': ifNoneMatch }, method);
        expect([r.status, r.headers.etag, r.body.length], `${method} ${ifNoneMatch}`).toEqual([304, etag, 0]);
      }
    }
    expectPartial(await ask(server, '/data.bin', { ...range('bytes=1-2'), 'If-None-Match': '"other"' }), data, 1, 2, 'If-None-Match: another tag');
    // If-Match is evaluated first (§13.2.2): failing, it is 412 whatever If-None-Match says
    const r = await ask(server, '/data.bin', { 'If-Match': '"other"', 'If-None-Match': etag });
    expect(r.status).toBe(412);
  });

  it('If-Range: the ETag sends the range, another tag or a date the whole file', async () => {
    const etag = (await ask(server, '/data.bin', range('bytes=0-0'))).headers.etag as string;
    expectPartial(await ask(server, '/data.bin', { ...range('bytes=8-15'), 'If-Range': etag }), data, 8, 15, 'If-Range: the ETag');
    for (const ifRange of ['"other"', `W/${etag}`, new Date().toUTCString()]) expectWhole(await ask(server, '/data.bin', { ...range('bytes=8-15'), 'If-Range': ifRange }), data, ifRange);
  });
});

describe('gpt serve, range requests of the checkpoint', () => {
  /** Ranges of /checkpoint.safetensors (a header's worth, a middle, a suffix) against slices of `want`. */
  async function expectRanges(server: StaticServer, want: Uint8Array): Promise<void> {
    const n = want.length;
    expectPartial(await ask(server, '/checkpoint.safetensors', range('bytes=0-7')), want, 0, 7, 'the first 8 bytes');
    expectPartial(await ask(server, '/checkpoint.safetensors', range('bytes=100-2099')), want, 100, 2099, 'a middle');
    expectPartial(await ask(server, '/checkpoint.safetensors', range('bytes=-33')), want, n - 33, n - 1, 'a suffix');
    expect((await ask(server, '/checkpoint.safetensors', range(`bytes=${n}-`))).status).toBe(416);
  }

  it('a checkpoint file, a checkpoint directory and a Hugging Face directory (encoded per request) give slices of their bytes', async () => {
    const file = join(dir, 'ck.safetensors');
    const bytes = tinyCheckpoint();
    writeFileSync(file, bytes);
    const run = join(dir, 'run-slices');
    await writeCheckpointFiles(run, bytes);
    const hf = join(dir, 'gpt2');
    writeGPT2Dir(hf, randomGPT2(), { prefix: true, head: false });
    for (const [checkpoint, want] of [[file, bytes], [run, bytes], [hf, checkpointBytes(await loadCheckpoint(hf))]] as const) {
      const server = await startServer({ root, port: 0, checkpoint });
      try {
        await expectRanges(server, want);
      } finally {
        await server.close();
      }
    }
  });

  it('a checkpoint file renamed over or written in place is another version: If-Match fails with 412, the new ETag sends the new bytes', async () => {
    const file = join(dir, 'replaced.safetensors');
    const [v1, v2, v3] = [tinyCheckpoint(), tinyCheckpoint(8), tinyCheckpoint(8)];
    writeFileSync(file, v1);
    const server = await startServer({ root, port: 0, checkpoint: file });
    try {
      const first = await ask(server, '/checkpoint.safetensors', range('bytes=0-7'));
      writeFileSync(`${file}.new`, v2);
      renameSync(`${file}.new`, file); // as an atomic save does
      const stale = await ask(server, '/checkpoint.safetensors', { ...range('bytes=8-15'), 'If-Match': first.headers.etag as string });
      expect(stale.status).toBe(412);
      expect(stale.headers.etag).not.toBe(first.headers.etag);
      expectPartial(await ask(server, '/checkpoint.safetensors', { ...range('bytes=8-15'), 'If-Match': stale.headers.etag as string }), v2, 8, 15, 'the new version');
      writeFileSync(file, v3); // in place, the same size
      expect((await ask(server, '/checkpoint.safetensors', { ...range('bytes=8-15'), 'If-Match': stale.headers.etag as string })).status).toBe(412);
    } finally {
      await server.close();
    }
  });

  it("a checkpoint directory's weights are read through for their CRC-32 once per version, not at every range, nor at every range asked together", async () => {
    const run = join(dir, 'run-reads');
    const [v1, v2] = [tinyCheckpoint(), tinyCheckpoint(8)];
    await writeCheckpointFiles(run, v1);
    const server = await startServer({ root, port: 0, checkpoint: run });
    // every positional read of an open file (the checksum's, the ranges' streams), counted in bytes
    const fileHandle = Object.getPrototypeOf(await open(join(root, 'data.bin')).then(async (h) => (await h.close(), h))) as FileHandle;
    const read = fileHandle.read;
    let bytesRead = 0;
    const spy = vi.spyOn(fileHandle, 'read').mockImplementation(async function (this: FileHandle, ...args: unknown[]) {
      const result = await (read as (...a: unknown[]) => Promise<{ bytesRead: number }>).apply(this, args);
      bytesRead += result.bytesRead;
      return result;
    } as FileHandle['read']);
    try {
      for (const [save, bytes] of [[null, v1], [v2, v2]] as const) {
        if (save) await writeCheckpointFiles(run, save);
        bytesRead = 0;
        for (let i = 0; i < 10; i++) expectPartial(await ask(server, '/checkpoint.safetensors', range(`bytes=${i}-${i + 7}`)), bytes, i, i + 7, `range ${i}`);
        expect(bytesRead, 'the weights once, and 10 ranges of 8 bytes').toBe(bytes.length + 80);
      }
      // asked together, as several pages loading a new save do: one check shared (each read the weights through)
      const v3 = tinyCheckpoint(16);
      await writeCheckpointFiles(run, v3);
      bytesRead = 0;
      const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => ask(server, '/checkpoint.safetensors', range(`bytes=${i}-${i + 7}`))));
      answers.forEach((answer, i) => expectPartial(answer, v3, i, i + 7, `range ${i}, asked together`));
      expect(bytesRead, 'the weights once, and 10 ranges of 8 bytes, asked together').toBe(v3.length + 80);
    } finally {
      spy.mockRestore();
      await server.close();
    }
  });

  it('a checkpoint directory saved again is another version (412); damaged in place after a range was served, it answers 500', async () => {
    const run = join(dir, 'run-saved');
    const [v1, v2] = [tinyCheckpoint(), tinyCheckpoint(8)];
    await writeCheckpointFiles(run, v1);
    const logged: string[] = [];
    const server = await startServer({ root, port: 0, checkpoint: run, onRequest: (_method, _url, s, e) => logged.push(`${s} ${e ?? ''}`) });
    try {
      const first = await ask(server, '/checkpoint.safetensors', range('bytes=0-7'));
      expectPartial(first, v1, 0, 7, 'the first save');
      expectPartial(await ask(server, '/checkpoint.safetensors', { ...range('bytes=8-15'), 'If-Match': first.headers.etag as string }), v1, 8, 15, 'the same save');
      await writeCheckpointFiles(run, v2);
      const stale = await ask(server, '/checkpoint.safetensors', { ...range('bytes=8-15'), 'If-Match': first.headers.etag as string });
      expect(stale.status).toBe(412);
      expectPartial(await ask(server, '/checkpoint.safetensors', { ...range('bytes=8-15'), 'If-Match': stale.headers.etag as string }), v2, 8, 15, 'the new save');
      // its CRC-32 was checked once for this version: a write since is seen, not skipped
      const weights = readdirSync(run).find((f) => f.startsWith('model-'))!;
      writeFileSync(join(run, weights), readFileSync(join(run, weights)).map((b) => b ^ 1));
      expect((await ask(server, '/checkpoint.safetensors', range('bytes=8-15'))).status).toBe(500);
      await expect.poll(() => logged.at(-1)).toMatch(/^500 checkpoint at .* is corrupt: weights checksum mismatch/);
    } finally {
      await server.close();
    }
  });
});
