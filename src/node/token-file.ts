// Token ids on disk, as `gpt prepare` writes them (train.bin, val.bin): little-endian uint16 where
// the vocabulary fits, as nanoGPT's, int32 otherwise. A TokenFile reads the windows a batch draws
// when it draws them, so a corpus of billions of tokens (OpenWebText: 9B, 18 GB) trains without
// being held in memory; the operating system's page cache keeps the hot parts. TokenWriter streams
// ids out the same way.
import { readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { readCache, updateCache } from '../device/cache-files.js';
import { openRegularFile, readFully, writeFully } from './regular-files.js';
import { checkOptionKeys, describeValue } from '../tensor/check.js';

/** How token ids are stored: uint16 where the vocabulary fits (as nanoGPT's train.bin), int32 otherwise. */
export const TOKEN_DTYPES = ['uint16', 'int32'] as const;
/** One of TOKEN_DTYPES. */
export type TokenDtype = (typeof TOKEN_DTYPES)[number];

/** Bytes per id of `dtype`. */
export const tokenBytes = (dtype: TokenDtype): number => (dtype === 'uint16' ? 2 : 4);

/** The narrowest dtype that holds every id of a vocabulary of `vocabSize` tokens. */
export const tokenDtypeFor = (vocabSize: number): TokenDtype => (vocabSize <= 2 ** 16 ? 'uint16' : 'int32');

/** The ids of `bytes` (a whole number of tokens of `dtype`, at the start of a buffer of their own) as int32, the dtype a batch holds. */
function idsOf(bytes: Uint8Array, dtype: TokenDtype): Int32Array {
  if (dtype === 'int32') return new Int32Array(bytes.buffer, 0, bytes.length / 4);
  return Int32Array.from(new Uint16Array(bytes.buffer, 0, bytes.length / 2));
}

/** How a TokenFile is opened: what the file must hold. */
export interface TokenFileSpec {
  dtype: TokenDtype;
  /** The number of ids: the file must be exactly this long. */
  count: number;
  /** Every id must be below this. */
  vocabSize: number;
  /** Whose vocabulary, for the error naming a bad id (e.g. "meta.json's tokenizer"). */
  vocabularyOf?: string;
}

// Reads of this many bytes at a time when the whole file is checked.
const SCAN_BYTES = 16 * 2 ** 20;

// A file at least this large has its largest id remembered after a check (token-checks.json in the
// user's cache directory), keyed by device, inode, size and change time, which any write moves: a
// resumed OpenWebText run (18 GB) then starts at once instead of reading every id again (~11 s
// from the page cache). A smaller file is read in well under a second: checked at every open.
export const REMEMBERED_CHECK_BYTES = 64 * 2 ** 20;
const CHECKS_FILE = 'token-checks.json';
const REMEMBERED_FILES = 64; // the most recently checked; older ones are forgotten
// A check is remembered only where the file's change time is at least this long before the check
// began: file systems that keep whole seconds (ext3, HFS+; FAT two) give a write made in the same
// second the same time, which would then pass for the checked version (git's index calls such a
// file racily clean). A file system that keeps no time (0) is checked at every open.
const SETTLED_NS = 2_000_000_000n;

/** What a check found in one version of a file: its largest id. */
interface RememberedCheck {
  version: string;
  maxId: number;
}

/**
 * A file of token ids read on demand: `subarray(begin, end)` reads ids [begin, end) as an
 * Int32Array, so the file serves as a Trainer's `data.train` or `data.val` as an Int32Array would.
 * Every id is checked when the file is opened (a bad one is named before any training starts, not
 * when a batch happens to draw it; a large file's check is remembered until it changes). close()
 * gives the file back.
 */
export class TokenFile {
  private handle: FileHandle | null;

  private constructor(
    readonly path: string,
    readonly dtype: TokenDtype,
    readonly length: number,
    handle: FileHandle,
  ) {
    this.handle = handle; // held, not just its descriptor: a FileHandle left to the garbage collector closes it
  }

  static async open(path: string, spec: TokenFileSpec): Promise<TokenFile> {
    checkOptionKeys('TokenFile.open', spec, ['dtype', 'count', 'vocabSize', 'vocabularyOf']);
    const { dtype, count } = spec;
    if (!TOKEN_DTYPES.includes(dtype)) throw new Error(`TokenFile.open: dtype must be one of ${TOKEN_DTYPES.join(', ')}, got ${describeValue(dtype)}`);
    for (const key of ['count', 'vocabSize'] as const) {
      const v = spec[key];
      if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`TokenFile.open: ${key} must be an integer >= 0, got ${describeValue(v)}`);
    }
    const handle = await openRegularFile(path);
    try {
      const stat = await handle.stat({ bigint: true });
      const width = tokenBytes(dtype);
      if (stat.size !== BigInt(count * width)) throw new Error(`${path} has ${stat.size} bytes, ${count} ${dtype} tokens take ${count * width}`);
      if (count * width < REMEMBERED_CHECK_BYTES) await checkIds(handle, path, spec);
      else {
        const file = `${stat.dev}:${stat.ino}`;
        const version = `${dtype} ${stat.size} ${stat.ctimeNs}`;
        const checks = await rememberedChecks();
        const known = checks[file];
        if (!(known?.version === version && known.maxId < spec.vocabSize)) {
          const settled = stat.ctimeNs > 0n && stat.ctimeNs + SETTLED_NS <= BigInt(Date.now()) * 1_000_000n;
          const maxId = await checkIds(handle, path, spec);
          if (settled) await remember(file, { version, maxId });
        }
      }
    } catch (e) {
      await handle.close();
      throw e;
    }
    return new TokenFile(path, dtype, count, handle);
  }

  /** Ids [begin, end) read from the file. */
  subarray(begin: number, end: number): Int32Array {
    if (!this.handle) throw new Error(`TokenFile: ${this.path} was closed`);
    if (!Number.isInteger(begin) || !Number.isInteger(end) || begin < 0 || end < begin || end > this.length) {
      throw new RangeError(`TokenFile.subarray: [${begin}, ${end}) is not a range of the ${this.length} tokens of ${this.path}`);
    }
    const width = tokenBytes(this.dtype);
    const bytes = new Uint8Array((end - begin) * width);
    for (let done = 0; done < bytes.length; ) {
      const got = readSync(this.handle.fd, bytes, done, bytes.length - done, begin * width + done);
      if (got === 0) throw new Error(`${this.path} was cut short while in use (it held ${this.length} tokens)`);
      done += got;
    }
    return idsOf(bytes, this.dtype);
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    await handle?.close();
  }
}

/** Checks every id of the file against the vocabulary; returns the largest (-1 for no ids). */
async function checkIds(handle: FileHandle, path: string, { dtype, count, vocabSize, vocabularyOf }: TokenFileSpec): Promise<number> {
  const width = tokenBytes(dtype);
  const buffer = new Uint8Array(Math.min(SCAN_BYTES, count * width));
  let largest = -1;
  for (let start = 0; start < count; ) {
    const n = Math.min(count - start, buffer.length / width);
    const chunk = await readFully(handle, start * width, buffer.subarray(0, n * width), path);
    const ids = dtype === 'int32' ? new Int32Array(chunk.buffer, 0, n) : new Uint16Array(chunk.buffer, 0, n);
    let [min, max] = [0, largest];
    for (let i = 0; i < n; i++) {
      const id = ids[i]!; // a plain loop: findIndex's callback per id took 3x longer
      if (id < min) min = id;
      if (id > max) max = id;
    }
    if (min < 0 || max >= vocabSize) {
      const bad = ids.findIndex((id) => id < 0 || id >= vocabSize);
      const whose = vocabularyOf ? ` of ${vocabularyOf}` : '';
      throw new Error(`${path}: token ${ids[bad]} at index ${start + bad} is outside the vocabulary [0, ${vocabSize})${whose}`);
    }
    largest = max;
    start += n;
  }
  return largest;
}

/** Adds `check` to the checks file as it is now (under its lock: files checked at once, in this process or others, each keep the others'). */
function remember(file: string, check: RememberedCheck): Promise<void> {
  return updateCache(CHECKS_FILE, (text) => {
    const checks = parseChecks(text);
    delete checks[file]; // re-added last: the most recent stay
    checks[file] = check;
    return JSON.stringify(Object.fromEntries(Object.entries(checks).slice(-REMEMBERED_FILES)), null, 1);
  });
}

/** The checks remembered in the cache directory, by file; none where the cache is missing or unreadable. */
const rememberedChecks = async (): Promise<Record<string, RememberedCheck>> => parseChecks(await readCache(CHECKS_FILE));

/** The valid checks of a checks file's text (none where it is missing or damaged). */
function parseChecks(text: string | null): Record<string, RememberedCheck> {
  try {
    const parsed: unknown = JSON.parse(text ?? '{}');
    const valid = (c: unknown): c is RememberedCheck => typeof (c as RememberedCheck)?.version === 'string' && Number.isSafeInteger((c as RememberedCheck).maxId);
    return Object.fromEntries(Object.entries(parsed as object).filter(([, c]) => valid(c)));
  } catch {
    return {};
  }
}

/** Ids appended in order to a new file of `dtype`; each must fit the dtype. */
export class TokenWriter {
  count = 0;

  private constructor(
    private readonly handle: FileHandle,
    readonly path: string,
    readonly dtype: TokenDtype,
  ) {}

  /** Creates `path`, which must not exist yet. */
  static async create(path: string, dtype: TokenDtype): Promise<TokenWriter> {
    return new TokenWriter(await open(path, 'wx'), path, dtype);
  }

  async append(ids: Int32Array): Promise<void> {
    const max = this.dtype === 'uint16' ? 2 ** 16 : 2 ** 31;
    const bad = ids.findIndex((id) => id < 0 || id >= max);
    if (bad >= 0) throw new Error(`TokenWriter: token ${ids[bad]} does not fit ${this.dtype}`);
    const data = this.dtype === 'int32' ? ids : Uint16Array.from(ids);
    await writeFully(this.handle, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.count += ids.length;
  }

  /** Makes the ids durable and closes the file. */
  async close(): Promise<void> {
    try {
      await this.handle.sync();
    } finally {
      await this.handle.close();
    }
  }

  /** Closes without syncing: for a writer given up on (its file is then deleted by the caller). */
  async abandon(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}
