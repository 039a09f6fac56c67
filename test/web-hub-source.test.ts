// The page's opening of a model on the Hugging Face hub by its id (src/web/hub-source.ts), in Node
// against the mock hub (test/hub-mock.ts) through a fetch that answers as a browser's does to a
// page of another origin: redirects followed (their headers unseen), an answer without
// Access-Control-Allow-Origin a bare TypeError, only the headers the hub exposes readable. The
// revision is pinned to its commit by the API before any file is asked for, config.json comes
// before any weights, the weights are read a range per tensor at the commit's URL (never `main`,
// never whole), and each refusal is one line: no such model, a revision it lacks, gated (a page
// holds no token), not GPT-2, no config, no weights, sharded, no answer (network or CORS).
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseSafetensors } from '../src/io/safetensors.js';
import { openSafetensors } from '../src/io/safetensors-source.js';
import { openHubModel } from '../src/web/hub-source.js';
import { readUrl } from '../src/web/url-source.js';
import { tempDir } from './cli-helpers.js';
import { gpt2Config, randomGPT2, writeGPT2Dir } from './hf-reference.js';
import { mockRepo, startMockHub, type MockHub } from './hub-mock.js';

type Fetch = (url: string, init: RequestInit) => Promise<Response>;
interface Sent {
  url: string;
  range: string | null;
  ifMatch: string | null;
}

/** Response headers a page reads of any answer (the Fetch standard's CORS-safelisted ones). */
const SAFELISTED = ['cache-control', 'content-language', 'content-length', 'content-type', 'expires', 'last-modified', 'pragma'];

/** Node's fetch as a page of another origin sees it: no CORS allowance, no answer; else only the safelisted and exposed headers. Each request's URL and Range recorded. */
function browserFetch(sent: Sent[]): Fetch {
  return async (url, init) => {
    const asked = new Headers(init.headers);
    sent.push({ url, range: asked.get('Range'), ifMatch: asked.get('If-Match') });
    const res = await fetch(url, init);
    if (res.headers.get('Access-Control-Allow-Origin') !== '*') {
      await res.body?.cancel();
      throw new TypeError('Failed to fetch');
    }
    const exposed = (res.headers.get('Access-Control-Expose-Headers') ?? '').split(',').map((h) => h.trim().toLowerCase());
    const headers = new Headers([...(res.headers as unknown as Iterable<[string, string]>)].filter(([name]) => SAFELISTED.includes(name) || exposed.includes(name)));
    return new Response(res.body, { status: res.status, headers });
  };
}

let hub: MockHub;
let files: Record<string, Uint8Array>;
let sent: Sent[];

beforeAll(async () => {
  const local = tempDir('web-hub-local');
  writeGPT2Dir(local, randomGPT2(5), { prefix: true, head: false });
  files = Object.fromEntries(readdirSync(local).map((f) => [f, readFileSync(join(local, f))]));
  hub = await startMockHub({ cors: true });
});
afterAll(() => hub.close());
beforeEach(() => {
  hub.repos.clear();
  hub.renamed.clear();
  sent = [];
  hub.repos.set('org/tiny', mockRepo(files, ['model.safetensors']));
});

const open = (value: string, endpoint = hub.endpoint) => openHubModel(value, endpoint, { fetcher: browserFetch(sent) });

async function refusal(value: string, endpoint = hub.endpoint): Promise<string> {
  const e = await open(value, endpoint).then(
    () => null,
    (err: Error) => err,
  );
  expect(e, `${value} opened`).not.toBeNull();
  expect(e!.message).not.toContain('\n');
  return e!.message;
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const paths = () => sent.map((r) => new URL(r.url).pathname);

describe('a model on the Hugging Face hub, opened by the page', () => {
  it('pins the revision to its commit first, then reads config.json, the tokenizer, and the weights a range per tensor at the commit', async () => {
    hub.renamed.set('tiny', 'org/tiny'); // as gpt2 is now openai-community/gpt2
    const { commit } = hub.repos.get('org/tiny')!;
    const model = await open('tiny');
    expect(model).toMatchObject({ repo: 'org/tiny', commit, files: { config: text(files['config.json']!), tokenizer: text(files['tokenizer.json']!), weightsFile: 'model.safetensors' } });
    expect(paths()).toEqual(['/api/models/tiny/revision/main', `/org/tiny/resolve/${commit}/config.json`, `/org/tiny/resolve/${commit}/tokenizer.json`]);
    expect(model.weightsUrl).toBe(`${hub.endpoint}/org/tiny/resolve/${commit}/model.safetensors`);
    sent.length = 0;
    const tensors = await readUrl(model.weightsUrl, async (source) => (await openSafetensors(source)).readTensors(), { fetcher: browserFetch(sent), immutable: true });
    const whole = parseSafetensors(files['model.safetensors']!).tensors;
    expect(Object.keys(tensors).sort()).toEqual(Object.keys(whole).sort());
    for (const [name, t] of Object.entries(whole)) expect(Buffer.from(tensors[name]!.data.buffer, tensors[name]!.data.byteOffset, tensors[name]!.data.byteLength).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), name).toBe(true);
    // its first byte, the header's length, the header, then one range per tensor with bytes: every one a Range at the commit's URL
    const withBytes = Object.values(whole).filter((t) => t.data.byteLength > 0).length;
    expect(sent).toHaveLength(3 + withBytes);
    // (a URL at a commit never changes: no ETag to pin the ranges to, none sent)
    expect(sent.every((r) => r.url === model.weightsUrl && /^bytes=\d+-\d+$/.test(r.range ?? '') && r.ifMatch === null)).toBe(true);
    // each followed to the CDN, which sent the range alone: never the whole file
    const cdn = hub.requests.filter((r) => r.url.startsWith('/cdn/'));
    expect(cdn).toHaveLength(sent.length);
    expect(cdn.every((r) => r.range && r.range !== 'bytes=0-')).toBe(true);
  });

  it('takes a revision by name or by commit; GPT-2\'s own vocab.json + merges.txt where there is no tokenizer.json', async () => {
    const pair = tempDir('web-hub-pair');
    writeGPT2Dir(pair, randomGPT2(5), { prefix: true, head: false, tokenizer: 'vocab+merges' });
    const pairFiles = Object.fromEntries(readdirSync(pair).map((f) => [f, readFileSync(join(pair, f))]));
    const repo = mockRepo(pairFiles, ['model.safetensors'], 'b'.repeat(40));
    hub.repos.set('org/pair', repo);
    const model = await open(`org/pair@${repo.commit}`);
    expect(model.files).toEqual({ config: text(pairFiles['config.json']!), vocab: text(pairFiles['vocab.json']!), merges: text(pairFiles['merges.txt']!), weightsFile: 'model.safetensors' });
    expect(paths()[0]).toBe(`/api/models/org/pair/revision/${repo.commit}`);
  });

  it('refuses, in one line each: not an id, no such model, a revision it lacks, gated (a page holds no token), no config, not GPT-2 (before any weights), no weights, sharded', async () => {
    expect(await refusal('a/b/c')).toBe("'a/b/c': not a Hugging Face model id ([org/]name[@revision], e.g. gpt2 or openai-community/gpt2@main)");
    expect(await refusal('')).toMatch(/^an empty id: not a Hugging Face model id/);
    expect(sent).toEqual([]);
    expect(await refusal('org/none')).toBe(`org/none: the Hugging Face hub (${hub.endpoint}) has no model org/none, or it is private (this page cannot hold a token: download its files with one that may read them (\`huggingface-cli download org/none\`) and open them here with Open a checkpoint…)`);
    expect(await refusal('org/tiny@v9')).toBe('org/tiny@v9: org/tiny on the Hugging Face hub has no revision v9');
    hub.repos.set('org/gated', { ...mockRepo(files, ['model.safetensors']), gatedToken: 'secret' });
    sent.length = 0;
    expect(await refusal('org/gated')).toMatch(new RegExp(`^org/gated: org/gated is gated on the Hugging Face hub: accept its terms at ${hub.endpoint}/org/gated and this page cannot hold a token: download its files`));
    expect(paths(), 'no file asked for').toEqual(['/api/models/org/gated/revision/main']);
    const { 'config.json': _, ...noConfig } = files;
    hub.repos.set('org/no-config', mockRepo(noConfig, ['model.safetensors']));
    expect(await refusal('org/no-config')).toBe('org/no-config: org/no-config on the Hugging Face hub has no config.json: not a transformers model');
    hub.repos.set('org/bert', mockRepo({ ...files, 'config.json': JSON.stringify(gpt2Config({ model_type: 'bert' })) }, ['model.safetensors']));
    sent.length = 0;
    expect(await refusal('org/bert')).toBe('org/bert/config.json: model_type "bert" is not supported (only "gpt2")');
    expect(paths().some((p) => p.endsWith('.safetensors')), 'no weights asked for').toBe(false);
    const { 'model.safetensors': __, ...noWeights } = files;
    hub.repos.set('org/config-only', mockRepo(noWeights, []));
    expect(await refusal('org/config-only')).toBe("org/config-only: the Hugging Face hub's org/config-only has no model.safetensors (nor model.safetensors.index.json, pytorch_model.bin, pytorch_model.bin.index.json): no GPT-2 weights transformers reads");
    hub.repos.set('org/sharded', mockRepo({ ...noWeights, 'model.safetensors.index.json': '{}' }, []));
    expect(await refusal('org/sharded')).toBe('org/sharded: its weights are sharded (model.safetensors.index.json), which the page does not read: the CLI does (`gpt sample --init-from org/sharded`)');
  });

  it('no answer (the network down, or a hub that does not allow this page by CORS) is one line naming the hub', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const down = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await new Promise((resolve) => server.close(resolve));
    expect(await refusal('gpt2', down)).toMatch(new RegExp(`^gpt2: no answer from the Hugging Face hub at ${down} \\(fetch failed\\): is this browser online\\? A hub of another address \\(a mirror\\) must allow this page's origin by CORS$`));
    const noCors = await startMockHub();
    try {
      noCors.repos.set('org/tiny', mockRepo(files, ['model.safetensors']));
      expect(await refusal('org/tiny', noCors.endpoint)).toBe(`org/tiny: no answer from the Hugging Face hub at ${noCors.endpoint} (Failed to fetch): is this browser online? A hub of another address (a mirror) must allow this page's origin by CORS`);
    } finally {
      await noCors.close();
    }
  });
});
