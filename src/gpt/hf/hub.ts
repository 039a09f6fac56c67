// The Hugging Face hub's side of `--init-from gpt2`, platform free (Node's cache is
// src/node/hub-cache.ts; a page may reuse this): a model id's grammar, the URL a file of it
// resolves at, which files a GPT-2 model is read from, and the hub's refusals in one line. The
// protocol is huggingface_hub's (file_download.py): HEAD {endpoint}/{repo}/resolve/{revision}/{file},
// a relative redirect followed (a renamed repo: gpt2 -> openai-community/gpt2), an absolute one
// (an LFS file's CDN) read, not followed; X-Repo-Commit the commit, X-Linked-Etag (an LFS file's
// sha256) else ETag the blob's name, X-Linked-Size else Content-Length its size.
import { HF_FILES, HF_WEIGHTS_FORMS } from './index.js';

export const HUB_ENDPOINT = 'https://huggingface.co';

/** A model on the hub: its repo id (`gpt2`, `openai-community/gpt2`) and the revision asked for (a branch, tag or commit). */
export interface HubModelId {
  repo: string;
  revision: string;
}

/**
 * A repo name as huggingface_hub's validate_repo_id takes it: letters, digits, '_', '-', '.', at
 * most 96, starting and ending with a letter, digit or '_', without '--' or '..' (the cache's
 * separator and a parent directory), not ending in .git.
 */
const NAME = /^(?!.*(--|\.\.))(?!.*\.git$)\w(?:[\w.-]{0,94}\w)?$/;
/** A revision: a branch, tag or commit (refs/pr/1 too), never a parent directory. */
const REVISION = /^(?!.*\.\.)[\w.-]+(\/[\w.-]+)*$/;

/** `value` as a hub model id, `[org/]name[@revision]` (revision main where none is given), or null where it cannot be one. */
export function parseHubId(value: string): HubModelId | null {
  const at = value.indexOf('@');
  const [repo, revision] = at < 0 ? [value, 'main'] : [value.slice(0, at), value.slice(at + 1)];
  const parts = repo.split('/');
  if (parts.length > 2 || !parts.every((p) => NAME.test(p)) || !REVISION.test(revision)) return null;
  return { repo, revision };
}

/** Whether `revision` is a full commit hash: its snapshot is used as cached, with no request. */
export const isCommitHash = (revision: string) => /^[0-9a-f]{40}$/.test(revision);

/** The URL of `file` of `repo` at `revision` (hf_hub_url's: the revision quoted whole, the file's path by segment). */
export function hubFileURL(endpoint: string, repo: string, revision: string, file: string): string {
  return `${endpoint.replace(/\/+$/, '')}/${repo}/resolve/${encodeURIComponent(revision)}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

/** The repo a resolve URL's path names (after a relative redirect, the renamed repo's), or null. */
function repoOfResolvePath(pathname: string): string | null {
  return /^\/(.+?)\/resolve\//.exec(pathname)?.[1] ?? null;
}

/** The cache folder of `repo` (huggingface_hub's repo_folder_name): models--org--name. */
export const repoFolderName = (repo: string) => ['models', ...repo.split('/')].join('--');

/** An ETag as a file name (_normalize_etag): W/ and quotes dropped. */
const normalizeEtag = (etag: string) => etag.replace(/^W\//, '').replace(/^"|"$/g, '');

/** Whether a blob's name is an LFS file's sha256, which the downloaded bytes are checked against. */
export const isSha256 = (etag: string) => /^[0-9a-f]{64}$/.test(etag);

/**
 * The URL of the hub's API answer about `repo` at `revision` (huggingface_hub's model_info,
 * huggingface.js's modelInfo): JSON whose sha is the commit the revision names, whose id is the repo's
 * name now (a renamed one's new name), siblings its files there, and gated whether it wants a token.
 */
export function hubRevisionURL(endpoint: string, repo: string, revision: string): string {
  return `${endpoint.replace(/\/+$/, '')}/api/models/${repo}/revision/${encodeURIComponent(revision)}?expand=sha&expand=siblings&expand=gated`;
}

/** A model at a commit, from the hub's API (hubRevisionURL's answer). */
export interface HubRevision {
  repo: string;
  commit: string;
  files: Set<string>;
  gated: boolean;
}

/** hubRevisionURL's answer, parsed, or why it is not the hub's. */
export function hubRevisionOf(json: unknown): HubRevision | string {
  const info = (typeof json === 'object' && json !== null ? json : {}) as { id?: unknown; sha?: unknown; siblings?: unknown; gated?: unknown };
  const siblings = Array.isArray(info.siblings) ? info.siblings.map((s) => (s as { rfilename?: unknown } | null)?.rfilename) : null;
  if (typeof info.id !== 'string' || typeof info.sha !== 'string' || !isCommitHash(info.sha) || !siblings?.every((f) => typeof f === 'string')) {
    return 'its answer has no id, commit (sha) and files (siblings): not the Hugging Face hub (a proxy or firewall between?)';
  }
  return { repo: info.id, commit: info.sha, files: new Set(siblings as string[]), gated: info.gated !== undefined && info.gated !== false };
}

/** Why `repo` has no GPT-2 weights to read: none of the weights files our loader reads, in its order. */
export function noWeightsText(repo: string): string {
  const names = HF_WEIGHTS_FORMS.flatMap((f) => [f.single, f.index]);
  return `the Hugging Face hub's ${repo} has no ${names[0]} (nor ${names.slice(1).join(', ')}): no GPT-2 weights transformers reads`;
}

/** A file's metadata from the HEAD of its resolve URL: what get_hf_file_metadata reads. */
export interface HubFileMetadata {
  /** The repo as the hub names it now (a renamed one's new name, from the relative redirect's path). */
  repo: string | null;
  commit: string;
  etag: string;
  size: number;
  /** Where to GET it: the CDN's URL an LFS file redirects to, else the resolve URL (after relative redirects). */
  location: string;
}

/**
 * The metadata of a HEAD answered `status` with `header` (after relative redirects, at `url`), or
 * why it is not usable (no commit: not the hub; no ETag or size).
 */
export function fileMetadata(status: number, header: (name: string) => string | null, url: string): HubFileMetadata | string {
  const redirect = status >= 300 && status < 400;
  const commit = header('x-repo-commit');
  const etag = header('x-linked-etag') ?? header('etag');
  const size = header('x-linked-size') ?? (redirect ? null : header('content-length'));
  if (!commit) return 'its answer has no X-Repo-Commit: not the Hugging Face hub (a proxy or firewall between?)';
  if (!etag) return 'its answer has no ETag';
  // both name paths in the cache (snapshots/{commit}, blobs/{etag}): never a parent directory (huggingface_hub's _get_pointer_path checks too)
  if (!isCommitHash(commit)) return `its X-Repo-Commit ${JSON.stringify(commit)} is not a commit hash`;
  if (!/^[\w-][\w.-]*$/.test(normalizeEtag(etag))) return `its ETag ${JSON.stringify(normalizeEtag(etag))} is not a file name`;
  if (size === null || !/^\d+$/.test(size)) return 'its answer has no size';
  return { repo: repoOfResolvePath(new URL(url).pathname), commit, etag: normalizeEtag(etag), size: Number(size), location: (redirect && header('location')) || url };
}

/** What the hub's refusal of a HEAD or GET means, from its status and X-Error-Code (huggingface_hub's hf_raise_for_status). */
export type HubRefusal = 'no repo' | 'gated' | 'no revision' | 'no file' | 'denied' | 'other';

export function hubRefusal(status: number, errorCode: string | null, errorMessage: string | null = null): HubRefusal {
  if (errorCode === 'RevisionNotFound') return 'no revision';
  if (errorCode === 'EntryNotFound') return 'no file';
  if (errorCode === 'GatedRepo') return 'gated';
  // the hub answers 401 for a private repo, and for a missing one, to a request without a valid token
  if (errorCode === 'RepoNotFound' || (status === 401 && errorMessage !== 'Invalid credentials in Authorization header')) return 'no repo';
  if (status === 401 || status === 403) return 'denied';
  return 'other';
}

/** How the CLI is given a token: named by where it is read from, never shown. */
const CLI_TOKEN_ADVICE = 'set HF_TOKEN, or log in with `huggingface-cli login`, with a token that may read it';

/** The refusal in words, for `id` (as given) and `file`; `token` says how to send a token that may read it (the CLI's: CLI_TOKEN_ADVICE). */
export function refusalText(refusal: HubRefusal, status: number, id: HubModelId, file: string, endpoint: string, token = CLI_TOKEN_ADVICE): string {
  switch (refusal) {
    case 'no repo':
      return `the Hugging Face hub (${endpoint}) has no model ${id.repo}, or it is private (${token})`;
    case 'gated':
      return `${id.repo} is gated on the Hugging Face hub: accept its terms at ${endpoint}/${id.repo} and ${token}`;
    case 'no revision':
      return `${id.repo} on the Hugging Face hub has no revision ${id.revision}`;
    case 'no file':
      return `${id.repo} on the Hugging Face hub has no ${file} at ${id.revision}`;
    case 'denied':
      return `the Hugging Face hub refused ${file} of ${id.repo} (HTTP ${status}): ${token}`;
    default:
      return `the Hugging Face hub answered HTTP ${status} for ${file} of ${id.repo}`;
  }
}

/** The tokenizer's files: tokenizer.json, else GPT-2's pair (a model of ours keeps its tokenizer in its weights' metadata: neither is needed then). */
export const HUB_TOKENIZERS = [[HF_FILES.tokenizer], [HF_FILES.vocab, HF_FILES.merges]] as const;
