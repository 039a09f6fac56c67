// A GPT-2 model (or a peft LoRA adapter) on the Hugging Face hub as a local directory (Node only), in the hub's own cache,
// laid out as huggingface_hub lays it (file_download.py), so that what Python fetched is found here
// with no download and what is downloaded here Python uses:
//   {HF_HUB_CACHE}/models--org--name/blobs/{etag}                 each file's bytes
//   {HF_HUB_CACHE}/models--org--name/snapshots/{commit}/{file}    a relative link to ../../blobs/{etag}
//   {HF_HUB_CACHE}/models--org--name/refs/{revision}              the commit the revision named
// The snapshot directory is then read as any Hugging Face directory (checkpoint-dir.ts), or as
// peft's adapter directory (peft-adapter-dir.ts): what files a repo needs is its HubFileSet's.
//
// Two processes at once: no lock. A download writes its own file, blobs/{etag}.{pid}-{random}.incomplete,
// and renames it into place once complete and checked (a rename is atomic: a reader sees no blob
// or the whole one; two downloads of one blob cost bandwidth, never a mixed file). Links and refs
// are made under a temporary name and renamed too. A download that fails (the network, a stall)
// leaves its bytes as blobs/{etag}.incomplete; one killed (Ctrl-C) leaves its own name, whose pid
// no longer runs: either is claimed by the next download of that blob (by a rename, which one
// process wins), which asks for the rest with Range.
import { createHash, type Hash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { copyFile, lstat, mkdir, open, readdir, readFile, rename, rm, symlink, writeFile, type FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { HF_FILES, HF_WEIGHTS_FORMS, hfModelConfig, parseShardIndex } from '../gpt/hf/index.js';
import { PEFT_FILES } from '../gpt/hf/peft.js';
import { fileMetadata, HUB_ENDPOINT, HUB_TOKENIZERS, hubFileURL, hubRefusal, isCommitHash, isSha256, noWeightsText, parseHubId, refusalText, repoFolderName, type HubFileMetadata, type HubModelId } from '../gpt/hf/hub.js';
import { tempPathFor, writeFileAtomic } from './atomic-file.js';
import { fetchFailure, stallWatch, STALL_MS, type StallWatch } from './http-download.js';
import { pathExists, unlessMissing } from './regular-files.js';

/** Where the hub is and what may be done: huggingface_hub's environment variables (constants.py), read when asked. */
export interface HubSettings {
  endpoint: string;
  /** The hub's cache directory (HF_HUB_CACHE). */
  cache: string;
  /** HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE): the cache only, no request. */
  offline: boolean;
  /** HF_TOKEN, else the token file `huggingface-cli login` wrote (none under HF_HUB_DISABLE_IMPLICIT_TOKEN); sent as a bearer token, never shown. */
  token: string | null;
}

/** huggingface_hub's _is_true. */
const isTrue = (value: string | undefined) => ['1', 'ON', 'YES', 'TRUE'].includes((value ?? '').toUpperCase());
/** os.path.expandvars(os.path.expanduser(path)), as constants.py reads its paths: ~, then $NAME and ${NAME} (an unknown one left as written). */
const expandPath = (path: string, env: NodeJS.ProcessEnv) =>
  path.replace(/^~(?=$|\/)/, homedir()).replace(/\$(\w+|\{[^}]*\})/g, (whole, name: string) => env[name.replace(/^\{|\}$/g, '')] ?? whole);
/** _clean_token: line breaks and surrounding spaces dropped, an empty token none. */
const cleanToken = (token: string | undefined | null) => token?.replace(/[\r\n]/g, '').trim() || null;

export function hubSettings(env: NodeJS.ProcessEnv = process.env): HubSettings {
  const home = expandPath(env.HF_HOME ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'huggingface'), env);
  const tokenFile = expandPath(env.HF_TOKEN_PATH ?? join(home, 'token'), env);
  let token = cleanToken(env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN); // Python's `or`: an empty HF_TOKEN is none
  if (isTrue(env.HF_HUB_DISABLE_IMPLICIT_TOKEN)) token = null; // get_token_to_send: a token only where one is passed, never here
  else if (!token) {
    try {
      token = cleanToken(readFileSync(tokenFile, 'utf8'));
    } catch {
      token = null; // not logged in
    }
  }
  return {
    endpoint: (env.HF_ENDPOINT ?? HUB_ENDPOINT).replace(/\/+$/, ''),
    cache: expandPath(env.HF_HUB_CACHE ?? env.HUGGINGFACE_HUB_CACHE ?? join(home, 'hub'), env),
    offline: isTrue(env.HF_HUB_OFFLINE || env.TRANSFORMERS_OFFLINE),
    token,
  };
}

/** A file being downloaded: the repo as the hub names it now (after a rename), the file, bytes so far and in all. */
export interface HubProgress {
  repo: string;
  file: string;
  done: number;
  total: number;
}

export interface HubFetchOptions {
  settings?: HubSettings;
  /** Called as a download's bytes arrive (and once at its start and end). */
  progress?: (p: HubProgress) => void;
}

/** A HEAD that got no usable answer: the network or the hub failed, or refused; the cache may still hold the file. */
class HubUnreachable extends Error {
  constructor(
    message: string,
    readonly notFound = false,
  ) {
    super(message);
  }
}

/** The hub has no such model or revision (or hides a private one), or offline, the cache has none: a value mistyped, as a missing path is. */
export class HubModelNotFound extends Error {}

/** The files a repo of one kind needs in its snapshot, and how they are fetched. */
export interface HubFileSet {
  /** The file asked for first: a repo without it is refused (`notThis`) before anything is downloaded. */
  first: string;
  /** Why a repo without `first` is refused, after its name. */
  notThis: string;
  /** The first file the snapshot of `commit` lacks, or null. */
  missing(storage: string, commit: string): Promise<string | null>;
  /** Fetches the files wanted into the snapshot of `meta.commit`, `first` (whose metadata `meta` is) among them. */
  fetchRest(hub: HubRepo, meta: HubFileMetadata): Promise<void>;
}

/** A GPT-2 model: config.json first, checked to be a GPT-2 model's before any weights are fetched, then the weights in our loader's order of preference, then the tokenizer's files. */
export const GPT2_MODEL_FILES: HubFileSet = {
  first: HF_FILES.config,
  notThis: `has no ${HF_FILES.config}: not a transformers model`,
  missing: snapshotMissing,
  async fetchRest(hub, meta) {
    hfModelConfig(await readFile(await hub.fetch(HF_FILES.config, meta), 'utf8'), hub.value);
    await hub.fetchWeights(meta.commit);
    for (const files of HUB_TOKENIZERS) if (await hub.fetchAll(files, meta.commit)) break;
  },
};

const PEFT_WANTED = `${PEFT_FILES.config} with ${PEFT_FILES.weights} or ${PEFT_FILES.torchWeights}`;

/** A peft LoRA adapter: adapter_config.json, then adapter_model.safetensors, else older peft's adapter_model.bin (as peft prefers them). */
export const PEFT_ADAPTER_FILES: HubFileSet = {
  first: PEFT_FILES.config,
  notThis: `has no ${PEFT_FILES.config}: not a peft adapter (wanted: ${PEFT_WANTED})`,
  async missing(storage, commit) {
    const at = (file: string) => pathExists(join(storage, 'snapshots', commit, file));
    if (!(await at(PEFT_FILES.config))) return PEFT_FILES.config;
    return (await at(PEFT_FILES.weights)) || (await at(PEFT_FILES.torchWeights)) ? null : PEFT_FILES.weights;
  },
  async fetchRest(hub, meta) {
    // the weights looked for before anything is downloaded: a repo without them leaves nothing in the cache
    for (const file of [PEFT_FILES.weights, PEFT_FILES.torchWeights]) {
      const weights = await hub.headOrRefuse(file, meta.commit);
      if (!weights) continue;
      await hub.fetch(PEFT_FILES.config, meta);
      await hub.fetch(file, weights);
      return;
    }
    throw new Error(`${hub.value}: ${hub.id.repo} on the Hugging Face hub has no ${PEFT_FILES.weights} nor ${PEFT_FILES.torchWeights}: not a peft adapter (wanted: ${PEFT_WANTED})`);
  },
};

/**
 * The snapshot directory of the repo `value` names (`gpt2`, `org/name@revision`: parseHubId's), the
 * files `fileSet` wants downloaded into the cache where missing (a GPT-2 model's by default).
 * Offline, or for a commit already cached complete, no request is made. Errors are one line
 * starting with `value`.
 */
export async function hubSnapshot(value: string, opts: HubFetchOptions = {}, fileSet: HubFileSet = GPT2_MODEL_FILES): Promise<string> {
  const id = parseHubId(value);
  if (!id) throw new Error(`${value}: not a Hugging Face model id ([org/]name[@revision])`);
  const settings = opts.settings ?? hubSettings();
  const storage = join(settings.cache, repoFolderName(id.repo));
  const cached = async () => {
    const ref = isCommitHash(id.revision) ? id.revision : (await unlessMissing(readFile(join(storage, 'refs', id.revision), 'utf8')))?.trim();
    const commit = ref && isCommitHash(ref) ? ref : null; // a ref holding anything else names no snapshot (never a path: ../..)
    const dir = commit && join(storage, 'snapshots', commit);
    return { dir, missing: commit ? await fileSet.missing(storage, commit) : fileSet.first };
  };
  if (settings.offline || isCommitHash(id.revision)) {
    const { dir, missing } = await cached();
    if (dir && !missing) return dir;
    if (settings.offline) throw new HubModelNotFound(`${value}: no such file or directory, and the Hugging Face cache ${settings.cache} has no ${missing} of ${id.repo}@${id.revision} (HF_HUB_OFFLINE is set: nothing is downloaded)`);
  }
  const hub = new HubRepo(id, value, storage, settings, opts);
  let first: HubFileMetadata | null;
  try {
    first = await hub.head(fileSet.first);
  } catch (e) {
    if (!(e instanceof HubUnreachable)) throw e;
    // as huggingface_hub does: the network down, or the repo refused (a token since revoked), the cache answers
    const { dir, missing } = await cached();
    if (dir && !missing) return dir;
    const message = `${value}: ${e.message}${e.notFound ? '' : `; the cache ${settings.cache} has no ${missing} of ${id.repo}@${id.revision}`}`;
    throw e.notFound ? new HubModelNotFound(message) : new Error(message);
  }
  if (!first) throw new Error(`${value}: ${id.repo} on the Hugging Face hub ${fileSet.notThis}`);
  const dir = join(storage, 'snapshots', first.commit);
  if (id.revision !== first.commit) await writeRef(join(storage, 'refs', id.revision), first.commit);
  if (!(await fileSet.missing(storage, first.commit))) return dir; // that commit is cached complete: its files never change
  await fileSet.fetchRest(hub, first);
  return dir;
}

/**
 * The first file the snapshot of `commit` lacks of a GPT-2 model's (its config, weights, tokenizer:
 * as GPT2_MODEL_FILES fetches them), or null. A tokenizer noted absent from the commit (.no_exist: a
 * model of ours keeps its own in the weights' metadata) is not missing.
 */
async function snapshotMissing(storage: string, commit: string): Promise<string | null> {
  const dir = join(storage, 'snapshots', commit);
  if (!(await pathExists(join(dir, HF_FILES.config)))) return HF_FILES.config;
  let weights: string | null = HF_FILES.weights;
  for (const { single, index } of HF_WEIGHTS_FORMS) {
    if (await pathExists(join(dir, single))) {
      weights = null;
      break;
    }
    const text = await unlessMissing(readFile(join(dir, index), 'utf8'));
    if (text === null) continue;
    weights = null;
    for (const shard of new Set(parseShardIndex(text, join(dir, index)).values())) if (!(await pathExists(join(dir, shard)))) return shard;
    break;
  }
  if (weights) return weights;
  const all = async (files: readonly string[]) => (await Promise.all(files.map((f) => pathExists(join(dir, f))))).every(Boolean);
  const noted = async (files: readonly string[]) => (await Promise.all(files.map((f) => pathExists(join(storage, '.no_exist', commit, f))))).some(Boolean);
  for (const files of HUB_TOKENIZERS) if (await all(files)) return null;
  for (const files of HUB_TOKENIZERS) if (!(await noted(files))) return files[0];
  return null;
}

/** The largest config, index or tokenizer file downloaded (tokenizer.json files run to some 10 MB). */
const MAX_TEXT_FILE_BYTES = 16 * 2 ** 20;

/** One repo's files on the hub, fetched into its folder of the cache. */
class HubRepo {
  constructor(
    readonly id: HubModelId,
    /** The repo as given, which errors start with. */
    readonly value: string,
    private readonly storage: string,
    private readonly settings: HubSettings,
    private readonly opts: HubFetchOptions,
  ) {}

  /** Headers for `url`: the token only to the hub itself, never to a CDN a file redirects to (its URL is signed). */
  private headers(url: string): Record<string, string> {
    const sameHost = new URL(url).host === new URL(this.settings.endpoint).host;
    return this.settings.token && sameHost ? { authorization: `Bearer ${this.settings.token}` } : {};
  }

  /**
   * The metadata of `file` at `revision` (the one asked for, else a commit): null where the hub has
   * no such file (EntryNotFound, which huggingface_hub notes in .no_exist). Relative redirects are
   * followed (a renamed repo), an absolute one (an LFS file's CDN) read.
   */
  async head(file: string, revision = this.id.revision): Promise<HubFileMetadata | null> {
    let url = hubFileURL(this.settings.endpoint, this.id.repo, revision, file);
    for (let hops = 0; ; hops++) {
      const watch = stallWatch(STALL_MS);
      let res: Response;
      try {
        res = await fetch(url, { method: 'HEAD', redirect: 'manual', headers: { ...this.headers(url), 'accept-encoding': 'identity' }, signal: watch.signal });
      } catch (e) {
        throw new HubUnreachable(`no such file or directory, and the Hugging Face hub at ${this.settings.endpoint} cannot be reached (${fetchFailure(e, watch, STALL_MS)})`);
      } finally {
        watch.close();
      }
      const location = res.headers.get('location');
      const relativeRedirect = res.status >= 300 && res.status < 400 && location !== null && !/^([a-z][a-z\d+.-]*:)?\/\//i.test(location);
      if (relativeRedirect && hops === 10) throw new HubUnreachable(`the Hugging Face hub at ${this.settings.endpoint} redirected ${file} of ${this.id.repo} more than 10 times`);
      if (relativeRedirect) {
        url = new URL(location, url).href;
        continue;
      }
      if (res.status >= 400) return this.refused(res, file);
      const meta = fileMetadata(res.status, (name) => res.headers.get(name), url);
      if (typeof meta === 'string') throw new HubUnreachable(`${url}: ${meta}`);
      return meta;
    }
  }

  private async refused(res: Response, file: string): Promise<null> {
    const refusal = hubRefusal(res.status, res.headers.get('x-error-code'), res.headers.get('x-error-message'));
    const text = refusalText(refusal, res.status, this.id, file, this.settings.endpoint);
    if (refusal === 'no file') {
      const commit = res.headers.get('x-repo-commit');
      if (commit && isCommitHash(commit)) await noteNoFile(join(this.storage, '.no_exist', commit, file));
      return null;
    }
    if (refusal === 'no revision') throw new HubModelNotFound(`${this.value}: ${text}`);
    // the repo missing: perhaps a path mistyped rather than a model meant
    throw refusal === 'no repo' ? new HubUnreachable(`no such file or directory, and ${text}`, true) : new HubUnreachable(text);
  }

  /** `files` (all of them, or none: null) at `commit`, each fetched unless cached; their snapshot paths. */
  async fetchAll(files: readonly string[], commit: string): Promise<string[] | null> {
    const metas: HubFileMetadata[] = [];
    for (const file of files) {
      const meta = await this.headOrRefuse(file, commit);
      if (!meta) return null;
      metas.push(meta);
    }
    const paths: string[] = [];
    for (const [i, file] of files.entries()) paths.push(await this.fetch(file, metas[i]!));
    return paths;
  }

  /** The weights in our loader's order: model.safetensors, else its index and shards, else pytorch_model.bin, else its index and shards. */
  async fetchWeights(commit: string): Promise<void> {
    for (const { single, index } of HF_WEIGHTS_FORMS) {
      if (await this.fetchAll([single], commit)) return;
      const fetched = await this.fetchAll([index], commit);
      if (!fetched) continue;
      const shards = new Set(parseShardIndex(await readFile(fetched[0]!, 'utf8'), `${this.value}/${index}`).values());
      for (const shard of shards) {
        if (!(await this.fetchAll([shard], commit))) throw new Error(`${this.value}: ${index} names ${shard}, which the Hugging Face hub's ${this.id.repo} does not have`);
      }
      return;
    }
    throw new Error(`${this.value}: ${noWeightsText(this.id.repo)}`);
  }

  /** head's metadata of `file` at `commit`, a refusal one line starting with the repo as given. */
  async headOrRefuse(file: string, commit: string): Promise<HubFileMetadata | null> {
    try {
      return await this.head(file, commit);
    } catch (e) {
      throw e instanceof HubUnreachable ? new Error(`${this.value}: ${e.message}`) : e;
    }
  }

  /** The snapshot path of `file` (of `meta`), its blob downloaded unless cached, linked into the snapshot. */
  async fetch(file: string, meta: HubFileMetadata): Promise<string> {
    const pointer = join(this.storage, 'snapshots', meta.commit, file);
    if (await pathExists(pointer)) return pointer;
    // a JSON or text file is read whole: a hub (or a man in the middle) naming gigabytes is not believed
    if (/\.(json|txt)$/.test(file) && meta.size > MAX_TEXT_FILE_BYTES) {
      throw new Error(`${this.value}: ${file} of ${this.id.repo} is ${meta.size} bytes on the Hugging Face hub, more than a model's ${file} (${MAX_TEXT_FILE_BYTES / 2 ** 20} MB at most)`);
    }
    const blob = join(this.storage, 'blobs', meta.etag);
    if (!(await pathExists(blob))) await this.download(file, meta, blob);
    await mkdir(dirname(pointer), { recursive: true });
    const temp = tempPathFor(pointer);
    try {
      await symlink(relative(dirname(pointer), blob), temp);
    } catch {
      await copyFile(blob, temp); // a file system without links (huggingface_hub copies too)
    }
    await rename(temp, pointer);
    return pointer;
  }

  /** Downloads `meta`'s bytes into `blob`, resuming a partial download left by an earlier one; an LFS file's sha256 checked. */
  private async download(file: string, meta: HubFileMetadata, blob: string): Promise<void> {
    await mkdir(dirname(blob), { recursive: true });
    const mine = `${blob}.${process.pid}-${Math.random().toString(36).slice(2, 10)}.incomplete`;
    await claimPartial(blob, mine);
    const part = new Partial(await open(mine, 'r+'), isSha256(meta.etag));
    try {
      await part.resume(meta.size);
      const repo = meta.repo ?? this.id.repo;
      const report = () => this.opts.progress?.({ repo, file, done: part.done, total: meta.size });
      report();
      if (part.done < meta.size) await this.receive(meta, part, report, file);
      if (part.done !== meta.size) throw new Error(`the connection ended at byte ${part.done} of ${meta.size}`);
      await part.handle.sync();
    } catch (e) {
      await part.handle.close();
      await rename(mine, `${blob}.incomplete`).catch(() => {}); // kept for the next try, which resumes it
      throw new Error(`${this.value}: cannot download ${file} of ${this.id.repo} (${(e as Error).message}); the ${part.done} bytes so far are kept in ${blob}.incomplete: run again to resume`);
    }
    await part.handle.close();
    const digest = part.hash?.digest('hex');
    if (digest !== undefined && digest !== meta.etag) {
      await rm(mine, { force: true });
      throw new Error(`${this.value}: the downloaded ${file} of ${this.id.repo} has sha256 ${digest}, the hub says ${meta.etag}: deleted, nothing kept (run again to download it anew)`);
    }
    await rename(mine, blob);
  }

  /** GETs the rest of `meta`'s bytes (a Range from part.done on), appending them to `part`. */
  private async receive(meta: HubFileMetadata, part: Partial, report: () => void, file: string): Promise<void> {
    const watch: StallWatch = stallWatch(STALL_MS);
    try {
      const range: Record<string, string> = part.done ? { range: `bytes=${part.done}-` } : {};
      const res = await fetch(meta.location, { headers: { ...this.headers(meta.location), ...range }, signal: watch.signal });
      if (res.status >= 400 || !res.body) {
        const refusal = hubRefusal(res.status, res.headers.get('x-error-code'), res.headers.get('x-error-message'));
        throw new Error(refusalText(refusal, res.status, this.id, file, this.settings.endpoint));
      }
      // a server that ignores Range sends the whole file (huggingface_hub starts over then too); one that answers another range is refused, the bytes kept
      if (part.done && res.status !== 206) await part.restart();
      const contentRange = res.headers.get('content-range');
      if (res.status === 206 && !contentRange?.startsWith(`bytes ${part.done}-`)) throw new Error(`the server answered Range bytes=${part.done}- with Content-Range ${contentRange ?? 'none'}`);
      const reader = res.body.getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        watch.progressed();
        if (part.done + r.value.length > meta.size) throw new Error(`the server sent more than the ${meta.size} bytes the hub says ${file} has`);
        await part.append(r.value);
        report();
      }
    } catch (e) {
      throw new Error(fetchFailure(e, watch, STALL_MS));
    } finally {
      watch.close();
    }
  }
}

/** A partial download: its file, the bytes it holds and, for an LFS file, the sha256 of those bytes. */
class Partial {
  done = 0;
  hash: Hash | null;

  constructor(
    readonly handle: FileHandle,
    private readonly hashed: boolean,
  ) {
    this.hash = hashed ? createHash('sha256') : null;
  }

  /** Takes up the bytes already there (their hash read), or starts over where there are more than `size`. */
  async resume(size: number): Promise<void> {
    const held = (await this.handle.stat()).size;
    if (held > size) return this.restart();
    const buffer = new Uint8Array(Math.min(held, 2 ** 24));
    while (this.done < held) {
      const { bytesRead } = await this.handle.read(buffer, 0, Math.min(buffer.length, held - this.done), this.done);
      if (!bytesRead) throw new Error('the partial download shrank while it was read');
      this.hash?.update(buffer.subarray(0, bytesRead));
      this.done += bytesRead;
    }
  }

  async restart(): Promise<void> {
    await this.handle.truncate(0);
    this.done = 0;
    this.hash = this.hashed ? createHash('sha256') : null;
  }

  async append(bytes: Uint8Array): Promise<void> {
    await this.handle.write(bytes, 0, bytes.length, this.done);
    this.hash?.update(bytes);
    this.done += bytes.length;
  }
}

/** Takes over a partial download of `blob`, renamed to `mine`: one a failed download released, else one whose process no longer runs (killed). */
async function claimPartial(blob: string, mine: string): Promise<void> {
  const released = `${blob}.incomplete`;
  const candidates = [released];
  const prefix = `${blob.slice(dirname(blob).length + 1)}.`;
  for (const name of await readdir(dirname(blob))) {
    const pid = new RegExp(`^${prefix.replace(/\./g, '\\.')}(\\d+)-[0-9a-z]+\\.incomplete$`).exec(name)?.[1];
    if (pid && !isRunning(Number(pid))) candidates.push(join(dirname(blob), name));
  }
  for (const partial of candidates) {
    // of two processes renaming one file, one wins; the other finds it gone
    if ((await unlessMissing(rename(partial, mine))) !== null) return;
  }
  await writeFile(mine, new Uint8Array(0));
}

/** Whether process `pid` runs (on this host: the cache of another is not told apart). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** huggingface_hub's note that a commit has no such file (transformers reads it offline). */
async function noteNoFile(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true }).catch(() => {});
  await writeFile(path, '').catch(() => {});
}

/** Points `path` at `commit`, by a rename (a reader never sees half a ref); one already right is left alone (a read-only cache stays usable). */
async function writeRef(path: string, commit: string): Promise<void> {
  if ((await unlessMissing(readFile(path, 'utf8'))) === commit) return;
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, commit);
}

/** `path` where it exists or is no model id; else the snapshot of the model it names (hubSnapshot's). */
export async function hubOrPath(path: string): Promise<string> {
  if ((await unlessMissing(lstat(path))) !== null || !parseHubId(path)) return path;
  return hubSnapshot(path);
}
