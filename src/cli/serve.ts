// `gpt serve`: a small static server for the browser demo. It serves only the files of web-dist/
// (built by `npm run build:web`) and, with --checkpoint, one checkpoint (a .safetensors file, the
// current weights of a `gpt train` directory, or a Hugging Face directory or nanoGPT's ckpt.pt in
// our format, converted a tensor at a time as ranges ask) at the fixed URL /checkpoint.safetensors
// next to the page. Bound to 127.0.0.1 unless told otherwise.
// Request paths are decoded once and rejected if they could leave the root (`..`, backslashes, NUL,
// or a '%' left after decoding, i.e. double encoding), then resolved and checked against the root
// again. Requests must name this server in their Host header (any port), or in their absolute-form target
// (src/cli/host-check.ts): otherwise a page of another origin could read the checkpoint through DNS
// rebinding; no CORS header lets another origin read an answer, and Cross-Origin-Resource-Policy
// keeps one from embedding it. Range requests are answered (src/cli/http-ranges.ts), each response
// with a strong ETag naming the version sent (a checkpoint directory's: its weights file's name and
// CRC-32): the page reads the checkpoint a tensor at a time, each read pinned by If-Match to the
// version its first read saw, so that a save landing mid-load is a 412, never two saves' bytes.
// With --api, the checkpoint's model also generates, on this machine's GPU, through OpenAI's
// completions API under /v1/ (src/cli/serve-api.ts). With --adapter too, it generates with a peft
// adapter merged in, and the checkpoint is not served: the page would load the base without it.
// Without the page (web-dist/ not built), --api serves the API alone; the page's paths are 404s
// saying how to build it. The server listens first, so that a port in use is said at once, then loads (fetches a hub id,
// checks the checkpoint, loads --api's model): meanwhile a request is answered 503 with Retry-After,
// not refused, and `open URL` is printed once everything is served.
import { randomUUID } from 'node:crypto';
import { realpath, stat, type FileHandle } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withCheckpointFiles, type CheckedWeights, type CheckpointManifest } from '../node/checkpoint-files.js';
import { fileVersion, kindOf, openRegularFile, unlessMissing, unreadableReason, writtenVersion } from '../node/regular-files.js';
import { checkCheckpointAt } from '../node/checkpoint-dir.js';
import type { ConvertedCheckpointFile } from '../node/converted-checkpoint-file.js';
import { openHFCheckpointFile } from '../node/hf-checkpoint-file.js';
import { openNanoGptCheckpointFile } from '../node/nanogpt-file.js';
import { isHFDirectory, isTorchSave } from '../node/checkpoint-kind.js';
import { partsBetween, sendRepresentation, type ByteRange } from './http-ranges.js';
import { fetchHubCheckpoints } from './hub-flags.js';
import { flagHelp, noPositional, parseFlags, UsageError, type FlagSpec } from './flags.js';
import { ADAPTER_OR_HUB, CHECKPOINT_OR_HUB } from './path-flags.js';
import { acceptedHosts, browserHostname, hostName, isLoopback, isUnspecified, requestTarget } from './host-check.js';
import { DTYPE_DOC } from './sample.js';
import { ADAPTER_DOC } from './adapter-flag.js';
import { API_PATH, completionsApi, MAX_QUEUE, RETRY_AFTER_S, type CompletionsApi } from './serve-api.js';
import { API_KEY_ENV, apiKeyProblem, envApiKey } from './api-key.js';
import type { DeviceLostError } from '../device/lost.js';
import { TRAIN_DEFAULTS, TRAIN_DTYPES } from '../gpt/trainer.js';
import { answeringSignals } from './ending-signals.js';

/** web-dist/ at the package root (this file is src/cli/serve.ts or dist/cli/serve.js). */
export const WEB_DIST = fileURLToPath(new URL('../../web-dist/', import.meta.url));
const CHECKPOINT_URL = '/checkpoint.safetensors';
/**
 * Says on every answer whether CHECKPOINT_URL serves a checkpoint ('yes' or 'no'): the page asks
 * its own address and reads it, so that without one it asks for none (the browser's console shows
 * a 404 as an error). src/web/main.ts reads it by this name.
 */
const CHECKPOINT_HEADER = 'Gpt-Checkpoint';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.safetensors': 'application/octet-stream',
};

export interface ServeOptions {
  /** Directory served (default web-dist/); missing, it is refused, unless `api` is given, which is then served alone. */
  root?: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** A checkpoint (a .safetensors file, a directory written by `gpt train`, a Hugging Face directory, nanoGPT's ckpt.pt) served at /checkpoint.safetensors. */
  checkpoint?: string;
  /** Answers requests under /v1/ (`gpt serve --api`); without it they are 404s. */
  api?: CompletionsApi;
  /** Called once per request, after the response is sent (for logging); `error` says why one failed (status 500). */
  onRequest?: (method: string, url: string, status: number, error?: string) => void;
}

export interface StaticServer {
  /** The URL to open (a loopback one when bound to every interface). */
  url: string;
  /** The address and port bound, e.g. 0.0.0.0:8080 (for --host 0). */
  bound: string;
  /** Whether only this machine can reach it (the address bound is a loopback one). */
  local: boolean;
  /** Why no page is served (its root is missing: an API serves alone), or null where it is. */
  noPage: string | null;
  server: Server;
  close(): Promise<void>;
}

/** A server listening that serves nothing yet but its API: every other request is answered 503 (Retry-After) until ready() has returned. */
export interface LoadingServer extends StaticServer {
  /** Checks `checkpoint` (ServeOptions') and serves it at /checkpoint.safetensors (unless `withhold`: checked only), and root's files. */
  ready(checkpoint?: string, withhold?: boolean): Promise<void>;
}

/**
 * The file a request path maps to under root, or null when the path is not acceptable (it would
 * leave root, has an empty segment, or is malformed). `/` maps to index.html.
 */
function resolveRequestPath(root: string, rawPath: string): string | null {
  const pathOnly = rawPath.split(/[?#]/, 1)[0]!;
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathOnly);
  } catch {
    return null; // malformed escape
  }
  if (!decoded.startsWith('/') || /[\\\0%]/.test(decoded)) return null;
  // an empty segment names no file: path.resolve would drop it, sending x.txt for x.txt/
  const segments = decoded.slice(1).split('/');
  if (decoded !== '/' && segments.some((s) => s === '..' || s === '.' || s === '')) return null;
  const rel = decoded === '/' ? 'index.html' : decoded.slice(1);
  const base = resolve(root);
  const file = resolve(base, rel);
  return file.startsWith(base + sep) ? file : null;
}

/** The server of `opts` listening, serving its checkpoint and files (ready()) once they are checked; a port in use is an error now. */
export async function startServer(opts: ServeOptions = {}): Promise<StaticServer> {
  const server = await listen(opts);
  await server.ready(opts.checkpoint).catch(async (e: unknown) => {
    await server.close();
    throw e;
  });
  return server;
}

/** The server of `opts` listening (a port in use is an error now), answering 503 but to its API until ready() has checked the checkpoint. */
export async function listen(opts: Omit<ServeOptions, 'checkpoint'> = {}): Promise<LoadingServer> {
  // the API needs no page: without one it is served alone, the page's paths a 404 saying how to build it
  const root = await realpath(opts.root ?? WEB_DIST).catch(() => {
    if (opts.api) return null;
    throw new UsageError(`flag --root: nothing to serve, ${opts.root ?? `web-dist/ (its default, ${WEB_DIST})`} does not exist; run \`npm run build:web\` first, or pass --root DIR, a directory to serve`);
  });
  const noPage = root === null ? `no page is served: ${opts.root ?? WEB_DIST} does not exist (\`npm run build:web\` builds the page into web-dist/)` : null;
  let ready = false;
  let checkpoint: string | undefined;
  let checkpointIsDir = false;
  let imported: ConvertedCheckpointFile | null = null; // a Hugging Face directory or nanoGPT's ckpt.pt, in our format, read and encoded per request a tensor at a time
  const importedEtag = `"imported-${randomUUID()}"`; // fixed while this server runs (its files are checked once)
  const checkedWeights: CheckedWeights = {}; // a directory's weights are checksummed once, not at every range read
  /** Checks the checkpoint given as `given` and serves it, unless `withhold`. */
  const serveCheckpoint = async (given: string, withhold: boolean) => {
    const path = resolve(given);
    const s = await stat(path).catch(() => null);
    if (!s) throw new Error(`no checkpoint at ${given}`);
    if (!s.isDirectory() && !s.isFile()) throw new Error(`--checkpoint ${given} is ${kindOf(s)}, not a checkpoint file or directory`);
    checkpointIsDir = s.isDirectory();
    // a broken or non-finite checkpoint fails now, not in the page, in one line naming the flag; a
    // converted one's files stay open, to serve
    const checked = async () => {
      if (checkpointIsDir && (await isHFDirectory(path))) imported = await openHFCheckpointFile(path);
      else if (!checkpointIsDir && (await isTorchSaveAt(path))) imported = await openNanoGptCheckpointFile(path);
      else await checkCheckpointAt(path);
    };
    await checked().catch((e: Error) => {
      e.message = `flag --checkpoint: ${e.message}`;
      throw e;
    });
    if (!withhold) checkpoint = path;
    else if (imported) {
      await imported.close(); // no file of it is read
      imported = null;
    }
  };

  let hosts = new Set<string>(); // known once listening (--host 0: every interface's addresses)
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<number> => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-store');
    // a page of another origin embedding the checkpoint (<img src>) gets no bytes into its process: the browser drops them
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    // first: OPTIONS * is a method not served here, not a bad target (nor is OPTIONS anywhere: no CORS preflight passes)
    if (req.method !== 'GET' && req.method !== 'HEAD' && !(opts.api && req.method === 'POST')) return notAllowed(res, opts.api ? 'GET, HEAD, POST' : 'GET, HEAD');
    const target = requestTarget(req.url ?? '/', req.rawHeaders);
    if (!target) {
      res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' }).end('bad request target\n');
      return 400;
    }
    if (!hosts.has(hostName(target.host) ?? '')) {
      res.writeHead(421, { 'Content-Type': 'text/plain; charset=utf-8' }).end('misdirected request: unknown Host\n');
      return 421;
    }
    const rawPath = target.path;
    if (opts.api && rawPath.startsWith(API_PATH)) return opts.api.handle(req, res, rawPath, target.host);
    // the API's clients given the server's URL as their base URL post here (OpenAI's take the one ending in /v1)
    if (req.method === 'POST') return notAllowed(res, 'GET, HEAD', `POST is served under ${API_PATH} only (OpenAI's clients: base URL http://${target.host}${API_PATH.slice(0, -1)})`);
    if (!ready) {
      res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Retry-After': String(RETRY_AFTER_S) }).end('gpt serve is loading its checkpoint: try again in a few seconds\n');
      return 503;
    }
    res.setHeader(CHECKPOINT_HEADER, checkpoint ? 'yes' : 'no');
    let file: string | null;
    if (rawPath.split(/[?#]/, 1)[0] === CHECKPOINT_URL) {
      if (!checkpoint) return notFound(res);
      const type = CONTENT_TYPES['.safetensors']!;
      if (imported) {
        await imported.unchanged();
        const { parts, size } = imported;
        const body = (range: ByteRange) => Readable.from(partsBetween(parts, range), { objectMode: false });
        return sendRepresentation(req, res, { size, type, etag: importedEtag, body, unchanged: imported.unchanged });
      }
      // the directory's current weights, checked and sent from one open file per request: a run
      // still training serves its latest save, whole even if the next one lands meanwhile
      if (checkpointIsDir) {
        const send = (weights: FileHandle, { weights: name, weightsBytes, weightsCrc32 }: CheckpointManifest) =>
          sendFile(req, res, weights, { size: weightsBytes, type, etag: `"${name}-${weightsCrc32}"` });
        return withCheckpointFiles(checkpoint, send, 3, checkedWeights);
      }
      file = checkpoint;
    } else {
      if (root === null) {
        res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`not found: ${noPage} (the API is under ${API_PATH})\n`);
        return 404;
      }
      file = resolveRequestPath(root, rawPath);
      if (!file) {
        res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' }).end('bad path\n');
        return 400;
      }
      // a symlink inside root must not lead out of it
      const real = await realpath(file).catch(() => null);
      if (!real || !real.startsWith(root + sep)) return notFound(res);
      file = real;
    }
    // the size and the bytes of one open file: a checkpoint saved again meanwhile (renamed over) is
    // sent whole, old or new (stat, then opening by name, sent the new bytes under the old size)
    const servingCheckpoint = file === checkpoint;
    const handle = await openRegularFile(file).catch((e: NodeJS.ErrnoException) => {
      if (!servingCheckpoint) return null;
      // there at the start, so gone now is the server's failure (500, logged), as for a directory, not the page's 404;
      // the reason in words (openRegularFile's message names the path again)
      throw new Error(`checkpoint at ${file} ${e.code === 'ENOENT' ? 'is missing: the file no longer exists' : `cannot be read: ${unreadableReason(e)}`}`);
    });
    if (!handle) return notFound(res);
    try {
      const type = CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
      const { size, version } = await fileVersion(handle);
      return await sendFile(req, res, handle, { type, size, etag: `"${version}"` }); // strong: a file renamed over it, or written in place, is another
    } finally {
      await handle.close();
    }
  };

  const answering = new Set<Promise<void>>(); // closing waits for them: an imported checkpoint's files must outlive their reads
  const server = createServer((req, res) => {
    const log = (status: number, error?: string) => opts.onRequest?.(req.method ?? '?', req.url ?? '?', status, error);
    const answer = handle(req, res).then(log, (e: Error) => {
      // the page can only show the status: the reason goes to the server's log
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end("internal error: the reason is in gpt serve's output\n");
      else if (!res.writableEnded) res.destroy(); // cut off: the client sees the body is short
      log(500, e.message);
    });
    answering.add(answer);
    void answer.finally(() => answering.delete(answer));
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((ok, fail) => {
    const refused = (e: NodeJS.ErrnoException) => fail(listenError(e, host, opts.port ?? 8080));
    server.once('error', refused);
    server.listen(opts.port ?? 8080, host, () => {
      server.off('error', refused);
      ok();
    });
  });
  const { address, port } = server.address() as AddressInfo; // what host resolved to: 127.1 is 127.0.0.1, 0 every interface
  hosts = acceptedHosts(address, host);
  const shown = browserHostname(host); // a name (localhost) is printed as given, an address as bound
  return {
    url: `http://${isUnspecified(address) ? '127.0.0.1' : isIP(shown) ? bracket(address) : shown}:${port}/`,
    bound: `${bracket(address)}:${port}`,
    local: isLoopback(address),
    noPage,
    server,
    close: async () => {
      await new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      });
      await Promise.allSettled(answering); // each ends once its connection is gone
      await imported?.close();
    },
    ready: async (given, withhold = false) => {
      if (given) await serveCheckpoint(given, withhold);
      ready = true;
    },
  };
}

/**
 * Bytes of an open file (the caller closes it) as the response to `req`: whole, or the range asked
 * for; cut off where the file is written in place while it is sent (its version changes).
 */
async function sendFile(req: IncomingMessage, res: ServerResponse, file: FileHandle, { size, type, etag }: { size: number; type: string; etag: string }): Promise<number> {
  const version = await writtenVersion(file);
  const unchanged = async () => {
    if ((await writtenVersion(file)) !== version) throw new Error('the file was written in place while it was sent: the response was cut off');
  };
  return sendRepresentation(req, res, { size, type, etag, body: ({ start, end }) => file.createReadStream({ start, end, autoClose: false }), unchanged });
}

/** Whether the file at `path` is torch.save's (nanoGPT's ckpt.pt) rather than safetensors. */
async function isTorchSaveAt(path: string): Promise<boolean> {
  const handle = await openRegularFile(path);
  return isTorchSave(handle, path).finally(() => handle.close());
}

const bracket = (h: string) => (h.includes(':') ? `[${h}]` : h);

/** Why the server could not listen, naming the flag to change (Node's 'listen EADDRINUSE: address already in use' names none). */
function listenError(e: NodeJS.ErrnoException, host: string, port: number): Error {
  const at = `${bracket(host)}:${port}`;
  if (e.code === 'EADDRINUSE') return new Error(`--port ${port}: ${at} is already in use (another gpt serve?); pick another port, or --port 0 for any free one`);
  if (e.code === 'EACCES') return new Error(`--port ${port}: no permission to listen on ${at} (ports below 1024 need privileges); pick one from 1024 up, or --port 0 for any free one`);
  if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') {
    const bare = /^\[(.*)\]$/.exec(host)?.[1]; // as a URL writes it
    if (bare) return new Error(`--host ${host}: give an IPv6 address without its brackets (--host ${bare})`);
    return new Error(`--host ${host}: not an address of this machine (${e.code}); 127.0.0.1 serves this machine only, 0.0.0.0 every network it is on`);
  }
  return e;
}

function notAllowed(res: ServerResponse, allow: string, why?: string): number {
  res.writeHead(405, { Allow: allow, 'Content-Type': 'text/plain; charset=utf-8' }).end(`method not allowed${why ? `: ${why}` : ''}\n`);
  return 405;
}

function notFound(res: ServerResponse): number {
  res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
  return 404;
}

const SERVE_DEFAULTS = { host: '127.0.0.1', port: 8080, checkpoint: '', root: '', api: false, adapter: '', apiKey: '', dtype: TRAIN_DEFAULTS.dtype, maxQueue: MAX_QUEUE, quiet: false };
const SERVE_FLAGS: FlagSpec<typeof SERVE_DEFAULTS> = {
  defaults: SERVE_DEFAULTS,
  paths: { checkpoint: CHECKPOINT_OR_HUB, root: 'directory', adapter: ADAPTER_OR_HUB },
  ranges: { port: { int: true, min: 0, max: 65535 }, maxQueue: { int: true, min: 0 } },
  choices: { dtype: TRAIN_DTYPES },
  docs: {
    host: 'address to bind (0.0.0.0 exposes the page to the network)',
    port: '0 = any free port',
    checkpoint: `a checkpoint (directory or .safetensors file, a Hugging Face GPT-2 directory, or nanoGPT's ckpt.pt, converted as read), served at ${CHECKPOINT_URL} and loaded by the page`,
    root: 'directory to serve instead of web-dist/: it must hold the page, index.html',
    api: "also generate with --checkpoint's model on this machine's GPU: OpenAI's POST /v1/completions and GET /v1/models, one generation at a time",
    adapter: `with --api: ${ADAPTER_DOC}; the API names the model --adapter as given (GET /v1/models: its parent --checkpoint), as vLLM names a LoRA model, and refuses requests naming --checkpoint, which it does not serve alone; ${CHECKPOINT_URL} is then not served (the page would load the model without the adapter)`,
    apiKey: `with --api: requests under /v1/ must carry 'Authorization: Bearer KEY' (else $${API_KEY_ENV}; where neither is set, none is asked for)`,
    dtype: `with --api: ${DTYPE_DOC}`,
    maxQueue: `with --api: the most requests that wait while one generates; past it a request is answered 429 Too Many Requests (Retry-After: ${RETRY_AFTER_S})`,
    quiet: 'do not log requests',
  },
};

/**
 * Why --root's directory cannot serve the page: without an index.html file the server answers 404
 * Not Found to the page's URL (--checkpoint is served for the page to load, not on its own).
 */
async function noPageProblem(root: string): Promise<string | null> {
  const index = await unlessMissing(stat(join(root, 'index.html')));
  if (index?.isFile()) return null;
  return (
    `flag --root: ${root} holds no index.html${index ? ` file (it is ${kindOf(index)})` : ''}, so the page would be 404 Not Found; ` +
    '--root takes a directory holding the page (its index.html and the files it loads), as web-dist/ does once `npm run build:web` has built it'
  );
}

export const SERVE_HELP = `usage: gpt serve [flags]
Serves the browser demo (web-dist/, built by \`npm run build:web\`) and prints its URL; with --api
--checkpoint PATH, also OpenAI's completions API on the GPU (alone where the page is not built), e.g.
  curl http://127.0.0.1:8080/v1/completions -H 'Content-Type: application/json' -d '{"prompt": "ROMEO:", "max_tokens": 50}'
${flagHelp(SERVE_FLAGS)}`;

export async function serve(args: string[]): Promise<number> {
  const { values: f, positional, given } = parseFlags(args, SERVE_FLAGS);
  noPositional(positional);
  if (f.api && !f.checkpoint) throw new UsageError('flag --api generates with the model of --checkpoint: give --checkpoint PATH (or a hub id such as gpt2)');
  if (!f.api && given.has('dtype')) throw new UsageError(`flag --dtype ${f.dtype} is the dtype --api generates in: it applies with --api only`);
  if (!f.api && f.adapter) throw new UsageError(`flag --adapter merges a peft adapter into the model --api generates with: it applies with --api only (the page loads --checkpoint's file as it is, without the adapter)`);
  if (!f.api && given.has('apiKey')) throw new UsageError('flag --api-key is the key --api asks for: it applies with --api only');
  const keyProblem = given.has('apiKey') && apiKeyProblem(f.apiKey, 'flag --api-key');
  if (keyProblem) throw new UsageError(keyProblem);
  if (!f.api && given.has('maxQueue')) throw new UsageError(`flag --max-queue ${f.maxQueue} bounds the requests --api queues: it applies with --api only`);
  const apiKey = given.has('apiKey') ? f.apiKey : envApiKey(); // the flag first, as vLLM's
  // as given (a hub id is fetched into a local directory once listening); with an adapter, its name, as vLLM names a LoRA model: the text is not the checkpoint's
  const modelId = f.adapter || f.checkpoint;
  const parent = f.adapter ? f.checkpoint : undefined;
  const noPage = f.root ? await noPageProblem(f.root) : null;
  if (noPage) throw new UsageError(noPage);
  const api = f.api ? completionsApi({ modelId, parent, maxQueue: f.maxQueue, ...(apiKey !== undefined && { apiKey }) }) : undefined;
  const srv = await listen({
    host: f.host,
    port: f.port,
    ...(f.root && { root: f.root }),
    ...(api && { api }),
    onRequest: (m, u, s, error) => {
      if (error) console.error(`${s} ${m} ${u}: ${error}`); // even with --quiet
      else if (!f.quiet) console.log(`${s} ${m} ${u}`);
    },
  });
  if (f.checkpoint) console.log(`listening on ${srv.bound}; loading ${f.checkpoint}${f.adapter ? ` with the adapter ${f.adapter}` : ''}${api ? ' onto the GPU' : ''} (until it is served, requests are answered 503)`);
  try {
    // Ctrl-C meanwhile ends the process at once, as killed by it (a load cannot be cut short: waiting for it would hang);
    // a download cut off resumes on the next run (hub-cache.ts)
    await answeringSignals(async () => {
      await fetchHubCheckpoints(SERVE_FLAGS, f, given);
      await srv.ready(f.checkpoint || undefined, Boolean(f.adapter)); // checked, not served with --adapter: the page would load the base without it
      await api?.load(f.checkpoint, f.dtype, f.adapter);
    });
  } catch (e) {
    await srv.close();
    await api?.close();
    throw e;
  }
  // until Ctrl-C, or until the GPU device of --api is lost: every generation would fail, so the server ends, saying why;
  // listened for before "Ctrl-C to stop" is printed (a script that signals once it reads that line met the signal's default action),
  // in the tick answeringSignals returned in: a signal that landed as the load ended is heard here (ending-signals.ts)
  const ended = new Promise<DeviceLostError | null>((done) => {
    const stop = (why: DeviceLostError | null) => {
      process.off('SIGINT', signaled);
      process.off('SIGTERM', signaled);
      done(why);
    };
    const signaled = () => stop(null);
    process.on('SIGINT', signaled);
    process.on('SIGTERM', signaled);
    void api?.lost.then(stop);
  });
  const served = f.checkpoint && !f.adapter;
  if (srv.noPage) console.log(`${srv.noPage}: the API alone is served${served ? `, and ${f.checkpoint} at ${CHECKPOINT_URL}` : ''}, on ${srv.bound}`);
  else console.log(`serving ${f.root || 'web-dist/'}${served ? ` and ${f.checkpoint} at ${CHECKPOINT_URL}` : ''} on ${srv.bound}`);
  if (f.adapter) console.log(`${CHECKPOINT_URL} is not served: the page would load ${f.checkpoint} without the adapter ${f.adapter}, which the API merges`);
  if (api) console.log(`API: POST ${srv.url}v1/completions, GET ${srv.url}v1/models (model ${JSON.stringify(modelId)}${parent ? `: ${parent} with the adapter merged` : ''}; one generation at a time, up to ${f.maxQueue} waiting${apiKey === undefined ? '' : `; the key of ${given.has('apiKey') ? '--api-key' : API_KEY_ENV} asked for`})`);
  const generate = api && (apiKey === undefined ? ` and generate on this GPU (--api-key KEY, or ${API_KEY_ENV}, asks for a key)` : '');
  if (!srv.local) console.error(`warning: bound to ${srv.bound}, so other machines on the network can ${srv.noPage ? 'reach it' : 'load the page'}${served ? ' and download the checkpoint' : ''}${generate || ''}`);
  // without a page, the URL to open is the API's list of models (the root is a 404)
  console.log(`open ${srv.noPage ? `${srv.url}v1/models` : srv.url}  (Ctrl-C to stop)`);
  const lost = await ended;
  await srv.close();
  await api?.close();
  if (lost) throw lost;
  return 0;
}
