// The page's opening of a model on the Hugging Face hub by its id (src/web/hub-source.ts), in Node
// against the mock hub (test/hub-mock.ts) through a fetch that answers as a browser's does to a
// page of another origin: redirects followed (their headers unseen), an answer without
// Access-Control-Allow-Origin a bare TypeError, only the headers the hub exposes readable. The
// revision is pinned to its commit by the API before any file is asked for, config.json comes
// before any weights, the weights are read a range per tensor at the commit's URL (never `main`,
// never whole), and each refusal is one line: no such model, a revision it lacks, gated (a page
// holds no token), not GPT-2, no config, no weights, a bad shard index, no answer (network or CORS).
// Loaded by the page's Session (in Node, on the device): a model split into 3 shards, or saved by
// torch.save (pytorch_model.bin, or its shards), gives the logits of its single model.safetensors
// bit for bit (and float64 GPT-2's within 1e-4), each shard's header read once and each tensor a
// range of its shard, the progress counted over all the shards; a shard that is missing, misplaced
// by the index, or of a wrong dtype or shape is one line naming the file; a page whose training
// steps are not saved is asked about them only once the id, config.json and the index passed.
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { HFWeightsSource } from '../src/gpt/hf/index.js';
import { isMaskBuffer } from '../src/gpt/hf/weights.js';
import { parseSafetensors, serializeSafetensors, type SafetensorsTensor } from '../src/io/safetensors.js';
import { countingReads, openSafetensors } from '../src/io/safetensors-source.js';
import { hubEndpoint, hubModelName, openHubModel, readHubModel } from '../src/web/hub-source.js';
import { Session } from '../src/web/session.js';
import { readUrl } from '../src/web/url-source.js';
import { tempDir } from './cli-helpers.js';
import { setupDevice } from './helpers.js';
import { gpt2Config, gpt2Logits, miniGpt2Tokenizer, randomGPT2, writeGPT2Dir } from './hf-reference.js';
import { mockRepo, startMockHub, type MockHub } from './hub-mock.js';
import { torchSave, type TorchValue } from './torch-writer.js';

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
    expect(model).toMatchObject({ repo: 'org/tiny', commit, files: { config: text(files['config.json']!), tokenizer: text(files['tokenizer.json']!) } });
    expect(paths()).toEqual(['/api/models/tiny/revision/main', `/org/tiny/resolve/${commit}/config.json`, `/org/tiny/resolve/${commit}/tokenizer.json`]);
    const weightsUrl = `${hub.endpoint}/org/tiny/resolve/${commit}/model.safetensors`;
    expect(model.weights).toEqual([{ file: 'model.safetensors', url: weightsUrl }]);
    sent.length = 0;
    const tensors = await readUrl(weightsUrl, async (source) => (await openSafetensors(source)).readTensors(), { fetcher: browserFetch(sent), immutable: true });
    const whole = parseSafetensors(files['model.safetensors']!).tensors;
    expect(Object.keys(tensors).sort()).toEqual(Object.keys(whole).sort());
    for (const [name, t] of Object.entries(whole)) expect(Buffer.from(tensors[name]!.data.buffer, tensors[name]!.data.byteOffset, tensors[name]!.data.byteLength).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), name).toBe(true);
    // its first byte, the header's length, the header, then one range per tensor with bytes: every one a Range at the commit's URL
    const withBytes = Object.values(whole).filter((t) => t.data.byteLength > 0).length;
    expect(sent).toHaveLength(3 + withBytes);
    // (a URL at a commit never changes: no ETag to pin the ranges to, none sent)
    expect(sent.every((r) => r.url === weightsUrl && /^bytes=\d+-\d+$/.test(r.range ?? '') && r.ifMatch === null)).toBe(true);
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
    expect(model.files).toEqual({ config: text(pairFiles['config.json']!), vocab: text(pairFiles['vocab.json']!), merges: text(pairFiles['merges.txt']!) });
    expect(paths()[0]).toBe(`/api/models/org/pair/revision/${repo.commit}`);
  });

  it('refuses, in one line each: not an id, no such model, a revision it lacks, gated (a page holds no token), no config, not GPT-2 (before any weights), no weights, an index that names no shard', async () => {
    expect(await refusal('a/b/c')).toBe("'a/b/c': not a Hugging Face model id ([org/]name[@revision], e.g. gpt2 or openai-community/gpt2@main) nor a model's page (https://huggingface.co/[org/]name)");
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
    // an index that names no shard (read as the CLI reads it)
    hub.repos.set('org/sharded', mockRepo({ ...noWeights, 'model.safetensors.index.json': '{}' }, []));
    expect(await refusal('org/sharded')).toBe('org/sharded/model.safetensors.index.json: expected an object whose weight_map maps tensor names to shard files, got weight_map undefined');
  });

  it("takes a model's page as pasted from the address bar (the hub's, or the mirror's): its repo, at the revision the URL names; a dataset's, a Space's, a folder's or another site's page is one line", async () => {
    const HF = 'https://huggingface.co';
    const pasted: [string, string][] = [
      ['https://huggingface.co/gpt2', 'gpt2'],
      ['https://huggingface.co/openai-community/gpt2', 'openai-community/gpt2'],
      ['https://huggingface.co/openai-community/gpt2/tree/main', 'openai-community/gpt2@main'],
      ['https://huggingface.co/gpt2/tree/main', 'gpt2@main'],
      ['https://huggingface.co/openai-community/gpt2/blob/607a30d783dfa663caf39e06633721c8d4cfcd7e/config.json', 'openai-community/gpt2@607a30d783dfa663caf39e06633721c8d4cfcd7e'],
      ['https://huggingface.co/openai-community/gpt2/tree/refs%2Fpr%2F1', 'openai-community/gpt2@refs/pr/1'],
      ['https://huggingface.co/openai-community/gpt2/commit/607a30d783dfa663caf39e06633721c8d4cfcd7e', 'openai-community/gpt2@607a30d783dfa663caf39e06633721c8d4cfcd7e'],
      ['https://huggingface.co/openai-community/gpt2?library=transformers#files', 'openai-community/gpt2'],
      ['https://www.huggingface.co/distilgpt2/', 'distilgpt2'],
      ['https://hf.co/openai-community/gpt2', 'openai-community/gpt2'],
      ['https://huggingface.co/gpt2/discussions', 'gpt2'],
      ['https://huggingface.co/openai-community/gpt2/discussions/3', 'openai-community/gpt2'],
      ['huggingface.co/openai-community/gpt2', 'openai-community/gpt2'],
      ['gpt2', 'gpt2'],
      ['openai-community/gpt2@main', 'openai-community/gpt2@main'],
    ];
    for (const [value, name] of pasted) expect(hubModelName(value, HF), value).toBe(name);
    const refused = (value: string) => {
      try {
        hubModelName(value, HF);
      } catch (e) {
        return (e as Error).message;
      }
      return null;
    };
    expect(refused('https://huggingface.co/datasets/karpathy/tiny_shakespeare')).toBe("'https://huggingface.co/datasets/karpathy/tiny_shakespeare': a dataset's page on the Hugging Face hub, not a model's: the page opens a GPT-2 model (https://huggingface.co/[org/]name)");
    expect(refused('https://huggingface.co/models')).toMatch(/^'https:\/\/huggingface\.co\/models': the model list's page on the Hugging Face hub, not a model's/);
    expect(refused('https://huggingface.co/spaces/org/demo')).toMatch(/^'https:\/\/huggingface\.co\/spaces\/org\/demo': a Space's page on the Hugging Face hub, not a model's/);
    expect(refused('https://huggingface.co/org/models/tree/main/small')).toBe("'https://huggingface.co/org/models/tree/main/small': the folder small of a model's repo: the page opens the model at a repo's top (https://huggingface.co/[org/]name/tree/revision)");
    for (const other of ['https://github.com/openai/gpt-2', 'https://huggingface.co/', 'https://huggingface.co/org/na--me', 'https://huggingface.co/org/%E0%A4%A']) {
      expect(refused(other), other).toBe(`'${other}': not a Hugging Face model's page (https://huggingface.co/[org/]name, or its /tree/revision)`);
    }
    // the mirror the page reads from (?hub=): its own pages' URLs, opened there
    const model = await open(`${hub.endpoint}/org/tiny/tree/main`);
    expect(model.repo).toBe('org/tiny');
    expect(paths()[0]).toBe('/api/models/org/tiny/revision/main');
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

describe("the page's ?hub= (a mirror its URL names)", () => {
  it('is an http(s) URL, its trailing slash dropped as gpt drops HF_ENDPOINT\'s; anything else is one line naming ?hub=, not a 404 from the page\'s own server blamed on the model', async () => {
    expect(hubEndpoint(null)).toBe('https://huggingface.co');
    expect(hubEndpoint('')).toBe('https://huggingface.co');
    expect(hubEndpoint('https://hf-mirror.example/')).toBe('https://hf-mirror.example');
    expect((await open('org/tiny', hubEndpoint(`${hub.endpoint}/`))).repo).toBe('org/tiny');
    for (const given of ['notaurl', '/local/mirror', 'ftp://mirror.example', 'javascript:alert(1)', 'huggingface.co']) {
      expect(() => hubEndpoint(given), given).toThrow(new Error(`?hub=${given}: not an http(s) URL; the page's address names a Hugging Face hub mirror as ?hub=https://host, or leaves it out for https://huggingface.co`));
    }
  });
});

describe('a model on the hub loaded by the page (its Session, here in Node): sharded, or torch.save\'s', () => {
  const params = randomGPT2(5); // the weights of `files`' model.safetensors
  const prompt = 'the model reads';
  /** A model's files as writeGPT2Dir writes them with `opts` (`shards` and all). */
  const written = (name: string, opts: Parameters<typeof writeGPT2Dir>[2]) => {
    const local = tempDir(`web-hub-${name}`);
    writeGPT2Dir(local, params, opts);
    return Object.fromEntries(readdirSync(local).map((f) => [f, new Uint8Array(readFileSync(join(local, f)))]));
  };
  const sharded = written('sharded', { prefix: true, head: false, shards: 3 });
  const shardNames = Object.keys(sharded).filter((f) => /^model-\d{5}-of-00003\.safetensors$/.test(f)).sort();
  /** A repo of `repoFiles`, its weights files in LFS (served by the CDN, by range). */
  const put = (repo: string, repoFiles: Record<string, Uint8Array | string>) => hub.repos.set(repo, mockRepo(repoFiles, Object.keys(repoFiles).filter((f) => /\.(safetensors|bin)$/.test(f))));
  /** One of the shards rewritten with `edit` applied to its tensors. */
  const editedShard = (file: string, edit: (t: Record<string, SafetensorsTensor>) => void) => {
    const { tensors, metadata } = parseSafetensors(sharded[file]!);
    edit(tensors);
    return { ...sharded, [file]: serializeSafetensors(tensors, metadata) };
  };
  /** Each read of the weights' progress: bytes read of all the files, and their total (the page's model line shows these). */
  let progress: [number, number][];
  /** The paths asked for as the model was opened (before its weights were read). */
  let opening: string[];

  /** The model `value` names, opened and loaded as the page's Load does (readHubModel, Session.loadHF), its reads counted as the page counts them. */
  async function load(session: Session, value: string) {
    const model = await open(value);
    opening = paths();
    progress = [];
    sent.length = 0;
    await readHubModel(model, (f) => session.loadHF({ ...f, weights: countingWeights(f.weights) }, value), { fetcher: browserFetch(sent) });
    return model;
  }
  const countingWeights = (weights: HFWeightsSource[]) => {
    const counted = countingReads(weights.map((w) => w.source), (done, total) => progress.push([done, total]));
    return weights.map((w, i) => ({ ...w, source: counted[i]! }));
  };
  const loadError = async (session: Session, value: string) => {
    const e = await load(session, value).then(() => null, (err: Error) => err);
    expect(e, `${value} loaded`).not.toBeNull();
    expect(e!.message).not.toContain('\n');
    return e!.message;
  };

  let single: Float32Array; // the logits of the model loaded from one model.safetensors
  beforeAll(async () => {
    await setupDevice();
    hub.repos.set('org/tiny', mockRepo(files, ['model.safetensors']));
    const session = new Session();
    await load(session, 'org/tiny');
    single = await session.logits(prompt);
    session.dispose();
    // float64 GPT-2 on the same weights (read as stored, no conversion shared with the loader)
    const want = gpt2Logits(params, miniGpt2Tokenizer().encode(prompt)).at(-1)!;
    expect(Math.max(...want.map((w, i) => Math.abs(single[i]! - w)))).toBeLessThan(1e-4);
  });

  it("sharded (3 files): its index after config.json, each shard's header read once and each tensor one range of its shard; logits bit for bit the single file's; progress over all the shards' bytes", async () => {
    put('org/sharded', sharded);
    const { commit } = hub.repos.get('org/sharded')!;
    const session = new Session();
    const model = await load(session, 'org/sharded');
    const url = (file: string) => `${hub.endpoint}/org/sharded/resolve/${commit}/${file}`;
    expect(model.weights).toEqual(shardNames.map((file) => ({ file, url: url(file) })));
    expect(model.files.index?.file).toBe('model.safetensors.index.json');
    expect(opening).toEqual(['/api/models/org/sharded/revision/main', ...['config.json', 'model.safetensors.index.json', 'tokenizer.json'].map((f) => new URL(url(f)).pathname)]);
    expect(Array.from(await session.logits(prompt))).toEqual(Array.from(single));
    // per shard: its first byte (its size), the header's length, the header, then a range per tensor (the causal-mask buffers unread)
    for (const file of shardNames) {
      const tensors = Object.keys(parseSafetensors(sharded[file]!).tensors).filter((name) => !isMaskBuffer(name));
      const asked = sent.filter((r) => r.url === url(file));
      expect(asked.length, file).toBe(3 + tensors.length);
      expect(asked.every((r) => /^bytes=\d+-\d+$/.test(r.range ?? '')), file).toBe(true);
    }
    expect(sent.every((r) => shardNames.some((f) => r.url === url(f)))).toBe(true);
    // the progress: bytes read of the three shards' total, each read counted once
    const total = shardNames.reduce((n, f) => n + sharded[f]!.length, 0);
    expect(new Set(progress.map(([, t]) => t))).toEqual(new Set([total]));
    const fetched = hub.requests.filter((r) => r.url.startsWith('/cdn/') && r.range).slice(-sent.length);
    const bytes = fetched.reduce((n, r) => n + rangeLength(r.range!), 0) - shardNames.length; // less each shard's first byte (its size, not read for the model)
    expect(progress.at(-1)![0]).toBe(bytes);
    expect(progress.map(([d]) => d)).toEqual([...progress.map(([d]) => d)].sort((a, b) => a - b));
    session.dispose();
  });

  it('pytorch_model.bin alone, or its shards (pytorch_model.bin.index.json): read a range per tensor too, the same logits bit for bit', async () => {
    const { 'model.safetensors': _, ...rest } = files;
    const state = new Map([...params].map(([name, t]) => [`transformer.${name}`, t] as [string, TorchValue]));
    put('org/torch', { ...rest, 'pytorch_model.bin': torchSave(state) });
    const names = [...state.keys()];
    const half = (i: number) => new Map(names.filter((_, j) => j % 2 === i).map((n) => [n, state.get(n)!]));
    const shard = (i: number) => `pytorch_model-0000${i + 1}-of-00002.bin`;
    const weightMap = Object.fromEntries(names.map((n, j) => [n, shard(j % 2)]));
    put('org/torch-sharded', { ...rest, [shard(0)]: torchSave(half(0)), [shard(1)]: torchSave(half(1)), 'pytorch_model.bin.index.json': JSON.stringify({ metadata: {}, weight_map: weightMap }) });
    for (const [repo, weightsFiles] of [['org/torch', ['pytorch_model.bin']], ['org/torch-sharded', [shard(0), shard(1)]]] as const) {
      const session = new Session();
      const model = await load(session, repo);
      expect(model.weights.map((w) => w.file), repo).toEqual(weightsFiles);
      expect(Array.from(await session.logits(prompt)), repo).toEqual(Array.from(single));
      // never a weights file whole: a Range each request
      expect(sent.every((r) => /^bytes=\d+-\d+$/.test(r.range ?? '')), repo).toBe(true);
      expect(sent.length, repo).toBeGreaterThan(names.length);
      session.dispose();
    }
  });

  it("asks before it replaces training steps not saved only once the id, config.json and the shard index passed: a refused model asks nothing; declined, only each shard's first byte (its size) was read", async () => {
    const asked: number[] = [];
    const session = new Session((step) => (asked.push(step), false));
    const text = 'some english text.\n'.repeat(20);
    session.newModel(text, { nLayer: 1, nHead: 2, nEmbd: 16, blockSize: 16 }, { batchSize: 2 });
    await session.trainStep(session.trainerFor(text));
    const { [shardNames[0]!]: _, ...lacking } = sharded;
    put('org/lacking', lacking);
    hub.repos.set('org/bert', mockRepo({ ...files, 'config.json': JSON.stringify(gpt2Config({ model_type: 'bert' })) }, ['model.safetensors']));
    for (const value of ['a/b/c', 'org/none', 'org/bert', 'org/lacking']) await expect(load(session, value), value).rejects.toThrow(new RegExp(`^'?${value}`));
    expect(asked, 'refused before asking').toEqual([]);
    put('org/sharded', sharded);
    await expect(load(session, 'org/sharded')).rejects.toThrow(/^the model on the page is kept, with its training steps not saved$/);
    expect(asked).toEqual([1]);
    expect(sent.map((r) => r.range)).toEqual(shardNames.map(() => 'bytes=0-0'));
    expect([session.source, session.summary().step]).toEqual(['new model', 1]);
    session.dispose();
  });

  it('refuses in one line naming the file, the model before it kept: a shard the repo lacks (before any weights), a tensor the index places in a shard without it (from the headers alone), a wrong dtype or shape in a shard', async () => {
    const session = new Session();
    await load(session, 'org/tiny');
    const wte = 'transformer.wte.weight';
    const index = JSON.parse(text(sharded['model.safetensors.index.json']!)) as { weight_map: Record<string, string> };
    const withMap = (edit: (map: Record<string, string>) => void) => {
      const map = { ...index.weight_map };
      edit(map);
      return { ...sharded, 'model.safetensors.index.json': JSON.stringify({ ...index, weight_map: map }) };
    };
    const { [shardNames[2]!]: _, ...lacking } = sharded;
    put('org/lacking', lacking);
    sent.length = 0;
    expect(await refusal('org/lacking')).toBe(`org/lacking: org/lacking on the Hugging Face hub has no ${shardNames[2]} at main (a shard model.safetensors.index.json names)`);
    expect(sent.some((r) => r.url.endsWith('.safetensors')), 'no weights asked for').toBe(false);
    const other = shardNames.find((f) => f !== index.weight_map[wte])!;
    put('org/misplaced', withMap((m) => void (m[wte] = other)));
    expect(await loadError(session, 'org/misplaced')).toBe(`org/misplaced/model.safetensors.index.json: weight_map places '${wte}' in ${other}, which does not hold it`);
    expect(sent.filter((r) => r.url.endsWith('.safetensors')), 'the headers alone').toHaveLength(3 * shardNames.length);
    const holder = (name: string) => index.weight_map[name]!;
    const bias = 'transformer.h.0.ln_1.bias';
    put('org/dtype', editedShard(holder(bias), (t) => void (t[bias] = { dtype: 'I32', shape: t[bias]!.shape, data: new Int32Array(t[bias]!.data.length) })));
    expect(await loadError(session, 'org/dtype')).toBe(`org/dtype/${holder(bias)}: tensor '${bias}' has dtype I32, expected a float type`);
    const fc = 'transformer.h.1.mlp.c_fc.weight';
    put('org/shape', editedShard(holder(fc), (t) => void (t[fc] = { ...t[fc]!, shape: [...t[fc]!.shape].reverse() })));
    expect(await loadError(session, 'org/shape')).toBe(`org/shape/${holder(fc)}: GPT-2's h.1.mlp.c_fc.weight has shape [96, 24], where config.json's n_embd 24 gives it [24, 96]`);
    // refused once all was read, not read again for its error
    const tensors = shardNames.reduce((n, f) => n + Object.keys(parseSafetensors(sharded[f]!).tensors).filter((name) => !isMaskBuffer(name)).length, 0);
    expect(sent).toHaveLength(3 * shardNames.length + tensors);
    expect(session.source).toBe('org/tiny');
    expect(Array.from(await session.logits(prompt))).toEqual(Array.from(single));
    session.dispose();
  });
});

/** The bytes a Range header `bytes=a-b` asks for. */
const rangeLength = (range: string) => {
  const [a, b] = range.slice('bytes='.length).split('-').map(Number);
  return b! - a! + 1;
};
