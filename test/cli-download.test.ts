// `--data URL` against servers that misbehave: one that never answers, one that stops mid-body,
// one that sends forever, one that announces too much. Each is a one-line error within the limits
// (small ones here, so the test is fast), and the connection is closed.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadCorpus } from '../src/cli/corpus.js';

// a stall only where one is the point (a short one, so the test is fast); elsewhere no stall limit a
// loaded machine could reach (CI's loaded machine took over 0.3 s to answer /ok)
const LIMITS = { maxBytes: 64 * 1024, stallMs: 30_000 };
const STALLING = { ...LIMITS, stallMs: 300 };
const open = new Set<ServerResponse>();
const ROUTES: Record<string, (res: ServerResponse) => void> = {
  '/ok': (res) => res.end('héllo\n'),
  '/silent': (res) => void open.add(res), // no headers, ever
  '/stops': (res) => (open.add(res), res.writeHead(200), res.write('the first words and then nothing ')),
  '/endless': (res) => {
    res.writeHead(200); // chunked, no length
    const chunk = 'x'.repeat(4096);
    const more = () => void (!res.destroyed && (res.write(chunk) ? setImmediate(more) : res.once('drain', more)));
    more();
  },
  '/announced': (res) => (open.add(res), res.writeHead(200, { 'Content-Length': String(LIMITS.maxBytes + 1) }), res.write('x')),
  '/missing': (res) => (res.writeHead(404), res.end('no')),
};
const server = createServer((req, res) => ROUTES[req.url!]!(res));
let base = '';

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

it('a URL that answers: its text', async () => {
  expect(await loadCorpus(`${base}/ok`, LIMITS)).toBe('héllo\n');
});

it.each([
  ['/silent', STALLING, 'no data from the server for 0.3 s'],
  ['/stops', STALLING, 'no data from the server for 0.3 s'],
  ['/endless', LIMITS, 'larger than 65536 bytes, the most a URL may hold (download it and pass the file)'],
  ['/announced', LIMITS, 'larger than 65536 bytes, the most a URL may hold (download it and pass the file)'],
  ['/missing', LIMITS, 'HTTP 404'],
])('%s: one line, soon, and the connection closed', async (route, limits, why) => {
  const t0 = performance.now();
  await expect(loadCorpus(`${base}${route}`, limits)).rejects.toThrow(new Error(`cannot download ${base}${route}: ${why}`));
  expect(performance.now() - t0).toBeLessThan(5000);
  await expect.poll(() => [...open].every((res) => res.destroyed || res.socket === null || res.socket.destroyed)).toBe(true);
});

it('a URL of no server: the reason, not just "fetch failed"', async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  await expect(loadCorpus(`http://127.0.0.1:${port}/`, LIMITS)).rejects.toThrow(`cannot download http://127.0.0.1:${port}/: ECONNREFUSED`);
  // a port fetch refuses to use (the Fetch standard's blocked ports): the cause has a message, no code
  await expect(loadCorpus('http://127.0.0.1:6000/', LIMITS)).rejects.toThrow('cannot download http://127.0.0.1:6000/: bad port');
});
