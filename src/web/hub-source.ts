// A GPT-2 model on the Hugging Face hub, opened by the page from its id (`gpt2`,
// `openai-community/gpt2@main`) or its page's URL (https://huggingface.co/gpt2). A browser's fetch follows an LFS file's redirect to its CDN itself
// and shows the page none of the redirect's headers (no X-Repo-Commit, no X-Linked-Etag to pin a
// read to), so the revision is pinned first: the hub's API names the commit it points at (JSON a
// page may read: what huggingface.js's modelInfo asks in a browser), and every file is then read at
// resolve/{commit}/{file}, a URL whose bytes never change. config.json is fetched and checked
// before anything else, a sharded model's index next (hfWeightsFiles chooses the weights files as
// the CLI does: model.safetensors, else its shards, else pytorch_model.bin, else its shards), then
// the tokenizer's files; the weights are the caller's to read a range at a time (readUrls,
// immutable), each shard's header once. A page cannot hold a token: a gated or private model is
// refused, saying to download its files and open them.
import { HF_FILES, hfModelConfig, hfWeightsFiles, type HFModelSources, type HFTokenizerFiles } from '../gpt/hf/index.js';
import { HUB_ENDPOINT, HUB_TOKENIZERS, hubFileURL, hubRefusal, hubRevisionOf, hubRevisionURL, noWeightsText, parseHubId, refusalText, type HubModelId } from '../gpt/hf/hub.js';
import type { ByteSource } from '../io/safetensors-source.js';
import { fetchWatched, NoAnswerError, readUrls, type UrlReadOptions } from './url-source.js';

/** A hub model ready to load: its small files' texts, and its weights files' URLs at the commit. */
export interface HubModel {
  /** The repo as the hub names it now (a renamed one's new name) and the commit its revision named. */
  repo: string;
  commit: string;
  /** config.json's text, the tokenizer's (those the commit has), and a sharded model's index. */
  files: Omit<HFModelSources, 'weights'>;
  /** The weights files at the commit (model.safetensors alone, or every shard the index names, in its order): the same bytes for good, each to read a range at a time. */
  weights: { file: string; url: string }[];
}

export interface HubOpenOptions extends UrlReadOptions {
  /** Called as each of the small files (the model's info, config.json, a shard index, the tokenizer's) is asked for. */
  onFile?: (file: string) => void;
}

/** HF_FILES' names of the tokenizer's files, as HFTokenizerFiles' keys. */
const TOKENIZER_KEYS: Record<string, keyof HFTokenizerFiles> = { [HF_FILES.tokenizer]: 'tokenizer', [HF_FILES.vocab]: 'vocab', [HF_FILES.merges]: 'merges' };

/** The hub's own hosts, whose pages' URLs a user may paste for a model (hf.co: its short links). */
const HUB_HOSTS = ['huggingface.co', 'www.huggingface.co', 'hf.co'];
/** A repo page's sections whose next segment is a revision: /tree/{revision}, /blob/{revision}/{file}, /commit/{sha}... */
const AT_REVISION = new Set(['tree', 'blob', 'resolve', 'raw', 'edit', 'commits', 'commit']);
/** What a pasted URL names where it names no model: the hub's other kinds of repo. */
const NOT_MODELS: Record<string, string> = {
  datasets: 'a dataset', spaces: 'a Space', models: 'the model list', collections: 'a collection', papers: 'a paper', docs: 'the documentation', blog: 'the blog',
};
/** A model page's tabs with no revision (huggingface.co/gpt2/discussions: the model gpt2, not gpt2/discussions). */
const MODEL_TABS = new Set(['discussions', 'community', 'settings']);

/**
 * The model id `value` names, as the model field takes it: an id (`[org/]name[@revision]`), or a
 * model's page on the hub (or on the mirror at `endpoint`) as copied from the address bar
 * (https://huggingface.co/gpt2, .../openai-community/gpt2/tree/main, a file's .../blob/{revision}/config.json):
 * its repo, at the revision the URL names. Anything else is one line saying what is taken.
 */
export function hubModelName(value: string, endpoint: string): string {
  const path = hubPagePath(value, endpoint);
  if (path === null) {
    if (parseHubId(value)) return value;
    throw new Error(`${value ? `'${value}'` : 'an empty id'}: not a Hugging Face model id ([org/]name[@revision], e.g. gpt2 or openai-community/gpt2@main) nor a model's page (https://huggingface.co/[org/]name)`);
  }
  const notModel = NOT_MODELS[path[0] ?? ''];
  if (notModel) throw new Error(`'${value}': ${notModel}'s page on the Hugging Face hub, not a model's: the page opens a GPT-2 model (https://huggingface.co/[org/]name)`);
  const repoParts = path.length > 1 && !AT_REVISION.has(path[1]!) && !MODEL_TABS.has(path[1]!) ? 2 : 1; // gpt2/tree/main, gpt2/discussions: the repo gpt2
  const [section = '', revision, ...rest] = path.slice(repoParts);
  const atRevision = AT_REVISION.has(section) && revision !== undefined;
  if (atRevision && section === 'tree' && rest.length) {
    throw new Error(`'${value}': the folder ${rest.join('/')} of a model's repo: the page opens the model at a repo's top (https://huggingface.co/[org/]name/tree/revision)`);
  }
  const name = path.slice(0, repoParts).join('/') + (atRevision ? `@${revision}` : '');
  if (!path.length || !parseHubId(name)) throw new Error(`'${value}': not a Hugging Face model's page (https://huggingface.co/[org/]name, or its /tree/revision)`);
  return name;
}

/**
 * The path segments (decoded: a revision with '/', refs/pr/1, is one) of `value` as the URL of a
 * page of the hub (its hosts, or the mirror at `endpoint`); none where it is another URL, or one that
 * cannot be read; null where `value` is no URL (an id).
 */
function hubPagePath(value: string, endpoint: string): string[] | null {
  const given = /^(www\.)?(huggingface|hf)\.co\//i.test(value) ? `https://${value}` : value; // pasted without its scheme
  if (!/^[a-z][a-z\d+.-]*:\/\//i.test(given)) return null;
  try {
    const url = new URL(given);
    const mirror = new URL(endpoint);
    const under = mirror.pathname.replace(/\/+$/, ''); // a mirror may be served under a path
    let path: string;
    if (HUB_HOSTS.includes(url.hostname.toLowerCase())) path = url.pathname;
    else if (url.origin === mirror.origin && url.pathname.startsWith(`${under}/`)) path = url.pathname.slice(under.length);
    else return [];
    return path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return []; // not a URL after all, or a path of bad %-escapes
  }
}

/**
 * The model `value` names on the hub at `endpoint` (an id, or its page's URL: hubModelName's): its
 * commit, config.json (checked to be a GPT-2 model's), a sharded model's index (each shard it names
 * checked to be in the repo), its tokenizer's files and its weights files' URLs. Errors are one
 * line starting with `value`.
 */
export async function openHubModel(value: string, endpoint: string, opts: HubOpenOptions = {}): Promise<HubModel> {
  const id = parseHubId(hubModelName(value, endpoint))!;
  const get = (url: string, file: string) => {
    opts.onFile?.(file);
    return hubText(url, value, id, file, endpoint, opts);
  };
  const info = hubRevisionOf(parseOr(await get(hubRevisionURL(endpoint, id.repo, id.revision), 'model info'), null));
  if (typeof info === 'string') throw new Error(`${value}: ${hubRevisionURL(endpoint, id.repo, id.revision)}: ${info}`);
  const { repo, commit, files } = info;
  if (info.gated) throw new Error(`${value}: ${refusalText('gated', 401, id, HF_FILES.config, endpoint, tokenAdvice(id))}`);
  if (!files.has(HF_FILES.config)) throw new Error(`${value}: ${repo} on the Hugging Face hub has no ${HF_FILES.config}: not a transformers model`);
  const at = (file: string) => hubFileURL(endpoint, repo, commit, file);
  // checked before anything else is fetched: a model that is not GPT-2 costs no weights
  const config = await get(at(HF_FILES.config), HF_FILES.config);
  hfModelConfig(config, value);
  const indexText = async (file: string) => (files.has(file) ? get(at(file), file) : null);
  const chosen = await hfWeightsFiles((file) => files.has(file), indexText, (file) => `${value}/${file}`);
  if (!chosen) throw new Error(`${value}: ${noWeightsText(repo)}`);
  const absent = chosen.weights.find((file) => !files.has(file));
  if (absent) throw new Error(`${value}: ${repo} on the Hugging Face hub has no ${absent} at ${id.revision} (a shard ${chosen.index!.file} names)`);
  const tokenizer: HFTokenizerFiles = {};
  // none: a model of ours keeps its tokenizer in its weights' metadata (else the load says what is missing)
  for (const file of HUB_TOKENIZERS.find((names) => names.every((f) => files.has(f))) ?? []) tokenizer[TOKENIZER_KEYS[file]!] = await get(at(file), file);
  const weights = chosen.weights.map((file) => ({ file, url: at(file) }));
  return { repo, commit, files: { config, ...tokenizer, ...(chosen.index && { index: chosen.index }) }, weights };
}

/** `load` of the hub model's files, its weights files each read a range at a time at the commit (readUrls: each shard's first byte asked for its size, then what `load` reads). */
export function readHubModel<T>(hub: HubModel, load: (files: HFModelSources) => Promise<T>, opts: UrlReadOptions = {}): Promise<T> {
  const read = (sources: ByteSource[]) => load({ ...hub.files, weights: hub.weights.map(({ file }, i) => ({ file, source: sources[i]! })) });
  return readUrls(hub.weights.map((w) => w.url), read, { ...opts, immutable: true });
}

/**
 * The hub the page reads from: huggingface.co, or the mirror its URL names (`?hub=URL`, a link may
 * carry one), without a trailing slash (`gpt` reads HF_ENDPOINT so). Anything but an http(s) URL is
 * one line naming ?hub=: a relative one was read from the page's own server, whose 404 was blamed
 * on the model.
 */
export function hubEndpoint(param: string | null): string {
  if (!param) return HUB_ENDPOINT;
  let protocol = '';
  try {
    protocol = new URL(param).protocol; // not URL.canParse: Chrome 120+, the page runs in 113+
  } catch {} // not a URL, or a relative one
  if (protocol !== 'http:' && protocol !== 'https:') {
    throw new Error(`?hub=${param}: not an http(s) URL; the page's address names a Hugging Face hub mirror as ?hub=https://host, or leaves it out for ${HUB_ENDPOINT}`);
  }
  return param.replace(/\/+$/, '');
}

/** How a page's user reads a model that wants a token: elsewhere, with one. */
const tokenAdvice = (id: HubModelId) =>
  `this page cannot hold a token: download its files with one that may read them (\`huggingface-cli download ${id.repo}\`) and open them here with Open a checkpoint…`;

/** The text at `url` (`file` of the model `value` names); a refusal is the hub's in one line, no answer says what a page cannot tell apart. */
async function hubText(url: string, value: string, id: HubModelId, file: string, endpoint: string, opts: UrlReadOptions): Promise<string> {
  let res;
  try {
    res = await fetchWatched(url, opts);
  } catch (e) {
    if (!(e instanceof NoAnswerError)) throw e;
    throw new Error(`${value}: no answer from the Hugging Face hub at ${endpoint} (${e.fetchMessage}): is this browser online? A hub of another address (a mirror) must allow this page's origin by CORS`);
  }
  if (!res.ok) {
    await res.cancel();
    const refusal = hubRefusal(res.status, res.headers.get('X-Error-Code'), res.headers.get('X-Error-Message'));
    throw new Error(`${value}: ${refusalText(refusal, res.status, id, file, endpoint, tokenAdvice(id))}`);
  }
  return res.text();
}

/** `text` as JSON, else `otherwise`. */
function parseOr(text: string, otherwise: unknown): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return otherwise;
  }
}
