// Crash-safe checkpoint files: CRC-32 against zlib, atomic writes leaving no temporary files, every
// way a checkpoint can be broken reported as such, and a child process SIGKILLed at random moments
// in the middle of saving 32 MB checkpoints, after which the checkpoint on disk must always load.
import { build } from 'esbuild';
import fc from 'fast-check';
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../src/node/atomic-file.js';
import { readCheckpointWeights, writeCheckpointFiles, MANIFEST_FILE } from '../src/node/checkpoint-files.js';
import { loadCheckpoint } from '../src/node/checkpoint-dir.js';
import { readCheckpointHeader } from '../src/node/checkpoint-header.js';
import type { PositionalFile } from '../src/node/regular-files.js';
import { crc32, crcHex } from '../src/io/checksum.js';
import { parseSafetensors, serializeSafetensors } from '../src/io/safetensors.js';
import { readCheckpointFiles } from './helpers.js';
import { signalAfterFirstLine } from './signalled-child.js';

const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : 42;

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'atomic-file-test-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

let dirs = 0;
const freshDir = async () => {
  const dir = join(root, `case-${dirs++}`);
  await mkdir(dir);
  return dir;
};

/** Everything in `dir` except the checkpoint proper: temporary files and orphaned weights. */
async function strays(dir: string): Promise<string[]> {
  const manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')) as { weights: string };
  return (await readdir(dir)).filter((name) => name !== MANIFEST_FILE && name !== manifest.weights);
}

describe('crc32', () => {
  it('matches the standard check value and zlib, in one go or in pieces', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(300), (bytes, at) => {
        const cut = Math.min(at, bytes.length);
        expect(crc32(bytes)).toBe(zlibCrc32(bytes));
        expect(crc32(bytes.subarray(cut), crc32(bytes.subarray(0, cut)))).toBe(zlibCrc32(bytes));
      }),
      { numRuns: 300, seed },
    );
  });
});

describe('writeFileAtomic', () => {
  it('creates and replaces files, leaving no temporary file behind', async () => {
    const dir = await freshDir();
    const path = join(dir, 'a.bin');
    await writeFileAtomic(path, Uint8Array.of(1, 2, 3));
    expect([...(await readFile(path))]).toEqual([1, 2, 3]);
    await writeFileAtomic(path, 'text ü');
    expect(await readFile(path, 'utf8')).toBe('text ü');
    expect(await readdir(dir)).toEqual(['a.bin']);
  });

  it('removes its temporary file and rethrows when the write fails', async () => {
    const dir = await freshDir();
    await mkdir(join(dir, 'taken')); // renaming a file over a directory fails
    // one line naming the file asked for, not the temporary one whose rename failed
    await expect(writeFileAtomic(join(dir, 'taken'), 'x')).rejects.toThrow(new RegExp(`^cannot write ${join(dir, 'taken')}: (EISDIR|EEXIST|ENOTEMPTY|EPERM) \\([a-z ]+\\)$`));
    expect(await readdir(dir)).toEqual(['taken']);
    await expect(writeFileAtomic(join(dir, 'no-such-dir', 'f'), 'x')).rejects.toThrow(`cannot write ${join(dir, 'no-such-dir', 'f')}: ENOENT (no such file or directory)`);
  });

  it('keeps the first `keep` bytes of the file there, its invalid UTF-8 too; a failed write leaves the file as it was', async () => {
    const dir = await freshDir();
    const path = join(dir, 'log');
    const old = Buffer.concat([Buffer.from('kept\n'), Buffer.from([0xff, 0x0a]), Buffer.from('dropped\n')]);
    await writeFile(path, old);
    await writeFileAtomic(path, 'new\n', 7);
    expect(await readFile(path)).toEqual(Buffer.concat([old.subarray(0, 7), Buffer.from('new\n')]));
    async function* failing() {
      yield Buffer.from('half');
      throw new Error('made: refused');
    }
    const before = await readFile(path);
    await expect(writeFileAtomic(path, failing(), 5)).rejects.toThrow(/^made: refused$/);
    expect([await readFile(path), await readdir(dir)]).toEqual([before, ['log']]);
  });
});

describe('checkpoint files', () => {
  const weights = (fill: number) => new Uint8Array(1000).fill(fill);

  it('round trips weights and metadata, and a new save removes the old weights', async () => {
    const dir = join(await freshDir(), 'nested', 'ckpt');
    const first = await writeCheckpointFiles(dir, weights(1), { step: 1 });
    const second = await writeCheckpointFiles(dir, weights(2), { step: 2, config: { nLayer: 2 } });
    expect(second.weights).not.toBe(first.weights);
    const { weights: back, manifest } = await readCheckpointFiles(dir);
    expect(new Uint8Array(back)).toEqual(weights(2));
    expect(manifest).toEqual(second);
    expect(manifest.meta).toEqual({ step: 2, config: { nLayer: 2 } });
    expect((await readdir(dir)).sort()).toEqual([MANIFEST_FILE, second.weights].sort());
  });

  it('a save whose manifest cannot be written leaves the previous checkpoint and none of its own weights (space a full disk needs)', async () => {
    const dir = await freshDir();
    const first = await writeCheckpointFiles(dir, weights(1), { step: 1 });
    // the weights land, then the manifest's write fails (JSON cannot hold a BigInt)
    await expect(writeCheckpointFiles(dir, weights(2), { step: 2n })).rejects.toThrow(/BigInt/);
    expect((await readdir(dir)).sort()).toEqual([MANIFEST_FILE, first.weights].sort());
    const { weights: back, manifest } = await readCheckpointFiles(dir);
    expect([new Uint8Array(back), manifest]).toEqual([weights(1), first]);
    expect((await writeCheckpointFiles(dir, weights(3), { step: 3 })).meta).toEqual({ step: 3 }); // and the next save goes on
  });

  it('writes weights given in pieces, each on disk before the next is asked for, and records their size and CRC-32', async () => {
    const dir = await freshDir();
    // pieces of different sizes (each piece's bytes differ from the others')
    const pieces = [1, 700, 0, 3000, 5].map((n, i) => Uint8Array.from({ length: n }, (_, j) => (i * 31 + j * 7) & 0xff));
    let written = 0;
    function* onePieceAtATime() {
      for (const piece of pieces) {
        // the temporary file holds every piece given so far: none is kept back in memory
        const temp = readdirSync(dir).find((f) => f.includes('.tmp-'));
        expect(temp && statSync(join(dir, temp)).size).toBe(written);
        written += piece.length;
        yield piece;
      }
    }
    const manifest = await writeCheckpointFiles(dir, onePieceAtATime(), { step: 3 });
    const whole = Buffer.concat(pieces);
    expect(manifest.weightsBytes).toBe(whole.length);
    expect(manifest.weightsCrc32).toBe(crcHex(zlibCrc32(whole)));
    expect(Buffer.from((await readCheckpointFiles(dir)).weights).equals(whole)).toBe(true);
  });

  it('a save killed before its manifest landed leaves the previous checkpoint readable', async () => {
    const dir = await freshDir();
    const saved = await writeCheckpointFiles(dir, weights(1), { step: 1 });
    // What a killed save can leave: its complete weights under the name the manifest reserved for
    // them (`next`), not committed yet, and temporary files of both kinds.
    await writeFileAtomic(join(dir, saved.next!), weights(2));
    await writeFile(join(dir, `.${MANIFEST_FILE}.tmp-1-abc`), '{"weights": "half');
    await writeFile(join(dir, `.${saved.next}.tmp-1-abc`), weights(3).subarray(0, 10));
    const { weights: back, manifest } = await readCheckpointFiles(dir);
    expect(manifest).toEqual(saved);
    expect(new Uint8Array(back)).toEqual(weights(1));
    expect(await strays(dir)).toHaveLength(3);
    const next = await writeCheckpointFiles(dir, weights(4), { step: 2 });
    expect(next.weights).toBe(saved.next); // the orphan was overwritten, not left behind
    expect(new Uint8Array((await readCheckpointFiles(dir)).weights)).toEqual(weights(4));
    expect((await readdir(dir)).sort()).toEqual([MANIFEST_FILE, next.weights].sort()); // leftovers swept
  });

  it('a save killed after its commit leaves the old weights to the next save', async () => {
    const dir = await freshDir();
    const first = await writeCheckpointFiles(dir, weights(1));
    const second = await writeCheckpointFiles(dir, weights(2));
    // put back what the second save would have deleted had it lived: the first weights and a temp file
    await writeFile(join(dir, first.weights), weights(1));
    await writeFile(join(dir, `.${first.weights}.tmp-9-xyz`), weights(1).subarray(0, 5));
    expect(second.stale).toEqual([first.weights]);
    const third = await writeCheckpointFiles(dir, weights(3));
    expect((await readdir(dir)).sort()).toEqual([MANIFEST_FILE, third.weights].sort());
  });

  it("deletes only its own files, never the user's that merely look like ours", async () => {
    const dir = await freshDir();
    const mine = ['model-gpt2-small.safetensors', 'model-v2-final.safetensors', 'model-abc-def.safetensors', 'notes.txt', '.model-x-y.safetensors.tmp-keep'];
    for (const name of mine) await writeFile(join(dir, name), 'user data');
    for (let i = 0; i < 3; i++) await writeCheckpointFiles(dir, weights(i));
    const { manifest } = await readCheckpointFiles(dir);
    expect((await readdir(dir)).sort()).toEqual([...mine, MANIFEST_FILE, manifest.weights].sort());
    for (const name of mine) expect(await readFile(join(dir, name), 'utf8')).toBe('user data');
  });

  it("a damaged or hand-edited manifest cannot make a save overwrite or delete the user's files", async () => {
    const dir = await freshDir();
    const mine = ['notes.txt', 'gpt2.safetensors', 'data.bin'];
    for (const name of mine) await writeFile(join(dir, name), 'user data');
    await writeCheckpointFiles(dir, weights(1));
    const path = join(dir, MANIFEST_FILE);
    const manifest = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    await writeFile(path, JSON.stringify({ ...manifest, next: 'notes.txt', stale: ['gpt2.safetensors', 'data.bin'] }));
    for (let i = 2; i < 4; i++) await writeCheckpointFiles(dir, weights(i));
    for (const name of mine) expect(await readFile(join(dir, name), 'utf8')).toBe('user data');
    expect(new Uint8Array((await readCheckpointFiles(dir)).weights)).toEqual(weights(3));
  });

  it("a dangling checkpoint.json still makes a run directory, beside a run's config.json of flags", async () => {
    const dir = await freshDir();
    await symlink(join(dir, 'gone.json'), join(dir, MANIFEST_FILE));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ max_iters: 5 })); // not a Hugging Face config
    const message = `checkpoint at ${dir} is missing: checkpoint.json is a symlink to ${join(dir, 'gone.json')}, which does not exist`;
    await expect(loadCheckpoint(dir)).rejects.toThrow(message);
    await expect(readCheckpointHeader(dir)).rejects.toThrow(message);
  });

  it('reports a missing, truncated or corrupt checkpoint as such', async () => {
    const empty = await freshDir();
    await expect(readCheckpointFiles(empty)).rejects.toThrow(
      `checkpoint at ${empty} is missing: there is no checkpoint.json`,
    );
    const dangling = await freshDir();
    await symlink(join(dangling, 'elsewhere.json'), join(dangling, MANIFEST_FILE));
    await expect(readCheckpointFiles(dangling)).rejects.toThrow(
      new RegExp(`^checkpoint at ${dangling} is missing: checkpoint.json is a symlink to ${join(dangling, 'elsewhere.json')}, which does not exist$`),
    );
    type Breaker = (weightsPath: string, manifestPath: string) => Promise<unknown>;
    const editManifest =
      (edit: (text: string) => string): Breaker =>
      async (_, path) =>
        writeFile(path, edit(await readFile(path, 'utf8')));
    const cases: [string, Breaker, (name: string) => string | RegExp][] = [
      [
        'truncated weights',
        (p) => writeFile(p, weights(7).subarray(0, 999)),
        (name) => `is truncated: ${name} has 999 bytes, checkpoint.json records 1000`,
      ],
      ['weights too long', (p) => writeFile(p, new Uint8Array(1001).fill(7)), () => /is corrupt: weights size mismatch/],
      [
        // A weights file newer than its manifest, or damaged: same size, different bytes.
        'changed weights',
        (p) => writeFile(p, weights(8)),
        (name) =>
          `is corrupt: weights checksum mismatch (${name} has CRC-32 ${crcHex(zlibCrc32(weights(8)))}, ` +
          `checkpoint.json records ${crcHex(zlibCrc32(weights(7)))})`,
      ],
      [
        'deleted weights',
        (p) => rm(p),
        (name) => `is missing: weights file ${name} named by checkpoint.json does not exist`,
      ],
      ['manifest not JSON', (_, m) => writeFile(m, '{"weights":'), () => /is corrupt: checkpoint.json is not valid JSON/],
      [
        'manifest escaping its directory',
        editManifest((t) => t.replace(/"model-[^"]*"/, '"../x"')),
        () => /field "weights" must be a file name in the checkpoint directory, got "..\/x"/,
      ],
      [
        // the next save would delete what `stale` names
        'manifest with a stale file outside its directory',
        editManifest((t) => t.replace(/"stale": \[[^\]]*\]/, '"stale": ["../x"]')),
        () => /field "stale" must be a list of file names other than "weights", got \["..\/x"\]/,
      ],
      [
        'manifest with a bad checksum field',
        editManifest((t) => t.replace(/"weightsCrc32": "\w+"/, '"weightsCrc32": 5')),
        () => /field "weightsCrc32" must be 8 hex digits, got 5/,
      ],
    ];
    for (const [what, breakIt, message] of cases) {
      const dir = await freshDir();
      const { weights: name } = await writeCheckpointFiles(dir, weights(7));
      await breakIt(join(dir, name), join(dir, MANIFEST_FILE));
      await expect(readCheckpointFiles(dir), what).rejects.toThrow(`checkpoint at ${dir} is`);
      await expect(readCheckpointFiles(dir), what).rejects.toThrow(message(name));
    }
  });

  it('readCheckpointWeights checks the CRC-32 of the whole file, however the reader went through it, before its result or error', async () => {
    const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 37) % 251);
    type Reader = (f: PositionalFile) => Promise<string>;
    const readAll = (step: number, from = 0, length = step) => async (f: PositionalFile) => {
      const out = new Uint8Array(1000);
      for (let at = from; at < 1000; at += step) await f.read(out, at, Math.min(length, 1000 - at), at);
      return Buffer.from(out.subarray(from)).toString('hex');
    };
    const readers: [string, Reader, (intact: Uint8Array) => string][] = [
      ['in one read', readAll(1000), (b) => Buffer.from(b).toString('hex')],
      ['in 7-byte reads', readAll(7), (b) => Buffer.from(b).toString('hex')],
      ['the second half only', readAll(100, 500), (b) => Buffer.from(b.subarray(500)).toString('hex')],
      ['in overlapping reads', readAll(7, 0, 10), (b) => Buffer.from(b).toString('hex')],
      ['twice over', async (f) => (await readAll(3)(f), readAll(5, 1)(f)), (b) => Buffer.from(b.subarray(1)).toString('hex')],
      ['nothing', async () => 'none', () => 'none'],
      ['the first bytes, then failing', async (f) => (await f.read(new Uint8Array(8), 0, 8, 0), Promise.reject(new Error('bad header'))), () => 'bad header'],
    ];
    for (const at of [null, 0, 7, 499, 500, 999]) {
      const dir = await freshDir();
      const { weights: name, weightsCrc32 } = await writeCheckpointFiles(dir, bytes);
      const stored = Uint8Array.from(bytes);
      if (at !== null) stored[at]! ^= 0x21;
      await writeFile(join(dir, name), stored);
      for (const [how, reader, expected] of readers) {
        const outcome = await readCheckpointWeights(dir, reader).catch((e: Error) => e.message);
        const mismatch = `checkpoint at ${dir} is corrupt: weights checksum mismatch (${name} has CRC-32 ${crcHex(zlibCrc32(stored))}, checkpoint.json records ${weightsCrc32})`;
        expect(outcome, `${how}, byte ${at} changed`).toBe(at === null ? expected(bytes) : mismatch);
      }
    }
  });
});

describe('checkpoint saves killed with SIGKILL', () => {
  const N = 8 << 20; // floats per checkpoint: 32 MB
  const KILLS = 10;
  let runner: string;

  beforeAll(async () => {
    // The child runs our real modules, bundled by esbuild, since plain Node cannot import .ts.
    const src = (file: string) => fileURLToPath(new URL(`../src/${file}`, import.meta.url));
    const outdir = join(root, 'bundle');
    await build({
      entryPoints: [src('node/checkpoint-files.ts'), src('io/safetensors.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      outdir,
      entryNames: '[name]', // both at the top of outdir, though their sources are in two folders
      outExtension: { '.js': '.mjs' },
      logLevel: 'silent',
    });
    runner = join(root, 'saver.mjs');
    await writeFile(
      runner,
      `import { writeCheckpointFiles } from ${JSON.stringify(join(outdir, 'checkpoint-files.mjs'))};
import { serializeSafetensors } from ${JSON.stringify(join(outdir, 'safetensors.mjs'))};
const dir = process.argv[2];
const data = new Float32Array(${N});
for (let gen = Number(process.argv[3]); ; gen++) {
  data.fill(gen);
  data[data.length - 1] = -gen - 1;
  const step = Int32Array.of(gen);
  const bytes = serializeSafetensors(
    { 'h.0.attn.c_attn.weight': { dtype: 'F32', shape: [data.length], data }, step: { dtype: 'I32', shape: [], data: step } },
    { gen: String(gen) },
  );
  await writeCheckpointFiles(dir, bytes, { gen });
  process.stdout.write(gen + '\\n');
}
`,
    );
  });

  /** Loads the checkpoint and checks that all of it comes from one save; returns that save's number. */
  async function loadGeneration(dir: string): Promise<number> {
    const { weights, manifest } = await readCheckpointFiles(dir);
    const { tensors, metadata } = parseSafetensors(weights);
    const gen = manifest.meta.gen as number;
    expect(metadata.gen).toBe(String(gen));
    expect(tensors.step!.data[0]).toBe(gen);
    const data = tensors['h.0.attn.c_attn.weight']!.data;
    expect(data.length).toBe(N);
    expect(data[N - 1]).toBe(-gen - 1);
    for (let i = 0; i < N - 1; i += 4099) expect(data[i]).toBe(gen);
    return gen;
  }

  /** Starts a saver, SIGKILLs it `delayMs` after its first completed save, and returns the last save it reported done. */
  async function runAndKill(dir: string, firstGen: number, delayMs: number): Promise<number> {
    const { printed } = await signalAfterFirstLine(runner, [dir, String(firstGen)], 'SIGKILL', delayMs);
    return printed.at(-1) ?? firstGen - 1;
  }

  it("a first save killed mid-write leaves a temporary file no manifest names: the next save deletes it, and only it", async () => {
    const dir = await freshDir();
    // the first save's weights half written, then killed: its pieces stop coming after the first
    const killed = join(root, 'killed-first-save.mjs');
    await writeFile(
      killed,
      `import { writeCheckpointFiles } from ${JSON.stringify(join(root, 'bundle', 'checkpoint-files.mjs'))};
setInterval(() => {}, 1000);
async function* pieces() {
  yield new Uint8Array(1000).fill(7);
  process.stdout.write('written\\n');
  await new Promise(() => {});
}
await writeCheckpointFiles(process.argv[2], pieces());
`,
    );
    const child = spawn(process.execPath, [killed, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => String(d).includes('written') && child.kill('SIGKILL'));
      child.on('close', (_code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`the saver ended on its own (${signal})`))));
    });
    const left = await readdir(dir);
    expect(left, 'what the kill left').toEqual([expect.stringMatching(new RegExp(`^\\.model-[0-9a-z]+-[0-9a-z]+\\.safetensors\\.tmp-${child.pid}-[0-9a-z]+$`))]);
    // the user's files, hidden or named like ours, stay
    const mine = ['.model-x-y.safetensors.tmp-keep', '.notes.txt.tmp-1-abc', '.model-x-y.safetensors.tmp-1-abc.bak', 'model-x-y.safetensors.tmp-1-abc'];
    for (const name of mine) await writeFile(join(dir, name), 'user data');
    const saved = await writeCheckpointFiles(dir, new Uint8Array(1000).fill(1));
    expect((await readdir(dir)).sort()).toEqual([...mine, MANIFEST_FILE, saved.weights].sort());
  });

  it(`the checkpoint always loads whole, old or new, across ${KILLS} kills`, async () => {
    const dir = await freshDir();
    const initial = serializeSafetensors(
      {
        'h.0.attn.c_attn.weight': { dtype: 'F32', shape: [N], data: new Float32Array(N).fill(0).fill(-1, N - 1) },
        step: { dtype: 'I32', shape: [], data: Int32Array.of(0) },
      },
      { gen: '0' },
    );
    await writeCheckpointFiles(dir, initial, { gen: 0 });
    let gen = await loadGeneration(dir);
    const delays = fc.sample(fc.noBias(fc.integer({ min: 50, max: 1200 })), { numRuns: KILLS, seed });
    const log: string[] = [];
    for (const delay of delays) {
      const reported = await runAndKill(dir, gen + 1, delay);
      const onDisk = await loadGeneration(dir);
      // The last save reported done is on disk, or the one after it if the kill came between its
      // commit and its report. Nothing older: no save is lost.
      expect([reported, reported + 1], `killed after ${delay} ms`).toContain(onDisk);
      const left = await strays(dir);
      for (const name of left) expect(name).toMatch(/^\.(checkpoint\.json|model-[0-9a-z-]+\.safetensors)\.tmp-|^model-/);
      log.push(`${delay}ms: gen ${gen}→${onDisk}, ${left.length} strays`);
      gen = onDisk;
    }
    console.log(`SIGKILL rounds: ${log.join('; ')}`);
    expect(gen).toBeGreaterThanOrEqual(KILLS); // every round completed at least one save before its kill
    await writeCheckpointFiles(dir, initial, { gen: 0 });
    expect(await strays(dir)).toEqual([]);
  });
});
