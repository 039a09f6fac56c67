// A checkpoint on disk (Node only): a directory holding
//   model-<id>.safetensors   the weights, under a fresh name on every save;
//   checkpoint.json          the manifest: the current weights file, its size and CRC-32, and the
//                            caller's metadata (step, config, optimizer state, ...).
//
// Save, in this order, each step durable before the next:
//   1. write the weights under their new name, atomically (temp file, fsync, rename, fsync dir);
//   2. write checkpoint.json atomically: this rename is the commit point;
//   3. delete the weights and temporary files the new manifest does not name.
// Killed at any moment, the directory's checkpoint.json names a complete weights file: the old pair
// until step 2, the new pair after it. What a killed save leaves behind is never named by the
// manifest, and the next save removes it. (Overwriting a fixed model.safetensors before the JSON
// would not do: a kill between the two renames leaves new weights under the old manifest, which the
// checksum catches, but the previous checkpoint is gone by then.)
//
// Load: read checkpoint.json, then the weights file it names, and check its size and CRC-32, so that
// a truncated, damaged or swapped weights file is an error rather than a silently different model.
// One writer per directory at a time.
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tempFilePrefix, writeFilesAtomic } from './atomic-file.js';
import { crc32Hex } from './checksum.js';

export const MANIFEST_FILE = 'checkpoint.json';

export interface CheckpointManifest {
  /** File name of the weights, in the checkpoint directory. */
  weights: string;
  weightsBytes: number;
  /** CRC-32 of the weights file, 8 hex digits. */
  weightsCrc32: string;
  meta: Record<string, unknown>;
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

const WEIGHTS_FILE = /^model-[0-9a-z]+-[0-9a-z]+\.safetensors$/;

export async function writeCheckpointFiles(
  dir: string,
  weights: Uint8Array,
  meta: Record<string, unknown> = {},
): Promise<CheckpointManifest> {
  await mkdir(dir, { recursive: true });
  const unique = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const manifest: CheckpointManifest = {
    weights: `model-${unique}.safetensors`,
    weightsBytes: weights.length,
    weightsCrc32: crc32Hex(weights),
    meta,
  };
  await writeFilesAtomic(dir, [
    { name: manifest.weights, data: weights },
    { name: MANIFEST_FILE, data: JSON.stringify(manifest, null, 2) + '\n' },
  ]);
  const leftovers = (await readdir(dir)).filter((name) => isLeftover(name, manifest.weights));
  await Promise.all(leftovers.map((name) => rm(join(dir, name), { force: true })));
  return manifest;
}

export async function readCheckpointFiles(dir: string): Promise<{ weights: Uint8Array; manifest: CheckpointManifest }> {
  const text = await readOrNull(join(dir, MANIFEST_FILE));
  if (text === null) throw new CheckpointError('missing', dir, `there is no ${MANIFEST_FILE}`);
  const manifest = parseManifest(dir, text.toString('utf8'));
  const weights = await readOrNull(join(dir, manifest.weights));
  const name = manifest.weights;
  if (weights === null) {
    throw new CheckpointError('missing', dir, `weights file ${name} named by ${MANIFEST_FILE} does not exist`);
  }
  const sizes = `${name} has ${weights.length} bytes, ${MANIFEST_FILE} records ${manifest.weightsBytes}`;
  if (weights.length < manifest.weightsBytes) throw new CheckpointError('truncated', dir, sizes);
  if (weights.length > manifest.weightsBytes) {
    throw new CheckpointError('corrupt', dir, `weights size mismatch (${sizes})`);
  }
  const crc = crc32Hex(weights);
  if (crc !== manifest.weightsCrc32) {
    const detail = `${name} has CRC-32 ${crc}, ${MANIFEST_FILE} records ${manifest.weightsCrc32}`;
    throw new CheckpointError('corrupt', dir, `weights checksum mismatch (${detail})`);
  }
  return { weights, manifest };
}

/** Weights of earlier saves, and temporary files of saves that were killed. */
function isLeftover(name: string, current: string): boolean {
  if (name === current) return false;
  if (WEIGHTS_FILE.test(name) || name.startsWith(tempFilePrefix(MANIFEST_FILE))) return true;
  const temp = /^\.(.*)\.tmp-/.exec(name);
  return temp !== null && WEIGHTS_FILE.test(temp[1]!);
}

async function readOrNull(path: string): Promise<Buffer | null> {
  try {
    return await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

function parseManifest(dir: string, text: string): CheckpointManifest {
  const bad = (detail: string) => new CheckpointError('corrupt', dir, `${MANIFEST_FILE} ${detail}`);
  let m: Partial<CheckpointManifest>;
  try {
    m = JSON.parse(text) as Partial<CheckpointManifest>;
  } catch (e) {
    throw bad(`is not valid JSON (${(e as Error).message})`);
  }
  if (typeof m !== 'object' || m === null) throw bad('is not a JSON object');
  // A plain file name: the manifest must not send the reader outside the checkpoint directory.
  if (typeof m.weights !== 'string' || !/^[^./\\][^/\\]*$/.test(m.weights)) {
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
  return m as CheckpointManifest;
}
