// `--init-from gpt2`: a model fetched from the Hugging Face hub into the hub's own cache, against
// a mock hub that answers as huggingface.co does (test/hub-mock.ts): the files land where
// huggingface_hub puts them (blobs, snapshots' relative links, refs), a cache Python laid out is
// used with no request, a cut download resumes with Range, a corrupt one is refused, and the
// hub's refusals are one line each.
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { DownloadProgress } from '../src/cli/hub-flags.js';
import { loadCheckpoint } from '../src/node/checkpoint-dir.js';
import { hubFileURL, parseHubId } from '../src/gpt/hf/hub.js';
import { hubSettings, hubSnapshot, PEFT_ADAPTER_FILES } from '../src/node/hub-cache.js';
import { gpt, spawnGpt, tempDir } from './cli-helpers.js';
import { parseSafetensors, serializeSafetensors } from '../src/io/safetensors.js';
import { gpt2Config, miniGpt2Tokenizer, randomGPT2, writeGPT2Dir } from './hf-reference.js';
import { gitBlobId, mockRepo, sha256, startMockHub, type MockHub } from './hub-mock.js';

const ENV = ['HF_ENDPOINT', 'HF_HUB_CACHE', 'HF_HOME', 'HF_TOKEN', 'HF_HUB_OFFLINE', 'HUGGING_FACE_HUB_TOKEN', 'HUGGINGFACE_HUB_CACHE', 'TRANSFORMERS_OFFLINE', 'HF_TOKEN_PATH', 'HF_HUB_DISABLE_IMPLICIT_TOKEN'];
const saved = Object.fromEntries(ENV.map((k) => [k, process.env[k]]));

let hub: MockHub;
let cache: string;
/** The tiny GPT-2 directory transformers would save, the reference the downloads are compared with. */
let local: string;
let files: Record<string, Uint8Array>;

beforeAll(async () => {
  local = tempDir('hub-local');
  writeGPT2Dir(local, randomGPT2(3), { prefix: true, head: false });
  files = Object.fromEntries(readdirSync(local).map((f) => [f, readFileSync(join(local, f))]));
  hub = await startMockHub();
});
afterAll(async () => {
  await hub.close();
  for (const k of ENV) if (saved[k] === undefined) delete process.env[k];
  else process.env[k] = saved[k];
});

beforeEach(() => {
  cache = tempDir('hub-cache');
  for (const k of ENV) delete process.env[k];
  process.env.HF_ENDPOINT = hub.endpoint;
  process.env.HF_HUB_CACHE = cache;
  process.env.HF_HOME = tempDir('hf-home'); // no token file of the machine's
  hub.repos.clear();
  hub.renamed.clear();
  hub.requests.length = 0;
  hub.repos.set('org/tiny', mockRepo(files, ['model.safetensors']));
});
afterEach(() => {
  hub.cutAfter.clear();
  hub.hangAfter.clear();
  hub.wrongSha.clear();
  hub.rangeFromStart.clear();
  hub.wrongEtag.clear();
});

/** An endpoint where nothing listens: a port just freed. */
async function closedEndpoint(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

const repoDir = (repo: string) => join(cache, `models--${repo.replace('/', '--')}`);
const tiny = () => hub.repos.get('org/tiny')!;
const weightsSha = () => sha256(files['model.safetensors']!);

async function expectSameCheckpoint(path: string) {
  const [got, want] = [await loadCheckpoint(path), await loadCheckpoint(local)];
  expect(got.meta).toEqual(want.meta);
  expect([...got.weights.keys()].sort()).toEqual([...want.weights.keys()].sort());
  for (const [name, w] of want.weights) {
    expect(got.weights.get(name)!.shape, name).toEqual(w.shape);
    expect(Buffer.from(got.weights.get(name)!.data.buffer).equals(Buffer.from(w.data.buffer)), name).toBe(true);
  }
}

async function refusal(value: string): Promise<string> {
  const e = await loadCheckpoint(value).then(
    () => null,
    (err: Error) => err,
  );
  expect(e, `${value} loaded`).not.toBeNull();
  expect(e!.message).not.toContain('\n');
  return e!.message;
}

describe('a Hugging Face model id', () => {
  it("takes huggingface_hub's repo ids (validate_repo_id), with an optional @revision", () => {
    for (const id of ['gpt2', 'gpt2-medium', 'openai-community/gpt2', 'user/repo', 'a', 'my_org/model.v2', 'x/y-z_1']) expect(parseHubId(id), id).toEqual({ repo: id, revision: 'main' });
    expect(parseHubId('openai-community/gpt2@607a30d783dfa663caf39e06633721c8d4cfcd7e')).toEqual({ repo: 'openai-community/gpt2', revision: '607a30d783dfa663caf39e06633721c8d4cfcd7e' });
    expect(parseHubId('org/m@refs/pr/1')).toEqual({ repo: 'org/m', revision: 'refs/pr/1' });
    // paths, and what validate_repo_id refuses: three parts, a leading or trailing '-' or '.', '--', '..', .git, 97 characters
    for (const value of ['./out', '/abs/dir', 'a/b/c', 'out/', '-x', 'x-', '.x', 'x.', 'a--b', 'a..b', 'repo.git', 'x'.repeat(97), 'org/m@', 'org/m@../x', '']) expect(parseHubId(value), value).toBeNull();
  });

  it("resolves as hf_hub_url does: the revision quoted whole, the file's path by segment", () => {
    expect(hubFileURL('https://huggingface.co/', 'org/m', 'refs/pr/1', 'sub dir/model.safetensors')).toBe('https://huggingface.co/org/m/resolve/refs%2Fpr%2F1/sub%20dir/model.safetensors');
  });
});

describe('a peft adapter on the Hugging Face hub', () => {
  const config = '{"peft_type": "LORA"}';
  const fetched = (dir: string) => readdirSync(dir).sort();
  it('fetches adapter_config.json and adapter_model.safetensors, else adapter_model.bin, as peft prefers them', async () => {
    hub.repos.set('user/both', mockRepo({ 'adapter_config.json': config, 'adapter_model.safetensors': 'st', 'adapter_model.bin': 'pt', 'README.md': 'r' }, ['adapter_model.safetensors', 'adapter_model.bin']));
    hub.repos.set('user/old', mockRepo({ 'adapter_config.json': config, 'adapter_model.bin': 'pt' }, ['adapter_model.bin']));
    expect(fetched(await hubSnapshot('user/both', {}, PEFT_ADAPTER_FILES))).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const old = await hubSnapshot('user/old', {}, PEFT_ADAPTER_FILES);
    expect(fetched(old)).toEqual(['adapter_config.json', 'adapter_model.bin']);
    expect(readFileSync(join(old, 'adapter_model.bin'), 'utf8')).toBe('pt');
    // cached complete: offline finds it with no request
    process.env.HF_HUB_OFFLINE = '1';
    hub.requests.length = 0;
    expect(await hubSnapshot('user/old', {}, PEFT_ADAPTER_FILES)).toBe(old);
    expect(hub.requests).toEqual([]);
  });

  it('a repo with the config but no weights is refused before anything is downloaded', async () => {
    hub.repos.set('user/no-weights', mockRepo({ 'adapter_config.json': config }, []));
    await expect(hubSnapshot('user/no-weights', {}, PEFT_ADAPTER_FILES)).rejects.toThrow(/^user\/no-weights: user\/no-weights on the Hugging Face hub has no adapter_model\.safetensors nor adapter_model\.bin/);
    expect(existsSync(join(repoDir('user/no-weights'), 'blobs'))).toBe(false);
  });
});

describe('a model on the Hugging Face hub', () => {
  it("is downloaded into huggingface_hub's layout and loads as the directory it came from", async () => {
    await expectSameCheckpoint('org/tiny');
    const dir = repoDir('org/tiny');
    const { commit } = tiny();
    expect(readFileSync(join(dir, 'refs', 'main'), 'utf8')).toBe(commit);
    // an LFS file's blob is named by its sha256, a regular file's by its git blob id; each snapshot file a relative link
    expect(readlinkSync(join(dir, 'snapshots', commit, 'model.safetensors'))).toBe(`../../blobs/${weightsSha()}`);
    expect(readlinkSync(join(dir, 'snapshots', commit, 'config.json'))).toBe(`../../blobs/${gitBlobId(files['config.json']!)}`);
    expect(readFileSync(join(dir, 'blobs', weightsSha())).equals(files['model.safetensors']!)).toBe(true);
    expect(readdirSync(join(dir, 'blobs')).filter((f) => f.includes('incomplete'))).toEqual([]);
    // the weights were fetched from the CDN's absolute URL the 302 named, with no token sent there
    expect(hub.requests.filter((r) => r.url.startsWith('/cdn/')).map((r) => r.host)).toEqual([expect.stringMatching(/^localhost:/)]);
  });

  it("a sharded model: its index first, then each shard it names (model.safetensors absent, noted so)", async () => {
    const sharded = tempDir('hub-sharded');
    writeGPT2Dir(sharded, randomGPT2(3), { prefix: true, head: false, shards: 2 });
    const shardFiles = Object.fromEntries(readdirSync(sharded).map((f) => [f, readFileSync(join(sharded, f))]));
    hub.repos.set('org/sharded', mockRepo(shardFiles, Object.keys(shardFiles).filter((f) => f.endsWith('.safetensors'))));
    const [got, want] = [await loadCheckpoint('org/sharded'), await loadCheckpoint(sharded)];
    expect(got.meta).toEqual(want.meta);
    for (const [name, w] of want.weights) expect(Buffer.from(got.weights.get(name)!.data.buffer).equals(Buffer.from(w.data.buffer)), name).toBe(true);
    const snapshot = join(repoDir('org/sharded'), 'snapshots', hub.repos.get('org/sharded')!.commit);
    expect(readdirSync(snapshot).sort()).toEqual(Object.keys(shardFiles).sort());
    expect(existsSync(join(repoDir('org/sharded'), '.no_exist', hub.repos.get('org/sharded')!.commit, 'model.safetensors'))).toBe(true);
  });

  it('a second load finds the cache: one HEAD while the hub is up, none needed when it is down', async () => {
    await loadCheckpoint('org/tiny');
    hub.requests.length = 0;
    await expectSameCheckpoint('org/tiny');
    expect(hub.requests.map((r) => `${r.method} ${r.url}`)).toEqual([`HEAD /org/tiny/resolve/main/config.json`]);
    // the network failing: refs/main names the snapshot
    process.env.HF_ENDPOINT = await closedEndpoint();
    await expectSameCheckpoint('org/tiny');
  });

  it("follows a renamed repo's relative redirect, caching it under the name asked for (as huggingface_hub does)", async () => {
    hub.renamed.set('tiny', 'org/tiny');
    const downloads = new Set<string>();
    await hubSnapshot('tiny', { progress: (p) => void downloads.add(`${p.repo} ${p.file}`) });
    expect([...downloads].sort()).toEqual(['org/tiny config.json', 'org/tiny model.safetensors', 'org/tiny tokenizer.json']);
    await expectSameCheckpoint('tiny');
    expect(existsSync(join(repoDir('tiny'), 'snapshots', tiny().commit, 'model.safetensors'))).toBe(true);
  });

  it('uses a cache laid out by hand as Python writes it, with no request', async () => {
    const commit = 'ab'.repeat(20);
    const dir = repoDir('hand/made');
    mkdirSync(join(dir, 'blobs'), { recursive: true });
    mkdirSync(join(dir, 'snapshots', commit), { recursive: true });
    mkdirSync(join(dir, 'refs'), { recursive: true });
    for (const [file, bytes] of Object.entries(files)) {
      const etag = file === 'model.safetensors' ? sha256(bytes) : gitBlobId(bytes);
      writeFileSync(join(dir, 'blobs', etag), bytes);
      symlinkSync(`../../blobs/${etag}`, join(dir, 'snapshots', commit, file));
    }
    writeFileSync(join(dir, 'refs', 'main'), commit);
    await expectSameCheckpoint(`hand/made@${commit}`);
    process.env.HF_HUB_OFFLINE = '1';
    await expectSameCheckpoint('hand/made');
    expect(hub.requests).toEqual([]);
  });

  it('a ref that holds no commit hash names no snapshot (a directory outside the cache is not read)', async () => {
    const outside = tempDir('hub-outside');
    for (const [file, bytes] of Object.entries(files)) writeFileSync(join(outside, file), bytes);
    mkdirSync(join(repoDir('hand/made'), 'refs'), { recursive: true });
    writeFileSync(join(repoDir('hand/made'), 'refs', 'main'), relative(join(repoDir('hand/made'), 'snapshots'), outside));
    process.env.HF_HUB_OFFLINE = '1';
    expect(await refusal('hand/made')).toMatch(/^hand\/made: no such file or directory, and the Hugging Face cache .* has no config\.json of hand\/made@main/);
  });

  it('a model whose tokenizer is in its weights (no tokenizer files on the hub) is cached complete, offline too', async () => {
    const { tensors } = parseSafetensors(files['model.safetensors']!);
    const weights = serializeSafetensors(tensors, { format: 'pt', webgpu_gpt_tokenizer: JSON.stringify(miniGpt2Tokenizer().toJSON()) });
    hub.repos.set('org/ours', mockRepo({ 'config.json': files['config.json']!, 'model.safetensors': weights }, ['model.safetensors']));
    const online = await loadCheckpoint('org/ours');
    hub.requests.length = 0;
    process.env.HF_HUB_OFFLINE = '1';
    const offline = await loadCheckpoint('org/ours');
    expect(offline.meta).toEqual(online.meta);
    expect(hub.requests).toEqual([]);
  });

  it('offline with nothing cached: one line naming the file missing and the cache', async () => {
    process.env.HF_HUB_OFFLINE = '1';
    const message = await refusal('org/tiny');
    expect(message).toContain(cache);
    expect(message).toMatch(/config\.json.*HF_HUB_OFFLINE/);
    expect(hub.requests).toEqual([]);
  });

  it('the network down with nothing cached: one line naming the hub, the file missing and the cache', async () => {
    process.env.HF_ENDPOINT = await closedEndpoint();
    expect(await refusal('org/tiny')).toBe(`org/tiny: no such file or directory, and the Hugging Face hub at ${process.env.HF_ENDPOINT} cannot be reached (ECONNREFUSED); the cache ${cache} has no config.json of org/tiny@main`);
  });

  it('a download cut off mid-body resumes with Range on the next call and ends byte-identical', async () => {
    const cut = 1000;
    hub.cutAfter.set(weightsSha(), cut);
    const message = await refusal('org/tiny');
    expect(message).toMatch(/cannot download model\.safetensors of org\/tiny \(the server closed the connection mid-answer \(other side closed\)\).*run again to resume/);
    const blobs = join(repoDir('org/tiny'), 'blobs');
    expect(readFileSync(join(blobs, `${weightsSha()}.incomplete`)).length).toBe(cut);
    expect(existsSync(join(repoDir('org/tiny'), 'snapshots', tiny().commit, 'model.safetensors'))).toBe(false);
    hub.requests.length = 0;
    await expectSameCheckpoint('org/tiny');
    expect(hub.requests.filter((r) => r.url.startsWith('/cdn/')).map((r) => r.range)).toEqual([`bytes=${cut}-`]);
    expect(readFileSync(join(blobs, weightsSha())).equals(files['model.safetensors']!)).toBe(true);
    expect(readdirSync(blobs).filter((f) => f.includes('incomplete'))).toEqual([]);
  });

  it('a 206 whose Content-Range does not start where the Range asked is refused, the bytes kept untouched', async () => {
    const cut = 1000;
    hub.cutAfter.set(weightsSha(), cut);
    await refusal('org/tiny');
    hub.rangeFromStart.add(weightsSha());
    expect(await refusal('org/tiny')).toMatch(/^org\/tiny: cannot download model\.safetensors of org\/tiny \(the server answered Range bytes=1000- with Content-Range bytes 0-\d+\/\d+\); the 1000 bytes so far are kept/);
    const blobs = join(repoDir('org/tiny'), 'blobs');
    expect(readFileSync(join(blobs, `${weightsSha()}.incomplete`)).equals(files['model.safetensors']!.subarray(0, cut))).toBe(true);
    await expectSameCheckpoint('org/tiny');
  });

  it("refuses a config.json too large to be one before downloading it", async () => {
    hub.repos.set('org/huge', mockRepo({ ...files, 'config.json': `${' '.repeat(17_000_000)}{}` }, ['model.safetensors']));
    expect(await refusal('org/huge')).toMatch(/^org\/huge: config\.json of org\/huge is 17000002 bytes on the Hugging Face hub, more than a model's config\.json \(16 MB at most\)$/);
    expect(hub.requests.filter((r) => r.method === 'GET')).toEqual([]);
  });

  it('a commit or ETag from the hub that could name a path is refused, nothing written outside the cache (huggingface_hub: _get_pointer_path)', async () => {
    const escaped = `escaped-${process.pid}`;
    hub.repos.set('org/evil', mockRepo(files, ['model.safetensors'], `../../../${escaped}`));
    expect(await refusal('org/evil')).toMatch(new RegExp(`^org/evil: http://127\\.0\\.0\\.1:\\d+/org/evil/resolve/main/config\\.json: its X-Repo-Commit "\\.\\./\\.\\./\\.\\./${escaped}" is not a commit hash`));
    expect(existsSync(join(cache, '..', escaped))).toBe(false);
    expect(existsSync(join(repoDir('org/evil'), 'refs', 'main'))).toBe(false);
    hub.repos.set('org/evil', mockRepo(files, ['model.safetensors']));
    hub.wrongEtag.set('config.json', '../../x');
    expect(await refusal('org/evil')).toMatch(/: its ETag "\.\.\/\.\.\/x" is not a file name/);
  });

  it('a partial download left by a killed process (its pid gone) is resumed too', async () => {
    const blobs = join(repoDir('org/tiny'), 'blobs');
    mkdirSync(blobs, { recursive: true });
    writeFileSync(join(blobs, `${weightsSha()}.999999999-abc.incomplete`), files['model.safetensors']!.subarray(0, 500));
    await expectSameCheckpoint('org/tiny');
    expect(hub.requests.filter((r) => r.url.startsWith('/cdn/')).map((r) => r.range)).toEqual(['bytes=500-']);
    expect(readdirSync(blobs).filter((f) => f.includes('incomplete'))).toEqual([]);
  });

  it('bytes whose sha256 is not the one the hub names are refused, and nothing is left', async () => {
    hub.wrongSha.add('model.safetensors');
    expect(await refusal('org/tiny')).toMatch(/model\.safetensors.*sha256 [0-9a-f]{64}, the hub says [0-9a-f]{64}: deleted/);
    const dir = repoDir('org/tiny');
    expect(readdirSync(join(dir, 'blobs')).filter((f) => f.startsWith(weightsSha().slice(0, 8)) || f.includes('incomplete'))).toEqual([]);
    expect(existsSync(join(dir, 'snapshots', tiny().commit, 'model.safetensors'))).toBe(false);
  });

  it("refuses a model that is not GPT-2 from its config.json, before any weights are fetched", async () => {
    hub.repos.set('org/bert', mockRepo({ ...files, 'config.json': JSON.stringify(gpt2Config({ model_type: 'bert' })) }, ['model.safetensors']));
    expect(await refusal('org/bert')).toMatch(/^org\/bert\/config\.json: .*model_type/);
    expect(hub.requests.map((r) => r.url).filter((u) => !u.endsWith('config.json'))).toEqual([]);
  });

  it('no such repo, no such file, no such revision, a gated repo: one line each', async () => {
    expect(await refusal('org/nothing')).toMatch(/^org\/nothing: no such file or directory, and the Hugging Face hub \(http:\/\/127\.0\.0\.1:\d+\) has no model org\/nothing, or it is private \(set HF_TOKEN/);
    const { 'model.safetensors': _, ...noWeights } = files;
    hub.repos.set('org/config-only', mockRepo(noWeights, []));
    expect(await refusal('org/config-only')).toMatch(/^org\/config-only: the Hugging Face hub's org\/config-only has no model\.safetensors \(nor model\.safetensors\.index\.json, pytorch_model\.bin, pytorch_model\.bin\.index\.json\)/);
    // noted as huggingface_hub notes a file the commit lacks (transformers reads these offline)
    expect(existsSync(join(repoDir('org/config-only'), '.no_exist', tiny().commit, 'model.safetensors'))).toBe(true);
    const { 'config.json': __, ...noConfig } = files;
    hub.repos.set('org/no-config', mockRepo(noConfig, ['model.safetensors']));
    expect(await refusal('org/no-config')).toMatch(/^org\/no-config: org\/no-config on the Hugging Face hub has no config\.json/);
    expect(await refusal('org/tiny@v9')).toMatch(/^org\/tiny@v9: org\/tiny on the Hugging Face hub has no revision v9$/);
    tiny().gatedToken = 'hf_secret123';
    expect(await refusal('org/tiny')).toMatch(/^org\/tiny: org\/tiny is gated on the Hugging Face hub: accept its terms at .* and set HF_TOKEN.*; the cache .* has no config\.json of org\/tiny@main$/);
  });

  it('sends HF_TOKEN (or the token file) to the hub as a bearer token, never to the CDN, and never shows it', async () => {
    const token = 'hf_secret123';
    tiny().gatedToken = token;
    process.env.HF_TOKEN = token;
    await expectSameCheckpoint('org/tiny');
    const hubRequests = hub.requests.filter((r) => !r.url.startsWith('/cdn/'));
    expect(hubRequests.length).toBeGreaterThan(0);
    expect(hubRequests.every((r) => r.authorization === `Bearer ${token}`)).toBe(true);
    expect(hub.requests.filter((r) => r.url.startsWith('/cdn/')).every((r) => r.authorization === undefined)).toBe(true);
    // the token file `huggingface-cli login` writes
    delete process.env.HF_TOKEN;
    process.env.HF_HUB_CACHE = tempDir('hub-cache');
    writeFileSync(join(process.env.HF_HOME!, 'token'), `${token}\n`);
    hub.requests.length = 0;
    await hubSnapshot('org/tiny');
    expect(hub.requests.filter((r) => !r.url.startsWith('/cdn/')).every((r) => r.authorization === `Bearer ${token}`)).toBe(true);
    // a wrong token: refused, and the token in no message
    process.env.HF_TOKEN = 'hf_wrong456';
    process.env.HF_HUB_CACHE = tempDir('hub-cache');
    const message = await refusal('org/tiny');
    expect(message).not.toContain('hf_wrong456');
    const r = await gpt('sample', '--init-from', 'org/tiny', '--max-new-tokens', '3');
    expect(r.code).toBe(1);
    expect(r.out + r.err).not.toContain('hf_wrong456');
  });

  it("reads huggingface_hub's environment as constants.py and _auth.py do: an empty HF_TOKEN is none, $VARS expanded", () => {
    const home = tempDir('hf-env');
    writeFileSync(join(home, 'token'), 'hf_file\n');
    // os.environ.get('HF_TOKEN') or os.environ.get('HUGGING_FACE_HUB_TOKEN'): an empty one falls through
    expect(hubSettings({ HF_HOME: home, HF_TOKEN: '', HUGGING_FACE_HUB_TOKEN: 'hf_old' }).token).toBe('hf_old');
    expect(hubSettings({ HF_HOME: home, HF_TOKEN: ' ' }).token).toBe('hf_file'); // _clean_token(' ') is None
    // os.path.expandvars(os.path.expanduser(...)): $NAME and ${NAME}, an unknown one left as written
    const settings = hubSettings({ HF_HOME: '$BASE/hf', BASE: home, HF_TOKEN_PATH: '${BASE}/token' });
    expect([settings.cache, settings.token]).toEqual([join(home, 'hf', 'hub'), 'hf_file']);
    expect(hubSettings({ HF_HUB_CACHE: '/x/$NOPE/${NOPE}/c', HF_HOME: home }).cache).toBe('/x/$NOPE/${NOPE}/c');
    // get_token_to_send: HF_HUB_DISABLE_IMPLICIT_TOKEN sends none, from HF_TOKEN or the file
    expect(hubSettings({ HF_HOME: home, HF_TOKEN: 'hf_env', HF_HUB_DISABLE_IMPLICIT_TOKEN: 'yes' }).token).toBeNull();
    expect(hubSettings({ HF_HOME: home, HF_HUB_DISABLE_IMPLICIT_TOKEN: 'ON' }).token).toBeNull();
  });

  it('a redirect loop is one line saying so, not that the server is not the hub', async () => {
    hub.renamed.set('org/loop', 'org/loop');
    expect(await refusal('org/loop')).toMatch(/^org\/loop: the Hugging Face hub at http:\/\/127\.0\.0\.1:\d+ redirected config\.json of org\/loop more than 10 times; the cache .* has no config\.json of org\/loop@main$/);
  });

  it('two loads at once both succeed, the cache whole', async () => {
    await Promise.all([expectSameCheckpoint('org/tiny'), expectSameCheckpoint('org/tiny')]);
    const blobs = join(repoDir('org/tiny'), 'blobs');
    expect(readFileSync(join(blobs, weightsSha())).equals(files['model.safetensors']!)).toBe(true);
    expect(readdirSync(blobs).filter((f) => f.includes('incomplete') || f.includes('tmp'))).toEqual([]);
    expect(lstatSync(join(repoDir('org/tiny'), 'snapshots', tiny().commit, 'model.safetensors')).isSymbolicLink()).toBe(true);
  });
});

describe('gpt --init-from MODEL_ID', () => {
  it('gpt sample --init-from org/tiny downloads the model, says from where to where, and samples', async () => {
    const r = await gpt('sample', '--init-from', 'org/tiny', '--max-new-tokens', '3', '--num-samples', '1', '--start', 'ab');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain(`fetching org/tiny from ${hub.endpoint} into ${cache} (HF_HUB_OFFLINE=1 never downloads)`);
    expect(r.out.length).toBeGreaterThan(0);
    expect(existsSync(join(repoDir('org/tiny'), 'snapshots', tiny().commit, 'model.safetensors'))).toBe(true);
  }, 120_000);

  it('Ctrl-C mid-download leaves only the .incomplete file, which the next run resumes with Range', async () => {
    hub.hangAfter.set(weightsSha(), 700);
    const running = await spawnGpt(['sample', '--init-from', 'org/tiny', '--max-new-tokens', '3', '--start', 'ab']);
    const blobs = join(repoDir('org/tiny'), 'blobs');
    const partial = () => (existsSync(blobs) ? readdirSync(blobs).filter((f) => f.endsWith('.incomplete')) : []);
    for (let waited = 0; !(partial().length === 1 && lstatSync(join(blobs, partial()[0]!)).size === 700); waited += 50) {
      if (waited > 60_000) throw new Error(`no partial download of 700 bytes in ${blobs}: ${partial()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    running.child.kill('SIGINT');
    const ended = await running.done;
    expect(ended.code === 0).toBe(false);
    expect(readdirSync(blobs).filter((f) => f.startsWith(weightsSha()))).toEqual([partial()[0]]);
    expect(existsSync(join(repoDir('org/tiny'), 'snapshots', tiny().commit, 'model.safetensors'))).toBe(false);
    hub.requests.length = 0;
    const r = await gpt('sample', '--init-from', 'org/tiny', '--max-new-tokens', '3', '--start', 'ab');
    expect(r.code, r.err).toBe(0);
    expect(hub.requests.filter((q) => q.url.startsWith('/cdn/')).map((q) => q.range)).toEqual(['bytes=700-']);
    expect(readFileSync(join(blobs, weightsSha())).equals(files['model.safetensors']!)).toBe(true);
    expect(partial()).toEqual([]);
  }, 120_000);

  it("shows a download's progress on stderr every 10 s", () => {
    let now = 0;
    const progress = new DownloadProgress(10_000, () => now);
    const lines: string[] = [];
    const error = vi.spyOn(console, 'error').mockImplementation((line: string) => void lines.push(line));
    try {
      for (const [t, done] of [[0, 0], [4_000, 90e6], [10_000, 212e6], [15_000, 300e6], [20_500, 548e6]] as const) {
        now = t;
        progress.report({ repo: 'openai-community/gpt2', file: 'model.safetensors', done, total: 548e6 });
      }
    } finally {
      error.mockRestore();
    }
    // the rate from the first report on: (212 - 0) MB in 10 s, (548 - 0) MB in 20.5 s
    expect(lines).toEqual(['downloading openai-community/gpt2 model.safetensors (MB): 212/548, eta 16s', 'downloading openai-community/gpt2 model.safetensors (MB): 548/548, eta 0s']);
  });

  it('a value that is neither a path nor a model on the hub is refused in one line naming the flag', async () => {
    const r = await gpt('sample', '--init-from', 'out-shakespere');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^gpt sample: flag --init-from out-shakespere: no such file or directory, and the Hugging Face hub \(http:\/\/127\.0\.0\.1:\d+\) has no model out-shakespere/);
    expect(r.err).not.toContain('\n');
  });

  it('a path that does not exist and cannot be a model id keeps its own error', async () => {
    const r = await gpt('sample', '--init-from', './no/such/dir');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^gpt sample: flag --init-from names \.\/no\/such\/dir, which does not exist$/);
  });
});
