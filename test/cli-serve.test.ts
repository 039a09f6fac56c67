// `gpt serve` answers only requests whose Host header names it (the bound address, any port), so a
// page of another origin cannot read the checkpoint through DNS rebinding; a download the client
// abandons closes its file, and one truncated or written in place while sent cuts the connection; a
// port or host it cannot listen on is one line naming the flag, said before anything loads; while
// it loads, requests are answered 503 (Retry-After), not refused; Ctrl-C ends the process whatever
// its clients hold open, and while it loads.
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { createServer, request, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli/main.js';
import { listen, startServer, type ServeOptions, type StaticServer } from '../src/cli/serve.js';
import { acceptedHosts, isLoopback } from '../src/cli/host-check.js';
import { completionsApi } from '../src/cli/serve-api.js';
import { checkpointSafetensors, CHECKPOINT_FORMAT } from '../src/gpt/checkpoint.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { writeCheckpointTensors } from '../src/node/checkpoint-dir.js';
import { expectOneLine, gpt, spawnGpt, tempDir, tinyCheckpoint } from './cli-helpers.js';

const root = join(tempDir('cli-serve'), 'web');
mkdirSync(root);
writeFileSync(join(root, 'index.html'), '<!doctype html><title>t</title>');

/** GET / with the given Host header (none when null); the response status. */
function statusFor(port: number, host: string | null): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', setHost: host !== null, headers: host === null ? {} : { Host: host } }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The status line and header lines answering a request whose request line and header lines are `head`, sent as written. */
function responseHeadOf(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(`${head}Connection: close\r\n\r\n`));
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('end', () => resolve(text.split('\r\n\r\n', 1)[0]!));
    socket.on('error', reject);
  });
}

/** The status line answering a request whose request line and header lines are `head`, sent as written. */
const statusLineOf = async (port: number, head: string) => (await responseHeadOf(port, head)).split('\r\n', 1)[0]!;

describe('gpt serve checks the Host header', () => {
  let server: StaticServer;
  let port: number;
  beforeAll(async () => {
    server = await startServer({ root, port: 0 });
    port = Number(new URL(server.url).port);
  });
  afterAll(() => server.close());

  it('accepts the loopback names with any port: a tunnel (ssh -L 9000:localhost:8080) or a port mapping names its own', async () => {
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`, 'localhost:9000', '[::1]:9000', '127.0.0.1']) {
      expect(await statusFor(port, host), host).toBe(200);
    }
    expect(server.bound).toBe(`127.0.0.1:${port}`);
  });

  it('refuses other names (a page rebound to this address names its own: DNS rebinding), a malformed port, no Host', async () => {
    for (const host of ['evil.example', `evil.example:${port}`, `127.0.0.1.evil.example:${port}`, `localhost:${port}@evil`, `localhost:x${port}`, `localhost:${port}:1`, '[::1]x', `::1:${port}`]) {
      expect(await statusFor(port, host), host).toBe(421);
    }
    expect(await statusFor(port, null)).toBe(400);
  });

  it('refuses a request with two Host headers, even naming this server both times (RFC 9112 §3.2: 400)', async () => {
    const own = `127.0.0.1:${port}`;
    const statusLine = (headers: string) => statusLineOf(port, `GET / HTTP/1.1\r\n${headers}`);
    expect(await statusLine(`Host: ${own}\r\n`)).toBe('HTTP/1.1 200 OK');
    expect(await statusLine(`Host: ${own}\r\nHost: evil.example\r\n`)).toBe('HTTP/1.1 400 Bad Request');
    expect(await statusLine(`Host: ${own}\r\nhost: ${own}\r\n`)).toBe('HTTP/1.1 400 Bad Request');
  });

  it("takes an absolute-form target's host, not Host's (RFC 9112 §3.2.2), and refuses a target of another form", async () => {
    const statusLine = (target: string, host: string) => statusLineOf(port, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\n`);
    const own = `127.0.0.1:${port}`;
    expect(await statusLine(`http://${own}/`, 'evil.example')).toBe('HTTP/1.1 200 OK');
    expect(await statusLine(`HTTP://localhost:${port}/index.html?x=1`, own)).toBe('HTTP/1.1 200 OK');
    expect(await statusLine(`http://${own}`, own)).toBe('HTTP/1.1 200 OK'); // an empty path is /
    expect(await statusLine(`http://evil.example:${port}/`, own)).toBe('HTTP/1.1 421 Misdirected Request');
    expect(await statusLine(`http://${own}/../etc/hostname`, own)).toBe('HTTP/1.1 400 Bad Request');
    for (const target of [own, '*', `http://user@${own}/`, `https://${own}/`, `file:///etc/hostname`]) expect(await statusLine(target, own), target).toBe('HTTP/1.1 400 Bad Request');
    expect(await statusLineOf(port, `OPTIONS * HTTP/1.1\r\nHost: ${own}\r\n`)).toBe('HTTP/1.1 405 Method Not Allowed'); // a valid target, a method not served
  });

  it('lets no page of another origin read its answers: no CORS header, whatever the Origin, a CORS preflight 405, and Cross-Origin-Resource-Policy: same-origin', async () => {
    const own = `127.0.0.1:${port}`;
    const headersOf = (request: string) => responseHeadOf(port, `${request}Host: ${own}\r\n`);
    for (const origin of ['http://evil.example', 'null', `http://${own}`]) {
      const head = await headersOf(`GET / HTTP/1.1\r\nOrigin: ${origin}\r\n`);
      expect(head, origin).toMatch(/^HTTP\/1\.1 200 /);
      expect(head, origin).not.toMatch(/^access-control-/im);
    }
    // nor embed them (<img>, <script>: bytes a no-cors request brings into its process): the browser drops them unread
    expect(await headersOf('GET / HTTP/1.1\r\n')).toMatch(/^Cross-Origin-Resource-Policy: same-origin$/im);
    const preflight = await headersOf('OPTIONS / HTTP/1.1\r\nOrigin: http://evil.example\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: range, if-match\r\n');
    expect(preflight).toMatch(/^HTTP\/1\.1 405 /);
    expect(preflight).not.toMatch(/^access-control-/im);
  });

  it('names a host given with --host, and every local address when bound to all of them', () => {
    expect([...acceptedHosts('192.0.2.7')]).toEqual(['192.0.2.7']);
    expect([...acceptedHosts('::1')].sort()).toEqual(['127.0.0.1', '[::1]', 'localhost']);
    const all = acceptedHosts('0.0.0.0');
    expect(all.has('127.0.0.1') && all.has('localhost') && all.has('0.0.0.0')).toBe(true);
    expect(all.has('evil.example')).toBe(false);
  });

  it('knows loopback however it is spelled (so --host warns only when the page reaches the network)', () => {
    for (const host of ['127.0.0.1', '127.8.0.1', 'LocalHost', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '::FFFF:7f00:1']) expect(isLoopback(host), host).toBe(true);
    for (const host of ['0.0.0.0', '::', '::ffff:0.0.0.0', '::ffff:192.0.2.7', '192.0.2.7', '127.0.0.1.evil.example', 'example.com']) expect(isLoopback(host), host).toBe(false);
    expect(acceptedHosts('::ffff:127.0.0.1').has('localhost')).toBe(true);
  });
});

describe('gpt serve, a --host spelled otherwise than the address it binds', () => {
  it('answers the Host a browser sends for its URL, and names the address bound: 127.1 and 0x7f.1 are 127.0.0.1, 0 every interface', async () => {
    for (const [host, bound] of [['127.1', '127.0.0.1'], ['0x7f.1', '127.0.0.1'], ['0', '0.0.0.0']] as const) {
      const server = await startServer({ root, port: 0, host });
      try {
        const port = new URL(server.url).port;
        expect(server.bound, host).toBe(`${bound}:${port}`);
        // a browser's URL parser writes 127.1 as 127.0.0.1 and 0 as 0.0.0.0, and so does its Host header (every request was 421)
        for (const url of [server.url, `http://${host}:${port}/`]) expect(await statusFor(Number(port), new URL(url).host), `--host ${host}, ${url}`).toBe(200);
      } finally {
        await server.close();
      }
    }
  });

  it('warns that the network can load the page by the address bound, not the spelling: not for 127.1, for 0', async () => {
    for (const [host, warns] of [['127.1', false], ['0', true]] as const) {
      const server = await spawnGpt(['serve', '--root', root, '--port', '0', '--host', host], 30_000);
      await server.printed(/open \S+/);
      server.child.kill('SIGINT');
      const { err } = await server.done;
      expect(/warning: bound to .*other machines on the network/.test(err), `--host ${host}: ${err}`).toBe(warns);
    }
  });
});

describe('gpt serve, the request path', () => {
  let server: StaticServer;
  beforeAll(async () => {
    writeFileSync(join(root, 'ten.txt'), 'abcdefghij');
    symlinkSync('/etc/hostname', join(root, 'outside.txt'));
    server = await startServer({ root, port: 0 });
  });
  afterAll(() => server.close());
  /** The status of a GET of `path` as written (fetch's URL parser would resolve its dot segments). */
  const status = (path: string) =>
    new Promise<number>((resolve, reject) => {
      const { hostname, port } = new URL(server.url);
      request({ host: hostname, port, path, headers: { Range: 'bytes=0-1' } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      })
        .on('error', reject)
        .end();
    });

  it('maps to a file under the root, never above it, encoded or not', async () => {
    expect(await status('/ten.txt')).toBe(206);
    for (const path of ['/..%2f..%2fetc%2fhostname', '/%2e%2e/etc/hostname', '/%252e%252e/etc/hostname', '/a%5c..%5c..%5cetc', '/ten.txt%00']) expect(await status(path), path).toBe(400);
    expect(await status('/outside.txt')).toBe(404); // a symlink out of the root
  });

  it("with an empty segment is refused: a file's name with a trailing / names no file (it was sent as the file)", async () => {
    for (const path of ['/ten.txt/', '/ten.txt//', '/index.html/', '/a//ten.txt', '//ten.txt']) expect(await status(path), path).toBe(400);
  });
});

describe('gpt serve, a download the client abandons', () => {
  /** Starts three downloads of `path` and drops each at its first bytes; the file (its name ending in `file`) must be closed after. */
  async function abandon(opts: ServeOptions, path: string, file: string): Promise<void> {
    const logged: string[] = [];
    const server = await startServer({ ...opts, root, port: 0, onRequest: (m, u, s) => logged.push(`${s} ${m} ${u}`) });
    const port = Number(new URL(server.url).port);
    const target = (fd: string) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return ''; // the directory listing's own descriptor, closed by now
      }
    };
    const openFiles = () => readdirSync('/proc/self/fd').filter((fd) => target(fd).endsWith(file)).length;
    try {
      for (let i = 0; i < 3; i++) {
        await new Promise<void>((done, fail) => {
          const socket = connect(port, '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`));
          socket.once('data', () => done(void socket.destroy()));
          socket.once('error', fail);
        });
      }
      await expect.poll(() => logged.length).toBe(3);
      expect(logged).toEqual(Array(3).fill(`200 GET ${path}`));
      expect(openFiles()).toBe(0);
    } finally {
      await server.close();
    }
  }

  it('closes the file and ends the request (it is logged)', async () => {
    writeFileSync(join(root, 'big.bin'), Buffer.alloc(32 << 20, 7)); // far more than the socket buffers hold
    await abandon({}, '/big.bin', 'big.bin');
  });

  it("closes a checkpoint directory's weights, checked and sent from one open file", async () => {
    const ck = join(tempDir('cli-serve-abandon'), 'run');
    const tokenizer = CharTokenizer.train('abcd');
    const model = { vocabSize: 4, blockSize: 4, nLayer: 1, nHead: 1, nEmbd: 4, dropout: 0, bias: false };
    const weights = new Map([
      ['wte.weight', { shape: [4, 4], data: new Float32Array(16) }],
      ['wpe.weight', { shape: [4, 4], data: new Float32Array(16) }],
      ['h.0.big.weight', { shape: [8 << 20], data: new Float32Array(8 << 20) }], // 32 MiB
    ]);
    await writeCheckpointTensors(ck, checkpointSafetensors({ meta: { format: CHECKPOINT_FORMAT, model, tokenizer: tokenizer.toJSON() }, weights }), {});
    await abandon({ checkpoint: ck }, '/checkpoint.safetensors', '.safetensors');
  });
});

describe('gpt serve, a file changed in place while it is sent', () => {
  /**
   * Downloads `name` (32 MiB under the root), running `change` on it once the first bytes are in,
   * the client's reads paused meanwhile: the bytes received, and the requests logged with their errors.
   */
  async function changedWhileSent(name: string, change: (file: string) => void): Promise<{ received: number; logged: string[] }> {
    const file = join(root, name);
    writeFileSync(file, Buffer.alloc(32 << 20, 7)); // far more than the socket buffers hold
    const logged: string[] = [];
    const server = await startServer({ root, port: 0, onRequest: (m, u, s, error) => logged.push(`${s} ${m} ${u}: ${error}`) });
    const port = Number(new URL(server.url).port);
    try {
      const received = await new Promise<number>((done, fail) => {
        let bytes = 0;
        const socket = connect(port, '127.0.0.1', () => socket.write(`GET /${name} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`));
        socket.once('data', () => {
          socket.pause(); // the server's reads wait on the socket while the file changes
          change(file);
          setTimeout(() => socket.resume(), 100);
        });
        socket.on('data', (d: Buffer) => (bytes += d.length));
        // a hang shows as this error, not as the test's timeout: 30 s, as the polls wait, for 32 MiB through a loaded machine
        const hung = setTimeout(() => fail(new Error(`the connection was still open 30 s after the request, ${bytes} bytes received`)), 30_000);
        socket.on('close', () => (clearTimeout(hung), done(bytes)));
        socket.on('error', fail);
      });
      return { received, logged };
    } finally {
      await server.close();
      rmSync(file, { force: true });
    }
  }

  it('truncated: cuts the response off and logs why, rather than leaving the client waiting for the bytes its Content-Length promised', async () => {
    const { received, logged } = await changedWhileSent('shrinks.bin', (file) => truncateSync(file, 1000));
    expect(received).toBeLessThan(32 << 20);
    expect(logged).toEqual([expect.stringMatching(/^500 GET \/shrinks\.bin: the body ended after \d+ of the 33554432 bytes sent as its Content-Length \(the file shrank while it was sent\?\)$/)]);
  });

  it('rewritten, its size unchanged: cuts the response off before its last bytes and logs why, rather than sending two versions under one ETag', async () => {
    const { received, logged } = await changedWhileSent('rewritten.bin', (file) => {
      const fd = openSync(file, 'r+');
      writeSync(fd, Buffer.alloc(1 << 20, 9), 0, 1 << 20, 31 << 20); // the last MiB, not read yet
      closeSync(fd);
    });
    expect(received).toBeLessThan(32 << 20); // the headers and not all the body
    expect(logged).toEqual(['500 GET /rewritten.bin: the file was written in place while it was sent: the response was cut off']);
  });
});

describe('gpt serve, an address it cannot listen on', () => {
  it('a port already in use is one line naming --port (and --port 0)', async () => {
    const taken = await startServer({ root, port: 0 });
    const port = new URL(taken.url).port;
    try {
      expectOneLine(await gpt('serve', '--root', root, '--port', port), 1, new RegExp(`^gpt serve: --port ${port}: 127\\.0\\.0\\.1:${port} is already in use .*--port 0`));
    } finally {
      await taken.close();
    }
  });

  it('a host that is no address of this machine, or an IPv6 one in brackets, is one line naming --host', async () => {
    expectOneLine(await gpt('serve', '--root', root, '--port', '0', '--host', '192.0.2.7'), 1, /^gpt serve: --host 192\.0\.2\.7: not an address of this machine/);
    expectOneLine(await gpt('serve', '--root', root, '--port', '0', '--host', '[::1]'), 1, /^gpt serve: --host \[::1\]: give an IPv6 address without its brackets \(--host ::1\)$/);
  });
});

describe('gpt serve listens first, then loads', () => {
  // a Hugging Face hub that never answers: fetching a hub id lasts until its stall limit (30 s)
  const hubAsked: string[] = [];
  const unanswered = new Set<ServerResponse>();
  let hub: Server;
  const HUB_ENV = ['HF_ENDPOINT', 'HF_HUB_CACHE', 'HF_HOME', 'HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE', 'HF_TOKEN'];
  const saved = Object.fromEntries(HUB_ENV.map((k) => [k, process.env[k]]));
  beforeAll(async () => {
    hub = createServer((req, res) => void (hubAsked.push(`${req.method} ${req.url}`), unanswered.add(res)));
    await new Promise<void>((ok) => hub.listen(0, '127.0.0.1', ok));
    for (const k of HUB_ENV) delete process.env[k];
    process.env.HF_ENDPOINT = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`; // children inherit it
    process.env.HF_HUB_CACHE = tempDir('cli-serve-hub-cache');
    process.env.HF_HOME = tempDir('cli-serve-hf-home');
  });
  afterAll(async () => {
    for (const [k, v] of Object.entries(saved)) v === undefined ? delete process.env[k] : (process.env[k] = v);
    hub.closeAllConnections();
    await new Promise((done) => hub.close(done));
  });
  const STALLED = 'test-org/never-answered';

  it('a port in use is said at once, before a hub id is fetched (or a model loaded)', async () => {
    const taken = await startServer({ root, port: 0 });
    const port = new URL(taken.url).port;
    hubAsked.length = 0;
    try {
      const t0 = performance.now();
      expectOneLine(await gpt('serve', '--api', '--checkpoint', STALLED, '--root', root, '--port', port), 1, new RegExp(`^gpt serve: --port ${port}: 127\\.0\\.0\\.1:${port} is already in use`));
      expect(performance.now() - t0).toBeLessThan(5000);
      expect(hubAsked).toEqual([]);
    } finally {
      await taken.close();
    }
  });

  it("while it loads, the page and the checkpoint are 503 with Retry-After, the API's routes OpenAI's 503; none is refused; \"open\" is not printed; Ctrl-C ends it at once", async () => {
    const srv = await spawnGpt(['serve', '--api', '--checkpoint', STALLED, '--root', root, '--port', '0'], 60_000);
    try {
      const out = await srv.printed(/^listening on /m);
      const at = `http://${/^listening on (127\.0\.0\.1:\d+); loading test-org\/never-answered onto the GPU \(until it is served, requests are answered 503\)$/m.exec(out)![1]}/`;
      await expect.poll(() => hubAsked.length).toBeGreaterThan(0); // the fetch is under way
      for (const path of ['', 'index.html', 'checkpoint.safetensors']) {
        const res = await fetch(`${at}${path}`);
        expect([res.status, res.headers.get('retry-after'), await res.text()], path).toEqual([503, '5', 'gpt serve is loading its checkpoint: try again in a few seconds\n']);
      }
      const error = { message: `model "${STALLED}" is loading: this server answers once it is loaded; try again in a few seconds`, type: 'server_error', param: null, code: 'model_loading' };
      const models = await fetch(`${at}v1/models`);
      expect([models.status, models.headers.get('retry-after'), await models.json()]).toEqual([503, '5', { error }]);
      const posted = await fetch(`${at}v1/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"prompt": "a"}' });
      expect([posted.status, await posted.json()]).toEqual([503, { error }]);
      expect(await statusFor(Number(new URL(at).port), 'evil.example'), 'the Host checked first').toBe(421);
    } finally {
      srv.child.kill('SIGINT');
    }
    const t0 = performance.now();
    const done = await srv.done;
    expect(performance.now() - t0, 'Ctrl-C while it loads ends it at once').toBeLessThan(5000);
    expect([done.timedOut, done.code, done.signal], done.err).toEqual([false, null, 'SIGINT']); // killed by it, as Ctrl-C leaves a program that has nothing to tidy
    expect(done.out).not.toMatch(/^open /m);
    expect(done.err).toBe('');
  });

  it('listen() answers 503 but to its API until ready() has checked the checkpoint; a checkpoint refused then closes the server', async () => {
    const dir = tempDir('cli-serve-ready');
    const file = join(dir, 'model.safetensors');
    writeFileSync(file, tinyCheckpoint());
    const srv = await listen({ root, port: 0 });
    try {
      for (const path of ['', 'checkpoint.safetensors']) expect((await fetch(`${srv.url}${path}`)).status, path).toBe(503);
      await srv.ready(file);
      expect((await fetch(srv.url)).status).toBe(200);
      expect(Buffer.from(await (await fetch(`${srv.url}checkpoint.safetensors`)).arrayBuffer())).toEqual(readFileSync(file));
    } finally {
      await srv.close();
    }
    const broken = join(dir, 'broken.safetensors');
    writeFileSync(broken, 'not a checkpoint');
    const port = new URL(srv.url).port;
    const refused = await gpt('serve', '--root', root, '--port', port, '--checkpoint', broken);
    expectOneLine(refused, 1, /^gpt serve: flag --checkpoint: /);
    const again = await startServer({ root, port: Number(port) }); // nothing left listening
    await again.close();
  });
});

describe('gpt serve, a --root without the page', () => {
  it('is one line naming --root and what it must hold, with or without --checkpoint (the checkpoint is for the page)', async () => {
    const base = tempDir('cli-serve-roots');
    const noPage = join(base, 'no-page');
    mkdirSync(noPage);
    writeFileSync(join(noPage, 'app.js'), 'the page left out');
    const checkpoint = join(base, 'model.safetensors');
    writeFileSync(checkpoint, 'read only once the page is there');
    const takes = "--root takes a directory holding the page (its index.html and the files it loads), as web-dist/ does once `npm run build:web` has built it";
    for (const args of [[], ['--checkpoint', checkpoint]]) {
      expectOneLine(await gpt('serve', '--root', noPage, '--port', '0', ...args), 2, new RegExp(`^gpt serve: flag --root: ${noPage} holds no index\\.html, so the page would be 404 Not Found; ${escapeRegExp(takes)}$`));
    }
    const dirIndex = join(base, 'index-a-directory');
    mkdirSync(join(dirIndex, 'index.html'), { recursive: true });
    expectOneLine(await gpt('serve', '--root', dirIndex, '--port', '0'), 2, /^gpt serve: flag --root: \S+ holds no index\.html file \(it is a directory\), so the page would be 404 Not Found; --root takes/);
  });
});

describe('gpt serve, no page with --api', () => {
  it('serves the API alone: the page\'s paths are a 404 naming how to build it, the API is answered', async () => {
    const missing = join(tempDir('cli-serve-api-alone'), 'web-dist');
    const api = completionsApi({ modelId: 'm' }); // never loaded: it answers 503, its own error
    const server = await startServer({ root: missing, port: 0, api });
    try {
      const noPage = `no page is served: ${missing} does not exist (\`npm run build:web\` builds the page into web-dist/)`;
      expect(server.noPage).toBe(noPage);
      for (const path of ['', 'index.html', 'main.js']) {
        const res = await fetch(`${server.url}${path}`);
        expect([res.status, await res.text()], path).toEqual([404, `not found: ${noPage} (the API is under /v1/)\n`]);
      }
      const models = await fetch(`${server.url}v1/models`);
      expect([models.status, ((await models.json()) as { error: { code: string } }).error.code]).toEqual([503, 'model_loading']);
    } finally {
      await server.close();
      await api.close();
    }
    // with the page served, none is said to be missing
    const page = await startServer({ root, port: 0, api: completionsApi({ modelId: 'm' }) });
    expect(page.noPage).toBeNull();
    await page.close();
  });
});

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('gpt serve, Ctrl-C', () => {
  it('is listened for before "open ... (Ctrl-C to stop)" is printed: a script that signals once it reads that line gets status 0, not death by the signal', async () => {
    const others = new Set(process.listeners('SIGINT'));
    const ours = () => process.listeners('SIGINT').filter((l) => !others.has(l)) as ((signal: NodeJS.Signals) => void)[];
    let listenedAtOpen: number | undefined;
    const log = vi.spyOn(console, 'log').mockImplementation((line: unknown) => {
      if (!String(line).startsWith('open ')) return;
      listenedAtOpen = ours().length;
      setImmediate(() => ours().forEach((l) => l('SIGINT'))); // Ctrl-C, as soon as the line is read
    });
    try {
      expect(await main(['serve', '--root', root, '--port', '0', '--quiet'])).toBe(0);
    } finally {
      log.mockRestore();
    }
    expect(listenedAtOpen, 'SIGINT listeners of gpt serve when it printed "open"').toBe(1);
  });

  it('ends the process at once, past idle connections, a request half sent and a download not read', async () => {
    writeFileSync(join(root, 'big.bin'), Buffer.alloc(32 << 20, 7));
    const server = await spawnGpt(['serve', '--root', root, '--port', '0', '--quiet'], 30_000);
    const port = Number((await server.printed(/open \S+/)).match(/open http:\/\/127\.0\.0\.1:(\d+)/)![1]);
    const client = (send: string, read = true) =>
      new Promise<Socket>((opened) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.write(send);
          if (!read) socket.pause(); // the server's writes back up
          opened(socket);
        });
        socket.on('error', () => undefined);
      });
    const sockets = [
      await client(''),
      await client(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`),
      await client(`GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`, false),
    ];
    try {
      await new Promise((r) => setTimeout(r, 300));
      const t0 = performance.now();
      server.child.kill('SIGINT');
      const done = await server.done;
      expect(done.timedOut, 'still running 30 s after Ctrl-C').toBe(false);
      expect(done.code).toBe(0);
      expect(performance.now() - t0).toBeLessThan(5000);
    } finally {
      sockets.forEach((s) => s.destroy());
    }
  });
});
