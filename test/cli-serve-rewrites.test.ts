// `gpt serve --checkpoint` while the checkpoint is saved again (by `gpt train`, or a file renamed
// over): every response is one whole save, old or new, never the old size with the new bytes nor a
// failure. The saves are made to land at the worst moment: as the response starts, or between the
// reading of a directory's manifest and of the weights it names (which the save deletes). A
// checkpoint damaged since the start is a 500 whose reason is logged, not a silent failure.
import { mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { ServerResponse } from 'node:http';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startServer, type ServeOptions, type StaticServer } from '../src/cli/serve.js';
import { encodeCheckpoint } from '../src/gpt/checkpoint.js';
import { GPT } from '../src/gpt/model.js';
import { CharTokenizer } from '../src/gpt/tokenizer/index.js';
import { writeCheckpointFiles } from '../src/node/checkpoint-files.js';
import { getCheckpoint, tempDir } from './cli-helpers.js';
import { readCheckpointFiles, setupDevice } from './helpers.js';

/** Runs once, just before the next regular file a checkpoint reader reads or opens (its path given). */
const beforeRead = vi.hoisted(() => ({ hook: null as ((path: string) => Promise<void>) | null }));
vi.mock('../src/node/regular-files.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/node/regular-files.js')>();
  const hooked =
    <T>(read: (path: string) => Promise<T>) =>
    async (path: string) => {
      const hook = beforeRead.hook;
      beforeRead.hook = null;
      await hook?.(path);
      return read(path);
    };
  return { ...real, readRegularFile: hooked(real.readRegularFile), openRegularFile: hooked(real.openRegularFile) };
});

const dir = tempDir('cli-serve-rewrites');
const root = join(dir, 'web');
mkdirSync(root);
writeFileSync(join(root, 'index.html'), '<!doctype html><title>t</title>');
/** Two saves of a tiny model, of different sizes. */
let saves: [Uint8Array, Uint8Array];

beforeAll(async () => {
  await setupDevice();
  const model = new GPT({ vocabSize: 4, blockSize: 4, nLayer: 1, nHead: 1, nEmbd: 4, dropout: 0, bias: false });
  const tokenizer = CharTokenizer.train('abcd');
  saves = [await encodeCheckpoint(model, tokenizer), await encodeCheckpoint(model, tokenizer, { val: 1.5, run: 'a later save' })];
  model.dispose();
  expect(saves[1].length).toBeGreaterThan(saves[0].length);
});


/** Which save `body` is, whole: 0, 1, or -1 for neither. */
const whichSave = (body: Buffer) => saves.findIndex((s) => body.equals(s));

describe('gpt serve, a checkpoint saved again while it is served', () => {
  let server: StaticServer | undefined;
  afterAll(() => server?.close());

  it('a checkpoint file renamed over as its response starts is sent whole', async () => {
    const file = join(dir, 'ck.safetensors');
    writeFileSync(file, saves[0]);
    server = await startServer({ root, port: 0, checkpoint: file });
    writeFileSync(`${file}.new`, saves[1]);
    const writeHead = ServerResponse.prototype.writeHead;
    const spy = vi.spyOn(ServerResponse.prototype, 'writeHead').mockImplementationOnce(function (this: ServerResponse, ...args: Parameters<typeof writeHead>) {
      renameSync(`${file}.new`, file); // as an atomic save does
      return writeHead.apply(this, args);
    });
    try {
      const r = await getCheckpoint(server);
      expect(spy).toHaveBeenCalled();
      expect(r.status).toBe(200);
      expect(r.body.length, 'bytes received against Content-Length').toBe(r.length);
      expect(whichSave(r.body), 'one whole save').not.toBe(-1);
      // and the next request sends the new one
      expect(whichSave((await getCheckpoint(server)).body)).toBe(1);
    } finally {
      spy.mockRestore();
      await server.close();
      server = undefined;
    }
  });

  it("a directory whose save commits between the manifest's read and the weights' sends the new save", async () => {
    const ck = join(dir, 'run');
    await writeCheckpointFiles(ck, saves[0]);
    server = await startServer({ root, port: 0, checkpoint: ck });
    const saved = saveBeforeWeightsRead(ck, saves[1]);
    const r = await getCheckpoint(server);
    expect(saved()).toBe(true);
    expect(r.status).toBe(200);
    expect(whichSave(r.body)).toBe(1);
    // any reader of the directory alike (`gpt sample --init-from` beside a training run)
    const savedAgain = saveBeforeWeightsRead(ck, saves[0]);
    expect(whichSave(Buffer.from((await readCheckpointFiles(ck)).weights))).toBe(0);
    expect(savedAgain()).toBe(true);
  });
});

/** Serves `checkpoint`, spoils it, asks for it: a 500 with gpt serve's page, logged once; the logged error. */
async function servedError(checkpoint: string, spoil: () => void): Promise<unknown> {
  const logged: Parameters<NonNullable<ServeOptions['onRequest']>>[] = [];
  const server = await startServer({ root, port: 0, checkpoint, onRequest: (...args) => logged.push(args) });
  try {
    spoil();
    const r = await getCheckpoint(server);
    expect(r.status).toBe(500);
    expect(r.body.toString()).toMatch(/gpt serve's output/);
    await expect.poll(() => logged.length).toBe(1);
    const [method, url, status, error] = logged[0]!;
    expect([method, url, status]).toEqual(['GET', '/checkpoint.safetensors', 500]);
    return error;
  } finally {
    await server.close();
  }
}

describe('gpt serve, a checkpoint spoiled since it started', () => {
  it('a damaged directory: answers 500 and logs why, once', async () => {
    const ck = join(dir, 'damaged');
    await writeCheckpointFiles(ck, saves[0]);
    const weights = readdirSync(ck).find((f) => f.startsWith('model-'))!;
    const error = await servedError(ck, () => writeFileSync(join(ck, weights), saves[0].map((b) => b ^ 1))); // same size, other bytes
    expect(error).toMatch(new RegExp(`^checkpoint at ${ck} is corrupt: weights checksum mismatch \\(${weights} has CRC-32 [0-9a-f]{8}, checkpoint.json records [0-9a-f]{8}\\)$`));
  });

  it('a file gone: answers 500 and logs the path and why, as a directory does', async () => {
    const file = join(dir, 'gone.safetensors');
    writeFileSync(file, saves[0]);
    expect(await servedError(file, () => rmSync(file))).toBe(`checkpoint at ${file} is missing: the file no longer exists`);
  });

  it('a file made unreadable: the path named once, with why in words', async () => {
    const file = join(dir, 'looped.safetensors');
    writeFileSync(file, saves[0]);
    const loop = () => {
      rmSync(file);
      symlinkSync(file, file); // a link to itself: ELOOP
    };
    expect(await servedError(file, loop)).toBe(`checkpoint at ${file} cannot be read: a loop of symbolic links`);
  });
});

/**
 * Arms a save of `bytes` into the checkpoint directory `ck` for the moment its next reader has read
 * the manifest and is about to read the weights it names (which the save deletes); whether it ran.
 */
function saveBeforeWeightsRead(ck: string, bytes: Uint8Array): () => boolean {
  let saved = false;
  const hook = async (path: string) => {
    if (!basename(path).startsWith('model-')) {
      beforeRead.hook = hook; // the manifest: wait for the weights
      return;
    }
    await writeCheckpointFiles(ck, bytes);
    saved = true;
  };
  beforeRead.hook = hook;
  return () => saved;
}
