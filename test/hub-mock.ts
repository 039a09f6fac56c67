// A Hugging Face hub on node:http for the hub-cache tests, answering as huggingface.co does
// (as huggingface_hub's file_download.py and utils/_http.py read it):
// - HEAD/GET /{repo}/resolve/{revision}/{file}: a regular file 200 with ETag "<git blob sha1>",
//   Content-Length and X-Repo-Commit; an LFS file 302 to an absolute CDN URL (on another host
//   name of this server: localhost, where the hub is 127.0.0.1) with X-Linked-Etag "<sha256>" and
//   X-Linked-Size, its own Content-Length the redirect body's;
// - a renamed repo: 307 to the new name's path, relative (the hub's);
// - refusals with X-Error-Code: RepoNotFound on 401 (an unknown repo, to an anonymous request),
//   GatedRepo on 401, RevisionNotFound and EntryNotFound on 404 (with X-Repo-Commit);
// - GET /cdn/{sha256}: the LFS file, honouring Range (206 with Content-Range);
// - GET /api/models/{repo}/revision/{revision} (huggingface_hub's model_info, huggingface.js's
//   modelInfo): JSON with id (the repo's name now), sha (the commit), siblings [{rfilename}] and
//   gated; a renamed repo 307 to the new name's path, the refusals as resolve's;
// - with `cors`, every answer allows any origin and exposes the headers above to it (as huggingface.co
//   answers a page: untested against it here), and a CORS preflight (OPTIONS) is answered.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface MockRepo {
  commit: string;
  files: Map<string, Uint8Array>;
  /** Files stored in LFS (served by the CDN, named by sha256). */
  lfs: Set<string>;
  /** The token a gated repo wants (sent as Bearer). */
  gatedToken?: string;
}

export interface MockRequest {
  method: string;
  url: string;
  host: string;
  authorization?: string;
  range?: string;
}

export interface MockHub {
  endpoint: string;
  repos: Map<string, MockRepo>;
  /** Old name -> new name. */
  renamed: Map<string, string>;
  requests: MockRequest[];
  /** The next GET of the CDN's sha256 `sha` sends only this many bytes, then drops the connection. */
  cutAfter: Map<string, number>;
  /** The next GET of the CDN's sha256 `sha` sends only this many bytes, then nothing more (a stalled connection, or one to interrupt). */
  hangAfter: Map<string, number>;
  /** X-Linked-Etag lies for these files (a corrupt upload, or corruption in transit). */
  wrongSha: Set<string>;
  /** The next Range GET of the CDN's sha256 `sha` is answered 206 with the whole file, its Content-Range from byte 0 (a broken proxy). */
  rangeFromStart: Set<string>;
  /** The ETag these regular files are answered with (a hub that is not one). */
  wrongEtag: Map<string, string>;
  close(): Promise<void>;
}

export const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
/** A regular file's ETag on the hub: git's blob id. */
export const gitBlobId = (bytes: Uint8Array) => createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');

export function mockRepo(files: Record<string, Uint8Array | string>, lfs: string[], commit = 'c0ffee'.padEnd(40, '0')): MockRepo {
  const map = new Map(Object.entries(files).map(([k, v]) => [k, typeof v === 'string' ? new TextEncoder().encode(v) : v]));
  return { commit, files: map, lfs: new Set(lfs) };
}

/** The headers a page may read of the hub's answers (Access-Control-Expose-Headers). */
const EXPOSED = 'X-Repo-Commit, X-Error-Code, X-Error-Message, ETag, Accept-Ranges, Content-Range, X-Linked-Size, X-Linked-ETag';

export async function startMockHub({ cors = false } = {}): Promise<MockHub> {
  const hub: Omit<MockHub, 'endpoint' | 'close'> = { repos: new Map(), renamed: new Map(), requests: [], cutAfter: new Map(), hangAfter: new Map(), wrongSha: new Set(), rangeFromStart: new Set(), wrongEtag: new Map() };
  const server: Server = createServer((req, res) => {
    if (cors) {
      res.setHeader('Access-Control-Allow-Origin', '*');
      res.setHeader('Access-Control-Expose-Headers', EXPOSED);
    }
    if (cors && req.method === 'OPTIONS') {
      const asked = req.headers['access-control-request-headers'];
      return void res.writeHead(204, { 'Access-Control-Allow-Methods': 'GET, HEAD', ...(asked && { 'Access-Control-Allow-Headers': asked }) }).end();
    }
    answer(hub, req, res, port);
  });
  await new Promise<void>((resolve) => server.listen(0, resolve)); // every interface: the hub at 127.0.0.1, its CDN at localhost (::1 too)
  const port = (server.address() as AddressInfo).port;
  return {
    ...hub,
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function answer(hub: Omit<MockHub, 'endpoint' | 'close'>, req: IncomingMessage, res: ServerResponse, port: number): void {
  const url = new URL(req.url!, 'http://x');
  hub.requests.push({ method: req.method!, url: url.pathname, host: req.headers.host!, authorization: req.headers.authorization, range: req.headers.range });
  const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(url.pathname);
  if (cdn) return sendCdn(hub, cdn[1]!, req, res);
  const api = /^\/api\/models\/(.+?)\/revision\/([^/]+)$/.exec(url.pathname);
  if (api) return sendRevision(hub, api[1]!, decodeURIComponent(api[2]!), res);
  const m = /^\/(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
  if (!m) return void res.writeHead(404).end();
  const [repoId, revision, file] = [m[1]!, decodeURIComponent(m[2]!), m[3]!.split('/').map(decodeURIComponent).join('/')];
  const moved = hub.renamed.get(repoId);
  if (moved) return void res.writeHead(307, { Location: `/${moved}/resolve/${m[2]}/${m[3]}` }).end();
  const repo = hub.repos.get(repoId);
  if (!repo) return void res.writeHead(401, { 'X-Error-Code': 'RepoNotFound', 'X-Error-Message': 'Invalid username or password.' }).end();
  if (repo.gatedToken && req.headers.authorization !== `Bearer ${repo.gatedToken}`) {
    return void res.writeHead(401, { 'X-Error-Code': 'GatedRepo', 'X-Error-Message': `Access to model ${repoId} is restricted.` }).end();
  }
  if (revision !== 'main' && revision !== repo.commit) return void res.writeHead(404, { 'X-Error-Code': 'RevisionNotFound' }).end();
  const bytes = repo.files.get(file);
  const commit = { 'X-Repo-Commit': repo.commit };
  if (!bytes) return void res.writeHead(404, { ...commit, 'X-Error-Code': 'EntryNotFound' }).end();
  if (repo.lfs.has(file)) {
    const sha = sha256(bytes);
    const linked = hub.wrongSha.has(file) ? sha256(new TextEncoder().encode('other')) : sha;
    const body = 'Found. Redirecting to the CDN';
    res.writeHead(302, { ...commit, Location: `http://localhost:${port}/cdn/${sha}`, 'X-Linked-Etag': `"${linked}"`, 'X-Linked-Size': String(bytes.length), ETag: `"${gitBlobId(bytes)}"`, 'Content-Length': body.length });
    return void res.end(req.method === 'HEAD' ? undefined : body);
  }
  res.writeHead(200, { ...commit, ETag: `"${hub.wrongEtag.get(file) ?? gitBlobId(bytes)}"`, 'Content-Length': bytes.length });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

/** The API's model info at a revision, as model_info reads it. */
function sendRevision(hub: Omit<MockHub, 'endpoint' | 'close'>, repoId: string, revision: string, res: ServerResponse): void {
  const moved = hub.renamed.get(repoId);
  if (moved) return void res.writeHead(307, { Location: `/api/models/${moved}/revision/${encodeURIComponent(revision)}` }).end();
  const repo = hub.repos.get(repoId);
  const json = { 'Content-Type': 'application/json' };
  if (!repo) return void res.writeHead(401, { ...json, 'X-Error-Code': 'RepoNotFound', 'X-Error-Message': 'Repository not found' }).end('{"error":"Repository not found"}');
  if (revision !== 'main' && revision !== repo.commit) return void res.writeHead(404, { ...json, 'X-Error-Code': 'RevisionNotFound' }).end(`{"error":"Invalid rev id: ${revision}"}`);
  const siblings = [...repo.files.keys()].map((rfilename) => ({ rfilename }));
  res.writeHead(200, json).end(JSON.stringify({ _id: 'mock', id: repoId, sha: repo.commit, siblings, gated: repo.gatedToken ? 'manual' : false }));
}

function sendCdn(hub: Omit<MockHub, 'endpoint' | 'close'>, sha: string, req: IncomingMessage, res: ServerResponse): void {
  const bytes = [...hub.repos.values()].flatMap((r) => [...r.files.values()]).find((b) => sha256(b) === sha);
  if (!bytes) return void res.writeHead(404).end();
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  const start = range && !hub.rangeFromStart.delete(sha) ? Number(range[1]) : 0;
  const end = range?.[2] ? Math.min(Number(range[2]), bytes.length - 1) : bytes.length - 1;
  const part = bytes.subarray(start, end + 1);
  res.writeHead(range ? 206 : 200, { 'Content-Length': part.length, ...(range && { 'Content-Range': `bytes ${start}-${end}/${bytes.length}` }) });
  if (req.method === 'HEAD') return void res.end();
  const hang = hub.hangAfter.get(sha);
  if (hang !== undefined) {
    hub.hangAfter.delete(sha);
    return void res.write(part.subarray(0, hang));
  }
  const cut = hub.cutAfter.get(sha);
  if (cut === undefined) return void res.end(part);
  hub.cutAfter.delete(sha);
  // the headers promised the whole file: the connection drops mid-body
  res.write(part.subarray(0, cut), () => res.destroy());
}
