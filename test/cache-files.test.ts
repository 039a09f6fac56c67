// The engine's small cache files (src/device/cache-files.ts: autotuning winners, token files'
// checks): never a crash or a hang, whatever the file is; processes saving at once keep each other's
// entries; nothing half-written is left behind.
import { execFile, execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { CACHE_FILE_LIMIT, readCache, updateCache } from '../src/device/cache-files.js';
import { warningsOf } from './helpers.js';

const run = promisify(execFile);
const root = mkdtempSync(join(tmpdir(), 'gpt-cache-files-'));
const savedDir = process.env.GPT_CACHE_DIR;
afterAll(() => {
  if (savedDir === undefined) delete process.env.GPT_CACHE_DIR;
  else process.env.GPT_CACHE_DIR = savedDir;
});

/** A fresh cache directory, GPT_CACHE_DIR from now on. */
function cacheDir(name: string): string {
  const dir = join(root, name);
  mkdirSync(dir);
  process.env.GPT_CACHE_DIR = dir;
  return dir;
}

/** Resolves to `p`'s value, or 'hung' after `ms`. */
const within = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<'hung'>((r) => setTimeout(() => r('hung'), ms))]);

/** Adds key: value to a JSON object file's text. */
const adding = (key: string, value: unknown) => (text: string | null) => JSON.stringify({ ...JSON.parse(text ?? '{}'), [key]: value });

describe('cache files', () => {
  /** Waits for the files root/`names`. */
  const filesAt = async (names: string[]) => {
    while (!names.every((n) => existsSync(join(root, n)))) await new Promise((r) => setTimeout(r, 20));
  };

  /**
   * Four processes (a, b, c, d) running `body` (TypeScript: `id` and `dir`, GPT_CACHE_DIR, are set;
   * `gate(name)` waits for the file root/name), once all four have started; `outs`: their stdout.
   */
  async function writers(name: string, body: string[]): Promise<{ outs: Promise<string[]> }> {
    const source = [
      `import { existsSync, writeFileSync } from 'node:fs';`,
      `import { updateCache } from ${JSON.stringify(resolve('src/device/cache-files.js'))};`,
      'const [id, dir] = [process.env.WRITER!, process.env.GPT_CACHE_DIR!];',
      'const gate = async (name: string) => { while (!existsSync(`${dir}/../${name}`)) await new Promise((r) => setTimeout(r, 2)); };',
      `writeFileSync(\`\${dir}/../${name}-ready-\${id}\`, '');`,
      ...body,
    ].join('\n');
    const ids = ['a', 'b', 'c', 'd'];
    const running = ids.map((id) => {
      const script = join(root, `${name}-writer-${id}-${process.pid}.ts`); // run-ts bundles by file name: one each, not four writing one bundle
      writeFileSync(script, source);
      return run(process.execPath, ['scripts/run-ts.mjs', script], { env: { ...process.env, WRITER: id } });
    });
    await filesAt(ids.map((id) => `${name}-ready-${id}`));
    return { outs: Promise.all(running).then((done) => done.map((o) => o.stdout)) };
  }

  /** The keys `ids` x `count` (`${id} ${i}`) that the JSON object file at `path` lacks. */
  const lostKeys = (path: string, count: number) => {
    const saved = JSON.parse(readFileSync(path, 'utf8')) as Record<string, number>;
    return ['a', 'b', 'c', 'd'].flatMap((id) => Array.from({ length: count }, (_, i) => `${id} ${i}`)).filter((k) => saved[k] === undefined);
  };

  it('processes updating one file at once each keep the others\' entries; a reader never sees a torn file', async () => {
    const dir = cacheDir('race');
    // each writer waits for 'go' (so that they overlap), then adds its own keys one update at a time
    const { outs } = await writers('race', [
      "await gate('go');",
      'let torn = 0;',
      'for (let i = 0; i < 40; i++) {',
      "  await updateCache('race.json', (text) => {",
      "    let entries = {};",
      "    try { entries = JSON.parse(text ?? '{}'); } catch { torn++; }",
      '    return JSON.stringify({ ...entries, [`${id} ${i}`]: i });',
      '  });',
      '}',
      'console.log(torn);',
    ]);
    writeFileSync(join(root, 'go'), '');
    expect(await outs).toEqual(['0\n', '0\n', '0\n', '0\n']);
    expect(lostKeys(join(dir, 'race.json'), 40)).toEqual([]);
    expect(readdirSync(dir)).toEqual(['race.json']); // no lock, no temporary file
  }, 120_000);

  // Each round starts at a crashed holder's lock: two processes that both found it stale each
  // removed it, the second one the lock the first had made since, and both wrote (3 to 7 of the 32
  // entries lost, in each of 4 runs).
  it("processes meeting a crashed holder's lock at once take it over one at a time: each keeps the others' entries", async () => {
    const dir = cacheDir('stale');
    const rounds = 8;
    const { outs } = await writers('stale', [
      `for (let i = 0; i < ${rounds}; i++) {`,
      '  await gate(`stale-go-${i}`);',
      "  await updateCache('stale.json', (text) => JSON.stringify({ ...JSON.parse(text ?? '{}'), [`${id} ${i}`]: i }));",
      "  writeFileSync(`${dir}/../stale-done-${id}-${i}`, '');",
      '}',
    ]);
    const lock = join(dir, 'stale.json.lock');
    for (let i = 0; i < rounds; i++) {
      writeFileSync(lock, '');
      const minuteAgo = new Date(Date.now() - 60_000);
      utimesSync(lock, minuteAgo, minuteAgo);
      writeFileSync(join(root, `stale-go-${i}`), '');
      await filesAt(['a', 'b', 'c', 'd'].map((id) => `stale-done-${id}-${i}`));
    }
    await outs;
    expect(lostKeys(join(dir, 'stale.json'), rounds)).toEqual([]);
    expect(readdirSync(dir)).toEqual(['stale.json']); // no lock, no temporary file
  }, 120_000);

  it('a file that is a directory: read as empty, a save warned about once, and nothing left behind', async () => {
    const dir = cacheDir('directory');
    mkdirSync(join(dir, 'dir.json'));
    const lines = await warningsOf(async () => {
      expect(await readCache('dir.json')).toBeNull();
      await updateCache('dir.json', adding('a', 1));
      await updateCache('dir.json', adding('b', 2));
    });
    expect(lines.filter((l) => l.includes('dir.json not saved'))).toHaveLength(1);
    expect(lines.every((l) => !l.includes('\n'))).toBe(true);
    expect(readdirSync(dir)).toEqual(['dir.json']); // no temporary file, no lock
  });

  it(`a file past ${CACHE_FILE_LIMIT} bytes is not read (one warning naming its size); the next save replaces it`, async () => {
    const dir = cacheDir('huge');
    const file = join(dir, 'huge.json');
    writeFileSync(file, '{}');
    truncateSync(file, CACHE_FILE_LIMIT + 1); // sparse: no disk taken
    const lines = await warningsOf(async () => expect(await readCache('huge.json')).toBeNull());
    expect(lines).toEqual([`[webgpu-gpt] huge.json read as empty: ${file} is ${CACHE_FILE_LIMIT + 1} bytes, past the ${CACHE_FILE_LIMIT} a cache file may be`]);
    await updateCache('huge.json', adding('a', 1));
    expect(readFileSync(file, 'utf8')).toBe('{"a":1}');
  });

  it('a symbolic link to a FIFO is read as empty at once, not waited on for a writer; a save replaces the link, not the FIFO', async () => {
    const dir = cacheDir('fifo');
    const fifo = join(root, 'a-fifo');
    execFileSync('mkfifo', [fifo]);
    symlinkSync(fifo, join(dir, 'fifo.json'));
    try {
      const lines = await warningsOf(async () => expect(await within(readCache('fifo.json'), 5000)).toBeNull());
      expect(lines).toEqual([`[webgpu-gpt] fifo.json read as empty: ${join(dir, 'fifo.json')} is not a regular file`]);
      expect(await within(updateCache('fifo.json', adding('a', 1)), 5000)).toBeUndefined();
      expect(readFileSync(join(dir, 'fifo.json'), 'utf8')).toBe('{"a":1}');
    } finally {
      closeSync(openSync(fifo, 'r+')); // a read blocked on the FIFO (without the fix) gets its writer and ends
    }
  });

  it('a symbolic link to a file elsewhere is read through; a save replaces the link and leaves that file as it was', async () => {
    const dir = cacheDir('link');
    const elsewhere = join(root, 'elsewhere.json');
    writeFileSync(elsewhere, '{"kept":1}');
    symlinkSync(elsewhere, join(dir, 'link.json'));
    expect(await readCache('link.json')).toBe('{"kept":1}');
    await updateCache('link.json', adding('a', 1));
    expect(readFileSync(join(dir, 'link.json'), 'utf8')).toBe('{"kept":1,"a":1}');
    expect(readFileSync(elsewhere, 'utf8')).toBe('{"kept":1}');
  });

  it("a crashed holder's lock (not renewed for a minute) is taken over; a live one is waited for", async () => {
    const dir = cacheDir('lock');
    const lock = join(dir, 'lock.json.lock');
    writeFileSync(lock, '');
    const minuteAgo = new Date(Date.now() - 60_000);
    utimesSync(lock, minuteAgo, minuteAgo);
    expect(await within(updateCache('lock.json', adding('a', 1)), 5000)).toBeUndefined();
    expect(readdirSync(dir).sort()).toEqual(['lock.json']);
    writeFileSync(lock, ''); // held now
    const saving = updateCache('lock.json', adding('b', 2));
    expect(await within(saving, 300)).toBe('hung');
    expect(readFileSync(join(dir, 'lock.json'), 'utf8')).toBe('{"a":1}');
    execFileSync('rm', [lock]); // released
    await saving;
    expect(JSON.parse(readFileSync(join(dir, 'lock.json'), 'utf8'))).toEqual({ a: 1, b: 2 });
  });

  it('a cache directory that mkdir cannot make (under /proc, where Node\'s recursive mkdir loops forever) is a warning, not a hang', async () => {
    if (!existsSync('/proc/self')) return;
    process.env.GPT_CACHE_DIR = '/proc/self/no-such-dir/webgpu-gpt';
    const lines = await warningsOf(async () => expect(await within(updateCache('proc.json', adding('a', 1)), 5000)).toBeUndefined());
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\[webgpu-gpt\] proc\.json not saved in GPT_CACHE_DIR=\/proc\/self\/no-such-dir\/webgpu-gpt: E[A-Z]+: [^\n]*$/);
  });

  it('a relative GPT_CACHE_DIR is one directory for the program: taken from where it started, not from each chdir()', async () => {
    const start = process.cwd();
    const target = join(root, 'relative');
    const relativeDir = relative(start, target);
    // the start's path again inside the cache dir: from there the same relative path names another directory, inside it too
    const elsewhere = join(root, 'elsewhere', start);
    mkdirSync(elsewhere, { recursive: true });
    expect(resolve(elsewhere, relativeDir), 'a chdir this test needs').not.toBe(target);
    try {
      process.env.GPT_CACHE_DIR = relativeDir;
      await updateCache('relative.json', () => '{"before":1}');
      process.chdir(elsewhere);
      expect(await readCache('relative.json')).toBe('{"before":1}');
      await updateCache('relative.json', () => '{"after":1}');
    } finally {
      process.chdir(start);
    }
    expect(readFileSync(join(target, 'relative.json'), 'utf8')).toBe('{"after":1}');
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  it('one that cannot be written (GPT_CACHE_DIR naming a file) is named in one warning, once', async () => {
    const file = join(root, 'a-file');
    writeFileSync(file, '');
    process.env.GPT_CACHE_DIR = file;
    const lines = await warningsOf(async () => {
      await updateCache('unwritable.json', () => '{}');
      await updateCache('unwritable.json', () => '{}');
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^\\[webgpu-gpt\\] unwritable\\.json not saved in GPT_CACHE_DIR=${file}: ENOTDIR: [^\n]*$`));
  });
});

describe('cache files in a browser (localStorage)', () => {
  /** Runs `body` as in a browser (no process.versions.node) with `storage` as localStorage. */
  async function inBrowser(storage: () => Partial<Storage>, body: () => Promise<void>): Promise<void> {
    const versions = Object.getOwnPropertyDescriptor(process, 'versions')!;
    Object.defineProperty(process, 'versions', { ...versions, value: { ...process.versions, node: undefined } });
    Object.defineProperty(globalThis, 'localStorage', { get: storage, configurable: true });
    try {
      await body();
    } finally {
      Object.defineProperty(process, 'versions', versions);
      delete (globalThis as { localStorage?: Storage }).localStorage;
    }
  }

  it('keeps its entries under webgpu-gpt:<name>', async () => {
    const items = new Map<string, string>();
    const storage = { getItem: (k: string) => items.get(k) ?? null, setItem: (k: string, v: string) => void items.set(k, v) };
    await inBrowser(() => storage, async () => {
      await updateCache('web.json', adding('a', 1));
      await updateCache('web.json', adding('b', 2));
      expect(await readCache('web.json')).toBe('{"a":1,"b":2}');
    });
    expect([...items.keys()]).toEqual(['webgpu-gpt:web.json']);
  });

  it.each([
    ['a sandboxed frame: reading localStorage throws SecurityError', () => { throw new DOMException('The document is sandboxed', 'SecurityError'); }],
    ['private mode or a full quota: setItem throws QuotaExceededError', () => ({ getItem: () => null, setItem: () => { throw new DOMException('quota', 'QuotaExceededError'); } })],
  ])('%s: read as empty, a save warned about once, nothing thrown', async (what, storage) => {
    const name = `${what.split(':')[0]}.json`;
    const lines = await warningsOf(() =>
      inBrowser(storage as () => Partial<Storage>, async () => {
        expect(await readCache(name)).toBeNull();
        await updateCache(name, adding('a', 1));
        await updateCache(name, adding('a', 1));
      }),
    );
    const saves = lines.filter((l) => l.includes('not saved'));
    expect(saves).toHaveLength(1);
    expect(saves[0]).toMatch(new RegExp(`^\\[webgpu-gpt\\] ${name} not saved in localStorage: [^\n]+$`));
  });
});
