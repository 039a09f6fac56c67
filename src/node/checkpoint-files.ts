// A checkpoint on disk (Node only): a directory holding
//   model-<id>.safetensors   the weights, under a fresh name on every save;
//   checkpoint.json          the manifest: the current weights file, its size and CRC-32, the
//                            caller's metadata (step, config, optimizer state, ...), and the names
//                            the save bookkeeping needs (below).
//
// Save, in this order, each step durable before the next:
//   1. write the weights under their new name, atomically (temp file, fsync, rename, fsync dir);
//   2. write checkpoint.json atomically: this rename is the commit point;
//   3. delete the weights the previous manifest named.
// Before step 1, temporary files of our own earlier writes that a kill left are deleted (the space
// they hold may be what this save needs): those of checkpoint.json or of a weights name.
// Killed at any moment, the directory's checkpoint.json names a complete weights file: the old pair
// until step 2, the new pair after it. (Overwriting a fixed model.safetensors before the JSON would
// not do: a kill between the two renames leaves new weights under the old manifest, which the
// checksum catches, but the previous checkpoint is gone by then.)
//
// Only files this directory's manifests name, and named as a save names them, are ever overwritten or
// deleted, never a file merely named like ours (a user's model-gpt2-small.safetensors stays), nor one
// a hand-edited manifest names (notes.txt). So that a killed save leaves nothing unnamed, each
// manifest records `next`, the name the next save writes its weights under (a killed save's
// complete but uncommitted weights sit there and are simply overwritten), and `stale`, the earlier
// weights still to delete (a save killed after its commit has not deleted them yet). Temporary files
// are `.<target>.tmp-<pid>-<random>` for targets we write: checkpoint.json and weights names (a
// first save killed mid-write leaves one under a name no manifest records).
//
// Load: read checkpoint.json, then open the weights file it names and check its size and CRC-32, so
// that a truncated, damaged or swapped weights file is an error rather than a silently different
// model; the caller reads the tensors through that same open file, which a save deleting it
// meanwhile cannot swap, the CRC-32 taken as they are read and checked before they are used. Only
// regular files are read (a FIFO would hang the reader). A save committing between the two reads
// deletes the weights the first manifest named: the reader then reads the new pair.
//
// Weights are written and checked in pieces, never as one buffer: past 2 GiB (a single read) and
// 4 GiB (a Buffer) Node could not hold a large model's checkpoint with its optimizer state.
// One writer per directory at a time (`gpt train`, prune and quantize hold the directory's lock,
// src/node/dir-lock.ts): so a temporary file a save finds is no live writer's, and it is a save that
// deletes them, never a load (a reader holds no lock, and may read beside a save that is writing one).
import { lstat, readdir, readlink, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { HF_FILES, HF_WEIGHTS_NAMES } from '../gpt/hf/index.js';
import { parseJSONText } from '../io/json-text.js';
import { tempTarget, writeFileAtomic, type FileData } from './atomic-file.js';
import { crc32, crcHex } from '../io/checksum.js';
import { fileVersion, makeDirectories, openRegularFile, pathExists, readRegularFile, SIDE_FILE_BYTES, unlessMissing, type PositionalFile } from './regular-files.js';

export const MANIFEST_FILE = 'checkpoint.json';

export interface CheckpointManifest {
  /** File name of the weights, in the checkpoint directory. */
  weights: string;
  weightsBytes: number;
  /** CRC-32 of the weights file, 8 hex digits. */
  weightsCrc32: string;
  meta: Record<string, unknown>;
  /** The name the next save writes its weights under. */
  next?: string;
  /** Weights of earlier saves not known to be deleted yet. */
  stale?: string[];
}

export class CheckpointError extends Error {
  constructor(
    readonly kind: 'missing' | 'truncated' | 'corrupt',
    dir: string,
    detail: string,
  ) {
    super(`checkpoint at ${dir} is ${kind}: ${detail}`);
    this.name = 'CheckpointError';
  }
}

const freshWeightsName = () => `model-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}.safetensors`;
/** A name freshWeightsName could have made: the only files a save overwrites or deletes, whatever a (hand-edited) manifest names. */
const isWeightsName = (name: string) => /^model-[0-9a-z]+-[0-9a-z]{1,6}\.safetensors$/.test(name);

/**
 * Saves `weights` (the file's bytes, or its pieces in order: safetensorsPieces, one tensor's bytes
 * at a time, or checkpointPieces, each tensor read back from the GPU only when it is written) with
 * `meta` as the checkpoint in `dir`, by the protocol above.
 */
export async function writeCheckpointFiles(
  dir: string,
  weights: Uint8Array | Exclude<FileData, string | Uint8Array>,
  meta: Record<string, unknown> = {},
): Promise<CheckpointManifest> {
  await makeDirectories(dir);
  await removeKilledTemporaries(dir);
  const previous = await readManifestOrNull(dir);
  const name = previous?.next !== undefined && isWeightsName(previous.next) ? previous.next : freshWeightsName();
  const stale = previous ? [previous.weights, ...(previous.stale ?? [])].filter((n) => n !== name && isWeightsName(n)) : [];
  const staleFound = await existing(dir, stale);
  // the size and checksum are taken from the pieces as they are written
  let [weightsBytes, crc] = [0, 0];
  async function* counted() {
    for await (const piece of weights instanceof Uint8Array ? [weights] : weights) {
      weightsBytes += piece.length;
      crc = fastCrc32(piece, crc);
      yield piece;
    }
  }
  await writeFileAtomic(join(dir, name), counted());
  const manifest: CheckpointManifest = { weights: name, weightsBytes, weightsCrc32: crcHex(crc), meta, next: freshWeightsName(), stale: staleFound };
  // durable weights first, then the manifest that commits them
  try {
    await writeFileAtomic(join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
  } catch (e) {
    // uncommitted, the weights are nobody's: on a full disk they would hold the space a resumed run needs
    // (a manifest that landed before the failure, or one that cannot be read, may name them: kept)
    const committed = await readManifestOrNull(dir).then((m) => m?.weights === name, () => true);
    if (!committed) await rm(join(dir, name), { force: true }).catch(() => undefined);
    throw e;
  }
  await Promise.all(stale.map((f) => rm(join(dir, f), { force: true })));
  return manifest;
}

/** Deletes the temporary files of checkpoint.json and of weights names in `dir`: a killed save's, as its writer holds the directory's lock. */
async function removeKilledTemporaries(dir: string): Promise<void> {
  const ours = (await readdir(dir)).filter((f) => {
    const target = tempTarget(f);
    return target !== null && (target === MANIFEST_FILE || isWeightsName(target));
  });
  await Promise.all(ours.map((f) => rm(join(dir, f), { force: true })));
}

/** The previous manifest, or null where there is none we can trust to name our files. */
async function readManifestOrNull(dir: string): Promise<CheckpointManifest | null> {
  const text = await readOrNull(join(dir, MANIFEST_FILE));
  if (text === null) return null;
  try {
    return parseManifest(dir, text.toString('utf8'));
  } catch (e) {
    if (e instanceof CheckpointError) return null;
    throw e;
  }
}

async function existing(dir: string, names: string[]): Promise<string[]> {
  const found = await Promise.all(names.map((n) => stat(join(dir, n)).then(() => n, () => null)));
  return [...new Set(found.filter((n) => n !== null))];
}

/**
 * The weights file a reader last found whole (`gpt serve` keeps one: the page reads a range per
 * tensor): opened again unchanged, it is not read through again for its CRC-32. Unchanged: the same
 * manifest entry, the same file (device, inode), with the size and modification and change times it
 * had before its check began (a write during the check changes them). Readers that open it while
 * its check runs share that check (ten pages loading a new save read it through once, not ten times).
 */
export interface CheckedWeights {
  last?: string;
  /** The check of `last`: readers that open it while it runs wait for it rather than each read the file through. */
  check?: Promise<void>;
}

/**
 * Opens the current weights, checks their size and CRC-32 against the manifest, and passes the open
 * file to `use` (closed when it is done): what `use` reads is what was checked. For a reader that
 * must not see a byte before it is checked (`gpt serve` sends them on); readCheckpointWeights
 * reads the file once. `attempts`: how many manifests to try when saves land mid-read.
 */
export function withCheckpointFiles<T>(
  dir: string,
  use: (weights: FileHandle, manifest: CheckpointManifest) => Promise<T>,
  attempts = 3,
  checked?: CheckedWeights,
): Promise<T> {
  return withWeightsOpen(
    dir,
    async (handle, manifest) => {
      const check = async () => checkCrc(dir, manifest, await fileCrc32(handle, manifest.weightsBytes));
      if (!checked) await check();
      else {
        const version = await weightsVersion(handle, manifest);
        if (version !== checked.last) {
          const pending = check();
          [checked.last, checked.check] = [version, pending];
          // a failed check is no check: the next reader tries again
          pending.catch(() => {
            if (checked.check === pending) [checked.last, checked.check] = [undefined, undefined];
          });
        }
        await checked.check;
      }
      return use(handle, manifest);
    },
    attempts,
  );
}

const weightsVersion = async (handle: FileHandle, { weights, weightsBytes, weightsCrc32 }: CheckpointManifest): Promise<string> =>
  [weights, weightsBytes, weightsCrc32, (await fileVersion(handle)).version].join(':');

/**
 * Opens the current weights, checks their size, and passes the open file to `read`, which stages
 * what it reads (nothing reaches the caller before this returns: on the host, or on the GPU in new
 * tensors that `discard` frees): the reads are checksummed as they come, and once `read` is done the
 * CRC-32 is checked against the manifest. On a mismatch its result is discarded (or its error
 * dropped) for the checksum's error, so a damaged file fails as withCheckpointFiles' does, having
 * been read once rather than twice (1.5 GB for a GPT-2 124M fine-tune with its moments).
 */
export function readCheckpointWeights<T>(
  dir: string,
  read: (weights: PositionalFile, manifest: CheckpointManifest) => Promise<T>,
  { discard }: { discard?: (value: T) => void } = {},
): Promise<T> {
  return withWeightsOpen(
    dir,
    async (handle, manifest) => {
      const file = checksummedReads(handle, manifest.weightsBytes);
      const outcome = await read(file, manifest).then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      );
      // a damaged header fails `read` early: its error gives way to the checksum's, as it did when the check came first
      try {
        checkCrc(dir, manifest, await file.crc());
      } catch (e) {
        if ('value' in outcome) discard?.(outcome.value);
        throw e;
      }
      if ('error' in outcome) throw outcome.error;
      return outcome.value;
    },
  );
}

/**
 * The current weights opened and checked for size against the manifest (not for their CRC-32: for a
 * reader of the header alone, `gpt info`), passed to `use` (closed when it is done).
 */
export async function withWeightsOpen<T>(dir: string, use: (weights: FileHandle, manifest: CheckpointManifest) => Promise<T>, attempts = 3): Promise<T> {
  const text = await readOrNull(join(dir, MANIFEST_FILE));
  if (text === null) throw new CheckpointError('missing', dir, await whyNoManifest(dir));
  const manifest = parseManifest(dir, text.toString('utf8'));
  const name = manifest.weights;
  const handle = await unlessMissing(openRegularFile(join(dir, name)));
  if (handle === null) {
    // a save that committed after the manifest was read (a reader beside `gpt train`, `gpt serve`)
    // deleted the weights it named: the new manifest names complete ones
    const now = await readOrNull(join(dir, MANIFEST_FILE));
    if (attempts > 1 && now !== null && !now.equals(text)) return withWeightsOpen(dir, use, attempts - 1);
    throw new CheckpointError('missing', dir, `weights file ${name} named by ${MANIFEST_FILE} does not exist`);
  }
  try {
    const { size } = await handle.stat();
    const sizes = `${name} has ${size} bytes, ${MANIFEST_FILE} records ${manifest.weightsBytes}`;
    if (size < manifest.weightsBytes) throw new CheckpointError('truncated', dir, sizes);
    if (size > manifest.weightsBytes) throw new CheckpointError('corrupt', dir, `weights size mismatch (${sizes})`);
    return await use(handle, manifest);
  } finally {
    await handle.close();
  }
}

function checkCrc(dir: string, manifest: CheckpointManifest, crc: number): void {
  if (crcHex(crc) === manifest.weightsCrc32) return;
  const detail = `${manifest.weights} has CRC-32 ${crcHex(crc)}, ${MANIFEST_FILE} records ${manifest.weightsCrc32}`;
  throw new CheckpointError('corrupt', dir, `weights checksum mismatch (${detail})`);
}

/** Bytes checksummed per read: enough to keep the calls few, small beside the tensors. */
const CRC_CHUNK = 2 ** 24;

/** Node's own CRC-32 where it has one (20.15 on): the same function as checksum.ts's, about 5x faster (51 against 245 ms for 256 MiB). */
export const fastCrc32: (bytes: Uint8Array, crc: number) => number = (zlib as { crc32?: (bytes: Uint8Array, crc: number) => number }).crc32 ?? crc32;

/**
 * CRC-32 of the first `size` bytes of an open file, continuing `crc` of the bytes before `from`
 * (fewer if it shrank meanwhile: then the checksum disagrees).
 */
async function fileCrc32(handle: FileHandle, size: number, from = 0, crc = 0): Promise<number> {
  const buffer = new Uint8Array(Math.max(0, Math.min(CRC_CHUNK, size - from)));
  for (let done = from; done < size; ) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, size - done), done);
    if (bytesRead === 0) break;
    crc = fastCrc32(buffer.subarray(0, bytesRead), crc);
    done += bytesRead;
  }
  return crc;
}

/**
 * The open file's reads, checksummed as they arrive in file order (a reader going through it from
 * the start, as a safetensors reader does); crc() adds, from the file, whatever was not read so.
 */
function checksummedReads(handle: FileHandle, size: number): PositionalFile & { crc(): Promise<number> } {
  let [hashed, crc] = [0, 0]; // the CRC-32 of the file's first `hashed` bytes
  return {
    stat: () => handle.stat(),
    async read(buffer, offset, length, position) {
      const result = await handle.read(buffer, offset, length, position);
      const end = position + result.bytesRead;
      if (position <= hashed && end > hashed) {
        crc = fastCrc32(buffer.subarray(offset + hashed - position, offset + result.bytesRead), crc);
        hashed = end;
      }
      return result;
    },
    crc: () => fileCrc32(handle, size, hashed, crc),
  };
}

const readOrNull = (path: string) => unlessMissing(readRegularFile(path, SIDE_FILE_BYTES));

/**
 * What `dir` holds under MANIFEST_FILE, for commands that would write a checkpoint there: null for
 * nothing; a dangling symlink is not nothing (its target may be on a drive not mounted now) and is
 * refused as a checkpoint is, named as what it is.
 */
export async function manifestHeld(dir: string): Promise<{ words: string; dangling: boolean } | null> {
  const path = join(dir, MANIFEST_FILE);
  if ((await unlessMissing(lstat(path))) === null) return null;
  if (await pathExists(path)) return { words: 'a checkpoint', dangling: false };
  return { words: `a ${MANIFEST_FILE} that is a symlink to ${await readlink(path)}, which does not exist`, dangling: true };
}

/** Why a directory's manifest could not be found: absent, or a symlink whose target is (ENOENT alike). */
async function whyNoManifest(dir: string): Promise<string> {
  const target = await readlink(join(dir, MANIFEST_FILE)).catch(() => null);
  if (target !== null) return `${MANIFEST_FILE} is a symlink to ${target}, which does not exist`;
  // a Hugging Face model's weights without their config.json: what a copy cut short leaves, or an export killed (SIGKILL) within its commit
  for (const file of HF_WEIGHTS_NAMES) if (await pathExists(join(dir, file))) return `there is no ${MANIFEST_FILE}, nor the ${HF_FILES.config} that a Hugging Face model's ${file} needs beside it (an export that did not finish?)`;
  return `there is no ${MANIFEST_FILE}`;
}

function parseManifest(dir: string, text: string): CheckpointManifest {
  const bad = (detail: string) => new CheckpointError('corrupt', dir, `${MANIFEST_FILE} ${detail}`);
  const m = parseJSONText(text, (why) => {
    throw bad(`is ${why}`);
  }) as Partial<CheckpointManifest>;
  if (typeof m !== 'object' || m === null) throw bad('is not a JSON object');
  if (!isFileName(m.weights)) {
    throw bad(`field "weights" must be a file name in the checkpoint directory, got ${JSON.stringify(m.weights)}`);
  }
  if (!Number.isSafeInteger(m.weightsBytes) || m.weightsBytes! < 0) {
    throw bad(`field "weightsBytes" must be a byte count, got ${JSON.stringify(m.weightsBytes)}`);
  }
  if (typeof m.weightsCrc32 !== 'string' || !/^[0-9a-f]{8}$/.test(m.weightsCrc32)) {
    throw bad(`field "weightsCrc32" must be 8 hex digits, got ${JSON.stringify(m.weightsCrc32)}`);
  }
  if (typeof m.meta !== 'object' || m.meta === null || Array.isArray(m.meta)) {
    throw bad(`field "meta" must be an object, got ${JSON.stringify(m.meta)}`);
  }
  if (m.next !== undefined && (!isFileName(m.next) || m.next === m.weights)) {
    throw bad(`field "next" must be a file name other than "weights", got ${JSON.stringify(m.next)}`);
  }
  if (m.stale !== undefined && !(Array.isArray(m.stale) && m.stale.every(isFileName) && !m.stale.includes(m.weights))) {
    throw bad(`field "stale" must be a list of file names other than "weights", got ${JSON.stringify(m.stale)}`);
  }
  return m as CheckpointManifest;
}

/** A plain file name: a manifest must not send the reader (or the deleter) outside the checkpoint directory. */
function isFileName(name: unknown): name is string {
  return typeof name === 'string' && /^[^./\\][^/\\]*$/.test(name) && name !== MANIFEST_FILE;
}
